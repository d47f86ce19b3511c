"""`starassist eval humaneval`: pass@1 through the product's completion path next to the raw model."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .app import cli_settings, command, load_engine


@command("eval")
def eval_(
    what: str = typer.Argument("humaneval", help="What to evaluate: humaneval, or infill (single-line)."),
    corpus: Path | None = typer.Option(None, help="infill: derive tasks from your *.py files instead of "
                                                  "HumanEval (exact match and edit similarity; nothing runs)."),
    model: str | None = typer.Option(None, "--model", "-m"),
    limit: int | None = typer.Option(None, help="Only the first N problems (quick runs; CI uses 5)."),
    max_tokens: int = typer.Option(256, help="Tokens generated per problem."),
    prompted: bool = typer.Option(False, help="The StarCoder paper's prompted variant (a prefix before the problem)."),
    out: Path | None = typer.Option(None, help="Folder for per-problem JSON results; a rerun resumes from it."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Score the configured model on HumanEval through the product (prompt window, healing, stop rules,
    post-processing) and through the raw model, side by side; model-written code runs in a sandbox."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from starassist.engine.errors import StarassistError
    from starassist.eval.humaneval import PIPELINES, load_problems, run, summarize

    if what == "infill":
        _infill(model, limit, corpus, as_json)
        return
    if what != "humaneval":
        raise StarassistError(f"unknown evaluation {what!r} — available: humaneval, infill")
    problems = load_problems()[: limit if limit is not None else None]
    engine = load_engine(cli_settings(model__path=model, model__seed=0))
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=console, disable=as_json) as progress:
        task = progress.add_task("humaneval", total=len(problems) * len(PIPELINES))
        results = run(engine, problems, max_tokens=max_tokens, prompted=prompted, out=out,
                      on_result=lambda r: progress.advance(task))
    summary = summarize(results)
    report = {"model": engine.backend.info.name, "format": engine.format.name, "prompted": prompted,
              "max_tokens": max_tokens, "summary": summary}
    if out is not None:
        from starassist.engine.files import write_atomic

        write_atomic(out / "summary.json", json.dumps(report, indent=2))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=f"HumanEval pass@1 — {report['model']} ({report['format']})")
    for col in ("pipeline", "problems", "passed", "pass@1", "95% interval"):
        table.add_column(col)
    for pipeline, row in summary.items():
        table.add_row(pipeline, str(row["problems"]), str(row["passed"]), f"{row['pass@1']:.1%}",
                      f"{row['low']:.1%} – {row['high']:.1%}")
    Console().print(table)


def _infill(model: str | None, limit: int | None, corpus: Path | None, as_json: bool) -> None:
    import itertools

    from rich.console import Console
    from rich.table import Table

    from starassist.engine.errors import StarassistError
    from starassist.eval import infill

    if corpus is not None and not corpus.is_dir():
        raise StarassistError(f"--corpus {corpus} is not a folder — pass a folder of .py files")
    tasks = infill.corpus_tasks(corpus) if corpus is not None else infill.humaneval_tasks(None)
    chosen = list(itertools.islice(tasks, limit))
    engine = load_engine(cli_settings(model__path=model, model__seed=0))
    summary = infill.summarize(infill.run(engine, chosen, path="solution.py" if corpus is None else None))
    report = {"model": engine.backend.info.name, "format": engine.format.name, "kind": "single-line",
              "source": str(corpus) if corpus else "humaneval", "summary": summary}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=f"Single-line infill — {report['model']} ({report['format']}, {report['source']})")
    for col in ("pipeline", "tasks", "exact match", "edit similarity", "pass rate"):
        table.add_column(col)
    for pipeline, row in summary.items():
        rate = f"{row['pass']:.1%}" if "pass" in row else "—"
        table.add_row(pipeline, str(row["tasks"]), f"{row['exact']:.1%}", f"{row['similarity']:.2f}", rate)
    Console().print(table)
