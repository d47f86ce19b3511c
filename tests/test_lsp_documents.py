"""The line-indexed document model against the plain-string reference (`apply_change`), and its big-file
property: an edit rebuilds only the blocks it touches and never joins the whole text."""

from __future__ import annotations

import random

import pytest

from starassist.engine.textpos import offset_at, position_at
from starassist.lsp.documents import BLOCK, Document, Lines, apply_change

PIECES = ["a", "bc", "\n", "\r\n", "\r", "é", "😀", "漢字", "  ", "x = 1\n", "\n\n", "\r\r\n", "\ufffd"]


def _random_position(rng: random.Random, text: str, encoding: str) -> tuple[int, int]:
    lines = text.split("\n")
    line = rng.randrange(-1, len(lines) + 2)
    return line, rng.randrange(-1, 12)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
@pytest.mark.parametrize("seed", range(4))
def test_random_edits_match_the_reference(encoding: str, seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice(PIECES) for _ in range(200))
    doc = Document("file:///x.py", text)
    for _ in range(400):
        start = _random_position(rng, text, encoding)
        end = _random_position(rng, text, encoding) if rng.random() < 0.5 else start
        new = "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 4)))
        text = apply_change(text, start, end, new, encoding)
        doc.apply(start, end, new, encoding)
        assert len(doc.lines) == len(text)
        line, character = _random_position(rng, text, encoding)
        assert doc.offset(line, character, encoding) == offset_at(text, line, character, encoding)
    assert doc.text == text
    assert doc.lines.line_count == position_at(text, len(text), encoding)[0] + 1


def test_crlf_split_across_an_edit_becomes_one_break() -> None:
    doc = Document("file:///x.py", "a\rb")
    doc.apply((1, 0), (1, 1), "\nb", "utf-16")  # "\r" + "\n" meet: one CRLF line break, two lines
    assert doc.text == "a\r\nb" and doc.lines.line_count == 2
    doc.apply((0, 1), (0, 1), "\r", "utf-16")
    assert doc.text == "a\r\r\nb" and doc.lines.line_count == 3


def test_full_replacement() -> None:
    doc = Document("file:///x.py", "old\ntext")
    doc.apply(None, None, "new", "utf-16")
    assert doc.text == "new" and doc.lines.line_count == 1


@pytest.mark.parametrize("radius", [0, 10, 100, 10_000])
def test_excerpt_is_whole_lines_around_the_cursor(radius: int) -> None:
    text = "".join(f"line {i} 😀\n" for i in range(300))
    lines = Lines(text)
    for line, character in [(0, 0), (150, 3), (299, 9), (300, 0), (500, 0)]:
        ex = lines.excerpt(line, character, "utf-16", radius)
        offset = offset_at(text, line, character, "utf-16")
        assert text[ex.start : ex.start + len(ex.text)] == ex.text
        assert ex.start + ex.offset == offset
        assert ex.start == 0 or text[ex.start - 1] == "\n"
        assert text.count("\n", 0, ex.start) == ex.first_line
        assert min(offset, radius) <= ex.offset and min(len(text) - offset, radius) <= len(ex.text) - ex.offset


def test_an_edit_in_a_big_document_touches_only_its_block() -> None:
    text = "    value = compute(alpha, beta)  # a comment\n" * (20 * BLOCK)
    lines = Lines(text)
    lines.text  # noqa: B018 - joined once, as after didOpen
    blocks = list(lines._blocks)
    lines.replace((5 * BLOCK + 3, 4), (5 * BLOCK + 3, 4), "x", "utf-16")
    lines.replace((5 * BLOCK + 3, 5), (5 * BLOCK + 3, 5), "\n", "utf-16")
    assert lines._text is None  # nothing joined the text again
    # Block 5 grew past BLOCK lines and was split in two; every other block is the same object as before.
    assert all(a is b for a, b in zip(blocks[:5], lines._blocks[:5], strict=True))
    assert all(a is b for a, b in zip(blocks[6:], lines._blocks[7:], strict=True))
    assert lines.line_count == 20 * BLOCK + 2
    text = apply_change(text, (5 * BLOCK + 3, 4), (5 * BLOCK + 3, 4), "x", "utf-16")
    text = apply_change(text, (5 * BLOCK + 3, 5), (5 * BLOCK + 3, 5), "\n", "utf-16")
    assert lines.offset(5 * BLOCK + 4, 2) == offset_at(text, 5 * BLOCK + 4, 2)
    assert lines.text == text
