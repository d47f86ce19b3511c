"""The core CLI: complete, models, doctor, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import starassist.cli  # noqa: F401 - registers every command
from starassist.cli.app import app

runner = CliRunner()

SOURCE = '''def greet(name):
    """Return a greeting."""
    return "Hello, " + name


def shout(name):
    return greet(name).
'''


def run(*args: str):
    return runner.invoke(app, list(args))


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code != 0
    out = result.output.strip()
    assert "Traceback" not in out
    assert len(out.splitlines()) == 1, out
    assert out.startswith("starassist: error:")
    for needle in needles:
        assert needle in out


@pytest.fixture()
def source_file(tmp_path: Path) -> Path:
    path = tmp_path / "greet.py"
    path.write_text(SOURCE, encoding="utf-8")
    return path


@pytest.mark.slow
def test_complete_json_with_honest_timings(source_file):
    result = run("complete", str(source_file), "--line", "7", "--col", "24", "--json", "--max-tokens", "12")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["model"] == "embedded:SmolLM2-135M-Instruct-Q4_1"
    assert payload["format"] == "none" and payload["mode"] == "l2r"
    assert payload["raw"]
    t = payload["timings"]
    assert set(t) == {"prompt_tokens", "reused_tokens", "evaluated_tokens", "reused_chunks", "prompt_ms",
                      "generated_tokens", "generation_ms"}
    assert t["evaluated_tokens"] == t["prompt_tokens"] - t["reused_tokens"]
    assert t["prompt_tokens"] > 20 and t["reused_tokens"] == 0  # a fresh process has an empty KV cache
    assert 0 < t["generated_tokens"] <= 12
    assert t["prompt_ms"] > 0 and t["generation_ms"] > 0


@pytest.mark.slow
def test_complete_plain_prints_the_completion(source_file):
    result = run("complete", str(source_file), "-l", "3", "-c", "12", "--single-line", "--max-tokens", "8")
    assert result.exit_code == 0, result.output
    assert "\n" not in result.stdout.strip()


@pytest.mark.slow
def test_doctor_on_embedded_model():
    result = run("doctor", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["healthy"] is True
    assert checks["fim"]["status"] == "warn" and "left-to-right" in checks["fim"]["detail"]
    assert checks["infill"]["status"] == "ok"
    assert checks["kv cache"]["status"] == "ok"
    assert checks["kv reuse"]["detail"].startswith("exact prefix") and "left-to-right" in checks["kv reuse"]["detail"]
    assert "threads" in checks["backend"]["detail"]


@pytest.mark.slow
def test_doctor_reports_spm_append_on_a_starcoder2_model(random_fim_gguf):
    result = run("doctor", "--json", "--model", str(random_fim_gguf))
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert "SPM layout" in checks["fim"]["detail"]
    assert checks["kv reuse"]["detail"] == ("exact prefix: the common prefix of the previous prompt is kept; SPM "
                                            "append: the typed text is last, so a keystroke only adds tokens at the end")


def test_models_lists_embedded(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    result = run("models", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["models"]
    embedded = rows[0]
    assert embedded["model"] == "embedded:SmolLM2-135M-Instruct-Q4_1"
    assert embedded["arch"] == "llama" and embedded["quantization"] == "Q4_1"
    assert embedded["context"] == 8192 and embedded["fim"] == "none"


def test_position_outside_file_is_one_line(source_file):
    assert_one_line_error(run("complete", str(source_file), "--line", "99", "--col", "1"), "--line 99")
    assert_one_line_error(run("complete", str(source_file), "--line", "1", "--col", "80"), "--col 80")


def test_missing_model_path(source_file, tmp_path):
    missing = tmp_path / "nope.gguf"
    result = run("complete", str(source_file), "-l", "1", "-c", "1", "--model", str(missing))
    assert_one_line_error(result, str(missing), "--model")


def test_truncated_gguf(source_file, tmp_path, embedded_path):
    truncated = tmp_path / "cut.gguf"
    with embedded_path.open("rb") as src:
        truncated.write_bytes(src.read(5_000_000))
    result = run("complete", str(source_file), "-l", "1", "-c", "1", "--model", str(truncated))
    assert_one_line_error(result, str(truncated), "truncated", "again")


def test_truncated_gguf_header(source_file, tmp_path, embedded_path):
    truncated = tmp_path / "head.gguf"
    with embedded_path.open("rb") as src:
        truncated.write_bytes(src.read(2000))
    assert_one_line_error(run("complete", str(source_file), "-l", "1", "-c", "1", "-m", str(truncated)), "truncated")


def test_non_gguf_file(source_file, tmp_path):
    bogus = tmp_path / "weights.gguf"
    bogus.write_text("this is not a model\n")
    assert_one_line_error(run("complete", str(source_file), "-l", "1", "-c", "1", "-m", str(bogus)),
                          str(bogus), "not a GGUF", "starassist quantize")


def test_hf_dir_without_config(source_file, tmp_path):
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "model.safetensors").write_bytes(b"\0" * 16)
    assert_one_line_error(run("complete", str(source_file), "-l", "1", "-c", "1", "-m", str(checkpoint)),
                          str(checkpoint), "config.json")


def test_repo_id_not_in_cache(source_file, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert_one_line_error(run("complete", str(source_file), "-l", "1", "-c", "1", "-m", "bigcode/starcoder2-3b"),
                          "bigcode/starcoder2-3b", "never downloads")


def test_missing_source_file(tmp_path):
    assert_one_line_error(run("complete", str(tmp_path / "absent.py"), "-l", "1", "-c", "1"), "absent.py")


def test_bad_setting_from_environment(source_file, monkeypatch):
    monkeypatch.setenv("STARASSIST_COMPLETION__MAX_TOKENS", "lots")
    assert_one_line_error(run("complete", str(source_file), "-l", "1", "-c", "1"), "completion.max_tokens", "lots")


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "starassist", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_debug_shows_traceback(tmp_path):
    bogus = tmp_path / "x.gguf"
    bogus.write_text("nope")
    quiet = _cli("doctor", "--model", str(bogus))
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr and quiet.stderr.count("\n") == 1
    loud = _cli("--debug", "doctor", "--model", str(bogus))
    assert loud.returncode != 0 and "Traceback" in loud.stderr


def test_help_imports_neither_torch_nor_llama():
    code = (
        "import sys\n"
        "sys.argv = ['starassist', '--help']\n"
        "from starassist.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'llama_cpp', 'pygls', 'bitsandbytes') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "complete" in out.stdout and "doctor" in out.stdout


@pytest.mark.slow
def test_bench_latency_reports_ratios_against_raw_baselines():
    result = run("bench", "latency", "--keystrokes", "3", "--warmup", "1", "--max-tokens", "4", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["keystrokes"] == 3
    for label in ("starassist", "raw_warm", "raw_cold"):
        assert report[label]["p50_ms"] > 0 and report[label]["p95_ms"] >= report[label]["p50_ms"]
    assert report["speedup_vs_raw_cold_p50"] > 0 and report["speedup_vs_raw_warm_p50"] > 0
    assert report["kv_reuse"] >= 0.9  # typing only appends: nearly every prompt token comes from the cache


def test_unknown_benchmark():
    assert_one_line_error(run("bench", "throughput"), "unknown benchmark")


def test_bench_team_needs_a_server_url_and_numbers_of_editors():
    assert_one_line_error(run("bench", "team"), "give its URL: --model http://")
    assert_one_line_error(run("bench", "team", "--model", "http://127.0.0.1:9", "--editors", "two"),
                          "--editors 'two': give numbers of editors, like 1,2,4,8")


def test_bench_team_needs_a_file_with_code_to_type(tmp_path):
    short = tmp_path / "short.py"
    short.write_text("x = 1\n", encoding="utf-8")
    assert_one_line_error(run("bench", "team", "--model", "http://127.0.0.1:9", "--file", str(short)),
                          "no line of code to type")


def test_ci_runs_the_readme_test_command_exactly():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0].strip() for b in readme.split("```bash\n")[1:]]
    test_command = next(b for b in blocks if "pytest" in b)
    ci = (root / ".ci" / "run").read_text(encoding="utf-8")
    line = next(x for x in ci.splitlines() if x.startswith("bash -c "))
    assert line[len('bash -c "'):-1].replace('\\"', '"') == test_command
    assert "exit 1" in ci and '"$rc" -eq 5' in ci  # pytest's "no tests" must fail CI


def test_version_and_bare_invocation():
    assert run("--version").stdout.strip().startswith("starassist ")
    bare = run()
    assert bare.exit_code == 0 and "complete" in bare.stdout


def test_form_feed_does_not_shift_lines(tmp_path):
    from starassist.cli.core import _offset_for

    text = "a = 1\x0c # page break\nb = 2\n"
    assert text[_offset_for(text, 2, 1):].startswith("b = 2")
