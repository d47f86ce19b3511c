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

import functools
import math
import re
from collections import Counter
from collections.abc import Collection, Iterator

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


def strip_special_tokens(text: str, specials: Collection[str], quote: str | None = None) -> str:
    """Cut at the first text of one of the model's own special tokens outside a string literal: a model that
    writes one as plain text has left the middle. Another format's token, or one inside a literal
    (`EOS = "<|endoftext|>"`), is code. `quote`: the string literal open at the cursor."""
    by_first: dict[str, list[str]] = {}
    for tok in sorted(specials, key=len, reverse=True):
        if tok:
            by_first.setdefault(tok[0], []).append(tok)
    if not by_first:
        return text
    for i, ch in _Lexer(quote, comments=False).code(text):
        if any(text.startswith(tok, i) for tok in by_first.get(ch, ())):
            return text[:i]
    return text


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


def trim_repeated_rest(text: str, prefix: str, suffix: str) -> str:
    """The whole rest of the line repeated at the end is a run-on at any length (`foo(a` + `rg1, b)` before
    `, b)`). A rest of closers alone (`);`) goes only where it would close brackets a second time: the
    completion may end with closers that are its own (`bar()` before `)`)."""
    rest = suffix.split("\n", 1)[0].strip()
    body = text.rstrip()
    if not rest or not body.endswith(rest) or not body[: -len(rest)].strip():
        return text
    head = body[: -len(rest)]
    if any(ch not in _CLOSERS for ch in rest):
        return head
    # With the lines that follow: a statement spanning lines is closed there (`or (isinstance(t, str)` + `)`).
    recent = "\n".join(prefix.split("\n")[-20:])
    after = "\n".join(suffix.split("\n")[:20])
    if _unmatched_closers(recent + head + after) < _unmatched_closers(recent + body + after):
        return head
    return text


def _unmatched_closers(code: str) -> int:
    """Closers (outside string literals) that close nothing open, or close the wrong bracket."""
    stack: list[str] = []
    bad = 0
    for _, ch in _Lexer().code(code):
        if ch in _OPENERS:
            stack.append(ch)
        elif ch in _PAIRS:
            if stack and stack[-1] == _PAIRS[ch]:
                stack.pop()
            else:
                bad += 1
    return bad


def _width(line: str) -> int:
    # Tabs of 8 columns: right for GNU style (mixed tabs and spaces); any width works for tabs alone.
    expanded = line.expandtabs(8)
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
    following = [line.rstrip().expandtabs(8) for line in suffix.split("\n")[1:] if line.strip()]
    # A lone closer or `else:` also occurs inside a body the completion writes: not evidence of a repeat.
    if not following or _is_structural(following[0].strip()):
        return text
    lines = text.split("\n")
    for i in range(1, len(lines)):
        # With its indentation: `break` at another depth is another statement.
        if lines[i].strip() and lines[i].rstrip().expandtabs(8) == following[0]:
            return "\n".join(lines[:i]).rstrip()
    return text


_BLOCK_END_WORDS = frozenset({"else", "end", "fi", "done"})


def _is_structural(line: str) -> bool:
    words = line.rstrip(":{ ").split()
    return all(ch in ")]};," for ch in line) or (bool(words) and words[-1] in _BLOCK_END_WORDS)


def dedupe_leading_space(text: str, prefix: str) -> str:
    """The cursor already follows a space: a completion that starts with one would double it (`x =  42`)."""
    line = prefix.rsplit("\n", 1)[-1]
    # One blank against one, after an operator or a keyword of code: more whitespace on either side is
    # alignment (`x = 1   # note`); after other text a double space may be meant (`item!  That`, `T*  p`).
    one_blank = line[-1:] in " \t" and line[-2:-1] not in " \t" and _scan(line)[1] is None
    after_code = line[:-1].endswith(_SPACED_OPERATORS) or line[:-1].rsplit(None, 1)[-1:] in _SPACED_KEYWORDS
    if one_blank and after_code and text[:1] in (" ", "\t") and text[1:2].strip():
        return text[1:]
    return text


