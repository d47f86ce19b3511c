"""Helpers for tests that drive the real `starassist lsp` process with pytest-lsp."""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.checks import LspSpecificationWarning
from pytest_lsp.client import make_test_lsp_client

CLIENTS = ["visual-studio-code", "neovim@v0.11.0"]
ROOT_URI = "file:///work/project"


def server_command(*extra: str) -> list[str]:
    """`starassist lsp` from this interpreter's environment (the console script next to it, else `-m`)."""
    script = Path(sys.executable).with_name("starassist")
    if script.is_file():
        return [str(script), "lsp", *extra]
    return [sys.executable, "-m", "starassist", "lsp", *extra]


def slowed_server_command(delay_ms: int) -> list[str]:
    """A real server whose real model sleeps `delay_ms` per token, so a generation is reliably still running."""
    return [sys.executable, str(Path(__file__).with_name("slowed_backend.py")), str(delay_ms)]


def isolated_env(tmp: Path, **extra: str) -> dict[str, str]:
    """No user config file; telemetry under the test's directory; no model path from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARASSIST_")}
    env["STARASSIST_CONFIG_DIR"] = str(tmp / "config")
    env["STARASSIST_DATA_DIR"] = str(tmp / "data")
    env.update(extra)
    return env


class Session:
    """A started server with a pytest-lsp client, plus what the server sent that pytest-lsp does not keep."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.timings: list[Any] = []
        self.applied_edits: list[types.ApplyWorkspaceEditParams] = []
        self.encoding = "utf-16"
        self._versions: dict[str, int] = {}
        self.texts: dict[str, str] = {}

    async def initialize(self, capabilities: str, options: dict[str, Any] | None = None) -> types.InitializeResult:
        result = await self.client.initialize_session(types.InitializeParams(
            capabilities=client_capabilities(capabilities),
            root_uri=ROOT_URI,
            initialization_options=options,
        ))
        enc = result.capabilities.position_encoding
        self.encoding = str(getattr(enc, "value", enc) or "utf-16")
        return result

    def open(self, name: str, text: str, language: str = "python") -> str:
        uri = f"{ROOT_URI}/{name}"
        self._versions[uri] = 1
        self.texts[uri] = text
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))
        return uri

    def insert(self, uri: str, line: int, character: int, text: str) -> None:
        """Incremental didChange inserting `text` at an LSP position (in the negotiated encoding)."""
        from starassist.lsp.documents import apply_change

        self._versions[uri] += 1
        pos = types.Position(line=line, character=character)
        self.texts[uri] = apply_change(self.texts[uri], (line, character), (line, character), text, self.encoding)
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self._versions[uri]),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=pos, end=pos), text=text)],
        ))

    def version(self, uri: str) -> int:
        return self._versions[uri]

    def inline_params(self, uri: str, line: int, character: int, invoked: bool = False) -> types.InlineCompletionParams:
        kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
        return types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=kind),
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
        )

    async def inline(self, uri: str, line: int, character: int, invoked: bool = False) -> types.InlineCompletionList:
        result = await self.client.text_document_inline_completion_async(self.inline_params(uri, line, character, invoked))
        assert isinstance(result, types.InlineCompletionList)
        return result

    async def complete(self, uri: str, line: int, character: int) -> types.CompletionList:
        result = await self.client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=character)))
        assert isinstance(result, types.CompletionList)
        return result

    async def status(self) -> Any:
        return await self.client.protocol.send_request_async("starassist/status", {})

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 60.0) -> None:
        async def poll() -> None:
            while not predicate():
                await asyncio.sleep(0.02)

        await asyncio.wait_for(poll(), timeout)

    async def wait_for_status(self, predicate: Callable[[Any], bool], timeout: float = 60.0) -> Any:
        async def poll() -> Any:
            while True:
                status = await self.status()
                if predicate(status):
                    return status
                await asyncio.sleep(0.05)

        return await asyncio.wait_for(poll(), timeout)


async def start_session(command: list[str], env: dict[str, str]) -> Session:
    client = make_test_lsp_client()
    session = Session(client)
    client.feature("starassist/timings")(lambda ls, params: session.timings.append(params))

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(ls: LanguageClient, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        session.applied_edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    await client.start_io(*command, env=env)
    return session


async def stop_session(session: Session) -> None:
    client = session.client
    try:
        await asyncio.wait_for(client.shutdown_session(), 20)
    finally:
        await client.stop()


def apply_text_edit(text: str, start: types.Position, end: types.Position, new_text: str, encoding: str) -> str:
    from starassist.engine.textpos import offset_at

    a = offset_at(text, start.line, start.character, encoding)
    b = offset_at(text, end.line, end.character, encoding)
    return text[:a] + new_text + text[b:]


@pytest.fixture()
def no_spec_warnings():
    """Fail the test on any LSP specification warning pytest-lsp raises while checking results."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LspSpecificationWarning)
        yield
    spec = [w for w in caught if issubclass(w.category, LspSpecificationWarning)]
    assert not spec, [str(w.message) for w in spec]
