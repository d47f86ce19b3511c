"""What a quantization traded: size vs F16, top-1 next-token agreement and perplexity vs a reference GGUF on a
code sample, and generation speed. Models are evaluated one after the other (never two in memory), keeping per
position only the argmax and the log-probability of the actual next token.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import QuantError


def default_sample() -> str:
    return resources.files("quant").joinpath("data", "sample.py").read_text(encoding="utf-8")


@dataclass
class TokenStats:
    argmax: np.ndarray  # predicted next token at each position (all sequences concatenated)
    logprob: np.ndarray  # log-probability of the actual next token at each position
    gen_tokens_per_s: float
    prompt_tokens_per_s: float

    @property
    def perplexity(self) -> float:
        return float(math.exp(-float(self.logprob.mean()))) if self.logprob.size else float("nan")


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def open_llama(path: Path, n_ctx: int, *, logits_all: bool, threads: int | None = None):
    import llama_cpp

    from starassist.engine.logs import route_llama_logs

    with contextlib.redirect_stderr(io.StringIO()):
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=min(n_ctx, 512), logits_all=logits_all,
                              n_threads=threads, n_threads_batch=threads, verbose=True, seed=0)
    route_llama_logs()
    return llm


def token_stats(path: Path, sequences: Sequence[Sequence[int]], *, n_ctx: int = 512, gen_tokens: int = 32,
                threads: int | None = None) -> TokenStats:
    """Evaluate each sequence (cut to the context) and measure greedy generation speed after the first."""
    try:
        llm = open_llama(path, n_ctx, logits_all=True, threads=threads)
    except ValueError as exc:
        raise QuantError(f"llama.cpp could not load {path} for the report ({exc})") from None
    argmax, logprob = [], []
    prompt_time = 0.0
    prompt_count = 0
    try:
        for seq in sequences:
            seq = list(seq)[:n_ctx]
            if len(seq) < 2:
                continue
            llm.reset()
            t0 = time.perf_counter()
            llm.eval(seq)
            prompt_time += time.perf_counter() - t0
            prompt_count += len(seq)
            scores = np.array(llm.scores[: len(seq) - 1], dtype=np.float32)
            lp = _log_softmax(scores)
            nxt = np.array(seq[1:])
            argmax.append(scores.argmax(axis=-1))
            logprob.append(lp[np.arange(len(nxt)), nxt])
        gen_speed = _generation_speed(llm, list(sequences[0])[: n_ctx // 2], gen_tokens) if sequences else 0.0
    finally:
        llm.close()
    return TokenStats(
        argmax=np.concatenate(argmax) if argmax else np.zeros(0, dtype=np.int64),
        logprob=np.concatenate(logprob) if logprob else np.zeros(0),
        gen_tokens_per_s=gen_speed,
        prompt_tokens_per_s=prompt_count / prompt_time if prompt_time else 0.0,
    )


def _generation_speed(llm, prompt: list[int], n: int) -> float:
    """Greedy tokens per second after the prompt (prompt evaluation excluded)."""
    if not prompt:
        return 0.0
    llm.reset()
    llm.eval(prompt)
    room = llm.n_ctx() - len(prompt)
    n = max(1, min(n, room - 1))
    t0 = time.perf_counter()
    for _ in range(n):
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        llm.eval([token])
    return n / (time.perf_counter() - t0)


def agreement(ref: TokenStats, other: TokenStats) -> float:
    n = min(ref.argmax.size, other.argmax.size)
    return float((ref.argmax[:n] == other.argmax[:n]).mean()) if n else float("nan")


def sample_sequences(path: Path, text: str, *, n_ctx: int, max_tokens: int) -> list[list[int]]:
    """The sample's tokens (with the model's BOS when it wants one), cut into context-sized chunks."""
    from starassist.engine.backends.llama_cpp import LlamaVocab

    vocab = LlamaVocab(path)
    try:
        ids = vocab.tokenize(text)[:max_tokens]
        bos = [vocab.bos_id] if vocab.add_bos and vocab.bos_id is not None and vocab.bos_id >= 0 else []
    finally:
        vocab.close()
    if len(ids) < 2:
        raise QuantError("the report sample is too short — pass --sample FILE with some code")
    step = n_ctx - len(bos)
    return [bos + ids[i : i + step] for i in range(0, len(ids), step) if len(ids[i : i + step]) > 1]


@dataclass
class ReportRow:
    model: str
    path: str
    quantization: str
    size_mb: float
    size_vs_f16: float
    top1_agreement: float
    perplexity: float
    prompt_tokens_per_s: float
    gen_tokens_per_s: float


def build_report(reference: Path, candidates: Sequence[tuple[str, Path]], *, sample: str, f16_bytes: int,
                 n_ctx: int = 512, max_tokens: int = 1024, reference_label: str = "F16",
                 threads: int | None = None) -> dict:
    """Report rows for the reference and each (label, path) candidate; JSON-ready."""
    sequences = sample_sequences(reference, sample, n_ctx=n_ctx, max_tokens=max_tokens)
    ref = token_stats(reference, sequences, n_ctx=n_ctx, threads=threads)
    rows = [_row(reference_label, reference, ref, ref, f16_bytes)]
    for label, path in candidates:
        stats = token_stats(path, sequences, n_ctx=n_ctx, threads=threads)
        rows.append(_row(label, path, ref, stats, f16_bytes))
    return {
        "reference": str(reference),
        "sample_tokens": int(sum(len(s) for s in sequences)),
        "positions": int(ref.argmax.size),
        "rows": [asdict(r) for r in rows],
    }


def _row(label: str, path: Path, ref: TokenStats, stats: TokenStats, f16_bytes: int) -> ReportRow:
    from starassist.engine.gguf_file import read_gguf

    size = path.stat().st_size
    return ReportRow(
        model=label,
        path=str(path),
        quantization=read_gguf(path).quantization,
        size_mb=round(size / 2**20, 2),
        size_vs_f16=round(size / f16_bytes, 3) if f16_bytes else float("nan"),
        top1_agreement=round(agreement(ref, stats), 4),
        perplexity=round(stats.perplexity, 4),
        prompt_tokens_per_s=round(stats.prompt_tokens_per_s, 1),
        gen_tokens_per_s=round(stats.gen_tokens_per_s, 1),
    )


def print_report(report: dict, console) -> None:
    from rich.table import Table

    table = Table(title=f"Quality report ({report['positions']} positions of the sample)")
    for col in ("model", "quant", "size", "vs F16", "top-1 agree", "perplexity", "prompt tok/s", "gen tok/s"):
        table.add_column(col, justify="left" if col in ("model", "quant") else "right")
    for r in report["rows"]:
        table.add_row(r["model"], r["quantization"], f"{r['size_mb']:.1f} MB", f"{r['size_vs_f16']:.2f}x",
                      f"{100 * r['top1_agreement']:.1f}%", f"{r['perplexity']:.4g}",
                      f"{r['prompt_tokens_per_s']:.0f}", f"{r['gen_tokens_per_s']:.0f}")
    console.print(table)


def write_report(report: dict, path: Path) -> None:
    from starassist.engine.files import write_atomic

    write_atomic(path, json.dumps(report, indent=2))
