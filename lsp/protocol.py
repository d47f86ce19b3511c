"""Message decoding and dispatch that answers every request, for pygls's `LanguageServerProtocol`.

pygls decodes inside `json.loads(object_hook=...)`, so a message whose params fail to convert raises out of the
reader: nothing is answered and the failure becomes a popup. Here a body is first checked as JSON-RPC by a pure
function (`check_message`), and a request that cannot be used is answered with -32700 / -32600 / -32602 and its
id (`null` only when the id cannot be read). Also: requests after `shutdown` get -32600, a second `initialize`
is refused, `exit` records the exit code (0 after `shutdown`, else 1), and the futures pygls keeps for async
notification handlers are dropped when they finish (pygls keeps one per notification for the whole session).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcRequestCancelled
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCRequestMessage

from .framing import Body, Problem

logger = logging.getLogger("starassist.lsp")

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602
MsgId = int | str | None

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]]')
_ID_VALUE = re.compile(r'\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")(?=\s*[,}])')  # complete, not cut short
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Rejected:
    """A message that cannot be used: answered with this error when it was a request with a readable id."""

    id: MsgId
    code: int
    message: str
    request: bool = True  # False: a notification or response (nothing to answer; logged)


def guess_id(text: str, limit: int = 65536) -> MsgId:
    """The top-level "id" of a message that does not parse, when it can be read before the damage."""
    depth = 0
    for m in _TOKEN.finditer(text, 0, min(len(text), limit)):
        tok = m.group()
        if tok in "{[":
            depth += 1
        elif tok in "}]":
            depth -= 1
        elif depth == 1 and tok == '"id"':
            v = _ID_VALUE.match(text, m.end())
            if v is None:
                return None
            try:
                value = json.loads(v.group(1))
            except ValueError:
                return None
            return value if _valid_id(value) else None
    return None


def _valid_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def _clean_strings(value: Any) -> Any:
    """Lone surrogates (from "\\ud800" escapes) replaced by U+FFFD: they cannot be encoded for the model."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_clean_strings(v) for v in value]
    if isinstance(value, dict):
        return {_clean_strings(k): _clean_strings(v) for k, v in value.items()}
    return value


def check_message(data: bytes) -> dict[str, Any] | Rejected:
    """A decoded JSON-RPC 2.0 message object, or why it is unusable. Invalid UTF-8 is replaced (as editors do)."""
    text = data.decode("utf-8", errors="replace")
    try:
        obj = json.loads(text)
    except RecursionError:
        return Rejected(guess_id(text), PARSE_ERROR, "the message is nested too deeply")
    except ValueError as exc:
        return Rejected(guess_id(text), PARSE_ERROR, f"invalid JSON: {exc}")
    if not isinstance(obj, dict):
        return Rejected(None, INVALID_REQUEST, f"a message must be a JSON object, not {type(obj).__name__}")
    if _SURROGATE_ESCAPE.search(data):
        obj = _clean_strings(obj)
    has_id = "id" in obj
    msg_id = obj.get("id")
    method = obj.get("method")
    is_request = has_id and "method" in obj
    if has_id and not _valid_id(msg_id) and not (msg_id is None and not is_request):
        return Rejected(None, INVALID_REQUEST, "the id must be an integer or a string", request=is_request)
    if obj.get("jsonrpc") != "2.0":
        return Rejected(msg_id, INVALID_REQUEST, 'expected "jsonrpc": "2.0"', request=is_request)
    if "method" in obj:
        if not isinstance(method, str) or not method:
            return Rejected(msg_id, INVALID_REQUEST, "the method must be a non-empty string", request=is_request)
        return obj
    if has_id and ("result" in obj or "error" in obj):
        return obj  # a response to one of our requests
    return Rejected(msg_id, INVALID_REQUEST, "neither a request, a notification nor a response", request=False)


def params_error(exc: Exception, method: str) -> str:
    """One line naming what is wrong with a message's params."""
    if isinstance(exc, cattrs.BaseValidationError):
        details = [d.replace("$.", "") for d in cattrs.transform_error(exc, path="$")]
        return f"invalid params for {method}: " + "; ".join(details[:3])
    return f"invalid params for {method}: {exc.__class__.__name__}: {exc}".splitlines()[0]