_SPACED_OPERATORS = tuple("=,([{:+-/<>%&|^?")
_SPACED_KEYWORDS = [[w] for w in ("return", "yield", "await", "in", "is", "not", "and", "or", "if", "elif", "while",
                                  "case", "const", "let", "var", "new", "typeof", "import", "from", "lambda")]


def stop_at_dedent(text: str, prefix: str, suffix: str = "") -> str:
    """Stay inside the cursor's block: stop at a line indented less than the cursor's line, or, when the
    cursor's line (with text typed on it) opened a block, at the first line back at its level that does not
    just close it. That closing line goes too when the editor already has it after the cursor (an auto-closed
    `}`)."""
    cursor_line = prefix.rsplit("\n", 1)[-1]
    lines = text.split("\n")
    full_first = cursor_line + lines[0]
    base = _width(full_first) if full_first.strip() else _width(cursor_line)
    # Only a block the user's line opens ends the completion at its level: from a blank line the completion
    # writes statements, and a loop it opens itself may be followed by more of them (`return` after a `for`).
    opened = bool(cursor_line.strip()) and opens_block(full_first)
    went_deeper = False
    for i in range(1, len(lines)):
        line = lines[i]
        # Blank, or a preprocessor line (`#if`, `#endif` at column 0 inside a C function).
        if not line.strip() or line.startswith("#") and line[1:2].isalpha():
            continue
        width = _width(line)
        if width < base:
            return "\n".join(lines[:i]).rstrip()
        if width > base:
            went_deeper = True
        elif opened and went_deeper and line.strip()[0] not in ")]}":
            return "\n".join(lines[:i]).rstrip()
        elif opened and went_deeper:
            # The line that closes the block ends the completion.
            following = next((x for x in suffix.split("\n")[1:] if x.strip()), "")
            closed_already = suffix.split("\n", 1)[0].strip() == "" and following.rstrip() == line.rstrip()
            return "\n".join(lines[:i] if closed_already else lines[: i + 1]).rstrip()
    return text


class _Lexer:
    """Characters of code outside string literals and whole-line comments. Quotes end at a line break: a rough
    lexer that is right for one line of any C-like or Python code."""

    def __init__(self, quote: str | None = None, *, comments: bool = True) -> None:
        self.quote = quote  # the string quote open at the current position
        self.comments = comments  # skip whole-line comments

    def code(self, text: str) -> Iterator[tuple[int, str]]:
        escaped = False
        comment = False
        for i, ch in enumerate(text):
            if ch == "\n" and self.comments:
                # A line that is a comment (`// (see`, `# note)`, ` * [from, to)`): its brackets are prose.
                comment = text[i + 1 : i + 200].lstrip(" \t").startswith(_COMMENT_LINES)
                if comment:
                    self.quote = None
            if comment:
                continue
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


_COMMENT_LINES = ("//", "# ", "#\t", "/*", "*/", "* ")  # not `#if`: its brackets count


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


