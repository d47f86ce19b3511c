"""Explain a piece of code in markdown (used by `starassist explain` and the LSP's `starassist.explain`)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from starassist.engine.backend import Backend, CancelCheck, TextCallback
from starassist.engine.errors import CancelledError
from starassist.engine.settings import ChatSettings
from starassist.prompts import load_prompts

from .prompt import build_chat_prompt, generate_answer

# Fence names by file suffix; anything else uses the suffix itself (or nothing).
_LANGUAGES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".jsx": "jsx", ".ts": "typescript", ".tsx": "tsx", ".rs": "rust", ".go": "go", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".java": "java", ".kt": "kotlin",
    ".swift": "swift", ".rb": "ruby", ".php": "php", ".cs": "csharp", ".scala": "scala", ".lua": "lua",
    ".sh": "bash", ".bash": "bash", ".zsh": "zsh", ".ps1": "powershell", ".sql": "sql", ".r": "r",
    ".jl": "julia", ".hs": "haskell", ".ml": "ocaml", ".ex": "elixir", ".exs": "elixir", ".erl": "erlang",
    ".dart": "dart", ".m": "objectivec", ".pl": "perl", ".html": "html", ".css": "css", ".scss": "scss",
    ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".md": "markdown", ".vim": "vim",
    ".zig": "zig", ".nim": "nim", ".vue": "vue", ".svelte": "svelte", ".tf": "hcl", ".dockerfile": "dockerfile",
}


def language_for(path: str | None, language: str | None = None) -> str:
    """Fence language for a file: the editor's language id if given, else from the suffix."""
    if language:
        return language
    if not path:
        return ""
    p = PurePath(path)
    if p.name.lower() == "dockerfile":
        return "dockerfile"
    if p.name.lower() == "makefile":
        return "makefile"
    suffix = p.suffix.lower()
    return _LANGUAGES.get(suffix, suffix.lstrip("."))


def chat_settings(settings: Any) -> ChatSettings:
    """The chat section from a whole `Settings` tree, a `ChatSettings`, or defaults for None."""
    if settings is None:
        return ChatSettings()
    return getattr(settings, "chat", settings)


def explain_code(
    backend: Backend,
    code: str,
    *,
    path: str | None = None,
    language: str | None = None,
    settings: Any = None,
    cancel: CancelCheck | None = None,
    on_text: TextCallback | None = None,
) -> str:
    """A markdown explanation of `code`. Raises CancelledError when `cancel` stopped it."""
    chat = chat_settings(settings)
    lang = language_for(path, language)
    question, prefix = load_prompts().explain.render(
        code=code.strip("\n"), language=lang, location=f" from {path}" if path else ""
    )
    prompt = build_chat_prompt(backend, [], question, max_answer_tokens=chat.max_tokens, answer_prefix=prefix)
    if prefix and on_text is not None:
        on_text(prefix)
    result = generate_answer(backend, prompt, sampling=chat, cancel=cancel, on_text=on_text)
    if result.stop_reason == "cancelled":
        raise CancelledError("explain was cancelled")
    return (prefix + result.text).strip()


__all__ = ["chat_settings", "explain_code", "language_for"]
