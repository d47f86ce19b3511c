"""Post-processing golden files: tests/golden/*.txt hold a document with a <CURSOR> marker, the raw model
output and the expected completion (see the first case for the format)."""

from __future__ import annotations

from pathlib import Path

import pytest

from starassist.engine.postprocess import decide_multiline, postprocess

GOLDEN = Path(__file__).parent / "golden"
CURSOR = "<CURSOR>"


def parse_golden(path: Path) -> dict[str, str]:
    """Sections start with a line `--- name`; a section's text excludes the line break before the next one.
    Lines starting with # before the first section describe the case."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.startswith("--- "):
            current = sections.setdefault(line[4:].strip(), [])
        elif current is not None:
            current.append(line)
    out = {name: "\n".join(lines) for name, lines in sections.items()}
    # The file ends with a line break that belongs to no section.
    last = list(sections)[-1]
    out[last] = out[last].removesuffix("\n")
    return out


def golden_cases() -> list[Path]:
    return sorted(GOLDEN.glob("*.txt"))


@pytest.mark.parametrize("path", golden_cases(), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    case = parse_golden(path)
    options = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in case.get("options", "").splitlines())
    )
    document, expected, raw = case["document"], case["expected"], case["raw"]
    if options.get("crlf") == "true":
        document, expected, raw = (s.replace("\n", "\r\n") for s in (document, expected, raw))
    assert document.count(CURSOR) == 1, "a golden document needs exactly one cursor marker"
    prefix, suffix = document.split(CURSOR)
    mode = options.get("multiline", "auto")
    multiline = decide_multiline(prefix, suffix) if mode == "auto" else mode == "true"
    specials = options.get("specials", "").split()
    assert postprocess(raw, prefix, suffix, multiline=multiline, specials=specials) == expected


def test_golden_cases_exist() -> None:
    assert len(golden_cases()) >= 15


@pytest.mark.parametrize(
    ("prefix", "suffix", "multiline"),
    [
        ("def f(x):", "\n", True),  # block opener
        ("def f(x):\n    ", "\n", True),  # blank indented line
        ("x = foo(", ")\n", True),  # only an auto-closed bracket after the cursor
        ("x = foo", "\n", False),  # completing the current statement
        ("x = foo(", ") + 1\n", False),  # code after the cursor on its line
        ("if ready:\r\n    ", "\r\n", True),
        ("x = undo", "\n", False),  # ends in "do" but not the keyword
        ("while true; do", "\n", True),
    ],
)
def test_decide_multiline(prefix: str, suffix: str, multiline: bool) -> None:
    assert decide_multiline(prefix, suffix) is multiline


def test_never_special_tokens_anywhere() -> None:
    raw = "x + 1<fim_middle>y<file_sep>z"
    specials = ["<fim_middle>", "<file_sep>"]
    assert postprocess(raw, "return ", "\n", multiline=False, specials=specials) == "x + 1"


def test_special_tokens_cut_only_the_models_own() -> None:
    raw = "x + 1<|im_end|>y<file_sep>z"
    assert postprocess(raw, "return ", "\n", multiline=False, specials=["<file_sep>"]) == "x + 1<|im_end|>y"


def test_each_rule_can_be_turned_off() -> None:
    from starassist.engine.postprocess import RULES

    raw = "total = 0  \nfor x in xs:\n    total += x\n```\nThat sums the list."
    assert postprocess(raw, "", "\n", multiline=False) == "total = 0"
    assert postprocess(raw, "", "\n", multiline=False, skip=frozenset({"first_line"})).endswith("total += x")
    assert postprocess(raw, "", "\n", multiline=True) == "total = 0\nfor x in xs:\n    total += x"
    assert postprocess(raw, "", "\n", multiline=True, skip=frozenset({"fence"})).endswith("That sums the list.")
    assert postprocess(raw, "", "\n", multiline=False, skip=frozenset({"trailing_space"})) == "total = 0  "
    assert postprocess(raw, "", "\n", multiline=True, skip=frozenset(RULES)) == raw
    with pytest.raises(ValueError, match="unknown post-processing rule"):
        postprocess(raw, "", "\n", multiline=True, skip=frozenset({"healing"}))
