"""`starassist bench lsp-stress`: the real server under a hostile client. Fuzz N seeded messages (twice, for
memory growth), broken frames, a cancellation storm, and typing in a big document against a small one; prints
one table row per probe with its figures. A benchmark, not a test: the suite runs a short version."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .stress_cases import SMALL_SOURCE, URI, Case, big_document, framing_cases, fuzz
from .stress_client import RawClient, isolated_env

STORM_URI = "file:///work/project/storm.py"


@dataclass
class StressOptions:
    messages: int = 10_000
    seed: int = 0
    cancels: int = 1000
    doc_chars: int = 10_000_000
    keystrokes: int = 30
    model: str | None = None
    max_tokens: int = 8


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


async def _fuzz_round(client: RawClient, cases: list[Case]) -> dict[str, Any]:
    expected = [c.answer_id for c in cases if c.answer_id is not None]
    waits = [client.expect(i) for i in expected]
    t0 = time.perf_counter()
    for case in cases:
        await client.send_raw(case.data)
    done, _ = await asyncio.wait(waits, timeout=120) if waits else (set(), set())
    return {"messages": len(cases), "requests": len(expected), "unanswered": len(waits) - len(done),
            "drain_s": round(time.perf_counter() - t0, 2)}


async def _idle_answer_ms(client: RawClient, n: int = 20) -> float:
    """Slowest answer to a malformed request on an idle server."""
    worst = 0.0
    for _ in range(n):
        t0 = time.perf_counter()
        await client.request("textDocument/inlineCompletion", {"textDocument": {"uri": URI},
                                                               "position": {"line": -1, "character": 0}}, timeout=10)
        worst = max(worst, (time.perf_counter() - t0) * 1000)
    return worst


async def _framing(client: RawClient, first_id: int) -> list[dict[str, Any]]:
    rows = []
    for name, data, inner in framing_cases(first_id):
        await client.send_raw(data)
        try:
            await client.request("starassist/status", {}, timeout=10)
            recovered = inner is None or client.expect(inner).done()
        except asyncio.TimeoutError:
            recovered = False
        rows.append({"case": name, "recovered": recovered})
    return rows


async def _cancel_storm(client: RawClient, n: int, seed: int) -> dict[str, Any]:
    import random

    rng = random.Random(seed)
    rss0 = client.rss_mb()
    waits, cancels = [], 0
    await client.notify("textDocument/didOpen", {"textDocument": {"uri": STORM_URI, "languageId": "python",
                                                                  "version": 1, "text": SMALL_SOURCE}})
    line = SMALL_SOURCE.count("\n")
    for i in range(n):
        # Typing (so no request is answered from the suggestion cache), each keystroke asking for a suggestion.
        await client.notify("textDocument/didChange", {"textDocument": {"uri": STORM_URI, "version": i + 2},
                                                       "contentChanges": [{"range": {
                                                           "start": {"line": line, "character": i},
                                                           "end": {"line": line, "character": i}}, "text": "z"}]})
        msg_id = client.new_id()
        waits.append(client.expect(msg_id))
        await client.send({"jsonrpc": "2.0", "id": msg_id, "method": "textDocument/inlineCompletion", "params": {
            "textDocument": {"uri": STORM_URI}, "position": {"line": line, "character": i + 1},
            "context": {"triggerKind": 2}}})
        if rng.random() < 0.9:
            cancels += 1
            await client.notify("$/cancelRequest", {"id": msg_id})
    done, _ = await asyncio.wait(waits, timeout=300)
    status: dict[str, Any] = {}
    for _ in range(200):  # until the worker is idle
        status = (await client.request("starassist/status", {}))["result"]
        if status["busy"] is None:
            break
        await asyncio.sleep(0.05)
    w = status["worker"]
    return {"requests": n, "cancels": cancels, "unanswered": n - len(done), "busy_after": status["busy"],
            "worker": w, "counters_add_up": w["started"] == w["finished"] + w["cancelled"] + w["failed"],
            "rss_delta_mb": round(client.rss_mb() - rss0, 1)}


async def _typing(client: RawClient, uri: str, text: str, keystrokes: int, complete: bool) -> list[float]:
    """Per keystroke: didChange then a request (status, or an inline completion), the round trip in ms."""
    lines = text.split("\n")
    line = len(lines) // 2
    while not lines[line].startswith("    return"):
        line += 1
    col = len(lines[line])
    await client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 1}, "contentChanges": [
        {"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}},
         "text": "\n    "}]})
    line, col, times = line + 1, 4, []
    for k, ch in enumerate(("result = helper(value)" * 10)[:keystrokes]):
        t0 = time.perf_counter()
        await client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": k + 2}, "contentChanges": [
            {"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}}, "text": ch}]})
        col += 1
        if complete:
            seen = len(client.got.timings)
            await client.request("textDocument/inlineCompletion", {"textDocument": {"uri": uri}, "position": {
                "line": line, "character": col}, "context": {"triggerKind": 2}}, timeout=60)
            new = client.got.timings[seen:]
            # Only model calls compare files (typing through a shown suggestion is a cache hit); the first
            # request of a file evaluates its whole prompt and is left out.
            if k == 0 or not new or new[-1].get("cached") is not False:
                continue
        else:
            await client.request("starassist/status", {}, timeout=60)
        times.append((time.perf_counter() - t0) * 1000)
    return times


async def _big_document(client: RawClient, chars: int, keystrokes: int) -> dict[str, Any]:
    small, big = big_document(20_000), big_document(chars)  # a 500-line file: its prompt is full too
    out: dict[str, Any] = {"chars": len(big)}
    rss0 = client.rss_mb()
    for name, text in (("small", small), ("big", big)):
        uri = f"file:///work/project/{name}.py"
        await client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python",
                                                                      "version": 1, "text": text}})
        await client.request("starassist/status", {}, timeout=120)
        if name == "big":
            out["rss_after_open_mb"] = round(client.rss_mb() - rss0, 1)
        out[f"{name}_edit_ms"] = _median(await _typing(client, uri, text, keystrokes, complete=False))
        completions = await _typing(client, uri, text, keystrokes, complete=True)
        out[f"{name}_complete_ms"] = _median(completions)
        out[f"{name}_model_calls"] = len(completions)
    out["edit_overhead_ms"] = round(out["big_edit_ms"] - out["small_edit_ms"], 2)
    out["latency_ratio"] = round(out["big_complete_ms"] / max(out["small_complete_ms"], 1e-3), 2)
    status = (await client.request("starassist/status", {}))["result"]
    out["documents_ratio"] = round(status["documents_bytes"] / (len(big) + len(small)), 2)
    out["rss_ratio"] = round((client.rss_mb() - rss0) * 1024 * 1024 / len(big), 2)
    return out


async def run_stress(opts: StressOptions, log: Callable[[str], None]) -> dict[str, Any]:
    command = [sys.executable, "-m", "starassist", "lsp"] + (["--model", opts.model] if opts.model else [])
    with tempfile.TemporaryDirectory() as tmp:
        client = await RawClient.start(command, isolated_env(tmp))
        report: dict[str, Any] = {}
        try:
            settings = {"completion": {"debounce_ms": 0, "max_tokens": opts.max_tokens}}
            await client.initialize(settings)
            await client.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python",
                                                                          "version": 1, "text": SMALL_SOURCE}})
            for _ in range(1200):
                status = (await client.request("starassist/status", {}))["result"]
                if status["ready"]:
                    break
                await asyncio.sleep(0.1)
            report["model"] = status["model"] or status["error"]
            rss = [client.rss_mb()]
            for round_ in range(2):
                log(f"fuzz round {round_ + 1}: {opts.messages} messages")
                cases = list(fuzz(opts.messages, opts.seed + round_, first_id=1 + round_ * opts.messages))
                report[f"fuzz_{round_ + 1}"] = await _fuzz_round(client, cases)
                rss.append(client.rss_mb())
            report["rss_mb"] = [round(r, 1) for r in rss]
            # The fuzz sent settings of its own: back to the bench's.
            await client.notify("workspace/didChangeConfiguration", {"settings": {"starassist": settings}})
            report["idle_answer_ms"] = round(await _idle_answer_ms(client), 1)
            log("framing cases")
            report["framing"] = await _framing(client, 10 * opts.messages + 10)
            log(f"cancellation storm: {opts.cancels} requests")
            report["storm"] = await _cancel_storm(client, opts.cancels, opts.seed)
            log(f"big document: {opts.doc_chars} characters")
            report["big_document"] = await _big_document(client, opts.doc_chars, opts.keystrokes)
            report["alive"] = client.proc.returncode is None
        finally:
            report["exit_code"] = await client.close(60)
        got = client.got
        report["popups"] = len([p for p in got.popups if "could not use" in p])
        report["other_popups"] = [p for p in got.popups if "could not use" not in p]
        report["tracebacks"] = got.tracebacks
        report["log_lines"] = len(got.stderr_lines)
        return report


def rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    f1, f2 = report["fuzz_1"], report["fuzz_2"]
    rss = report["rss_mb"]
    framing = report["framing"]
    storm, big = report["storm"], report["big_document"]
    return [
        ("fuzz: requests with a readable id", f"{f1['unanswered']} + {f2['unanswered']} of {f1['requests']} + "
                                              f"{f2['requests']} unanswered; idle answer ≤ {report['idle_answer_ms']} ms"),
        ("fuzz: error popups", f"{report['popups']} popup(s) for bad traffic (+{len(report['other_popups'])} "
                               f"bad-setting warning(s)), {report['tracebacks']} tracebacks, "
                               f"{report['log_lines']} log lines"),
        ("fuzz: RSS (MB)", f"{rss[0]} → {rss[1]} → {rss[2]} (+{rss[1] - rss[0]:.1f}, second run "
                           f"{rss[2] - rss[1]:+.1f})"),
        ("framing", f"{sum(r['recovered'] for r in framing)} of {len(framing)} cases recovered"
                    + "".join(f"; not: {r['case']}" for r in framing if not r["recovered"])),
        ("cancellation storm", f"{storm['requests']} requests, {storm['cancels']} cancels, {storm['unanswered']} "
                               f"unanswered, busy after: {storm['busy_after']}, counters add up: "
                               f"{storm['counters_add_up']} ({storm['worker']}), {storm['rss_delta_mb']:+} MB"),
        ("big document", f"{big['chars'] / 1e6:.1f} M chars: didChange+request p50 {big['big_edit_ms']:.2f} ms vs "
                         f"{big['small_edit_ms']:.2f} ms small (overhead {big['edit_overhead_ms']:+.2f} ms); completion "
                         f"p50 {big['big_complete_ms']:.0f} vs {big['small_complete_ms']:.0f} ms small "
                         f"(×{big['latency_ratio']}); memory: documents {big['documents_ratio']}× the text, RSS "
                         f"+{big['rss_ratio']}× (parse buffers included)"),
        ("crashes", f"{'none' if report['alive'] else 'THE SERVER DIED'}; exit code {report['exit_code']}"),
    ]


def print_report(report: dict[str, Any], echo: Callable[[str], None] = print) -> None:
    echo(f"model: {report['model']}")
    width = max(len(probe) for probe, _ in rows(report))
    for probe, measured in rows(report):
        echo(f"{probe.ljust(width)}  {measured}")
