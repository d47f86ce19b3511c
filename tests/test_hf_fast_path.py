"""The transformers backend's pieces that need no trained model: the static-cache decoder against transformers'
own forward on random models of every architecture it knows, device/dtype/quantization choices, and reading
where llama.cpp put the layers. Fast: tiny random models built in memory."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from starassist.engine.backends.hf_decoder import LAYOUTS, StaticDecoder, unsupported_reason  # noqa: E402
from starassist.engine.backends.hf_placement import (  # noqa: E402
    Hardware,
    checkpoint_quantization,
    choose_device,
    choose_dtype,
    place,
)
from starassist.engine.backends.llama_gpu import (  # noqa: E402
    device_summary,
    gpu_warning,
    offload_diagnostics,
    read_offload,
)
from starassist.engine.errors import SettingsError  # noqa: E402
from starassist.engine.settings import ModelSettings, load_settings  # noqa: E402

_COMMON = {"vocab_size": 97, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 4, "max_position_embeddings": 64}
# Random models of each layout the decoder knows, with what makes each different: grouped-query and multi-query
# attention, a sliding window shorter than the sequence, learned positions, a per-head fused projection.
MODELS = {
    "starcoder2-gqa-window": ("starcoder2", {**_COMMON, "num_key_value_heads": 2, "sliding_window": 7,
                                             "use_bias": True}),
    "gpt_bigcode-mqa": ("gpt_bigcode", {"vocab_size": 97, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64,
                                        "multi_query": True}),
    "gpt_bigcode-mha": ("gpt_bigcode", {"vocab_size": 97, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64,
                                        "multi_query": False}),
    "llama": ("llama", {**_COMMON, "num_key_value_heads": 2}),
    "qwen2": ("qwen2", {**_COMMON, "num_key_value_heads": 1}),
    "mistral": ("mistral", {**_COMMON, "num_key_value_heads": 2, "sliding_window": 9}),
}


def _random_model(name: str):
    arch, values = MODELS[name]
    torch.manual_seed(3)
    config = transformers.AutoConfig.for_model(arch, **values)
    config._attn_implementation = "sdpa"
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():  # random init is nearly flat; spread the logits so differences would show
        for p in model.parameters():
            p.mul_(4.0 if p.dim() > 1 else 1.0)
    return model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_static_decoder_matches_transformers_forward(name):
    model = _random_model(name)
    assert model.config.model_type in LAYOUTS and unsupported_reason(model.config) == ""
    ids = torch.randint(0, 97, (1, 20), generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        expected = model(input_ids=ids).logits[0].float()
        decoder = StaticDecoder(model, 32)
        # A batched prefill, then one token at a time, as a completion runs.
        got = [decoder.forward(ids[:, :12], torch.arange(12), span=12).float()]
        for i in range(12, 20):
            got.append(decoder.forward(ids[:, i : i + 1], torch.tensor([i]), span=i + 1).float())
        # The graph's shape: attention over the whole buffer, positions past the sequence masked.
        whole = decoder.forward(ids[:, 19:20], torch.tensor([19]), span=None).float()
    scale = float(expected.abs().max())
    torch.testing.assert_close(got[0], expected[11], atol=1e-4 * scale, rtol=1e-4)
    for i, logits in enumerate(got[1:], start=12):
        torch.testing.assert_close(logits, expected[i], atol=1e-4 * scale, rtol=1e-4)
    torch.testing.assert_close(whole, expected[19], atol=1e-4 * scale, rtol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (scripts/gpu_check.sh)")
@pytest.mark.parametrize("name", ["starcoder2-gqa-window", "gpt_bigcode-mqa"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_captured_step_matches_the_eager_step_on_cuda(name, dtype):
    from starassist.engine.backends.hf_decoder import CapturedStep, relative_error

    model = _random_model(name).to("cuda", dtype)
    ids = torch.randint(0, 97, (1, 20), generator=torch.Generator().manual_seed(5)).cuda()
    with torch.inference_mode():
        eager = StaticDecoder(model, 32)
        graph = StaticDecoder(model, 32)
        step = CapturedStep(graph)
        eager.forward(ids[:, :12], torch.arange(12, device="cuda"), span=12)
        graph.forward(ids[:, :12], torch.arange(12, device="cuda"), span=12)
        for i in range(12, 20):
            want = eager.forward(ids[:, i : i + 1], torch.tensor([i], device="cuda"), span=None).float()
            got = step(int(ids[0, i]), i).float()
            # bf16: cuBLAS may pick other kernels inside a capture, so only rounding-sized differences.
            assert relative_error(got, want) < (1e-5 if dtype == torch.float32 else 2e-2), (name, dtype, i)


def test_reuse_is_moving_the_position_pointer():
    """Stale positions past the pointer are never read: rewriting from position 8 with other tokens gives what a
    fresh decoder computes."""
    model = _random_model("starcoder2-gqa-window")
    first = torch.randint(0, 97, (1, 16), generator=torch.Generator().manual_seed(1))
    second = torch.cat([first[:, :8], torch.randint(0, 97, (1, 5), generator=torch.Generator().manual_seed(2))], 1)
    with torch.inference_mode():
        reused = StaticDecoder(model, 32)
        reused.forward(first, torch.arange(16), span=16)
        after = reused.forward(second[:, 8:], torch.arange(8, 13), span=13)
        fresh = StaticDecoder(model, 32).forward(second, torch.arange(13), span=13)
    torch.testing.assert_close(after, fresh, atol=1e-5, rtol=1e-5)


def test_unsupported_architectures_say_why():
    config = transformers.AutoConfig.for_model("gpt2", n_embd=32, n_layer=1, n_head=2, vocab_size=50)
    assert "not gpt2" in unsupported_reason(config)


# -- device, dtype, quantization -----------------------------------------------------------------------------

CPU_ONLY = Hardware(cuda=False, mps=False, bf16=False)
H200 = Hardware(cuda=True, mps=False, bf16=True)
T4 = Hardware(cuda=True, mps=False, bf16=False)
MAC = Hardware(cuda=False, mps=True, bf16=False)


@pytest.mark.parametrize(("hw", "device", "dtype"), [
    (CPU_ONLY, "cpu", "float32"),
    (H200, "cuda", "bfloat16"),
    (T4, "cuda", "float16"),
    (MAC, "mps", "float16"),
])
def test_auto_device_and_dtype(hw, device, dtype):
    assert choose_device("auto", hw) == device
    assert choose_dtype("auto", device, hw) == dtype
    assert choose_dtype("float32", device, hw) == "float32"  # an explicit dtype is kept
    assert choose_device("cpu", hw) == "cpu"


def test_asking_for_a_missing_device_is_a_settings_error():
    with pytest.raises(SettingsError, match="model.device = cuda but torch .* sees no CUDA device"):
        choose_device("cuda", CPU_ONLY)
    with pytest.raises(SettingsError, match="model.device = mps"):
        choose_device("mps", H200)


def test_this_machine_is_placed_on_the_cpu_in_float32():
    """CI has no GPU: auto lands on the CPU in float32, which the backend reports (see the fixture tests)."""
    hw = Hardware.detect()
    if hw.cuda or hw.mps:
        pytest.skip("this machine has a GPU")
    placement = place(ModelSettings(), {}, hw)
    assert (placement.device, placement.dtype, placement.quantization, placement.on_load) == (
        "cpu", "float32", "none", False)


def test_quantization_on_load_and_pre_quantized_checkpoints():
    plain = place(ModelSettings(quantization="nf4"), {}, H200)
    assert (plain.quantization, plain.on_load, plain.dtype, plain.notes) == ("nf4", True, "bfloat16", ())
    saved = {"quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": True}}
    assert checkpoint_quantization(saved) == "int8"
    kept = place(ModelSettings(quantization="nf4"), saved, H200)
    assert (kept.quantization, kept.on_load) == ("int8", False)
    assert kept.notes == ("model.quantization = nf4 not applied: the checkpoint is already quantized (int8)",)
    assert place(ModelSettings(), saved, CPU_ONLY).notes == ()
    nf4 = {"quantization_config": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}}
    assert checkpoint_quantization(nf4) == "nf4" and checkpoint_quantization({}) == ""


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("device", "tpu", "model.device: 'tpu' is not one of 'auto', 'cuda', 'mps', 'cpu'"),
    ("dtype", "int4", "model.dtype: 'int4' is not one of"),
    ("quantization", "gptq", "model.quantization: 'gptq' is not one of 'none', 'int8', 'nf4'"),
    ("decode", "fast", "model.decode: 'fast' is not one of 'auto', 'cuda_graph', 'static', 'dynamic'"),
])
def test_bad_gpu_settings_name_the_key(tmp_path, key, value, needle):
    with pytest.raises(SettingsError, match=needle):
        load_settings(file=tmp_path / "absent.toml", environ={f"STARASSIST_MODEL__{key.upper()}": value})


# -- llama.cpp: where the layers went ------------------------------------------------------------------------

# Lines as llama.cpp logs them while loading (a 2-block model, a CUDA build with 2 of 3 layers offloaded).
CUDA_LOG = """load_tensors: layer   0 assigned to device CPU, is_swa = 0
load_tensors: layer   1 assigned to device CUDA0, is_swa = 0
load_tensors: layer   2 assigned to device CUDA0, is_swa = 0
load_tensors: offloading 1 repeating layers to GPU
load_tensors: offloaded 2/3 layers to GPU
load_tensors:        CUDA0 model buffer size =   120.50 MiB
load_tensors:   CPU_Mapped model buffer size =    40.00 MiB
llama_kv_cache:      CUDA0 KV buffer size =    12.00 MiB
"""
CPU_LOG = """load_tensors: layer   0 assigned to device CPU, is_swa = 0
load_tensors: layer   1 assigned to device CPU, is_swa = 0
load_tensors:   CPU_Mapped model buffer size =    92.10 MiB
"""


def test_read_offload_from_the_load_log():
    cuda = read_offload(CUDA_LOG)
    assert (cuda.layers, cuda.on_gpu, cuda.devices) == (3, 2, ("CUDA0",))
    assert cuda.buffers_mib == {"CUDA0": 132.5, "CPU_Mapped": 40.0}
    assert device_summary(cuda) == "CUDA0 (2/3 layers)"
    cpu = read_offload(CPU_LOG)
    assert (cpu.layers, cpu.on_gpu, device_summary(cpu)) == (2, 0, "cpu")
    lines = offload_diagnostics(cuda, -1, True)
    assert lines[0].detail == "2/3 layers on CUDA0 (model.gpu_layers = -1; GPU offload supported)"
    assert lines[-1].detail == "CUDA0 132 MiB, CPU_Mapped 40 MiB"


def test_gpu_layers_on_a_cpu_only_build_says_how_to_fix_it():
    assert gpu_warning(0, False) == "" and gpu_warning(-1, True) == ""
    message = gpu_warning(-1, False)
    assert message.startswith("model.gpu_layers = -1 but this llama-cpp-python build has no GPU support")
    assert 'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python' in message
    statuses = [(d.status, d.name) for d in offload_diagnostics(read_offload(CPU_LOG), -1, False)]
    assert statuses == [("ok", "gpu offload"), ("warn", "gpu offload"), ("ok", "memory")]
    idle = offload_diagnostics(read_offload(CPU_LOG), 0, True)
    assert idle[1].status == "warn" and "set it to -1" in idle[1].detail
