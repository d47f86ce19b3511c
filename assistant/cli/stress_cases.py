"""What `starassist bench lsp-stress` sends: seeded fuzz messages (each with the id it must be answered
with, when it has one that can be read), broken frames, and big documents. Pure data; no I/O."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from starassist.lsp.framing import encode

URI = "file:///work/project/stress.py"
SMALL_SOURCE = "import math\n\n\ndef area(r):\n    return math.pi * r ** 2\n\n\ndef main():\n    print(area(2))\n"


@dataclass(frozen=True)
class Case:
    kind: str
    data: bytes  # framed
    answer_id: int | str | None  # the id the answer must carry; None: no answer expected (or id null)


def _frame(obj: Any) -> bytes:
    return encode(json.dumps(obj).encode())


def _position(rng: random.Random) -> dict[str, Any]:
    line = rng.choice([0, 3, 4, 8, -1, 2**31, 2**31 - 1, "2", None, 1.5])
    character = rng.choice([0, 4, 10, -5, 2**32, None])
    return {"line": line, "character": character}


def _inline_params(rng: random.Random, position: dict[str, Any]) -> Any:
    shape = rng.randrange(6)
    params: dict[str, Any] = {"textDocument": {"uri": rng.choice([URI, URI, "file:///nowhere.py", 7])},
                              "position": position}
    if shape == 0:
        return None
    if shape == 1:
        return params  # no context
    params["context"] = {"triggerKind": rng.choice([1, 2, 3, 0, "x"])}
    if shape == 2:
        params["context"]["selectedCompletionInfo"] = {"range": "bad", "text": 1}
    return params


def _fuzz_one(rng: random.Random, msg_id: int) -> Case:
    """One message: mostly malformed requests, some valid ones, broken notifications and garbage bodies."""
    pick = rng.random()
    if pick < 0.30:
        method = rng.choice(["textDocument/inlineCompletion", "textDocument/completion"])
        return Case("request params", _frame({"jsonrpc": "2.0", "id": msg_id, "method": method,
                                              "params": _inline_params(rng, _position(rng))}), msg_id)
    if pick < 0.33:  # valid: real model work (superseded by the next one for the same document)
        params = {"textDocument": {"uri": URI}, "position": {"line": 8, "character": rng.randrange(0, 15)},
                  "context": {"triggerKind": 1}}
        return Case("valid request", _frame({"jsonrpc": "2.0", "id": msg_id,
                                             "method": "textDocument/inlineCompletion", "params": params}), msg_id)
    if pick < 0.40:
        params = rng.choice([None, {}, [], "x", {"unused": 1}])
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": "starassist/status"}
        if params is not None or rng.random() < 0.5:
            message["params"] = params
        return Case("status", _frame(message), msg_id)
    if pick < 0.48:
        arg = rng.choice([None, {}, {"uri": URI}, {"uri": URI, "range": {"start": {"line": 0, "character": 0},
                                                                         "end": {"line": float("inf"), "character": 0}}},
                          {"uri": URI, "range": {"start": {"line": -1, "character": 0}, "end": {"line": 1, "character": 0}}},
                          {"uri": URI, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                           "instruction": ""}])
        command = rng.choice(["starassist.explain", "starassist.modify", "starassist.nope"])
        return Case("command", _frame({"jsonrpc": "2.0", "id": msg_id, "method": "workspace/executeCommand",
                                       "params": {"command": command, "arguments": [arg]}}), msg_id)
    if pick < 0.60:  # notifications with bad params: nothing to answer
        method = rng.choice(["textDocument/didChange", "textDocument/didOpen", "textDocument/didClose",
                             "$/cancelRequest", "workspace/didChangeConfiguration", "$/setTrace", "bogus/notice"])
        params = rng.choice([None, {}, {"textDocument": {"uri": URI, "version": "x"}, "contentChanges": [{"range": 1}]},
                             {"id": rng.randrange(10**9)}, {"settings": {"starassist": {"completion": {"max_tokens": -3}}}}])
        return Case("notification", _frame({"jsonrpc": "2.0", "method": method, "params": params}), None)
    if pick < 0.66:  # an edit that keeps the document valid, with a lone surrogate now and then
        text = rng.choice(["x", "\n", "é", "😀", "\ud800", ""])
        pos = {"line": rng.randrange(0, 9), "character": rng.randrange(0, 6)}
        params = {"textDocument": {"uri": URI, "version": msg_id},
                  "contentChanges": [{"range": {"start": pos, "end": pos}, "text": text}]}
        return Case("edit", _frame({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": params}), None)
    if pick < 0.72:
        bad_id = rng.choice([{"a": 1}, True, [1], 1.5])
        return Case("bad id", _frame({"jsonrpc": "2.0", "id": bad_id, "method": "starassist/status"}), None)
    if pick < 0.78:
        body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "textDocument/completion", "params": {}}).encode()
        return Case("truncated JSON", encode(body[: rng.randrange(len(body) // 2, len(body) - 1)]), msg_id)
    if pick < 0.84:
        body = b'{"jsonrpc": "2.0", "id": %d, "method": "starassist/status", "params": {"x": "\xff\xc3("}}' % msg_id
        return Case("invalid UTF-8", encode(body), msg_id)
    if pick < 0.85:
        depth = rng.choice([1000, 100_000])
        body = b'{"jsonrpc": "2.0", "id": %d, "method": "starassist/status", "params": ' % msg_id
        return Case("deep nesting", encode(body + b"[" * depth + b"]" * depth + b"}"), msg_id)
    if pick < 0.90:
        body = rng.choice([b"null", b"42", b'"text"', b"[]", b"[{}]", b"{}", b'{"jsonrpc": "1.0", "method": "x"}'])
        return Case("not a message", encode(body), None)
    if pick < 0.95:
        return Case("unknown method", _frame({"jsonrpc": "2.0", "id": f"s{msg_id}", "method": "x/unknown",
                                              "params": {}}), f"s{msg_id}")
    return Case("stray response", _frame({"jsonrpc": "2.0", "id": msg_id, "result": {"x": 1}}), None)


def fuzz(n: int, seed: int, first_id: int = 1) -> Iterator[Case]:
    rng = random.Random(seed)
    for i in range(n):
        case = _fuzz_one(rng, first_id + i)
        if case.kind == "truncated JSON":
            # The id sits before the cut only when the cut comes after it; otherwise it is answered with id null.
            body = case.data.split(b"\r\n\r\n", 1)[1]
            case = Case(case.kind, case.data, case.answer_id if b'"id": %d,' % (first_id + i) in body else None)
        yield case


def framing_cases(first_id: int) -> list[tuple[str, bytes, int | None]]:
    """(name, bytes, id of a request inside that must be answered or None). Each is followed by a probe."""

    def status(msg_id: int) -> bytes:
        return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "starassist/status"}).encode()

    i = first_id
    body = status(i)
    return [
        ("Content-Length too short", b"Content-Length: 9\r\n\r\n" + status(i), None),
        ("Content-Length too long", b"Content-Length: 99999\r\n\r\n" + status(i + 1), i + 1),
        ("Content-Length negative", b"Content-Length: -10\r\n\r\n" + status(i + 2), None),
        ("Content-Length not a number", b"Content-Length: ten\r\n\r\n" + status(i + 3), None),
        ("lowercase header", b"content-length: %d\r\n\r\n" % len(status(i + 4)) + status(i + 4), i + 4),
        ("LF-only line ends", b"Content-Length: %d\n\n" % len(status(i + 5)) + status(i + 5), i + 5),
        ("no Content-Length", b"Content-Type: application/json\r\n\r\n" + body, None),
        ("1 TB Content-Length", b"Content-Length: 1099511627776\r\n\r\n" + status(i + 7), i + 7),
        ("binary garbage", bytes(range(256)) * 4, None),
    ]


def big_document(size: int) -> str:
    """About `size` characters of plausible Python."""
    unit = ("def handler_{n}(request, context):\n"
            "    \"\"\"Handle one request.\"\"\"\n"
            "    value = compute(request.alpha, request.beta) + context.offset  # {n}\n"
            "    return value\n\n\n")
    parts, total, n = [], 0, 0
    while total < size:
        part = unit.replace("{n}", str(n))
        parts.append(part)
        total += len(part)
        n += 1
    return "".join(parts)
