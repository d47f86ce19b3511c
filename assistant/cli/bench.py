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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from starassist.engine.numbers import summary

from .app import cli_settings, command, load_engine

if TYPE_CHECKING:
    from starassist.engine.completion import CompletionEngine

_SAMPLE = Path(__file__).with_name("data") / "typing_sample.txt"


@dataclass
class Key:
    """One counted keystroke: what was typed and what its suggestion cost."""

    char: str
    inside_line: bool  # typed on the same line as the key before (not a line break, not right after one)
    evaluated_tokens: int
    prompt_tokens: int
    prompt_ms: float
    generated_tokens: int
    generation_ms: float
    total_ms: float


@dataclass
class Typed:
    """What typing through a file cost: per counted keystroke the time, and per keystroke the prompt token ids
    and the number of generated tokens (so a baseline can redo the same work)."""

    times_ms: list[float]
    work: list[tuple[list[int], int]]
    reuse: list[float]  # share of each counted prompt found in the KV cache
    warmup: int
    keys: list[Key] = field(default_factory=list)

    @property
    def kv_reuse(self) -> float:
        return statistics.fmean(self.reuse) if self.reuse else 0.0

    @property
    def generated_mean(self) -> float:
        counted = self.work[self.warmup :]
        return statistics.fmean(n for _, n in counted) if counted else 0.0

    def medians(self) -> dict[str, float]:
        """Medians over the counted keys; `evaluated_inside_line` only over keys typed inside a line, and
        `total_over_generation` is the median of each key's total / generation time."""
        keys = self.keys
        inside = [k.evaluated_tokens for k in keys if k.inside_line] or [0]
        return {
            "evaluated_tokens": statistics.median(k.evaluated_tokens for k in keys),
            "evaluated_inside_line": statistics.median(inside),
            "prompt_tokens": statistics.median(k.prompt_tokens for k in keys),
            "prompt_ms": statistics.median(k.prompt_ms for k in keys),
            "generation_ms": statistics.median(k.generation_ms for k in keys),
            "total_ms": statistics.median(k.total_ms for k in keys),
            "total_over_generation": statistics.median(k.total_ms / max(k.generation_ms, 1e-3) for k in keys),
        }


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
            t = result.timings
            typed.times_ms.append(elapsed)
            typed.reuse.append(t.reused_tokens / max(1, t.prompt_tokens))
            typed.keys.append(Key(text[end - 1 : end], end > start and "\n" not in text[end - 2 : end],
                                  t.evaluated_tokens, t.prompt_tokens, t.prompt_ms, t.generated_tokens,
                                  t.generation_ms, elapsed))
    return typed


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@command("bench")
def bench(
    what: str = typer.Argument("latency", help="What to measure: latency, gpu (the transformers backend's "
                                               "decode paths and precisions against model.generate), or lsp-stress "
                                               "(the server under fuzzing, a cancellation storm and a big file), "
                                               "prefetch (Tab-then-type latency and typing with it off and on), or "
                                               "team (how many editors typing at once a remote server serves)."),
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
    fim_modes: str = typer.Option("", help="latency: FIM layouts to compare on the same loaded model, e.g. "
                                           "spm,psm (default: the configured one; the first is compared with raw "
                                           "llama-cpp-python)."),
    per_key: bool = typer.Option(True, "--per-key/--no-per-key", help="latency: print every keystroke."),
    accepts: int = typer.Option(12, help="prefetch: suggestions accepted (Tab) before asking for the next."),
    think_ms: float = typer.Option(300.0, help="prefetch: time between a suggestion shown and Tab."),
    gap_ms: float = typer.Option(60.0, help="prefetch: time between keystrokes while typing."),
    editors: str = typer.Option("1,2,4,8", help="team: numbers of editors typing at once, one row each."),
    key_ms: float = typer.Option(150.0, help="team: time between one typist's keystrokes."),
    word: int = typer.Option(8, help="team: keystrokes between the pauses where the typist waits."),
    target_ms: float = typer.Option(500.0, help="team: the p95 wait at a pause that still counts as served."),
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
        _output(gpu_report, as_json, print_report)
        return
    if what == "lsp-stress":
        import asyncio

        from .bench_stress import StressOptions, run_stress
        from .bench_stress import print_report as print_stress

        stress = StressOptions(messages=messages, seed=seed, cancels=cancels, doc_chars=int(doc_mb * 1e6),
                               keystrokes=keystrokes, model=model, max_tokens=max_tokens)
        stress_report = asyncio.run(run_stress(stress, log=lambda line: typer.echo(line, err=True)))
        _output(stress_report, as_json, lambda r: print_stress(r, typer.echo))
        return
    if what == "prefetch":
        import asyncio

        from .bench_prefetch import PrefetchOptions, run_prefetch_bench
        from .bench_prefetch import print_report as print_prefetch

        text = file.read_text(encoding="utf-8") if file else ""
        prefetch_report = asyncio.run(run_prefetch_bench(
            PrefetchOptions(model=model, text=text, keystrokes=keystrokes, max_tokens=max_tokens, accepts=accepts,
                            think_ms=think_ms, gap_ms=gap_ms), log=lambda line: typer.echo(line, err=True)))
        _output(prefetch_report, as_json, lambda r: print_prefetch(r, typer.echo))
        return
    if what == "team":
        import asyncio

        from .bench_team import TeamOptions, run_team_bench
        from .bench_team import print_report as print_team

        if not model or not model.startswith(("http://", "https://")):
            raise StarassistError("bench team measures a team server — give its URL: --model http://gpu-box:8000")
        try:
            counts = tuple(int(n) for n in _names(editors))
        except ValueError:
            counts = ()
        if not counts or min(counts) < 1:
            raise StarassistError(f"--editors {editors!r}: give numbers of editors, like 1,2,4,8")
        team_report = asyncio.run(run_team_bench(
            TeamOptions(url=model, editors=counts, keystrokes=keystrokes, word=max(1, word), gap_ms=key_ms,
                        max_tokens=max_tokens, target_ms=target_ms,
                        text=(file or _SAMPLE).read_text(encoding="utf-8")),
            log=lambda line: typer.echo(line, err=True)))
        _output(team_report, as_json, lambda r: print_team(r, typer.echo))
        return
    if what != "latency":
        raise StarassistError(f"unknown benchmark {what!r} — available: latency, gpu, lsp-stress, prefetch, team")
    text = (file or _SAMPLE).read_text(encoding="utf-8")
    settings = cli_settings(model__path=model)
    engine = load_engine(settings)
    report = latency_report(engine, text, keystrokes=keystrokes, warmup=warmup, max_tokens=max_tokens,
                            fim_modes=_names(fim_modes))
    _output(report, as_json, lambda r: print_latency(r, per_key=per_key))


def _output(report: dict, as_json: bool, show: Callable[[dict], None]) -> None:
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        show(report)


def latency_report(engine: CompletionEngine, text: str, *, keystrokes: int, warmup: int, max_tokens: int,
                   fim_modes: list[str]) -> dict:
    """Type through `text` once per FIM mode (the first is the one measured against the raw baselines), on the
    same loaded model."""
    from starassist.engine.fim import resolve_mode

    raw = getattr(engine.backend, "raw_completion", None)  # llama.cpp only
    configured = engine.mode
    runs: dict[str, Typed] = {}
    for name in fim_modes or [configured]:
        engine.mode = resolve_mode(engine.format, name)
        label = engine.mode if engine.format.fim else "l2r"
        if label not in runs:
            runs[label] = type_through(engine, text, keystrokes=keystrokes, warmup=warmup, max_tokens=max_tokens)
    engine.mode = configured
    first = next(iter(runs))
    typed = runs[first]
    ours, work = typed.times_ms, typed.work
    report: dict = {
        "model": engine.backend.info.name,
        "format": engine.format.name,
        "mode": first,
        "threads": engine.backend.info.threads,
        "keystrokes": len(ours),
        "max_tokens": max_tokens,
        "prompt_tokens": len(work[-1][0]),
        "generated_tokens_mean": typed.generated_mean,
        "starassist": summary(ours),
        "kv_reuse": typed.kv_reuse,
        "modes": {label: {"medians": run.medians(), "p50_ms": summary(run.times_ms)["p50_ms"],
                          "keys": [asdict(k) for k in run.keys]} for label, run in runs.items()},
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
    return report


def print_latency(report: dict, *, per_key: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    first = report["mode"]
    if per_key:
        keys = Table(title=f"per keystroke ({first.upper()})")
        for col in ("key", "evaluated / prompt tokens", "prompt ms", "generation ms (tokens)", "total ms"):
            keys.add_column(col, justify="right")
        for k in report["modes"][first]["keys"]:
            where = "" if k["inside_line"] else " (new line)"
            keys.add_row(repr(k["char"]) + where, f"{k['evaluated_tokens']} / {k['prompt_tokens']}",
                         f"{k['prompt_ms']:.1f}", f"{k['generation_ms']:.1f} ({k['generated_tokens']})",
                         f"{k['total_ms']:.1f}")
        console.print(keys)
    modes = Table(title=f"medians per keystroke, {report['keystrokes']} keystrokes ({report['model']}, "
                        f"{report['format']}, {report['threads']} threads)")
    for col in ("mode", "evaluated tokens (inside a line)", "prompt ms", "generation ms", "total ms",
                "total / generation"):
        modes.add_column(col, justify="right")
    for label, run in report["modes"].items():
        m = run["medians"]
        modes.add_row(label.upper(), f"{m['evaluated_tokens']:.0f} ({m['evaluated_inside_line']:.0f})",
                      f"{m['prompt_ms']:.1f}", f"{m['generation_ms']:.1f}", f"{m['total_ms']:.1f}",
                      f"{m['total_over_generation']:.2f}")
    console.print(modes)
    table = Table(title=f"keystroke → suggestion ({first.upper()}), {report['keystrokes']} keystrokes, "
                        f"{report['generated_tokens_mean']:.1f} of at most {report['max_tokens']} tokens generated, "
                        f"{report['prompt_tokens']}-token prompt")
    for col in ("path", "p50 ms", "p95 ms", "mean ms", "p50 ratio (raw / starassist)"):
        table.add_column(col)
    for label in ("starassist", "raw_warm", "raw_cold"):
        if label in report:
            row = report[label]
            ratio = "1.00" if label == "starassist" else f"{report[f'speedup_vs_{label}_p50']:.2f}"
            table.add_row(label, f"{row['p50_ms']:.0f}", f"{row['p95_ms']:.0f}", f"{row['mean_ms']:.0f}", ratio)
    console.print(table)
    console.print(f"KV cache reuse while typing: {report['kv_reuse']:.0%} of prompt tokens")
