"""Post-processing of raw model output against the text around the cursor. Pure functions with golden tests
(tests/golden/*.txt).

The steps, in order: cut at special-token text; work in "\\n" line breaks; single-line mode keeps the first
line; multi-line mode stops at a markdown fence the document does not use, at repeated blocks, where the
completion starts repeating the lines after the cursor, and where it leaves the cursor's block; brackets are
balanced (the completion closes only what it opened, unless the text after the cursor lacks the closer); the
indentation style follows the document; a tail that repeats the text after the cursor is dropped; empty or
whitespace-only results become "". Line breaks follow the document's style (CRLF stays CRLF).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .fim import all_special_token_texts

_SPECIALS = sorted(all_special_token_texts(), key=len, reverse=True)
_CLOSERS = set(")]}>\"'` ;,")
_PAIRS = {")": "(", "]": "[", "}": "{"}
_OPENERS = set(_PAIRS.values())
# A cursor line ending like this starts a block: the completion may take several lines.
_BLOCK_START = (":", "{", "(", "[", "=>", '"""', "'''", "->")
_BLOCK_WORDS = frozenset({"do", "then", "else", "begin"})
_UNIT_RUN = re.compile(r"(.{2,24}?)\1{3,}")
# A run shorter than this is a literal (`1000000000`, `0xFFFFFFFF`, a nil UUID, `[1, 1, 1, 1, 1]`), not a loop.
_MIN_LOOP_CHARS = 32


def decide_multiline(prefix: str, suffix: str) -> bool:
    """Multi-line when the rest of the cursor's line is empty or only closing punctuation AND the cursor is
    on a blank line or right after something that opens a block; otherwise complete the current line."""
    rest_of_line = suffix.split("\n", 1)[0].strip()
    if not all(ch in _CLOSERS for ch in rest_of_line):
        return False
    line = prefix.rsplit("\n", 1)[-1].rstrip("\r")
    if not line.strip():
        return True
    return opens_block(line)


def opens_block(line: str) -> bool:
    stripped = line.rstrip()
    return stripped.endswith(_BLOCK_START) or stripped.rsplit(None, 1)[-1] in _BLOCK_WORDS


def strip_special_tokens(text: str) -> str:
    """Cut at the first special-token text: a model that writes one as plain text has left the middle."""
    cut = len(text)
    for tok in _SPECIALS:
        i = text.find(tok)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


def trim_suffix_overlap(text: str, suffix: str, min_overlap: int = 6) -> str:
    """Drop the end of `text` that repeats the start of `suffix`: an auto-closed bracket, or a longer overlap
    (short overlaps of ordinary text are usually coincidence)."""
    probe = suffix.lstrip(" \t")
    if not probe:
        return text
    for n in range(min(len(text), len(probe)), 0, -1):
        head = probe[:n]
        # Brackets are left to balance_brackets, which knows whether the completion may close one.
        short_ok = all(ch in _CLOSERS for ch in head) and not any(ch in _PAIRS for ch in head)
        if (n >= min_overlap or short_ok) and text.endswith(head) and text[:-n].strip():
            return text[:-n]
    return text


def trim_repeated_rest(text: str, suffix: str) -> str:
    """The whole rest of the line repeated at the end is a run-on at any length (`foo(a` + `rg1, b)` before
    `, b)`). A rest of closers alone is left to balance_brackets."""
    rest = suffix.split("\n", 1)[0].strip()
    if rest and any(ch not in _CLOSERS for ch in rest) and text.rstrip().endswith(rest):
        head = text.rstrip()[: -len(rest)]
        if head.strip():
            return head
    return text


