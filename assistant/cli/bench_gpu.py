"""`starassist bench gpu`: the transformers backend's decode paths and precisions, against transformers' own
`model.generate` in the same run.

For each precision (bf16, nf4, int8 …) the model is loaded once; each decode path (dynamic: transformers'
forward; static: our static-KV-cache step; cuda_graph: that step captured) types through a file one key at a time
through the completion engine, as `bench latency` does, then decodes a long run for tokens/s. The baseline is
greedy `model.generate` on the same prompt ids: its decode rate is the extra tokens over the extra time between
a 1-token and an N-token call. Without --model a random-weight checkpoint of a real shape is built (offline).
"""

from __future__ import annotations

import copy
import gc
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starassist.engine.errors import MissingExtraError, StarassistError
from starassist.engine.numbers import summary

from .app import cli_settings
from .bench import type_through

# precision -> (model.dtype, model.quantization)
PRECISIONS = {
    "bf16": ("bfloat16", "none"),
    "fp16": ("float16", "none"),
    "fp32": ("float32", "none"),
    "nf4": ("auto", "nf4"),
    "int8": ("auto", "int8"),
}
PATHS = ("dynamic", "static", "cuda_graph")


@dataclass(frozen=True)
class GpuBench:
    model: str | None  # an HF checkpoint; None: a random-weight one of `config`
    config: str
    device: str
    modes: list[str]
    paths: list[str]
    keystrokes: int
    warmup: int
    max_tokens: int
    decode_tokens: int
    text: str


def _check(names: list[str], known: Any, what: str) -> None:
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise StarassistError(f"--{what} {','.join(bad) or '(empty)'}: choose among {', '.join(known)}")


def machine_facts(device: str) -> dict[str, str]:
    import torch
    import transformers

    facts = {"python": platform.python_version(), "torch": torch.__version__,
             "transformers": transformers.__version__, "device": device}
    try:
        import bitsandbytes

        facts["bitsandbytes"] = bitsandbytes.__version__
    except ImportError:
        facts["bitsandbytes"] = "not installed"
    if device == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(torch.cuda.current_device())
        facts["cuda"] = str(torch.version.cuda)
    else:
        facts["cpu_threads"] = str(torch.get_num_threads())
    return facts


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def decode_rate(backend: Any, prompt: list[int], tokens: int) -> tuple[float, int]:
    """Our decode tokens/s on `prompt` (second of two runs: the prompt is then in the KV cache)."""
    from starassist.engine.backend import GenerationParams

    params = GenerationParams(max_tokens=tokens)
    backend.generate(prompt, params)
    result = backend.generate(prompt, params)
    timings = result.timings
    return timings.generated_tokens / max(timings.generation_ms / 1000, 1e-9), timings.generated_tokens


def generate_rate(backend: Any, prompt: list[int], tokens: int, device: str) -> float:
    """transformers' `model.generate` decode tokens/s: (N - 1) extra tokens over the extra time of an N-token
    call against a 1-token one (best of two each)."""
    def best(n: int) -> float:
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            backend.raw_generate(prompt, n)
            _sync(device)
            times.append(time.perf_counter() - t0)
        return min(times)

    one, many = best(1), best(tokens)
    return (tokens - 1) / max(many - one, 1e-9)


def _load(path: Any, settings: Any, precision: str) -> Any:
    from starassist.engine.backends.transformers_hf import TransformersBackend

    s = copy.deepcopy(settings)
    s.model.dtype, s.model.quantization = PRECISIONS[precision]
    s.model.decode = "dynamic"
    return TransformersBackend(path, s.model, name=path.name)


