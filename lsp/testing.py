"""TEST-ONLY: a wrapper that slows a real backend down, for tests of timing mechanics (a burst of requests,
shutdown during a long generation). Enabled only by the environment variable STARASSIST_TEST_TOKEN_DELAY_MS;
not a user setting. The wrapped backend is the real model: the text is real, only slower.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from assistant.backend import Backend, CancelCheck, GenerationParams, GenerationResult, TextCallback

ENV_TOKEN_DELAY = "STARASSIST_TEST_TOKEN_DELAY_MS"


class SlowedBackend:
    """Delegates to `inner`, sleeping `delay_s` at every cancel check (between tokens and prompt batches)."""

    def __init__(self, inner: Backend, delay_s: float) -> None:
        self.inner = inner
        self.info = inner.info
        self.delay_s = delay_s

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        return self.inner.tokenize(text, special=special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self.inner.detokenize(tokens)

    def generate(self, prompt: Sequence[int], params: GenerationParams, *, cancel: CancelCheck | None = None,
                 on_text: TextCallback | None = None) -> GenerationResult:
        def slow_cancel() -> bool:
            if cancel is not None and cancel():
                return True
            time.sleep(self.delay_s)
            return cancel() if cancel is not None else False

        return self.inner.generate(prompt, params, cancel=slow_cancel, on_text=on_text)

    def close(self) -> None:
        self.inner.close()


def maybe_slowed(backend: Backend) -> Backend:
    value = os.environ.get(ENV_TOKEN_DELAY, "")
    if not value:
        return backend
    return SlowedBackend(backend, float(value) / 1000)
