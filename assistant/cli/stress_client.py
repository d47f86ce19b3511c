"""A raw JSON-RPC client for `starassist lsp` that can send anything, including bytes no real client would:
it counts what comes back (answers by id, popups, log lines, tracebacks on stderr) and reads the server's RSS.
Used by `starassist bench lsp-stress` and the protocol tests."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starassist.lsp.framing import Body, FrameDecoder, encode


@dataclass
class Received:
    answers: dict[Any, dict[str, Any]] = field(default_factory=dict)  # id -> response
    null_id_errors: list[dict[str, Any]] = field(default_factory=list)
    popups: list[str] = field(default_factory=list)  # window/showMessage
    logs: int = 0
    notifications: Counter[str] = field(default_factory=Counter)
    stderr_lines: list[str] = field(default_factory=list)
    timings: list[dict[str, Any]] = field(default_factory=list)  # starassist/timings

    @property
    def tracebacks(self) -> int:
        return sum(1 for line in self.stderr_lines if line.startswith("Traceback"))


class RawClient:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.got = Received()
        self._waiters: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 1_000_000
        self._tasks = [asyncio.ensure_future(self._read_stdout()), asyncio.ensure_future(self._read_stderr())]

    @classmethod
    async def start(cls, command: list[str], env: dict[str, str] | None = None) -> RawClient:
        proc = await asyncio.create_subprocess_exec(
            *command, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, limit=2**31 - 1)
        return cls(proc)

    # -- sending ----------------------------------------------------------------------------------------------

    async def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def send(self, message: Any) -> None:
        await self.send_raw(encode(json.dumps(message).encode()))

    async def notify(self, method: str, params: Any = None) -> None:
        await self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def expect(self, msg_id: Any) -> asyncio.Future[dict[str, Any]]:
        """A future for the answer to `msg_id` (already resolved when it came)."""
        fut = self._waiters.get(msg_id)
        if fut is None:
            fut = self._waiters[msg_id] = asyncio.get_running_loop().create_future()
            if msg_id in self.got.answers:
                fut.set_result(self.got.answers[msg_id])
        return fut

    async def request(self, method: str, params: Any = None, timeout: float = 60.0) -> dict[str, Any]:
        msg_id = self.new_id()
        fut = self.expect(msg_id)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)
        return await asyncio.wait_for(fut, timeout)

    async def initialize(self, options: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await self.request("initialize", {"processId": None, "rootUri": "file:///work/project",
                                                   "capabilities": {}, "initializationOptions": options})
        await self.notify("initialized", {})
        return answer

    async def close(self, timeout: float = 30.0) -> int:
        """`shutdown`, `exit`, and the exit code."""
        try:
            await self.request("shutdown", timeout=timeout)
            await self.notify("exit")
        except (ConnectionError, asyncio.TimeoutError):
            pass
        return await self.wait(timeout)

    async def wait(self, timeout: float = 30.0) -> int:
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.proc.kill()
            code = await self.proc.wait()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return code

    # -- receiving ------------------------------------------------------------------------------------------

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        decoder = FrameDecoder(max_body=1 << 30)
        while data := await self.proc.stdout.read(65536):
            for event in decoder.feed(data):
                if isinstance(event, Body):
                    await self._on_message(json.loads(event.data))

    async def _on_message(self, msg: dict[str, Any]) -> None:
        method = msg.get("method")
        if method is None:
            msg_id = msg.get("id")
            if msg_id is None:
                self.got.null_id_errors.append(msg)
                return
            self.got.answers[msg_id] = msg
            fut = self._waiters.get(msg_id)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return
        if "id" in msg:  # a request from the server (progress, configuration): answer like a quiet client
            result: Any = [None] if method == "workspace/configuration" else None
            await self.send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
            return
        self.got.notifications[method] += 1
        if method == "window/showMessage":
            self.got.popups.append(msg["params"]["message"])
        elif method == "window/logMessage":
            self.got.logs += 1
        elif method == "starassist/timings":
            self.got.timings.append(msg["params"])

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.got.stderr_lines.append(line.decode("utf-8", errors="replace").rstrip("\n"))


def isolated_env(tmp: str, **extra: str) -> dict[str, str]:
    """No user config file; telemetry under `tmp`; no model path from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARASSIST_")}
    env["STARASSIST_CONFIG_DIR"] = os.path.join(tmp, "config")
    env["STARASSIST_DATA_DIR"] = os.path.join(tmp, "data")
    env.update(extra)
    return env


# Params of the messages an editor sends while typing.
def inline_params(uri: str, line: int, col: int) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": col}, "context": {"triggerKind": 2}}


def change_params(uri: str, version: int, start: dict[str, int], end: dict[str, int], text: str) -> dict[str, Any]:
    return {"textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": start, "end": end}, "text": text}]}


async def open_document(client: RawClient, uri: str, text: str) -> None:
    await client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                                  "text": text}})
