"""`starassist lsp` as a subprocess, driven by pytest-lsp with the saved VS Code and Neovim 0.11 client
capabilities, answering with real text from the embedded model (real llama.cpp)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lsp_fixtures import (
    CLIENTS,
    apply_text_edit,
    isolated_env,
    no_spec_warnings,  # noqa: F401 - fixture
    server_command,
    start_session,
    stop_session,
)
from lsprotocol import types

pytestmark = [pytest.mark.slow, pytest.mark.asyncio, pytest.mark.timeout(180), pytest.mark.usefixtures("no_spec_warnings")]

SOURCE = '''import math


def circle_area(radius):
    """Area of a circle."""
    return math.pi * radius ** 2


def main():
    print('''
# Fast settings for tests: short generations, no debounce wait.
FAST = {"completion": {"max_tokens": 16, "debounce_ms": 0}, "chat": {"max_tokens": 48}}


def end_of(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines) - 1, len(lines[-1])


@pytest.mark.parametrize("capabilities", CLIENTS)
async def test_inline_and_completion_return_model_text(tmp_path: Path, capabilities: str) -> None:
    session = await start_session(server_command(), isolated_env(tmp_path))
    try:
        result = await session.initialize(capabilities, {"starassist": FAST})
        assert result.capabilities.inline_completion_provider is not None
        assert result.capabilities.completion_provider is not None
        uri = session.open("geometry.py", SOURCE)
        line, col = end_of(SOURCE)

        inline = await session.inline(uri, line, col)
        assert len(inline.items) == 1
        item = inline.items[0]
        assert isinstance(item.insert_text, str) and item.insert_text.strip()
        assert item.range is not None and item.range.start == types.Position(line=line, character=col)
        assert item.command is not None and item.command.command == "starassist.accept"

        completion = await session.complete(uri, line, col)
        assert len(completion.items) == 1
        edit = completion.items[0].text_edit
        assert isinstance(edit, types.TextEdit) and edit.new_text.strip()
        # Same document and cursor: the cached suggestion, identical to the inline one.
        assert edit.new_text == item.insert_text
        assert edit.range.end == types.Position(line=line, character=col)

        await session.wait_for(lambda: len(session.timings) >= 2)
        first, second = session.timings[:2]
        assert first.kind == "inline" and first.cached is False and first.model_calls == 1
        assert first.generated_tokens > 0 and first.prompt_tokens > 0
        assert second.kind == "completion" and second.cached is True
        assert any(m.message.startswith("inline: 1 item(s)") for m in session.client.log_messages)
        assert not session.client.messages, [m.message for m in session.client.messages]  # no error shown

        if capabilities == "visual-studio-code":  # it supports server-initiated progress
            reports = [r for token, rs in session.client.progress_reports.items() for r in rs]
            kinds = [r.kind for r in reports]
            assert kinds[0] == "begin" and kinds[-1] == "end"

        # Acceptance telemetry: the client runs the item's command when the user accepts it.
        await session.client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=item.command.command, arguments=list(item.command.arguments or [])))
    finally:
        await stop_session(session)
    assert session.client._server.returncode == 0
    stats = json.loads((tmp_path / "data" / "stats.json").read_text())
    assert stats["shown"] == 2 and stats["accepted"] == 1 and stats["cache_hits"] == 1
    assert len(stats["model_latencies_ms"]) == 1


async def test_invoked_gives_several_distinct_items(tmp_path: Path) -> None:
    session = await start_session(server_command(), isolated_env(tmp_path))
    try:
        await session.initialize("visual-studio-code", {"starassist": FAST | {"completion": {
            "max_tokens": 12, "debounce_ms": 0, "invoked_items": 3}}})
        uri = session.open("geometry.py", SOURCE)
        line, col = end_of(SOURCE)
        result = await session.inline(uri, line, col, invoked=True)
        texts = [i.insert_text for i in result.items]
        assert 2 <= len(texts) <= 3
        assert len(set(texts)) == len(texts) and all(t.strip() for t in texts)
    finally:
        await stop_session(session)


async def test_typing_through_a_suggestion_needs_no_model_call(tmp_path: Path) -> None:
    session = await start_session(server_command(), isolated_env(tmp_path))
    try:
        await session.initialize("visual-studio-code", {"starassist": FAST})
        text = SOURCE + '"The area is", circle_area('
        uri = session.open("geometry.py", text)
        line, col = end_of(text)
        shown = (await session.inline(uri, line, col)).items[0].insert_text
        assert isinstance(shown, str)
        if len(shown) < 3:
            pytest.fail(f"the model suggested only {shown!r}; the test needs a longer suggestion")
        calls = (await session.status()).model_calls
        for typed in range(1, 3):
            session.insert(uri, line, col + typed - 1, shown[typed - 1])
            item = (await session.inline(uri, line, col + typed)).items[0]
            assert item.insert_text == shown[typed:]
            assert item.range.start == types.Position(line=line, character=col + typed)
        status = await session.status()
        assert status.model_calls == calls and status.cache_hits == 2
        assert [t.cached for t in session.timings] == [False, True, True]
    finally:
        await stop_session(session)


@pytest.mark.parametrize("capabilities", CLIENTS)
async def test_positions_after_emoji_and_cjk(tmp_path: Path, capabilities: str) -> None:
    """The cursor sits after an emoji (2 UTF-16 units, 4 UTF-8 bytes), CJK (1 unit, 3 bytes) and a combining
    mark on the same line, with code after it; VS Code negotiates UTF-16, Neovim UTF-8."""
    session = await start_session(server_command(), isolated_env(tmp_path))
    try:
        await session.initialize(capabilities, {"starassist": FAST})
        line_text = 'label = "😀 中文 é" + format_name('
        text = "def format_name(name):\n    return name.title()\n\n\n" + line_text + ")\n"
        uri = session.open("labels.py", text)
        line = 4
        from starassist.engine.textpos import code_units

        col = code_units(line_text, session.encoding)
        assert col != len(line_text)  # the encodings differ on this line, so a wrong conversion shows
        result = await session.inline(uri, line, col)
        await session.wait_for(lambda: session.timings)
        expected_offset = text.index(line_text) + len(line_text)
        assert session.timings[0].position.offset == expected_offset
        assert result.items, "the model gave no suggestion"
        item = result.items[0]
        assert item.range.start == types.Position(line=line, character=col)
        new_text = apply_text_edit(text, item.range.start, item.range.end, item.insert_text, session.encoding)
        assert new_text.startswith(text[:expected_offset] + item.insert_text)
        assert new_text.endswith(")\n")
        # The auto-closed bracket after the cursor is part of the item's range and of its text.
        assert item.range.end == types.Position(line=line, character=col + 1)
    finally:
        await stop_session(session)


async def test_crlf_document_with_incremental_edits(tmp_path: Path) -> None:
    session = await start_session(server_command(), isolated_env(tmp_path))
    try:
        await session.initialize("visual-studio-code", {"starassist": FAST})
        text = SOURCE.replace("\n", "\r\n")
        uri = session.open("geometry.py", text)
        line, col = end_of(SOURCE)
        session.insert(uri, line, col, "circle_area(")
        result = await session.inline(uri, line, col + len("circle_area("))
        await session.wait_for(lambda: session.timings)
        assert session.timings[0].position.offset == len(text) + len("circle_area(")
        assert result.items and "\r" not in result.items[0].insert_text.replace("\r\n", "")
        # Typing something else than the suggestion: a new model call that reuses the KV cache for the prompt.
        col += len("circle_area(")
        session.insert(uri, line, col, "7")
        await session.inline(uri, line, col + 1)
        await session.wait_for(lambda: len(session.timings) >= 2)
        second = session.timings[1]
        assert second.cached is False and second.model_calls == 1
        assert second.reused_tokens >= second.prompt_tokens - 4
    finally:
        await stop_session(session)


async def test_missing_model_reports_once_and_answers_empty(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.gguf"
    session = await start_session(server_command("--model", str(missing)), isolated_env(tmp_path))
    try:
        # The command line wins over the editor's settings.
        await session.initialize("visual-studio-code", {"model": {"path": "embedded"}})
        uri = session.open("geometry.py", SOURCE)
        line, col = end_of(SOURCE)
        assert not (await session.inline(uri, line, col)).items
        assert not (await session.complete(uri, line, col)).items
        assert not (await session.inline(uri, line, col, invoked=True)).items
        status = await session.status()
        assert status.ready is True and status.model is None and str(missing) in status.error
        errors = [m for m in session.client.messages if m.type == types.MessageType.Error]
        assert len(errors) == 1, [m.message for m in session.client.messages]
        assert str(missing) in errors[0].message and "--model" in errors[0].message
    finally:
        await stop_session(session)
    assert session.client._server.returncode == 0


async def test_bad_settings_are_reported_and_defaults_kept(tmp_path: Path) -> None:
    session = await start_session(server_command(), isolated_env(tmp_path))
    try:
        await session.initialize("neovim@v0.11.0", {"completion": {"max_tokens": "lots", "bogus": 1, "debounce_ms": 0}})
        await session.wait_for(lambda: session.client.messages)
        message = session.client.messages[0]
        assert message.type == types.MessageType.Warning
        assert "completion.max_tokens" in message.message and "completion.bogus" in message.message
        uri = session.open("geometry.py", SOURCE)
        line, col = end_of(SOURCE)
        assert (await session.inline(uri, line, col)).items
        # A later configuration change applies (here: the number of invoked items).
        session.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"starassist": {"completion": {"max_tokens": 8, "invoked_items": 1, "debounce_ms": 0}}}))
        result = await session.inline(uri, line, col - 1, invoked=True)
        assert len(result.items) <= 1
        status = await session.status()
        assert (status.settings.completion.max_tokens, status.settings.completion.invoked_items) == (8, 1)
        # Pull model: a change notification without settings makes the server ask (workspace/configuration).
        session.client.set_configuration({"completion": {"max_tokens": 5}}, section="starassist")
        session.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        status = await session.wait_for_status(lambda s: s.settings.completion.max_tokens == 5, timeout=10)
        assert status.settings.completion.invoked_items == 3  # back to the default: the client's full section
    finally:
        await stop_session(session)


async def test_explain_and_modify_commands(tmp_path: Path) -> None:
    session = await start_session(server_command(), isolated_env(tmp_path))
    try:
        await session.initialize("visual-studio-code", {"starassist": FAST})
        uri = session.open("geometry.py", SOURCE)
        selection = {"start": {"line": 3, "character": 0}, "end": {"line": 5, "character": 33}}
        markdown = await session.client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="starassist.explain", arguments=[{"uri": uri, "range": selection}]))
        assert isinstance(markdown, str) and markdown.strip()
        result = await session.client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="starassist.modify",
            arguments=[{"uri": uri, "range": selection, "instruction": "add a type hint for radius"}]))
        assert result["applied"] is True and isinstance(result["newText"], str)
        assert len(session.applied_edits) == 1
        (edits,) = session.applied_edits[0].edit.changes.values()
        assert len(edits) == 1
        assert edits[0].range == types.Range(start=types.Position(3, 0), end=types.Position(5, 33))
        assert edits[0].new_text == result["newText"]
        with pytest.raises(Exception, match="not an open document"):
            await session.client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="starassist.explain", arguments=[{"uri": "file:///nope.py", "range": selection}]))
    finally:
        await stop_session(session)


async def test_chat_streams_and_modify_proposes(tmp_path: Path) -> None:
    """`starassist.chat` streams `starassist/text` pieces that add up to the answer and takes the client's history
    and a range as context; `starassist.modify` with "apply": false proposes without `workspace/applyEdit`."""
    session = await start_session(server_command(), isolated_env(tmp_path))
    pieces: list[tuple[str, str]] = []
    session.client.feature("starassist/text")(lambda ls, params: pieces.append((params.token, params.text)))
    try:
        await session.initialize("neovim@v0.11.0", {"starassist": FAST})
        uri = session.open("geometry.py", SOURCE)
        selection = {"start": {"line": 3, "character": 0}, "end": {"line": 5, "character": 33}}

        def execute(command: str, arg: dict) -> Any:
            return session.client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=command, arguments=[arg]))

        first = await execute("starassist.chat", {"message": "What does circle_area return?",
                                                  "context": {"uri": uri, "range": selection}, "token": "c1"})
        streamed = "".join(text for token, text in pieces if token == "c1")
        assert first["text"].strip() and streamed.strip() == first["text"]
        assert "geometry.py (lines 4-6)" in first["message"] and "def circle_area(radius):" in first["message"]
        history = [{"role": "user", "content": first["message"]}, {"role": "assistant", "content": first["text"]}]
        second = await execute("starassist.chat", {"message": "And for radius 2?", "history": history})
        assert second["text"].strip() and second["message"] == "And for radius 2?"
        assert len(pieces) > 1 and {token for token, _ in pieces} == {"c1"}  # no token, no stream
        with pytest.raises(Exception, match="history is a list"):
            await execute("starassist.chat", {"message": "hi", "history": [{"role": "system", "content": "x"}]})

        proposal = await execute("starassist.modify", {"uri": uri, "range": selection, "apply": False,
                                                       "instruction": "add a type hint for radius"})
        assert proposal["applied"] is False and proposal["newText"].strip()
        assert proposal["range"] == selection
        assert session.applied_edits == []
    finally:
        await stop_session(session)


async def test_tcp_transport(tmp_path: Path) -> None:
    import asyncio
    import socket

    from lsp_fixtures import Session
    from pytest_lsp.client import make_test_lsp_client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = await asyncio.create_subprocess_exec(
        *server_command("--tcp", f"127.0.0.1:{port}"), env=isolated_env(tmp_path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    client = make_test_lsp_client()
    try:
        for _ in range(200):  # until the server listens
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        session = Session(client)
        await session.initialize("neovim@v0.11.0", {"starassist": FAST})
        uri = session.open("geometry.py", SOURCE)
        line, col = end_of(SOURCE)
        assert (await session.inline(uri, line, col)).items
        await asyncio.wait_for(client.shutdown_async(None), 10)
        client.exit(None)
        assert await asyncio.wait_for(server.wait(), 10) == 0
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
        await client.stop()


async def test_model_change_in_configuration_reloads(tmp_path: Path) -> None:
    session = await start_session(server_command(), isolated_env(tmp_path))
    try:
        await session.initialize("visual-studio-code", {"starassist": FAST})
        uri = session.open("geometry.py", SOURCE)
        line, col = end_of(SOURCE)
        assert (await session.inline(uri, line, col)).items
        missing = str(tmp_path / "other.gguf")
        session.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"starassist": FAST | {"model": {"path": missing}}}))
        await session.wait_for(lambda: session.client.messages)
        assert missing in session.client.messages[0].message
        assert not (await session.inline(uri, line, col - 1)).items
        session.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"starassist": FAST | {"model": {"path": "embedded"}}}))
        status = await session.wait_for_status(lambda s: s.model is not None)
        assert status.error is None
        assert (await session.inline(uri, line, col - 2)).items
    finally:
        await stop_session(session)


async def test_broken_config_file_is_reported_and_the_server_serves(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").write_text("[completion\nmax_tokens = 8\n")
    session = await start_session(server_command(), isolated_env(tmp_path))
    try:
        await session.initialize("visual-studio-code", {"starassist": FAST})
        await session.wait_for(lambda: session.client.messages)
        (message,) = session.client.messages
        assert message.type == types.MessageType.Warning
        assert "config.toml" in message.message and "using defaults" in message.message
        uri = session.open("geometry.py", SOURCE)
        line, col = end_of(SOURCE)
        assert (await session.inline(uri, line, col)).items
    finally:
        await stop_session(session)
