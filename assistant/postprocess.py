"""Post-processing of raw model output against the text around the cursor. Pure functions with golden tests."""

from __future__ import annotations

from .fim import all_special_token_texts

_SPECIALS = sorted(all_special_token_texts(), key=len, reverse=True)
_CLOSERS = set(")]}>\"'` ;,")


def decide_multiline(prefix: str, suffix: str) -> bool:
    """Multi-line when the rest of the cursor's line is empty or only closing punctuation; else single-line."""
    rest_of_line = suffix.split("\n", 1)[0].strip()
    return all(ch in _CLOSERS for ch in rest_of_line)


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
        if (n >= min_overlap or all(ch in _CLOSERS for ch in head)) and text.endswith(head) and text[:-n].strip():
            return text[:-n]
    return text


def postprocess(raw: str, prefix: str, suffix: str, *, multiline: bool) -> str:
    text = strip_special_tokens(raw)
    if not multiline:
        text = text.split("\n", 1)[0]
    text = trim_suffix_overlap(text.rstrip(), suffix)
    if not text.strip():
        return ""
    return text
