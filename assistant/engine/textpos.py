"""Lines, columns and offsets: the one conversion between (line, column) positions and character offsets.

Lines end at "\\n", "\\r\\n" or "\\r" only (what editors and LSP count); Python's `str.splitlines` also splits
at form feeds and U+2028, which would disagree with editors about line numbers, so it is not used.
Columns count code units of an encoding: "utf-16" (LSP's default: an emoji is 2 units, a CJK character 1),
"utf-8" (bytes) or "utf-32" (code points, like Python's str; what the command line's --col uses).
"""

from __future__ import annotations

import re

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(text: str) -> list[str]:
    """Lines with their endings; joining them gives back `text`."""
    return _LINE.findall(text)


def code_units(text: str, encoding: str) -> int:
    """Length of `text` in code units of a position encoding."""
    if encoding == UTF32:
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", errors="surrogatepass"))
    # UTF-16: characters outside the Basic Multilingual Plane take two units (a surrogate pair).
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def column_to_index(line: str, units: int, encoding: str) -> int:
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
    """Offsets where each line begins."""
    return [0] + [m.end() for m in _LINE_BREAK.finditer(text)]


def line_text(text: str, starts: list[int], line: int) -> str:
    """Line `line` (0-based) without its break."""
    start = starts[line]
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    return text[start:end].rstrip("\r\n")


def offset_at(text: str, line: int, character: int, encoding: str = UTF16, starts: list[int] | None = None) -> int:
    """Character offset of a 0-based (line, column). Positions past the end clamp to the end."""
    starts = starts if starts is not None else line_starts(text)
    if line < 0:
        return 0
    if line >= len(starts):
        return len(text)
    return starts[line] + column_to_index(line_text(text, starts, line), character, encoding)


def position_at(text: str, offset: int, encoding: str = UTF16, starts: list[int] | None = None) -> tuple[int, int]:
    """0-based (line, column) of a character offset."""
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
