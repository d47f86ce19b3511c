"""`starassist bench latency`: keystroke -> suggestion latency while typing through a file.

Numbers are reported against raw llama-cpp-python baselines run in the same process on the same loaded model
with the same prompt token ids and the same number of generated tokens (this machine is noisy; only ratios
are comparable across runs):
- raw warm: `Llama.create_completion(prompt_ids)` (llama-cpp-python's own prefix reuse);
- raw cold: the same after `Llama.reset()` (what a server without prompt caching pays).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import typer

from starassist.engine.numbers import summary

from .app import cli_settings, command, load_engine

_SAMPLE = Path(__file__).with_name("data") / "typing_sample.txt"


@command("bench")
def bench(
    what: str = typer.Argument("latency", help="What to measure: latency."),
    file: Path | None = typer.Option(None, help="File to type through (default: a bundled sample)."),
    keystrokes: int = typer.Option(24, help="Characters typed (one completion each)."),
    max_tokens: int = typer.Option(16, help="Tokens generated per suggestion."),
    warmup: int = typer.Option(2, help="Keystrokes not counted (model warm-up)."),
    model: str | None = typer.Option(None, "--model", "-m"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Benchmark keystroke -> suggestion latency (p50/p95) against raw llama-cpp-python baselines."""
    from starassist.engine.completion import CompletionRequest
    from starassist.engine.errors import StarassistError

    if what != "latency":
        raise StarassistError(f"unknown benchmark {what!r} — available: latency")
    text = (file or _SAMPLE).read_text(encoding="utf-8")
    settings = cli_settings(model__path=model)
    engine = load_engine(settings)
    raw = getattr(engine.backend, "raw_completion", None)  # llama.cpp only
    # Type the last `keystrokes` characters of the file's first half, one at a time.
    cut = len(text) // 2
    start = max(0, cut - keystrokes - warmup)
    states = [text[: i] for i in range(start, cut)]
    suffix = text[cut:]
    ours: list[float] = []
    # What each keystroke gave the model and how many tokens it generated: the raw baselines do the same work.
    work: list[tuple[list[int], int]] = []
    reused: list[float] = []
    for i, prefix in enumerate(states):
        doc = prefix + suffix
        request = CompletionRequest(text=doc, offset=len(prefix), path="sample.py", repo="bench",
                                    max_tokens=max_tokens, multiline=False)
        t0 = time.perf_counter()
        result = engine.complete(request)
        elapsed = (time.perf_counter() - t0) * 1000
        work.append((result.prompt, result.timings.generated_tokens))
        if i >= warmup:
            ours.append(elapsed)
            reused.append(result.timings.reused_tokens / max(1, result.timings.prompt_tokens))
    report: dict = {
        "model": engine.backend.info.name,
        "format": engine.format.name,
        "keystrokes": len(ours),
        "max_tokens": max_tokens,
        "prompt_tokens": len(work[-1][0]),
        "generated_tokens_mean": statistics.fmean(n for _, n in work[warmup:]) if ours else 0.0,
        "starassist": summary(ours),
        "kv_reuse": statistics.fmean(reused) if reused else 0.0,
    }
    if raw is not None:
        for label, cold in (("raw_warm", False), ("raw_cold", True)):
            times: list[float] = []
            for i, (prompt, n_tokens) in enumerate(work):
                t0 = time.perf_counter()
                raw(prompt, max(1, n_tokens), cold=cold)
                if i >= warmup:
                    times.append((time.perf_counter() - t0) * 1000)
            report[label] = summary(times)
            report[f"speedup_vs_{label}_p50"] = report[label]["p50_ms"] / report["starassist"]["p50_ms"]
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"keystroke → suggestion, {report['keystrokes']} keystrokes, "
                        f"{report['generated_tokens_mean']:.1f} of at most {max_tokens} tokens generated, "
                        f"{report['prompt_tokens']}-token prompt ({report['model']}, {report['format']})")
    for col in ("path", "p50 ms", "p95 ms", "mean ms", "p50 ratio (raw / starassist)"):
        table.add_column(col)
    for label in ("starassist", "raw_warm", "raw_cold"):
        if label in report:
            row = report[label]
            ratio = "1.00" if label == "starassist" else f"{report[f'speedup_vs_{label}_p50']:.2f}"
            table.add_row(label, f"{row['p50_ms']:.0f}", f"{row['p95_ms']:.0f}", f"{row['mean_ms']:.0f}", ratio)
    console = Console()
    console.print(table)
    console.print(f"KV cache reuse while typing: {report['kv_reuse']:.0%} of prompt tokens")
