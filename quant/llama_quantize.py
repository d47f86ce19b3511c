"""GGUF -> quantized GGUF through llama.cpp's own quantizer (llama-cpp-python's `llama_model_quantize`).

llama.cpp logs one line per tensor ("[  3/ 29] blk.0.attn_qkv.weight - ..."): we read those lines through a
log callback to drive a progress bar, and keep its warnings (e.g. K-quant fallbacks for rows that are not a
multiple of 256) for the summary.
"""

from __future__ import annotations

import ctypes
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from starassist.engine.files import atomic_output
from starassist.engine.logs import LOG_ERROR, LOG_WARN, llama_log_handler

from .errors import QuantError
from .types import QuantType

_TENSOR_LINE = re.compile(rb"\[\s*(\d+)/\s*(\d+)\]\s+(\S+)")
ProgressFn = Callable[[int, int, str], None]  # (tensors done, total, tensor name)


@dataclass
class QuantizeResult:
    path: Path
    qtype: str
    input_bytes: int
    output_bytes: int
    seconds: float
    fallbacks: list[str] = field(default_factory=list)  # tensors llama.cpp could not give the requested type


def quantize_gguf(src: Path, out: Path, qtype: QuantType, *, threads: int = 0,
                  progress: ProgressFn | None = None) -> QuantizeResult:
    import llama_cpp

    t0 = time.perf_counter()
    fallbacks: list[str] = []
    problems: dict[int, list[str]] = {LOG_ERROR: [], LOG_WARN: []}  # lines llama.cpp logged as errors/warnings
    pending = bytearray()

    def on_log(level: int, text: bytes) -> None:
        pending.extend(text)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            m = _TENSOR_LINE.search(line)
            if m and progress:
                progress(int(m.group(1)), int(m.group(2)), m.group(3).decode(errors="replace").rstrip(","))
            low = line.lower()
            if b"fallback" in low or b"not divisible" in low:
                fallbacks.append(line.decode(errors="replace").strip())
            if level in problems:
                problems[level].append(line.decode(errors="replace").strip())

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = qtype.ftype()
    params.nthread = threads or (os.cpu_count() or 1)
    params.allow_requantize = True
    with atomic_output(out) as tmp, llama_log_handler(on_log):
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
        if rc != 0:
            said = problems[LOG_ERROR] or problems[LOG_WARN]  # the error itself when llama.cpp logged one
            detail = f": {said[-1]}" if said else ""
            raise QuantError(f"llama.cpp could not quantize {src} to {qtype.name}{detail}")
    return QuantizeResult(out, qtype.name, src.stat().st_size, out.stat().st_size, time.perf_counter() - t0,
                          fallbacks)
