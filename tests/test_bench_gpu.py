"""`starassist bench gpu` dry runs on the CPU with a tiny random-weight model, as CI can; the same command runs
on a GPU (scripts/gpu_check.sh). Also: it runs where the GPU machine lacks packages (no pygls, gguf,
llama-cpp-python or bitsandbytes), and llama.cpp's doctor lines about GPU offload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from quant_fixtures import run_cli

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TINY = ["bench", "gpu", "--config", "tiny", "--device", "cpu", "--keystrokes", "2", "--warmup", "1",
        "--max-tokens", "4", "--decode-tokens", "6", "--json"]


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("STARASSIST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STARASSIST_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "data"


def _json(output: str) -> dict:
    return json.loads(output[output.index("{"):])


def test_bench_gpu_dry_run_on_cpu(data_dir):
    pytest.importorskip("bitsandbytes")
    result = run_cli([*TINY, "--modes", "fp32,nf4"])
    assert result.exit_code == 0, result.output
    report = _json(result.stdout)
    assert report["config"] == "tiny" and report["machine"]["device"] == "cpu"
    assert (data_dir / "bench" / "random-tiny" / "config.json").is_file()  # built once, offline
    assert [b["precision"] for b in report["precisions"]] == ["fp32", "nf4"] and report["skipped"] == {}
    for block in report["precisions"]:
        rows = {r["path"]: r for r in block["rows"]}
        assert list(rows) == ["dynamic", "static", "cuda_graph"]
        assert [rows[p]["ran"] for p in rows] == ["dynamic", "static", "static"]
        assert "CUDA graphs need a CUDA device" in rows["cuda_graph"]["detail"]
        assert block["generate_tok_s"] > 0
        for row in rows.values():
            assert row["decode_tok_s"] > 0 and row["vs_generate"] > 0
            assert row["keystroke"]["p50_ms"] > 0 and 0 <= row["kv_reuse"] <= 1
        assert rows["static"]["decode_tokens"] == 6  # the random model was kept off its end tokens
        assert rows["static"]["prompt_tokens"] > 100
    assert report["precisions"][1]["memory"].startswith("weights ")


def test_bench_gpu_rejects_unknown_names(data_dir):
    result = run_cli([*TINY, "--modes", "bf16,int4"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "starassist: error: --modes int4: choose among bf16, fp16, fp32, nf4, int8")
    result = run_cli([*TINY, "--config", "starcoder9"])
    assert "unknown configuration 'starcoder9'" in result.output


def test_bench_gpu_runs_without_the_packages_a_gpu_box_lacks(tmp_path):
    """The GPU machine has torch, transformers, tokenizers, rich and typer, but no pygls, gguf,
    llama-cpp-python or bitsandbytes: stubs that fail to import stand in for them here."""
    blocked = tmp_path / "blocked"
    for name in ("pygls", "lsprotocol", "gguf", "llama_cpp", "bitsandbytes"):
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocked), os.environ.get("PYTHONPATH", "")]),
           "STARASSIST_DATA_DIR": str(tmp_path / "data"), "STARASSIST_CONFIG_DIR": str(tmp_path / "config")}
    out = subprocess.run([sys.executable, "-m", "starassist.cli", *TINY, "--config", "tiny-starcoder",
                          "--modes", "fp32,nf4", "--paths", "static,cuda_graph"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    report = _json(out.stdout)
    assert [b["precision"] for b in report["precisions"]] == ["fp32"]
    assert report["skipped"]["nf4"].startswith("model.quantization = nf4 needs bitsandbytes — `pip install bitsandbytes`")
    assert report["machine"]["bitsandbytes"] == "not installed"
    assert [r["ran"] for r in report["precisions"][0]["rows"]] == ["static", "static"]


def test_doctor_on_llama_cpp_reports_gpu_offload(monkeypatch):
    import llama_cpp

    monkeypatch.setenv("STARASSIST_MODEL__GPU_LAYERS", "-1")
    result = run_cli(["doctor", "--json"])
    assert result.exit_code == 0, result.output
    checks = json.loads(result.stdout[result.stdout.index("{"):])["checks"]
    offload = [c for c in checks if c["name"] == "gpu offload"]
    if llama_cpp.llama_supports_gpu_offload():
        assert offload[0]["detail"].endswith("(model.gpu_layers = -1; GPU offload supported)")
    else:  # this machine's CPU build: the layers are on the CPU, and the doctor says how to get a GPU build
        assert offload[0]["detail"] == "all 31 layers on the CPU (model.gpu_layers = -1; CPU-only build)"
        assert offload[1]["status"] == "warn" and "-DGGML_CUDA=on" in offload[1]["detail"]
        backend = next(c for c in checks if c["name"] == "backend")
        assert backend["detail"].startswith("llama.cpp on cpu;")
    assert any(c["name"] == "memory" and "CPU" in c["detail"] for c in checks)
