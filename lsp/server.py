"""The pygls server: thin handlers that turn LSP messages into `Session` calls and results into LSP types.

Custom protocol (besides LSP 3.18):
- notification `starassist/timings` (server -> client) after every completion request:
  {uri, version, kind: "inline"|"completion", items, cached, prefetched (when the cached suggestion came from the
   prefetch), model_calls, position {line, character, offset},
   debounce_ms, queue_ms, run_ms, total_ms, prompt_tokens, reused_tokens, evaluated_tokens, reused_chunks,
   prompt_ms, generated_tokens, generation_ms, stop_reasons, superseded, shared}; the same numbers go to
   `window/logMessage` as one line.
  `shared`: answered by the generation of another request for the same document text (VS Code sends an inline
  and a completion request at every keystroke).
- request `starassist/status` (params optional) -> {ready, model, format, error, encoding, requests, model_calls,
  cache_hits, worker {started, finished, cancelled, skipped, failed}, prefetch {enabled, running, started,
  finished, cancelled, failed, stored, joined, model_calls, hits}, open_documents, documents_bytes}.
  `model_calls` counts the calls made for requests; the prefetch (`lsp.prefetch`) counts its own.

Transport and decoding are ours (`lsp.transport`, `lsp.framing`, `lsp.protocol`): every request is answered,
bad traffic is one popup then log lines, `exit` without `shutdown` exits 1, one TCP client at a time.
- commands: `starassist.accept` (telemetry: the client accepted a suggestion), `starassist.explain`,
  `starassist.modify`, `starassist.chat`; notification `starassist/text` (server -> client) streams their
  answers (see `lsp.commands_exec`).
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.exceptions import FeatureRequestError
from pygls.lsp.server import LanguageServer

from starassist import __version__
from starassist.engine.completion import CompletionEngine
from starassist.engine.settings import Settings
from starassist.engine.textpos import position_at

from .commands_exec import register_commands
from .protocol import StarassistProtocol
from .session import Selection, Session, Suggestion, settings_section
from .suggest import inline_edit, word_start

ACCEPT_COMMAND = "starassist.accept"
TIMINGS_NOTIFICATION = "starassist/timings"
STATUS_REQUEST = "starassist/status"
logger = logging.getLogger("starassist.lsp")


class StarassistServer(LanguageServer):
    def __init__(self, session: Session) -> None:
        super().__init__("starassist", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=StarassistProtocol)
        self.session = session
        self._shown_errors: set[str] = set()
        self._progress_ids = itertools.count(1)
        self._misbehaviour_shown = False

    def client_misbehaved(self, message: str) -> None:
        """A message the server could not use: one popup per session, then one log line each."""
        logger.warning("%s", message)
        if not self._misbehaviour_shown:
            self._misbehaviour_shown = True
            self.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Warning,
                message=f"starassist: the editor sent a message the server could not use ({message}); "
                        "further ones are only logged"))

    def report_server_error(self, error: Exception, source: Any) -> None:
        """pygls's hook for failures (it would show every one as a popup). A failed request was answered with
        its error (an unknown method is normal for clients that ask regardless of capabilities): log only."""
        if source is FeatureRequestError:
            logger.warning("%s", _one_line(error))
            return
        self.client_misbehaved(f"{getattr(source, '__name__', source)}: {_one_line(error)}")

    def request_failed(self, msg_id: Any, error: BaseException) -> None:
        """A request answered with an error: one log line; the traceback only with STARASSIST_DEBUG."""
        import os

        debug = os.environ.get("STARASSIST_DEBUG", "") not in ("", "0")
        logger.warning("request %s failed: %s", msg_id, _one_line(error), exc_info=error if debug else None)

    def show_once(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        """Errors are shown to the user once per session; repeats only go to the log."""
        if message in self._shown_errors:
            self.log(message, types.MessageType.Warning)
            return
        self._shown_errors.add(message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"starassist: {message}"))

    def log(self, message: str, kind: types.MessageType = types.MessageType.Log) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    def _position(self, text: str, offset: int, first_line: int) -> types.Position:
        line, character = position_at(text, offset, self.session.encoding)
        return types.Position(line=first_line + line, character=character)

    def range_of(self, suggestion: Suggestion, start: int, end: int) -> types.Range:
        text, first = suggestion.text, suggestion.first_line
        return types.Range(start=self._position(text, start, first), end=self._position(text, end, first))

    def report(self, kind: str, uri: str, suggestion: Suggestion) -> None:
        report, items = suggestion.report, len(suggestion.texts)
        self.protocol.notify(TIMINGS_NOTIFICATION,
                             report.notification(uri, suggestion.version, kind, items, suggestion.model_calls))
        self.log(report.log_line(kind, items, suggestion.model_calls))
        if report.error:  # a remote server down or refusing: shown once, the repeats go to the log
            self.show_once(report.error, types.MessageType.Warning)
        self.session.record_shown(suggestion, uri, kind)

    async def load_model(self) -> None:
        """Load the model in the background with `$/progress` when the client supports it."""
        token: str | None = None
        if get_capability(self.client_capabilities, "window.work_done_progress", False):
            token = f"starassist-load-{next(self._progress_ids)}"
            try:
                await self.work_done_progress.create_async(token)
                self.work_done_progress.begin(token, types.WorkDoneProgressBegin(
                    title="starassist", message=f"loading model {self.session.settings.model.path}"))
            except Exception:  # noqa: BLE001 - a client that refuses progress still gets completions
                token = None
        error = await self.session.load()
        replaced = error is None and self.session.engine is None  # a newer load (settings change) reports
        if token is not None:
            self.work_done_progress.end(token, types.WorkDoneProgressEnd(
                message="replaced by a newer load" if replaced else
                "model loaded" if error is None else "model failed to load"))
        if replaced:
            return
        if error is not None:
            # Each load follows a user action (start, a settings change): say it every time.
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"starassist: {error}"))
            self._shown_errors.add(error)  # requests answered empty because of it do not show it again
        else:
            engine = self.session.engine
            assert engine is not None
            info = engine.backend.info
            self.log(f"model loaded: {info.name} ({info.arch}, FIM format {engine.format.name})",
                     types.MessageType.Info)

    def accept_command(self, uri: str, suggestion: Suggestion) -> types.Command:
        data = {"uri": uri, "cached": suggestion.cached, "latency_ms": suggestion.report.total_ms}
        return types.Command(title="starassist: suggestion accepted", command=ACCEPT_COMMAND, arguments=[data])


def _one_line(error: BaseException) -> str:
    return f"{error.__class__.__name__}: {error}".splitlines()[0]


def _encoding_name(value: Any) -> str:
    return str(getattr(value, "value", value) or "utf-16")


def create_server(settings: Settings, overrides: dict[str, Any] | None = None,
                  startup_messages: list[str] | None = None,
                  load_engine: Callable[[Settings], CompletionEngine] | None = None) -> StarassistServer:
    """A server for one session. `overrides` (command-line flags) win over client settings; `load_engine`
    replaces how the model is loaded (default: the configured backend, warmed up)."""
    server = StarassistServer(Session(settings, overrides, load_engine))
    session = server.session
    pending = list(startup_messages or [])

    @server.feature(types.INITIALIZE)
    def initialize(ls: StarassistServer, params: types.InitializeParams) -> None:
        session.encoding = _encoding_name(ls.workspace.position_encoding)
        folders = params.workspace_folders or []
        session.root_uri = params.root_uri or (folders[0].uri if folders else None)
        section = settings_section(params.initialization_options)
        pending.extend(session.apply_client_settings(section or {}))

    @server.feature(types.INITIALIZED)
    async def initialized(ls: StarassistServer, params: types.InitializedParams) -> None:
        if pending:
            ls.show_once("; ".join(pending), types.MessageType.Warning)
            pending.clear()
        await ls.load_model()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: StarassistServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        session.documents.open(doc.uri, doc.text, doc.version, doc.language_id)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: StarassistServer, params: types.DidChangeTextDocumentParams) -> None:
        changes = []
        for change in params.content_changes:
            rng = getattr(change, "range", None)
            if rng is None:
                changes.append((None, None, change.text))
            else:
                changes.append(((rng.start.line, rng.start.character), (rng.end.line, rng.end.character), change.text))
        session.documents.change(params.text_document.uri, params.text_document.version, changes, session.encoding)
        session.document_changed(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: StarassistServer, params: types.DidCloseTextDocumentParams) -> None:
        session.documents.close(params.text_document.uri)
        session.document_closed(params.text_document.uri)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: StarassistServer, params: types.DidChangeConfigurationParams) -> None:
        section = settings_section(params.settings)
        if section is None and get_capability(ls.client_capabilities, "workspace.configuration", False):
            result = await ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="starassist")]))
            section = result[0] if result and isinstance(result[0], dict) else None
        if section is None:
            return
        errors = session.apply_client_settings(section)
        if errors:
            ls.show_once("; ".join(errors), types.MessageType.Warning)
        if session.model_settings_changed():
            await ls.load_model()

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: StarassistServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        count = session.settings.completion.invoked_items if invoked else 1
        uri = params.text_document.uri
        # VS Code shows an inline item while its suggest widget is open only when the item extends the selected
        # entry and replaces the same range: complete the text as it would be with that entry accepted.
        info = params.context.selected_completion_info
        selected = None if info is None else Selection(
            (info.range.start.line, info.range.start.character), (info.range.end.line, info.range.end.character),
            info.text)
        suggestion = await session.suggest(uri, params.position.line, params.position.character, count,
                                           kind="inline", selected=selected)
        if suggestion is None:
            return types.InlineCompletionList(items=[])
        items = []
        for text in suggestion.texts:
            if info is not None:
                insert, rng = info.text + text, info.range
            else:
                end, insert = inline_edit(suggestion.text, suggestion.offset, text)
                rng = ls.range_of(suggestion, suggestion.offset, end)
            items.append(types.InlineCompletionItem(insert_text=insert, range=rng,
                                                    command=ls.accept_command(uri, suggestion)))
        ls.report("inline", uri, suggestion)
        return types.InlineCompletionList(items=items)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    async def completion(ls: StarassistServer, params: types.CompletionParams) -> types.CompletionList:
        uri = params.text_document.uri
        suggestion = await session.suggest(uri, params.position.line, params.position.character, 1, kind="completion")
        if suggestion is None or not suggestion.texts:
            if suggestion is not None:
                ls.report("completion", uri, suggestion)
            return types.CompletionList(is_incomplete=True, items=[])
        text = suggestion.texts[0]
        start = word_start(suggestion.text, suggestion.offset)
        typed = suggestion.text[start : suggestion.offset]
        label = (typed + text).strip().split("\n", 1)[0][:80] or text[:80]
        item = types.CompletionItem(
            label=label,
            kind=types.CompletionItemKind.Text,
            detail="starassist",
            sort_text="0",
            filter_text=typed + text,
            insert_text_format=types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(range=ls.range_of(suggestion, start, suggestion.offset), new_text=typed + text),
            command=ls.accept_command(uri, suggestion),
        )
        ls.report("completion", uri, suggestion)
        # Incomplete: the client asks again as the user types, and the cache answers typed-through requests.
        return types.CompletionList(is_incomplete=True, items=[item])

    @server.feature(STATUS_REQUEST)
    def status(ls: StarassistServer, params: Any) -> dict[str, Any]:
        return session.status()

    @server.command(ACCEPT_COMMAND)
    def accept(ls: StarassistServer, *args: Any) -> None:
        session.stats.accepted()

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: StarassistServer, params: Any) -> None:
        session.shutdown()

    @server.feature(types.EXIT)
    def exit_(ls: StarassistServer, params: Any) -> None:
        # Without `shutdown` first: cancel the running generation now. Waiting for the worker is `serve`'s
        # job, after the loop: here it would hold the loop (up to seconds during a model load).
        session.shutdown()

    register_commands(server, session)
    return server


def serve(model: str | None = None, tcp: tuple[str, int] | None = None,
          load_engine: Callable[[Settings], CompletionEngine] | None = None) -> None:
    """Run a server on stdio (or TCP) until the client leaves: `starassist lsp`."""
    import logging

    from starassist.engine.errors import SettingsError
    from starassist.engine.settings import load_settings

    logging.basicConfig(level=logging.WARNING, format="starassist: %(levelname)s %(name)s: %(message)s")
    overrides = {"model": {"path": model}} if model else {}
    messages: list[str] = []
    try:
        settings = load_settings(overrides=overrides)
    except SettingsError as exc:
        # An editor would only see a dead server: start with defaults and tell the user what to fix.
        messages.append(f"{exc}; using defaults")
        settings = Settings()
        if model:
            settings.model.path = model
    from .transport import run_stdio, run_tcp

    server = create_server(settings, overrides, messages, load_engine)
    protocol = server.protocol
    assert isinstance(protocol, StarassistProtocol)
    code = 1
    try:
        code = run_tcp(protocol, *tcp) if tcp else run_stdio(protocol)
    finally:
        # Also when the client vanished without `shutdown`: stop the generation before the interpreter exits.
        if not server.session.close():
            # The worker is inside a model load that cannot be interrupted. Leave without running the
            # interpreter's and llama.cpp's teardown under it (that could crash): the OS frees the model.
            logger.warning("exiting during a model load")
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    if code:
        raise SystemExit(code)
