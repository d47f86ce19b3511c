"""Hugging Face checkpoint -> GGUF (F32, F16 or BF16), streamed tensor by tensor.

Tensor infos are declared from the safetensors headers alone, then each tensor is read from the memory map,
converted and written before the next one is touched: peak memory is about the largest tensor, not the model.
The output is written to a temporary file next to the destination and renamed at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from starassist.engine.files import atomic_output

from .checkpoint import Checkpoint
from .errors import QuantError
from .tokenizer_gguf import read_vocab, write_vocab

ProgressFn = Callable[[int, int, str], None]  # (bytes done, bytes total, tensor name)


@dataclass(frozen=True)
class ArchSpec:
    """How one HF architecture becomes a llama.cpp architecture."""

    hf_names: tuple[str, ...]  # `architectures` entries / `model_type` values
    gguf_arch: str
    skip_suffixes: tuple[str, ...]  # buffers that are not weights


ARCHS: dict[str, ArchSpec] = {
    "starcoder": ArchSpec(("GPTBigCodeForCausalLM", "gpt_bigcode"), "starcoder", (".attn.bias", ".attn.masked_bias")),
    "starcoder2": ArchSpec(("Starcoder2ForCausalLM", "starcoder2"), "starcoder2", (".rotary_emb.inv_freq",)),
}
SUPPORTED = "GPTBigCode (StarCoder, StarCoderBase, SantaCoder-style MQA) and StarCoder2"

OUT_TYPES = ("F32", "F16", "BF16")


def detect_arch(config: dict, where: Path) -> ArchSpec:
    names = list(config.get("architectures") or []) + [config.get("model_type") or ""]
    for spec in ARCHS.values():
        if any(n in spec.hf_names for n in names):
            return spec
    shown = ", ".join(n for n in names if n) or "unknown"
    raise QuantError(f"{where}: architecture {shown} is not supported — starassist quantizes {SUPPORTED}")


def _hparams(spec: ArchSpec, c: dict) -> dict:
    """Model hyper-parameters under GGUF's names (the writer's add_* methods)."""
    try:
        if spec.gguf_arch == "starcoder":
            n_embd = int(c["n_embd"])
            n_head = int(c["n_head"])
            return {
                "context_length": int(c.get("n_positions", 8192)),
                "embedding_length": n_embd,
                "feed_forward_length": int(c.get("n_inner") or 4 * n_embd),
                "block_count": int(c["n_layer"]),
                "head_count": n_head,
                "head_count_kv": 1 if c.get("multi_query", True) else n_head,
                "layer_norm_eps": float(c.get("layer_norm_epsilon", 1e-5)),
            }
        n_head = int(c["num_attention_heads"])
        return {
            "context_length": int(c.get("max_position_embeddings", 4096)),
            "embedding_length": int(c["hidden_size"]),
            "feed_forward_length": int(c["intermediate_size"]),
            "block_count": int(c["num_hidden_layers"]),
            "head_count": n_head,
            "head_count_kv": int(c.get("num_key_value_heads") or n_head),
            "layer_norm_eps": float(c.get("norm_epsilon", 1e-5)),
            "rope_freq_base": float(c.get("rope_theta") or (c.get("rope_parameters") or {}).get("rope_theta", 10000.0)),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise QuantError(f"config.json lacks or has a bad value for {exc} — is it a {spec.gguf_arch} config?") from None


@dataclass
class ConvertResult:
    path: Path
    arch: str
    out_type: str
    tensors: int
    source_bytes: int
    output_bytes: int
    seconds: float


def tensor_plan(ckpt: Checkpoint, spec: ArchSpec, n_blocks: int) -> list[tuple[str, str]]:
    """(HF name, GGUF name) for every weight, in file order; unknown tensors are an error, not silently dropped."""
    import gguf

    arch_enum = {"starcoder": gguf.MODEL_ARCH.STARCODER, "starcoder2": gguf.MODEL_ARCH.STARCODER2}[spec.gguf_arch]
    name_map = gguf.get_tensor_name_map(arch_enum, n_blocks)
    plan = []
    for name in ckpt.names():
        if name.endswith(spec.skip_suffixes):
            continue
        new = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise QuantError(f"tensor {name} has no GGUF name for {spec.gguf_arch} — the checkpoint does not "
                             f"look like a standard {spec.hf_names[0]}")
        plan.append((name, new))
    return plan


def _reorder(spec: ArchSpec, hp: dict, hf_name: str, data: np.ndarray) -> np.ndarray:
    """GPTBigCode without multi-query attention fuses QKV per head ([q_h, k_h, v_h] for each head h);
    llama.cpp wants all queries, then all keys, then all values."""
    if spec.gguf_arch != "starcoder" or hp["head_count_kv"] == 1 or ".attn.c_attn." not in hf_name:
        return data
    n_head = hp["head_count"]
    head_dim = hp["embedding_length"] // n_head
    rest = data.shape[1:]
    return data.reshape(n_head, 3, head_dim, *rest).swapaxes(0, 1).reshape(data.shape)


def _out_dtype(out_type: str, shape: tuple[int, ...]):
    """(numpy dtype to convert to, ggml raw type or None). Norms, biases and other 1-D tensors stay F32."""
    import gguf

    if out_type == "F32" or len(shape) < 2:
        return np.float32, None
    if out_type == "F16":
        return np.float16, None
    return np.float32, gguf.GGMLQuantizationType.BF16


def convert_hf(
    src: Path,
    out: Path,
    *,
    out_type: str = "F16",
    allow_pickle: bool = False,
    progress: ProgressFn | None = None,
    name: str | None = None,
) -> ConvertResult:
    import gguf

    if out_type not in OUT_TYPES:
        raise QuantError(f"conversion output type {out_type} is not one of {', '.join(OUT_TYPES)}")
    t0 = time.perf_counter()
    ckpt = Checkpoint(src, allow_pickle=allow_pickle)
    spec = detect_arch(ckpt.config, src)
    hp = _hparams(spec, ckpt.config)
    vocab = read_vocab(src, int(ckpt.config.get("vocab_size") or 0))
    plan = tensor_plan(ckpt, spec, hp["block_count"])  # indexes the weights: unreadable shards fail here
    embd_names = [h for h, g in plan if g == "token_embd.weight"]
    if not embd_names:
        raise QuantError(f"{src}: no token embedding tensor found — the checkpoint's weights are incomplete")
    embd_rows = ckpt.refs[embd_names[0]].shape[0]
    if embd_rows != len(vocab.tokens):
        raise QuantError(f"{src}: {embd_rows} embedding rows but {len(vocab.tokens)} tokens "
                         "— config.json vocab_size and the weights disagree")

    total = sum(ckpt.refs[h].nbytes for h, _ in plan)
    with atomic_output(out) as tmp:
        writer = gguf.GGUFWriter(tmp, spec.gguf_arch)
        writer.add_name(name or src.name)
        writer.add_file_type({"F32": gguf.LlamaFileType.ALL_F32, "F16": gguf.LlamaFileType.MOSTLY_F16,
                              "BF16": gguf.LlamaFileType.MOSTLY_BF16}[out_type])
        for key, value in hp.items():
            getattr(writer, f"add_{key}")(value)
        write_vocab(writer, vocab)
        for hf_name, gguf_name in plan:
            ref = ckpt.refs[hf_name]
            dtype, raw = _out_dtype(out_type, ref.shape)
            numel = int(np.prod(ref.shape)) if ref.shape else 1
            nbytes = numel * (2 if raw is not None else np.dtype(dtype).itemsize)
            writer.add_tensor_info(gguf_name, ref.shape, np.dtype(dtype), nbytes, raw_dtype=raw)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        done = 0
        for hf_name, gguf_name in plan:
            ref = ckpt.refs[hf_name]
            dtype, raw = _out_dtype(out_type, ref.shape)
            data = _reorder(spec, hp, hf_name, ckpt.tensor(hf_name).astype(np.float32, copy=False))
            if raw is not None:
                data = gguf.quants.quantize(data, raw)
            else:
                data = data.astype(dtype, copy=False)
            writer.write_tensor_data(np.ascontiguousarray(data))
            del data
            done += ref.nbytes
            if progress:
                progress(done, total, gguf_name)
        writer.close()
    return ConvertResult(out, spec.gguf_arch, out_type, len(plan), ckpt.weight_bytes, out.stat().st_size,
                         time.perf_counter() - t0)
