"""`workspace/executeCommand` plumbing for explain, modify and chat: a range of an open document in, markdown
out (explain), a `workspace/applyEdit` limited to that range or a proposal for the client to preview (modify),
an answer in a conversation the client keeps (chat). The prompts live in `starassist.chat`; the model work runs
on the session's worker thread.

- `starassist.explain` arguments: [{"uri": str, "range": Range, "token"?: str|int}] -> markdown text.
- `starassist.modify` arguments: [{"uri": str, "range": Range, "instruction": str, "apply"?: bool}] ->
  {"applied": bool, "newText": str, "range": Range, "reason"?: str}; with "apply" (the default) the edit is sent
  with `workspace/applyEdit`; with "apply": false only proposed, for a client that shows a preview first.
- `starassist.chat` arguments: [{"message": str, "history"?: [{"role": "user"|"assistant", "content": str}],
  "context"?: {"uri": str, "range": Range}, "token"?: str|int}] -> {"text": str, "message": str}; "message" in
  the result is the user turn as the model read it (with the context's code), for the client's history.
  The server keeps no conversation: the client sends its history with each question.

With a "token", the answer streams as notifications `starassist/text` {"token", "text"} (pieces to append)
before the command returns the whole text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from starassist.chat.explain import explain_code, language_for
from starassist.chat.modify import propose_edit
from starassist.chat.session import Attachment, ChatSession
from starassist.engine.errors import StarassistError
from starassist.prompts import Turn

from .session import Session
from .suggest import relative_path

EXPLAIN_COMMAND = "starassist.explain"
MODIFY_COMMAND = "starassist.modify"
CHAT_COMMAND = "starassist.chat"
TEXT_NOTIFICATION = "starassist/text"
T = TypeVar("T")


class CommandFailed(JsonRpcException):
    CODE = -32803  # LSP RequestFailed
    MESSAGE = "Request failed"


@dataclass(frozen=True)
class Selection:
    uri: str
    range: types.Range
    code: str
    version: int
    language: str | None
    path: str


def parse_selection(session: Session, args: tuple[Any, ...]) -> tuple[Selection, dict[str, Any]]:
    """The selected text of an open document from the command's first argument."""
    if not args or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams("expected one argument {uri, range}")
    arg = args[0]
    uri, rng = arg.get("uri"), arg.get("range")
    try:
        start, end = rng["start"], rng["end"]
        bounds = (start["line"], start["character"], end["line"], end["character"])
    except (TypeError, KeyError):
        bounds = ()
    if len(bounds) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in bounds):
        raise JsonRpcInvalidParams("argument needs range {start: {line, character}, end: {line, character}} "
                                   "with non-negative integers")
    doc = session.documents.get(uri) if isinstance(uri, str) else None
    if doc is None:
        raise JsonRpcInvalidParams(f"{uri!r} is not an open document; open it first (textDocument/didOpen)")
    a = doc.offset(bounds[0], bounds[1], session.encoding)
    b = doc.offset(bounds[2], bounds[3], session.encoding)
    a, b = min(a, b), max(a, b)
    selection = Selection(
        uri=uri,
        range=types.Range(types.Position(bounds[0], bounds[1]), types.Position(bounds[2], bounds[3])),
        code=doc.text[a:b],
        version=doc.version,
        language=doc.language_id or None,
        path=relative_path(uri, session.root_uri)[0],  # named to the model as in completion prompts
    )
    return selection, arg


