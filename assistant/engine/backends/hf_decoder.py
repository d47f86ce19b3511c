"""A static-KV-cache forward for the transformers backend, and its decode step captured as a CUDA graph.

transformers' own forward builds masks, cache objects and output records in Python at every token; on a GPU
that overhead, not the weights, bounds decode speed (gpt-fast's observation). Here the model's own modules
(embeddings, norms, projections, MLPs; bitsandbytes layers included) are called in a fixed order over
preallocated K/V buffers, one per layer, of the context's full length:

- prefix reuse across keystrokes is moving a position pointer: positions past it are stale, and the causal mask
  (key position <= query position) never reads them before they are written again;
- a one-token step has fixed shapes and no host synchronisation, so on CUDA it is captured once as a graph and
  replayed per token (one launch instead of hundreds);
- the prefill stays eager and batched, attending only to the filled part of the buffers.

Architectures are data (`LAYOUTS`): where each module sits and how attention's inputs are laid out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Layout:
    """Where an architecture keeps its modules (attribute paths from the CausalLM) and how q/k/v come out."""

    layers: str
    final_norm: str
    norm1: str  # before attention
    norm2: str  # before the MLP
    qkv: tuple[str, ...]  # three projections, or one fused projection
    out_proj: str
    mlp: str
    rotary: str = ""  # rotary embedding module (cos, sin from positions), or "" for none
    positions: str = ""  # learned position embedding, or "" for none
    fused: str = ""  # "split": [q | k | v] along the features; "per_head": [q k v] per head


_LLAMA_LIKE = Layout(layers="model.layers", final_norm="model.norm", norm1="input_layernorm",
                     norm2="post_attention_layernorm", qkv=("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
                     out_proj="self_attn.o_proj", mlp="mlp", rotary="model.rotary_emb")

# model_type -> layout. StarCoder2 and the Llama family share module names (their norms and MLPs differ, but
# those are called as modules); GPTBigCode (StarCoder, SantaCoder) has learned positions and a fused c_attn.
LAYOUTS: dict[str, Layout] = {
    "starcoder2": _LLAMA_LIKE,
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "gpt_bigcode": Layout(layers="transformer.h", final_norm="transformer.ln_f", norm1="ln_1", norm2="ln_2",
                          qkv=("attn.c_attn",), out_proj="attn.c_proj", mlp="mlp", positions="transformer.wpe",
                          fused="split"),
}


def _get(root: torch.nn.Module, path: str) -> torch.nn.Module:
    for part in path.split("."):
        root = getattr(root, part)
    return root


@dataclass(frozen=True)
class Shape:
    heads: int
    kv_heads: int
    head_dim: int
    scale: float
    window: int  # sliding attention window in tokens; 0 = none


def unsupported_reason(config: Any) -> str:
    """Why the static decoder cannot run this model ("" when it can)."""
    arch = str(getattr(config, "model_type", "?"))
    if arch not in LAYOUTS:
        return f"the static-cache decoder knows {', '.join(sorted(LAYOUTS))}, not {arch}"
    if arch == "gpt_bigcode" and getattr(config, "add_cross_attention", False):
        return "GPTBigCode with cross-attention is not a decoder-only model"
    if getattr(config, "partial_rotary_factor", 1.0) not in (1, 1.0, None):
        return "partial rotary embeddings are not supported by the static-cache decoder"
    return ""


def _shape(config: Any) -> tuple[Layout, Shape]:
    arch = str(config.model_type)
    layout = LAYOUTS[arch]
    heads = int(config.num_attention_heads)
    if arch == "gpt_bigcode":
        head_dim = int(config.hidden_size) // heads
        kv_heads = 1 if config.multi_query else heads
        scale = head_dim**-0.5 if config.scale_attn_weights else 1.0
        if not config.multi_query:
            layout = Layout(**{**layout.__dict__, "fused": "per_head"})
        return layout, Shape(heads, kv_heads, head_dim, scale, 0)
    head_dim = int(getattr(config, "head_dim", None) or int(config.hidden_size) // heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    window = getattr(config, "sliding_window", None) or 0
    if arch == "qwen2" and not getattr(config, "use_sliding_window", False):
        window = 0
    return layout, Shape(heads, kv_heads, head_dim, head_dim**-0.5, int(window))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _write(buffer: torch.Tensor, positions: torch.Tensor, states: torch.Tensor) -> None:
    """Store `states` (1, KV, n, d) at `positions` of `buffer` (1, KV, capacity, d), in place."""
    try:
        buffer.index_copy_(2, positions, states.to(buffer.dtype))
    except NotImplementedError:  # devices without index_copy_ (older MPS builds)
        buffer[:, :, positions] = states.to(buffer.dtype)


def query_mask(allowed: torch.Tensor, group: int, dtype: torch.dtype) -> torch.Tensor:
    """The additive attention mask for `attend`'s query rows, from `allowed` (n, L) bool; made once per forward."""
    n, length = allowed.shape
    rows = allowed.expand(group, n, length).reshape(group * n, length)
    return torch.zeros(rows.shape, dtype=dtype, device=rows.device).masked_fill_(~rows, float("-inf"))


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """Grouped-query attention without repeating K/V: the query heads that share a K/V head become extra query
    rows of that head. q (1, H, n, d); k, v (1, KV, L, d); mask from `query_mask`. Returns (1, H, n, d)."""
    b, heads, n, d = q.shape
    rows = q.reshape(b, k.shape[1], heads // k.shape[1] * n, d)
    out = F.scaled_dot_product_attention(rows, k, v, attn_mask=mask, scale=scale)
    return out.reshape(b, heads, n, d)


class StaticDecoder:
    """An HF causal LM's forward over preallocated K/V buffers of `capacity` positions."""

    def __init__(self, model: torch.nn.Module, capacity: int) -> None:
        self.layout, self.shape = _shape(model.config)
        self.model = model
        self.capacity = capacity
        lay = self.layout
        self.blocks = list(_get(model, lay.layers))
        self.embed = model.get_input_embeddings()
        self.head = model.get_output_embeddings()
        self.final_norm = _get(model, lay.final_norm)
        self.rotary = _get(model, lay.rotary) if lay.rotary else None
        self.positions = _get(model, lay.positions) if lay.positions else None
        device = self.embed.weight.device
        dtype = self.embed.weight.dtype  # the hidden states' (embeddings are never quantized)
        s = self.shape
        self.keys = [torch.zeros((1, s.kv_heads, capacity, s.head_dim), dtype=dtype, device=device) for _ in self.blocks]
        self.values = [torch.zeros_like(k) for k in self.keys]
        self.key_positions = torch.arange(capacity, device=device)
        self.device = device

    @property
    def kv_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)

    def _qkv(self, block: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s, n = self.shape, x.shape[1]
        if len(self.layout.qkv) == 3:
            q, k, v = (_get(block, p)(x) for p in self.layout.qkv)
        elif self.layout.fused == "split":
            q, k, v = _get(block, self.layout.qkv[0])(x).split(
                (s.heads * s.head_dim, s.kv_heads * s.head_dim, s.kv_heads * s.head_dim), dim=-1)
        else:  # per_head: each head's [q k v] side by side
            fused = _get(block, self.layout.qkv[0])(x).view(1, n, s.heads, 3 * s.head_dim)
            q, k, v = (t.reshape(1, n, s.heads * s.head_dim) for t in fused.split(s.head_dim, dim=-1))
        q = q.view(1, n, s.heads, s.head_dim).transpose(1, 2)
        k = k.view(1, n, s.kv_heads, s.head_dim).transpose(1, 2)
        v = v.view(1, n, s.kv_heads, s.head_dim).transpose(1, 2)
        return q, k, v

    def forward(self, ids: torch.Tensor, positions: torch.Tensor, span: int | None = None) -> torch.Tensor:
        """Evaluate `ids` (1, n) at `positions` (n,), writing their K/V; returns the last position's logits
        (vocab,). Attention reads the first `span` buffer positions (None: all, fixed shapes for a graph)."""
        s = self.shape
        span = self.capacity if span is None else span
        h = self.embed(ids)
        if self.positions is not None:
            h = h + self.positions(positions[None])
        rope = tuple(t.unsqueeze(1) for t in self.rotary(h, positions[None])) if self.rotary is not None else None
        keys = self.key_positions[:span]
        allowed = keys[None, :] <= positions[:, None]
        if s.window:
            allowed = allowed & (keys[None, :] > positions[:, None] - s.window)
        mask = query_mask(allowed, s.heads // s.kv_heads, h.dtype)
        for block, key_buf, value_buf in zip(self.blocks, self.keys, self.values, strict=True):
            x = _get(block, self.layout.norm1)(h)
            q, k, v = self._qkv(block, x)
            if rope is not None:
                cos, sin = rope
                q = q * cos + _rotate_half(q) * sin
                k = k * cos + _rotate_half(k) * sin
            _write(key_buf, positions, k)
            _write(value_buf, positions, v)
            out = attend(q, key_buf[:, :, :span], value_buf[:, :, :span], mask, s.scale)
            h = h + _get(block, self.layout.out_proj)(out.transpose(1, 2).reshape(1, ids.shape[1], -1))
            h = h + _get(block, self.layout.mlp)(_get(block, self.layout.norm2)(h))
        return self.head(self.final_norm(h[:, -1:]))[0, 0]


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """|got - want| / |want| (L2), NaN when either has a non-finite value."""
    return float((got - want).norm() / want.norm().clamp_min(1e-12))


class CapturedStep:
    """`StaticDecoder.forward` for one token, captured as a CUDA graph: a step is two small copies and one replay.

    Capture writes K/V at the buffers' last position, which only a completely full context uses (and a real step
    writes before it reads); callers drop that position from their reusable prefix.
    """

    def __init__(self, decoder: StaticDecoder) -> None:
        device = decoder.device
        self.ids = torch.zeros((1, 1), dtype=torch.long, device=device)
        self.positions = torch.full((1,), decoder.capacity - 1, dtype=torch.long, device=device)
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):  # warm-up: lazy initialisations (cuBLAS workspaces, kernels' first use)
            for _ in range(3):
                decoder.forward(self.ids, self.positions)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            self.logits = decoder.forward(self.ids, self.positions)
        torch.cuda.synchronize(device)
        # The graph must compute what the eager step computes (a library that syncs or allocates on the host
        # inside a layer would capture something else).
        self(0, decoder.capacity - 1)
        replayed = self.logits.float().clone()
        eager = decoder.forward(self.ids, self.positions).float()
        error = relative_error(replayed, eager)
        if not error <= 0.05:  # bf16 rounding (cuBLAS may pick other kernels inside a capture) stays far below
            raise RuntimeError(f"the captured graph's logits differ from the eager step's (relative error {error:.2g})")

    def __call__(self, token: int, position: int) -> torch.Tensor:
        self.ids.fill_(token)
        self.positions.fill_(position)
        self.graph.replay()
        return self.logits
