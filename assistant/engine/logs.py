"""Where the inference libraries' logs go. llama.cpp logs from C through one process-wide callback; we route it
into Python logging (errors and warnings), never to fds 1/2: in the LSP, stdout is the protocol channel.

`llama_log_handler(fn)` lets a caller (the quantizer's progress bar) read every log line for a while. Readers
nest within a thread (the quantizer's report loads models while its progress reader is installed) and every
installed reader sees every piece; other threads wait for the outermost reader to finish.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from collections.abc import Callable, Iterator

log = logging.getLogger("starassist.llama")

# ggml_log_level (ggml.h)
LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_CONT = 1, 2, 3, 4, 5

LogHandler = Callable[[int, bytes], None]  # (level, text of one callback: part of a line or several)

_lock = threading.RLock()  # re-entrant: a reader may load a model, whose load installs its own reader
_handlers: list[LogHandler] = []  # temporary readers installed by llama_log_handler, outermost first
_callback = None  # the ctypes callback, kept alive for as long as llama.cpp may call it
_last_level = LOG_INFO


def _default(level: int, text: bytes) -> None:
    """Errors and warnings to Python logging; continuation pieces keep the level of the line they continue."""
    message = text.decode("utf-8", errors="replace").rstrip()
    if not message:
        return
    if level == LOG_ERROR:
        log.error("llama.cpp: %s", message)
    elif level == LOG_WARN:
        log.warning("llama.cpp: %s", message)


def route_llama_logs() -> None:
    """Install our log callback in llama.cpp. Call it after anything that may have replaced it (creating a
    `llama_cpp.Llama` installs llama-cpp-python's own)."""
    global _callback
    import llama_cpp

    if _callback is None:

        @llama_cpp.llama_log_callback
        def _on_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            global _last_level
            if level == LOG_CONT:
                level = _last_level
            else:
                _last_level = level
            readers = list(_handlers)
            if not readers:
                _default(level, text)
            for reader in readers:
                reader(level, text)

        _callback = _on_log
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))


@contextlib.contextmanager
def llama_log_handler(handler: LogHandler) -> Iterator[None]:
    """Send every llama.cpp log piece to `handler` inside the block (one thread at a time; nested readers in that
    thread all see each piece)."""
    with _lock:
        route_llama_logs()
        _handlers.append(handler)
        try:
            yield
        finally:
            _handlers.remove(handler)


@contextlib.contextmanager
def collect_llama_logs() -> Iterator[list[str]]:
    """The text of every llama.cpp log piece inside the block (what a load did: devices, offloaded layers,
    buffers); errors and warnings still go to Python logging."""
    pieces: list[str] = []

    def collect(level: int, text: bytes) -> None:
        pieces.append(text.decode("utf-8", errors="replace"))
        _default(level, text)

    with llama_log_handler(collect):
        yield pieces


def quiet_bitsandbytes() -> None:
    """bitsandbytes warns at import on CPUs with AVX512-BF16 that an optional hub-downloaded kernel is missing;
    the built-in CPU path works, and the LSP's stderr should not carry that noise."""
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
