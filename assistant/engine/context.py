"""Token-budgeted text window around the cursor. Pure functions: text in, text out.

The window is cut at line boundaries and its first line is aligned to a multiple of `ALIGN_LINES`. While the user
types on one line nothing but the cursor line's text may change: the lines before it, the suffix and the window's
start depend only on text the keystroke does not touch and on the cursor line's size in steps of `HEAD_STEP`
tokens. So with the typed text last in the prompt (SPM) the prompt only grows at its end and the KV cache keeps
everything before it; in PSM the suffix after it is at least the same text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .textpos import split_lines

ALIGN_LINES = 16
# Tokens reserved for the cursor line grow in these steps, so a keystroke almost never moves the other lines.
HEAD_STEP = 32


@dataclass(frozen=True)
class Window:
    prefix: str
    suffix: str
    prefix_tokens: int
    suffix_tokens: int
    first_line: int  # 0-based line where the prefix starts
    truncated_prefix: bool
    truncated_suffix: bool


def _take_prefix(lines: list[str], budget: int, count: Callable[[str], int]) -> tuple[int, int]:
    """Index of the first full line kept (from the end of `lines`) within `budget`, and the tokens used."""
    used = 0
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

    head_tokens = count_tokens(head)
    head_reserve = min(prefix_budget, (head_tokens // HEAD_STEP + 1) * HEAD_STEP)
    # Share the prefix leaves unused goes to the suffix (near the top of a file). Measured with the reserve, not
    # the cursor line itself, so the suffix stays the same while the user types.
    before_need = head_reserve
    for line in reversed(before_lines):
        if before_need >= prefix_budget:
            break
        before_need += count_tokens(line)
    suffix_room = suffix_budget + max(0, prefix_budget - before_need)
    kept: list[str] = []
    suffix_used = 0
    for line in after_lines:
        cost = count_tokens(line)
        if suffix_used + cost > suffix_room:
            break
        kept.append(line)
        suffix_used += cost
    suffix = "".join(kept)
    # Whatever the suffix leaves goes to the prefix's full lines.
    start, lines_used = _take_prefix(before_lines, budget - suffix_used - head_reserve, count_tokens)
    prefix = "".join(before_lines[start:]) + head
    prefix_used = lines_used + head_tokens
    return Window(
        prefix=prefix,
        suffix=suffix,
        prefix_tokens=prefix_used,
        suffix_tokens=suffix_used,
        first_line=start,
        truncated_prefix=start > 0,
        truncated_suffix=len(kept) < len(after_lines),
    )
