"""The block-indexed document model against the plain-string reference (`apply_change`), and its big-file
properties: an edit rebuilds only the block it touches, never joins the whole text, and a document takes about
its own size in memory."""

from __future__ import annotations

import random

import pytest

import starassist.lsp.documents as documents
from starassist.engine.textpos import offset_at, position_at
from starassist.lsp.documents import BLOCK_CHARS, Document, Lines, apply_change

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
    line = "    value = compute(alpha, beta)  # a comment\n"
    text = line * (40 * BLOCK_CHARS // len(line))
    lines = Lines(text)
    blocks = list(lines._blocks)
    middle = text.count("\n") // 2
    lines.replace((middle, 4), (middle, 4), "x", "utf-16")
    lines.replace((middle, 5), (middle, 5), "\n", "utf-16")
    assert lines._text is None  # nothing joined the text again
    changed = [i for i, (a, b) in enumerate(zip(blocks, lines._blocks, strict=True)) if a is not b]
    assert len(changed) == 1  # every other block is the same object as before
    text = apply_change(text, (middle, 4), (middle, 4), "x", "utf-16")
    text = apply_change(text, (middle, 5), (middle, 5), "\n", "utf-16")
    assert lines.offset(middle + 1, 2) == offset_at(text, middle + 1, 2)
    assert lines.text == text and lines.line_count == text.count("\n") + 1


def test_a_big_document_takes_about_its_size() -> None:
    import sys

    text = "".join(f"    v{i} = f(v{i - 1})\n" for i in range(200_000))  # short lines: the worst case for a list
    lines = Lines(text)
    assert len(text) > documents.CACHE_CHARS and lines._text is None
    size = sum(sys.getsizeof(b) for b in lines._blocks) + sys.getsizeof(lines._blocks) + sys.getsizeof(lines._nbreaks)
    assert size < 1.1 * len(text)


@pytest.mark.parametrize("seed", range(3))
def test_random_edits_across_small_blocks(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "BLOCK_CHARS", 8)  # every edit crosses block edges, CRLF pairs included
    rng = random.Random(seed)
    text = "".join(rng.choice(PIECES) for _ in range(300))
    doc = Document("file:///x.py", text)
    for _ in range(500):
        start = _random_position(rng, text, "utf-16")
        end = _random_position(rng, text, "utf-16")
        new = "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 6)))
        text = apply_change(text, start, end, new, "utf-16")
        doc.apply(start, end, new, "utf-16")
        assert doc.lines.line_count == text.count("\n") + text.count("\r") - text.count("\r\n") + 1
        line, character = _random_position(rng, text, "utf-16")
        assert doc.offset(line, character) == offset_at(text, line, character)
        align = rng.choice([1, 4])
        ex = doc.lines.excerpt(line, character, "utf-16", rng.randrange(0, 30), align)
        assert text[ex.start : ex.start + len(ex.text)] == ex.text
        assert ex.first_line == position_at(text, ex.start)[0] and ex.first_line % align == 0
    assert doc.text == text


def test_the_prompt_window_of_an_excerpt_is_the_documents() -> None:
    """Completion reads an excerpt: its window (and so the prompt and its KV-cache reuse) must not change."""
    from starassist.engine.context import ALIGN_LINES, window

    text = "".join(f"    value_{i} = compute(value_{i - 1})  # step {i}\n" for i in range(5000))
    lines = Lines(text)
    count = lambda s: len(s) // 3 + 1  # noqa: E731 - a stand-in tokenizer
    for line in (2000, 2001, 2017, 4990):
        for character in (0, 7, 20):
            ex = lines.excerpt(line, character, "utf-16", 16 * 600, ALIGN_LINES)
            offset = offset_at(text, line, character)
            ours = window(ex.text, ex.offset, budget=600, prefix_share=0.75, count_tokens=count)
            full = window(text, offset, budget=600, prefix_share=0.75, count_tokens=count)
            assert (ours.prefix, ours.suffix, ours.first_line + ex.first_line) == (full.prefix, full.suffix, full.first_line)
