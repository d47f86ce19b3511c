"""Open documents, kept in sync by didOpen/didChange/didClose. Positions are LSP (line, character) in the
negotiated encoding; the conversion lives in `starassist.engine.textpos`."""

from __future__ import annotations

from dataclasses import dataclass

from starassist.engine.textpos import UTF16, line_starts, offset_at


@dataclass
class Document:
    uri: str
    text: str
    version: int = 0
    language_id: str = ""

    def offset(self, line: int, character: int, encoding: str = UTF16) -> int:
        return offset_at(self.text, line, character, encoding)


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
