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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from starassist.engine.numbers import summary

from .app import cli_settings, command, load_engine

if TYPE_CHECKING:
    from starassist.engine.completion import CompletionEngine

_SAMPLE = Path(__file__).with_name("data") / "typing_sample.txt"


@dataclass
class Typed:
    """What typing through a file cost: per counted keystroke the time, and per keystroke the prompt token ids
    and the number of generated tokens (so a baseline can redo the same work)."""

    times_ms: list[float]
    work: list[tuple[list[int], int]]
    reuse: list[float]  # share of each counted prompt found in the KV cache
    warmup: int

    @property
    def kv_reuse(self) -> float:
        return statistics.fmean(self.reuse) if self.reuse else 0.0

    @property
    def generated_mean(self) -> float:
        counted = self.work[self.warmup :]
        return statistics.fmean(n for _, n in counted) if counted else 0.0


def type_through(engine: CompletionEngine, text: str, *, keystrokes: int, warmup: int, max_tokens: int,
                 multiline: bool = False) -> Typed:
    """Type the last `keystrokes` (+ `warmup`, not counted) characters of `text`'s first half one at a time,
    asking for a suggestion at each."""
    from starassist.engine.completion import CompletionRequest

    cut = len(text) // 2
    start = max(0, cut - keystrokes - warmup)
    suffix = text[cut:]
    typed = Typed([], [], [], warmup)
    for i, end in enumerate(range(start, cut)):
        request = CompletionRequest(text=text[:end] + suffix, offset=end, path="sample.py", repo="bench",
                                    max_tokens=max_tokens, multiline=multiline)
        t0 = time.perf_counter()
        result = engine.complete(request)
        elapsed = (time.perf_counter() - t0) * 1000
        typed.work.append((result.prompt, result.timings.generated_tokens))
        if i >= warmup:
            typed.times_ms.append(elapsed)
            typed.reuse.append(result.timings.reused_tokens / max(1, result.timings.prompt_tokens))
    return typed


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@command("bench")
def bench(
    what: str = typer.Argument("latency", help="What to measure: latency, gpu (the transformers backend's "
                                               "decode paths and precisions against model.generate), or lsp-stress "
                                               "(the server under fuzzing, a cancellation storm and a big file)."),
    file: Path | None = typer.Option(None, help="File to type through (default: a bundled sample)."),
    keystrokes: int = typer.Option(24, help="Characters typed (one completion each)."),
    max_tokens: int = typer.Option(16, help="Tokens generated per suggestion."),
    warmup: int = typer.Option(2, help="Keystrokes not counted (model warm-up)."),
    model: str | None = typer.Option(None, "--model", "-m"),
    as_json: bool = typer.Option(False, "--json"),
    config: str = typer.Option("starcoder2-3b", help="gpu: the random-weight model's shape when no --model is given "
                                                     "(starcoder2-3b, -7b, -15b, starcoderbase-1b, tiny)."),
    device: str = typer.Option("auto", help="gpu: auto, cuda, mps or cpu."),
    modes: str = typer.Option("bf16,nf4,int8", help="gpu: precisions (bf16, fp16, fp32, nf4, int8)."),
    paths: str = typer.Option("dynamic,static,cuda_graph", help="gpu: decode paths to compare."),
    decode_tokens: int = typer.Option(128, help="gpu: tokens generated for the decode tokens/s figures."),
    messages: int = typer.Option(10_000, help="lsp-stress: fuzz messages per round (two rounds)."),
    seed: int = typer.Option(0, help="lsp-stress: fuzz seed."),
    cancels: int = typer.Option(1000, help="lsp-stress: requests in the cancellation storm."),
    doc_mb: float = typer.Option(10.0, help="lsp-stress: size of the big document (millions of characters)."),
) -> None:
    """Benchmark keystroke -> suggestion latency (p50/p95) against raw baselines: llama-cpp-python (latency), or
    transformers' model.generate (gpu)."""
    from starassist.engine.errors import StarassistError

    if what == "gpu":
        from .bench_gpu import GpuBench, print_report, run_gpu_bench

        options = GpuBench(model=model, config=config, device=device, modes=_names(modes), paths=_names(paths),
                           keystrokes=keystrokes, warmup=warmup, max_tokens=max_tokens,
                           decode_tokens=decode_tokens, text=(file or _SAMPLE).read_text(encoding="utf-8"))
        gpu_report = run_gpu_bench(options, log=lambda line: typer.echo(line, err=True))
        if as_json:
            typer.echo(json.dumps(gpu_report, indent=2))
        else:
            print_report(gpu_report)
        return
    if what == "lsp-stress":
        import asyncio

        from .bench_stress import StressOptions, run_stress
        from .bench_stress import print_report as print_stress

        stress = StressOptions(messages=messages, seed=seed, cancels=cancels, doc_chars=int(doc_mb * 1e6),
                               keystrokes=keystrokes, model=model, max_tokens=max_tokens)
        stress_report = asyncio.run(run_stress(stress, log=lambda line: typer.echo(line, err=True)))
        if as_json:
            typer.echo(json.dumps(stress_report, indent=2))
        else:
            print_stress(stress_report, typer.echo)
        return
    if what != "latency":
        raise StarassistError(f"unknown benchmark {what!r} — available: latency, gpu, lsp-stress")
    text = (file or _SAMPLE).read_text(encoding="utf-8")
    settings = cli_settings(model__path=model)
    engine = load_engine(settings)
    raw = getattr(engine.backend, "raw_completion", None)  # llama.cpp only
    typed = type_through(engine, text, keystrokes=keystrokes, warmup=warmup, max_tokens=max_tokens)
    ours, work = typed.times_ms, typed.work
    report: dict = {
        "model": engine.backend.info.name,
        "format": engine.format.name,
        "keystrokes": len(ours),
        "max_tokens": max_tokens,
        "prompt_tokens": len(work[-1][0]),
        "generated_tokens_mean": typed.generated_mean,
        "starassist": summary(ours),
        "kv_reuse": typed.kv_reuse,
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
