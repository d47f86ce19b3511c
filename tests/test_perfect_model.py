"""Perfect-model harness (issue 11): a scripted backend returns the right middle, or the middle followed by the
rest of the file (a model that does not stop), through the real CompletionEngine (window, prompt, healing,
post-processing). Post-processing must not damage a right answer. Byte-level vocabulary, left-to-right (the
model is not shown the suffix, as with the embedded model)."""

from __future__ import annotations

import json.decoder
from collections.abc import Sequence
from pathlib import Path

import pytest

from starassist.engine.backend import GenerationParams, GenerationResult, ModelInfo, Timings
from starassist.engine.completion import CompletionEngine, CompletionRequest


class PerfectBackend:
    """Byte tokens; generate returns the scripted `answer` (cut at a stop string, as a real backend does)."""

    def __init__(self) -> None:
        self.info = ModelInfo(name="perfect", path="", arch="llama", context_length=4096,
                              train_context_length=4096, vocab_size=256, bos_id=None, eos_id=None, add_bos=False)
        self.answer = ""

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        return list(text.encode())

    def detokenize(self, tokens: Sequence[int]) -> str:
        return bytes(tokens).decode(errors="replace")

    def generate(self, prompt, params: GenerationParams, *, cancel=None, on_text=None) -> GenerationResult:
        text = self.answer
        for stop in params.stop_strings:
            i = text.find(stop, 1)
            if i != -1:
                text = text[:i]
        return GenerationResult(text=text, tokens=list(text.encode()), stop_reason="stop_token", timings=Timings())

    def close(self) -> None:
        pass


@pytest.fixture()
def engine() -> tuple[CompletionEngine, PerfectBackend]:
    backend = PerfectBackend()
    return CompletionEngine(backend), backend


def complete(engine_backend, document: str, answer: str) -> str:
    engine, backend = engine_backend
    backend.answer = answer
    prefix, suffix = document.split("▌")
    return engine.complete(CompletionRequest(text=prefix + suffix, offset=len(prefix))).text


@pytest.mark.parametrize(
    ("document", "answer", "expected"),
    [
        ('print(▌)', '"hi")', '"hi"'),
        ("x = foo(a▌, b)", "rg1, b)", "rg1"),
    ],
)
def test_left_to_right_postprocessing_sees_the_real_suffix(engine, document, answer, expected):
    assert complete(engine, document, answer) == expected


def _damaged(engine, pick) -> tuple[int, int]:
    """Over every line of a real third-party file (the stdlib's json decoder), `pick(line)` gives the span
    (start, end) the model must fill, or None. The model returns it exactly, then a second time running on
    through the rest of the file; both must come back as the span. Returns (damaged, cases)."""
    source = Path(json.decoder.__file__).read_text(encoding="utf-8")
    cases = damaged = 0
    offset = 0
    for line in source.split("\n"):
        span = pick(line)
        if span:
            cut, end = offset + span[0], offset + span[1]
            middle = source[cut:end]
            for answer in (middle, source[cut:]):
                cases += 1
                got = complete(engine, source[:cut] + "▌" + source[end:], answer)
                damaged += got.rstrip() != middle.rstrip()
        offset += len(line) + 1
    return damaged, cases


def test_rest_of_line_on_real_code(engine):
    """Cursor inside each line: the middle is the rest of the line."""

    def pick(line: str) -> tuple[int, int] | None:
        code = line.strip()
        if len(code) <= 8 or code.startswith("#"):
            return None
        return len(line) - len(line.lstrip()) + len(code) // 2, len(line)

    damaged, cases = _damaged(engine, pick)
    print(f"rest of line: {damaged}/{cases} damaged")
    assert cases > 100
    assert damaged / cases <= 0.01


def test_span_before_closers_on_real_code(engine):
    """Cursor inside a line that ends in closers (`)`, `]`, `}`, `:`): the middle is the span up to them; the
    editor's closers stay after the cursor."""

    def pick(line: str) -> tuple[int, int] | None:
        body = line.rstrip().rstrip(")]}:,")
        indent = len(line) - len(line.lstrip())
        if body == line.rstrip() or len(body) - indent <= 8 or line.lstrip().startswith("#"):
            return None
        return indent + (len(body) - indent) // 2, len(body)

    damaged, cases = _damaged(engine, pick)
    print(f"span before closers: {damaged}/{cases} damaged")
    assert cases > 40
    assert damaged / cases <= 0.01
