"""The LSP daemon's pure parts: positions, the suggestion cache, related snippets, the scheduler's debounce and
supersede logic (with events, not sleeps), telemetry and `starassist stats`."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

import starassist.cli  # noqa: F401 - registers every command
from starassist.cli.app import app
from starassist.engine.numbers import percentile
from starassist.engine.textpos import code_units, line_starts, offset_at, position_at
from starassist.lsp.cache import SuggestionCache
from starassist.lsp.context_files import rank_snippets
from starassist.lsp.documents import DocumentStore, apply_change
from starassist.lsp.scheduler import DocumentScheduler, Worker
from starassist.lsp.session import settings_section
from starassist.lsp.stats import Stats, StatsRecorder, load, summary
from starassist.lsp.suggest import build_request, inline_edit, relative_path, word_start

# ---- positions -----------------------------------------------------------------------------------------------

LINE = 'x = "\U0001F600\u4e2de\u0301" + y'  # emoji (astral plane), CJK, e + combining acute accent


@pytest.mark.parametrize(("encoding", "units"), [("utf-16", 15), ("utf-8", 20), ("utf-32", 14)])
def test_code_units_per_encoding(encoding: str, units: int) -> None:
    assert len(LINE) == 14
    assert code_units(LINE, encoding) == units


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
def test_offsets_round_trip_on_non_ascii_lines(encoding: str) -> None:
    text = "first\r\n" + LINE + "\nlast\rafter"
    for offset in range(len(text) + 1):
        if text[offset - 1 : offset + 1] == "\r\n":
            continue  # between \r and \n is not a position
        line, character = position_at(text, offset, encoding)
        assert offset_at(text, line, character, encoding) == offset


def test_positions_after_emoji_in_utf16() -> None:
    text = "a\n" + LINE
    # "y" is the last character: 13 code points before it on its line but 14 UTF-16 units.
    assert position_at(text, len(text) - 1, "utf-16") == (1, 14)
    assert offset_at(text, 1, 14, "utf-16") == len(text) - 1
    assert offset_at(text, 1, 14, "utf-32") == len(text)  # 14 code points: the end of the line
    # A column inside the surrogate pair rounds to after the emoji.
    emoji = LINE.index("😀")
    assert offset_at(text, 1, emoji + 1, "utf-16") == 2 + emoji + 1


def test_line_breaks_are_the_protocol_ones() -> None:
    text = "a\x0cb\u2028c\r\nd\re\nf"
    assert line_starts(text) == [0, 7, 9, 11]  # not at the form feed or U+2028
    assert position_at(text, text.index("d"), "utf-16") == (1, 0)
    assert offset_at(text, 0, 99, "utf-16") == text.index("\r\n")  # past the end of a line: its end
    assert offset_at(text, 99, 0, "utf-16") == len(text)


def test_incremental_changes_in_a_crlf_document() -> None:
    store = DocumentStore()
    store.open("file:///a.py", "def f():\r\n    return 1\r\n", 1)
    store.change("file:///a.py", 2, [((1, 11), (1, 12), "😀"), ((1, 13), (1, 13), " + 2")], "utf-16")
    doc = store.get("file:///a.py")
    assert doc is not None and doc.text == "def f():\r\n    return 😀 + 2\r\n" and doc.version == 2
    assert apply_change("abc", None, None, "new", "utf-16") == "new"


# ---- cache ---------------------------------------------------------------------------------------------------


def test_cache_returns_the_rest_when_typing_through() -> None:
    cache = SuggestionCache(size=8)
    cache.put("u", "print(", ")\n", ["'hello')", "x)"])
    assert cache.get("u", "print(", ")\n") == ["'hello')", "x)"]
    assert cache.get("u", "print('he", ")\n") == ["llo')"]
    assert cache.get("u", "print('hello')", ")\n") is None  # nothing left to suggest
    assert cache.get("u", "print('hex", ")\n") is None  # typed something else
    assert cache.get("u", "print('he", "\n") is None  # the text after the cursor changed
    assert cache.get("other", "print(", ")\n") is None
    assert cache.hits == 2


def test_cache_is_bounded_and_forgets_documents() -> None:
    cache = SuggestionCache(size=3, per_document=2)
    for i in range(5):
        cache.put("u", f"p{i}", "", [f"c{i}"])
    assert cache.get("u", "p0", "") is None and cache.get("u", "p4", "") == ["c4"]
    cache.forget("u")
    assert cache.get("u", "p4", "") is None
    cache.put("u", "p", "", ["", ""])  # empty suggestions are not cached
    assert cache.get("u", "p", "") is None


# ---- related snippets ----------------------------------------------------------------------------------------


def test_snippets_ranked_by_identifier_overlap() -> None:
    current = "from shapes import Circle\n\ncircle = Circle(radius=2)\nprint(circle.area"
    shapes = "class Circle:\n    def __init__(self, radius):\n        self.radius = radius\n\n    def area(self):\n        return 3.14 * self.radius ** 2\n"
    colors = "RED = 1\nGREEN = 2\n"
    partial = "def area_of(circle):\n    return circle.area()\n"
    ranked = rank_snippets(current, len(current), [("colors.py", colors), ("util.py", partial), ("shapes.py", shapes)])
    assert [p for p, _ in ranked] == ["shapes.py", "util.py"]
    assert ranked[0][1].startswith("class Circle")


def test_long_files_contribute_their_best_window() -> None:
    filler = "\n".join(f"unrelated_{i} = {i}" for i in range(200))
    target = "def parse_config(path):\n    return load_toml(path)\n"
    other = filler + "\n" + target + filler
    current = "config = parse_config(config_path)\nvalues = load_toml("
    ((path, snippet),) = rank_snippets(current, len(current), [("cfg.py", other)], window_lines=10)
    assert "def parse_config" in snippet and snippet.count("\n") <= 9


def test_request_carries_related_open_documents() -> None:
    text = "from shapes import Circle\n\nc = Circle(2)\nprint(c.area"
    others = [
        ("file:///w/proj/colors.py", "RED = 1\n"),
        ("file:///w/proj/shapes.py", "class Circle:\n    def area(self):\n        return 1\n"),
    ]
    request = build_request(text, len(text), "file:///w/proj/main.py", "file:///w/proj", others)
    assert (request.path, request.repo, request.offset) == ("main.py", "proj", len(text))
    assert [p for p, _ in request.other_files] == ["shapes.py"]


# ---- edits ---------------------------------------------------------------------------------------------------


def test_inline_edit_covers_auto_closed_brackets() -> None:
    text = "print(greet()\nnext"
    assert inline_edit(text, 12, '"bob"') == (13, '"bob")')  # replaces the ")" and writes it back
    text = 'print(greet("")\n'
    cursor = text.index('"') + 1
    end, insert = inline_edit(text, cursor, "bob")
    assert (end, insert) == (text.index("\n"), 'bob")')
    assert inline_edit("x = f(a) + g", 6, "b") == (6, "b")  # code after the cursor: plain insertion


def test_word_start_and_paths() -> None:
    assert word_start("x = circle_ar", 13) == 4
    assert relative_path("file:///w/proj/pkg/a.py", "file:///w/proj") == ("pkg/a.py", "proj")
    assert relative_path("file:///elsewhere/b.py", "file:///w/proj") == ("b.py", "elsewhere")
    assert relative_path("file:///w/my%20proj/a.py", "file:///w/my%20proj") == ("a.py", "my proj")


def test_settings_section_accepts_both_shapes() -> None:
    assert settings_section({"starassist": {"completion": {"max_tokens": 3}}}) == {"completion": {"max_tokens": 3}}
    assert settings_section({"model": {"path": "x"}}) == {"model": {"path": "x"}}
    assert settings_section({"python": {}}) is None and settings_section(None) is None


# ---- scheduler -----------------------------------------------------------------------------------------------


def blocking_job(started: threading.Event, release: threading.Event, result: str):
    """A job that signals when it runs and then waits, checking its cancel flag like a generation does."""

    def fn(cancel) -> str:
        started.set()
        while not release.wait(0.005):
            if cancel():
                return "cancelled"
        return result

    return fn


def test_newer_request_supersedes_the_running_one() -> None:
    async def scenario() -> None:
        worker = Worker()
        sched = DocumentScheduler(worker, debounce_ms=0, adaptive=False)
        started, release = threading.Event(), threading.Event()
        first = asyncio.ensure_future(sched.run("doc", blocking_job(started, release, "old")))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
        second = asyncio.ensure_future(sched.run("doc", lambda cancel: "new"))
        old = await first  # cancelled at its next check, without being released
        assert old.value is None and old.superseded
        assert (await second).value == "new"
        assert worker.counters.as_dict() == {"started": 2, "finished": 1, "cancelled": 1, "skipped": 0, "failed": 0}
        worker.stop()
        assert worker.join(5)

    asyncio.run(scenario())


def test_a_job_that_raises_counts_as_failed() -> None:
    async def scenario() -> None:
        worker = Worker()

        def boom(cancel: object) -> None:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

        with pytest.raises(UnicodeEncodeError):
            await worker.submit(boom).future
        assert await worker.submit(lambda cancel: 1).future == 1
        counters = worker.counters
        assert (counters.started, counters.finished, counters.failed, counters.cancelled) == (2, 1, 1, 0)
        worker.stop()

    asyncio.run(scenario())


def test_debounce_lets_only_the_last_of_a_burst_run() -> None:
    async def scenario() -> None:
        worker = Worker()
        sched = DocumentScheduler(worker, debounce_ms=50, adaptive=False)
        ran: list[int] = []

        def job(i: int):
            return lambda cancel: ran.append(i) or i

        outcomes = await asyncio.gather(*(sched.run("doc", job(i)) for i in range(10)))
        assert ran == [9]
        assert [o.value for o in outcomes] == [None] * 9 + [9]
        assert all(o.superseded for o in outcomes[:9])
        other = await sched.run("other-doc", job(99))  # documents are independent
        assert other.value == 99
        worker.stop()

    asyncio.run(scenario())


def test_cancelling_the_request_cancels_the_generation() -> None:
    async def scenario() -> None:
        worker = Worker()
        sched = DocumentScheduler(worker, debounce_ms=0, adaptive=False)
        started, release = threading.Event(), threading.Event()
        task = asyncio.ensure_future(sched.run("doc", blocking_job(started, release, "x")))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
        task.cancel()  # what pygls does on $/cancelRequest
        with pytest.raises(asyncio.CancelledError):
            await task
        worker.stop()
        assert worker.join(5)  # the job saw its cancel flag without being released
        assert worker.counters.cancelled == 1

    asyncio.run(scenario())


def test_adaptive_debounce_follows_typing_speed() -> None:
    sched = DocumentScheduler(Worker(), debounce_ms=100, adaptive=True)
    assert sched.debounce_for("doc") == pytest.approx(0.1)  # no history yet
    sched._interval_ms["doc"] = 40  # fast typist: wait a little longer than their usual gap
    assert sched.debounce_for("doc") == pytest.approx(0.05)
    sched._interval_ms["doc"] = 1000  # slow typist: a pause means they want a suggestion now
    assert sched.debounce_for("doc") == pytest.approx(0.025)
    sched.adaptive = False
    assert sched.debounce_for("doc") == pytest.approx(0.1)
    sched.worker.stop()


# ---- telemetry -----------------------------------------------------------------------------------------------


def test_percentiles() -> None:
    assert percentile([], 50) is None
    values = [float(x) for x in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 90), percentile(values, 99)) == (50, 90, 99)
    assert percentile([7.0], 99) == 7.0


def test_recorder_merges_into_the_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "data" / "stats.json"
    first = StatsRecorder(path, flush_every_s=3600)
    first.shown(120.0, cached=False)
    first.shown(2.0, cached=True)
    first.accepted()  # flushes
    second = StatsRecorder(path, flush_every_s=3600)  # another editor session
    second.shown(80.0, cached=False)
    second.flush()
    stats = load(path)
    assert (stats.shown, stats.accepted, stats.cache_hits) == (3, 1, 1)
    assert stats.model_latencies_ms == [120.0, 80.0]
    assert [p.name for p in path.parent.iterdir()] == ["stats.json"]  # no temp files left
    path.write_text("{not json")
    assert load(path) == Stats()


def test_stats_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STARASSIST_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert "no suggestions recorded yet" in runner.invoke(app, ["stats"]).output
    recorder = StatsRecorder(tmp_path / "stats.json")
    for ms in (100.0, 200.0, 300.0, 400.0):
        recorder.shown(ms, cached=False)
    recorder.accepted()
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 0, result.output
    assert "suggestions shown: 4  accepted: 1  acceptance rate: 25.0%" in result.output
    assert "model latency (ms, 4 requests): p50 200  p90 400  p99 400" in result.output
    data = json.loads(runner.invoke(app, ["stats", "--json"]).output)
    assert data == summary(load(tmp_path / "stats.json"))
    assert data["acceptance_rate"] == 0.25


def test_lsp_command_rejects_a_bad_tcp_address() -> None:
    result = CliRunner().invoke(app, ["lsp", "--tcp", "localhost"])
    assert result.exit_code == 2
    assert result.output.strip() == "starassist: error: --tcp 'localhost' is not HOST:PORT (e.g. 127.0.0.1:2087)"
