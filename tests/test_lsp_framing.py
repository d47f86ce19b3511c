"""Framing and message checks as pure functions: every bad frame is reported and the stream recovers at the
next header; every unusable request gets an error with its id when the id can be read."""

from __future__ import annotations

import json

import pytest

from starassist.lsp.framing import Body, FrameDecoder, Problem, encode
from starassist.lsp.protocol import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    Rejected,
    check_message,
    guess_id,
)

STATUS = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "starassist/status"}).encode()
NEXT = encode(json.dumps({"jsonrpc": "2.0", "id": 8, "method": "starassist/status"}).encode())


def bodies(events: list[Body | Problem]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, Body)]


def problems(events: list[Body | Problem]) -> list[str]:
    """What gets logged: problems, and the notes of bodies recovered from a bad frame."""
    return [e.message if isinstance(e, Problem) else e.note for e in events if isinstance(e, Problem) or e.note]


def feed_bytewise(data: bytes) -> list[Body | Problem]:
    decoder = FrameDecoder()
    return [event for i in range(len(data)) for event in decoder.feed(data[i : i + 1])]


def test_well_formed_frames_in_one_read_and_byte_by_byte() -> None:
    stream = encode(STATUS) + b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n" + NEXT
    assert bodies(FrameDecoder().feed(stream)) == [STATUS, NEXT.split(b"\r\n\r\n")[1]]
    events = feed_bytewise(stream)
    assert bodies(events) == [STATUS, NEXT.split(b"\r\n\r\n")[1]] and not problems(events)


@pytest.mark.parametrize("header", [b"content-length: %d\n\n", b"CONTENT-LENGTH:%d\r\n\r\n", b"Content-Length: %d\n\r\n"])
def test_lowercase_and_lf_only_headers_are_accepted(header: bytes) -> None:
    events = FrameDecoder().feed(header % len(STATUS) + STATUS + NEXT)
    assert len(bodies(events)) == 2 and not problems(events)


@pytest.mark.parametrize("length", [b"-5", b"abc", b"", b"1e3", b"0x10"])
def test_a_bad_length_is_reported_and_the_next_message_read(length: bytes) -> None:
    events = FrameDecoder().feed(b"Content-Length: " + length + b"\r\n\r\n" + STATUS + NEXT)
    assert problems(events) and bodies(events) == [NEXT.split(b"\r\n\r\n")[1]]


def test_too_short_leaves_a_garbled_body_then_resyncs_inside_the_line() -> None:
    events = FrameDecoder().feed(b"Content-Length: 10\r\n\r\n" + STATUS + NEXT)
    assert bodies(events) == [STATUS[:10], NEXT.split(b"\r\n\r\n")[1]]
    assert any("before a Content-Length header" in p for p in problems(events))


def test_too_long_is_cut_at_the_next_header() -> None:
    events = FrameDecoder().feed(b"Content-Length: 500\r\n\r\n" + STATUS + NEXT)
    assert bodies(events) == [STATUS, NEXT.split(b"\r\n\r\n")[1]]
    assert "runs into the next message" in problems(events)[0]


def test_too_long_with_nothing_after_is_used_when_the_stream_goes_quiet() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"Content-Length: 500\r\n\r\n" + STATUS) == []
    events = decoder.stale()
    assert bodies(events) == [STATUS] and "longer than the body" in problems(events)[0]
    half = FrameDecoder()
    half.feed(encode(STATUS)[:-5])
    assert half.stale() == []  # a body still arriving is not cut


def test_an_oversized_body_is_skipped_without_buffering_and_answered_by_id() -> None:
    decoder = FrameDecoder(max_body=1000)
    body = b'{"jsonrpc": "2.0", "id": 41, "method": "textDocument/didOpen", "params": {"text": "' + b"x" * 5000 + b'"}}'
    events = []
    chunk = encode(body) + NEXT
    for i in range(0, len(chunk), 512):
        events += decoder.feed(chunk[i : i + 512])
        assert decoder.buffered < 1024  # never more than a read's worth held
    refused = [e for e in events if isinstance(e, Problem) and e.refused]
    assert len(refused) == 1 and guess_id(refused[0].head.decode()) == 41
    assert bodies(events) == [NEXT.split(b"\r\n\r\n")[1]]


def test_a_huge_lying_length_does_not_swallow_the_stream() -> None:
    events = FrameDecoder().feed(b"Content-Length: 1099511627776\r\n\r\n" + STATUS + NEXT)
    assert [e.refused for e in events if isinstance(e, Problem)] == [True]
    assert bodies(events) == [NEXT.split(b"\r\n\r\n")[1]]


def test_garbage_between_messages_is_skipped() -> None:
    events = FrameDecoder().feed(b"hello\r\n\x00\xff garbage\n" + b"y" * 20000 + NEXT)
    assert bodies(events) == [NEXT.split(b"\r\n\r\n")[1]] and problems(events)


def test_headers_without_a_length_are_reported() -> None:
    events = FrameDecoder().feed(b"Content-Type: x\r\n\r\n" + STATUS + NEXT)
    assert "without Content-Length" in problems(events)[0] and len(bodies(events)) == 1


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"jsonrpc": "2.0", "id": 3, "method": "x", "params": {', Rejected(3, PARSE_ERROR, "")),
    (b'{"jsonrpc": "2.0", "id": "a", "params": ' + b"[" * 100_000, Rejected("a", PARSE_ERROR, "")),
    (b'{"params": {"id": 5}, "id": 6, "jsonrpc": "2.0", "method": "x" ', Rejected(6, PARSE_ERROR, "")),
    (b"null", Rejected(None, INVALID_REQUEST, "")),
    (b"[1, 2]", Rejected(None, INVALID_REQUEST, "")),
    (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "x"}', Rejected(None, INVALID_REQUEST, "")),
    (b'{"jsonrpc": "2.0", "id": true, "method": "x"}', Rejected(None, INVALID_REQUEST, "")),
    (b'{"jsonrpc": "1.0", "id": 9, "method": "x"}', Rejected(9, INVALID_REQUEST, "")),
    (b'{"jsonrpc": "2.0", "id": 9, "method": 12}', Rejected(9, INVALID_REQUEST, "")),
    (b'{"jsonrpc": "2.0", "id": 9}', Rejected(9, INVALID_REQUEST, "", request=False)),
])
def test_unusable_messages(body: bytes, expected: Rejected) -> None:
    got = check_message(body)
    assert isinstance(got, Rejected) and got.message
    assert (got.id, got.code, got.request) == (expected.id, expected.code, expected.request)


def test_usable_messages_are_cleaned() -> None:
    msg = check_message(b'{"jsonrpc": "2.0", "method": "x", "params": {"text": "a\\ud800b\\ud83d\\ude00 \xff"}}')
    assert isinstance(msg, dict)
    assert msg["params"]["text"] == "a\ufffdb\U0001f600 \ufffd"  # lone surrogate and invalid UTF-8 replaced
    assert check_message(b'{"jsonrpc": "2.0", "id": 1, "result": null}') == {"jsonrpc": "2.0", "id": 1, "result": None}
    assert INVALID_PARAMS == -32602
