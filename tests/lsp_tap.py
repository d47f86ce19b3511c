"""A tap on the wire between an editor and the real `starassist lsp`: a shell script the editor starts as its
server, which copies both directions into files. Tests read what was really asked and answered (the suggestion
text, how many requests were sent, the timings) without changing the server."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any


def write_tap(folder: Path, server: str) -> Path:
    """A `serverPath` for the editor: runs `server` with the editor's arguments, recording the traffic."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "starassist-tap"
    inbound, outbound, errors = (shlex.quote(str(folder / n)) for n in ("to-server.log", "from-server.log", "stderr.log"))
    script.write_text(
        "#!/bin/sh\n"
        "# Appends, so a restarted server adds to the same record.\n"
        f'tee -a {inbound} | {shlex.quote(server)} "$@" 2>>{errors} | tee -a {outbound}\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def frames(path: Path) -> list[dict[str, Any]]:
    """The complete JSON-RPC messages in a recorded stream (a message still being written is left out)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out: list[dict[str, Any]] = []
    pos = 0
    while True:
        head_end = data.find(b"\r\n\r\n", pos)
        if head_end < 0:
            return out
        length = None
        for line in data[pos:head_end].split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = data[head_end + 4 : head_end + 4 + (length or 0)]
        if length is None or len(body) < length:
            return out
        out.append(json.loads(body))
        pos = head_end + 4 + length


class Tap:
    """Both directions of a tapped session."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def sent(self) -> list[dict[str, Any]]:
        return frames(self.folder / "to-server.log")

    def received(self) -> list[dict[str, Any]]:
        return frames(self.folder / "from-server.log")

    def requests(self, method: str) -> list[dict[str, Any]]:
        return [m for m in self.sent() if m.get("method") == method and "id" in m]

    def notifications(self, method: str) -> list[dict[str, Any]]:
        """Notifications of `method`, in either direction."""
        return [m for m in self.sent() + self.received() if m.get("method") == method and "id" not in m]

    def answer(self, request: dict[str, Any]) -> Any:
        """The server's result for a request the editor sent (None while unanswered)."""
        for m in self.received():
            if m.get("id") == request["id"] and "method" not in m:
                return m.get("result")
        return None
