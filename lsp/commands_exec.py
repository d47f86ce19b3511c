"""`workspace/executeCommand` plumbing for explain and modify: a range of an open document in, markdown out
(explain) or a `workspace/applyEdit` limited to that range (modify). The prompts live in
`starassist.chat.explain` and `starassist.chat.modify`; the model work runs on the session's worker thread.

- `starassist.explain` arguments: [{"uri": str, "range": Range}] -> markdown text.
- `starassist.modify` arguments: [{"uri": str, "range": Range, "instruction": str}] ->
  {"applied": bool, "newText": str, "reason"?: str}; the edit is sent with `workspace/applyEdit`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from starassist.chat.explain import explain_code
from starassist.chat.modify import propose_edit
from starassist.engine.errors import StarassistError

from .session import Session
from .suggest import relative_path

EXPLAIN_COMMAND = "starassist.explain"
MODIFY_COMMAND = "starassist.modify"
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
        selection, _ = parse_selection(session, args)
        if not selection.code.strip():
            raise JsonRpcInvalidParams("the range is empty; select the code to explain")
        settings = session.settings

        def work(backend: Any, cancel: Callable[[], bool]) -> str:
            return explain_code(backend, selection.code, path=selection.path, language=selection.language,
                                settings=settings, cancel=cancel)

        return await run_on_worker(session, work, "explain")

    @server.command(MODIFY_COMMAND)
    async def modify(ls: Any, *args: Any) -> dict[str, Any]:
        selection, arg = parse_selection(session, args)
        instruction = arg.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise JsonRpcInvalidParams("argument needs an instruction (what to change)")
        settings = session.settings

        def work(backend: Any, cancel: Callable[[], bool]) -> str:
            return propose_edit(backend, selection.code, instruction, path=selection.path,
                                language=selection.language, settings=settings, cancel=cancel)

        new_text = await run_on_worker(session, work, "modify")
        doc = session.documents.get(selection.uri)
        if doc is None or doc.version != selection.version:
            return {"applied": False, "newText": new_text, "reason": "the document changed while the edit was made"}
        edit = types.WorkspaceEdit(changes={selection.uri: [types.TextEdit(range=selection.range, new_text=new_text)]})
        result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label="starassist: modify"))
        out: dict[str, Any] = {"applied": bool(result.applied), "newText": new_text}
        if result.failure_reason:
            out["reason"] = result.failure_reason
        return out
