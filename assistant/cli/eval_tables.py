"""Rich tables for `starassist eval`: a run's summary per task kind, its ablation, and a comparison."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table


def _pct(value: dict | None) -> str:
    if value is None:
        return "—"
    return f"{value['rate']:.1%} ({value['low']:.1%}–{value['high']:.1%})"


def print_reports(reports: dict[str, dict]) -> None:
    console = Console()
    for kind, report in reports.items():
        pipelines = report["summary"]["pipelines"]
        metrics = [m for m in ("pass@1", "pass@10", "pass@100", "exact") if any(m in r for r in pipelines.values())]
        table = Table(title=f"{kind} — {report['model']} ({report['format']}, {report['source']}"
                            f"{', prompted' if report['prompted'] else ''}), {report['seconds']:.0f} s")
        for col in ("pipeline", "tasks", *(f"{m} (95%)" for m in metrics), "edit similarity"):
            table.add_column(col)
        for pipeline, row in pipelines.items():
            sim = row.get("similarity")
            table.add_row(pipeline, f"{row['tasks']}×{row['samples']}" if row["samples"] > 1 else str(row["tasks"]),
                          *(_pct(row.get(m)) for m in metrics), f"{sim['rate']:.2f}" if sim else "—")
        console.print(table)
        ablation = report["summary"].get("ablation")
        if ablation:
            _print_ablation(console, kind, ablation)


def _print_ablation(console: Console, kind: str, ablation: dict[str, dict]) -> None:
    table = Table(title=f"{kind}: the product with one post-processing rule off")
    for col in ("rule off", "pass@1", "Δ pass@1", "exact", "Δ exact"):
        table.add_column(col)
    for rule, row in ablation.items():
        table.add_row(rule, _pct(row.get("pass@1")), _delta(row.get("delta pass@1")), _pct(row.get("exact")),
                      _delta(row.get("delta exact")))
    console.print(table)


def _delta(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.1f} pt"


def print_comparison(rows, labels: tuple[str, str], plot: Path) -> None:
    table = Table(title=f"{labels[0]} vs {labels[1]}")
    for col in ("category", "metric", labels[0], labels[1], "Δ"):
        table.add_column(col)
    for row in rows:
        delta = None if row.a is None or row.b is None else row.b["rate"] - row.a["rate"]
        table.add_row(row.category, row.metric, _pct(row.a), _pct(row.b), _delta(delta))
    console = Console()
    console.print(table)
    console.print(f"plot: {plot}")