def range_json(rng: types.Range) -> dict[str, Any]:
    return {"start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character}}


def parse_history(value: Any) -> list[Turn]:
    """The conversation so far, as the client keeps it."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [None]
    turns = []
    for item in items:
        if not (isinstance(item, dict) and item.get("role") in ("user", "assistant")
                and isinstance(item.get("content"), str)):
            raise JsonRpcInvalidParams('history is a list of {"role": "user"|"assistant", "content": str}')
        turns.append(Turn(item["role"], item["content"]))
    return turns


def context_attachment(session: Session, context: Any) -> Attachment:
    """The code of a range of an open document, attached to a chat question."""
    selection, _ = parse_selection(session, (context,))
    first, last = selection.range.start.line + 1, selection.range.end.line + 1
    return Attachment(f"{selection.path} (lines {first}-{last})", language_for(selection.path, selection.language),
                      selection.code)


def text_stream(ls: LanguageServer, arg: dict[str, Any]) -> Callable[[str], None] | None:
    """With a client token: an `on_text` for the worker thread that sends each piece as a notification. The
    pieces are queued on the loop, so they all reach the client before the command's answer."""
    token = arg.get("token")
    if token is None:
        return None
    if isinstance(token, bool) or not isinstance(token, (str, int)):
        raise JsonRpcInvalidParams("token must be a string or an integer")
    loop = asyncio.get_running_loop()

    def send(piece: str) -> None:
        loop.call_soon_threadsafe(ls.protocol.notify, TEXT_NOTIFICATION, {"token": token, "text": piece})

    return send


async def run_on_worker(session: Session, fn: Callable[[Any, Callable[[], bool]], T], label: str) -> T:
    """Run `fn(backend, cancel)` on the model worker once the model is loaded."""
    await session.ready.wait()
    engine = session.engine
    if engine is None:
        raise CommandFailed(f"no model loaded: {session.load_error}")
    def work(cancel: Callable[[], bool]) -> T | None:
        if session.engine is not engine:
            raise CommandFailed("the model was reloaded meanwhile; run the command again")
        return fn(engine.backend, cancel)

    job = session.worker.submit(work, label)
    try:
        value = await job.future
    except asyncio.CancelledError:
        job.cancel()
        raise
    except StarassistError as exc:  # e.g. "the model proposed no code": one line for the user
        raise CommandFailed(str(exc)) from None
    if value is None:
        raise CommandFailed("cancelled")
    return value


def register_commands(server: LanguageServer, session: Session) -> None:
    @server.command(EXPLAIN_COMMAND)
    async def explain(ls: Any, *args: Any) -> str:
        selection, arg = parse_selection(session, args)
        if not selection.code.strip():
            raise JsonRpcInvalidParams("the range is empty; select the code to explain")
        settings = session.settings
        on_text = text_stream(ls, arg)

        def work(backend: Any, cancel: Callable[[], bool]) -> str:
            return explain_code(backend, selection.code, path=selection.path, language=selection.language,
                                settings=settings, cancel=cancel, on_text=on_text)

        return await run_on_worker(session, work, "explain")

    @server.command(MODIFY_COMMAND)
    async def modify(ls: Any, *args: Any) -> dict[str, Any]:
        selection, arg = parse_selection(session, args)
        instruction = arg.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise JsonRpcInvalidParams("argument needs an instruction (what to change)")
        apply = arg.get("apply", True)
        if not isinstance(apply, bool):
            raise JsonRpcInvalidParams('"apply" must be true (apply the edit) or false (only propose it)')
        settings = session.settings

        def work(backend: Any, cancel: Callable[[], bool]) -> str:
            return propose_edit(backend, selection.code, instruction, path=selection.path,
                                language=selection.language, settings=settings, cancel=cancel)

        new_text = await run_on_worker(session, work, "modify")
        proposal: dict[str, Any] = {"applied": False, "newText": new_text, "range": range_json(selection.range)}
        if not apply:
            return proposal
        doc = session.documents.get(selection.uri)
        if doc is None or doc.version != selection.version:
            return {**proposal, "reason": "the document changed while the edit was made"}
        edit = types.WorkspaceEdit(changes={selection.uri: [types.TextEdit(range=selection.range, new_text=new_text)]})
        result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label="starassist: modify"))
        out = {**proposal, "applied": bool(result.applied)}
        if result.failure_reason:
            out["reason"] = result.failure_reason
        return out

    @server.command(CHAT_COMMAND)
    async def chat(ls: Any, *args: Any) -> dict[str, str] | None:
        arg = args[0] if args and isinstance(args[0], dict) else {}
        message = arg.get("message")
        if not isinstance(message, str) or not message.strip():
            raise JsonRpcInvalidParams("expected one argument {message, history?, context?, token?} with a message")
        history = parse_history(arg.get("history"))
        context = arg.get("context")
        attachments = [context_attachment(session, context)] if context is not None else []
        settings = session.settings
        on_text = text_stream(ls, arg)

        def work(backend: Any, cancel: Callable[[], bool]) -> dict[str, str] | None:
            conversation = ChatSession(backend, settings, turns=history, attachments=attachments)
            user_turn = conversation.user_message(message)
            result = conversation.ask(message, cancel=cancel, on_text=on_text)
            if result.stop_reason == "cancelled":
                return None
            return {"text": result.text.strip(), "message": user_turn}

        return await run_on_worker(session, work, "chat")
