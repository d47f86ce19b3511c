"""The quantization report: FIM agreement in the model's own format (PSM and SPM) on a multi-language sample
or the user's code, left-to-right perplexity, timings, and a 95% interval with every rate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from quant_fixtures import run_cli

from starassist.quant.errors import QuantError
from starassist.quant.intervals import clustered_rate, perplexity, proportion, wilson
from starassist.quant.samples import (
    bundled_sample,
    fit_prefix,
    fit_suffix,
    language_of,
    load_sample,
    pick_holes,
)

# ---- intervals ----------------------------------------------------------------------------------------------


def test_wilson_interval_golden_values():
    assert wilson(50, 100) == pytest.approx((0.40383, 0.59617), abs=1e-5)
    assert wilson(100, 100) == pytest.approx((0.96300, 1.0), abs=1e-5)
    assert wilson(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)


def test_clustered_rate_widens_with_clustered_errors():
    spread = clustered_rate([9] * 10, [10] * 10)  # errors spread evenly: like independent tokens
    lumped = clustered_rate([10] * 9 + [0], [10] * 10)  # the same 90% from one bad example
    assert spread.rate == lumped.rate == 0.9 and spread.n == lumped.n == 100 and lumped.clusters == 10
    assert lumped.high - lumped.low > spread.high - spread.low
    assert spread.low == pytest.approx(wilson(90, 100)[0], abs=0.02)
    perfect = clustered_rate([10, 10, 10], [10, 10, 10])
    assert perfect.rate == 1.0 and perfect.low == pytest.approx(wilson(3, 3)[0])  # counted by cluster
    for r in (spread, lumped, perfect, proportion([True, False, True])):
        assert 0.0 <= r.low <= r.rate <= r.high <= 1.0


def test_perplexity_interval_contains_the_value():
    p = perplexity([20.0, 25.0, 22.0, 30.0], [10, 10, 10, 10])
    assert p.value == pytest.approx(math.exp(97 / 40)) and p.low < p.value < p.high and p.n == 40


# ---- samples ------------------------------------------------------------------------------------------------


def test_bundled_sample_has_several_languages():
    sample = bundled_sample()
    assert len(sample.languages()) >= 6 and "Python" in sample.languages() and "Rust" in sample.languages()


def test_sample_folder_reads_code_only(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def main():\n    return 1\n")
    (tmp_path / "src" / "ui.ts").write_text("export const x: number = 1;\n")
    (tmp_path / "node_modules" / "lib").mkdir(parents=True)
    (tmp_path / "node_modules" / "lib" / "index.js").write_text("module.exports = 1;\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "hook.sh").write_text("echo hi\n")
    (tmp_path / "data.bin.py").write_bytes(b"\x00\x01\x02")
    (tmp_path / "notes.txt").write_text("not code\n")
    (tmp_path / "big.py").write_text("x = 1\n" * 40_000)
    sample = load_sample(str(tmp_path))
    assert sorted(f.path for f in sample.files) == ["src/app.py", "src/ui.ts"]
    assert sample.languages() == {"Python": 1, "TypeScript": 1}
    assert language_of(Path("stack.py.txt")) == "Python" and language_of(Path("notes.txt")) is None
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("not code\n")
    with pytest.raises(QuantError, match="no code files"):
        load_sample(str(tmp_path / "docs"))
    with pytest.raises(QuantError, match="no such file or folder"):
        load_sample(str(tmp_path / "absent"))


def test_holes_are_reproducible_and_cut_at_lines():
    sample = bundled_sample()
    holes = pick_holes(sample, 20)
    assert holes == pick_holes(sample, 20) and len(holes) == 20
    assert len({h.file for h in holes}) == len(sample.files)  # spread over every file
    texts = {f.path: f.text for f in sample.files}
    for hole in holes:
        assert hole.prefix + hole.middle + hole.suffix == texts[hole.file]
        assert hole.middle.strip() == hole.middle and 1 <= hole.middle.count("\n") + 1 <= 2
    words = lambda s: len(s.split())  # noqa: E731 - a stand-in token counter
    text = "".join(f"line {i} here\n" for i in range(100))
    prefix = fit_prefix(text + "    x = ", 30, words)
    assert prefix.endswith("line 99 here\n    x = ") and prefix.startswith("line ") and words(prefix) <= 30
    suffix = fit_suffix("rest\n" + text, 30, words)
    assert suffix.startswith("rest\nline 0 here\n") and words(suffix) <= 30


# ---- the report end to end ----------------------------------------------------------------------------------


def _check_rate(rate: dict, n: int) -> None:
    assert rate["n"] == n and 0.0 <= rate["low"] <= rate["rate"] <= rate["high"] <= 1.0, rate


@pytest.mark.slow
def test_report_measures_fim_on_the_fixture_corpus(tiny_fixture, fixture_gguf, tmp_path):
    """The memorizing fixture on its own corpus: F16 gives the memorized middles back (so the report's FIM
    prompts are the model's real layout), and Q8_0 agrees with it."""
    from memorizing.build import CORPUS_DIR

    report_json = tmp_path / "report.json"
    result = run_cli(["quantize", str(tiny_fixture / "starcoder2"), "--type", "Q8_0", "--out",
                      str(tmp_path / "sc2.Q8_0.gguf"), "--report", "--sample", str(CORPUS_DIR), "--report-holes", "24",
                      "--compare", str(fixture_gguf[("starcoder2", "Q4_K_M")]), "--report-json", str(report_json),
                      "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "FIM top-1 agree" in result.stdout and "95% intervals" in result.stdout
    report = json.loads(report_json.read_text())
    fim = report["fim"]
    assert fim["format"] == "starcoder2" and fim["modes"] == ["psm", "spm"]
    assert fim["by_mode"] == {"psm": fim["examples"] // 2, "spm": fim["examples"] // 2} and fim["examples"] >= 30
    assert report["sample"] == {"source": str(CORPUS_DIR), "files": 3, "languages": {"Python": 3}}
    assert [r["model"] for r in report["rows"]] == ["F16", "Q8_0", "starcoder2.Q4_K_M.gguf"]
    f16, q8, q4 = report["rows"]
    for row in report["rows"]:
        _check_rate(row["fim"]["top1_agreement"], fim["middle_tokens"])
        for key in ("same_middle_as_reference", "exact_middle"):
            _check_rate(row["fim"][key], fim["examples"])
            for mode in ("psm", "spm"):
                _check_rate(row["fim"]["by_mode"][mode][key], fim["examples"] // 2)
        _check_rate(row["left_to_right"]["top1_agreement"], report["left_to_right"]["positions"])
        ppl = row["left_to_right"]["perplexity"]
        assert ppl["low"] <= ppl["value"] <= ppl["high"] and ppl["n"] == report["left_to_right"]["positions"]
        speed = row["speed"]
        assert speed["prompts"] == fim["examples"] and speed["prompt_tokens"] > 0 and speed["generated_tokens"] > 0
        assert speed["prompt_tokens_per_s"] > 0 and speed["gen_tokens_per_s"] > 0
    assert f16["fim"]["exact_middle"]["rate"] >= 0.9  # memorized: the layout is the one it was trained on
    assert q8["fim"]["top1_agreement"]["rate"] >= 0.98 and q8["fim"]["same_middle_as_reference"]["rate"] >= 0.9
    assert q4["tensor_types"] != q8["tensor_types"] and q4["size_mb"] < q8["size_mb"] < f16["size_mb"]


def test_report_on_a_sample_folder_through_the_cli(random_checkpoint, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "a.py").write_text("def add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n" * 6)
    (code / "b.js").write_text("function add(a, b) {\n  return a + b;\n}\nconsole.log(add(1, 2));\n" * 6)
    out = tmp_path / "m.Q8_0.gguf"
    result = run_cli(["quantize", str(random_checkpoint["starcoder"]), "--type", "Q8_0", "--out", str(out),
                      "--report", "--sample", str(code), "--report-holes", "6", "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])["report"]
    assert report["sample"]["languages"] == {"JavaScript": 1, "Python": 1}
    assert report["fim"]["examples"] == 12 and report["fim"]["format"] == "starcoder"
    assert json.loads((tmp_path / "m.Q8_0.gguf.report.json").read_text()) == report


def test_a_report_candidate_llama_cpp_cannot_load_names_the_reason(random_checkpoint, tmp_path):
    from starassist.quant.convert import convert_hf

    good = convert_hf(random_checkpoint["starcoder"], tmp_path / "good.gguf", out_type="F16").path
    data = bytearray(good.read_bytes())
    at = data.index(b"starcoder", data.index(b"tokenizer.ggml.pre"))
    data[at : at + 9] = b"starcodeX"  # a pre-tokenizer llama.cpp does not know
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(bytes(data))
    result = run_cli(["quantize", str(random_checkpoint["starcoder"]), "--type", "Q8_0", "--out",
                      str(tmp_path / "q.gguf"), "--report", "--report-holes", "2", "--compare", str(bad),
                      "--threads", "1"])
    lines = [line for line in result.output.splitlines() if "error" in line]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert "could not load" in lines[0] and "bad.gguf for the report" in lines[0] and "starcodeX" in lines[0]


@pytest.mark.slow
def test_a_model_without_fim_tokens_gets_the_left_to_right_part(embedded_path, tmp_path):
    from starassist.quant.report import ReferenceInfo, build_report

    (tmp_path / "a.py").write_text("def add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n" * 4)
    info = ReferenceInfo("Q4_1", embedded_path, embedded_path.stat().st_size * 4)
    report = build_report(info, [], sample=load_sample(str(tmp_path)), threads=1, holes=4)
    assert report["fim"] is None and report["rows"][0]["fim"] is None
    row = report["rows"][0]
    assert row["left_to_right"]["perplexity"]["n"] == report["left_to_right"]["positions"] > 50
    assert row["speed"]["prompts"] == 1 and row["speed"]["generated_tokens"] > 0
