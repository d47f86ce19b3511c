"""Plan which KV-cache entries of the previous prompt a new prompt can keep (pure; no llama.cpp here).

A FIM prompt is `<fim_prefix>prefix<fim_suffix>suffix<fim_middle>`: a key typed at the end of the prefix shifts
everything after it, so keeping only the common prefix re-evaluates the whole suffix on every keystroke. For
models with rotary positions the cached keys can be moved to new positions, so after the common prefix we look
for runs of the old prompt that appear again in the new one (the unchanged suffix, other files' context) and
keep them shifted; only the tokens in between are evaluated. llama-server's `n_cache_reuse` does this greedily
with one minimum chunk size; we do the same walk, with a small default minimum because a shift is almost free.

The plan is a list of operations applied in order to a cache holding `old` at positions 0..len(old)-1:
  Keep(n)                  old[0:n] stays where it is (the common prefix)
  Drop(p0, p1)             remove old positions [p0, p1)
  Shift(p0, p1, delta)     move old positions [p0, p1) by delta (already-kept tokens are never overlapped)
  Evaluate(start, stop)    compute new[start:stop] at positions start..stop-1
After the plan the cache holds exactly `new` at positions 0..len(new)-1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Keep:
    count: int


@dataclass(frozen=True)
class Drop:
    start: int
    stop: int


@dataclass(frozen=True)
class Shift:
    start: int
    stop: int
    delta: int


@dataclass(frozen=True)
class Evaluate:
    start: int
    stop: int


Op = Keep | Drop | Shift | Evaluate


@dataclass(frozen=True)
class Plan:
    ops: tuple[Op, ...]
    evaluated: int  # new-prompt tokens that must be computed
    reused_chunks: int  # shifted chunks kept (the common prefix not counted)


def common_prefix(old: Sequence[int], new: Sequence[int]) -> int:
    n = 0
    for a, b in zip(old, new, strict=False):
        if a != b:
            break
        n += 1
    return n


def _chunk_at(old: Sequence[int], new: Sequence[int], i: int, j_from: int, min_chunk: int) -> tuple[int, int]:
    """The longest run new[i:i+n] == old[j:j+n] with j >= j_from and n >= min_chunk: (j, n), or (-1, 0)."""
    best_j, best_n = -1, 0
    first = new[i]
    for j in range(j_from, len(old)):
        if old[j] != first:
            continue
        n = 0
        while i + n < len(new) and j + n < len(old) and old[j + n] == new[i + n]:
            n += 1
        if n > best_n:
            best_j, best_n = j, n
    return (best_j, best_n) if best_n >= min_chunk else (-1, 0)


def plan_reuse(old: Sequence[int], new: Sequence[int], *, min_chunk: int = 4, can_shift: bool = True,
               contiguous: bool = False) -> Plan:
    """Operations that turn a cache holding `old` into one holding `new`, evaluating as little as we can find.

    Chunks are matched in order (old positions only move forward), so kept entries never cross each other;
    with `can_shift=False` (learned absolute positions, e.g. StarCoder) only the common prefix is kept.
    `contiguous=True` keeps only chunks with no evaluated token before them (what llama.cpp's one-sequence
    decode accepts: a batch must start right after the sequence's last cached position), as llama-server does.
    """
    keep = common_prefix(old, new)
    if keep == len(new) and keep > 0:
        keep -= 1  # the last prompt token is evaluated again: generation needs its logits
    ops: list[Op] = [Keep(keep)] if keep else []
    if not can_shift:
        if keep < len(old):
            ops.append(Drop(keep, len(old)))
        if keep < len(new):
            ops.append(Evaluate(keep, len(new)))
        return Plan(tuple(ops), len(new) - keep, 0)

    i, j = keep, keep  # next new index to place, next old index still available
    evaluated = chunks = 0
    pending = i  # start of a run of new tokens that must be evaluated
    moves: list[Op] = []
    last = len(new) - 1  # never reuse the last token: its logits are needed
    while i < last:
        oj, n = _chunk_at(old, new, i, j, min_chunk)
        if n:
            n = min(n, last - i)
        if n < min_chunk:
            if contiguous:
                break
            i += 1
            continue
        if pending < i:
            moves.append(Evaluate(pending, i))
            evaluated += i - pending
        if j < oj:
            moves.append(Drop(j, oj))
        moves.append(Shift(oj, oj + n, i - oj))
        chunks += 1
        i += n
        j = oj + n
        pending = i
    if j < len(old):
        moves.append(Drop(j, len(old)))
    if pending < len(new):
        moves.append(Evaluate(pending, len(new)))
        evaluated += len(new) - pending
    # Drops first: a shifted chunk may land where a dropped stretch was. Shifts left-to-right for negative
    # deltas and right-to-left for positive ones so no chunk lands on one not yet moved.
    drops = [m for m in moves if isinstance(m, Drop)]
    shifts = [m for m in moves if isinstance(m, Shift)]
    evals = [m for m in moves if isinstance(m, Evaluate)]
    left = [s for s in shifts if s.delta < 0]
    right = [s for s in shifts if s.delta > 0][::-1]
    # delta 0: the chunk is already where it belongs
    ops += drops + left + right + evals
    return Plan(tuple(ops), evaluated, chunks)


def apply_to_list(old: Sequence[int], new: Sequence[int], plan: Plan) -> list[int | None]:
    """Simulate the plan on a position->token map (the test oracle: must equal `new`)."""
    cache: dict[int, int] = dict(enumerate(old))
    for op in plan.ops:
        if isinstance(op, Keep):
            continue
        if isinstance(op, Drop):
            for p in range(op.start, op.stop):
                cache.pop(p, None)
        elif isinstance(op, Shift):
            moved = {p + op.delta: cache.pop(p) for p in range(op.start, op.stop) if p in cache}
            assert not moved.keys() & cache.keys(), "a shift landed on a kept entry"
            cache.update(moved)
        elif isinstance(op, Evaluate):
            for p in range(op.start, op.stop):
                cache[p] = new[p]
    return [cache.get(p) for p in range(max(cache, default=-1) + 1)]
