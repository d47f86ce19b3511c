"""`starassist chat` in the terminal: a read-eval loop over a `ChatSession`, answers streamed as markdown,
Ctrl-C stopping an answer (not the session), and slash commands."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from starassist.chat.prompt import choose_style
from starassist.chat.session import ChatSession, load_history, read_attachment, save_history
from starassist.engine.backend import GenerationResult
from starassist.engine.errors import StarassistError

PROMPT = ">>> "
CONTINUATION = "... "

HELP = """\
Ask a question and press Enter. The answer streams in; Ctrl-C stops it (the session stays open).

Multi-line input: end a line with \\ to continue on the next line, or start with a line holding only \"\"\"
and end with another \"\"\" line.

Commands:
  /file PATH[:L1-L2]  attach a file (or lines L1 to L2 of it) to your next question
  /reset              forget the conversation and any attached code
  /save PATH          save the conversation to PATH (JSON, readable only by you)
  /load PATH          continue a conversation saved with /save
  /model [SPEC]       show the model in use, or load another (GGUF path, checkpoint dir, 'embedded')
  /help               this text
  /exit               leave (Ctrl-D too)

The conversation is saved after each answer to {history}; `starassist chat --resume` continues it."""

class _MarkdownTail:
    """Markdown being streamed, drawn as its last screenful: a live region taller than the terminal cannot be
    redrawn in place (the terminal scrolls and copies pile up), so only the tail is live."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def text(self) -> str:
        return "".join(self.parts)

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        from rich.markdown import Markdown
        from rich.segment import Segment

        lines = console.render_lines(Markdown(self.text()), options.update(height=None), pad=False)
        room = max(1, console.size.height - 2)
        for line in lines[-room:]:
            yield from line
            yield Segment.line()


@contextmanager
def live_markdown(console: Any) -> Iterator[Callable[[str], None]]:
    """Stream markdown to the terminal: a live tail while text arrives, then the whole answer printed once."""
    from rich.live import Live
    from rich.markdown import Markdown

    view = _MarkdownTail()
    try:
        with Live(view, console=console, refresh_per_second=12, transient=True, vertical_overflow="crop"):
            yield view.parts.append
    finally:
        text = view.text().strip()
        if text:
            console.print(Markdown(text))


@contextmanager
def ctrl_c_cancels() -> Iterator[threading.Event]:
    """While active, Ctrl-C sets the returned event instead of raising KeyboardInterrupt."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: event.set())
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


def read_question(read_line: Callable[[str], str]) -> str:
    """One question from the user: a line, lines continued with a trailing backslash, or a \"\"\" block."""
    first = read_line(PROMPT)
    if first.strip() == '"""':
        lines = []
        while True:
            line = read_line(CONTINUATION)
            if line.strip() == '"""':
                return "\n".join(lines)
            lines.append(line)
    lines = [first]
    while lines[-1].endswith("\\"):
        lines[-1] = lines[-1][:-1]
        lines.append(read_line(CONTINUATION))
    return "\n".join(lines)


