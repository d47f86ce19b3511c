"""The remote wire formats against a real HTTP server on 127.0.0.1: bodies, streaming, errors, cancel, keys."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from remote_servers import ScriptedServer, ServerScript

from starassist.engine.remote_api import FORMATS, RemoteError, Request, stream

REQUEST = Request(prompt="<fim_prefix>def <fim_suffix>\n<fim_middle>", prefix="def ", suffix="\n",
                  model="starcoder2-3b", max_tokens=16, stop=("\n\n",))


def test_request_bodies_are_golden():
    assert FORMATS["openai"].body(REQUEST) == {
        "model": "starcoder2-3b", "prompt": "<fim_prefix>def <fim_suffix>\n<fim_middle>", "max_tokens": 16,
        "temperature": 0.0, "repeat_penalty": 1.0, "stop": ["\n\n"], "stream": True,
    }
    assert FORMATS["llama-infill"].body(REQUEST) == {
        "input_prefix": "def ", "input_suffix": "\n", "n_predict": 16, "temperature": 0.0, "repeat_penalty": 1.0,
        "stop": ["\n\n"],
        "stream": True,
    }
    assert FORMATS["tgi"].body(REQUEST) == {
        "inputs": "<fim_prefix>def <fim_suffix>\n<fim_middle>",
        "parameters": {"max_new_tokens": 16, "stop": ["\n\n"], "do_sample": False},
    }


@pytest.mark.parametrize("api,path", [("openai", "/v1/completions"), ("llama-infill", "/infill"),
                                      ("tgi", "/generate_stream")])
def test_streams_text_in_every_format(api, path):
    with ScriptedServer() as server:
        text = "".join(stream(server.url, FORMATS[api], REQUEST))
    assert text == "def add(a, b):\n    return a + b"
    assert [r.path for r in server.requests] == [path]
    assert server.requests[0].body == FORMATS[api].body(REQUEST)


def test_key_comes_from_the_environment_and_only_in_the_header(monkeypatch):
    monkeypatch.setenv("TEAM_LLM_KEY", "s3cr3t-team-key")
    with ScriptedServer(ServerScript(api_key="s3cr3t-team-key")) as server:
        assert "".join(stream(server.url, FORMATS["openai"], REQUEST, key_env="TEAM_LLM_KEY"))
        with pytest.raises(RemoteError, match=r"refused the API key \(401\) — set the variable"):
            list(stream(server.url, FORMATS["openai"], REQUEST))
    assert server.requests[0].headers["Authorization"] == "Bearer s3cr3t-team-key"
    assert "s3cr3t-team-key" not in repr(server.requests[0].body)


def test_unset_key_variable_is_one_clear_error(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(RemoteError, match="NO_SUCH_KEY_VAR, which is not set — export NO_SUCH_KEY_VAR="):
        list(stream("http://127.0.0.1:9", FORMATS["openai"], REQUEST, key_env="NO_SUCH_KEY_VAR"))


@pytest.mark.parametrize("status,message", [
    (403, r"forbids this key \(403\)"), (404, r"no /v1/completions or no model 'starcoder2-3b' \(404\)"),
    (429, r"busy \(429"), (503, r"the server failed \(503\)")])
def test_http_errors_are_one_line(status, message):
    with ScriptedServer(ServerScript(status=status)) as server:
        with pytest.raises(RemoteError, match=message) as info:
            list(stream(server.url, FORMATS["openai"], REQUEST))
    assert "\n" not in str(info.value)


def test_server_down_is_one_clear_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RemoteError, match=rf"cannot reach the server at http://127.0.0.1:{port} .* is it running"):
        list(stream(f"http://127.0.0.1:{port}", FORMATS["openai"], REQUEST))


def test_cancel_closes_the_stream_and_the_server_sees_it_within_100ms():
    cancelled = threading.Event()
    script = ServerScript(chunks=["tok "] * 400, delay_s=0.01)  # a 4-second generation
    with ScriptedServer(script) as server:
        received = []
        for chunk in stream(server.url, FORMATS["openai"], REQUEST, cancel=cancelled.is_set):
            received.append(chunk)
            if len(received) == 5:
                cancelled_at = time.monotonic()
                cancelled.set()
        assert server.disconnected.wait(2.0), "the server never saw the disconnect"
        # The server notices on its next write (every 10 ms here).
        assert server.disconnected_at - cancelled_at < 0.1
    assert 5 <= len(received) < 400


class ResettingServer:
    """A TCP server on 127.0.0.1 that resets its first `resets` connections once the request has arrived (a
    server restarting, a proxy dropping idle sockets), then answers with a streamed completion."""

    def __init__(self, resets: int) -> None:
        self.resets, self.connections = resets, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import json
        import struct

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                self.connections += 1
                if self.connections <= self.resets:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
                    continue
                event = json.dumps({"choices": [{"text": "retried", "index": 0}]})
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                             + f"data: {event}\n\ndata: [DONE]\n\n".encode())

    def close(self) -> None:
        self.sock.close()


def test_a_connection_reset_is_retried_once_then_one_clear_error():
    once = ResettingServer(resets=1)
    try:
        assert "".join(stream(once.url, FORMATS["openai"], REQUEST)) == "retried"
        assert once.connections == 2
    finally:
        once.close()
    always = ResettingServer(resets=2)
    try:
        with pytest.raises(RemoteError, match=r"dropped the connection twice — check that it is running") as info:
            list(stream(always.url, FORMATS["openai"], REQUEST))
        assert always.connections == 2 and "\n" not in str(info.value)
    finally:
        always.close()


@pytest.mark.parametrize("status,body", [
    (400, '{"error":{"code":400,"message":"request (1439 tokens) exceeds the available context size (512 tokens), '
          'try increasing it","type":"exceed_context_size_error"}}'),  # llama-server
    (400, '{"detail": "Requested tokens (1439) exceed context window of 512"}'),  # llama-cpp-python
    (400, '{"object":"error","message":"This model\'s maximum context length is 512 tokens. However, you requested '
          '1455 tokens (1439 in the messages, 16 in the completion)."}'),  # vLLM
    (422, '{"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 512. Given: 1439 '
          '`inputs` tokens and 16 `max_new_tokens`","error_type":"validation"}'),  # TGI
])
def test_a_prompt_longer_than_the_servers_context_names_the_setting(status, body):
    from starassist.engine.remote_api import error_for

    message = str(error_for(status, "/v1/completions", "m", body))
    assert message == (f"the prompt is longer than the server's context of 512 tokens ({status}) — set "
                       "model.context_length = 512, or give the server more context (llama-server: -c is shared by "
                       "the -np slots)")
