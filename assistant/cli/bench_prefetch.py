"""`starassist bench prefetch`: what the speculative prefetch buys and what it costs, through the real server
and model, with `completion.prefetch` off and on in the same run (servers started one after the other):
- accept: a suggestion is shown, the user takes `think_ms` to press Tab, then the next suggestion is asked for:
  its round trip, and how many were answered from the prefetch;
- typing: keystrokes `gap_ms` apart, each asking for a suggestion, so most keystrokes land while the prefetch of
  the previous suggestion runs: the round trip of those that needed the model is the delay a prefetch adds.
Round trips are measured by the client (didChange + request -> answer). A benchmark, not a test.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starassist.engine.numbers import summary

from .stress_client import RawClient, change_params, inline_params, isolated_env, open_document

_SAMPLE = Path(__file__).with_name("data") / "typing_sample.txt"


@dataclass
class PrefetchOptions:
    model: str | None = None
    text: str = ""
    accepts: int = 12
    keystrokes: int = 24
    max_tokens: int = 16
    think_ms: float = 300.0
    gap_ms: float = 60.0


def _cut_points(text: str, n: int) -> list[tuple[int, int]]:
    """(line, column) in the middle of `n` code lines spread over the file (after the first few lines)."""
    lines = text.split("\n")
    code = [i for i, line in enumerate(lines) if len(line.strip()) > 12 and i > 3]
    step = max(1, len(code) // max(1, n))
    return [(i, len(lines[i]) - len(lines[i].lstrip()) + len(lines[i].strip()) // 2) for i in code[::step][:n]]


async def _accept_probe(client: RawClient, opts: PrefetchOptions) -> dict[str, Any]:
    """Per cut point: ask, wait `think_ms`, accept the item (one didChange), ask again; time the second ask."""
    lines = opts.text.split("\n")
    times, prefetched, shown = [], 0, 0
    for k, (line, col) in enumerate(_cut_points(opts.text, opts.accepts)):
        uri = f"file:///work/project/accept_{k}.py"
        await open_document(client, uri, "\n".join(lines[:line] + [lines[line][:col]] + lines[line + 1 :]))
        answer = await client.request("textDocument/inlineCompletion", inline_params(uri, line, col), timeout=120)
        items = (answer.get("result") or {}).get("items") or []
        if not items:
            continue
        shown += 1
        item = items[0]
        await asyncio.sleep(opts.think_ms / 1000)
        inserted = item["insertText"]
        t0 = time.perf_counter()
        await client.notify("textDocument/didChange",
                            change_params(uri, 2, item["range"]["start"], item["range"]["end"], inserted))
        head, _, last = inserted.rpartition("\n")
        new_line = item["range"]["start"]["line"] + inserted.count("\n")
        new_col = len(last) + (0 if head or "\n" in inserted else item["range"]["start"]["character"])
        seen = len(client.got.timings)
        await client.request("textDocument/inlineCompletion", inline_params(uri, new_line, new_col), timeout=120)
        times.append((time.perf_counter() - t0) * 1000)
        new = client.got.timings[seen:]
        prefetched += bool(new and new[-1].get("prefetched"))
        await client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    return {"shown": shown, "from_prefetch": prefetched, **(summary(times) if times else {})}


async def _typing_probe(client: RawClient, opts: PrefetchOptions) -> dict[str, Any]:
    """Retype a line of the file, keystrokes `gap_ms` apart, one request each; time those answered by the model.
    The text typed is one no model predicts (typing through a suggestion would be answered from the cache)."""
    lines = opts.text.split("\n")
    line = len(lines) // 2
    while len(lines[line].strip()) < 20:
        line += 1
    indent = len(lines[line]) - len(lines[line].lstrip())
    typed = ("qz = wx_7 * kj - jb / pv + " * 10)[: opts.keystrokes]
    uri = "file:///work/project/typing.py"
    await open_document(client, uri, "\n".join(lines[:line] + [lines[line][:indent]] + lines[line + 1 :]))
    times, col = [], indent
    for k, ch in enumerate(typed):
        await asyncio.sleep(opts.gap_ms / 1000)
        t0 = time.perf_counter()
        pos = {"line": line, "character": col}
        await client.notify("textDocument/didChange", change_params(uri, k + 2, pos, pos, ch))
        col += 1
        seen = len(client.got.timings)
        await client.request("textDocument/inlineCompletion", inline_params(uri, line, col), timeout=120)
        new = client.got.timings[seen:]
        if k > 0 and new and new[-1].get("cached") is False:  # the first request evaluates the whole prompt
            times.append((time.perf_counter() - t0) * 1000)
    await client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    return {"model_answers": len(times), **(summary(times) if times else {})}


async def _one_server(opts: PrefetchOptions, prefetch: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "starassist", "lsp"] + (["--model", opts.model] if opts.model else [])
    with tempfile.TemporaryDirectory() as tmp:
        client = await RawClient.start(command, isolated_env(tmp))
        try:
            await client.initialize({"completion": {"debounce_ms": 0, "max_tokens": opts.max_tokens,
                                                    "prefetch": prefetch}})
            status: dict[str, Any] = {}
            for _ in range(1200):
                status = (await client.request("starassist/status", {}))["result"]
                if status["ready"]:
                    break
                await asyncio.sleep(0.1)
            if status.get("error") or not status.get("ready"):
                raise RuntimeError(f"the server could not load the model: {status.get('error')}")
            report: dict[str, Any] = {"model": status["model"]}
            report["accept"] = await _accept_probe(client, opts)
            report["typing"] = await _typing_probe(client, opts)
            status = (await client.request("starassist/status", {}))["result"]
            report["prefetch"] = status["prefetch"]
            report["model_calls"] = status["model_calls"]
        finally:
            await client.close(60)
    return report


async def run_prefetch_bench(opts: PrefetchOptions, log: Callable[[str], None]) -> dict[str, Any]:
    if not opts.text:
        opts.text = _SAMPLE.read_text(encoding="utf-8")
    report: dict[str, Any] = {}
    for label, on in (("off", False), ("on", True)):
        log(f"prefetch {label}: {opts.accepts} accepts, {opts.keystrokes} keystrokes")
        report[label] = await _one_server(opts, on)
    report["model"] = report["on"]["model"]
    off, on = report["off"], report["on"]
    if "p50_ms" in off["typing"] and "p50_ms" in on["typing"]:
        report["typing_p50_ratio"] = round(on["typing"]["p50_ms"] / off["typing"]["p50_ms"], 3)
    if "p50_ms" in off["accept"] and "p50_ms" in on["accept"]:
        report["accept_p50_ratio"] = round(on["accept"]["p50_ms"] / off["accept"]["p50_ms"], 3)
    return report


def print_report(report: dict[str, Any], echo: Callable[[str], None] = print) -> None:
    echo(f"model: {report['model']}")
    for label in ("off", "on"):
        r = report[label]
        acc, typ = r["accept"], r["typing"]
        echo(f"prefetch {label:3}  accept: next suggestion p50 {acc.get('p50_ms', 0):.1f} ms / p95 "
             f"{acc.get('p95_ms', 0):.1f} ms, {acc['from_prefetch']} of {acc['shown']} from the prefetch;  "
             f"typing: model answers p50 {typ.get('p50_ms', 0):.0f} ms / p95 {typ.get('p95_ms', 0):.0f} ms "
             f"({typ['model_answers']} answers);  prefetches {r['prefetch']['started']} started, "
             f"{r['prefetch']['cancelled']} cancelled, {r['prefetch']['stored']} stored")
    if "typing_p50_ratio" in report:
        echo(f"typing p50, on / off: {report['typing_p50_ratio']:.2f}×")
    if "accept_p50_ratio" in report:
        echo(f"after Tab p50, on / off: {report['accept_p50_ratio']:.3f}×")
