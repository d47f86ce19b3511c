"""Speculative prefetch through the real server (pytest-lsp): after a shown suggestion is accepted, the next one
comes from the cache with no model call; a keystroke during a prefetch cancels it; the prefetch sends nothing to
the client. The embedded model answers (real llama.cpp); the timing cases slow it down per token
(tests/slowed_backend.py) so that a prefetch is reliably still running."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsp_fixtures import (
    Session,
    apply_text_edit,
    isolated_env,
    no_spec_warnings,  # noqa: F401 - fixture
    server_command,
    slowed_server_command,
    start_session,
    stop_session,
)
from lsprotocol import types

pytestmark = [pytest.mark.slow, pytest.mark.asyncio, pytest.mark.timeout(180),
              pytest.mark.usefixtures("no_spec_warnings")]

SOURCE = '''import math


def circle_area(radius):
    """Area of a circle."""
    return math.pi * radius ** 2


def circle_perimeter(radius):
    """Perimeter of a circle."""
    return '''


def end_of(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines) - 1, len(lines[-1])


def options(max_tokens: int, **completion: Any) -> dict[str, Any]:
    return {"starassist": {"completion": {"max_tokens": max_tokens, "debounce_ms": 0, "multiline": "never",
                                          **completion}}}


async def accept(session: Session, uri: str, item: types.InlineCompletionItem) -> tuple[int, int]:
    """Apply an inline item as an editor does on Tab (one didChange over the item's range), returning the cursor
    after the inserted text."""
    from starassist.engine.textpos import offset_at, position_at

    assert item.range is not None and isinstance(item.insert_text, str)
    text, enc = session.texts[uri], session.encoding
    session._versions[uri] += 1
    session.texts[uri] = apply_text_edit(text, item.range.start, item.range.end, item.insert_text, enc)
    session.client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=session.version(uri)),
        content_changes=[types.TextDocumentContentChangePartial(range=item.range, text=item.insert_text)]))
    at = offset_at(text, item.range.start.line, item.range.start.character, enc) + len(item.insert_text)
    return position_at(session.texts[uri], at, enc)


async def test_after_accepting_the_next_suggestion_comes_from_the_prefetch(tmp_path: Path) -> None:
    session = await start_session(server_command(), isolated_env(tmp_path))
    try:
        await session.initialize("visual-studio-code", options(8))
        uri = session.open("geometry.py", SOURCE)
        line, col = end_of(SOURCE)
        shown = (await session.inline(uri, line, col)).items
        assert shown and isinstance(shown[0].insert_text, str) and shown[0].insert_text.strip()
        # The worker has time: the suggestion after accepting it is computed and stored, without a word to the
        # client (the one request so far sent one timings notification and one log line).
        status = await session.wait_for_status(lambda s: s.prefetch.finished == 1)
        assert status.prefetch.stored == 1 and status.prefetch.model_calls == 1 and status.model_calls == 1
        assert status.busy is None
        assert len(session.timings) == 1 and len(session.client.log_messages) == 2  # "model loaded" + the request
        assert not session.client.messages

        line, col = await accept(session, uri, shown[0])
        follow = (await session.inline(uri, line, col)).items
        assert follow, "the prefetch stored nothing usable"
        await session.wait_for(lambda: len(session.timings) == 2)
        report = session.timings[1]
        assert report.cached is True and report.prefetched is True and report.model_calls == 0
        status = await session.status()
        assert status.model_calls == 1 and status.prefetch.hits == 1

        # It is the suggestion a request for that document makes (a fresh document: no cache, no prefetch).
        accepted_text = session.texts[uri]
        fresh = session.open("fresh.py", accepted_text)
        cold = (await session.inline(fresh, line, col)).items
        assert cold and cold[0].insert_text == follow[0].insert_text
    finally:
        await stop_session(session)


async def test_prefetch_can_be_turned_off(tmp_path: Path) -> None:
    session = await start_session(server_command(), isolated_env(tmp_path))
    try:
        await session.initialize("neovim@v0.11.0", options(8, prefetch=False))
        uri = session.open("geometry.py", SOURCE)
        line, col = end_of(SOURCE)
        shown = (await session.inline(uri, line, col)).items
        assert shown
        line, col = await accept(session, uri, shown[0])
        await session.inline(uri, line, col)
        status = await session.status()
        assert status.prefetch.enabled is False and status.prefetch.started == 0
        assert status.model_calls == 2 and session.timings[1].cached is False
    finally:
        await stop_session(session)


async def test_a_keystroke_during_a_prefetch_cancels_it(tmp_path: Path) -> None:
    delay_ms, max_tokens = 150, 16  # a whole prefetch takes at least 2.4 s
    session = await start_session(slowed_server_command(delay_ms), isolated_env(tmp_path))
    try:
        await session.initialize("visual-studio-code", options(max_tokens))
        uri = session.open("geometry.py", SOURCE)
        line, col = end_of(SOURCE)
        shown = (await session.inline(uri, line, col)).items
        assert shown and isinstance(shown[0].insert_text, str)
        await session.wait_for_status(lambda s: (s.busy or "").startswith("prefetch"))
        typed = "9" if not shown[0].insert_text.startswith("9") else "8"  # not typing through the suggestion
        session.insert(uri, line, col, typed)
        answer = await asyncio.wait_for(session.inline(uri, line, col + 1), 60)
        assert answer.items, "the keystroke's request got no suggestion"
        # The prefetch was cancelled by the keystroke; the only other one is for the keystroke's own suggestion.
        status = await session.wait_for_status(lambda s: s.busy is None and not s.prefetch.running)
        assert (status.prefetch.started, status.prefetch.cancelled, status.prefetch.finished) == (2, 1, 1)
        assert status.prefetch.hits == 0 and status.model_calls == 2
        report = session.timings[1]
        assert report.cached is False and report.model_calls == 1
        # It waited for one slowed step of the prefetch at most, not for the prefetch to finish.
        assert report.queue_ms < max_tokens * delay_ms / 2, report
    finally:
        await stop_session(session)


async def test_accepting_during_a_prefetch_waits_for_it(tmp_path: Path) -> None:
    """Tab pressed while the prefetch of exactly that state runs: the request joins it, no second model call."""
    session = await start_session(slowed_server_command(100), isolated_env(tmp_path))
    try:
        await session.initialize("visual-studio-code", options(8))
        uri = session.open("geometry.py", SOURCE)
        line, col = end_of(SOURCE)
        shown = (await session.inline(uri, line, col)).items
        assert shown
        await session.wait_for_status(lambda s: (s.busy or "").startswith("prefetch"))
        line, col = await accept(session, uri, shown[0])
        follow = await asyncio.wait_for(session.inline(uri, line, col), 60)
        status = await session.status()
        assert status.prefetch.joined == 1 and status.model_calls == 1
        if follow.items:
            assert session.timings[1].cached is True and session.timings[1].prefetched is True
        else:
            assert status.prefetch.stored == 0  # the model had nothing to add there, and was asked once
    finally:
        await stop_session(session)
