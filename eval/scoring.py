"""Pure scoring: pass@k (the unbiased estimator of the Codex paper), Wilson 95% intervals, exact match and edit
similarity, and HumanEval's stop-sequence truncation for the raw model."""

from __future__ import annotations

import math
from collections.abc import Sequence
from difflib import SequenceMatcher

# The standard HumanEval stop sequences (a new top-level statement ends the function body).
HUMANEVAL_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")


def truncate_at_stops(text: str, stops: Sequence[str] = HUMANEVAL_STOPS) -> str:
    """`text` up to the earliest stop sequence (the raw model's only post-processing)."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn from n (c correct) passes: 1 - C(n-c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def wilson(successes: float, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a rate; (0, 1) when there is nothing to score."""
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def exact_match(got: str, want: str) -> bool:
    """Equal up to trailing whitespace on each line and at the end (editors differ there, code does not)."""
    def norm(s: str) -> str:
        return "\n".join(line.rstrip() for line in s.rstrip().splitlines())

    return norm(got) == norm(want)


def edit_similarity(got: str, want: str) -> float:
    """1.0 for identical texts, 0.0 for nothing in common (difflib's ratio over characters)."""
    if not got and not want:
        return 1.0
    return SequenceMatcher(None, got, want, autojunk=False).ratio()