def _lead(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _lead_kind(lead: str) -> str:
    if lead.startswith("\t"):
        return "tab+space" if " " in lead else "tab"
    return "space" if "\t" not in lead else "other"


def _indent_style(prefix: str, suffix: str = "") -> tuple[str, int, set[str]]:
    """How the document around the cursor indents: the commoner of "tab" and "space", spaces per level (4 when
    unknown), and the kinds of leading whitespace its lines use ("tab", "space", "tab+space" for tabs then
    alignment spaces, "other")."""
    kinds: Counter[str] = Counter()
    widths: list[int] = []
    # The text after the cursor too: at the top of a file, nothing before the cursor is indented yet.
    for line in prefix.split("\n")[-200:] + suffix.split("\n")[1:200]:
        code = line.lstrip(" \t")
        lead = line[: len(line) - len(code)]
        if not code or not lead or code.startswith("*"):  # a block comment's continuation (` * text`)
            continue
        kinds[_lead_kind(lead)] += 1
        if _lead_kind(lead) == "space":
            widths.append(len(lead))
    unit = min(widths, default=4)
    unit = unit if unit in (2, 3, 4, 8) else 4
    style = "tab" if kinds["tab"] + kinds["tab+space"] > kinds["space"] else "space"
    return style, unit, set(kinds)


def match_indentation(text: str, prefix: str, suffix: str = "") -> str:
    """Lines after the first use the document's indentation: spaces become tabs in a tab-indented document
    (also after the tabs of the current level: `\t    ` is `\t\t`), tabs become the document's unit of spaces in
    a space-indented one. Only leading whitespace of a kind the document does not use is changed, so mixed
    styles (GNU: 2-space steps and a tab for each 8 columns; tabs then alignment spaces) stay as they are."""
    style, unit, seen = _indent_style(prefix, suffix)
    lines = text.split("\n")
    foreign = [i for i, x in enumerate(lines) if i and x.strip() and _lead(x) and _lead_kind(_lead(x)) not in seen]
    if not foreign:
        return text
    if style == "tab":
        # The completion's own step of spaces: 4 unless all its space runs are steps of 2 or 3.
        step = functools.reduce(math.gcd, (_lead(lines[i]).count(" ") for i in foreign), 0)
        step = step if step in (2, 3) else 4
        for i in foreign:
            lead, n = _lead(lines[i]), _lead(lines[i]).count(" ")
            lines[i] = "\t" * (lead.count("\t") + n // step) + " " * (n % step) + lines[i][len(lead) :]
    else:
        for i in foreign:
            lead = _lead(lines[i])
            lines[i] = lead.replace("\t", " " * unit) + lines[i][len(lead) :]
    return "\n".join(lines)


def _eol(prefix: str, suffix: str) -> str:
    near = prefix[-2000:] + suffix[:2000]
    return "\r\n" if "\r\n" in near else "\n"


# The rules in the order they run, by name: `postprocess(..., skip={...})` turns some off (the evaluation's
# ablation measures what each one costs or gains).
RULES = (
    "special_tokens", "fence", "leading_space", "first_line", "repetition", "indentation", "suffix_lines",
    "dedent", "repeated_rest", "rest_closers", "brackets", "trailing_space", "suffix_overlap",
)


def postprocess(
    raw: str, prefix: str, suffix: str, *, multiline: bool, specials: Collection[str] = (),
    skip: frozenset[str] = frozenset(),
) -> str:
    """`specials`: the loaded model's special-token texts (where a completion that writes one is cut)."""
    unknown = skip - set(RULES)
    if unknown:
        raise ValueError(f"unknown post-processing rule(s) {sorted(unknown)}; rules: {', '.join(RULES)}")

    def on(rule: str) -> bool:
        return rule not in skip

    eol = _eol(prefix, suffix)
    prefix, suffix = prefix.replace("\r\n", "\n"), suffix.replace("\r\n", "\n")
    text = raw
    if on("special_tokens"):
        quote = _scan(prefix.rsplit("\n", 1)[-1])[1]
        text = strip_special_tokens(raw, specials, quote)
    text = text.replace("\r\n", "\n")
    if on("fence"):
        text = stop_at_fence(text, prefix)
    if on("leading_space"):
        text = dedupe_leading_space(text, prefix)
    if not multiline and on("first_line"):
        text = text.split("\n", 1)[0]
    if on("repetition"):
        text = cut_repetition(text)
    if multiline:
        # Indentation first: the block rules below compare widths in the document's own style.
        if on("indentation"):
            text = match_indentation(text, prefix, suffix)
        if on("suffix_lines"):
            text = stop_at_suffix_lines(text, suffix)
        if on("dedent"):
            text = stop_at_dedent(text, prefix, suffix)
    if on("repeated_rest"):
        text = trim_repeated_rest(text, prefix, suffix)
    if on("rest_closers"):
        text = drop_closers_the_rest_provides(text, prefix, suffix)
    if on("brackets"):
        text = balance_brackets(text, prefix, suffix)
    if on("trailing_space"):
        text = "\n".join(line.rstrip() for line in text.split("\n")).rstrip()
    if on("suffix_overlap"):
        text = trim_suffix_overlap(text, suffix)
    if not text.strip():
        return ""
    return text.replace("\n", eol) if eol != "\n" else text
