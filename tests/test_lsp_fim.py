"""Fill-in-the-middle through the whole product: a real editor session with `starassist lsp` serving the
memorizing StarCoder2 fixture (repo-level layout from the workspace root, post-processing on). If a layout, a
token id, the path/repo derivation or a post-processing step were wrong, the memorized lines would not come back.
"""

from __future__ import annotations

from pathlib import Path

import lsp_fixtures
import pytest
from lsp_fixtures import isolated_env, no_spec_warnings, server_command, start_session, stop_session  # noqa: F401
from lsprotocol import types

pytestmark = [pytest.mark.slow, pytest.mark.asyncio, pytest.mark.timeout(300), pytest.mark.usefixtures("no_spec_warnings")]


@pytest.mark.parametrize("arch", ["starcoder2", "starcoder"])
async def test_inline_completion_recovers_memorized_lines(arch, fixture_gguf, tmp_path: Path, monkeypatch) -> None:
    from memorizing.build import REPO, corpus, spans

    monkeypatch.setattr(lsp_fixtures, "ROOT_URI", f"file:///work/{REPO}")
    model = fixture_gguf[(arch, "Q8_0")]
    options = {"model": {"path": str(model), "threads": 1}, "completion": {"debounce_ms": 0, "max_tokens": 48}}
    session = await start_session(server_command(), isolated_env(tmp_path))
    try:
        await session.initialize("visual-studio-code", options)
        checked = 0
        for path, text in corpus():
            # A line's code after its indentation, or two consecutive lines: the cursor sits on an indented,
            # otherwise empty line and the suggestion must be exactly the masked text (single- or multi-line).
            for span in spans(text, path):
                masked = text[: span.start] + text[span.end :]
                uri = session.open(path, masked)
                result = await session.inline(uri, span.line - 1, span.col - 1)
                want = text[span.start : span.end]
                got = result.items[0].insert_text if result.items else None
                checked += 1
                assert got == want, (path, span.line, want, got)
                session.client.text_document_did_close(
                    types.DidCloseTextDocumentParams(
                        text_document=types.TextDocumentIdentifier(uri=uri)))
        assert checked >= 25
        status = await session.status()
        assert status.format == arch and status.model_calls == checked  # every suggestion came from the model
    finally:
        await stop_session(session)
