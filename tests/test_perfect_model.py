"""Perfect-model harness (issue 11), see tests/perfect_model.py: the right middle, or the middle followed by the
rest of the file, returned by a scripted backend through the real CompletionEngine must come back unchanged.
The suite samples positions with a fixed seed; STARASSIST_HARNESS=full (or `python tests/perfect_model.py`)
runs every position."""

from __future__ import annotations

import os

import pytest
from perfect_model import ANSWERS, KINDS, VOCABS, complete, engines, run


@pytest.fixture(scope="module")
def result():
    per_kind = None if os.environ.get("STARASSIST_HARNESS") == "full" else 12
    res = run(per_kind)
    print("\n" + res.table())
    return res


def test_several_languages_and_every_case(result):
    assert len({k[0] for k in result.cases}) >= 2
    for vocab in VOCABS:
        for kind in KINDS:
            for answer in ANSWERS:
                assert result.rate(vocab=vocab, kind=kind, answer=answer)[1] >= 30, (vocab, kind, answer)


def test_exact_middle_never_damaged(result):
    damaged, cases = result.rate(answer="exact middle")
    assert damaged == 0, result.table()


def test_at_most_one_percent_damaged_overall(result):
    damaged, cases = result.rate()
    assert damaged / cases <= 0.01, result.table()


@pytest.mark.parametrize(
    ("document", "answer", "expected"),
    [
        ('print(▌)', '"hi")', '"hi"'),
        ("x = foo(a▌, b)", "rg1, b)", "rg1"),
    ],
)
@pytest.mark.parametrize("vocab", VOCABS)
def test_postprocessing_sees_the_real_suffix(vocab, document, answer, expected):
    """Left-to-right models are not shown the suffix; post-processing still sees it (issue 11, reproducer 1)."""
    assert complete(engines()[vocab], document, answer) == expected


def test_indent_style_seen_beyond_the_window():
    """The window the model sees may hold no tab-indented line of a GNU-style file; post-processing still
    sees the document's style (before: `\\treturn` read as a space document's dedent, the body cut)."""
    gnu = "    {\n      if (__a < __b)\n\treturn __b;\n      return __a;\n    }\n"
    spaces = "".join(f"    int f{i}(int x)\n    {{\n      return x + {i};\n    }}\n" for i in range(40))
    body = "\n      if (__b < __a)\n\treturn __a;\n      return __b;"
    for vocab, (engine, backend) in engines().items():
        engine.settings.completion.context_tokens = 256
        document = gnu + spaces + "    {▌\n    }\n"
        assert complete((engine, backend), document, body) == body, vocab


@pytest.mark.parametrize(
    ("vocab", "answer", "expected"),
    [
        ("FIM", '"<|endoftext|>"', '"<|endoftext|>"'),  # inside a literal: code
        ("FIM", "1<|endoftext|>\nx = 2", "1"),  # the model's own token as plain text: the middle ended
        ("left-to-right", "1<|endoftext|>", "1<|endoftext|>"),  # not a token of this model
    ],
)
def test_engine_cuts_at_the_loaded_models_special_tokens(vocab, answer, expected):
    """The engine passes the model's own special-token texts to post-processing (issue 11, reproducer 7)."""
    assert complete(engines()[vocab], "EOS = ▌\n", answer) == expected
