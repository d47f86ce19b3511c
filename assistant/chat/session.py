"""A chat conversation: its turns, code attached to the next question, and the history file. The model work
goes through `starassist.chat.prompt`; the terminal UI that drives a session lives in the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from starassist.engine.backend import Backend, GenerationResult
from starassist.engine.errors import StarassistError
from starassist.engine.files import write_atomic
from starassist.engine.settings import Settings, data_dir
from starassist.prompts import Turn

from .explain import language_for
from .prompt import ChatPrompt, build_chat_prompt, generate_answer

HISTORY_VERSION = 1


# ---- history files ---------------------------------------------------------------------------------------


def default_history_path(settings: Settings) -> Path:
    if settings.chat.history_file:
        return Path(settings.chat.history_file).expanduser()
    return data_dir() / "chat_history.json"


def save_history(path: Path, turns: list[Turn], model: str) -> None:
    payload = {"version": HISTORY_VERSION, "model": model, "turns": [{"role": t.role, "content": t.content} for t in turns]}
    write_atomic(path, json.dumps(payload, ensure_ascii=False, indent=1) + "\n", private=True)


def load_history(path: Path) -> list[Turn]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StarassistError(f"{path} is not a saved conversation ({exc.msg}) — save one with /save PATH") from None
    turns = data.get("turns") if isinstance(data, dict) else None
    if not isinstance(turns, list):
        raise StarassistError(f"{path} is not a saved conversation (no turns) — save one with /save PATH")
    out = []
    for item in turns:
        if not (isinstance(item, dict) and item.get("role") in ("user", "assistant") and isinstance(item.get("content"), str)):
            raise StarassistError(f"{path} has a malformed turn {str(item)[:60]!r} — fix or remove the file")
        out.append(Turn(item["role"], item["content"]))
    return out


# ---- the session -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    label: str
    language: str
    code: str

    def as_markdown(self) -> str:
        return f"{self.label}:\n```{self.language}\n{self.code.rstrip()}\n```"


def read_attachment(spec: str) -> Attachment:
    from .modify import parse_location, prompt_path, read_selection

    path, first, last = parse_location(spec)
    selection = read_selection(path, first, last if first is not None else None)
    name = prompt_path(path)
    label = name if first is None else f"{name} (lines {selection.start_line}-{selection.end_line})"
    return Attachment(label, language_for(str(path)), selection.text)


@dataclass
class ChatSession:
    backend: Backend
    settings: Settings
    history_path: Path | None = None  # None: not saved (scripts)
    turns: list[Turn] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    last_prompt: ChatPrompt | None = None

    def user_message(self, question: str) -> str:
        parts = [a.as_markdown() for a in self.attachments]
        return "\n\n".join([*parts, question.strip()])

    def ask(self, question: str, *, cancel: Callable[[], bool] | None = None,
            on_text: Callable[[str], None] | None = None) -> GenerationResult:
        """Answer `question` (with any attached code); the exchange joins the history unless cancelled empty."""
        message = self.user_message(question)
        chat = self.settings.chat
        prompt = build_chat_prompt(self.backend, self.turns, message, max_answer_tokens=chat.max_tokens)
        self.last_prompt = prompt
        result = generate_answer(self.backend, prompt, sampling=chat, cancel=cancel, on_text=on_text)
        self.attachments = []
        answer = result.text.strip()
        if answer:
            self.turns += [Turn("user", message), Turn("assistant", answer)]
            self.save()
        return result

    def save(self) -> None:
        if self.history_path is not None:
            save_history(self.history_path, self.turns, self.backend.info.name)

    def reset(self) -> None:
        self.turns = []
        self.attachments = []
        self.save()
