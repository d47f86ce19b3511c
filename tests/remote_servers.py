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


class LlamaCppServer:
    """llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`) on 127.0.0.1."""

    def __init__(self, model: str, n_ctx: int = 2048) -> None:
        import socket
        import subprocess
        import sys

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        import tempfile

        # A file, not a pipe: llama.cpp logs enough at load to fill a pipe and block the server.
        self.log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", str(n_ctx), "--model_alias", "embedded"],
            stdout=subprocess.DEVNULL, stderr=self.log, text=True,
        )

    def wait_ready(self, timeout_s: float = 60.0) -> LlamaCppServer:
        import urllib.request

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"llama_cpp.server exited: {self.log.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/v1/models", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("llama_cpp.server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