class StarassistProtocol(LanguageServerProtocol):
    """pygls's protocol with robust decoding; `handle_frame` is the entry point for the transport."""

    def __init__(self, server: Any, converter: cattrs.Converter) -> None:
        super().__init__(server, converter)
        self.exit_code: int | None = None
        self.on_exit: Callable[[], None] | None = None  # set by the transport: stop reading
        self._initialize_seen = False
        self.problems = 0

    # -- from frames to messages ------------------------------------------------------------------------------

    def handle_frame(self, event: Body | Problem) -> None:
        if isinstance(event, Problem):
            self._problem(event.message)
            if event.refused:
                msg_id = guess_id(event.head.decode("utf-8", errors="replace"))
                if msg_id is not None:
                    self._reply_error(msg_id, INVALID_REQUEST, event.message)
            return
        if event.note:
            self._problem(event.note)
        checked = check_message(event.data)
        if isinstance(checked, Rejected):
            self._reject(checked)
            return
        self._dispatch(checked)

    def _dispatch(self, obj: dict[str, Any]) -> None:
        method = obj.get("method")
        msg_id = obj.get("id")
        if method is None:
            try:
                message = self.structure_message(obj)
            except Exception as exc:  # noqa: BLE001 - a malformed response: nothing to answer
                self._problem(f"unusable response to request {msg_id!r}: {exc}")
                return
            self.handle_message(message)
            return
        is_request = "id" in obj
        if is_request and self._shutdown and method != types.EXIT:
            self._reply_error(msg_id, INVALID_REQUEST, f"{method}: the server is shutting down (after `shutdown`)")
            return
        if method == types.INITIALIZE and is_request:
            if self._initialize_seen:
                self._reply_error(msg_id, INVALID_REQUEST, "the server is already initialized")
                return
        fallback = JsonRPCRequestMessage if is_request else JsonRPCNotification
        kind = self.get_message_type(method) or fallback
        if kind is fallback:
            obj = {"params": None, **obj}  # JSON-RPC allows omitting params
        try:
            message = self._converter.structure(obj, kind)
        except Exception as exc:  # noqa: BLE001 - answered as invalid params
            self._reject(Rejected(msg_id, INVALID_PARAMS, params_error(exc, method), request=is_request))
            return
        if method == types.INITIALIZE and is_request:
            self._initialize_seen = True
        self.handle_message(message)

    def _reject(self, rejected: Rejected) -> None:
        self._problem(rejected.message)
        if rejected.request:
            self._reply_error(rejected.id, rejected.code, rejected.message)

    def _reply_error(self, msg_id: MsgId, code: int, message: str) -> None:
        self._send_response(msg_id, error=types.ResponseError(code=code, message=message))  # type: ignore[arg-type]

    def _problem(self, message: str) -> None:
        self.problems += 1
        self._server.client_misbehaved(message)

    # -- pygls overrides ----------------------------------------------------------------------------------------

    def _execute_handler(self, msg_id: Any, handler: Any, callback: Any, args: Any = None, kwargs: Any = None) -> None:
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        answers_request = isinstance(callback, partial) and callback.func == self._send_handler_result
        future = self._request_futures.get(msg_id)
        outer = callback.keywords.get("result_future") if isinstance(callback, partial) else None
        if outer is not None and future is not None:
            # A command runs as its own task under pygls's executeCommand; `$/cancelRequest` cancels only the
            # request's outer future. Pass the cancel on, so a cancelled chat/explain stops its generation.
            outer.add_done_callback(lambda f: future.cancel() if f.cancelled() else None)
        if not answers_request and future is not None:
            # pygls keeps notification futures forever (one per didChange): forget them when done.
            future.add_done_callback(lambda _f: self._request_futures.pop(msg_id, None))

    def _send_handler_result(self, future: Any, *, msg_id: Any) -> None:
        """pygls's, with one log line instead of a traceback per failed request."""
        self._request_futures.pop(msg_id, None)
        if future.cancelled():
            error = JsonRpcRequestCancelled(f'Request with id "{msg_id}" is canceled')
            self._send_response(msg_id, error=error.to_response_error())
            return
        exc = future.exception()
        if exc is None:
            self._send_response(msg_id, result=future.result())
            return
        if isinstance(exc, JsonRpcException):
            self._send_response(msg_id, error=exc.to_response_error())
        else:
            internal = JsonRpcInternalError(f"{exc.__class__.__name__}: {exc}".splitlines()[0])
            self._send_response(msg_id, error=internal.to_response_error())
        self._server.request_failed(msg_id, exc)

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Any:
        if (user_handler := self.fm.features.get(types.EXIT)) is not None:
            yield user_handler, args, None
        self.exit_code = 0 if self._shutdown else 1  # the spec: 1 when `shutdown` did not come first
        if self.on_exit is not None:
            self.on_exit()

    # pygls's workspace keeps a second copy of every document and re-splits it into lines at each change
    # (O(file) per keystroke). The session keeps its own line-indexed documents: only run the handlers.

    def _user_handler_only(self, method: str, params: Any) -> Any:
        if (user_handler := self.fm.features.get(method)) is not None:
            yield user_handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Any:
        yield from self._user_handler_only(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Any:
        yield from self._user_handler_only(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Any:
        yield from self._user_handler_only(types.TEXT_DOCUMENT_DID_CLOSE, params)

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Any:
        """pygls's, iterating over a copy: cancelled futures remove themselves (see `_execute_handler`)."""
        if (user_handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield user_handler, args, None
        current_id = self.msg_id
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current_id and not future.done():
                future.cancel()
        self._shutdown = True
        return None
