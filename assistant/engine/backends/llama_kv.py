"""Apply a `kv_reuse.Plan` to a llama-cpp-python `Llama`'s one sequence through llama.cpp's memory API.

`Llama.eval` always removes every cached position from `n_tokens` on, so the evaluated stretches are decoded
here with explicit positions (they sit between shifted chunks); `input_ids`/`n_tokens` are then set to the new
prompt so later `eval` calls (generation) append after it as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..kv_reuse import Drop, Evaluate, Plan, Shift, plan_reuse

if TYPE_CHECKING:
    import llama_cpp

SEQ = 0
# llama.cpp reports a rope type even for these, but their positions are learned embeddings added to the input.
LEARNED_POSITION_ARCHS = frozenset({"starcoder", "gpt2"})


def can_shift(llm: llama_cpp.Llama) -> bool:
    """Cached keys can be moved only for rotary positions (learned absolute positions, as in StarCoder, are
    baked into the keys) and only when llama.cpp's memory supports it for this model."""
    import llama_cpp

    if llm.metadata.get("general.architecture") in LEARNED_POSITION_ARCHS:
        return False
    rope = llama_cpp.llama_model_rope_type(llm._model.model)
    return rope != llama_cpp.LLAMA_ROPE_TYPE_NONE and bool(llama_cpp.llama_memory_can_shift(llm._ctx.memory))


def prefill_with_reuse(llm: llama_cpp.Llama, prompt: Sequence[int], n_batch: int, *, shift: bool,
                       min_chunk: int, cancel: Callable[[], bool] | None) -> tuple[Plan, bool]:
    """Bring the cache from the last evaluated tokens to `prompt`. Returns (the plan used, cancelled)."""
    old = llm._input_ids.tolist()
    plan = plan_reuse(old, prompt, min_chunk=min_chunk, can_shift=shift, contiguous=True)
    ctx = llm._ctx
    ctx.kv_cache_seq_rm(SEQ, len(old), -1)  # a cancelled prefill may have left entries past n_tokens
    first_eval = len(prompt)
    for op in plan.ops:
        if isinstance(op, Drop):
            ctx.kv_cache_seq_rm(SEQ, op.start, op.stop)
        elif isinstance(op, Shift):
            ctx.kv_cache_seq_shift(SEQ, op.start, op.stop, op.delta)
        elif isinstance(op, Evaluate):
            first_eval = min(first_eval, op.start)
    # From here the cache is consistent for positions < first_eval; record that in case we are cancelled.
    llm.input_ids[:first_eval] = prompt[:first_eval]
    llm.n_tokens = first_eval
    for op in plan.ops:
        if not isinstance(op, Evaluate):
            continue
        for start in range(op.start, op.stop, n_batch):
            if cancel is not None and cancel():
                ctx.kv_cache_seq_rm(SEQ, llm.n_tokens, -1)
                return plan, True
            batch = list(prompt[start : min(op.stop, start + n_batch)])
            llm._batch.set_batch(batch=batch, n_past=start, logits_all=False)
            ctx.decode(llm._batch)
            llm.input_ids[start : start + len(batch)] = batch
            if llm.n_tokens == start:  # contiguous from the start: still a consistent prefix
                llm.n_tokens = start + len(batch)
    llm.input_ids[: len(prompt)] = prompt
    llm.n_tokens = len(prompt)
    return plan, False
