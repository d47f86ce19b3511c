"""Open documents, kept in sync by didOpen/didChange/didClose. Positions are LSP (line, character) in the
negotiated encoding; the column conversion lives in `starassist.engine.textpos`.

A document is a list of blocks of about `BLOCK_CHARS` characters that each end after a line break, with each
block's count of line breaks. An edit rebuilds only the blocks it touches, so it costs the edit, its lines and
a walk over the block counts (10 MB is ~1,300 blocks), never a pass over the whole text: a keystroke in a
10 MB file is as cheap as in a small one, and the document takes about its own size in memory. The whole text
is joined only when asked for (`text`), and kept until the next edit for documents up to `CACHE_CHARS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice

from starassist.engine.textpos import UTF16, column_to_index, line_starts, offset_at

BLOCK_CHARS = 8192
CACHE_CHARS = 1 << 20
_BREAK = re.compile(r"\r\n|\r|\n")


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


def _breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _chunk(text: str) -> list[str]:
    """`text` cut after line breaks into blocks of about BLOCK_CHARS (a longer line stays whole)."""
    blocks, start = [], 0
    while len(text) - start > BLOCK_CHARS:
        m = _BREAK.search(text, start + BLOCK_CHARS)
        if m is None:
            break
        blocks.append(text[start : m.end()])
        start = m.end()
    if start < len(text) or not blocks:
        blocks.append(text[start:])
    return blocks


@dataclass(frozen=True)
class Excerpt:
    """Whole lines around a cursor: what a completion needs, without copying a big document."""

    text: str
    offset: int  # the cursor in `text`
    first_line: int  # document line of text's first line
    start: int  # document offset of text's first character


class Lines:
    def __init__(self, text: str = "") -> None:
        self._blocks = _chunk(text)
        self._nbreaks = [_breaks(b) for b in self._blocks]
        self._length = len(text)
        self._count = sum(self._nbreaks) + 1
        self._text: str | None = text if len(text) <= CACHE_CHARS else None

    def __len__(self) -> int:
        return self._length

    @property
    def line_count(self) -> int:
        return self._count

    @property
    def text(self) -> str:
        if self._text is not None:
            return self._text
        text = "".join(self._blocks)  # one C call: a consistent snapshot even from another thread
        if len(text) <= CACHE_CHARS:
            self._text = text
        return text

    # -- where things are -----------------------------------------------------------------------------------

    def _block_of_line(self, line: int) -> tuple[int, int, int]:
        """(block, line within it, the block's document offset) of a line in range."""
        start, last = 0, len(self._blocks) - 1
        for b, n in enumerate(self._nbreaks):
            if line < n or b == last:
                return b, line, start
            line -= n
            start += len(self._blocks[b])
        raise IndexError(line)

    def _block_of_offset(self, offset: int) -> tuple[int, int]:
        """(block, its document offset) holding `offset`; the end of the text is in the last block."""
        start, last = 0, len(self._blocks) - 1
        for b, block in enumerate(self._blocks):
            if offset < start + len(block) or b == last:
                return b, start
            start += len(block)
        raise IndexError(offset)

    def offset(self, line: int, character: int, encoding: str = UTF16) -> int:
        """Character offset of a position; out of range clamps like `offset_at`."""
        if line < 0:
            return 0
        if line >= self._count:
            return self._length
        b, i, start = self._block_of_line(line)
        block = self._blocks[b]
        a = 0 if i == 0 else next(islice(_BREAK.finditer(block), i - 1, None)).end()
        m = _BREAK.search(block, a)
        content = block[a : m.start() if m else len(block)]
        return start + a + column_to_index(content, character, encoding)

    def _line_start(self, offset: int) -> int:
        b, start = self._block_of_offset(offset)
        block, k = self._blocks[b], offset - start
        nl, cr = block.rfind("\n", 0, k), block.rfind("\r", 0, k)
        if cr > nl and cr + 1 < len(block) and block[cr + 1] == "\n":
            return start + cr + 2  # `offset` sat between "\r" and "\n": the line starts after both
        return start + max(nl, cr) + 1  # blocks start at line starts: -1 + 1 is the block's start

    def _line_end(self, offset: int) -> int:
        """Offset after the line break that ends the line holding `offset` (or the end of the text)."""
        b, start = self._block_of_offset(offset)
        block = self._blocks[b]
        m = _BREAK.search(block, offset - start)
        return start + (m.end() if m else len(block))

    def _slice(self, a: int, b: int) -> str:
        parts, start = [], 0
        for block in self._blocks:
            end = start + len(block)
            if end > a and start < b:
                parts.append(block[max(0, a - start) : b - start])
            if end >= b:
                break
            start = end
        return "".join(parts)

    def _lines_before(self, offset: int) -> int:
        b, start = self._block_of_offset(offset)
        return sum(self._nbreaks[:b]) + _breaks(self._blocks[b][: offset - start])

    # -- edits ----------------------------------------------------------------------------------------------

    def replace(self, start: tuple[int, int], end: tuple[int, int], new_text: str, encoding: str) -> None:
        a, b = self.offset(*start, encoding), self.offset(*end, encoding)
        if b < a:
            a, b = b, a
        b0, s0 = self._block_of_offset(a)
        b1, _ = self._block_of_offset(b)
        # A "\r" and a "\n" meeting across a block edge would be one break counted as two: take the neighbour in.
        if b0 > 0 and self._blocks[b0 - 1].endswith("\r"):
            b0 -= 1
            s0 -= len(self._blocks[b0])
        if b1 + 1 < len(self._blocks) and self._blocks[b1 + 1].startswith("\n"):
            b1 += 1
        merged = "".join(self._blocks[b0 : b1 + 1])
        piece = merged[: a - s0] + new_text + merged[b - s0 :]
        blocks = _chunk(piece) if piece or len(self._blocks) == b1 - b0 + 1 else []
        removed = sum(self._nbreaks[b0 : b1 + 1])
        self._blocks[b0 : b1 + 1] = blocks
        counts = [_breaks(blk) for blk in blocks]
        self._nbreaks[b0 : b1 + 1] = counts
        self._count += sum(counts) - removed
        self._length += len(new_text) - (b - a)
        self._text = None

    def excerpt(self, line: int, character: int, encoding: str, radius: int, align: int = 1) -> Excerpt:
        """The lines around a position holding at least `radius` characters on each side of it (or the whole
        document); the cursor's own line is always whole. The first line is a multiple of `align`, so that
        line numbers counted in the excerpt keep the document's grid (the prompt window aligns to it)."""
        offset = self.offset(line, character, encoding)
        start = self._line_start(max(0, offset - radius))
        first_line = self._lines_before(start)
        if first_line % align:
            first_line -= first_line % align
            start = self.offset(first_line, 0)
        end = self._line_end(min(self._length, offset + radius))
        if start == 0 and end >= self._length:
            return Excerpt(self.text, offset, 0, 0)
        return Excerpt(self._slice(start, end), offset - start, first_line, start)


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

    def memory(self) -> int:
        """Bytes held by the documents' text (for `starassist/status`)."""
        import sys

        return sum(sum(map(sys.getsizeof, d.lines._blocks)) for d in self.docs.values())

    def others(self, uri: str) -> list[Document]:
        return [d for u, d in self.docs.items() if u != uri]
