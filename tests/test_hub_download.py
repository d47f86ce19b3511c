"""From a Hub id to a laptop file: `starassist quantize ORG/NAME --download` and `starassist models pull`,
against a small Hub served on 127.0.0.1 by the test (`hub_server.FakeHub`); never the real Hub."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hub_server import FakeHub
from quant_fixtures import run_cli


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    """The fake Hub, with HF_ENDPOINT pointing at it, a private HF cache and home (no token of the machine's),
    and default starassist settings in a private config folder."""
    for name in list(os.environ):
        if name.startswith(("STARASSIST_", "HF_", "HUGGING")) or name == "TRANSFORMERS_OFFLINE":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("STARASSIST_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("STARASSIST_DATA_DIR", str(tmp_path / "data"))
    from huggingface_hub import constants

    # huggingface_hub reads 10 MB at a time; the test files are smaller, so a cut connection would otherwise
    # lose everything received and a resumed download could not be told from a new one.
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def _one_line_error(result, *needles: str) -> str:
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.startswith("starassist: error")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _memorized_span_comes_back(model: Path | None, tmp_path: Path) -> None:
    """`starassist complete` (with --model, or the configured model) gives a memorized middle back."""
    from memorizing.build import corpus, spans

    path, text = corpus()[0]
    span = spans(text, path)[2]
    doc = tmp_path / Path(path).name
    doc.write_text(text[: span.start] + text[span.end :], encoding="utf-8")
    args = ["complete", str(doc), "--line", str(span.line), "--col", str(span.col), "--fim-mode", "psm",
            "--max-tokens", "48", "--multiline", "--raw", "--json", "--plain"]
    result = run_cli(args + (["--model", str(model)] if model else []))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["text"] == text[span.start : span.end] and out["stop_reason"] == "stop_token", out


def _requests(hub: FakeHub) -> list[str]:
    return [f"{method} {path}" for method, path, _ in hub.log]


@pytest.mark.slow
def test_quantize_a_hub_id_downloads_and_the_file_completes(hub, tiny_fixture, tmp_path, monkeypatch):
    monkeypatch.setenv("STARASSIST_MODEL__THREADS", "1")
    hub.add_folder("bigcode/tiny-starcoder2", tiny_fixture / "starcoder2")
    out = tmp_path / "out" / "tiny.Q8_0.gguf"
    result = run_cli(["quantize", "bigcode/tiny-starcoder2", "--download", "--type", "Q8_0", "--out", str(out),
                      "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    snapshot = Path(summary["source"])
    assert snapshot.parent.parent.name == "models--bigcode--tiny-starcoder2"
    assert (snapshot.parent.parent / "refs" / "main").read_text() == hub.repos["bigcode/tiny-starcoder2"].commit
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(hub.repos["bigcode/tiny-starcoder2"].files)
    # Only what a download needs: the repository listing, then each file's metadata and contents.
    assert all(r.startswith(("GET /api/models/bigcode/tiny-starcoder2/revision/main",
                             "HEAD /bigcode/tiny-starcoder2/resolve/main/", "GET /bigcode/tiny-starcoder2/resolve/main/"))
               for r in _requests(hub)), _requests(hub)
    _memorized_span_comes_back(out, tmp_path)
    # Now in the local cache: the id resolves without the network.
    hub.log.clear()
    again = run_cli(["quantize", "bigcode/tiny-starcoder2", "--type", "F16", "--out", str(tmp_path / "f16.gguf")])
    assert again.exit_code == 0, again.output
    assert hub.log == []


def test_an_interrupted_download_resumes_with_a_range_request(hub, random_checkpoint, tmp_path):
    from starassist.quant.fetch import fetch_checkpoint

    hub.add_folder("bigcode/tiny", random_checkpoint["starcoder2"])
    weights = hub.repos["bigcode/tiny"].files["model.safetensors"]
    hub.cut["model.safetensors"] = len(weights) // 2  # the connection drops halfway through
    folder = fetch_checkpoint("bigcode/tiny")
    ranges = hub.downloads("model.safetensors")
    assert ranges[0] is None and len(ranges) == 2
    resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= len(weights) // 2  # it asked only for the rest
    assert hashlib.sha256((folder / "model.safetensors").read_bytes()).digest() == hashlib.sha256(weights).digest()


def test_a_failed_run_keeps_the_files_it_finished(hub, random_checkpoint, tmp_path):
    from test_quant_defects import _reshard

    src = tmp_path / "sharded"
    first, second = _reshard(random_checkpoint["starcoder2"], src)
    hub.add_folder("bigcode/sharded", src)
    hub.fail[second] = 1  # the Hub fails once on the second shard
    out = tmp_path / "m.F16.gguf"
    _one_line_error(run_cli(["quantize", "bigcode/sharded", "--download", "--type", "F16", "--out", str(out)]),
                    "answered 500", "try again")
    assert not out.exists()
    result = run_cli(["quantize", "bigcode/sharded", "--download", "--type", "F16", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(hub.downloads(first)) == 1 and len(hub.downloads(second)) == 2  # the first shard was kept
    assert len(hub.downloads("model.safetensors.index.json")) == 1


def test_without_download_or_a_terminal_it_says_how_to_download(hub, tmp_path):
    _one_line_error(run_cli(["quantize", "bigcode/absent", "--out", str(tmp_path / "x.gguf")]),
                    "not in the local Hugging Face cache", "--download", hub.url)
    assert hub.log == []  # nothing fetched without consent


def test_offline_is_one_line(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for args in (["quantize", "bigcode/absent", "--download", "--out", str(tmp_path / "x.gguf")],
                 ["models", "pull", "someone/tiny-GGUF"]):
        _one_line_error(run_cli(args), "HF_HUB_OFFLINE is set", "unset HF_HUB_OFFLINE")
    assert hub.log == []
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with socket.socket() as s:  # a port nothing listens on: no network
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", closed)
    for args in (["quantize", "bigcode/absent", "--download", "--out", str(tmp_path / "x.gguf")],
                 ["models", "pull", "someone/tiny-GGUF"]):
        _one_line_error(run_cli(args), f"cannot reach {closed}", "check your network connection")


def test_gated_repositories_use_the_users_token(hub, random_checkpoint, tmp_path, monkeypatch):
    hub.add_folder("bigcode/gated", random_checkpoint["starcoder2"], gated_token="hf_test_token")
    out = tmp_path / "m.gguf"
    _one_line_error(run_cli(["quantize", "bigcode/gated", "--download", "--type", "F16", "--out", str(out)]),
                    "is gated", "hf auth login", "HF_TOKEN")
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    result = run_cli(["quantize", "bigcode/gated", "--download", "--type", "F16", "--out", str(out)])
    assert result.exit_code == 0, result.output


def test_unknown_repositories_revisions_and_files(hub, fixture_gguf):
    hub.add("someone/tiny-GGUF", {"tiny.Q8_0.gguf": fixture_gguf[("starcoder2", "Q8_0")].read_bytes(),
                                  "README.md": b"# tiny\n"})
    _one_line_error(run_cli(["models", "pull", "someone/nothing"]), "no repository someone/nothing")
    _one_line_error(run_cli(["models", "pull", "someone/tiny-GGUF@v9"]), "no revision 'v9'")
    _one_line_error(run_cli(["models", "pull", "someone/tiny-GGUF:other.gguf"]), "no file other.gguf",
                    "tiny.Q8_0.gguf")
    _one_line_error(run_cli(["quantize", "someone/tiny-GGUF", "--download"]), "no config.json",
                    "starassist models pull someone/tiny-GGUF:tiny.Q8_0.gguf")


@pytest.mark.slow
def test_models_pull_registers_the_file_and_complete_uses_it(hub, fixture_gguf, tmp_path, monkeypatch):
    monkeypatch.setenv("STARASSIST_MODEL__THREADS", "1")
    data = fixture_gguf[("starcoder2", "Q8_0")].read_bytes()
    hub.add("someone/tiny-GGUF", {"tiny.Q8_0.gguf": data, "tiny.F16.gguf": data, "README.md": b"# tiny\n"})
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir()
    config.write_text("# my settings\n[completion]\nmax_tokens = 48  # enough\n")
    result = run_cli(["models", "pull", "someone/tiny-GGUF", "--json"])
    assert result.exit_code == 0, result.output
    pulled = json.loads(result.stdout.strip().splitlines()[-1])
    assert pulled["model"] == "someone/tiny-GGUF:tiny.Q8_0.gguf"  # the preferred quantization of the two
    assert pulled["arch"] == "starcoder2" and pulled["config"] == str(config)
    assert config.read_text() == ('# my settings\n[completion]\nmax_tokens = 48  # enough\n\n'
                                  '[model]\npath = "someone/tiny-GGUF:tiny.Q8_0.gguf"\n')
    assert len(hub.downloads("tiny.Q8_0.gguf")) == 1 and hub.downloads("tiny.F16.gguf") == []
    _memorized_span_comes_back(None, tmp_path)  # no --model: the configured one
    listed = json.loads(run_cli(["models", "--json"]).stdout)["models"]
    assert "someone/tiny-GGUF:tiny.Q8_0.gguf" in {m["model"] for m in listed}


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    import select

    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {needle!r} in {seen[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_on_a_terminal_it_asks_before_downloading(hub, random_checkpoint, tmp_path):
    import pty

    hub.add_folder("bigcode/tiny", random_checkpoint["starcoder2"])
    root = Path(__file__).resolve().parent.parent
    answers = {}
    for answer in ("n", "y"):
        out = tmp_path / f"{answer}.gguf"
        master, slave = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "starassist", "quantize", "bigcode/tiny", "--type", "F16",
                                 "--out", str(out)], stdin=slave, stdout=slave, stderr=slave, cwd=root,
                                env=dict(os.environ, COLUMNS="120"), close_fds=True)
        os.close(slave)
        try:
            asked = _read_until(master, b"[y/N]", 120)
            os.write(master, answer.encode() + b"\r")
            rest = b""
            proc.wait(timeout=300)
            try:
                while chunk := os.read(master, 65536):
                    rest += chunk
            except OSError:
                pass
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(master)
        answers[answer] = (asked.decode(errors="replace"), rest.decode(errors="replace"), proc.returncode, out)
    asked, rest, code, out = answers["n"]
    assert "Download bigcode/tiny (" in asked and hub.url in asked
    assert code == 1 and "not downloading bigcode/tiny" in rest and not out.exists()
    asked, rest, code, out = answers["y"]
    assert code == 0 and out.is_file(), rest
