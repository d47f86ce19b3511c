"""Golden tests for the pure scoring functions."""

from __future__ import annotations

import pytest

from starassist.eval.scoring import edit_similarity, exact_match, pass_at_k, truncate_at_stops, wilson


def test_pass_at_k_matches_the_combinatorial_definition() -> None:
    assert pass_at_k(1, 1, 1) == 1.0 and pass_at_k(1, 0, 1) == 0.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - (7 * 6 * 5 * 4 * 3) / (10 * 9 * 8 * 7 * 6))
    assert pass_at_k(5, 2, 4) == 1.0  # fewer wrong samples than k: some draw always passes
    with pytest.raises(ValueError, match="pass@5 needs at least 5"):
        pass_at_k(3, 1, 5)


def test_wilson_interval() -> None:
    lo, hi = wilson(50, 100)
    assert (round(lo, 4), round(hi, 4)) == (0.4038, 0.5962)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)


def test_truncate_at_the_first_humaneval_stop() -> None:
    body = "    return x + 1\n"
    assert truncate_at_stops(body + "\ndef g():\n    pass\n") == body
    assert truncate_at_stops(body + "\nprint(f(1))\n#x") == body
    assert truncate_at_stops(body) == body


def test_exact_match_and_edit_similarity() -> None:
    assert exact_match("x = 1  \n", "x = 1")
    assert not exact_match("x = 2", "x = 1")
    assert edit_similarity("abc", "abc") == 1.0 and edit_similarity("", "") == 1.0
    assert edit_similarity("abcd", "abxd") == pytest.approx(0.75)
    assert edit_similarity("", "abc") == 0.0
