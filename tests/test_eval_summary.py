"""Pure parts of a run's report: summaries with intervals, the ablation, and the comparison of two runs."""

from __future__ import annotations

import json
import struct

import pytest

from starassist.eval.runner import Executor, Result, ablate
from starassist.eval.summary import summarize
from starassist.eval.tasks import humaneval_sources, tasks


def _result(task_id: str, pipeline: str, sample: int, passed: bool) -> Result:
    return Result(task_id, "humaneval", pipeline, sample, "", passed, None, None, "passed" if passed else "failed")


def test_pass_at_k_over_samples_and_greedy_wilson() -> None:
    results = [_result(f"T/{t}", p, s, passed=(t + s) % 3 == 0) for t in range(4) for s in range(10)
               for p in ("product", "raw")]
    product = summarize(results)["pipelines"]["product"]
    assert (product["tasks"], product["samples"]) == (4, 10)
    # 4 tasks, each with 3 or 4 of 10 samples passing: pass@1 is the mean fraction.
    assert product["pass@1"]["rate"] == pytest.approx((4 + 3 + 3 + 4) / 40)
    assert product["pass@10"]["rate"] == 1.0 and "pass@100" not in product
    greedy = summarize([_result(f"T/{t}", p, 0, t < 5) for t in range(10) for p in ("product", "raw")])
    row = greedy["pipelines"]["raw"]["pass@1"]
    assert (row["rate"], round(row["low"], 4), round(row["high"], 4)) == (0.5, 0.2366, 0.7634)


def _product(task, raw: str) -> Result:
    from starassist.engine.postprocess import postprocess

    completion = postprocess(raw, task.prefix, "", multiline=True)
    return Result(task.task_id, "humaneval", "product", 0, completion, None, None, None, "not run", raw=raw,
                  prefix_chars=len(task.prefix), multiline=True)


def test_ablation_rescores_the_products_own_output() -> None:
    from starassist.eval.runner import score

    first, third = list(tasks("humaneval", humaneval_sources()[:3]))[::2]
    # A chat model's fence at the body's indentation: only the fence rule ends the code there.
    fenced = _product(third, third.middle.rstrip("\n") + "\n    ```\n    This returns the fraction.\n")
    # HumanEval/0's body, then a call at the top level: only the dedent rule ends the body there.
    canonical = _product(first, first.middle + "\n\nprint(has_close_elements())\n")
    executor = Executor()
    for result, task in ((fenced, third), (canonical, first)):
        result.passed = score(task, result.completion, executor)["passed"]
        ablate(task, result, ("fence", "dedent"), executor)
    assert fenced.passed and fenced.ablation["fence"]["passed"] is False
    assert "```" in fenced.ablation["fence"]["completion"] and fenced.ablation["dedent"]["passed"]
    assert canonical.passed and canonical.ablation["dedent"]["passed"] is False
    assert canonical.ablation["fence"]["passed"]
    summary = summarize([fenced, canonical])["ablation"]
    assert list(summary) == ["fence", "dedent"]  # in the order the rules run
    assert summary["fence"]["delta pass@1"] == summary["dedent"]["delta pass@1"] == -0.5
    # A rescore that changed one result dropped its ablation: the summary leaves out what is not scored for all.
    canonical.ablation = {}
    assert "ablation" not in summarize([fenced, canonical])


def _report(kind: str, rates: dict[str, float]) -> dict:
    return {"kind": kind, "summary": {"pipelines": {
        p: {"tasks": 10, "samples": 1, "pass@1": {"rate": r, "low": r / 2, "high": (1 + r) / 2, "n": 10}}
        for p, r in rates.items()}}}


def test_compare_rows_and_png(tmp_path) -> None:
    from starassist.eval.compare import load_run, plot, rows

    for name, rate in (("q8", 0.4), ("q4", 0.3)):
        (tmp_path / name / "humaneval").mkdir(parents=True)
        (tmp_path / name / "humaneval" / "summary.json").write_text(
            json.dumps(_report("humaneval", {"product": rate, "raw": rate / 2})))
    a, b = load_run(tmp_path / "q8"), load_run(tmp_path / "q4")
    table = rows(a, b)
    assert [(r.category, r.metric, r.a["rate"], r.b["rate"]) for r in table] == [
        ("humaneval product", "pass@1", 0.4, 0.3), ("humaneval raw", "pass@1", 0.2, 0.15)]
    dest = tmp_path / "cmp.png"
    plot(table, ("q8", "q4"), dest)
    data = dest.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 600 and height >= 200
    from typer.testing import CliRunner

    from starassist.cli import app

    result = CliRunner().invoke(app, ["eval", "--compare", str(tmp_path / "q8"), str(tmp_path / "q4"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["plot"] == str(tmp_path / "q4" / "compare.png") and (tmp_path / "q4" / "compare.png").is_file()
    assert [r["category"] for r in report["rows"]] == ["humaneval product", "humaneval raw"]
    missing = CliRunner().invoke(app, ["eval", "--compare", str(tmp_path / "q8"), str(tmp_path / "none")])
    assert missing.exit_code == 1 and "holds no evaluation results" in missing.output


def test_rescore_post_processes_a_cached_result_again() -> None:
    from starassist.eval.runner import rescore

    task = next(tasks("humaneval", humaneval_sources()))
    stale = Result(task.task_id, "humaneval", "product", 0, "    pass", False, None, None, "failed", raw=task.middle,
                   prefix_chars=len(task.prefix), multiline=True, ablation={"fence": {"passed": False}})
    assert rescore(task, stale, Executor())
    assert stale.completion == task.middle.rstrip() and stale.passed and stale.ablation == {}
    assert not rescore(task, stale, Executor())  # already current
