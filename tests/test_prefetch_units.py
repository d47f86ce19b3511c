"""The speculative prefetch's pure parts: where the document stands after a suggestion is accepted, background
jobs on the model worker (a foreground job cancels them), and the prefetch policy (events, not sleeps)."""

from __future__ import annotations

import asyncio
import threading

from starassist.lsp.documents import Lines
from starassist.lsp.prefetch import Prefetcher, Target, accepted_excerpt
from starassist.lsp.scheduler import Worker


def test_accepting_an_inline_item_replaces_the_auto_closed_bracket() -> None:
    text = "def f(a):\n    return g(\n"
    lines = Lines(text)
    shown = lines.excerpt(1, len("    return g("), "utf-16", radius=1000)
    # The inline item is "a, 1)" over the ")"-less rest: here the rest of the line is empty, so it is inserted.
    ex = accepted_excerpt(lines, shown, "a, 1)", "inline", 1000, 1)
    assert ex.text == "def f(a):\n    return g(a, 1)\n" and ex.text[: ex.offset].endswith("g(a, 1)")
    closed = Lines("x = f()\n")
    ex = accepted_excerpt(closed, closed.excerpt(0, 6, "utf-16", 1000), "a, b", "inline", 1000, 1)
    assert (ex.text[: ex.offset], ex.text[ex.offset :]) == ("x = f(a, b)", "\n")  # cursor after the bracket
    ex = accepted_excerpt(closed, closed.excerpt(0, 6, "utf-16", 1000), "a, b", "completion", 1000, 1)
    assert (ex.text[: ex.offset], ex.text[ex.offset :]) == ("x = f(a, b", ")\n")  # a completion item inserts


def test_accepted_excerpt_is_the_one_the_next_request_reads_in_a_big_document() -> None:
    text = "".join(f"line_{i} = {i} * 2  # some padding text\n" for i in range(2000))
    lines = Lines(text)
    line, col = 1000, len("line_1000 = ")
    shown = lines.excerpt(line, col, "utf-16", radius=3000, align=16)
    assert shown.start > 0 and len(shown.text) < len(text)  # a real excerpt, not the whole document
    completion = "compute(\n    1000)\n"
    ex = accepted_excerpt(lines, shown, completion, "completion", 3000, 16)
    at = shown.start + shown.offset
    edited = Lines(text[:at] + completion + text[at:])
    assert ex == edited.excerpt_at(at + len(completion), 3000, 16)
    assert lines.text == text  # the open document itself is untouched


def _blocking(started: threading.Event, result: str):
    def fn(cancel) -> str | None:
        started.set()
        while not cancel():
            threading.Event().wait(0.001)
        return result
    return fn


def test_a_foreground_job_cancels_a_background_one() -> None:
    async def scenario() -> None:
        worker = Worker()
        assert worker.idle()
        started = threading.Event()
        background = worker.submit(_blocking(started, "speculation"), "prefetch", background=True)
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        assert not worker.idle()
        assert await worker.submit(lambda cancel: "real").future == "real"
        assert await background.future is None and background.cancelled  # stopped, its result dropped
        assert worker.idle()
        # A background job does not cancel another background job, nor a foreground one.
        started.clear()
        real = worker.submit(_blocking(started, "long"), "complete")
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        worker.submit(lambda cancel: None, "prefetch", background=True)
        assert not real.cancelled
        real.cancel()
        worker.stop()
        assert worker.join(5)
        assert worker.counters.as_dict() == {"started": 3, "finished": 1, "cancelled": 2, "skipped": 1, "failed": 0}

    asyncio.run(scenario())


def test_prefetch_policy_starts_when_idle_stores_and_yields() -> None:
    async def scenario() -> None:
        worker = Worker()
        stored: list[list[str]] = []
        prefetch = Prefetcher(worker)
        target = Target("file:///a.py", "x = ", "\n")
        started = threading.Event()
        release = threading.Event()

        def work(cancel) -> list[str]:
            started.set()
            while not release.is_set() and not cancel():
                threading.Event().wait(0.001)
            return ["1"]

        assert prefetch.start(target, work, stored.append)
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        assert not prefetch.start(Target("file:///a.py", "y = ", "\n"), work, stored.append)  # busy: not twice
        running = prefetch.running_for(target)
        assert running is not None and prefetch.running_for(Target("file:///a.py", "x = 1", "\n")) is None
        release.set()
        await asyncio.shield(running)
        assert stored == [["1"]] and prefetch.running_for(target) is None

        # Real work arrives during a prefetch: the prefetch stops and stores nothing.
        started.clear()
        release.clear()
        assert prefetch.start(target, work, stored.append)
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        assert await worker.submit(lambda cancel: "real").future == "real"
        await asyncio.sleep(0)  # the done callback runs on the loop
        assert stored == [["1"]]
        counters = prefetch.counters.as_dict()
        assert (counters["started"], counters["finished"], counters["cancelled"], counters["stored"]) == (2, 1, 1, 1)

        prefetch.enabled = False
        assert not prefetch.start(target, work, stored.append)
        worker.stop()
        assert worker.join(5)

    asyncio.run(scenario())
