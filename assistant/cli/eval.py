"""`starassist eval humaneval`: pass@1 through the product's completion path next to the raw model."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .app import cli_settings, command, load_engine


@command("eval")
def eval_(
    what: str = typer.Argument("humaneval", help="What to evaluate: humaneval."),
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

    if what != "humaneval":
        raise StarassistError(f"unknown evaluation {what!r} — available: humaneval")
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
