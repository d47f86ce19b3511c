"""The real `starassist lsp` process driven over raw stdio (and TCP) by a client that sends what real clients
should not: every request is answered, bad traffic costs at most one popup, the lifecycle follows the spec."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from lsp_fixtures import server_command, slowed_server_command

from starassist.cli.stress_client import RawClient, isolated_env
from starassist.lsp.framing import encode

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

URI = "file:///work/project/a.py"
SOURCE = "def add(a, b):\n    return a + b\n\n\ndef main():\n    print(add(1, 2))\n"


def no_model(tmp_path: Path) -> dict[str, Any]:
    """Settings whose model cannot load: the protocol is exercised without the cost of a model."""
    return {"model": {"path": str(tmp_path / "missing.gguf")}, "completion": {"debounce_ms": 0}}


def inline(line: Any = 1, character: Any = 4, context: Any = None, uri: str = URI) -> dict[str, Any]:
    params: dict[str, Any] = {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}
    if context is not None:
        params["context"] = context
    return params


async def started(tmp_path: Path, options: dict[str, Any] | None = None, command: list[str] | None = None) -> RawClient:
    client = await RawClient.start(command or server_command(), isolated_env(str(tmp_path)))
    await client.initialize(options if options is not None else no_model(tmp_path))
    await client.notify("textDocument/didOpen", {"textDocument": {
        "uri": URI, "languageId": "python", "version": 1, "text": SOURCE}})
    return client


def misbehaviour_popups(client: RawClient) -> list[str]:
    return [p for p in client.got.popups if "could not use" in p]


BAD_REQUESTS: list[tuple[str, Any, set[int]]] = [
    ("textDocument/inlineCompletion", None, {-32602}),
    ("textDocument/inlineCompletion", inline(-1, 0, {"triggerKind": 1}), {-32602}),
    ("textDocument/inlineCompletion", inline(2**31, 0, {"triggerKind": 1}), {-32602}),
    ("textDocument/inlineCompletion", inline(), {-32602}),  # no context
    ("textDocument/inlineCompletion", inline(context={"triggerKind": 3}), {-32602}),
    ("textDocument/completion", {"textDocument": {"uri": 5}, "position": {}}, {-32602}),
    ("textDocument/hover", inline(), {-32601}),
    ("workspace/executeCommand", {"command": "starassist.explain", "arguments": [
        {"uri": URI, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 1e400, "character": 0}}}]},
     {-32602}),
]


async def test_every_bad_request_is_answered_with_at_most_one_popup(tmp_path: Path) -> None:
    client = await started(tmp_path)
    try:
        ids = []
        for method, params, codes in BAD_REQUESTS:
            msg_id = client.new_id()
            ids.append((msg_id, codes))
            await client.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        deep, bad_utf8 = client.new_id(), client.new_id()
        await client.send_raw(encode(b'{"jsonrpc": "2.0", "id": %d, "method": "x", "params": ' % deep
                                     + b"[" * 100_000 + b"]" * 100_000 + b"}"))
        await client.send_raw(encode(b'{"jsonrpc": "2.0", "id": %d, "method": "starassist/status", '
                                     b'"params": {"x": "\xff\xfe"}}' % bad_utf8))
        await client.send_raw(encode(b"null"))
        status = await client.request("starassist/status")  # params omitted: JSON-RPC allows it
        assert status["result"]["open_documents"] == 1
        for msg_id, codes in ids:
            answer = await asyncio.wait_for(client.expect(msg_id), 10)
            assert answer["error"]["code"] in codes, answer
            assert answer["error"]["message"]
        assert (await asyncio.wait_for(client.expect(deep), 10))["error"]["code"] == -32700
        assert "result" in await asyncio.wait_for(client.expect(bad_utf8), 10)
        assert [e["error"]["code"] for e in client.got.null_id_errors] == [-32600]
        assert len(misbehaviour_popups(client)) == 1, client.got.popups
    finally:
        code = await client.close()
    assert code == 0
    assert client.got.tracebacks == 0, "\n".join(client.got.stderr_lines)


FRAMES = [
    b"Content-Length: 12\r\n\r\n",  # too short: cuts into the next message
    b"Content-Length: 100000\r\n\r\n",  # too long
    b"Content-Length: -4\r\n\r\n",
    b"Content-Length: 1099511627776\r\n\r\n",  # a terabyte, refused without reading it
    b"content-length: %d\n\n",  # lowercase, LF only: a valid message
    b"garbage\x00\xff\r\n",
]


async def test_every_framing_case_recovers(tmp_path: Path) -> None:
    client = await started(tmp_path)
    try:
        for frame in FRAMES:
            msg_id = client.new_id()
            body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "starassist/status"}).encode()
            await client.send_raw((frame % len(body) if b"%d" in frame else frame) + body)
            status = await client.request("starassist/status", {}, timeout=10)  # the stream is in sync again
            assert status["result"]["open_documents"] == 1, frame
            if b"%d" in frame:
                assert "result" in await asyncio.wait_for(client.expect(msg_id), 5)
        assert len(misbehaviour_popups(client)) == 1
    finally:
        assert await client.close() == 0


async def test_lifecycle_after_shutdown_and_second_initialize(tmp_path: Path) -> None:
    client = await started(tmp_path)
    again = await client.request("initialize", {"capabilities": {}})
    assert again["error"]["code"] == -32600 and "already initialized" in again["error"]["message"]
    assert "result" in await client.request("shutdown")
    late = await client.request("starassist/status", {})
    assert late["error"]["code"] == -32600
    await client.notify("exit")
    assert await client.wait() == 0


async def test_exit_without_shutdown_is_code_1(tmp_path: Path) -> None:
    client = await started(tmp_path)
    await client.notify("exit")
    assert await client.wait(10) == 1


async def test_a_broken_model_is_reported_each_time_it_is_selected(tmp_path: Path) -> None:
    client = await started(tmp_path)
    try:
        await client.request("starassist/status", {})
        first = str(tmp_path / "missing.gguf")
        for path in (str(tmp_path / "other.gguf"), first):
            await client.notify("workspace/didChangeConfiguration", {"settings": {"starassist": {"model": {"path": path}}}})
            await client.request("starassist/status", {})
        for _ in range(100):
            if len([p for p in client.got.popups if "missing.gguf" in p]) == 2:
                break
            await asyncio.sleep(0.05)
        model_popups = [p for p in client.got.popups if "no model at" in p]
        assert len(model_popups) == 3, client.got.popups
    finally:
        await client.close()


async def test_a_second_tcp_client_is_refused_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = await asyncio.create_subprocess_exec(
        *server_command("--tcp", f"127.0.0.1:{port}"), env=isolated_env(str(tmp_path)),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        for _ in range(400):
            try:
                first = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        second_reader, second_writer = await asyncio.open_connection("127.0.0.1", port)
        refusal = await asyncio.wait_for(second_reader.read(), 10)  # then EOF: the connection is closed
        assert b"window/showMessage" in refusal and b"another editor is connected" in refusal
        reader, writer = first
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "starassist/status", "params": {}}).encode()
        writer.write(encode(body))
        answer = await asyncio.wait_for(reader.readuntil(b"}}"), 10)
        assert b'"id": 1' in answer or b'"id":1' in answer
        second_writer.close()
        writer.write(encode(b'{"jsonrpc": "2.0", "method": "exit"}'))
        assert await asyncio.wait_for(server.wait(), 10) == 1  # exit without shutdown
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


@pytest.mark.slow
async def test_exit_during_a_generation_stops_at_once(tmp_path: Path) -> None:
    options = {"completion": {"debounce_ms": 0, "max_tokens": 64}}
    client = await started(tmp_path, options, slowed_server_command(200))
    await client.request("starassist/status", {})
    msg_id = client.new_id()
    await client.send({"jsonrpc": "2.0", "id": msg_id, "method": "textDocument/inlineCompletion",
                       "params": inline(5, 4, {"triggerKind": 1})})
    for _ in range(600):  # until the model is busy with it
        status = await client.request("starassist/status", {})
        if status["result"]["busy"]:
            break
        await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await client.notify("exit")
    assert await client.wait(20) == 1
    assert loop.time() - t0 < 3.0  # the generation (64 tokens x 200 ms) was cancelled, not waited for


@pytest.mark.slow
async def test_a_lone_surrogate_is_replaced_and_the_suggestion_served(tmp_path: Path) -> None:
    options = {"completion": {"debounce_ms": 0, "max_tokens": 8}}
    client = await RawClient.start(server_command(), isolated_env(str(tmp_path)))
    try:
        await client.initialize(options)
        text = json.dumps(SOURCE + "# note \ud800 here\ndef sub(a, b):\n    return")  # a "\\ud800" escape
        await client.send_raw(encode(('{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": '
                                      f'{{"uri": "{URI}", "languageId": "python", "version": 1, "text": {text}}}}}}}')
                                     .encode()))
        answer = await client.request("textDocument/inlineCompletion", inline(8, 10, {"triggerKind": 1}), timeout=90)
        assert "result" in answer, answer
        status = (await client.request("starassist/status", {}))["result"]
        assert status["worker"]["failed"] == 0 and status["generations_finished"] == 1
        assert not [p for p in client.got.popups]
    finally:
        await client.close()


async def test_finished_notification_handlers_are_not_kept(tmp_path: Path) -> None:
    """pygls keeps the future of every async notification handler for the whole session (a leak per message)."""
    from starassist.engine.settings import Settings
    from starassist.lsp.framing import Body
    from starassist.lsp.server import create_server

    server = create_server(Settings())
    protocol = server.protocol
    sent: list[bytes] = []
    protocol.set_writer(type("W", (), {"write": lambda self, data: sent.append(data), "close": lambda self: None})())
    note = json.dumps({"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration",
                       "params": {"settings": {"unrelated": 1}}}).encode()
    for _ in range(200):
        protocol.handle_frame(Body(note))
    for _ in range(20):
        await asyncio.sleep(0)
    assert protocol._request_futures == {}
    server.session.shutdown()


async def test_an_unsupported_method_is_answered_without_a_popup(tmp_path: Path) -> None:
    """Clients ask for features regardless of capabilities: -32601, no popup."""
    client = await started(tmp_path)
    try:
        answer = await client.request("textDocument/semanticTokens/full", {"textDocument": {"uri": URI}})
        assert answer["error"]["code"] == -32601
        assert "result" in await client.request("starassist/status", {})
        assert not misbehaviour_popups(client)
    finally:
        assert await client.close() == 0
