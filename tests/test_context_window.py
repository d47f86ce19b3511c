"""The token-budgeted window around the cursor (pure functions; token count = whitespace-separated words + 1)."""

from __future__ import annotations

from starassist.engine.context import ALIGN_LINES, window


def count(text: str) -> int:
    return len(text.split()) + 1


def make_doc(n: int) -> str:
    return "".join(f"line {i} alpha beta\n" for i in range(n))


def test_small_document_fits_whole():
    doc = make_doc(10)
    offset = doc.index("line 5")
    w = window(doc, offset, budget=1000, prefix_share=0.75, count_tokens=count)
    assert w.prefix + w.suffix == doc
    assert not w.truncated_prefix and not w.truncated_suffix


def test_budget_respected_and_cut_at_lines():
    doc = make_doc(400)
    offset = doc.index("line 200 ")
    w = window(doc, offset, budget=300, prefix_share=0.75, count_tokens=count)
    assert w.prefix_tokens + w.suffix_tokens <= 300
    assert doc[:offset].endswith(w.prefix) and doc[offset:].startswith(w.suffix)
    assert w.prefix.startswith("line ") and (w.suffix == "" or w.suffix.endswith("\n"))
    assert w.truncated_prefix and w.truncated_suffix
    assert w.first_line % ALIGN_LINES == 0


def test_window_start_is_stable_while_typing():
    doc = make_doc(300)
    offset = len(doc)
    starts = set()
    for typed in ["d", "de", "def", "def f", "def fo", "def foo(", "def foo(x):"]:
        text = doc + typed
        w = window(text, len(text), budget=200, prefix_share=0.75, count_tokens=count)
        starts.add(w.first_line)
        assert w.prefix.endswith(typed)
    assert len(starts) == 1
    assert offset  # the document is non-empty


def test_unused_suffix_budget_goes_to_prefix():
    doc = make_doc(300)
    w_end = window(doc, len(doc), budget=200, prefix_share=0.5, count_tokens=count)
    assert w_end.suffix == ""
    assert w_end.prefix_tokens > 100  # more than its 50% share


def test_left_to_right_ignores_suffix():
    doc = make_doc(20)
    w = window(doc, doc.index("line 10"), budget=1000, prefix_share=0.75, count_tokens=count, use_suffix=False)
    assert w.suffix == "" and w.prefix == doc[: doc.index("line 10")]


def test_crlf_and_unicode_preserved():
    doc = "a = '😀'\r\nb = '中文'\r\nc = 1\r\n"
    offset = doc.index("c")
    w = window(doc, offset, budget=100, prefix_share=0.75, count_tokens=count)
    assert w.prefix == doc[:offset] and w.suffix == doc[offset:]


def test_huge_cursor_line_is_cut():
    line = "x" * 10000 + " " + "y " * 5000
    w = window(line, len(line), budget=100, prefix_share=0.75, count_tokens=count)
    assert count(w.prefix) <= 100 and line.endswith(w.prefix)


def _typing_windows(doc: str, at: int, typed: str, **kw):
    """The window after each character of `typed` is typed at offset `at` of `doc`."""
    out = []
    for n in range(len(typed) + 1):
        text = doc[:at] + typed[:n] + doc[at:]
        out.append(window(text, at + n, count_tokens=count, **kw))
    return out


def test_typing_inside_a_line_only_changes_the_cursor_line():
    """Prefix lines, suffix and start are fixed while typing on one line (the SPM prompt then only appends),
    at the end of a long file, in its middle, near its top (the prefix's unused share goes to the suffix) and in
    the middle of a line."""
    doc = make_doc(300)
    for at in (len(doc), doc.index("line 150 "), doc.index("line 3 "), doc.index("alpha", doc.index("line 150 "))):
        wins = _typing_windows(doc, at, "total = sum(values) + offset", budget=200, prefix_share=0.75)
        assert len({(w.first_line, w.suffix) for w in wins}) == 1, at
        assert all(b.prefix.startswith(a.prefix) for a, b in zip(wins, wins[1:], strict=False)), at
        assert all(w.prefix_tokens + w.suffix_tokens <= 200 for w in wins)


def test_unused_prefix_budget_goes_to_suffix():
    doc = make_doc(300)
    w = window(doc, doc.index("line 2 "), budget=200, prefix_share=0.75, count_tokens=count)
    assert w.suffix_tokens > 50  # more than its 25% share
    assert w.prefix_tokens + w.suffix_tokens <= 200
