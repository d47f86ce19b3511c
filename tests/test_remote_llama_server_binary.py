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
from recording_proxy import RecordingProxy
from remote_checks import check_marker_text_reaches_the_model_as_text, memorized_span_failures
from remote_servers import LlamaServer, server_slots

from starassist.engine.remote_api import FORMATS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


# Read at import: the tests' settings fixture clears STARASSIST_* variables.
BINARY = os.environ.get("STARASSIST_LLAMA_SERVER") or shutil.which("llama-server")


def llama_server_binary() -> str:
    if not BINARY:
        pytest.skip("needs llama.cpp's llama-server: put it on PATH or name it in STARASSIST_LLAMA_SERVER")
    return BINARY


@pytest.fixture(scope="module")
def llama_server():
    from memorizing.gguf import fixture_gguf

    server = LlamaServer(llama_server_binary(), str(fixture_gguf("starcoder", "Q8_0")), alias="tiny-starcoder", n_ctx=1024)
    yield server.wait_ready(120)
    server.stop()


@pytest.fixture(autouse=True)
def settings_env(default_settings_env, monkeypatch):
    monkeypatch.setenv("STARASSIST_COMPLETION__TOKEN_HEALING", "false")


@pytest.mark.parametrize("api", ["openai", "llama-infill"])
def test_memorized_spans_come_back_through_llama_server(llama_server, api, tmp_path, monkeypatch):
    monkeypatch.setenv("STARASSIST_REMOTE__API", api)
    with RecordingProxy(llama_server.url) as proxy:
        count, failures = memorized_span_failures(proxy.url, tmp_path)
    # openai: our own PSM prompt as text; llama-infill: prefix and suffix, the server builds the prompt.
    assert {ex.path for ex in proxy.exchanges if ex.method == "POST"} == {FORMATS[api].path}
    print(f"llama-server {api}: {count - len(failures)}/{count} masked spans came back")
    assert count >= 25 and not failures, failures[:5]


def test_doctor_sees_the_fim_tokens_through_llama_servers_tokenizer(llama_server):
    result = run_cli(["doctor", "--model", llama_server.url])
    assert result.exit_code == 0, result.output
    assert "served model: tiny-starcoder" in result.stdout
    assert "server context: 512 tokens per request" in result.stdout  # -c 1024 shared by -np 2 slots
    assert "server fim: starcoder: <fim_prefix> is one token on the server" in result.stdout


def test_marker_text_in_the_users_code_reaches_the_model_as_text(llama_server, tmp_path):
    check_marker_text_reaches_the_model_as_text(llama_server.url, tmp_path)


def test_a_hang_up_stops_llama_servers_generation(embedded_path):
    """llama-server cancels a request whose client hung up between two tokens: a 2000-token generation stops
    when starassist cancels it after five, instead of holding the slot for ten seconds more."""
    import threading
    import time

    from starassist.engine.remote_api import Request, stream

    server = LlamaServer(llama_server_binary(), str(embedded_path), alias="embedded", n_ctx=4096).wait_ready(120)
    try:
        cancelled, chunks = threading.Event(), 0
        request = Request(prompt="# A long story about the sea, told line by line.\n\n", model="embedded",
                          max_tokens=2000)
        for _ in stream(server.url, FORMATS["openai"], request, cancel=cancelled.is_set):
            chunks += 1
            if chunks == 5:
                cancelled.set()
                hung_up = time.monotonic()
        while any(slot["is_processing"] for slot in server_slots(server.url)):
            assert time.monotonic() - hung_up < 1.0, "llama-server kept generating after the hang-up"
            time.sleep(0.01)
        print(f"llama-server idle {(time.monotonic() - hung_up) * 1000:.0f} ms after the hang-up")
    finally:
        server.stop()
    assert chunks == 5
