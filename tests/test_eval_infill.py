"""Infill task derivation (golden), scoring of the true middle, and small runs on the embedded model."""

from __future__ import annotations

import itertools
import json

import pytest
from typer.testing import CliRunner

from starassist.cli import app
from starassist.eval.tasks import (
    Source,
    humaneval_sources,
    multi_line_tasks,
    random_span_tasks,
    single_line_tasks,
    tasks,
)

BODY = "    y = x + 1\n\n    z = y * 2\n    w = z - 3\n    return w\n"
SOURCE = Source("f.py", "def f(x):\n", BODY)


def test_single_line_tasks_mask_each_non_blank_line() -> None:
    assert [t.task_id for t in single_line_tasks(Source("g.py", "", "x = 1\ny = 2\n"))] == ["g.py#L2"]  # L1: no prefix
    got = list(single_line_tasks(Source("f.py", "def f(x):\n", "    y = x + 1\n\n    return y\n")))
    assert [(t.task_id, t.prefix, t.middle, t.suffix, t.multiline) for t in got] == [
        ("f.py#L1", "def f(x):\n    ", "y = x + 1", "\n\n    return y\n", False),
        ("f.py#L3", "def f(x):\n    y = x + 1\n\n    ", "return y", "\n", False),
    ]


def test_multi_line_tasks_are_seeded_blocks_of_whole_lines() -> None:
    got = list(multi_line_tasks(SOURCE, seed=0, count=2))
    assert [t.task_id for t in got] == ["f.py#L1-3", "f.py#L1-4"]
    assert (got[1].prefix, got[1].middle, got[1].suffix) == (
        "def f(x):\n    ", "y = x + 1\n\n    z = y * 2\n    w = z - 3", "\n    return w\n")
    assert got[1].multiline is None  # the product decides, as in the editor
    assert [t.task_id for t in multi_line_tasks(SOURCE, seed=1, count=2)] == ["f.py#L3-4", "f.py#L3-5"]
    for seed in range(20):
        for t in multi_line_tasks(SOURCE, seed, count=3):
            assert t.prefix + t.middle + t.suffix == SOURCE.head + BODY
            assert 2 <= t.middle.count("\n") + 1 <= 6 and t.suffix.startswith("\n")


def test_random_spans_are_seeded_and_cover_code() -> None:
    assert [t.task_id for t in random_span_tasks(SOURCE, seed=0, count=2)] == ["f.py#C2-45", "f.py#C7-35"]
    assert [t.task_id for t in random_span_tasks(SOURCE, seed=1, count=2)] == ["f.py#C21-27", "f.py#C47-49"]
    for seed in range(20):
        got = list(random_span_tasks(SOURCE, seed, count=2))
        assert len(got) == 2
        for t in got:
            assert t.prefix + t.middle + t.suffix == SOURCE.head + BODY and t.middle.strip()


def test_humaneval_task_sets() -> None:
    sources = humaneval_sources()
    counts = {kind: sum(1 for _ in tasks(kind, sources)) for kind in ("single-line", "multi-line", "random-span")}
    assert counts == {"single-line": 1033, "multi-line": 127, "random-span": 164}
    prompted = next(tasks("humaneval", sources, prompted=True))
    assert prompted.prefix.startswith("# Here is the correct implementation") and prompted.path.startswith("solutions/")


def test_the_true_middle_passes_and_a_wrong_one_fails() -> None:
    from starassist.eval.runner import Executor, score

    sources = humaneval_sources()[:1]
    for kind in ("single-line", "multi-line", "random-span"):
        task = next(tasks(kind, sources))
        good, bad = score(task, task.middle, Executor()), score(task, "pass", Executor())
        assert good["exact"] and good["passed"] and good["similarity"] == 1.0, kind
        assert not bad["exact"] and bad["passed"] is False, kind
    # The shortcut for the canonical text agrees with running it.
    task = next(tasks("multi-line", sources))
    assert score(task, task.middle + " ", Executor())["passed"]


@pytest.mark.slow
def test_infill_on_the_embedded_model_scores_both_pipelines(embedded_backend) -> None:
    from starassist.engine.completion import CompletionEngine
    from starassist.eval.pipelines import Sampling
    from starassist.eval.runner import RunConfig, run
    from starassist.eval.summary import summarize

    engine = CompletionEngine(embedded_backend)
    sources = humaneval_sources()[:2]
    for kind in ("single-line", "multi-line", "random-span"):
        chosen = list(itertools.islice(tasks(kind, sources), 2))
        config = RunConfig(kind, "embedded", "none", Sampling(48 if kind == "single-line" else 64))
        results = run(engine, chosen, config)
        summary = summarize(results)["pipelines"]
        assert summary["product"]["tasks"] == summary["raw"]["tasks"] == 2
        assert all(r.passed is not None and r.status in ("passed", "failed", "timeout") for r in results)
        if kind == "single-line":
            assert all("\n" not in r.completion for r in results)


@pytest.mark.slow
def test_eval_infill_corpus_cli(embedded_path, tmp_path) -> None:
    (tmp_path / "a.py").write_text("def add(a, b):\n    return a + b\n")
    result = CliRunner().invoke(app, ["eval", "infill", "--kind", "single-line", "--model", str(embedded_path),
                                      "--corpus", str(tmp_path), "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    product = json.loads(result.stdout)["runs"]["single-line"]["summary"]["pipelines"]["product"]
    assert product["tasks"] == 1 and "pass@1" not in product and "exact" in product
    bad = CliRunner().invoke(app, ["eval", "infill", "--corpus", str(tmp_path / "nope")])
    assert bad.exit_code == 1 and "is not a folder" in bad.output
    bad = CliRunner().invoke(app, ["eval", "infill", "--kind", "two-line"])
    assert bad.exit_code == 1 and "unknown --kind 'two-line'" in bad.output
