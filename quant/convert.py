"""Hugging Face checkpoint -> GGUF (F32, F16 or BF16), streamed tensor by tensor.

Tensor infos are declared from the safetensors headers alone, then each tensor is read from the memory map,
converted and written before the next one is touched: peak memory is about the largest tensor, not the model.
The output is written to a temporary file next to the destination and renamed at the end.

Nothing is written from a checkpoint that is not whole: every block must have the same tensors as block 0
(a missing shard shows up here even without an index file), and the sizes llama.cpp checks at load time
(vocabulary, positions, widths, heads) are read from the tensors' shapes rather than trusted to config.json.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from starassist.engine.files import atomic_output

from .checkpoint import Checkpoint
from .errors import QuantError
from .tokenizer_gguf import read_vocab, write_vocab

ProgressFn = Callable[[int, int, str], None]  # (bytes done, bytes total, tensor name)
VerifyFn = Callable[[Path], None]  # checks a written file before it replaces the destination


@dataclass(frozen=True)
class ArchSpec:
    """How one HF architecture becomes a llama.cpp architecture."""

    hf_names: tuple[str, ...]  # `architectures` entries / `model_type` values
    gguf_arch: str
    skip_suffixes: tuple[str, ...]  # buffers that are not weights
    layers_key: str  # config.json's block count
    # GGUF tensors outside the blocks that every checkpoint of the architecture has (`output` may be tied).
    required: tuple[str, ...]


ARCHS: dict[str, ArchSpec] = {
    "starcoder": ArchSpec(("GPTBigCodeForCausalLM", "gpt_bigcode"), "starcoder", (".attn.bias", ".attn.masked_bias"),
                          "n_layer", ("token_embd.weight", "position_embd.weight", "output_norm.weight")),
    "starcoder2": ArchSpec(("Starcoder2ForCausalLM", "starcoder2"), "starcoder2", (".rotary_emb.inv_freq",),
                           "num_hidden_layers", ("token_embd.weight", "output_norm.weight")),
}
SUPPORTED = "GPTBigCode (StarCoder, StarCoderBase, SantaCoder-style MQA) and StarCoder2"

# Architectures that look close to a supported one but are not convertible, with what to do instead.
NOT_CONVERTIBLE = {
    "GPT2LMHeadCustomModel": "this is bigcode/santacoder's `main` branch, a remote-code GPT-2 variant — convert "
                             "bigcode/gpt_bigcode-santacoder instead (the same model as a standard GPTBigCode checkpoint)",
}

OUT_TYPES = ("F32", "F16", "BF16")
_BLOCK = re.compile(r"\.(?:h|layers)\.(\d+)\.")
_GGUF_BLOCK = re.compile(r"^blk\.(\d+)\.(.+)$")


def detect_arch(config: dict, where: Path) -> ArchSpec:
    names = list(config.get("architectures") or []) + [config.get("model_type") or ""]
    for name in names:
        if name in NOT_CONVERTIBLE:
            raise QuantError(f"{where}: architecture {name} is not supported: {NOT_CONVERTIBLE[name]}")
    for spec in ARCHS.values():
        if any(n in spec.hf_names for n in names):
            return spec
    shown = ", ".join(n for n in names if n) or "unknown"
    raise QuantError(f"{where}: architecture {shown} is not supported — starassist quantizes {SUPPORTED}")


class Shapes:
    """Tensor shapes by HF name, with a one-line error for a tensor that a checkpoint must have."""

    def __init__(self, shapes: Mapping[str, tuple[int, ...]], where: Path) -> None:
        self.shapes = shapes
        self.where = where

    def __call__(self, name: str) -> tuple[int, ...]:
        if name not in self.shapes:
            raise QuantError(f"{self.where}: the weights have no tensor {name} — the checkpoint is incomplete "
                             "or not a standard one")
        return self.shapes[name]


def _block_count(spec: ArchSpec, c: dict, names: Iterable[str]) -> int:
    if c.get(spec.layers_key) is not None:
        return int(c[spec.layers_key])
    found = {int(m.group(1)) for n in names if (m := _BLOCK.search(n))}
    if not found:
        raise QuantError(f"config.json has no {spec.layers_key} and the weights have no blocks")
    return max(found) + 1


def _starcoder_hparams(c: dict, shape: Shapes) -> dict:
    vocab_rows, n_embd = shape("transformer.wte.weight")
    n_head = int(c["n_head"])
    qkv_rows = shape("transformer.h.0.attn.c_attn.weight")[0]
    head_dim = n_embd // n_head
    return {
        # llama.cpp checks position_embd against the context length: the table's rows are the truth.
        "context_length": shape("transformer.wpe.weight")[0],
        "embedding_length": n_embd,
        "feed_forward_length": shape("transformer.h.0.mlp.c_fc.weight")[0],
        "head_count": n_head,
        "head_count_kv": (qkv_rows - n_embd) // (2 * head_dim),  # 1 for multi-query attention
        "layer_norm_eps": float(c.get("layer_norm_epsilon", 1e-5)),
        "vocab_rows": vocab_rows,
    }


def _starcoder2_hparams(c: dict, shape: Shapes) -> dict:
    vocab_rows, hidden = shape("model.embed_tokens.weight")
    n_head = int(c["num_attention_heads"])
    rope = c.get("rope_theta") or (c.get("rope_parameters") or {}).get("rope_theta", 10000.0)
    return {
        "context_length": int(c.get("max_position_embeddings", 4096)),  # transformers' default too
        "embedding_length": hidden,
        "feed_forward_length": shape("model.layers.0.mlp.c_fc.weight")[0],
        "head_count": n_head,
        "head_count_kv": shape("model.layers.0.self_attn.k_proj.weight")[0] // (hidden // n_head),
        "layer_norm_eps": float(c.get("norm_epsilon", 1e-5)),
        "rope_freq_base": float(rope),
        "vocab_rows": vocab_rows,
    }


HPARAMS = {"starcoder": _starcoder_hparams, "starcoder2": _starcoder2_hparams}


def model_hparams(spec: ArchSpec, config: dict, shapes: Mapping[str, tuple[int, ...]], where: Path) -> dict:
    """Hyper-parameters under GGUF's names (the writer's add_* methods), plus `vocab_rows`: the embedding's
    rows. Sizes come from the tensors; config.json gives what shapes cannot (heads, epsilon, RoPE base)."""
    try:
        hp = HPARAMS[spec.gguf_arch](config, Shapes(shapes, where))
        hp["block_count"] = _block_count(spec, config, shapes)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise QuantError(f"config.json lacks or has a bad value for {exc} — is it a {spec.gguf_arch} config?") from None
    declared = config.get("vocab_size")
    if declared is not None and int(declared) != hp["vocab_rows"]:
        raise QuantError(f"{where}: config.json says vocab_size {declared} but the embedding has "
                         f"{hp['vocab_rows']} rows — the config does not belong to these weights")
    return hp


def arch_warnings(spec: ArchSpec, config: dict, hp: dict) -> list[str]:
    window = config.get("sliding_window")
    if spec.gguf_arch == "starcoder2" and window and hp["context_length"] > int(window):
        return [f"the model was trained with a {window}-token sliding window, which llama.cpp does not apply to "
                f"starcoder2: beyond {window} tokens of context it attends differently than in training — keep "
                f"model.context_length at {window} or less"]
    return []


@dataclass
class ConvertResult:
    path: Path
    arch: str
    out_type: str
    tensors: int
    source_bytes: int
    output_bytes: int
    seconds: float
    warnings: list[str] = field(default_factory=list)


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


def check_complete(plan: list[tuple[str, str]], spec: ArchSpec, n_blocks: int, where: Path) -> None:
    """Every block has block 0's tensors and the architecture's global tensors are there: a checkpoint with a
    shard missing is refused before anything is written."""
    names = {g for _, g in plan}
    blocks: dict[int, set[str]] = {i: set() for i in range(n_blocks)}
    for name in names:
        m = _GGUF_BLOCK.match(name)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(m.group(2))
    want = blocks.get(0) or set()
    problems = [f"no {n}" for n in spec.required if n not in names]
    if not want:
        problems.append("block 0 is empty")
    for i, have in sorted(blocks.items()):
        if i >= n_blocks:
            problems.append(f"block {i} is beyond the {n_blocks} blocks of config.json")
        elif have != want:
            lacking = sorted(want - have) or sorted(have - want)
            problems.append(f"block {i} {'lacks' if want - have else 'has extra'} {', '.join(lacking[:3])}")
    if problems:
        more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
        raise QuantError(f"{where}: the weights are incomplete: {'; '.join(problems[:2])}{more} — is a shard missing? "
                         "Finish the download and try again")


def _reorder(spec: ArchSpec, hp: dict, hf_name: str, data: np.ndarray) -> np.ndarray:
    """GPTBigCode without multi-query attention fuses QKV per head ([q_h, k_h, v_h] for each head h);
    llama.cpp wants all queries, then all keys, then all values."""
    if spec.gguf_arch != "starcoder" or hp["head_count_kv"] == 1 or ".attn.c_attn." not in hf_name:
        return data
    n_head = hp["head_count"]
    head_dim = hp["embedding_length"] // n_head
    rest = data.shape[1:]
    return data.reshape(n_head, 3, head_dim, *rest).swapaxes(0, 1).reshape(data.shape)


def _out_dtype(out_type: str, shape: tuple[int, ...], keep_f32: bool):
    """(numpy dtype to convert to, ggml raw type or None). Norms, biases and other 1-D tensors stay F32, and
    so do tensors whose values F16 cannot hold."""
    import gguf

    if out_type == "F32" or len(shape) < 2 or keep_f32:
        return np.float32, None
    if out_type == "F16":
        return np.float16, None
    return np.float32, gguf.GGMLQuantizationType.BF16


def to_f16(data: np.ndarray) -> np.ndarray | None:
    """`data` in F16, or None when finite values would become infinite (|x| beyond 65504, after rounding)."""
    with np.errstate(over="ignore"):
        half = data.astype(np.float16)
    if not np.isfinite(half).all() and np.isfinite(data).all():
        return None
    return half


class F16Overflow(Exception):
    """A tensor met while writing F16 has values beyond F16's range (the write starts again)."""


