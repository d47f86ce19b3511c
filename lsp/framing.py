"""JSON-RPC base-protocol framing that survives a misbehaving client: `Content-Length` headers in, bodies out.

Sans I/O: `FrameDecoder.feed(bytes)` returns events, so every framing case is a pure test. Compared with
pygls's reader (which goes deaf on a bad header and reads any announced length into memory):
- header names are case-insensitive and lines may end with LF alone;
- a missing, negative or non-numeric length is reported and the stream resynchronised at the next
  `Content-Length` header, also when it starts in the middle of a line (after a body cut short);
- a length too long for its body is noticed when the next header shows up inside it, or when the stream goes
  quiet with a complete JSON value buffered (`stale()`), and the body is cut there;
- a body over `max_body` bytes is skipped as it streams past, never held in memory; its first bytes are kept
  so the request can still be answered with its id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MAX_BODY = 64 * 1024 * 1024  # a 10 MB document as JSON is ~12 MB; beyond this a client is broken
MAX_HEADER_LINE = 8192
_HEAD_KEPT = 4096
READ_COMPACT = 1 << 20  # first bytes of a refused body, enough to find its id

_LENGTH_ANYWHERE = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
# The next message's header inside a body: raw line breaks only occur between JSON tokens, never next to text
# like this, so a match means the announced length ran past the body.
_NEXT_HEADER = re.compile(rb"content-length[ \t]*:[ \t]*\d+[ \t]*\r?\n", re.IGNORECASE)
_HEADER = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:[ \t]*(.*)")


@dataclass(frozen=True)
class Body:
    data: bytes
    note: str = ""  # set when the body was recovered from a bad frame (logged, then decoded as usual)


@dataclass(frozen=True)
class Problem:
    message: str  # one line for the log
    head: bytes = b""  # the start of a refused body, to answer its request by id
    refused: bool = False  # a body over the size limit (answer its request, when the id can be read)


Event = Body | Problem


class FrameDecoder:
    def __init__(self, max_body: int = MAX_BODY) -> None:
        self.max_body = max_body
        self._buf = bytearray()
        self._length: int | None = None  # header block read; waiting for this many body bytes
        self._headers_seen = False
        self._skip = 0  # bytes of a refused body still to drop
        self._head = bytearray()
        self._resyncing = False  # dropping bytes until the next Content-Length header
        self._dropped = 0

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def stale(self) -> list[Event]:
        """The stream went quiet: a buffered body that is already a complete JSON value had a length too long."""
        if self._length is None or not self._buf:
            return []
        data = bytes(self._buf)
        if not _complete_json(data):
            return []
        events: list[Event] = [Body(data, f"Content-Length {self._length} is longer than the body "
                                          f"({len(data)} bytes); used the body")]
        self._buf.clear()
        self._length, self._scanned = None, 0
        return events

    # -- one step of the state machine; True when it made progress --------------------------------------------

    def _step(self, events: list[Event]) -> bool:
        if self._skip:
            n = min(self._skip, len(self._buf))
            m = _NEXT_HEADER.search(self._buf, 0, n)
            if m is not None:  # the next message began inside the refused "body": its length was a lie
                n, self._skip = m.start(), m.start()
            if len(self._head) < _HEAD_KEPT:
                self._head += self._buf[: min(n, _HEAD_KEPT - len(self._head))]
            del self._buf[:n]
            self._skip -= n
            if self._skip:
                return False
            events.append(Problem(f"refused a message of {self._refused} bytes (the limit is {self.max_body})",
                                  bytes(self._head), refused=True))
            self._head.clear()
            return True
        if self._length is not None:
            return self._body(events)
        if self._resyncing:
            return self._resync(events)
        return self._header_line(events)

    def _body(self, events: list[Event]) -> bool:
        length = self._length
        assert length is not None
        end = min(length, len(self._buf))
        m = _NEXT_HEADER.search(self._buf, max(0, self._scanned - 64), end)
        self._scanned = end  # a big body arrives in many reads: scan each byte about once
        if m is not None:
            cut = m.start()
            events.append(Body(bytes(self._buf[:cut]),
                               f"Content-Length {length} runs into the next message; cut the body at {cut} bytes"))
            del self._buf[:cut]
            self._length, self._scanned = None, 0
            return True
        if len(self._buf) < length:
            return False
        events.append(Body(bytes(memoryview(self._buf)[:length])))
        if length > READ_COMPACT:
            self._buf = bytearray(memoryview(self._buf)[length:])  # don't keep a big message's capacity
        else:
            del self._buf[:length]
        self._length, self._scanned = None, 0
        return True

    def _resync(self, events: list[Event]) -> bool:
        m = _LENGTH_ANYWHERE.search(self._buf)
        if m is None:
            keep = 32  # a header name split across reads
            if len(self._buf) > keep:
                self._dropped += len(self._buf) - keep
                del self._buf[: len(self._buf) - keep]
            return False
        self._dropped += m.start()
        del self._buf[: m.start()]
        self._resyncing = False
        if self._dropped:
            events.append(Problem(f"skipped {self._dropped} bytes that were not a message; resynchronised at the "
                                  "next Content-Length header"))
        self._dropped = 0
        return True

    def _header_line(self, events: list[Event]) -> bool:
        nl = self._buf.find(b"\n")
        if nl < 0:
            if len(self._buf) > MAX_HEADER_LINE:
                events.append(Problem(f"a header line over {MAX_HEADER_LINE} bytes"))
                self._start_resync()
                return True
            return False
        line = bytes(self._buf[:nl]).rstrip(b"\r")
        del self._buf[: nl + 1]
        if not line.strip():
            if self._headers_seen:
                self._headers_seen = False
                length = self._pending_length
                self._pending_length = None
                if length is None:
                    events.append(Problem("a header block without Content-Length"))
                    self._start_resync()
                elif length > self.max_body:
                    self._skip, self._refused = length, length
                else:
                    self._length = length
            return True
        found = _LENGTH_ANYWHERE.search(line)
        m = _HEADER.fullmatch(line)
        if m is None or (found is not None and found.start() > 0):
            # Not a header: the tail of a body cut short, or garbage. The next header may start inside it.
            if found is not None:
                events.append(Problem(f"skipped {found.start()} bytes before a Content-Length header"))
                self._buf[:0] = line[found.start():] + b"\n"
                self._headers_seen, self._pending_length = False, None
                return True
            events.append(Problem(f"not a header: {_preview(line)}"))
            self._headers_seen = False
            self._pending_length = None
            self._start_resync()
            return True
        name, value = m.group(1).lower(), m.group(2).strip()
        if name == b"content-length":
            if not value.isdigit():
                events.append(Problem(f"bad Content-Length {_preview(value)}; waiting for the next message"))
                self._headers_seen, self._pending_length = False, None
                self._start_resync()
                return True
            self._pending_length = int(value)
        self._headers_seen = True
        return True

    _pending_length: int | None = None
    _refused: int = 0
    _scanned = 0

    def _start_resync(self) -> None:
        self._resyncing = True
        self._dropped = 0


def _complete_json(data: bytes) -> bool:
    try:
        text = data.decode("utf-8", errors="replace").strip()
        if not text:
            return False
        _, end = json.JSONDecoder().raw_decode(text)
    except (ValueError, RecursionError):
        return False
    return not text[end:].strip()


def _preview(data: bytes, size: int = 40) -> str:
    text = data[:size].decode("utf-8", errors="replace")
    return repr(text + ("…" if len(data) > size else ""))


def encode(body: bytes) -> bytes:
    """One framed message (the length counts bytes, not characters)."""
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
