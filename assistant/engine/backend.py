"""The one seam between the engine and an inference library: the `Backend` protocol and its small value types."""

from __future__ import annotations

import bisect
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

StopReason = Literal["stop_token", "stop_string", "max_tokens", "context_full", "cancelled"]


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a loaded model that prompt building needs."""

    name: str
    path: str
    arch: str
    context_length: int  # the context window actually in use (model's training context, capped by settings)
    train_context_length: int
    vocab_size: int
    bos_id: int | None
    eos_id: int | None
    add_bos: bool
    chat_template: str | None = None
    # Single-token special tokens found in the vocabulary, by text (e.g. "<fim_prefix>": 1).
    special_tokens: dict[str, int] = field(default_factory=dict)
    # Token ids that end generation for any prompt (end-of-generation tokens from the vocabulary).
    eog_ids: frozenset[int] = frozenset()
    # Control tokens (no text of their own). Added tokens that are text (DeepSeek-Coder's `ö`) are not here.
    control_ids: frozenset[int] = frozenset()
    quantization: str = ""
    size_bytes: int = 0
    backend: str = ""
    threads: int = 0  # CPU threads the backend computes with
    device: str = "cpu"  # where the weights are: "cpu", "cuda:0 (NVIDIA H200)", "cpu + CUDA0 (28/31 layers)"
    # How the previous prompt's KV cache is kept: "prefix" (the common prefix, exact), "shift" (also later runs
    # moved to new positions: approximate), "crop" (the cache is cut back to the common prefix and the rest
    # evaluated again, exact), "" (the backend keeps none).
    kv_reuse: str = ""
    # A FIM format the backend knows by name rather than from a vocabulary (a remote server's model name).
    fim_format: str = ""


@dataclass
class Timings:
    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens found in the KV cache and not evaluated again
    prompt_ms: float = 0.0
    generated_tokens: int = 0
    generation_ms: float = 0.0
    reused_chunks: int = 0  # cached runs kept after the common prefix, moved to new positions (shift mode only)

    @property
    def evaluated_tokens(self) -> int:
        """Prompt tokens actually computed."""
        return self.prompt_tokens - self.reused_tokens

    def as_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "evaluated_tokens": self.evaluated_tokens}


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 64
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 0.95
    top_k: int = 40
    stop_ids: frozenset[int] = frozenset()
    stop_strings: tuple[str, ...] = ()
    seed: int = 0
    # Token healing: text cut off the end of the prompt that the generation must begin with. The first tokens
    # are sampled only among those consistent with it; it is not part of the result.
    heal_text: str = ""
    # Logits of tokens among the last `repeat_last_n` (prompt and generated) are divided by this (1 = off).
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64


@dataclass
class GenerationResult:
    text: str
    tokens: list[int]
    stop_reason: StopReason
    timings: Timings


CancelCheck = Callable[[], bool]
TextCallback = Callable[[str], None]


@dataclass(frozen=True)
class Diagnostic:
    """One line of `starassist doctor` about how a backend runs (device, memory, fast paths and why not)."""

    status: Literal["ok", "warn", "fail"]
    name: str
    detail: str


@runtime_checkable
class Diagnosable(Protocol):
    """A backend that can say how it runs (optional: `doctor` asks those that implement it)."""

    def diagnostics(self) -> list[Diagnostic]: ...


@runtime_checkable
class Redacting(Protocol):
    """A backend that sends text off the machine: the engine redacts whole documents with its redactor before
    cutting windows (None: redaction switched off). What comes back, the backend restores itself."""

    redactor: Any


@runtime_checkable
class Backend(Protocol):
    """A loaded model. Implementations: llama.cpp (in-process GGUF) and transformers (HF checkpoints).

    `generate` checks `cancel` before every prompt batch and every generated token and returns early with
    stop_reason "cancelled"; `on_text` receives decoded text as it is produced (streaming). Calls are
    serialized by the implementation; a backend keeps the previous prompt's KV cache so a prompt that extends
    it only evaluates the new tokens.
    """

    info: ModelInfo

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Token ids for `text` without BOS. With special=False, special-token text is plain text."""
        ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def generate(
        self,
        prompt: Sequence[int],
        params: GenerationParams,
        *,
        cancel: CancelCheck | None = None,
        on_text: TextCallback | None = None,
    ) -> GenerationResult: ...

    def close(self) -> None: ...


def find_stop_string(text: str, stops: Sequence[str]) -> int:
    """Index of the earliest stop string in `text`, or -1."""
    best = -1
    for stop in stops:
        if not stop:
            continue
        i = text.find(stop)
        if i != -1 and (best == -1 or i < best):
            best = i
    return best


def held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters might be the start of a stop string (not safe to stream yet)."""
    keep = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                keep = max(keep, n)
                break
    return keep


@dataclass
class DecodeSteps:
    """What a backend supplies to the shared decode loop."""

    # The next token from the current logits, among `allowed` (None: any), with `penalized` tokens' logits
    # scaled by the repeat penalty.
    sample: Callable[[Sequence[int] | None, Sequence[int]], int]
    advance: Callable[[int], None]  # evaluate a generated token (its logits become current)
    position: Callable[[], int]  # tokens now in the context
    text_of: Callable[[list[int]], str]  # text of the generated tokens; an incomplete UTF-8 tail reads as U+FFFD
    healing: Callable[[], HealingIndex]  # the vocabulary as bytes, for token healing (built on first use)


class HealingIndex:
    """Which tokens may start a text that must begin with given bytes (token healing)."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self._pieces = list(pieces)
        order = sorted((p, i) for i, p in enumerate(self._pieces) if p)  # control tokens render as b""
        self._sorted = [p for p, _ in order]
        self._ids = [i for _, i in order]
        self._exact: dict[bytes, list[int]] = {}
        for p, i in order:
            self._exact.setdefault(p, []).append(i)
        self._memo: dict[bytes, list[int]] = {}

    def piece(self, token: int) -> bytes:
        return self._pieces[token] if 0 <= token < len(self._pieces) else b""

    def candidates(self, rest: bytes) -> list[int]:
        """Tokens whose bytes start with `rest` or are a non-empty prefix of it."""
        if rest in self._memo:
            return self._memo[rest]
        lo = bisect.bisect_left(self._sorted, rest)
        hi = lo
        while hi < len(self._sorted) and self._sorted[hi].startswith(rest):
            hi += 1
        found = self._ids[lo:hi]
        for n in range(1, len(rest)):
            found.extend(self._exact.get(rest[:n], ()))
        if len(self._memo) > 256:
            self._memo.clear()
        self._memo[rest] = found
        return found


