"""Open documents, kept in sync by didOpen/didChange/didClose. Positions are LSP (line, character) in the
negotiated encoding; the column conversion lives in `starassist.engine.textpos`.

A document is a list of lines in blocks of at most `BLOCK` lines, each block with its character count, so an
edit costs time for the edited lines and the block list (O(edit + line + lines/BLOCK)), never a pass over the
whole text: a keystroke in a 10 MB file is as cheap as in a small one. The whole text is joined only when
asked for (`text`), and kept until the next edit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from starassist.engine.textpos import UTF16, column_to_index, line_starts, offset_at, split_lines

BLOCK = 512


def apply_change(text: str, start: tuple[int, int] | None, end: tuple[int, int] | None, new_text: str,
                 encoding: str) -> str:
    """The text after one `didChange` content change; start/end None means a full replacement (a plain-string
    reference for tests and clients; the server uses `Lines`)."""
    if start is None or end is None:
        return new_text
    starts = line_starts(text)
    a = offset_at(text, start[0], start[1], encoding, starts)
    b = offset_at(text, end[0], end[1], encoding, starts)
    if b < a:
        a, b = b, a
    return text[:a] + new_text + text[b:]


def _lines(text: str) -> list[str]:
    """Lines with their breaks, always ending with the last line (without a break, possibly empty), so the
    list has exactly as many entries as the LSP has lines."""
    lines = split_lines(text)
    if not lines or lines[-1].endswith(("\n", "\r")):
        lines.append("")
    return lines


def _content(line: str) -> str:
    return line.rstrip("\r\n")


@dataclass(frozen=True)
class Excerpt:
    """Whole lines around a cursor: what a completion needs, without copying a big document."""

    text: str
    offset: int  # the cursor in `text`
    first_line: int  # document line of text's first line
    start: int  # document offset of text's first character


class Lines:
    def __init__(self, text: str = "") -> None:
        lines = _lines(text)
        self._blocks = [lines[i : i + BLOCK] for i in range(0, len(lines), BLOCK)]
        self._chars = [sum(map(len, b)) for b in self._blocks]
        self._count = len(lines)
        self._length = len(text)
        self._text: str | None = text

    def __len__(self) -> int:
        return self._length

    @property
    def line_count(self) -> int:
        return self._count

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = "".join(line for block in self._blocks for line in block)
        return self._text

    def _locate(self, line: int) -> tuple[int, int, int]:
        """(block, index in block, offset of the block's first character) of a line in range."""
        start = 0
        for b, block in enumerate(self._blocks):
            if line < len(block):
                return b, line, start
            line -= len(block)
            start += self._chars[b]
        raise IndexError(line)

    def line(self, n: int) -> str:
        b, i, _ = self._locate(n)
        return self._blocks[b][i]

    def _clamp(self, line: int, character: int, encoding: str) -> tuple[int, int, int]:
        """(line, index in the line, document offset) of a position; out of range clamps like `offset_at`."""
        if line < 0:
            return 0, 0, 0
        if line >= self._count:
            last = self._count - 1
            return last, len(self.line(last)), self._length
        b, i, start = self._locate(line)
        block = self._blocks[b]
        text = block[i]
        index = column_to_index(_content(text), character, encoding)
        return line, index, start + sum(map(len, block[:i])) + index

    def offset(self, line: int, character: int, encoding: str = UTF16) -> int:
        return self._clamp(line, character, encoding)[2]

    def replace(self, start: tuple[int, int], end: tuple[int, int], new_text: str, encoding: str) -> None:
        la, ia, a = self._clamp(*start, encoding)
        lb, ib, b = self._clamp(*end, encoding)
        if b < a:
            la, ia, a, lb, ib, b = lb, ib, b, la, ia, a
        first, last = la, lb
        piece = self.line(la)[:ia] + new_text + self.line(lb)[ib:]
        # A "\r" that meets a "\n" across the edit's edge becomes one break: re-split the neighbour too.
        if piece.startswith("\n") and first > 0 and self.line(first - 1).endswith("\r"):
            first -= 1
            piece = self.line(first) + piece
        if piece.endswith("\r") and last + 1 < self._count and self.line(last + 1).startswith("\n"):
            last += 1
            piece += self.line(last)
        new_lines = _lines(piece) if last == self._count - 1 else split_lines(piece)
        self._splice(first, last, new_lines)
        self._length += len(new_text) - (b - a)
        self._text = None

    def _splice(self, first: int, last: int, new_lines: list[str]) -> None:
        """Replace lines first..last (inclusive) with `new_lines`, rebuilding only the blocks they touch."""
        b0, i0, _ = self._locate(first)
        b1, i1, _ = self._locate(last)
        merged = [line for block in self._blocks[b0 : b1 + 1] for line in block]
        end = sum(len(blk) for blk in self._blocks[b0:b1]) + i1 + 1
        merged[i0:end] = new_lines
        blocks = [merged[i : i + BLOCK] for i in range(0, len(merged), BLOCK)]
        self._blocks[b0 : b1 + 1] = blocks
        self._chars[b0 : b1 + 1] = [sum(map(len, blk)) for blk in blocks]
        self._count += len(new_lines) - (last - first + 1)

    def _walk(self, line: int, step: int) -> Iterator[str]:
        """Lines from `line` (exclusive) onwards in direction `step` (+1 or -1), without re-locating each."""
        b, i, _ = self._locate(line)
        while True:
            i += step
            if i < 0:
                b -= 1
                if b < 0:
                    return
                i = len(self._blocks[b]) - 1
            elif i >= len(self._blocks[b]):
                b, i = b + 1, 0
                if b >= len(self._blocks):
                    return
            yield self._blocks[b][i]

    def excerpt(self, line: int, character: int, encoding: str, radius: int) -> Excerpt:
        """The lines around a position holding at least `radius` characters on each side of it (or the whole
        document); the cursor's own line is always whole."""
        line, index, offset = self._clamp(line, character, encoding)
        current = self.line(line)
        head: list[str] = []
        before = 0
        for text in self._walk(line, -1):
            if before >= radius:
                break
            head.append(text)
            before += len(text)
        tail: list[str] = []
        after = len(current) - index
        for text in self._walk(line, 1):
            if after >= radius:
                break
            tail.append(text)
            after += len(text)
        first = line - len(head)
        if first == 0 and line + len(tail) == self._count - 1:
            return Excerpt(self.text, offset, 0, 0)
        head.reverse()
        text = "".join([*head, current, *tail])
        return Excerpt(text, before + index, first, offset - index - before)


class Document:
    def __init__(self, uri: str, text: str, version: int = 0, language_id: str = "") -> None:
        self.uri = uri
        self.lines = Lines(text)
        self.version = version
        self.language_id = language_id

    @property
    def text(self) -> str:
        return self.lines.text

    def offset(self, line: int, character: int, encoding: str = UTF16) -> int:
        return self.lines.offset(line, character, encoding)

    def apply(self, start: tuple[int, int] | None, end: tuple[int, int] | None, new_text: str, encoding: str) -> None:
        if start is None or end is None:
            self.lines = Lines(new_text)
        else:
            self.lines.replace(start, end, new_text, encoding)


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
            doc.apply(start, end, new_text, encoding)
        doc.version = version
        return doc

    def close(self, uri: str) -> None:
        self.docs.pop(uri, None)

    def get(self, uri: str) -> Document | None:
        return self.docs.get(uri)

    def others(self, uri: str) -> list[Document]:
        return [d for u, d in self.docs.items() if u != uri]
