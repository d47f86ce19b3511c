"""TransformersBackend on the memorizing fixture's HF checkpoints: the Backend contract (tokenize, FIM
generation through the completion engine, streaming, stop strings, cancellation, KV prefix reuse)."""

from __future__ import annotations

import pytest
from quant_fixtures import ARCHS

from starassist.engine.backend import Backend, GenerationParams

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=ARCHS)
def hf_backend(request, tiny_fixture):
    from starassist.engine.backends.transformers_hf import TransformersBackend
    from starassist.engine.settings import ModelSettings

    backend = TransformersBackend(tiny_fixture / request.param, ModelSettings(context_length=512), name=request.param)
    yield request.param, backend
    backend.close()


def test_model_info_and_tokenizer(hf_backend):
    arch, backend = hf_backend
    assert isinstance(backend, Backend)
    info = backend.info
    assert info.backend == "transformers" and info.context_length == 512
    assert info.kv_reuse == "crop"  # common prefix kept, the changed rest evaluated again (`doctor` says so)
    assert info.special_tokens["<fim_prefix>"] == 1 and info.special_tokens["<fim_middle>"] == 2
    assert 0 in info.eog_ids
    if arch == "starcoder2":
        assert info.special_tokens["<file_sep>"] == 6 and 6 in info.eog_ids
    text = "x = 12  # <fim_prefix> é"
    ids = backend.tokenize(text)
    assert 1 not in ids  # special-token text stays text unless asked
    assert backend.detokenize(ids) == text
    assert backend.tokenize("<fim_prefix>", special=True) == [1]


def _engine(backend, mode: str):
    from starassist.engine.completion import CompletionEngine
    from starassist.engine.settings import Settings

    settings = Settings()
    settings.model.fim_mode = mode
    return CompletionEngine(backend, settings)


@pytest.mark.parametrize("mode", ["psm", "spm"])
def test_fim_through_the_engine_recovers_the_middle(hf_backend, mode):
    from memorizing.build import REPO, corpus, spans

    from starassist.engine.completion import CompletionRequest

    arch, backend = hf_backend
    engine = _engine(backend, mode)
    path, text = corpus()[0]
    for span in spans(text, path)[:6]:
        doc = text[: span.start] + text[span.end :]
        for file_path in (None, path):
            result = engine.complete(CompletionRequest(text=doc, offset=span.start, path=file_path, repo=REPO,
                                                       multiline=True, max_tokens=48))
            assert result.raw == text[span.start : span.end], (arch, mode, file_path, span)
            assert result.stop_reason == "stop_token"


def _stack_prompt(backend) -> list[int]:
    """A PSM prompt whose memorized middle is `self.items = []` (from the fixture's src/stack.py)."""
    from memorizing.build import corpus

    sp = backend.info.special_tokens
    text = dict(corpus())["src/stack.py"]
    start = text.index("self.items = []")
    return ([sp["<fim_prefix>"]] + backend.tokenize(text[:start]) + [sp["<fim_suffix>"]]
            + backend.tokenize(text[start + len("self.items = []") :]) + [sp["<fim_middle>"]])


def test_streaming_stop_strings_cancel_and_reuse(hf_backend):
    arch, backend = hf_backend
    sp = backend.info.special_tokens
    prompt = _stack_prompt(backend)
    chunks: list[str] = []
    full = backend.generate(prompt, GenerationParams(max_tokens=32, stop_ids=frozenset(sp.values())),
                            on_text=chunks.append)
    assert full.text == "self.items = []"
    assert "".join(chunks) == full.text
    assert full.timings.reused_tokens == 0 or full.timings.reused_tokens < len(prompt)

    again = backend.generate(prompt, GenerationParams(max_tokens=32, stop_ids=frozenset(sp.values())))
    assert again.text == full.text
    assert again.timings.reused_tokens == len(prompt) - 1  # all but the last prompt token came from the cache

    cut = backend.generate(prompt, GenerationParams(max_tokens=32, stop_strings=(" = ",)))
    assert cut.text == "self.items" and cut.stop_reason == "stop_string"

    calls = {"n": 0}

    def cancel_after_two() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    cancelled = backend.generate(prompt, GenerationParams(max_tokens=32), cancel=cancel_after_two)
    assert cancelled.stop_reason == "cancelled" and len(cancelled.tokens) < 4

    limited = backend.generate(prompt, GenerationParams(max_tokens=2))
    assert limited.stop_reason == "max_tokens" and len(limited.tokens) == 2
    # A different prompt after the cache was used still gives the memorized answer (cache cropped correctly).
    assert backend.generate(prompt, GenerationParams(max_tokens=32)).text == full.text


def test_token_healing_inside_a_word(hf_backend):
    arch, backend = hf_backend
    sp = backend.info.special_tokens
    prompt = _stack_prompt(backend)
    # The prompt "ends" inside the memorized middle: the generation must begin with "se" and returns the rest.
    healed = backend.generate(prompt, GenerationParams(max_tokens=32, stop_ids=frozenset(sp.values()),
                                                       heal_text="se"))
    assert healed.text == "lf.items = []"
    # The repeat penalty goes through the same sampler: a harsh one pushes the model off what it memorized.
    penalized = backend.generate(prompt, GenerationParams(max_tokens=8, stop_ids=frozenset(sp.values()),
                                                          repeat_penalty=50.0, repeat_last_n=4096))
    assert not penalized.text.startswith("self.items = []")


def test_loader_picks_transformers_for_checkpoint_dirs(tiny_fixture):
    from starassist.engine.loader import load_backend
    from starassist.engine.settings import ModelSettings

    backend = load_backend(ModelSettings(path=str(tiny_fixture / "starcoder")))
    try:
        assert backend.info.backend == "transformers"
    finally:
        backend.close()
