"""Running one GGUF over the report's sequences, one model in memory at a time.

Two passes, each with its own load:
- `token_stats`: teacher-forced, with llama.cpp computing logits for every position (`logits_all`); per scored
  position it keeps only the argmax and the log-probability of the actual next token.
- `greedy_middles`: the product's own llama.cpp backend (no `logits_all`, the shared decode loop) generating
  each FIM middle greedily after a warm-up; prompt processing and generation are timed separately.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .llama_quantize import explained_load


@dataclass
class TokenStats:
    """Per scored position: the model's top-1 prediction and the log-probability of the actual next token.
    `lengths` says how many positions each sequence contributed (in order)."""

    argmax: np.ndarray
    logprob: np.ndarray
    lengths: list[int] = field(default_factory=list)

    @property
    def perplexity(self) -> float:
        return float(math.exp(-float(self.logprob.mean()))) if self.logprob.size else float("nan")

    def split(self, values: np.ndarray) -> list[np.ndarray]:
        """`values` (one per position) cut back into the sequences they came from."""
        return np.split(values, np.cumsum(self.lengths)[:-1]) if self.lengths else []


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


def token_stats(path: Path, sequences: Sequence[Sequence[int]], *, n_ctx: int = 512, threads: int | None = None,
                starts: Sequence[int] | None = None) -> TokenStats:
    """Evaluate each sequence (cut to the context); score the positions from `starts[i]` (default 0) on, each
    predicting the token after it."""
    with explained_load(f"{path} for the report"):
        llm = open_llama(path, n_ctx, logits_all=True, threads=threads)
    argmax, logprob, lengths = [], [], []
    try:
        for i, seq in enumerate(sequences):
            seq = list(seq)[:n_ctx]
            start = starts[i] if starts is not None else 0
            if len(seq) - 1 <= start:
                lengths.append(0)
                continue
            llm.reset()
            llm.eval(seq)
            scores = np.array(llm.scores[start : len(seq) - 1], dtype=np.float32)
            nxt = np.array(seq[start + 1 :])
            argmax.append(scores.argmax(axis=-1))
            logprob.append(_log_softmax(scores)[np.arange(len(nxt)), nxt])
            lengths.append(len(nxt))
    finally:
        llm.close()
    return TokenStats(
        argmax=np.concatenate(argmax) if argmax else np.zeros(0, dtype=np.int64),
        logprob=np.concatenate(logprob) if logprob else np.zeros(0),
        lengths=lengths,
    )


def agreement(ref: TokenStats, other: TokenStats) -> float:
    n = min(ref.argmax.size, other.argmax.size)
    return float((ref.argmax[:n] == other.argmax[:n]).mean()) if n else float("nan")


@dataclass
class Middle:
    text: str
    tokens: list[int]
    stopped: bool  # ended on a stop token (not cut by the token limit)


@dataclass
class Speed:
    prompts: int = 0
    prompt_tokens: int = 0  # evaluated (prompt tokens found in the KV cache are not counted)
    prompt_s: float = 0.0
    generated_tokens: int = 0
    generation_s: float = 0.0

    @property
    def prompt_tokens_per_s(self) -> float:
        return self.prompt_tokens / self.prompt_s if self.prompt_s else 0.0

    @property
    def gen_tokens_per_s(self) -> float:
        return self.generated_tokens / self.generation_s if self.generation_s else 0.0


def greedy_middles(path: Path, prompts: Sequence[list[int]], *, stop_ids: frozenset[int], max_tokens: int,
                   n_ctx: int, threads: int | None = None) -> tuple[list[Middle], Speed]:
    """Each prompt's greedy continuation through the product's backend, after one untimed warm-up."""
    from starassist.engine.backend import GenerationParams
    from starassist.engine.backends.llama_cpp import LlamaCppBackend
    from starassist.engine.settings import ModelSettings

    settings = ModelSettings(context_length=n_ctx, threads=threads or 0, batch_size=min(512, n_ctx))
    with explained_load(f"{path} for the report"):
        backend = LlamaCppBackend(path, settings)
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0, stop_ids=stop_ids)
    middles: list[Middle] = []
    speed = Speed()
    try:
        if prompts:  # warm-up on the last prompt: the first timed one then shares little of its KV cache
            backend.generate(prompts[-1], GenerationParams(max_tokens=4, stop_ids=stop_ids))
        for prompt in prompts:
            result = backend.generate(prompt, params)
            t = result.timings
            middles.append(Middle(result.text, list(result.tokens), result.stop_reason == "stop_token"))
            speed.prompts += 1
            speed.prompt_tokens += t.evaluated_tokens
            speed.prompt_s += t.prompt_ms / 1000
            speed.generated_tokens += t.generated_tokens
            speed.generation_s += t.generation_ms / 1000
    finally:
        backend.close()
    return middles, speed
