"""`starassist quantize`: HF checkpoints (or GGUFs) to laptop-sized GGUF files, or bitsandbytes checkpoints.

Cheap to import: numpy, gguf, llama_cpp, torch and transformers are imported inside the command.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .app import command


class ProgressUI:
    """rich progress bars on stderr: one bar per conversion / quantization pass."""

    def __init__(self, console) -> None:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                 TextColumn("{task.fields[item]}"), TimeElapsedColumn(), console=console,
                                 transient=False)

    def __enter__(self) -> ProgressUI:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def _bar(self, description: str):
        task = None  # created on the first update: a run that fails while checking its input shows no bar

        def update(done: int, total: int, item: str) -> None:
            nonlocal task
            if task is None:
                task = self.progress.add_task(description, total=total, item="")
            self.progress.update(task, completed=done, total=total, item=item)

        return update

    def converting(self, out_type: str):
        return self._bar(f"convert → {out_type}")

    def quantizing(self, qtype: str):
        return self._bar(f"quantize → {qtype}")

    def verifying(self):
        return self._bar("verify download")

    def note(self, text: str) -> None:
        self.console.print(text)


def _types_table(console) -> None:
    from rich.table import Table

    from starassist.quant.types import TYPES

    table = Table(title="Quantization types")
    for col in ("type", "bits/weight", "15B model", "notes"):
        table.add_column(col, justify="right" if col in ("bits/weight", "15B model") else "left")
    for t in TYPES.values():
        table.add_row(t.name, f"{t.bits_per_weight:.2f}", f"{15.5e9 * t.bits_per_weight / 8 / 2**30:.1f} GiB", t.notes)
    console.print(table)


def _print_summary(summary, console) -> None:
    from rich.table import Table

    from starassist.quant.report import tensor_summary

    table = Table(title="Summary", show_header=True)
    for col in ("step", "output", "size", "time"):
        table.add_column(col)
    for s in summary.steps:
        table.add_row(s.name, s.path, f"{s.size_bytes / 2**20:.1f} MB", f"{s.seconds:.1f} s")
    console.print(table)
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if summary.fallbacks:
        used: dict[str, int] = {}
        for f in summary.fallbacks:
            used[f["used"].upper()] = used.get(f["used"].upper(), 0) + 1
        shown = ", ".join(f"{t} ×{n}" for t, n in sorted(used.items(), key=lambda kv: -kv[1]))
        console.print(f"[yellow]note:[/] {len(summary.fallbacks)} tensor(s) could not take the type {summary.qtype} "
                      f"asks for (rows not a multiple of the block size) and got another: {shown}")
    console.print(f"tensor types: {tensor_summary(summary.tensor_types)}")
    console.print(f"wrote {summary.output} in {summary.seconds:.1f} s")
    if summary.report_path:
        console.print(f"report: {summary.report_path}")


def _terminal_consent(ui: ProgressUI):
    """A yes/no prompt for downloads when stdin and stderr are a terminal; None otherwise (then only --download
    allows one)."""
    import sys

    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None

    def ask(question: str) -> bool:
        ui.progress.stop()  # the live bars would draw over the question
        try:
            return typer.confirm(question, default=False, err=True)
        finally:
            ui.progress.start()

    return ask


@command()
def quantize(
    src: str | None = typer.Argument(None, help="HF checkpoint dir, HF repo id (ORG/NAME[@REVISION]), or a GGUF file."),
    qtype: str = typer.Option("Q4_K_M", "--type", "-t", help="Quantization type (see --list-types)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output file (a directory with --bnb)."),
    report: bool = typer.Option(False, "--report", help="Measure FIM agreement, perplexity and speed vs F16."),
    sample: Path | None = typer.Option(None, "--sample", help="Folder (or file) of your code for --report (default: a bundled multi-language sample)."),
    report_json: Path | None = typer.Option(None, "--report-json", help="Where to write the report JSON (default: OUT.report.json)."),
    report_holes: int | None = typer.Option(None, "--report-holes", min=1, help="FIM holes for --report (default 48; each in PSM and SPM)."),
    compare: list[Path] = typer.Option([], "--compare", help="Another GGUF of the same model to put in the report (repeatable)."),
    download: bool = typer.Option(False, "--download", help="Fetch an ORG/NAME checkpoint from the Hub (HF_ENDPOINT) into the HF cache; what is there is kept."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Read pickle .bin weights (loaded with weights_only)."),
    allow_requantize: bool = typer.Option(False, "--allow-requantize", help="Quantize a GGUF that is already quantized (the losses add up)."),
    bnb: str | None = typer.Option(None, "--bnb", help="nf4 or int8: write a bitsandbytes checkpoint directory instead."),
    threads: int = typer.Option(0, "--threads", help="Threads for quantizing and the report (0: all cores)."),
    list_types: bool = typer.Option(False, "--list-types", help="Show the quantization types and exit."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Convert a StarCoder / StarCoder2 checkpoint to a quantized GGUF (or a bitsandbytes checkpoint)."""
    from rich.console import Console

    from starassist.quant.errors import QuantError

    console = Console(stderr=True)
    if list_types:
        _types_table(Console())
        return
    if not src:
        raise QuantError("missing SRC — pass an HF checkpoint directory, an HF repo id or a .gguf file")
    if bnb is not None:
        from starassist.quant.bnb import quantize_bnb

        if out is None:
            raise QuantError("--bnb needs --out DIR (the checkpoint directory to write)")
        result = quantize_bnb(src, out, bnb, force=force, allow_pickle=allow_pickle)
        if as_json:
            typer.echo(json.dumps(result))
        else:
            console.print(f"wrote {result['output']} ({result['size_bytes'] / 2**20:.1f} MB, {result['mode']}) "
                          f"in {result['seconds']:.1f} s")
        return

    from dataclasses import asdict

    from starassist.quant.pipeline import run

    with ProgressUI(console) as ui:
        summary = run(src, qtype, out, force=force, report=report, sample=str(sample) if sample else None,
                      report_json=report_json, report_holes=report_holes, compare=compare,
                      allow_pickle=allow_pickle, allow_requantize=allow_requantize, download=download,
                      confirm=None if download else _terminal_consent(ui), threads=threads, progress=ui)
    if summary.report is not None and not as_json:
        from starassist.quant.report import print_report

        print_report(summary.report, Console())
    if as_json:
        typer.echo(json.dumps(asdict(summary)))
    else:
        _print_summary(summary, console)
