"""`starassist bench team`: how many editors one inference server serves, measured the way editors load it.

For each number of editors, that many real `starassist lsp` servers (default settings: adaptive debounce,
cancellation, prefetch) point at the server and type at once, each through its own part of a file: a keystroke
every `gap_ms` is a didChange plus an inline request, as editors send them, and after every `word` keystrokes the
typist pauses and waits for the suggestion. Reported per row: the wait at those pauses (keystroke -> suggestion,
p50/p95, what the user feels), how many pauses got a suggestion, and the requests that reached the server per 100
keystrokes (the LSPs' model calls, prefetches included). The editors one server serves is the largest row whose
p95 stays under `target_ms`. Run it from a machine other than the server's, as editors would; a benchmark, not a
test.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starassist.engine.errors import StarassistError
from starassist.engine.numbers import summary

from .stress_client import RawClient, change_params, inline_params, open_document


@dataclass
class TeamOptions:
    url: str
    editors: tuple[int, ...] = (1, 2, 4, 8)
    keystrokes: int = 48  # per editor
    word: int = 8  # keystrokes between pauses
    gap_ms: float = 120.0
    max_tokens: int = 16
    target_ms: float = 500.0
    text: str = ""  # the file typed through


def _typing_plan(text: str, editor: int, keystrokes: int) -> tuple[str, int, str]:
    """The document an editor starts from, the line it types on and the text it types: each editor its own
    stretch of the file (the lines it retypes removed), so no two send the same prompt."""
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if len(line.strip()) > 20 and i > 3]
    if not candidates:
        raise StarassistError("bench team: the file has no line of code to type (longer than 20 characters, after "
                              "the first four lines) — give a longer --file")
    start = candidates[(editor * 7) % len(candidates)]
    typed, end = "", start
    while len(typed) < keystrokes and end < len(lines):
        typed += (lines[end].strip() if end == start else lines[end]) + "\n"
        end += 1
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    doc = "\n".join(lines[:start] + [indent] + lines[end:])
    return doc, start, typed[:keystrokes]


async def _editor(client: RawClient, opts: TeamOptions, editor: int, start_at: float) -> dict[str, Any]:
    doc, line, typed = _typing_plan(opts.text, editor, opts.keystrokes)
    uri = f"file:///work/team/editor_{editor}.py"
    await open_document(client, uri, doc)
    col = len(doc.split("\n")[line])
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    waits: list[float] = []
    shown = 0
    pending: list[asyncio.Future[dict[str, Any]]] = []
    for k, ch in enumerate(typed):
        pos = {"line": line, "character": col}
        await client.notify("textDocument/didChange", change_params(uri, k + 2, pos, pos, ch))
        line, col = (line + 1, 0) if ch == "\n" else (line, col + 1)
        t0 = time.perf_counter()
        answer = asyncio.ensure_future(client.request("textDocument/inlineCompletion", inline_params(uri, line, col),
                                                      timeout=300))
        pending.append(answer)
        if (k + 1) % opts.word == 0:  # a pause: the typist waits for this suggestion
            items = ((await answer).get("result") or {}).get("items") or []
            waits.append((time.perf_counter() - t0) * 1000)
            shown += bool(items)
        await asyncio.sleep(opts.gap_ms / 1000)
    await asyncio.gather(*pending)
    await client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    return {"waits": waits, "shown": shown, "keys": len(typed)}


async def _ready(client: RawClient) -> dict[str, Any]:
    status: dict[str, Any] = {}
    for _ in range(600):
        status = (await client.request("starassist/status", {}))["result"]
        if status["ready"] or status.get("error"):
            break
        await asyncio.sleep(0.1)
    if status.get("error") or not status.get("ready"):
        raise StarassistError(f"bench team: the LSP could not use the server: {status.get('error')}")
    return status


async def _row(opts: TeamOptions, editors: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "starassist", "lsp", "--model", opts.url]
    with tempfile.TemporaryDirectory() as tmp:
        # The user's own settings (remote.api, api_key_env, model.context_length ...): the editors are theirs.
        clients = await asyncio.gather(*(RawClient.start(command, {**os.environ, "STARASSIST_DATA_DIR": f"{tmp}/{i}"})
                                         for i in range(editors)))
        try:
            await asyncio.gather(*(c.initialize({"completion": {"max_tokens": opts.max_tokens}}) for c in clients))
            statuses = await asyncio.gather(*(_ready(c) for c in clients))
            start_at = time.monotonic() + 0.2
            # Typists do not start in lockstep: each begins a fraction of a keystroke after the one before.
            runs = await asyncio.gather(*(_editor(c, opts, i, start_at + i * opts.gap_ms / 1000 / editors)
                                          for i, c in enumerate(clients)))
            after = await asyncio.gather(*(c.request("starassist/status", {}) for c in clients))
        finally:
            await asyncio.gather(*(c.close(60) for c in clients))
    waits = [w for run in runs for w in run["waits"]]
    keys = sum(run["keys"] for run in runs)
    calls = sum(a["result"]["model_calls"] + a["result"]["prefetch"]["model_calls"] for a in after)
    errors = [t["error"] for c in clients for t in c.got.timings if t.get("error")]
    return {"editors": editors, "model": statuses[0]["model"], "pauses": len(waits),
            "shown": sum(run["shown"] for run in runs), **summary(waits),
            "requests_per_100_keys": round(100 * calls / max(1, keys), 1),
            "errors": len(errors), "first_error": errors[0] if errors else None}


async def run_team_bench(opts: TeamOptions, log: Callable[[str], None]) -> dict[str, Any]:
    _typing_plan(opts.text, 0, opts.keystrokes)  # a file with nothing to type fails before any LSP starts
    rows = []
    for editors in opts.editors:
        log(f"{editors} editor(s) typing {opts.keystrokes} keys each, a key every {opts.gap_ms:g} ms")
        rows.append(await _row(opts, editors))
    served = [r["editors"] for r in rows if r["p95_ms"] <= opts.target_ms and not r["errors"]]
    return {"server": opts.url, "model": rows[0]["model"], "gap_ms": opts.gap_ms, "word": opts.word,
            "target_ms": opts.target_ms, "rows": rows, "editors_served": max(served, default=0)}


def print_report(report: dict[str, Any], echo: Callable[[str], None] = print) -> None:
    echo(f"server {report['server']} ({report['model']}); a key every {report['gap_ms']:g} ms, a pause every "
         f"{report['word']} keys")
    echo("editors | suggestion after a pause p50 / p95 | pauses with a suggestion | server requests / 100 keys")
    for r in report["rows"]:
        echo(f"{r['editors']:7} | {r['p50_ms']:8.0f} / {r['p95_ms']:6.0f} ms | {r['shown']:4} of {r['pauses']:<4}"
             f"          | {r['requests_per_100_keys']:.1f}")
    for r in report["rows"]:
        if r["errors"]:
            echo(f"{r['editors']} editor(s): {r['errors']} request(s) failed, the first: {r['first_error']}")
    echo(f"editors served with p95 under {report['target_ms']:g} ms: {report['editors_served']}"
         + (" (the largest row tried: try more)" if report["editors_served"] == report["rows"][-1]["editors"]
            else ""))
