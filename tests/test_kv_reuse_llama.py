"""KV reuse on the real llama.cpp: greedy tokens after chunk reuse equal a cold evaluation of the same prompt."""

from __future__ import annotations

import pytest

from starassist.engine.backend import GenerationParams

pytestmark = pytest.mark.slow

BODY = "def mean(values):\n    total = 0\n    for v in values:\n        total += v\n    return total / len(values)\n"
SUFFIX = "\n\ndef median(values):\n    ordered = sorted(values)\n    return ordered[len(ordered) // 2]\n"
TYPED = "    # average of a list"


def _keystroke_prompts(backend, head, mid, tail, layout):
    """One prompt per typed character: prefix grows at its end, the suffix stays (PSM puts it after)."""
    prompts = []
    for n in range(0, len(TYPED) + 1, 3):
        prefix = backend.tokenize(BODY + TYPED[:n])
        suffix = backend.tokenize(SUFFIX)
        if layout == "psm":
            prompts.append(head + prefix + mid + suffix + tail)
        else:  # spm: suffix first, the typed text last
            prompts.append(head + mid + suffix + tail + prefix)
    return prompts


def _check_same_as_cold(backend, prompts):
    params = GenerationParams(max_tokens=8)
    warm = []
    chunks = 0
    for p in prompts:
        result = backend.generate(p, params)
        warm.append(result.tokens)
        chunks += backend.last_reused_chunks
    cold = []
    for p in prompts:
        backend._llm.reset()
        cold.append(backend.generate(p, params).tokens)
    assert warm == cold
    return chunks


@pytest.mark.parametrize("layout", ["psm", "spm"])
def test_embedded_model_chunk_reuse_matches_cold(embedded_backend, layout):
    assert embedded_backend._can_shift  # llama arch: rotary positions
    sep = embedded_backend.tokenize(" ### ")
    prompts = _keystroke_prompts(embedded_backend, sep, sep + sep, sep, layout)
    chunks = _check_same_as_cold(embedded_backend, prompts)
    if layout == "psm":
        assert chunks == 0  # shifted-chunk reuse is off by default: it is not exact (see LlamaCppBackend)


@pytest.mark.parametrize("layout", ["psm", "spm"])
def test_starcoder2_fixture_chunk_reuse_matches_cold(layout):
    from memorizing.gguf import fixture_gguf

    from starassist.engine.backends.llama_cpp import LlamaCppBackend
    from starassist.engine.settings import ModelSettings

    backend = LlamaCppBackend(fixture_gguf("starcoder2", "Q8_0"), ModelSettings(context_length=512))
    try:
        assert backend._can_shift
        fim = backend.tokenize
        prompts = _keystroke_prompts(backend, fim("<fim_prefix>", special=True), fim("<fim_suffix>", special=True),
                                     fim("<fim_middle>", special=True), layout)
        _check_same_as_cold(backend, prompts)
    finally:
        backend.close()


def test_starcoder_learned_positions_keep_prefix_only():
    from memorizing.gguf import fixture_gguf

    from starassist.engine.backends.llama_cpp import LlamaCppBackend
    from starassist.engine.settings import ModelSettings

    backend = LlamaCppBackend(fixture_gguf("starcoder", "Q8_0"), ModelSettings(context_length=512))
    try:
        assert not backend._can_shift
        fim = backend.tokenize
        prompts = _keystroke_prompts(backend, fim("<fim_prefix>", special=True), fim("<fim_suffix>", special=True),
                                     fim("<fim_middle>", special=True), "psm")
        assert _check_same_as_cold(backend, prompts) == 0
    finally:
        backend.close()
