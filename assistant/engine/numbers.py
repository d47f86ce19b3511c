"""Summary statistics for latencies: one percentile definition for telemetry, benchmarks and reports."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): the smallest value with at least q% of the values at or below
    it. None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q * len(ordered) / 100)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of non-empty `values` (milliseconds by convention)."""
    if not values:
        raise ValueError("no values to summarize")
    return {"p50_ms": float(percentile(values, 50)), "p95_ms": float(percentile(values, 95)),  # type: ignore[arg-type]
            "mean_ms": statistics.fmean(values)}