def _width(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def stop_at_fence(text: str, prefix: str) -> str:
    """A chat-tuned model closes its code block with ``` — in a document without fences that ends the code."""
    if "```" in prefix:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            return "\n".join(lines[:i])
    return text


def cut_repetition(text: str, copies: int = 3, max_period: int = 4) -> str:
    """Keep one copy of a block of 1..max_period lines repeated `copies` times in a row, and cut a line that
    ends in a short unit repeated over and over (`, 0, 0, 0, 0`)."""
    lines = text.split("\n")
    # Compared without indentation: the first line continues the cursor's line, the others carry their own.
    keys = [line.strip() for line in lines]
    for i in range(len(lines)):
        for p in range(1, max_period + 1):
            block = keys[i : i + p]
            if len(block) < p or not any(block):
                continue
            if all(keys[i + k * p : i + (k + 1) * p] == block for k in range(1, copies)):
                return "\n".join(lines[: i + p])
    for i, line in enumerate(lines):
        m = _UNIT_RUN.search(line)
        if m and len(m.group(0)) >= _MIN_LOOP_CHARS and any(ch.isalnum() for ch in m.group(1)):
            return "\n".join(lines[:i] + [line[: m.start() + len(m.group(1))]])
    return text


def stop_at_suffix_lines(text: str, suffix: str) -> str:
    """Stop where the completion starts writing the line that already follows the cursor's line."""
    following = [line.strip() for line in suffix.split("\n")[1:] if line.strip()]
    # A lone closer or `else:` also occurs inside a body the completion writes: not evidence of a repeat.
    if not following or _is_structural(following[0]):
        return text
    lines = text.split("\n")
    for i in range(1, len(lines)):
        if lines[i].strip() and lines[i].strip() == following[0]:
            return "\n".join(lines[:i]).rstrip()
    return text


_BLOCK_END_WORDS = frozenset({"else", "end", "fi", "done"})


def _is_structural(line: str) -> bool:
    words = line.rstrip(":{ ").split()
    return all(ch in ")]};," for ch in line) or (bool(words) and words[-1] in _BLOCK_END_WORDS)


def dedupe_leading_space(text: str, prefix: str) -> str:
    """The cursor already follows a space: a completion that starts with one would double it (`x =  42`)."""
    line = prefix.rsplit("\n", 1)[-1]
    if line.strip() and line.endswith((" ", "\t")) and text[:1] in (" ", "\t"):
        return text.lstrip(" \t")
    return text


def stop_at_dedent(text: str, prefix: str) -> str:
    """Stay inside the cursor's block: stop at a line indented less than the cursor's line, or, when the
    cursor's line opened a block, at the first line back at its level that does not just close it."""
    cursor_line = prefix.rsplit("\n", 1)[-1]
    lines = text.split("\n")
    full_first = cursor_line + lines[0]
    base = _width(full_first) if full_first.strip() else _width(cursor_line)
    opened = bool(full_first.strip()) and opens_block(full_first)
    went_deeper = False
    for i in range(1, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        width = _width(line)
        if width < base:
            return "\n".join(lines[:i]).rstrip()
        if width > base:
            went_deeper = True
        elif opened and went_deeper and line.strip()[0] not in ")]}":
            return "\n".join(lines[:i]).rstrip()
        elif opened and went_deeper:
            return "\n".join(lines[: i + 1])  # the line that closes the block ends the completion
    return text


class _Lexer:
    """Characters of code outside string literals. Quotes end at a line break: a rough lexer that is right for
    one line of any C-like or Python code."""

    def __init__(self, quote: str | None = None) -> None:
        self.quote = quote  # the string quote open at the current position

    def code(self, text: str) -> Iterator[tuple[int, str]]:
        escaped = False
        for i, ch in enumerate(text):
            if self.quote is not None:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == self.quote or ch == "\n":
                    self.quote = None
            elif ch in "\"'`":
                self.quote = ch
            else:
                yield i, ch


def _scan(text: str, quote: str | None = None) -> tuple[list[str], str | None]:
    """Unclosed openers of `text` (outside string literals) and the string quote open at its end."""
    stack: list[str] = []
    lexer = _Lexer(quote)
    for _, ch in lexer.code(text):
        if ch in _OPENERS:
            stack.append(ch)
        elif ch in _PAIRS and stack and stack[-1] == _PAIRS[ch]:
            stack.pop()
    return stack, lexer.quote


def balance_brackets(text: str, prefix: str, suffix: str) -> str:
    """The completion closes only what it opened, plus the prefix's open brackets that the text after the
    cursor (on its line) does not close. Cut at any other closer, and at one that does not match the
    innermost bracket the completion opened."""
    rest = suffix.split("\n", 1)[0]
    recent = "\n".join(prefix.split("\n")[-20:])
    cursor_line = prefix.rsplit("\n", 1)[-1]
    prefix_open, _ = _scan(recent)
    _, quote = _scan(cursor_line)
    rest_closers = {c: rest.count(c) for c in _PAIRS}
    # The rest's closers first close what the completion leaves open (`_w(s` + `, end).end(` before `)`).
    text_open, _ = _scan(text, quote)
    left = {c: max(0, rest_closers[c] - text_open.count(o)) for c, o in _PAIRS.items()}
    allowed = {c: max(0, prefix_open.count(o) - left[c]) for c, o in _PAIRS.items()}
    used = dict.fromkeys(_PAIRS, 0)
    stack: list[str] = []
    for i, ch in _Lexer(quote).code(text):
        if ch in _OPENERS:
            stack.append(ch)
        elif ch in _PAIRS:
            if stack:
                if stack[-1] != _PAIRS[ch]:
                    return text[:i]
                stack.pop()
            elif rest_closers[ch]:
                if used[ch] >= allowed[ch]:
                    return text[:i]
                used[ch] += 1
    return text


def drop_closers_the_rest_provides(text: str, prefix: str, suffix: str) -> str:
    """A run-on that opened and closed a bracket (`float('nan')` before `)`): the rest of the line holds more
    closers than the prefix and the completion leave open, so the completion's trailing closers are its own."""
    rest = suffix.split("\n", 1)[0]
    recent = "\n".join(prefix.split("\n")[-20:])
    while text and text[-1] in _PAIRS:
        closer = text[-1]
        need = _scan(recent + text[:-1])[0].count(_PAIRS[closer])
        if rest.count(closer) < need or not rest.lstrip().startswith(closer):
            break
        text = text[:-1]
    return text


def _indent_style(prefix: str) -> tuple[str, int]:
    """("tab"|"space", unit width) of the document around the cursor; spaces of 4 when unknown."""
    tabs = spaces = 0
    widths: list[int] = []
    for line in prefix.split("\n")[-200:]:
        if line.startswith("\t"):
            tabs += 1
        elif line.startswith(" ") and line.strip():
            spaces += 1
            widths.append(len(line) - len(line.lstrip(" ")))
    if tabs > spaces:
        return "tab", 1
    unit = min((w for w in widths if w > 0), default=4)
    return "space", unit if unit in (2, 3, 4, 8) else 4


def match_indentation(text: str, prefix: str) -> str:
    """Lines after the first use the document's indentation character (tabs or spaces)."""
    style, unit = _indent_style(prefix)
    lines = text.split("\n")
    out = lines[:1]
    if style == "tab":
        widths = [len(x) - len(x.lstrip(" ")) for x in lines[1:] if x.startswith(" ") and x.strip()]
        step = min(widths, default=4) if widths else 4
        step = step if step in (2, 3, 4, 8) else 4
        for line in lines[1:]:
            lead = len(line) - len(line.lstrip(" "))
            out.append("\t" * (lead // step) + " " * (lead % step) + line[lead:] if lead else line)
    else:
        for line in lines[1:]:
            lead = len(line) - len(line.lstrip("\t"))
            out.append(" " * (unit * lead) + line[lead:] if lead else line)
    return "\n".join(out)


def _eol(prefix: str, suffix: str) -> str:
    near = prefix[-2000:] + suffix[:2000]
    return "\r\n" if "\r\n" in near else "\n"


def postprocess(raw: str, prefix: str, suffix: str, *, multiline: bool) -> str:
    eol = _eol(prefix, suffix)
    prefix, suffix = prefix.replace("\r\n", "\n"), suffix.replace("\r\n", "\n")
    text = strip_special_tokens(raw).replace("\r\n", "\n")
    text = stop_at_fence(text, prefix)
    text = dedupe_leading_space(text, prefix)
    if not multiline:
        text = text.split("\n", 1)[0]
    text = cut_repetition(text)
    if multiline:
        text = stop_at_suffix_lines(text, suffix)
        text = stop_at_dedent(text, prefix)
        text = match_indentation(text, prefix)
    text = trim_repeated_rest(text, suffix)
    text = drop_closers_the_rest_provides(text, prefix, suffix)
    text = balance_brackets(text, prefix, suffix)
    text = "\n".join(line.rstrip() for line in text.split("\n")).rstrip()
    text = trim_suffix_overlap(text, suffix)
    if not text.strip():
        return ""
    return text.replace("\n", eol) if eol != "\n" else text