def convert_hf(
    src: Path,
    out: Path,
    *,
    out_type: str = "F16",
    allow_pickle: bool = False,
    progress: ProgressFn | None = None,
    name: str | None = None,
    verify: VerifyFn | None = None,
) -> ConvertResult:
    if out_type not in OUT_TYPES:
        raise QuantError(f"conversion output type {out_type} is not one of {', '.join(OUT_TYPES)}")
    t0 = time.perf_counter()
    ckpt = Checkpoint(src, allow_pickle=allow_pickle)
    spec = detect_arch(ckpt.config, src)
    refs = ckpt.refs  # indexes the weights: missing or unreadable shards fail here
    hp = model_hparams(spec, ckpt.config, {n: r.shape for n, r in refs.items()}, src)
    vocab = read_vocab(src, hp.pop("vocab_rows"))
    plan = tensor_plan(ckpt, spec, hp["block_count"])
    check_complete(plan, spec, hp["block_count"], src)
    warnings = arch_warnings(spec, ckpt.config, hp)
    keep_f32: set[str] = set()
    with atomic_output(out) as tmp:
        try:
            _write(tmp, ckpt, spec, hp, vocab, plan, out_type, keep_f32, name or src.name, progress)
        except F16Overflow:
            # Rare: find every such tensor (one read of the weights), keep them in F32 and write again.
            keep_f32 = {g for h, g in plan if len(refs[h].shape) >= 2 and to_f16(ckpt.tensor(h)) is None}
            _write(tmp, ckpt, spec, hp, vocab, plan, out_type, keep_f32, name or src.name, progress)
            warnings.append(f"{len(keep_f32)} tensor(s) hold values beyond F16's range ({sorted(keep_f32)[0]}, …): "
                            "they were kept in F32 instead of becoming infinite")
        if verify is not None:
            verify(tmp)
    return ConvertResult(out, spec.gguf_arch, out_type, len(plan), ckpt.weight_bytes, out.stat().st_size,
                         time.perf_counter() - t0, warnings)


