"""Open documents and LSP position conversion. Pure functions plus a small store.

LSP positions are (line, character) where `character` counts code units of the negotiated encoding: UTF-16 by
default (an emoji is 2 units, a CJK character 1), UTF-8 (bytes) or UTF-32 (code points, like Python's str).
Lines end at "\\n", "\\r\\n" or "\\r" only; Python's `str.splitlines` also splits at form feeds and U+2028,
which the protocol does not, so it is not used here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def code_units(text: str, encoding: str) -> int:
    """Length of `text` in code units of a position encoding."""
    if encoding == UTF32:
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", errors="surrogatepass"))
    # UTF-16: characters outside the Basic Multilingual Plane take two units (a surrogate pair).
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _column_to_index(line: str, units: int, encoding: str) -> int:
    """Index into `line` (a line without its break) for a column in code units; clamped to the line.

    A column that falls inside a character (half a surrogate pair, a byte inside a UTF-8 sequence) rounds up
    to the character's end, as clients put the cursor after the whole character.
    """
    if encoding == UTF32:
        return min(max(units, 0), len(line))
    seen = 0
    for i, ch in enumerate(line):
        if seen >= units:
            return i
        seen += code_units(ch, encoding)
    return len(line)


def line_starts(text: str) -> list[int]:
    """Offsets where each line begins (LSP line breaks)."""
    return [0] + [m.end() for m in _LINE_BREAK.finditer(text)]


def _line_text(text: str, starts: list[int], line: int) -> str:
    start = starts[line]
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    return text[start:end].rstrip("\r\n")


def offset_at(text: str, line: int, character: int, encoding: str = UTF16, starts: list[int] | None = None) -> int:
    """Character offset into `text` of an LSP position. Positions past the end clamp to the end."""
    starts = starts if starts is not None else line_starts(text)
    if line < 0:
        return 0
    if line >= len(starts):
        return len(text)
    return starts[line] + _column_to_index(_line_text(text, starts, line), character, encoding)


def position_at(text: str, offset: int, encoding: str = UTF16, starts: list[int] | None = None) -> tuple[int, int]:
    """LSP (line, character) of a character offset into `text`."""
    starts = starts if starts is not None else line_starts(text)
    offset = min(max(offset, 0), len(text))
    lo, hi = 0, len(starts) - 1
    while lo < hi:  # last line start <= offset
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo, code_units(text[starts[lo] : offset], encoding)


def line_end(text: str, offset: int) -> int:
    """Offset of the end of the line containing `offset` (before its line break)."""
    m = _LINE_BREAK.search(text, offset)
    return m.start() if m else len(text)


def eol_of(text: str) -> str:
    """The document's line break style (first one found), "\\n" by default."""
    m = _LINE_BREAK.search(text)
    return m.group(0) if m else "\n"


@dataclass
class Document:
    uri: str
    text: str
    version: int = 0
    language_id: str = ""

    def offset(self, line: int, character: int, encoding: str) -> int:
        return offset_at(self.text, line, character, encoding)

    def position(self, offset: int, encoding: str) -> tuple[int, int]:
        return position_at(self.text, offset, encoding)


def apply_change(text: str, start: tuple[int, int] | None, end: tuple[int, int] | None, new_text: str,
                 encoding: str) -> str:
    """The text after one `didChange` content change; start/end None means a full replacement."""
    if start is None or end is None:
        return new_text
    starts = line_starts(text)
    a = offset_at(text, start[0], start[1], encoding, starts)
    b = offset_at(text, end[0], end[1], encoding, starts)
    if b < a:
        a, b = b, a
    return text[:a] + new_text + text[b:]


class DocumentStore:
    """The open documents, kept in sync by didOpen/didChange/didClose (incremental or full sync)."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    def open(self, uri: str, text: str, version: int, language_id: str = "") -> Document:
        doc = Document(uri, text, version, language_id)
        self.docs[uri] = doc
        return doc

    def change(self, uri: str, version: int, changes: list[tuple[tuple[int, int] | None, tuple[int, int] | None, str]],
               encoding: str) -> Document | None:
        doc = self.docs.get(uri)
        if doc is None:
            return None
        for start, end, new_text in changes:
            doc.text = apply_change(doc.text, start, end, new_text, encoding)
        doc.version = version
        return doc

    def close(self, uri: str) -> None:
        self.docs.pop(uri, None)

    def get(self, uri: str) -> Document | None:
        return self.docs.get(uri)

    def others(self, uri: str) -> list[Document]:
        return [d for u, d in self.docs.items() if u != uri]
