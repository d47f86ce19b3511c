"""A file retyped one character at a time through the completion engine, a suggestion after every key: with the
KV cache kept between keystrokes the greedy suggestion equals a cold evaluation of the same prompt (PSM and SPM,
the memorizing fixture and a random-weight RoPE model), and with SPM a key typed inside a line evaluates only a
few prompt tokens (the prompt window keeps everything else fixed, so the prompt only grows at its end)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from starassist.engine.completion import CompletionEngine, CompletionRequest
from starassist.engine.settings import ModelSettings, Settings

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[1] / "assistant" / "cli" / "data" / "typing_sample.txt"


def _engine(model: Path, mode: str, context: int) -> CompletionEngine:
    from starassist.engine.backends.llama_cpp import LlamaCppBackend

    settings = Settings()
    settings.model.fim_mode = mode  # type: ignore[assignment]
    settings.model.threads = 1  # tiny models: fastest, and no spinning thread sync on a busy machine
    backend = LlamaCppBackend(model, ModelSettings(context_length=context, threads=1))
    return CompletionEngine(backend, settings)


def _retype(engine: CompletionEngine, text: str, start: int, stop: int, path: str,
            others: list[tuple[str, str]]) -> list[tuple[CompletionRequest, str, int, bool]]:
    """Remove text[start:stop], type it back one key at a time. Per key: (request, raw suggestion, evaluated
    prompt tokens, whether the key was typed inside a line)."""
    rows = []
    for end in range(start, stop + 1):
        request = CompletionRequest(text=text[:end] + text[stop:], offset=end, path=path, repo="retype",
                                    other_files=others, multiline=True, max_tokens=12)
        result = engine.complete(request)
        inside = end > start and "\n" not in text[end - 2 : end]
        rows.append((request, result.raw, result.timings.evaluated_tokens, inside))
    return rows


def _check(engine: CompletionEngine, rows) -> list[int]:
    llm = engine.backend._llm  # type: ignore[attr-defined]
    for request, warm, _, _ in rows:
        llm.reset()
        cold = engine.complete(request).raw
        assert warm == cold, request.offset
    return [evaluated for _, _, evaluated, inside in rows if inside]


@pytest.mark.parametrize("mode", ["psm", "spm"])
def test_memorizing_fixture_retyped_matches_cold(mode):
    from memorizing.build import corpus
    from memorizing.gguf import fixture_gguf

    engine = _engine(fixture_gguf("starcoder2", "Q8_0"), mode, 512)
    try:
        files = corpus()
        (path, text), others = files[0], files[1:]
        start = text.index("\n") + 1  # retype everything after the first line
        inside = _check(engine, _retype(engine, text, start, len(text), path, others))
        if mode == "spm":
            assert statistics.median(inside) <= 8, inside
    finally:
        engine.backend.close()


@pytest.mark.parametrize("mode", ["psm", "spm"])
def test_random_rope_model_retyped_matches_cold(mode, random_fim_gguf):
    engine = _engine(random_fim_gguf, mode, 2048)
    try:
        text = SAMPLE.read_text(encoding="utf-8") * 4  # longer than the prompt budget: the window slides
        middle = text.index("def total_value", len(text) // 2)
        start = text.index("\n", middle) + 1
        stop = text.index("\n", text.index("\n", start) + 1) + 1  # two lines, the line break between them too
        rows = _retype(engine, text, start, stop, "inventory.py", [("notes.py", "def helper(item):\n    pass\n")])
        assert max(len(r[0].text) for r in rows) > 4000
        inside = _check(engine, rows)
        if mode == "spm":
            assert statistics.median(inside) <= 8, inside
    finally:
        engine.backend.close()


def test_bench_latency_reports_each_keystroke(random_fim_gguf):
    """`starassist bench latency` on a FIM model: per key the evaluated tokens and times, medians per layout."""
    import json

    from typer.testing import CliRunner

    from starassist.cli.app import app

    result = CliRunner().invoke(app, ["bench", "latency", "--model", str(random_fim_gguf), "--keystrokes", "4",
                                      "--max-tokens", "4", "--warmup", "1", "--fim-modes", "spm,psm", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report["modes"]) == ["spm", "psm"] and report["threads"] >= 1
    for run in report["modes"].values():
        assert len(run["keys"]) == 4
        assert set(run["keys"][0]) == {"char", "inside_line", "evaluated_tokens", "prompt_tokens", "prompt_ms",
                                       "generated_tokens", "generation_ms", "total_ms"}
    spm, psm = report["modes"]["spm"]["medians"], report["modes"]["psm"]["medians"]
    assert spm["evaluated_tokens"] <= 8 < psm["evaluated_tokens"]
