"""The README's llama-server recipe, run: llama.cpp's own `llama-server` binary on 127.0.0.1 with the memorizing
StarCoder fixture, started with the recipe's flags (`-np`, `--cache-reuse`, `--alias`).

The suite does not build llama.cpp's server (that takes most of an hour on two cores); these tests run where
one is installed: `llama-server` on PATH, or its path in STARASSIST_LLAMA_SERVER. CONTRIBUTING.md shows how to
build it offline from the llama.cpp that llama-cpp-python vendors.
"""

from __future__ import annotations

import os
import shutil

import pytest
from quant_fixtures import run_cli
from remote_checks import check_marker_text_reaches_the_model_as_text, memorized_span_failures
from remote_servers import LlamaServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def llama_server():
    binary = os.environ.get("STARASSIST_LLAMA_SERVER") or shutil.which("llama-server")
    if not binary:
        pytest.skip("needs llama.cpp's llama-server: put it on PATH or name it in STARASSIST_LLAMA_SERVER")
    from memorizing.gguf import fixture_gguf

    server = LlamaServer(binary, str(fixture_gguf("starcoder", "Q8_0")), alias="tiny-starcoder", n_ctx=1024)
    yield server.wait_ready(120)
    server.stop()


@pytest.fixture(autouse=True)
def settings_env(default_settings_env, monkeypatch):
    monkeypatch.setenv("STARASSIST_COMPLETION__TOKEN_HEALING", "false")


@pytest.mark.parametrize("api", ["openai", "llama-infill"])
def test_memorized_spans_come_back_through_llama_server(llama_server, api, tmp_path, monkeypatch):
    monkeypatch.setenv("STARASSIST_REMOTE__API", api)
    count, failures = memorized_span_failures(llama_server.url, tmp_path)
    print(f"llama-server {api}: {count - len(failures)}/{count} masked spans came back")
    assert count >= 25 and not failures, failures[:5]


def test_doctor_sees_the_fim_tokens_through_llama_servers_tokenizer(llama_server):
    result = run_cli(["doctor", "--model", llama_server.url])
    assert result.exit_code == 0, result.output
    assert "served model: tiny-starcoder" in result.stdout
    assert "server fim: starcoder: <fim_prefix> is one token on the server" in result.stdout


def test_marker_text_in_the_users_code_reaches_the_model_as_text(llama_server, tmp_path):
    check_marker_text_reaches_the_model_as_text(llama_server.url, tmp_path)
