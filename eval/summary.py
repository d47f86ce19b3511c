"""Summaries of a run: per pipeline pass@k (unbiased estimator over n samples), exact match and edit similarity,
each with a 95% interval; and per ablated post-processing rule, the product's rates with that rule off."""

from __future__ import annotations

import math
from collections import defaultdict

from starassist.engine.postprocess import RULES

from .pipelines import PIPELINES
from .runner import Result
from .scoring import pass_at_k, wilson

KS = (1, 10, 100)


def rate(values: list[float], binary: bool) -> dict[str, float]:
    """Mean of per-task values with a 95% interval: Wilson's for 0/1 values, the normal one for averages."""
    n = len(values)
    mean = sum(values) / n if n else 0.0
    if binary:
        low, high = wilson(sum(values), n)
    else:
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        half = 1.96 * sd / math.sqrt(n) if n else 1.0
        low, high = max(0.0, mean - half), min(1.0, mean + half)
    return {"rate": mean, "low": low, "high": high, "n": n}


def _by_task(results: list[Result]) -> dict[str, list[Result]]:
    grouped: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        grouped[r.task_id].append(r)
    return grouped


def _metrics(grouped: dict[str, list[Result]], get) -> dict[str, dict[str, float]]:
    """pass@k / exact / similarity over tasks, from `get(result) -> (passed, exact, similarity)`."""
    out: dict[str, dict[str, float]] = {}
    n = min((len(rs) for rs in grouped.values()), default=0)
    executed = [rs for rs in grouped.values() if get(rs[0])[0] is not None]
    if executed:
        for k in KS:
            if k <= n:
                per_task = [pass_at_k(len(rs), sum(bool(get(r)[0]) for r in rs), k) for rs in executed]
                out[f"pass@{k}"] = rate(per_task, binary=n == 1)
    scored = [rs for rs in grouped.values() if get(rs[0])[1] is not None]
    if scored:
        out["exact"] = rate([sum(bool(get(r)[1]) for r in rs) / len(rs) for rs in scored], binary=n == 1)
        out["similarity"] = rate([sum(get(r)[2] for r in rs) / len(rs) for rs in scored], binary=False)
    return out


def summarize(results: list[Result]) -> dict:
    pipelines = {}
    for pipeline in PIPELINES:
        grouped = _by_task([r for r in results if r.pipeline == pipeline])
        row: dict = {"tasks": len(grouped), "samples": min((len(v) for v in grouped.values()), default=0)}
        row.update(_metrics(grouped, lambda r: (r.passed, r.exact, r.similarity)))
        pipelines[pipeline] = row
    summary: dict = {"pipelines": pipelines}
    product = _by_task([r for r in results if r.pipeline == "product"])
    # Only rules scored on every product result (a rescore drops the ablation of the results it changed).
    scored = [set(r.ablation) for r in results if r.pipeline == "product"]
    seen = set.intersection(*scored) if scored else set()
    rules = [rule for rule in (*RULES, "all") if rule in seen]
    if rules:
        full = pipelines["product"]
        ablation = {}
        for rule in rules:
            def get(r: Result, rule: str = rule):
                a = r.ablation[rule]
                return a["passed"], a["exact"], a["similarity"]

            row = _metrics(product, get)
            for metric in ("pass@1", "exact"):
                if metric in row:
                    row[f"delta {metric}"] = row[metric]["rate"] - full[metric]["rate"]
            ablation[rule] = row
        summary["ablation"] = ablation
    return summary