def _write(tmp: Path, ckpt: Checkpoint, spec: ArchSpec, hp: dict, vocab, plan: list[tuple[str, str]],
           out_type: str, keep_f32: set[str], name: str, progress: ProgressFn | None) -> None:
    import gguf

    writer = gguf.GGUFWriter(tmp, spec.gguf_arch)
    try:
        writer.add_name(name)
        writer.add_file_type({"F32": gguf.LlamaFileType.ALL_F32, "F16": gguf.LlamaFileType.MOSTLY_F16,
                              "BF16": gguf.LlamaFileType.MOSTLY_BF16}[out_type])
        for key, value in hp.items():
            getattr(writer, f"add_{key}")(value)
        write_vocab(writer, vocab)
        types = {}
        for hf_name, gguf_name in plan:
            ref = ckpt.refs[hf_name]
            dtype, raw = types[hf_name] = _out_dtype(out_type, ref.shape, gguf_name in keep_f32)
            numel = int(np.prod(ref.shape)) if ref.shape else 1
            nbytes = numel * (2 if raw is not None else np.dtype(dtype).itemsize)
            writer.add_tensor_info(gguf_name, ref.shape, np.dtype(dtype), nbytes, raw_dtype=raw)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        total = sum(ckpt.refs[h].nbytes for h, _ in plan)
        done = 0
        for hf_name, gguf_name in plan:
            dtype, raw = types[hf_name]
            data = _reorder(spec, hp, hf_name, ckpt.tensor(hf_name).astype(np.float32, copy=False))
            if raw is not None:
                data = gguf.quants.quantize(data, raw)
            elif dtype == np.float16:
                half = to_f16(data)
                if half is None:
                    raise F16Overflow(gguf_name)
                data = half
            writer.write_tensor_data(np.ascontiguousarray(data))
            del data
            done += ckpt.refs[hf_name].nbytes
            if progress:
                progress(done, total, gguf_name)
    finally:
        writer.close()
