"""The memorizing fixture end to end: trained tiny StarCoder / StarCoder2 checkpoints -> `starassist quantize` ->
`starassist complete` gives back every masked span exactly, in PSM and SPM, plain and with path / repository.
The fixture's trainer builds its layouts independently of `starassist.engine.fim`, so a wrong layout or token id in the
core, the converter or llama.cpp's metadata makes the memorized middle not come back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from quant_fixtures import ARCHS, run_cli

pytestmark = pytest.mark.slow

LAYOUTS = ("plain_psm", "plain_spm", "path_psm", "path_spm")


@pytest.fixture(autouse=True)
def default_settings(default_settings_env, monkeypatch):
    """`starassist complete` with default settings: no user config file, no STARASSIST_* environment."""
    # One thread: for these tiny models it is fastest, and it avoids llama.cpp's spinning thread sync when the
    # machine is busy with other work (which made this file ten times slower).
    monkeypatch.setenv("STARASSIST_MODEL__THREADS", "1")


def test_fixture_memorized_its_corpus(tiny_fixture):
    manifest = json.loads((tiny_fixture / "manifest.json").read_text())
    for arch in ARCHS:
        stats = manifest["models"][arch]
        assert stats["exact"] == stats["rows"], stats


def _fim_sequences(tiny_fixture: Path, arch: str) -> list[list[int]]:
    from memorizing.build import training_set
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tiny_fixture / arch / "tokenizer.json"))
    return [ids for _, _, ids, _ in training_set(tok, arch)]


@pytest.mark.parametrize("arch", ARCHS)
def test_quantized_models_agree_with_f32(arch, tiny_fixture, fixture_gguf):
    from starassist.quant.evaluate import agreement, token_stats

    sequences = _fim_sequences(tiny_fixture, arch)
    ref = token_stats(fixture_gguf[(arch, "F32")], sequences, n_ctx=256, threads=1)
    scores = {}
    for qtype in ("F16", "Q8_0", "Q4_K_M"):
        stats = token_stats(fixture_gguf[(arch, qtype)], sequences, n_ctx=256, threads=1)
        scores[qtype] = agreement(ref, stats)
    print(f"{arch}: top-1 agreement with F32 over {ref.argmax.size} positions: "
          + ", ".join(f"{k} {100 * v:.2f}%" for k, v in scores.items()))
    assert scores["F16"] >= 0.98
    assert scores["Q8_0"] >= 0.98
    assert 0.0 < scores["Q4_K_M"] <= 1.0  # reported; 128-wide rows make llama.cpp fall back per tensor


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("arch", ARCHS)
def test_masked_spans_come_back_through_complete(arch, layout, fixture_gguf, tmp_path):
    from memorizing.build import REPO, corpus, spans

    model = fixture_gguf[(arch, "Q8_0")]
    mode = layout.split("_")[1]
    failures = []
    count = 0
    for path, text in corpus():
        for span in spans(text, path):
            doc = tmp_path / Path(path).name
            doc.write_text(text[: span.start] + text[span.end :], encoding="utf-8")
            args = ["complete", str(doc), "--line", str(span.line), "--col", str(span.col), "--model", str(model),
                    "--fim-mode", mode, "--max-tokens", "48", "--multiline", "--raw", "--json"]
            args += ["--plain"] if layout.startswith("plain") else ["--path", path, "--repo", REPO]
            result = run_cli(args)
            assert result.exit_code == 0, result.output
            out = json.loads(result.stdout)
            assert out["format"] == arch and out["mode"] == mode
            want = text[span.start : span.end]
            count += 1
            if out["text"] != want or out["stop_reason"] != "stop_token":
                failures.append((path, span.line, span.col, want, out["text"], out["stop_reason"]))
    assert count >= 25
    assert not failures, f"{len(failures)} of {count} spans not recovered: {failures[:3]}"


def test_cached_fixture_gguf_for_other_tests(tiny_fixture):
    from memorizing.gguf import fixture_gguf

    from starassist.engine.backends.llama_cpp import LlamaVocab

    path = fixture_gguf("starcoder2", "Q8_0")
    assert path.is_file() and path.is_relative_to(tiny_fixture)
    assert fixture_gguf("starcoder2", "Q8_0") == path  # cached
    vocab = LlamaVocab(path)
    try:
        assert vocab.special_tokens["<file_sep>"] == 6
    finally:
        vocab.close()