def _bench_precision(path: Any, settings: Any, precision: str, options: GpuBench, device: str,
                     log: Callable[[str], None]) -> dict[str, Any]:
    from starassist.engine.completion import CompletionEngine

    backend = _load(path, settings, precision)
    out: dict[str, Any] = {"precision": precision, "rows": []}
    try:
        engine = CompletionEngine(backend, settings)
        measured: dict[str, dict[str, Any]] = {}
        prompt: list[int] = []
        for wanted in options.paths:
            actual = backend.set_decode(wanted)
            decode_line = next(d.detail for d in backend.diagnostics() if d.name == "decode")
            row: dict[str, Any] = {"path": wanted, "ran": actual, "detail": decode_line}
            if actual in measured:
                row.update({k: measured[actual][k] for k in ("keystroke", "kv_reuse", "decode_tok_s")})
                out["rows"].append(row)
                continue
            log(f"{precision} / {wanted}: typing {options.keystrokes} keys …")
            typed = type_through(engine, options.text, keystrokes=options.keystrokes, warmup=options.warmup,
                                 max_tokens=options.max_tokens, multiline=True)
            prompt = typed.work[-1][0]
            rate, n = decode_rate(backend, prompt, options.decode_tokens)
            row.update({"keystroke": summary(typed.times_ms), "kv_reuse": typed.kv_reuse,
                        "generated_tokens_mean": typed.generated_mean, "prompt_tokens": len(prompt),
                        "decode_tok_s": rate, "decode_tokens": n})
            measured[actual] = row
            out["rows"].append(row)
        if prompt:
            log(f"{precision}: model.generate baseline …")
            out["generate_tok_s"] = generate_rate(backend, prompt, options.decode_tokens, device)
            for row in out["rows"]:
                row["vs_generate"] = row["decode_tok_s"] / out["generate_tok_s"]
        base = next((r for r in out["rows"] if r["ran"] == "dynamic"), None)
        for row in out["rows"]:
            if base is not None:
                row["p50_vs_dynamic"] = base["keystroke"]["p50_ms"] / row["keystroke"]["p50_ms"]
        out["memory"] = next(d.detail for d in backend.diagnostics() if d.name == "memory")
        out["device"] = backend.info.device
    finally:
        backend.close()
        del backend
        gc.collect()
        if device == "cuda":
            import torch

            torch.cuda.empty_cache()
    return out


def run_gpu_bench(options: GpuBench, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    from starassist.engine.backends.hf_placement import Hardware, choose_device
    from starassist.engine.models import resolve_model
    from starassist.engine.settings import data_dir

    from .bench_model import random_checkpoint

    _check(options.modes, PRECISIONS, "modes")
    _check(options.paths, PATHS, "paths")
    settings = cli_settings(model__device=options.device)
    device = choose_device(settings.model.device, Hardware.detect())
    if options.model:
        ref = resolve_model(options.model)
        if ref.kind != "hf":
            raise StarassistError(f"bench gpu measures the transformers backend: {ref.path} is a GGUF — pass a "
                                  "Hugging Face checkpoint directory, or use `starassist bench latency`")
        path = ref.path
    else:
        path = random_checkpoint(options.config, data_dir() / "bench", device, log)
    report: dict[str, Any] = {
        "machine": machine_facts(device),
        "model": str(path),
        "config": None if options.model else options.config,
        "keystrokes": options.keystrokes,
        "max_tokens": options.max_tokens,
        "decode_tokens": options.decode_tokens,
        "precisions": [],
        "skipped": {},
    }
    for precision in options.modes:
        try:
            report["precisions"].append(_bench_precision(path, settings, precision, options, device, log))
        except MissingExtraError as exc:
            report["skipped"][precision] = str(exc)
            log(f"{precision}: skipped ({exc})")
    return report


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    facts = ", ".join(f"{k} {v}" for k, v in report["machine"].items())
    table = Table(title=f"bench gpu: {report['config'] or report['model']} — {report['keystrokes']} keystrokes, "
                        f"≤{report['max_tokens']} tokens each; decode runs of {report['decode_tokens']} tokens")
    for col in ("precision", "path", "keystroke p50 ms", "p95 ms", "p50 gain vs dynamic", "decode tok/s",
                "× model.generate", "KV reuse"):
        table.add_column(col)
    for block in report["precisions"]:
        for row in block["rows"]:
            path = row["path"] if row["ran"] == row["path"] else f"{row['path']} → {row['ran']}"
            table.add_row(block["precision"], path, f"{row['keystroke']['p50_ms']:.1f}",
                          f"{row['keystroke']['p95_ms']:.1f}", f"{row.get('p50_vs_dynamic', 1.0):.2f}",
                          f"{row['decode_tok_s']:.1f}", f"{row.get('vs_generate', 0.0):.2f}", f"{row['kv_reuse']:.0%}")
        if "generate_tok_s" in block:
            table.add_row(block["precision"], "model.generate", "", "", "", f"{block['generate_tok_s']:.1f}", "1.00", "")
    console.print(table)
    console.print(facts, highlight=False)
    for block in report["precisions"]:
        console.print(f"{block['precision']}: {block['device']}; {block['memory']}", highlight=False)
        for row in block["rows"]:
            if row["ran"] != row["path"]:
                console.print(f"  {row['path']}: {row['detail']}", highlight=False)
    for precision, why in report["skipped"].items():
        console.print(f"[yellow]skipped {precision}[/]: {why}", highlight=False)
