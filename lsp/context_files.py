"""Snippets of other open documents for the prompt, most relevant first.

Relevance is identifier overlap (Jaccard) between a window of lines of the other document and the text near
the cursor: cheap, deterministic, and it finds the definitions the user is about to call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
# Very common words carry no signal about which file is related.
_STOP = frozenset(
    "the and for not def self return import from class none true false else elif while with this that var let "
    "const function int str".split()
)


def identifiers(text: str) -> set[str]:
    return {w for w in _IDENT.findall(text) if w.lower() not in _STOP}


def _windows(lines: list[str], size: int, step: int) -> list[tuple[int, int]]:
    if len(lines) <= size:
        return [(0, len(lines))]
    spans = [(s, s + size) for s in range(0, len(lines) - size + 1, step)]
    if spans[-1][1] < len(lines):
        spans.append((len(lines) - size, len(lines)))
    return spans


def best_snippet(query: set[str], text: str, window_lines: int = 40) -> tuple[float, str]:
    """The window of `text` with the highest identifier overlap with `query`, and its score."""
    lines = text.split("\n")
    best = (0.0, "")
    for start, end in _windows(lines, window_lines, max(1, window_lines // 2)):
        chunk = "\n".join(lines[start:end])
        ids = identifiers(chunk)
        if not ids:
            continue
        score = len(query & ids) / len(query | ids)
        if score > best[0]:
            best = (score, chunk)
    return best


def rank_snippets(
    text: str,
    offset: int,
    others: Sequence[tuple[str, str]],
    *,
    near_lines: int = 30,
    window_lines: int = 40,
    limit: int = 4,
) -> list[tuple[str, str]]:
    """(path, snippet) of other documents sharing identifiers with the text near the cursor, best first."""
    # The cursor line's text before the cursor is left out: the query (so the snippets, which come first in the
    # prompt) must not change while the user types, or the KV cache would be lost at every keystroke.
    line_start = text.rfind("\n", 0, offset) + 1
    before = text[:line_start].split("\n")[-near_lines:]
    after = text[offset:].split("\n")[: near_lines // 3]
    query = identifiers("\n".join(before + after))
    if not query:
        return []
    scored: list[tuple[float, str, str]] = []
    for path, other in others:
        score, snippet = best_snippet(query, other, window_lines)
        if score > 0 and snippet.strip():
            scored.append((score, path, snippet))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [(path, snippet) for _, path, snippet in scored[:limit]]