def decode(
    steps: DecodeSteps,
    params: GenerationParams,
    *,
    eog_ids: frozenset[int],
    n_ctx: int,
    cancel: CancelCheck | None,
    on_text: TextCallback | None,
    prompt: Sequence[int] = (),
) -> tuple[list[int], str, StopReason]:
    """The decode loop every backend shares: cancel check before each token, token healing, repeat penalty,
    stop ids and strings, streaming that never emits a possible stop-string start or half a UTF-8 character."""
    tokens: list[int] = []
    text = ""
    emitted = 0
    stop_ids = params.stop_ids | eog_ids
    reason: StopReason = "max_tokens"
    heal = params.heal_text.encode("utf-8")
    index = steps.healing() if heal else None
    consumed = b""  # bytes generated so far, while healing
    while True:
        if cancel is not None and cancel():
            reason = "cancelled"
            break
        if len(tokens) >= params.max_tokens:
            reason = "max_tokens"
            break
        if steps.position() >= n_ctx:
            reason = "context_full"
            break
        allowed = None
        if index is not None:
            allowed = index.candidates(heal[len(consumed):]) or None
        penalized = _recent(prompt, tokens, params.repeat_last_n) if params.repeat_penalty != 1.0 else ()
        token = steps.sample(allowed, penalized)
        if token in stop_ids:
            reason = "stop_token"
            break
        tokens.append(token)
        if index is not None:
            consumed += index.piece(token)
            if len(consumed) < len(heal):
                steps.advance(token)
                continue
            index = None
        text = _after_heal(steps.text_of(tokens), params.heal_text)
        cut = find_stop_string(text, params.stop_strings) if params.stop_strings else -1
        if cut != -1:
            text = text[:cut]
            reason = "stop_string"
            break
        if on_text is not None:
            stable = text.rstrip("\ufffd")
            safe = len(stable) - held_back(stable, params.stop_strings)
            if safe > emitted:
                on_text(text[emitted:safe])
                emitted = safe
        steps.advance(token)
    if on_text is not None and len(text) > emitted and reason != "cancelled":
        on_text(text[emitted:])
    return tokens, text, reason


def _recent(prompt: Sequence[int], tokens: list[int], n: int) -> list[int]:
    """The last `n` token ids of the prompt followed by the generated tokens."""
    if n <= 0:
        return []
    if len(tokens) >= n:
        return tokens[-n:]
    return list(prompt[max(0, len(prompt) - (n - len(tokens))) :]) + tokens


def _after_heal(text: str, heal_text: str) -> str:
    """The generated text without the healed prompt tail (as much of it as the text repeats)."""
    n = 0
    for a, b in zip(text, heal_text, strict=False):
        if a != b:
            break
        n += 1
    return text[n:]


class TokenLoopBackend:
    """`generate()` for backends that run their own prefill and decode: the lock, the context check, timed
    prefill and the shared decode loop. Subclasses supply the model-specific steps."""

    info: ModelInfo
    _lock: threading.Lock
    last_reused_chunks: int = 0  # set by `_prefill` when it keeps shifted chunks

    def _reseed(self, seed: int) -> None:
        raise NotImplementedError

    def _prefill(self, prompt: list[int], cancel: CancelCheck | None) -> tuple[int, bool]:
        """Evaluate `prompt` reusing the cached common prefix. Returns (reused tokens, cancelled)."""
        raise NotImplementedError

    def _decode_steps(self, params: GenerationParams) -> DecodeSteps:
        raise NotImplementedError

    def _inference(self) -> contextlib.AbstractContextManager[object]:
        return contextlib.nullcontext()

    def generate(
        self,
        prompt: Sequence[int],
        params: GenerationParams,
        *,
        cancel: CancelCheck | None = None,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        if not prompt:
            raise ValueError("empty prompt")
        n_ctx = self.info.context_length
        if len(prompt) >= n_ctx:
            raise ValueError(f"prompt of {len(prompt)} tokens does not fit the context window of {n_ctx}")
        with self._lock, self._inference():
            if params.seed:
                self._reseed(params.seed)
            timings = Timings(prompt_tokens=len(prompt))
            t0 = time.perf_counter()
            reused, cancelled = self._prefill(list(prompt), cancel)
            timings.reused_tokens = reused
            timings.reused_chunks = self.last_reused_chunks
            timings.prompt_ms = (time.perf_counter() - t0) * 1000
            t1 = time.perf_counter()
            if cancelled:
                tokens, text, reason = [], "", "cancelled"
            else:
                tokens, text, reason = decode(self._decode_steps(params), params, eog_ids=self.info.eog_ids,
                                              n_ctx=n_ctx, cancel=cancel, on_text=on_text, prompt=prompt)
            timings.generated_tokens = len(tokens)
            timings.generation_ms = (time.perf_counter() - t1) * 1000
        return GenerationResult(text=text, tokens=tokens, stop_reason=reason, timings=timings)
