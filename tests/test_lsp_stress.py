"""A short `starassist bench lsp-stress` against the real server and the embedded model: a few hundred fuzz
messages (twice), every framing case, a cancellation storm and a 2 MB document. The figures are the bench's;
here only what must hold on any machine is asserted (nothing timed)."""

from __future__ import annotations

import asyncio

import pytest

from starassist.cli.bench_stress import StressOptions, print_report, run_stress

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_short_stress_run() -> None:
    options = StressOptions(messages=300, seed=16, cancels=150, doc_chars=2_000_000, keystrokes=9, max_tokens=4)
    report = asyncio.run(run_stress(options, log=lambda line: None))
    lines: list[str] = []
    print_report(report, lines.append)
    summary = "\n".join(lines)

    assert report["alive"] and report["exit_code"] == 0, summary
    for round_ in ("fuzz_1", "fuzz_2"):
        assert report[round_]["requests"] > 150 and report[round_]["unanswered"] == 0, summary
    assert report["popups"] <= 1, summary  # bad traffic: one popup, then log lines
    # The fuzz also sends a bad setting: that is a user-facing warning, once per distinct message.
    assert all(p.startswith("starassist: setting") for p in report["other_popups"]), summary
    assert report["tracebacks"] == 0, summary
    rss = report["rss_mb"]
    assert rss[1] - rss[0] < 50, summary
    assert all(case["recovered"] for case in report["framing"]), summary
    storm = report["storm"]
    assert storm["unanswered"] == 0 and storm["busy_after"] is None and storm["counters_add_up"], summary
    big = report["big_document"]
    assert big["chars"] >= 2_000_000 and big["documents_ratio"] <= 2.0, summary
