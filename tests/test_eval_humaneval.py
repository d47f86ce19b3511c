"""HumanEval through the product and raw pipelines on the embedded model (real llama.cpp, real sandbox)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from starassist.cli import app
from starassist.eval.sandbox import run_program
from starassist.eval.tasks import humaneval_sources, tasks


def test_canonical_solutions_pass_and_an_empty_body_fails() -> None:
    sources = humaneval_sources()
    assert len(sources) == 164
    for task in tasks("humaneval", sources[:5]):
        assert run_program(task.program(task.middle)).passed, task.task_id
        assert not run_program(task.program("    pass\n")).passed


@pytest.mark.slow
def test_eval_humaneval_limit_runs_both_pipelines_and_resumes(embedded_path, tmp_path) -> None:
    runner = CliRunner()
    args = ["eval", "humaneval", "--model", str(embedded_path), "--limit", "2", "--max-tokens", "48",
            "--threads", "1", "--out", str(tmp_path), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)["runs"]["humaneval"]["summary"]["pipelines"]
    assert {k: v["tasks"] for k, v in summary.items()} == {"product": 2, "raw": 2}
    stored = sorted(p.name for p in (tmp_path / "humaneval" / "product").iterdir())
    assert stored == ["HumanEval_0.json", "HumanEval_1.json"]
    assert json.loads((tmp_path / "humaneval" / "summary.json").read_text())["summary"]["pipelines"] == summary
    # A rerun reads the cache instead of generating: an edited cached result shows up in the summary.
    cached = tmp_path / "humaneval" / "product" / "HumanEval_0.json"
    entry = json.loads(cached.read_text())
    entry["passed"] = not entry["passed"]
    cached.write_text(json.dumps(entry))
    again = json.loads(runner.invoke(app, args).stdout)["runs"]["humaneval"]["summary"]["pipelines"]["product"]
    assert again["pass@1"]["rate"] * 2 == summary["product"]["pass@1"]["rate"] * 2 + (1 if entry["passed"] else -1)
    # Other settings in the same folder are refused with the fix, not mixed in.
    other = runner.invoke(app, [*args[:-1], "--prompted"])
    assert other.exit_code == 1 and "holds results made with other settings (prompted: False → True)" in other.output


@pytest.mark.slow
def test_samples_give_pass_at_k(embedded_path, tmp_path) -> None:
    result = CliRunner().invoke(app, ["eval", "humaneval", "--model", str(embedded_path), "--limit", "1",
                                      "--samples", "2", "--max-tokens", "24", "--threads", "1", "--seed", "7",
                                      "--prompted", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["runs"]["humaneval"]
    assert (run["temperature"], run["seed"], run["prompted"]) == (0.2, 7, True)
    product = run["summary"]["pipelines"]["product"]
    assert product["samples"] == 2 and "pass@1" in product and "pass@10" not in product
    assert sorted(p.name for p in (tmp_path / "humaneval" / "raw").iterdir()) == [
        "HumanEval_0.json", "HumanEval_0.s1.json"]
