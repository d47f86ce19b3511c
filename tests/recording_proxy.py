"""A small real HTTP proxy on 127.0.0.1 between starassist and an inference server, for the remote tests.

It records every request exactly as it left starassist (method, path, headers, body bytes) and every byte of
the answers, relays the answer as it streams, and watches the client's socket while relaying: when the client
hangs up mid-answer (a superseded keystroke) it notes the moment and closes the upstream connection at once,
so the server sees the disconnect too. `down()` / `up()` make the "server" unreachable and back (same port); `status`
answers every request with that HTTP status instead of forwarding (401, 429, 503 ...); `delay_s` holds each
answer back (a slow server).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Exchange:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    started: float = field(default_factory=time.monotonic)
    answer: bytearray = field(default_factory=bytearray)
    first_bytes: threading.Event = field(default_factory=threading.Event)
    client_gone_at: float | None = None  # when the client hung up before the answer ended
    upstream_closed_at: float | None = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a client that hung up on purpose: not news
        pass


class RecordingProxy:
    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.removeprefix("http://").partition(":")
        self.upstream = (host, int(port))
        self.exchanges: list[Exchange] = []
        self.status: int | None = None
        self.delay_s = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                ex = Exchange(self.command, self.path, dict(self.headers), body)
                outer.exchanges.append(ex)
                if outer.delay_s:
                    time.sleep(outer.delay_s)
                if outer.status is not None:
                    data = b'{"error": {"message": "from the proxy"}}'
                    self.send_response(outer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                outer._relay(self, ex)
                self.close_connection = True

            do_GET = do_POST = _handle

        self._handler = Handler
        self.port = 0
        self.httpd: _QuietServer | None = None
        self.up()
        self.url = f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        """Listen (again, on the same port): the server is back."""
        self.httpd = _QuietServer(("127.0.0.1", self.port), self._handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()

    def down(self) -> None:
        """Stop listening: connections are refused, as when the server is down."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def _relay(self, handler: BaseHTTPRequestHandler, ex: Exchange) -> None:
        headers = {k: v for k, v in ex.headers.items() if k.lower() not in ("connection", "host")}
        head = f"{ex.method} {ex.path} HTTP/1.1\r\nHost: {self.upstream[0]}:{self.upstream[1]}\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        up = socket.create_connection(self.upstream, timeout=30)
        client = handler.connection
        try:
            up.sendall(head.encode() + ex.body)
            while True:
                ready, _, _ = select.select([up, client], [], [], 30)
                if not ready:
                    return
                if client in ready:  # a client never sends more after its request: readable means it hung up
                    try:
                        gone = client.recv(1, socket.MSG_PEEK) == b""
                    except OSError:
                        gone = True
                    if gone:
                        ex.client_gone_at = time.monotonic()
                        return
                if up in ready:
                    data = up.recv(65536)
                    if not data:
                        return
                    ex.answer += data
                    ex.first_bytes.set()
                    try:
                        client.sendall(data)
                    except OSError:
                        ex.client_gone_at = time.monotonic()
                        return
        finally:
            up.close()
            ex.upstream_closed_at = time.monotonic()

    def posts(self, path_end: str = "") -> list[Exchange]:
        return [e for e in self.exchanges if e.method == "POST" and e.path.endswith(path_end)]

    def __enter__(self) -> RecordingProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.down()
