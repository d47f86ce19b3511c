"""Real HTTP servers on 127.0.0.1 for the remote backend's tests.

`ScriptedServer` speaks the three wire formats (OpenAI completions, llama-server /infill, TGI
/generate_stream) with server-sent events, records every request body and header it receives, and notices
when the client disconnects mid-stream — what a shared inference server sees when a keystroke supersedes a
generation.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ServerScript:
    chunks: list[str] = field(default_factory=lambda: ["def ", "add(a, b):", "\n    return a + b"])
    delay_s: float = 0.0  # between chunks
    status: int = 200
    api_key: str | None = None  # when set, requests without "Bearer <key>" get 401
    model: str = "bigcode/starcoder2-3b"  # what GET /v1/models lists
    listing: dict = field(default_factory=dict)  # more fields of that model's entry (vLLM's max_model_len, ...)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict


class ScriptedServer:
    def __init__(self, script: ServerScript | None = None) -> None:
        self.script = script or ServerScript()
        self.requests: list[Recorded] = []
        self.disconnected = threading.Event()
        self.disconnected_at: float | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                outer.requests.append(Recorded(self.path, dict(self.headers), {}))
                models = {"object": "list", "data": [{"id": outer.script.model, "object": "model",
                                                      **outer.script.listing}]}
                data = json.dumps(models if self.path.endswith("/v1/models") else {"model_id": outer.script.model})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data.encode())

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(Recorded(self.path, dict(self.headers), body))
                script = outer.script
                auth = self.headers.get("Authorization")
                status = script.status
                if script.api_key is not None and auth != f"Bearer {script.api_key}":
                    status = 401
                if status != 200:
                    data = json.dumps({"error": f"status {status}"}).encode()
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for chunk in script.chunks:
                        self.wfile.write(f"data: {json.dumps(outer.payload(self.path, chunk))}\n\n".encode())
                        self.wfile.flush()
                        time.sleep(script.delay_s)
                    if self.path.endswith("/completions"):
                        self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    outer.disconnected_at = time.monotonic()
                    outer.disconnected.set()
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    @staticmethod
    def payload(path: str, chunk: str) -> dict:
        if path.endswith("/chat/completions"):
            return {"choices": [{"delta": {"content": chunk}, "index": 0}]}
        if path.endswith("/completions"):
            return {"choices": [{"text": chunk, "index": 0}]}
        if path.endswith("/infill"):
            return {"content": chunk, "stop": False}
        return {"token": {"text": chunk, "special": False}}

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _ServerProcess:
    """A server process on 127.0.0.1 that logs to a file and is ready once `ready_path` answers 200."""

    name = "server"
    ready_path = "/v1/models"

    def _start(self, argv: list[str]) -> None:
        import subprocess
        import tempfile

        # A file, not a pipe: llama.cpp logs enough at load to fill a pipe and block the server.
        self.log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.log, text=True)

    def wait_ready(self, timeout_s: float = 60.0):
        import urllib.request

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{self.name} exited: {self.log.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}{self.ready_path}", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"{self.name} did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


class LlamaCppServer(_ServerProcess):
    """llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`) on 127.0.0.1."""

    name = "llama_cpp.server"

    def __init__(self, model: str, n_ctx: int = 2048, alias: str = "embedded") -> None:
        import sys

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._start([sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
                     "--port", str(self.port), "--n_ctx", str(n_ctx), "--model_alias", alias])


class LlamaServer(_ServerProcess):
    """llama.cpp's own `llama-server` binary on 127.0.0.1, started with the README's team-server recipe."""

    name = "llama-server"
    ready_path = "/health"

    def __init__(self, binary: str, model: str, *, alias: str, n_ctx: int = 2048, slots: int = 2) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._start([binary, "-m", model, "--host", "127.0.0.1", "--port", str(self.port), "-c", str(n_ctx),
                     "-np", str(slots), "--cache-reuse", "256", "--alias", alias, "-t", "2"])


def server_tokens(url: str, text: str) -> list[int]:
    """The server's own token ids for `text`, special tokens parsed as they are in a prompt: llama-server's
    /tokenize, or llama-cpp-python's /extras/tokenize."""
    import urllib.error
    import urllib.request

    for path, body in (("/tokenize", {"content": text, "add_special": False, "parse_special": True}),
                       ("/extras/tokenize", {"input": text})):
        request = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.load(answer)["tokens"]
        except urllib.error.HTTPError:
            continue
    raise AssertionError(f"{url} has no tokenize endpoint")


def server_slots(url: str) -> list[dict]:
    """llama-server's /slots: one entry per parallel slot, `is_processing` while it generates."""
    import urllib.request

    with urllib.request.urlopen(f"{url}/slots", timeout=10) as answer:
        return json.load(answer)
