"""`starassist quantize` through typer's CliRunner: outputs, report, bitsandbytes, and one-line errors with no
partial files left behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from quant_fixtures import run_cli, save_random_checkpoint

from starassist.quant.convert import convert_hf
from starassist.quant.errors import QuantError


def _one_line_error(result, *needles: str) -> str:
    assert result.exit_code != 0
    text = result.output.strip()
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or "partial" in p.name)


@pytest.fixture()
def ckpt(random_checkpoint, tmp_path) -> Path:
    """A private copy of the random StarCoder checkpoint that a test may break."""
    dest = tmp_path / "ckpt"
    shutil.copytree(random_checkpoint["starcoder"], dest)
    return dest


def test_quantize_q8_0_writes_a_smaller_gguf_that_loads(ckpt, tmp_path):
    from starassist.engine.backend import GenerationParams
    from starassist.engine.backends.llama_cpp import LlamaCppBackend
    from starassist.engine.settings import ModelSettings

    out = tmp_path / "out" / "m.Q8_0.gguf"
    out.parent.mkdir()
    result = run_cli(["quantize", str(ckpt), "--type", "q8_0", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["output"] == str(out) and summary["qtype"] == "Q8_0"
    assert [s["name"] for s in summary["steps"]] == ["convert F16", "quantize Q8_0"]
    assert out.stat().st_size < 0.75 * sum(f.stat().st_size for f in ckpt.glob("*.safetensors"))
    assert _leftovers(out.parent) == []
    backend = LlamaCppBackend(out, ModelSettings(threads=1))
    try:
        assert backend.info.quantization == "Q8_0" and backend.info.arch == "starcoder"
        res = backend.generate(backend.tokenize("def f(x):"), GenerationParams(max_tokens=4))
        assert res.timings.generated_tokens > 0 or res.stop_reason == "stop_token"
    finally:
        backend.close()


def test_existing_output_needs_force(ckpt, tmp_path):
    out = tmp_path / "m.gguf"
    out.write_bytes(b"keep me")
    _one_line_error(run_cli(["quantize", str(ckpt), "--type", "F16", "--out", str(out)]), "already exists", "--force")
    assert out.read_bytes() == b"keep me"
    result = run_cli(["quantize", str(ckpt), "--type", "F16", "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"GGUF"


def test_unsupported_architecture_is_one_line(ckpt, tmp_path):
    config = json.loads((ckpt / "config.json").read_text())
    config.update(architectures=["LlamaForCausalLM"], model_type="llama")
    (ckpt / "config.json").write_text(json.dumps(config))
    line = _one_line_error(run_cli(["quantize", str(ckpt), "--out", str(tmp_path / "x.gguf")]),
                           "not supported", "StarCoder2")
    assert "LlamaForCausalLM" in line
    assert not (tmp_path / "x.gguf").exists()


def test_missing_tokenizer_files_is_one_line(ckpt, tmp_path):
    (ckpt / "tokenizer.json").unlink()
    _one_line_error(run_cli(["quantize", str(ckpt), "--out", str(tmp_path / "x.gguf")]), "no tokenizer files")
    assert not (tmp_path / "x.gguf").exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "unreadable"])
def test_unreadable_shard_is_one_line(damage, ckpt, tmp_path):
    shard = ckpt / "model.safetensors"
    if damage == "truncated":
        data = shard.read_bytes()
        shard.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        shard.write_bytes(b"\x00\x01not a safetensors file at all")
    else:  # a shard that cannot be opened as a file
        shard.unlink()
        shard.mkdir()
    _one_line_error(run_cli(["quantize", str(ckpt), "--out", str(tmp_path / "x.gguf")]), str(shard))
    assert _leftovers(tmp_path) == [] and not (tmp_path / "x.gguf").exists()


def test_pickle_weights_need_the_flag(random_checkpoint, tmp_path):
    src = save_random_checkpoint("starcoder", tmp_path / "pkl", tied=False, safe=False)
    assert not list(src.glob("*.safetensors")) and list(src.glob("*.bin"))
    _one_line_error(run_cli(["quantize", str(src), "--type", "F32", "--out", str(tmp_path / "p.gguf")]),
                    "--allow-pickle")
    result = run_cli(["quantize", str(src), "--type", "F32", "--out", str(tmp_path / "p.gguf"), "--allow-pickle"])
    assert result.exit_code == 0, result.output
    # Same weights as the safetensors conversion of the same seed.
    ref = convert_hf(random_checkpoint["starcoder"], tmp_path / "s.gguf", out_type="F32")
    assert (tmp_path / "p.gguf").stat().st_size == ref.output_bytes


def test_interrupted_conversion_leaves_nothing(ckpt, tmp_path):
    out = tmp_path / "m.gguf"
    calls = []

    def interrupt(done: int, total: int, name: str) -> None:
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert_hf(ckpt, out, out_type="F16", progress=interrupt)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_failed_quantization_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    out = tmp_path / "q.gguf"
    result = run_cli(["quantize", str(bad), "--type", "Q8_0", "--out", str(out)])
    _one_line_error(result, "could not quantize")
    assert not out.exists() and _leftovers(tmp_path) == []


def test_unknown_type_and_missing_source(ckpt, tmp_path):
    _one_line_error(run_cli(["quantize", str(ckpt), "--type", "Q9_9"]), "unknown quantization type", "Q4_K_M")
    _one_line_error(run_cli(["quantize", str(tmp_path / "nope")]), "no such file or directory")
    _one_line_error(run_cli(["quantize", "someorg/not-cached"]), "not in the local Hugging Face cache")


def test_list_types():
    result = run_cli(["quantize", "--list-types"])
    assert result.exit_code == 0
    for name in ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "IQ4_XS"):
        assert name in result.stdout


def test_repo_id_from_local_hf_cache(ckpt, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    snap = cache / "models--bigcode--tiny-test" / "snapshots" / "0123abcd"
    shutil.copytree(ckpt, snap)
    (cache / "models--bigcode--tiny-test" / "refs").mkdir()
    (cache / "models--bigcode--tiny-test" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    result = run_cli(["quantize", "bigcode/tiny-test", "--type", "F16"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tiny-test.F16.gguf").is_file()


def test_requantize_a_gguf_and_report(ckpt, tmp_path):
    f16 = convert_hf(ckpt, tmp_path / "m.F16.gguf", out_type="F16").path
    sample = tmp_path / "sample.py"
    sample.write_text("def add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n" * 20)
    out = tmp_path / "m.Q4_0.gguf"
    report_json = tmp_path / "report.json"
    result = run_cli(["quantize", str(f16), "--type", "Q4_0", "--out", str(out), "--report", "--sample",
                      str(sample), "--report-json", str(report_json), "--threads", "1", "--report-holes", "8"])
    assert result.exit_code == 0, result.output
    assert "Quality report" in result.stdout and "top-1" in result.stdout
    report = json.loads(report_json.read_text())
    ref, q = report["rows"]
    l2r = "left_to_right"
    assert ref[l2r]["top1_agreement"]["rate"] == 1.0 and 0.0 <= q[l2r]["top1_agreement"]["rate"] <= 1.0
    assert q["size_mb"] < ref["size_mb"] and q["quantization"] == "Q4_0"
    assert q[l2r]["perplexity"]["value"] > 1.0 and q["speed"]["gen_tokens_per_s"] > 0
    assert report[l2r]["positions"] > 100


def test_report_default_sample_from_hf(ckpt, tmp_path):
    out = tmp_path / "m.Q8_0.gguf"
    result = run_cli(["quantize", str(ckpt), "--type", "Q8_0", "--out", str(out), "--report", "--threads", "1",
                      "--report-holes", "8"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "m.Q8_0.gguf.report.json").read_text())
    assert [r["model"] for r in report["rows"]] == ["F16", "Q8_0"]
    assert report["rows"][1]["size_vs_f16"] < 0.7
    assert report["rows"][1]["left_to_right"]["top1_agreement"]["rate"] >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["nf4", "int8"])
def test_bnb_output_loads_and_generates_on_cpu(mode, tiny_fixture, tmp_path):
    from starassist.engine.backend import GenerationParams
    from starassist.engine.backends.transformers_hf import TransformersBackend
    from starassist.engine.settings import ModelSettings

    out = tmp_path / mode
    result = run_cli(["quantize", str(tiny_fixture / "starcoder"), "--bnb", mode, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["mode"] == mode
    qc = json.loads((out / "config.json").read_text())["quantization_config"]
    assert qc["quant_method"] == "bitsandbytes"
    assert qc.get("bnb_4bit_quant_type") == "nf4" if mode == "nf4" else qc.get("load_in_8bit")
    backend = TransformersBackend(out, ModelSettings(), name=mode)
    try:
        assert backend.info.quantization == mode
        sp = backend.info.special_tokens
        prompt = ([sp["<fim_prefix>"]] + backend.tokenize("def shout(text):\n    return ")
                  + [sp["<fim_suffix>"]] + backend.tokenize(' + "!"\n') + [sp["<fim_middle>"]])
        res = backend.generate(prompt, GenerationParams(max_tokens=12, stop_ids=frozenset(sp.values())))
        assert res.timings.generated_tokens > 0
        assert res.text.strip()
    finally:
        backend.close()
    _one_line_error(run_cli(["quantize", str(tiny_fixture / "starcoder"), "--bnb", mode, "--out", str(out)]),
                    "--force")


def test_quant_error_is_a_starassist_error():
    from starassist.engine.errors import StarassistError

    assert issubclass(QuantError, StarassistError)
