"""CLI command `redact`: show exactly what a remote backend would send for a file, and what was hidden."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import cli_settings, command


@command()
def redact(
    file: Path = typer.Argument(..., help="The file to check."),
    allow: str = typer.Option("", help="Comma-separated values to send as they are (adds to remote.allow)."),
    summary: bool = typer.Option(False, "--summary", help="Only list what would be hidden, not the text."),
) -> None:
    """Print FILE as a remote server would receive it: secrets, emails and IP addresses replaced by placeholders,
    and marker text (`<|endoftext|>` in a string) escaped so that the server reads it as text."""
    from starassist.engine.fim import FORMATS
    from starassist.engine.redact import MARKER_RULE, Redactor, allow_list, marker_pattern

    settings = cli_settings()
    text = file.read_text(encoding="utf-8")
    fim = FORMATS.get(settings.model.fim_format)
    markers = marker_pattern(fim.special_tokens() if fim else ())
    redactor = Redactor(allow=allow_list(settings.remote.allow) | allow_list(allow), markers=markers)
    findings = redactor.find(text)
    if not summary:
        typer.echo(redactor.redact(text), nl=False)
    for f in findings:
        line = text.count("\n", 0, f.start) + 1
        # The original is never echoed: the point of the command is to show what stays on the machine.
        typer.echo(f"{file}:{line}: {f.rule} -> {f.placeholder}", err=True)
    hidden = sum(f.rule != MARKER_RULE for f in findings)
    escaped = f", {len(findings) - hidden} marker(s) escaped" if len(findings) > hidden else ""
    typer.echo(f"{hidden} value(s) hidden{escaped}", err=True)
