"""Rates and means with 95% intervals, for the quantization report.

Positions of one text are not independent (a model that loses the thread of a line gets several of its tokens
wrong), so token-level rates are computed over clusters — a FIM example, or a block of a left-to-right
sequence — with the ratio estimator's cluster-robust variance. That variance sets an effective sample size
for a Wilson interval, which stays inside [0, 1] and behaves at rates near 1, where quantized models live.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

Z95 = 1.959963984540054


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (n may be an effective, non-integer size)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Rate:
    rate: float
    low: float
    high: float
    n: int  # units counted (tokens, or examples)
    clusters: int  # independent groups they came in

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _cluster_variance(sums: Sequence[float], counts: Sequence[int], mean: float) -> float:
    """Variance of the ratio mean = sum(sums) / sum(counts) over clusters (0 with fewer than two)."""
    k = len(counts)
    total = sum(counts)
    if k < 2 or total == 0:
        return 0.0
    return k / (k - 1) * sum((s - mean * c) ** 2 for s, c in zip(sums, counts, strict=True)) / total**2


def clustered_rate(hits: Sequence[int], counts: Sequence[int]) -> Rate:
    """Rate of hits over all units, `hits[i]` of `counts[i]` in cluster i, with a 95% interval."""
    pairs = [(h, c) for h, c in zip(hits, counts, strict=True) if c > 0]
    n = sum(c for _, c in pairs)
    k = len(pairs)
    if n == 0:
        return Rate(float("nan"), 0.0, 1.0, 0, 0)
    p = sum(h for h, _ in pairs) / n
    binomial = p * (1 - p) / n
    clustered = _cluster_variance([h for h, _ in pairs], [c for _, c in pairs], p)
    if binomial > 0 and clustered > 0:
        n_eff = min(n, max(k, n * binomial / clustered))
    else:  # every cluster all right (or all wrong): no spread to measure, count clusters only
        n_eff = k if p in (0.0, 1.0) else n
    low, high = wilson(p * n_eff, n_eff)
    return Rate(p, low, high, n, k)


def proportion(hits: Sequence[bool]) -> Rate:
    """Rate of independent yes/no outcomes with a Wilson interval."""
    n = len(hits)
    if n == 0:
        return Rate(float("nan"), 0.0, 1.0, 0, 0)
    k = sum(1 for h in hits if h)
    low, high = wilson(k, n)
    return Rate(k / n, low, high, n, n)


@dataclass(frozen=True)
class Perplexity:
    value: float
    low: float
    high: float
    n: int
    clusters: int

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def perplexity(nll_sums: Sequence[float], counts: Sequence[int]) -> Perplexity:
    """exp(mean negative log-likelihood) per token, the interval from the clustered mean's."""
    n = sum(counts)
    if n == 0:
        return Perplexity(float("nan"), float("nan"), float("nan"), 0, 0)
    mean = sum(nll_sums) / n
    half = Z95 * math.sqrt(_cluster_variance(nll_sums, counts, mean))
    return Perplexity(math.exp(mean), math.exp(mean - half), math.exp(mean + half), n, len(counts))
