"""Timing mechanics of the real server: a burst of requests, `$/cancelRequest` and `shutdown` during a long
generation. The model is the real embedded one, slowed down per token by the test-only
server launcher in tests/slowed_backend.py, so a generation is reliably still running."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsp_fixtures import (
    isolated_env,
    no_spec_warnings,  # noqa: F401 - fixture
    slowed_server_command,
    start_session,
    stop_session,
)
from lsprotocol import types
from pygls.exceptions import JsonRpcException

pytestmark = [pytest.mark.slow, pytest.mark.asyncio, pytest.mark.timeout(180),
              pytest.mark.usefixtures("no_spec_warnings")]

SOURCE = '''import math


def circle_area(radius):
    """Area of a circle."""
    return math.pi * radius ** 2


'''


async def test_burst_runs_at_most_two_generations_and_answers_the_final_text(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    session = await start_session(slowed_server_command(15), env)
    try:
        await session.initialize("visual-studio-code", {"starassist": {"completion": {"max_tokens": 12, "debounce_ms": 60}}})
        uri = session.open("geometry.py", SOURCE)
        await session.wait_for_status(lambda s: s.ready)
        line = SOURCE.count("\n")
        typed = "total = circle_area("
        assert len(typed) == 20
        requests = []
        for i, ch in enumerate(typed):  # one keystroke, one request: as fast as the client can send them
            session.insert(uri, line, i, ch)
            requests.append(asyncio.ensure_future(session.inline(uri, line, i + 1)))
        results = await asyncio.gather(*requests)
        status = await session.status()
        assert status.generations_finished <= 2, status
        assert results[-1].items, "the final request got no suggestion"
        final = results[-1].items[0].insert_text
        answered = [t for t in session.timings if t.items]
        assert answered[-1].version == session.version(uri) == 21
        assert sum(1 for r in results if r.items) <= 2

        # The same final document from scratch (closed and reopened: no cache) gives the same suggestion.
        session.client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        uri2 = session.open("geometry.py", SOURCE + typed)
        again = await session.inline(uri2, line, len(typed))
        assert again.items and again.items[0].insert_text == final
    finally:
        await stop_session(session)


async def test_an_edit_during_a_generation_answers_the_old_version_empty(tmp_path: Path) -> None:
    session = await start_session(slowed_server_command(100), isolated_env(tmp_path))
    try:
        await session.initialize("visual-studio-code", {"starassist": {"completion": {"max_tokens": 32, "debounce_ms": 0}}})
        uri = session.open("geometry.py", SOURCE)
        await session.wait_for_status(lambda s: s.ready)
        line = SOURCE.count("\n")
        request = asyncio.ensure_future(session.inline(uri, line, 0))
        await session.wait_for_status(lambda s: (s.busy or "").startswith("complete"))
        session.insert(uri, line, 0, "x")  # the document moves on while the model works on version 1
        result = await request
        assert not result.items
        await session.wait_for(lambda: session.timings)
        (timing,) = session.timings
        assert timing.version == 1 and timing.superseded is True and timing.items == 0
        status = await session.status()
        assert status.worker.cancelled == 1 and status.generations_finished == 0
    finally:
        await stop_session(session)


async def test_cancel_request_stops_the_running_generation(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    session = await start_session(slowed_server_command(100), env)
    try:
        await session.initialize("visual-studio-code", {"starassist": {"completion": {"max_tokens": 400, "debounce_ms": 0}}})
        uri = session.open("geometry.py", SOURCE)
        params = session.inline_params(uri, SOURCE.count("\n"), 0)
        pending = asyncio.ensure_future(session.client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id="long-1"))
        await session.wait_for_status(lambda s: (s.busy or "").startswith("complete"))
        session.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="long-1"))
        with pytest.raises(JsonRpcException):
            await asyncio.wait_for(pending, 10)
        status = await session.wait_for_status(lambda s: s.busy is None, timeout=10)
        assert status.worker.cancelled == 1 and status.generations_finished == 0
        # The server keeps serving (a short request now).
        session.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"starassist": {"completion": {"max_tokens": 4, "debounce_ms": 0}}}))
        await session.inline(uri, SOURCE.count("\n"), 0)
        assert (await session.status()).generations_finished == 1
    finally:
        await stop_session(session)


async def test_cancel_request_stops_a_running_chat_command(tmp_path: Path) -> None:
    """`$/cancelRequest` for `starassist.chat` (an editor's Stop button) stops the model, not just the answer."""
    session = await start_session(slowed_server_command(100), isolated_env(tmp_path))
    try:
        await session.initialize("visual-studio-code", {"starassist": {"chat": {"max_tokens": 400}}})
        await session.wait_for_status(lambda s: s.ready)
        params = types.ExecuteCommandParams(command="starassist.chat",
                                            arguments=[{"message": "Tell me a long story.", "token": "t1"}])
        pending = asyncio.ensure_future(session.client.protocol.send_request_async(
            types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="chat-1"))
        await session.wait_for_status(lambda s: (s.busy or "").startswith("chat"))
        session.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="chat-1"))
        with pytest.raises(JsonRpcException):
            await asyncio.wait_for(pending, 10)
        status = await session.wait_for_status(lambda s: s.busy is None, timeout=10)
        assert status.worker.cancelled == 1
    finally:
        await stop_session(session)


async def test_shutdown_is_answered_during_a_long_generation(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    session = await start_session(slowed_server_command(300), env)
    client = session.client
    await session.initialize("neovim@v0.11.0", {"starassist": {"completion": {"max_tokens": 400, "debounce_ms": 0}}})
    uri = session.open("geometry.py", SOURCE)
    pending = asyncio.ensure_future(session.inline(uri, SOURCE.count("\n"), 0))
    await session.wait_for_status(lambda s: (s.busy or "").startswith("complete"))
    # 400 tokens at 300 ms each would take two minutes; shutdown must not wait for them.
    await asyncio.wait_for(client.shutdown_async(None), 10)
    client.exit(None)
    assert client._server is not None
    returncode = await asyncio.wait_for(client._server.wait(), 10)
    assert returncode == 0
    done, _ = await asyncio.wait([pending], timeout=1)
    if pending in done:
        # Answered before the exit (cancelled by shutdown): an error or an empty list, never a stale text.
        assert pending.exception() is not None or not pending.result().items
    else:
        pending.cancel()
    await client.stop()


async def test_server_exits_when_the_client_vanishes_mid_generation(tmp_path: Path) -> None:
    """An editor that crashes sends no shutdown: at end of input the server stops its generation and exits."""
    env = isolated_env(tmp_path)
    session = await start_session(slowed_server_command(300), env)
    client = session.client
    await session.initialize("visual-studio-code", {"starassist": {"completion": {"max_tokens": 400, "debounce_ms": 0}}})
    uri = session.open("geometry.py", SOURCE)
    pending = asyncio.ensure_future(session.inline(uri, SOURCE.count("\n"), 0))
    await session.wait_for_status(lambda s: (s.busy or "").startswith("complete"))
    server = client._server
    assert server is not None and server.stdin is not None
    server.stdin.close()
    returncode = await asyncio.wait_for(server.wait(), 15)
    assert returncode >= 0  # exited by itself, not killed by a signal (no crash in llama.cpp at exit)
    pending.cancel()
    await client.stop()
