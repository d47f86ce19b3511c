"""GGUF -> quantized GGUF through llama.cpp's own quantizer (llama-cpp-python's `llama_model_quantize`).

llama.cpp logs one line per tensor ("[  3/ 29] blk.0.attn_qkv.weight - ..."): we read those lines through a
log callback to drive a progress bar, keep its per-tensor fallback warnings (K-quants need rows that are a
multiple of 256; other tensors get a legacy type) and, when it fails, the error it logged as the reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from starassist.engine.files import atomic_output
from starassist.engine.gguf_file import read_gguf
from starassist.engine.logs import LOG_ERROR, LOG_WARN, llama_log_handler

from .errors import QuantError
from .types import QuantType

_TENSOR_LINE = re.compile(r"\[\s*(\d+)/\s*(\d+)\]\s+(\S+)")
# "warning: blk.0.attn_k.weight - ncols 128 not divisible by 256 (required for type q4_K) -> falling back to q5_0"
_FALLBACK = re.compile(r"(\S+)\s+-\s.*required for type\s+(\w+)\).*falling back to\s+(\w+)")
# its closing summary: "WARNING: 20 of 67 tensor(s) required fallback quantization"
_FALLBACK_TOTAL = re.compile(r"(\d+) of \d+ tensor\(s\) required fallback")
ProgressFn = Callable[[int, int, str], None]  # (tensors done, total, tensor name)
UNQUANTIZED = frozenset({"F32", "F16", "BF16"})


@dataclass(frozen=True)
class Fallback:
    tensor: str
    wanted: str  # the type the requested mix asked for (q4_K, q6_K, ...)
    used: str  # what llama.cpp wrote instead


class LlamaLog:
    """Reads llama.cpp's log pieces during one call (a quantization, a load): progress, fallbacks, and the
    failure reason."""

    def __init__(self, progress: ProgressFn | None = None) -> None:
        self.progress = progress
        self.fallbacks: list[Fallback] = []
        self.stated_fallbacks = 0  # how many llama.cpp's summary line says
        self.lines: dict[int, list[str]] = {LOG_ERROR: [], LOG_WARN: []}
        self._pending: dict[int, str] = {}

    def feed(self, level: int, text: bytes) -> None:
        """One callback's text (part of a line or several), at llama.cpp's level (continuations resolved)."""
        pending = self._pending.pop(level, "") + text.decode("utf-8", errors="replace")
        *done, rest = pending.split("\n")
        if rest:
            self._pending[level] = rest
        for line in done:
            self._line(level, line.strip())

    def _line(self, level: int, line: str) -> None:
        m = _TENSOR_LINE.search(line)
        if m and self.progress:
            self.progress(int(m.group(1)), int(m.group(2)), m.group(3).rstrip(","))
        fb = _FALLBACK.search(line)
        if fb:
            self.fallbacks.append(Fallback(fb.group(1), fb.group(2), fb.group(3)))
        total = _FALLBACK_TOTAL.search(line)
        if total:
            self.stated_fallbacks = int(total.group(1))
        if level in self.lines and line:
            self.lines[level].append(line)

    def reason(self) -> str:
        """The first error llama.cpp logged (the cause: the lines after it unwind, e.g. "failed to load
        model"), else its last warning; "" when it said nothing."""
        if self.lines[LOG_ERROR]:
            return self.lines[LOG_ERROR][0]
        return self.lines[LOG_WARN][-1] if self.lines[LOG_WARN] else ""


@dataclass
class QuantizeResult:
    path: Path
    qtype: str
    input_bytes: int
    output_bytes: int
    seconds: float
    fallbacks: list[Fallback] = field(default_factory=list)  # tensors llama.cpp could not give the wanted type
    stated_fallbacks: int = 0  # their number by llama.cpp's own count
    tensor_types: dict[str, int] = field(default_factory=dict)  # type -> tensor count, read from the output


def source_quantization(path: Path) -> str | None:
    """The quantized tensor type that dominates a GGUF, or None when its weights are F32/F16/BF16."""
    types = {t: n for t, n in read_gguf(path).tensor_types.items() if t.upper() not in UNQUANTIZED}
    return max(types.items(), key=lambda kv: kv[1])[0] if types else None


def quantize_gguf(src: Path, out: Path, qtype: QuantType, *, threads: int = 0,
                  progress: ProgressFn | None = None, allow_requantize: bool = False) -> QuantizeResult:
    import llama_cpp

    t0 = time.perf_counter()
    log = LlamaLog(progress)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = qtype.ftype()
    params.nthread = threads or (os.cpu_count() or 1)
    params.allow_requantize = allow_requantize
    with atomic_output(out) as tmp, llama_log_handler(log.feed):
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
        if rc != 0:
            reason = log.reason()
            raise QuantError(f"llama.cpp could not quantize {src} to {qtype.name}" + (f": {reason}" if reason else ""))
    return QuantizeResult(out, qtype.name, src.stat().st_size, out.stat().st_size, time.perf_counter() - t0,
                          log.fallbacks, log.stated_fallbacks, dict(read_gguf(out).tensor_types))


@contextlib.contextmanager
def explained_load(what: str) -> Iterator[None]:
    """Loading a model inside: a failure becomes a QuantError that names `what` and gives llama.cpp's reason
    (llama-cpp-python's own exception only says that loading failed)."""
    from starassist.engine.errors import StarassistError

    log = LlamaLog()
    try:
        with llama_log_handler(log.feed):
            yield
    except (ValueError, StarassistError):
        raise QuantError(f"llama.cpp could not load {what}: {log.reason() or 'it gave no reason'}") from None


def check_loads(path: Path) -> None:
    """llama.cpp reads the file's vocabulary (which quantizing never does): a tokenizer llama.cpp does not know
    fails here, with llama.cpp's own reason, instead of in the editor later."""
    from starassist.engine.backends.llama_cpp import LlamaVocab
    from starassist.engine.errors import StarassistError

    log = LlamaLog()
    try:
        with llama_log_handler(log.feed):
            vocab = LlamaVocab(path)
    except StarassistError:
        reason = log.reason() or "it gave no reason"
        raise QuantError(f"llama.cpp cannot read the converted vocabulary ({reason}) — please report this with the "
                         "checkpoint's tokenizer.json") from None
    vocab.close()
