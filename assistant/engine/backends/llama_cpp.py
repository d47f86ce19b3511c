"""In-process llama.cpp backend (llama-cpp-python): GGUF models on CPU, CUDA or Metal.

We drive llama.cpp at the token level: our own prefill (in batches, cancellable between them), our own decode
loop (cancellable between tokens), and KV-cache prefix reuse across calls. llama-cpp-python's
`create_completion(suffix=...)` is not used: it builds a broken FIM prompt in 0.3.35/0.3.36.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..backend import (
    CancelCheck,
    DecodeSteps,
    Diagnostic,
    GenerationParams,
    HealingIndex,
    ModelInfo,
    TokenLoopBackend,
)
from ..cpu import default_threads
from ..errors import BadModelFileError
from ..gguf_file import read_gguf
from ..logs import collect_llama_logs, route_llama_logs
from ..settings import ModelSettings
from .llama_gpu import device_summary, gpu_warning, offload_diagnostics, read_offload
from .llama_kv import can_shift, prefill_with_reuse


def _special_tokens(model: object) -> tuple[dict[str, int], frozenset[int]]:
    """Control and user-defined tokens of the vocabulary (text -> id), and the end-of-generation ids."""
    import llama_cpp

    vocab = model.vocab  # type: ignore[attr-defined]
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    wanted = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
    specials: dict[str, int] = {}
    eog: set[int] = set()
    for tok in range(n_vocab):
        attr = llama_cpp.llama_vocab_get_attr(vocab, tok)
        if attr & wanted:
            text = llama_cpp.llama_vocab_get_text(vocab, tok).decode("utf-8", errors="replace")
            specials.setdefault(text, tok)
        if llama_cpp.llama_vocab_is_eog(vocab, tok):
            eog.add(tok)
    return specials, frozenset(eog)


class TokenText:
    """Token ids to text for a llama.cpp vocabulary (control tokens render as nothing).

    llama-cpp-python's own detokenize uses a 32-byte buffer and silently drops longer tokens (runs of spaces or
    '#' in code vocabularies), so we size the buffer ourselves.
    """

    def __init__(self, vocab: object) -> None:
        self._vocab = vocab
        self._buffer = (ctypes.c_char * 64)()
        self._lock = threading.Lock()  # one buffer; the LSP detokenizes on several threads

    def piece(self, token: int) -> bytes:
        import llama_cpp

        with self._lock:
            n = llama_cpp.llama_token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, False)
            if n < 0:
                self._buffer = (ctypes.c_char * (-n))()
                n = llama_cpp.llama_token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, False)
            return bytes(self._buffer[:n])

    def text(self, tokens: Sequence[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", errors="replace")


def _validate(path: Path) -> int:
    """Check the file before llama.cpp sees it (llama.cpp's own errors are not actionable). Returns ctx length."""
    info = read_gguf(path)
    return info.context_length


class LlamaVocab:
    """Vocabulary only (no weights, no context): tokenization and special tokens. Cheap to load."""

    def __init__(self, path: str | Path) -> None:
        import llama_cpp
        from llama_cpp import _internals

        route_llama_logs()
        path = Path(path)
        _validate(path)
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        try:
            self._model = _internals.LlamaModel(path_model=str(path), params=params, verbose=True)
        except ValueError:
            raise BadModelFileError(f"llama.cpp could not read the vocabulary of {path} — is the file complete?") from None
        self.special_tokens, self.eog_ids = _special_tokens(self._model)
        self._text = TokenText(self._model.vocab)
        self.add_bos = bool(self._model.add_bos_token())
        self.bos_id = self._model.token_bos()

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        if not text:
            return []
        return self._model.tokenize(text.encode("utf-8"), False, special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._text.text(tokens)

    def close(self) -> None:
        self._model.close()


class LlamaCppBackend(TokenLoopBackend):
    """A GGUF model loaded in-process. Calls are serialized by a lock; one KV sequence is kept for reuse."""

    def __init__(self, path: str | Path, settings: ModelSettings | None = None, *, name: str | None = None) -> None:
        settings = settings or ModelSettings()
        path = Path(path)
        train_ctx = _validate(path)
        route_llama_logs()
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - a dependency
            raise BadModelFileError(f"llama-cpp-python is not importable ({exc}) — reinstall starassist") from None
        n_ctx = min(train_ctx or settings.context_length, settings.context_length)
        threads = default_threads(settings.threads)  # physical cores for 0 (llama-cpp-python would take cpu_count // 2)
        self._lock = threading.Lock()
        try:
            # verbose=True only stops llama-cpp-python from redirecting fds 1/2; its Python prints are captured
            # here and its C logs go through our callback, which keeps them: they say where the layers went.
            with contextlib.redirect_stderr(io.StringIO()), collect_llama_logs() as load_log:
                self._llm = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_batch=settings.batch_size,
                    n_ubatch=settings.batch_size,
                    n_threads=threads,
                    n_threads_batch=threads,
                    n_gpu_layers=settings.gpu_layers,
                    seed=settings.seed,
                    logits_all=False,
                    verbose=True,
                )
        except ValueError as exc:
            raise BadModelFileError(
                f"llama.cpp could not load {path} ({exc}); the architecture may be unsupported by this "
                "llama-cpp-python build — try `pip install -U llama-cpp-python` or another quantization"
            ) from None
        route_llama_logs()  # Llama() re-installs llama-cpp-python's callback
        import llama_cpp

        self._offload = read_offload("".join(load_log))
        self._gpu_layers = settings.gpu_layers
        self._gpu_supported = bool(llama_cpp.llama_supports_gpu_offload())
        if warning := gpu_warning(settings.gpu_layers, self._gpu_supported):
            logging.getLogger("starassist.llama").warning(warning)
        llm = self._llm
        specials, eog = _special_tokens(llm._model)
        meta = llm.metadata
        self._n_vocab = llm.n_vocab()
        bos = llm.token_bos()
        eos = llm.token_eos()
        gguf_info = read_gguf(path)
        self.info = ModelInfo(
            name=name or str(meta.get("general.name") or path.stem),
            path=str(path),
            arch=str(meta.get("general.architecture", "unknown")),
            context_length=llm.n_ctx(),
            train_context_length=train_ctx,
            vocab_size=self._n_vocab,
            bos_id=bos if bos >= 0 else None,
            eos_id=eos if eos >= 0 else None,
            add_bos=bool(llm._model.add_bos_token()),
            chat_template=meta.get("tokenizer.chat_template"),
            special_tokens=specials,
            eog_ids=eog,
            quantization=gguf_info.quantization,
            size_bytes=gguf_info.file_size,
            backend="llama.cpp",
            threads=int(llm.n_threads),
            device=device_summary(self._offload),
        )
        self._n_batch = settings.batch_size
        self._can_shift = can_shift(llm)
        # Shifted chunks keep K/V computed after the *old* preceding text, so greedy output can differ from a
        # cold evaluation (tests/test_kv_reuse_llama.py showed it with SPM on the embedded model): off until a
        # setting lets users trade exactness for speed.
        self._shift_chunks = False
        self._min_chunk = 4  # a shift is nearly free; short runs still beat evaluating them
        self.last_reused_chunks = 0
        self._rng = np.random.default_rng(settings.seed)
        self._healing: HealingIndex | None = None
        self._text = TokenText(llm._model.vocab)

    # -- tokens ----------------------------------------------------------------------------------------------

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        if not text:
            return []
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._text.text(tokens)

    # -- generation ------------------------------------------------------------------------------------------

    def _prefill(self, prompt: Sequence[int], cancel: CancelCheck | None) -> tuple[int, bool]:
        """Evaluate the prompt, keeping every cached chunk it shares with the last one (shifted into place for
        rotary-position models; the common prefix only otherwise). Returns (reused tokens, cancelled)."""
        plan, cancelled = prefill_with_reuse(self._llm, prompt, self._n_batch, shift=self._can_shift and self._shift_chunks,
                                             min_chunk=self._min_chunk, cancel=cancel)
        self.last_reused_chunks = plan.reused_chunks
        return len(prompt) - plan.evaluated, cancelled

    def _sample(self, params: GenerationParams, allowed: Sequence[int] | None, penalized: Sequence[int]) -> int:
        logits = np.ctypeslib.as_array(self._llm._ctx.get_logits_ith(-1), shape=(self._n_vocab,))
        if penalized:
            logits = logits.copy()
            ids = np.unique(np.asarray(penalized, dtype=np.int64))
            seen = logits[ids]
            logits[ids] = np.where(seen > 0, seen / params.repeat_penalty, seen * params.repeat_penalty)
        if allowed is not None:
            only = np.full(self._n_vocab, -np.inf, dtype=np.float32)
            only[allowed] = logits[allowed]
            logits = only
        if params.temperature <= 0:
            return int(np.argmax(logits))
        scaled = logits.astype(np.float64) / params.temperature
        if params.top_k > 0:
            k = min(params.top_k, scaled.size)
            top = np.argpartition(-scaled, k - 1)[:k]
        else:
            top = np.arange(scaled.size)
        probs = np.exp(scaled[top] - scaled[top].max())
        probs /= probs.sum()
        order = np.argsort(-probs)
        cumulative = np.cumsum(probs[order])
        keep = order[: int(np.searchsorted(cumulative, params.top_p) + 1)]
        p = probs[keep] / probs[keep].sum()
        return int(top[keep[self._rng.choice(len(keep), p=p)]])

    def _reseed(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def _decode_steps(self, params: GenerationParams) -> DecodeSteps:
        llm = self._llm
        pieces: list[bytes] = []

        def text_of(tokens: list[int]) -> str:
            pieces.extend(self._piece(t) for t in tokens[len(pieces) :])
            return b"".join(pieces).decode("utf-8", errors="replace")

        return DecodeSteps(sample=lambda allowed, penalized: self._sample(params, allowed, penalized),
                           advance=lambda t: llm.eval([t]), position=lambda: llm.n_tokens, text_of=text_of,
                           healing=self._healing_index)

    def _piece(self, token: int) -> bytes:
        return self._text.piece(token)

    def _healing_index(self) -> HealingIndex:
        if self._healing is None:
            self._healing = HealingIndex([self._piece(t) for t in range(self._n_vocab)])
        return self._healing

    def raw_completion(self, prompt: Sequence[int], max_tokens: int, *, cold: bool = False) -> None:
        """llama-cpp-python's own greedy `create_completion` on the same loaded model: the baseline that
        `starassist bench` compares with. Warm keeps its prefix cache; cold starts from an empty one."""
        with self._lock:
            if cold:
                self._llm.reset()
            with contextlib.redirect_stderr(io.StringIO()):  # llama-cpp-python's cache chatter
                self._llm.create_completion(list(prompt), max_tokens=max_tokens, temperature=0.0)

    def diagnostics(self) -> list[Diagnostic]:
        return offload_diagnostics(self._offload, self._gpu_layers, self._gpu_supported)

    def close(self) -> None:
        with self._lock:
            self._llm.close()
