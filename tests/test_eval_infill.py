"""Infill task derivation (golden) and a small run on the embedded model."""

from __future__ import annotations

import itertools

import pytest

from starassist.eval.infill import humaneval_tasks, run, score, single_line_tasks, summarize


def test_single_line_tasks_mask_each_non_blank_line() -> None:
    tasks = list(single_line_tasks("f.py", "def f(x):\n", "    y = x + 1\n\n    return y\n"))
    assert [(t.task_id, t.prefix, t.middle, t.suffix) for t in tasks] == [
        ("f.py#L1", "def f(x):\n    ", "y = x + 1", "\n\n    return y\n"),
        ("f.py#L3", "def f(x):\n    y = x + 1\n\n    ", "return y", "\n"),
    ]


def test_the_true_middle_passes_and_a_wrong_one_fails() -> None:
    task = next(humaneval_tasks(None))
    good, bad = score(task, "product", task.middle), score(task, "raw", "pass")
    assert good.exact and good.passed and good.similarity == 1.0
    assert not bad.exact and bad.passed is False


@pytest.mark.slow
def test_infill_on_the_embedded_model_scores_both_pipelines(embedded_backend) -> None:
    from starassist.engine.completion import CompletionEngine

    engine = CompletionEngine(embedded_backend)
    results = run(engine, itertools.islice(humaneval_tasks(None), 4))
    summary = summarize(results)
    assert summary["product"]["tasks"] == summary["raw"]["tasks"] == 4
    assert all(r.passed is not None for r in results)
    assert all("\n" not in r.completion for r in results)
