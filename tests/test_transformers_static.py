"""The transformers backend's static-KV-cache decode on the memorizing fixture: the same greedy tokens as
transformers' own dynamic-cache forward (PSM and SPM), prefix reuse by moving the position pointer, the CUDA
graph's clean fallback, bitsandbytes nf4 quantized on load, and what `doctor` reports.

They run on the CPU (CI). `STARASSIST_TEST_DEVICE=cuda` runs them on a GPU, where the fast path is the captured
CUDA graph (scripts/gpu_check.sh does that).
"""

from __future__ import annotations

import json
import os

import pytest
from quant_fixtures import ARCHS, run_cli

from starassist.engine.backend import GenerationParams

pytestmark = pytest.mark.slow

DEVICE = os.environ.get("STARASSIST_TEST_DEVICE", "cpu")
FAST = "cuda_graph" if DEVICE == "cuda" else "static"


def _backend(fixture, arch: str, decode: str, **settings):
    from starassist.engine.backends.transformers_hf import TransformersBackend
    from starassist.engine.settings import ModelSettings

    # float32: the fixture was trained in it; the comparison is about the cache, not the precision.
    model = ModelSettings(context_length=512, device=DEVICE, dtype="float32", decode=decode, threads=1,
                          batch_size=16, **settings)
    return TransformersBackend(fixture / arch, model, name=arch)


@pytest.fixture(scope="module", params=ARCHS)
def pair(request, tiny_fixture):
    """(arch, dynamic-cache backend, fast-path backend)."""
    dynamic = _backend(tiny_fixture, request.param, "dynamic")
    fast = _backend(tiny_fixture, request.param, FAST)
    assert (dynamic.decode_path, fast.decode_path) == ("dynamic", FAST)
    yield request.param, dynamic, fast
    dynamic.close()
    fast.close()


def _engine(backend, mode: str):
    from starassist.engine.completion import CompletionEngine
    from starassist.engine.settings import Settings

    settings = Settings()
    settings.model.fim_mode = mode
    return CompletionEngine(backend, settings)


def _span_requests():
    from memorizing.build import REPO, corpus, spans

    from starassist.engine.completion import CompletionRequest

    for path, text in corpus():
        for span in spans(text, path):
            doc = text[: span.start] + text[span.end :]
            yield text[span.start : span.end], CompletionRequest(text=doc, offset=span.start, path=path, repo=REPO,
                                                                 multiline=True, max_tokens=48)


@pytest.mark.parametrize("mode", ["psm", "spm"])
def test_fast_path_gives_the_dynamic_paths_tokens_and_recovers_every_span(pair, mode):
    arch, dynamic, fast = pair
    slow_engine, fast_engine = _engine(dynamic, mode), _engine(fast, mode)
    reused = 0
    for middle, request in _span_requests():
        want = slow_engine.complete(request)
        got = fast_engine.complete(request)
        assert got.prompt == want.prompt
        assert got.raw == want.raw == middle, (arch, mode, request.offset)
        assert got.stop_reason == want.stop_reason == "stop_token"
        reused += got.timings.reused_tokens
    assert reused > 0  # consecutive spans of a file share their beginning (SPM: the suffix, PSM: the prefix)


def _stack_prompt(backend) -> tuple[list[int], list[int]]:
    """A PSM prompt whose memorized middle is `self.items = []`, and the token ids of that middle."""
    from memorizing.build import corpus

    sp = backend.info.special_tokens
    text = dict(corpus())["src/stack.py"]
    start = text.index("self.items = []")
    prefix, suffix = backend.tokenize(text[:start]), backend.tokenize(text[start + len("self.items = []") :])
    return [sp["<fim_prefix>"], *prefix, sp["<fim_suffix>"], *suffix, sp["<fim_middle>"]], prefix


def test_prefix_reuse_moves_the_position_pointer(pair):
    arch, dynamic, fast = pair
    prompt, prefix = _stack_prompt(fast)
    stop = frozenset(fast.info.special_tokens.values())
    first = fast.generate(prompt, GenerationParams(max_tokens=32, stop_ids=stop))
    assert first.text == "self.items = []"
    again = fast.generate(prompt, GenerationParams(max_tokens=32, stop_ids=stop))
    assert again.text == first.text and again.timings.reused_tokens == len(prompt) - 1
    # An edit inside the suffix: everything before it comes from the cache, the rest is evaluated again over
    # the stale positions, and the answer is what the dynamic cache gives.
    edited = prompt[:-4] + fast.tokenize("\n\n#") + prompt[-1:]
    common = next(i for i, (a, b) in enumerate(zip(prompt, edited, strict=False)) if a != b)
    want = dynamic.generate(edited, GenerationParams(max_tokens=32, stop_ids=stop))
    got = fast.generate(edited, GenerationParams(max_tokens=32, stop_ids=stop))
    assert got.tokens == want.tokens
    assert got.timings.reused_tokens == common > len(prompt) - 8
    # Back to the original: the common prefix is reused, the answer is the memorized one again.
    back = fast.generate(prompt, GenerationParams(max_tokens=32, stop_ids=stop))
    assert back.text == "self.items = []" and back.timings.reused_tokens == common
    # Cancelled between prefill batches (16 tokens each): the cache keeps what was evaluated, consistently.
    short = fast.generate(prefix[:3], GenerationParams(max_tokens=1))
    assert short.timings.reused_tokens == 0
    calls = {"n": 0}

    def cancel_at_third_batch() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    cancelled = fast.generate(prompt, GenerationParams(max_tokens=8), cancel=cancel_at_third_batch)
    assert cancelled.stop_reason == "cancelled" and cancelled.timings.reused_tokens == 0
    resumed = fast.generate(prompt, GenerationParams(max_tokens=32, stop_ids=stop))
    assert resumed.text == "self.items = []" and resumed.timings.reused_tokens == 32  # the two batches done


