"""Infill task derivation (golden) and a small run on the embedded model."""

from __future__ import annotations

import itertools

import pytest

from starassist.eval.infill import humaneval_tasks, run, score, single_line_tasks, summarize


def test_single_line_tasks_mask_each_non_blank_line() -> None:
    assert [t.task_id for t in single_line_tasks("g.py", "", "x = 1\ny = 2\n")] == ["g.py#L2"]  # L1: empty prefix
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


@pytest.mark.slow
def test_eval_infill_corpus_cli(embedded_path, tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from starassist.cli import app

    (tmp_path / "a.py").write_text("def add(a, b):\n    return a + b\n")
    result = CliRunner().invoke(app, ["eval", "infill", "--model", str(embedded_path), "--corpus", str(tmp_path),
                                      "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["product"]["tasks"] == 1 and "pass" not in summary["product"]
    bad = CliRunner().invoke(app, ["eval", "infill", "--corpus", str(tmp_path / "nope")])
    assert bad.exit_code == 1 and "is not a folder" in bad.output
