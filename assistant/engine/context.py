"""Token-budgeted text window around the cursor. Pure functions: text in, text out.

The window is cut at line boundaries and its first line is aligned to a multiple of `ALIGN_LINES`, so while the
user types on one line the window's start does not move and the prompt only changes near the cursor: the KV
cache keeps everything before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .textpos import split_lines

ALIGN_LINES = 16



@dataclass(frozen=True)
class Window:
    prefix: str
    suffix: str
    prefix_tokens: int
    suffix_tokens: int
    first_line: int  # 0-based line where the prefix starts
    truncated_prefix: bool
    truncated_suffix: bool


def _take_prefix(lines: list[str], head: str, budget: int, count: Callable[[str], int]) -> tuple[int, int]:
    """Index of the first full line kept before `head` (the cursor line's text) and the tokens used."""
    used = count(head)
    start = len(lines)
    while start > 0:
        cost = count(lines[start - 1])
        if used + cost > budget:
            break
        used += cost
        start -= 1
    if start > 0 and start % ALIGN_LINES:
        # Align to a fixed grid so the window's first line is stable while typing.
        aligned = min(len(lines), (start // ALIGN_LINES + 1) * ALIGN_LINES)
        used -= sum(count(line) for line in lines[start:aligned])
        start = aligned
    return start, used


def window(
    text: str,
    offset: int,
    *,
    budget: int,
    prefix_share: float,
    count_tokens: Callable[[str], int],
    use_suffix: bool = True,
) -> Window:
    """Prefix and suffix around `offset` that fit `budget` tokens; unused share flows to the other side."""
    before, after = text[:offset], text[offset:]
    # Lines keep their line endings, so joining them gives back the exact text.
    before_lines = split_lines(before)
    head = ""
    if before_lines and not before_lines[-1].endswith(("\n", "\r")):
        head = before_lines.pop()
    after_lines = split_lines(after) if use_suffix else []

    prefix_budget = int(budget * prefix_share) if use_suffix else budget
    suffix_budget = budget - prefix_budget
    if count_tokens(head) > prefix_budget:
        # A very long cursor line (minified code): keep its end, about two characters per token.
        head = head[-max(1, prefix_budget * 2) :]
        while head and count_tokens(head) > prefix_budget:
            head = head[len(head) // 4 :]

    # The suffix is measured first only to learn how much of its share it leaves unused.
    suffix_need = 0
    for line in after_lines:
        suffix_need += count_tokens(line)
        if suffix_need > suffix_budget:
            break
    spare = max(0, suffix_budget - suffix_need)
    start, prefix_used = _take_prefix(before_lines, head, prefix_budget + spare, count_tokens)
    prefix = "".join(before_lines[start:]) + head

    suffix_room = budget - prefix_used
    kept: list[str] = []
    suffix_used = 0
    for line in after_lines:
        cost = count_tokens(line)
        if suffix_used + cost > suffix_room:
            break
        kept.append(line)
        suffix_used += cost
    suffix = "".join(kept)
    return Window(
        prefix=prefix,
        suffix=suffix,
        prefix_tokens=prefix_used,
        suffix_tokens=suffix_used,
        first_line=start,
        truncated_prefix=start > 0,
        truncated_suffix=len(kept) < len(after_lines),
    )