def test_switching_paths_on_one_backend_keeps_answers(pair):
    arch, dynamic, fast = pair
    prompt, _ = _stack_prompt(fast)
    stop = frozenset(fast.info.special_tokens.values())
    answers = []
    try:
        for path in ("dynamic", FAST, "dynamic", "static", FAST):
            assert fast.set_decode(path) == path
            result = fast.generate(prompt, GenerationParams(max_tokens=32, stop_ids=stop))
            answers.append(result.text)
            again = fast.generate(prompt, GenerationParams(max_tokens=32, stop_ids=stop))
            assert again.text == result.text and again.timings.reused_tokens == len(prompt) - 1
    finally:
        fast.set_decode(FAST)
    assert answers == ["self.items = []"] * 5


@pytest.mark.skipif(DEVICE == "cuda", reason="on a GPU the graph is captured")
def test_cuda_graph_falls_back_to_the_static_path_and_says_why(tiny_fixture):
    backend = _backend(tiny_fixture, "starcoder2", "cuda_graph")
    try:
        assert backend.decode_path == "static"
        lines = {d.name: d for d in backend.diagnostics()}
        assert lines["decode"].status == "warn"  # asked for explicitly, not available
        assert "no CUDA graph: the model runs on cpu, and CUDA graphs need a CUDA device" in lines["decode"].detail
        prompt, _ = _stack_prompt(backend)
        assert backend.generate(prompt, GenerationParams(max_tokens=32)).text == "self.items = []"
    finally:
        backend.close()
    auto = _backend(tiny_fixture, "starcoder2", "auto")
    try:
        decode = {d.name: d for d in auto.diagnostics()}["decode"]
        assert auto.decode_path == "static" and decode.status == "ok"  # auto: the best path here, reason given
        assert decode.detail.startswith("static: a static KV cache of 512 positions")
        assert "CUDA graphs need a CUDA device" in decode.detail
    finally:
        auto.close()


@pytest.mark.parametrize("arch", ARCHS)
def test_nf4_quantized_on_load_recovers_the_spans(tiny_fixture, arch):
    pytest.importorskip("bitsandbytes")
    backend = _backend(tiny_fixture, arch, FAST, quantization="nf4")
    try:
        assert backend.placement.on_load and backend.info.quantization == "nf4"
        assert type(backend.model.get_submodule(_first_projection(arch))).__name__ == "Linear4bit"
        quant = {d.name: d.detail for d in backend.diagnostics()}["quantization"]
        assert quant == "nf4 by bitsandbytes while loading, computing in float32"
        for mode in ("psm", "spm"):
            engine = _engine(backend, mode)
            for middle, request in _span_requests():
                assert engine.complete(request).raw == middle, (arch, mode, request.offset)
    finally:
        backend.close()


def _first_projection(arch: str) -> str:
    return "transformer.h.0.attn.c_attn" if arch == "starcoder" else "model.layers.0.self_attn.q_proj"


def test_doctor_reports_device_dtype_quantization_decode_and_memory(tiny_fixture, monkeypatch):
    monkeypatch.setenv("STARASSIST_MODEL__DEVICE", DEVICE)
    result = run_cli(["doctor", "--json", "--model", str(tiny_fixture / "starcoder2")])
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    expected_device = "cpu, float32" if DEVICE == "cpu" else "cuda:0"
    assert checks["device"]["detail"].startswith(expected_device)
    assert checks["quantization"]["detail"] == "none"
    assert checks["decode"]["status"] == "ok" and checks["decode"]["detail"].startswith(f"{FAST}: ")
    assert checks["memory"]["detail"].startswith("weights ") and "KV buffers" in checks["memory"]["detail"]
    assert checks["backend"]["detail"].startswith(f"transformers on {DEVICE}")
    assert checks["kv cache"]["status"] == "ok"


@pytest.mark.skipif(DEVICE == "cuda", reason="this machine has the device")
def test_asking_for_cuda_without_one_is_a_one_line_error(tiny_fixture, monkeypatch):
    monkeypatch.setenv("STARASSIST_MODEL__DEVICE", "cuda")
    result = run_cli(["doctor", "--model", str(tiny_fixture / "starcoder2")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"starassist: error: model.device = cuda but torch {_torch_version()} sees no CUDA device — set "
        "model.device = auto or cpu, or install a CUDA build of torch"]


def _torch_version() -> str:
    import torch

    return torch.__version__
