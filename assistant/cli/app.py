"""The typer app shared by every command module, the one place where errors become one-line messages, and the
one model loader of the command line.

Command modules (`starassist.cli.core`, `.chat`, `.bench`, `.lsp`, `.quant`) register with `@command()`. Keep
this module and those registrations cheap to import: `starassist --help` must not import torch or llama.cpp,
nor load a model.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from starassist.engine.errors import StarassistError

app = typer.Typer(
    name="starassist",
    help="A local coding assistant: fill-in-the-middle completion, chat, explain and modify, all on your machine.",
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)

F = TypeVar("F", bound=Callable[..., Any])

_state: dict[str, Any] = {"debug": False}


def debug_enabled() -> bool:
    return bool(_state["debug"]) or os.environ.get("STARASSIST_DEBUG", "") not in ("", "0")


def set_debug(value: bool) -> None:
    _state["debug"] = value


def _message_for(exc: BaseException) -> tuple[str, int] | None:
    """One table of known exceptions -> (one-line message, exit code). None: not a known user error."""
    if isinstance(exc, StarassistError):
        return str(exc), exc.exit_code
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename} — check the path", 1
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename} is a directory, not a file", 1
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename} — check the file's permissions", 1
    if isinstance(exc, UnicodeDecodeError):
        return "the file is not UTF-8 text — starassist works on text files", 1
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({exc.msg} at line {exc.lineno}) — fix the file", 1
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"no space left on the disk{f' for {exc.filename}' if exc.filename else ''} — free some space or write elsewhere", 1
    if isinstance(exc, MemoryError):
        return "out of memory — try a smaller model or quantization, or a smaller model.context_length", 1
    return None


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"starassist: error: {message}", err=True)
    raise typer.Exit(code)


def guarded(fn: F) -> F:
    """`fn` with the CLI's error handling: known errors print one line (traceback only with --debug). For
    commands of sub-apps (`command()` applies it to the main app's)."""

    @functools.wraps(fn)
    def wrapper(*a: Any, **k: Any) -> Any:
        try:
            return fn(*a, **k)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            typer.echo("starassist: interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - this is the CLI boundary
            if debug_enabled():
                raise
            known = _message_for(exc)
            if known is None:
                message = f"{exc.__class__.__name__}: {exc} (run with --debug for the traceback)"
                code = 1
            else:
                message, code = known
            fail(message, code)

    return wrapper  # type: ignore[return-value]


def command(*args: Any, **kwargs: Any) -> Callable[[F], F]:
    """`app.command` plus error handling (`guarded`)."""

    def decorate(fn: F) -> F:
        app.command(*args, **kwargs)(guarded(fn))
        return fn

    return decorate


def cli_settings(**overrides: Any):
    """Settings from config file and environment, with the command's flags on top (None flags ignored)."""
    from starassist.engine.settings import load_settings

    tree: dict[str, dict[str, Any]] = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, key = dotted.split("__", 1)
        tree.setdefault(section, {})[key] = value
    return load_settings(overrides=tree)


def load_model(settings: Any):
    """Resolve and load the configured model (`Settings.model`), with a spinner on stderr when interactive."""
    from starassist.engine.loader import load_backend

    if sys.stderr.isatty():
        from rich.console import Console

        with Console(stderr=True).status("loading model…"):
            return load_backend(settings.model, remote=settings.remote)
    return load_backend(settings.model, remote=settings.remote)


def load_engine(settings: Any):
    """The completion engine over `load_model(settings)`."""
    from starassist.engine.completion import CompletionEngine

    return CompletionEngine(load_model(settings), settings)
