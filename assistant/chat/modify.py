"""Propose an edit of a selection, show it as a unified diff, and apply it to the file atomically.

The file is handled as bytes: only the selected lines are replaced, so everything outside them (line endings,
a missing final newline, encoding quirks) stays byte-identical. Applying refuses when the file changed after it
was read (content hash and mtime are compared right before the rename).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starassist.engine.backend import Backend, CancelCheck
from starassist.engine.errors import CancelledError, StarassistError
from starassist.engine.files import write_atomic
from starassist.engine.naming import local_file_name
from starassist.engine.settings import ChatSettings
from starassist.prompts import load_prompts

from .explain import chat_settings, language_for
from .prompt import build_chat_prompt, generate_answer

# The answer is code: greedy, and no repeat penalty (code repeats names by nature).
_CODE_SAMPLING = ChatSettings(temperature=0.0, repeat_penalty=1.0)


class FileChangedError(StarassistError):
    pass


class NoEditError(StarassistError):
    pass


# ---- parsing the model's answer --------------------------------------------------------------------------

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n`]*\n", re.MULTILINE)


def extract_code(answer: str) -> str:
    """The code in a model's answer: the first fenced block (closed or not), else the answer itself."""
    text = answer.replace("\r\n", "\n")
    opening = _FENCE.search(text)
    if opening is None:
        return text.strip("\n")
    fence = opening.group(1)
    body = text[opening.end() :]
    closing = re.search(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", body, re.MULTILINE)
    if closing is not None:
        body = body[: closing.start()]
    return body.strip("\n")


def _margin(lines: list[str]) -> str:
    """The leading whitespace shared by all non-blank lines."""
    indents = [line[: len(line) - len(line.lstrip(" \t"))] for line in lines if line.strip()]
    if not indents:
        return ""
    return os.path.commonprefix(indents)


def dedent(code: str) -> tuple[str, str]:
    """(code without its common margin, the margin)."""
    lines = code.split("\n")
    margin = _margin(lines)
    return "\n".join(line[len(margin) :] if line.strip() else "" for line in lines), margin


def fit_to_selection(code: str, selection: str) -> str:
    """Give the model's code the selection's conventions: its margin, line endings and trailing newline."""
    newline = "\r\n" if "\r\n" in selection else "\n"
    body, _ = dedent(code.replace("\r\n", "\n").rstrip())
    _, margin = dedent(selection.replace("\r\n", "\n"))
    lines = [(margin + line) if line.strip() else "" for line in body.split("\n")]
    out = newline.join(lines)
    ending = selection[len(selection.rstrip("\r\n")) :]
    if ending:
        out += newline * max(1, ending.count("\n"))
    return out


# ---- the model call -------------------------------------------------------------------------------------


def propose_edit(
    backend: Backend,
    code: str,
    instruction: str,
    *,
    path: str | None = None,
    language: str | None = None,
    settings: Any = None,
    cancel: CancelCheck | None = None,
) -> str:
    """Replacement text for the selection `code`, following `instruction`. Raises CancelledError when cancelled
    and NoEditError when the model's answer holds no code."""
    chat = chat_settings(settings)
    lang = language_for(path, language)
    body, _ = dedent(code.replace("\r\n", "\n").strip("\n"))
    # The model sees the selection without its margin; it is put back afterwards.
    template = load_prompts().modify
    question, prefix = template.render(
        code=body, language=lang, location=f" from {path}" if path else "", instruction=instruction.strip()
    )
    # Room for a rewrite a good deal longer than the selection, within the chat answer limit.
    wanted = max(64, 2 * len(backend.tokenize(body)) + 32)
    prompt = build_chat_prompt(backend, template.example_turns(), question, max_answer_tokens=min(chat.max_tokens, wanted),
                               answer_prefix=prefix)
    result = generate_answer(backend, prompt, sampling=_CODE_SAMPLING, cancel=cancel,
                             extra_stop_strings=("\n```",))
    if result.stop_reason == "cancelled":
        raise CancelledError("modify was cancelled")
    new_code = extract_code(prefix + result.text)
    if not new_code.strip():
        raise NoEditError("the model proposed no code for this edit — rephrase the instruction or use a larger model (--model)")
    return fit_to_selection(new_code, code)


# ---- files: read a selection, diff, apply atomically ----------------------------------------------------


@dataclass(frozen=True)
class FileSelection:
    """A file as read for an edit, and the byte range of its selected lines (1-based, inclusive)."""

    path: Path
    data: bytes
    digest: str
    mtime_ns: int
    start_line: int
    end_line: int
    start: int
    end: int

    @property
    def text(self) -> str:
        return self.data[self.start : self.end].decode("utf-8")

    def replaced(self, replacement: str) -> bytes:
        return self.data[: self.start] + replacement.encode("utf-8") + self.data[self.end :]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_selection(path: str | os.PathLike[str], start_line: int | None = None, end_line: int | None = None) -> FileSelection:
    """Read `path` and locate lines start_line..end_line (the whole file when no range is given)."""
    real = Path(os.path.realpath(path))  # edit the target of a symlink, not the link
    data = real.read_bytes()
    mtime_ns = real.stat().st_mtime_ns
    data.decode("utf-8")  # refuse binary or non-UTF-8 files early
    lines = data.splitlines(keepends=True)
    n = len(lines)
    first = 1 if start_line is None else start_line
    last = (n if start_line is None else start_line) if end_line is None else end_line
    if n == 0:
        raise StarassistError(f"{path} is empty — there is nothing to select")
    if not (1 <= first <= last <= n):
        raise StarassistError(f"lines {first}-{last} are outside {path} (it has {n} lines) — pick a range within 1-{n}")
    start = sum(len(x) for x in lines[: first - 1])
    end = start + sum(len(x) for x in lines[first - 1 : last])
    if start == 0 and data.startswith(b"\xef\xbb\xbf"):
        start = 3  # keep a UTF-8 byte order mark out of the selection
    return FileSelection(real, data, _digest(data), mtime_ns, first, last, start, end)


def unified_diff(selection: FileSelection, replacement: str, *, label: str | None = None) -> str:
    """A unified diff of the whole file before and after the edit (empty when nothing changes)."""
    name = label or str(selection.path)
    before = selection.data.decode("utf-8").splitlines(keepends=True)
    after = selection.replaced(replacement).decode("utf-8").splitlines(keepends=True)
    out = []
    for line in difflib.unified_diff(before, after, f"a/{name}", f"b/{name}"):
        if line.endswith(("\n", "\r")):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


def render_diff(diff: str) -> Any:
    """A rich renderable of a unified diff with syntax highlighting."""
    from rich.syntax import Syntax

    return Syntax(diff.replace("\r\n", "\n"), "diff", theme="ansi_dark", background_color="default")


def _unchanged(selection: FileSelection) -> None:
    path = selection.path
    try:
        data = path.read_bytes()
        mtime_ns = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise FileChangedError(f"{path} was removed since it was read — nothing was written") from None
    if _digest(data) != selection.digest or mtime_ns != selection.mtime_ns:
        raise FileChangedError(f"{path} changed since it was read — nothing was written; run modify again")


def apply_edit(selection: FileSelection, replacement: str) -> bytes:
    """Replace the selected lines in the file atomically, keeping the file's mode. Refuses with
    FileChangedError if the file changed since `selection` was read (checked again right before the rename)."""
    path = selection.path
    _unchanged(selection)
    new_data = selection.replaced(replacement)
    write_atomic(path, new_data, mode=stat.S_IMODE(path.stat().st_mode), check=lambda: _unchanged(selection))
    return new_data


__all__ = [
    "FileChangedError",
    "FileSelection",
    "NoEditError",
    "apply_edit",
    "extract_code",
    "fit_to_selection",
    "parse_location",
    "propose_edit",
    "read_selection",
    "render_diff",
    "unified_diff",
]


_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def prompt_path(path: Path) -> str:
    """How a file is named to the model (see `starassist.engine.naming`)."""
    return local_file_name(path)[0]


def parse_location(spec: str) -> tuple[Path, int | None, int | None]:
    """`FILE`, `FILE:L` or `FILE:L1-L2` -> (path, first line, last line); lines are 1-based and inclusive."""
    head, sep, tail = spec.rpartition(":")
    match = _RANGE.match(tail) if sep else None
    if not head or match is None:
        return Path(spec), None, None
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else first
    if first < 1 or last < first:
        raise StarassistError(f"bad line range {tail!r} in {spec} — use FILE:L1-L2 with 1 <= L1 <= L2")
    return Path(head), first, last