class Terminal:
    """The interactive loop: reads questions and commands, streams answers with rich."""

    def __init__(self, session: ChatSession, console: Any, *, read_line: Callable[[str], str] = input) -> None:
        self.session = session
        self.console = console
        self.read_line = read_line

    def run(self) -> int:
        if self.read_line is input and sys.stdin.isatty():
            try:
                import readline  # noqa: F401 - gives input() line editing and recall
            except ImportError:  # pragma: no cover - Windows
                pass
        self.banner()
        while True:
            try:
                question = read_question(self.read_line)
            except EOFError:
                self.console.print()
                return 0
            except KeyboardInterrupt:
                self.console.print("\n[dim](Ctrl-C stops an answer; /exit or Ctrl-D leaves)[/]")
                continue
            text = question.strip()
            if not text:
                continue
            if text.startswith("/"):
                try:
                    if self.command(text) == "exit":
                        return 0
                except StarassistError as exc:
                    self.console.print(f"[red]error:[/] {exc}", highlight=False)
                except OSError as exc:
                    self.console.print(f"[red]error:[/] {exc.strerror or exc}: {exc.filename}", highlight=False)
                continue
            try:
                self.answer(question)
            except StarassistError as exc:
                self.console.print(f"[red]error:[/] {exc}", highlight=False)

    def banner(self) -> None:
        info = self.session.backend.info
        style = choose_style(info)
        self.console.print(
            f"[bold]starassist chat[/] — {info.name} ({'chat template' if style == 'template' else 'Tech Assistant prompt'}, "
            f"{info.context_length}-token context). /help for commands, Ctrl-D to leave.",
            highlight=False,
        )
        if self.session.turns:
            self.console.print(f"[dim]resumed a conversation of {len(self.session.turns) // 2} exchanges[/]")

    def answer(self, question: str) -> GenerationResult:
        started = time.perf_counter()
        with ctrl_c_cancels() as stop, live_markdown(self.console) as on_text:
            result = self.session.ask(question, cancel=stop.is_set, on_text=on_text)
        seconds = time.perf_counter() - started
        note = {"cancelled": "stopped", "max_tokens": "length limit", "context_full": "context full"}.get(result.stop_reason)
        tokens = result.timings.generated_tokens
        speed = tokens / (result.timings.generation_ms / 1000) if result.timings.generation_ms else 0.0
        footer = f"{tokens} tokens · {speed:.1f} tok/s · {seconds:.1f} s" + (f" · {note}" if note else "")
        prompt = self.session.last_prompt
        if prompt is not None and prompt.turns_dropped:
            footer += f" · {prompt.turns_dropped // 2} oldest exchanges left out to fit the context"
        self.console.print(f"[dim][{footer}][/]", highlight=False)
        return result

    def command(self, line: str) -> str | None:
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        session = self.session
        if name in ("/exit", "/quit"):
            return "exit"
        if name == "/help":
            where = session.history_path or "nowhere (history off)"
            self.console.print(HELP.format(history=where), highlight=False, markup=False)
        elif name == "/reset":
            session.reset()
            self.console.print("[dim]conversation cleared[/]")
        elif name == "/save":
            if not arg:
                raise StarassistError("/save needs a path: /save PATH")
            path = Path(arg).expanduser()
            save_history(path, session.turns, session.backend.info.name)
            self.console.print(f"[dim]saved {len(session.turns) // 2} exchanges to {path}[/]", highlight=False)
        elif name == "/load":
            if not arg:
                raise StarassistError("/load needs a path: /load PATH")
            session.turns = load_history(Path(arg).expanduser())
            session.save()
            self.console.print(f"[dim]loaded {len(session.turns) // 2} exchanges from {arg}[/]", highlight=False)
        elif name == "/file":
            if not arg:
                raise StarassistError("/file needs a path: /file PATH or /file PATH:L1-L2")
            attachment = read_attachment(arg)
            session.attachments.append(attachment)
            lines = attachment.code.count("\n") + (0 if attachment.code.endswith("\n") else 1)
            self.console.print(f"[dim]attached {attachment.label} ({lines} lines) to your next question[/]", highlight=False)
        elif name == "/model":
            self.model(arg)
        else:
            raise StarassistError(f"unknown command {name} — /help lists the commands")
        return None

    def model(self, spec: str) -> None:
        session = self.session
        if spec:
            import copy

            from .app import load_model

            settings = copy.deepcopy(session.settings)
            settings.model.path = spec
            backend = load_model(settings)
            session.backend.close()
            session.backend, session.settings = backend, settings
        info = session.backend.info
        style = "chat template" if choose_style(info) == "template" else "Tech Assistant prompt (base model)"
        self.console.print(
            f"{info.name}: {info.arch}, {info.quantization or '?'}, {info.context_length}-token context, {style}\n{info.path}",
            highlight=False,
        )


def stream_plain(out: TextIO) -> Callable[[str], None]:
    def write(piece: str) -> None:
        out.write(piece)
        out.flush()

    return write


def answer_once(session: ChatSession, question: str, console: Any, out: TextIO = sys.stdout) -> GenerationResult:
    """`--once` and piped input: one answer on stdout (markdown rendered only on a terminal)."""
    if out.isatty():
        return Terminal(session, console).answer(question)
    result = session.ask(question, on_text=stream_plain(out))
    out.write("\n")
    out.flush()
    return result
