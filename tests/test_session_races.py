"""Where merged features meet in `Session.suggest`: a request waiting for a prefetch while the user types on, a
shared run whose starter is cancelled, a run cancelled and asked for again in the same loop tick. Events, not
sleeps: the model work blocks on an event the test releases."""

from __future__ import annotations

import asyncio
import threading
import types

import pytest

import starassist.lsp.session as session_module
from starassist.engine.settings import Settings
from starassist.lsp.prefetch import Target
from starassist.lsp.scheduler import SharedRuns
from starassist.lsp.suggest import Generated

URI = "file:///a.py"
TEXT = "def f(x):\n    return \n"
BEFORE, AFTER = "def f(x):\n    return ", "\n"


class _Engine:
    backend = types.SimpleNamespace(close=lambda: None)


async def _session() -> session_module.Session:
    settings = Settings()
    settings.completion.debounce_ms = 0
    session = session_module.Session(settings, load_engine=lambda _s: _Engine())
    await session.load()
    session.documents.open(URI, TEXT, 1, "python")
    return session


def _wait(event: threading.Event) -> asyncio.Future:
    return asyncio.ensure_future(asyncio.to_thread(event.wait, 5))


async def _a_request_waiting_for_a_prefetch_answers_nothing_once_the_user_typed_on() -> None:
    session = await _session()
    started, release = threading.Event(), threading.Event()

    def work(cancel):  # noqa: ANN001, ANN202 - the prefetch's job
        started.set()
        release.wait(5)
        return ["x + 1"]

    session.prefetch.start(Target(URI, BEFORE, AFTER), work,
                           lambda texts: session.cache.put(URI, BEFORE, AFTER, texts, prefetched=True))
    await _wait(started)
    request = asyncio.ensure_future(session.suggest(URI, 1, 11, 1, kind="inline"))
    await asyncio.sleep(0)  # the request is now waiting for the prefetch
    session.documents.change(URI, 2, [((1, 0), (2, 0), "")], session.encoding)
    session.document_changed(URI)
    release.set()
    answer = await request
    assert answer.texts == [] and answer.report.superseded
    session.close()


async def _a_shared_run_is_cached_when_the_request_that_started_it_is_cancelled(monkeypatch) -> None:  # noqa: ANN001
    started, release = threading.Event(), threading.Event()

    def generate(engine, request, items, cancel):  # noqa: ANN001, ANN202
        started.set()
        release.wait(5)
        return Generated(texts=["x + 1"], model_calls=1)

    monkeypatch.setattr(session_module, "generate", generate)
    monkeypatch.setattr(session_module, "build_request", lambda *a, **k: None)
    session = await _session()
    inline = asyncio.ensure_future(session.suggest(URI, 1, 11, 1, kind="inline"))
    await asyncio.sleep(0.01)
    completion = asyncio.ensure_future(session.suggest(URI, 1, 11, 1, kind="completion"))
    await _wait(started)
    inline.cancel()  # VS Code re-asks for the inline item; the completion request still waits
    await asyncio.sleep(0)
    release.set()
    answer = await completion
    assert answer.texts == ["x + 1"] and answer.report.shared
    assert session.cache.lookup(URI, BEFORE, AFTER, count=False) == (["x + 1"], False)
    assert session.generations_finished == 1
    session.close()


async def _a_run_cancelled_by_its_only_waiter_is_not_joined_in_the_same_tick() -> None:
    runs = SharedRuns()
    calls = []

    async def start() -> str:
        calls.append(1)
        await asyncio.sleep(0.05)
        return "value"

    first = asyncio.ensure_future(runs.run("u", ("v1", "b", "a"), 1, start))
    await asyncio.sleep(0)
    first.cancel()
    second = asyncio.ensure_future(runs.run("u", ("v1", "b", "a"), 1, start))  # the next message, same text
    assert await second == ("value", False)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert len(calls) == 2


def test_a_request_waiting_for_a_prefetch_answers_nothing_once_the_user_typed_on() -> None:
    asyncio.run(_a_request_waiting_for_a_prefetch_answers_nothing_once_the_user_typed_on())


def test_a_shared_run_is_cached_when_the_request_that_started_it_is_cancelled(monkeypatch) -> None:  # noqa: ANN001
    asyncio.run(_a_shared_run_is_cached_when_the_request_that_started_it_is_cancelled(monkeypatch))


def test_a_run_cancelled_by_its_only_waiter_is_not_joined_in_the_same_tick() -> None:
    asyncio.run(_a_run_cancelled_by_its_only_waiter_is_not_joined_in_the_same_tick())
