"""CLI commands `chat`, `explain` and `modify`. Cheap to import: models, llama.cpp and rich load inside them."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .app import cli_settings, command, fail, load_model

_MODEL_HELP = "GGUF file, HF checkpoint dir, HF repo id in the local cache, or 'embedded'."


def _read_stdin() -> str:
    if sys.stdin is None or sys.stdin.isatty():
        return ""
    return sys.stdin.read()


@command()
def chat(
    model: str | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    once: str | None = typer.Option(None, "--once", help="Answer this one question and exit (piped stdin is attached as code)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the last saved conversation."),
    history: Path | None = typer.Option(None, "--history", help="Conversation file (default: chat.history_file or the data dir)."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Longest answer, in tokens."),
    temperature: float | None = typer.Option(None, "--temperature", help="Sampling temperature (0 = greedy)."),
) -> None:
    """Chat with the model in the terminal: streamed markdown answers, /help for commands."""
    from rich.console import Console

    from starassist.chat.session import Attachment, ChatSession, default_history_path, load_history

    from .chat_terminal import Terminal, answer_once

    settings = cli_settings(model__path=model, chat__max_tokens=max_tokens, chat__temperature=temperature)
    if history is not None:
        settings.chat.history_file = str(history)
    history_path = default_history_path(settings)
    turns = load_history(history_path) if resume and history_path.is_file() else []
    piped = _read_stdin()
    if once is None and piped.strip():
        once, piped = piped, ""  # `echo question | starassist chat`
    console = Console()
    session = ChatSession(load_model(settings), settings, history_path=None if once is not None else history_path, turns=turns)
    try:
        if once is not None:
            if not once.strip():
                fail("--once needs a question")
            if piped.strip():
                session.attachments.append(Attachment("stdin", "", piped))
            result = answer_once(session, once, console)
            if not result.text.strip() and result.stop_reason != "cancelled":
                fail(f"the model returned an empty answer (stop: {result.stop_reason}) — try again or use another --model")
            return
        code = Terminal(session, console).run()
    finally:
        session.backend.close()
    raise typer.Exit(code)


def _print_markdown_stream(backend, code: str, path: str, settings) -> str:
    from starassist.chat.explain import explain_code

    if not sys.stdout.isatty():
        text = explain_code(backend, code, path=path, settings=settings,
                            on_text=lambda piece: (sys.stdout.write(piece), sys.stdout.flush()))
        sys.stdout.write("\n")
        return text
    from rich.console import Console

    from .chat_terminal import live_markdown

    with live_markdown(Console()) as on_text:
        return explain_code(backend, code, path=path, settings=settings, on_text=on_text)


@command()
def explain(
    location: str = typer.Argument(..., metavar="FILE[:L1-L2]", help="The file, or a line range of it."),
    model: str | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Longest explanation, in tokens."),
) -> None:
    """Print a markdown explanation of a file or of lines L1-L2 of it."""
    from starassist.chat.modify import parse_location, prompt_path, read_selection

    path, first, last = parse_location(location)
    selection = read_selection(path, first, last if first is not None else None)
    if not selection.text.strip():
        fail(f"lines {selection.start_line}-{selection.end_line} of {path} are blank — pick lines with code")
    settings = cli_settings(model__path=model, chat__max_tokens=max_tokens)
    backend = load_model(settings)
    try:
        text = _print_markdown_stream(backend, selection.text, prompt_path(path), settings)
    finally:
        backend.close()
    if not text.strip():
        fail("the model returned an empty explanation — try again or use another --model")


@command()
def modify(
    location: str = typer.Argument(..., metavar="FILE:L1-L2", help="The lines to change."),
    instruction: str = typer.Argument(..., help="What to change, e.g. 'add type hints'."),
    apply: bool = typer.Option(False, "--apply", help="Write the change to the file (atomically)."),
    model: str | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Longest rewrite, in tokens."),
) -> None:
    """Propose a change to lines L1-L2 of FILE as a unified diff; --apply writes it."""
    from rich.console import Console

    from starassist.chat import modify as edits

    path, first, last = edits.parse_location(location)
    if first is None:
        fail(f"give the lines to change as {location}:L1-L2")
    if not instruction.strip():
        fail("the instruction is empty — say what to change")
    selection = edits.read_selection(path, first, last)
    err = Console(stderr=True)
    err.print(f"[dim]read {path} lines {first}-{last}; asking the model…[/]", highlight=False)
    settings = cli_settings(model__path=model, chat__max_tokens=max_tokens)
    backend = load_model(settings)
    try:
        replacement = edits.propose_edit(backend, selection.text, instruction, path=edits.prompt_path(path),
                                         settings=settings)
    finally:
        backend.close()
    diff = edits.unified_diff(selection, replacement, label=str(path))
    if not diff:
        err.print("the model proposed no change", highlight=False)
        return
    console = Console()
    if console.is_terminal:
        console.print(edits.render_diff(diff))
    else:
        sys.stdout.write(diff)
        sys.stdout.flush()
    if apply:
        edits.apply_edit(selection, replacement)
        err.print(f"applied to {path} (lines {first}-{last})", highlight=False)
    else:
        err.print("[dim]run again with --apply to write it[/]", highlight=False)
