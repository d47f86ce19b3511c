"""A real backend slowed down per token, for tests of timing mechanics (a burst of requests, cancellation and
shutdown during a long generation). The model is real: the text is real, only slower.

Run as a script it is `starassist lsp` whose model is slowed: `python tests/slowed_backend.py DELAY_MS`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from starassist.engine.backend import Backend, CancelCheck, GenerationParams, GenerationResult, TextCallback


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


def main(delay_ms: float) -> None:
    from starassist.engine.completion import CompletionEngine
    from starassist.engine.loader import load_backend
    from starassist.lsp.server import serve

    def load_slowed(settings):
        engine = CompletionEngine(SlowedBackend(load_backend(settings.model), delay_ms / 1000), settings)
        engine.warm_up()
        return engine

    serve(load_engine=load_slowed)


if __name__ == "__main__":
    main(float(sys.argv[1]))
