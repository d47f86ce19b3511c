"""The state of one LSP session: settings, open documents, the engine (loaded in the background), the model
worker, the suggestion cache and telemetry. Protocol-independent: the server module turns LSP messages into
calls here and results into LSP types."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from starassist.engine.completion import CompletionEngine
from starassist.engine.context import ALIGN_LINES
from starassist.engine.settings import Settings, replace_from, to_dict

from .cache import SuggestionCache
from .documents import DocumentStore, Excerpt
from .prefetch import Prefetcher, Target, accepted_excerpt
from .report import RequestReport
from .scheduler import DocumentScheduler, SharedRuns, Worker
from .stats import StatsRecorder
from .suggest import build_request, generate

# More characters than any prompt of N tokens can hold (a token is rarely over 16 characters, even of spaces).
CHARS_PER_TOKEN = 16


@dataclass
class Suggestion:
    """What a completion request produced, with the numbers reported to the client."""

    texts: list[str]
    offset: int  # cursor, character offset into `text`
    text: str  # the document text the suggestion is for
    version: int
    report: RequestReport
    cached: bool = False
    model_calls: int = 0
    first_line: int = 0  # document line of `text`'s first line (`text` is an excerpt of a big document)
    start: int = 0  # document offset of `text`'s first character
    selection: bool = False  # for the document with a suggest-widget item accepted: `text` is not the document


@dataclass(frozen=True)
class Selection:
    """The item selected in the editor's suggest widget (LSP `selectedCompletionInfo`): accepting it would put
    `text` in place of the range (positions in the negotiated encoding)."""

    start: tuple[int, int]
    end: tuple[int, int]
    text: str


def settings_section(data: Any) -> dict[str, Any] | None:
    """The starassist settings in initializationOptions / didChangeConfiguration, which may or may not be
    wrapped in a "starassist" key (VS Code sends the section, other clients the tree itself)."""
    if not isinstance(data, dict):
        return None
    inner = data.get("starassist")
    if isinstance(inner, dict):
        return inner
    if any(k in data for k in ("model", "completion", "chat")):
        return data
    return None


class Session:
    def __init__(self, settings: Settings, overrides: dict[str, Any] | None = None,
                 load_engine: Callable[[Settings], CompletionEngine] | None = None) -> None:
        self.base_settings = settings  # config file + environment + command line
        self.overrides = overrides or {}  # command-line flags, applied on top of client settings again
        self.settings = settings
        self.documents = DocumentStore()
        self.encoding = "utf-16"
        self.root_uri: str | None = None
        self.worker = Worker()
        cs = settings.completion
        self.scheduler = DocumentScheduler(self.worker, cs.debounce_ms, cs.adaptive_debounce)
        self.shared = SharedRuns()
        self.cache = SuggestionCache(cs.cache_size)
        self.prefetch = Prefetcher(self.worker, cs.prefetch)
        self.stats = StatsRecorder()
        self.engine: CompletionEngine | None = None
        self.load_error: str | None = None
        self.ready = asyncio.Event()
        self._load_engine = load_engine or _default_loader
        self.requests = 0
        self.model_calls = 0  # engine.complete calls (an invoked request may make several)
        self.generations_finished = 0  # completion jobs that ran to the end (not superseded or cancelled)
        self._loaded_model_settings: Any = None
        self._loads = 0  # load() calls; only the latest one's engine is served
        self._live: CompletionEngine | None = None  # the loaded engine, touched on the worker thread only

    # -- settings --------------------------------------------------------------------------------------------

    def apply_client_settings(self, data: dict[str, Any]) -> list[str]:
        """Client settings over the base ones, command-line flags on top. Returns the rejected keys' errors."""
        new, errors = replace_from(self.base_settings, data)
        if self.overrides:
            new, more = replace_from(new, self.overrides)
            errors += more
        self.settings = new
        cs = new.completion
        self.scheduler.debounce_ms = cs.debounce_ms
        self.scheduler.adaptive = cs.adaptive_debounce
        self.cache.size = cs.cache_size
        self.prefetch.enabled = cs.prefetch
        if not cs.prefetch:
            self.prefetch.cancel()
        if self.engine is not None:
            self.engine.settings = new
        return errors

    def model_settings_changed(self) -> bool:
        loaded = self._loaded_model_settings
        return loaded is not None and loaded != (self.settings.model, self.settings.remote)

    # -- model -----------------------------------------------------------------------------------------------

    async def load(self) -> str | None:
        """Load (or reload) the model on the worker thread. Returns an error message, or None when loaded or
        when a newer load() replaced this one (that one sets the engine)."""
        settings = self.settings
        self._loads += 1
        serial = self._loads

        def work(cancel: Callable[[], bool]) -> CompletionEngine | None:
            self._retire()  # the engine in use, or the one an older load made
            if cancel():
                return None
            # An older load still runs (each selection's error is reported), but the engine of one that a
            # newer load replaced meanwhile is closed at once, never served.
            engine = self._load_engine(settings)
            if cancel() or serial != self._loads:
                engine.backend.close()
                return None
            self._live = engine
            return engine

        self.ready.clear()
        self.engine = None
        self._loaded_model_settings = (settings.model, settings.remote)
        try:
            engine = await self.worker.submit(work, "load").future
            error = None if engine is not None or serial != self._loads else "model loading was cancelled"
        except Exception as exc:  # noqa: BLE001 - shown to the user, the server stays up
            engine, error = None, _one_line(exc)
        if serial != self._loads:
            return error  # superseded: the newer load sets the engine and `ready`
        self.engine, self.load_error = engine, error
        self.ready.set()  # waiting requests answer (empty when the load failed)
        return error

    def _retire(self) -> None:
        """Free the loaded engine (on the worker thread, so no generation is using it)."""
        engine, self._live = self._live, None
        if engine is not None:
            engine.backend.close()

    # -- completion ------------------------------------------------------------------------------------------

    def document_changed(self, uri: str) -> None:
        """After an edit every request for the document is stale: stop its generations now (their answers
        would be for text that is gone)."""
        self.scheduler.supersede_where(_of_document(uri))

    def document_closed(self, uri: str) -> None:
        """Stop the document's generations and forget everything kept for it."""
        self.scheduler.forget_where(_of_document(uri))
        self.cache.forget(uri)
        self.prefetch.cancel(uri)

    async def suggest(self, uri: str, line: int, character: int, items: int, *, kind: str = "inline",
                      selected: Selection | None = None) -> Suggestion | None:
        """Suggestions at a position, from the cache when the user typed through one, else from the model.
        With `selected`, for the document as it would be with the selected suggest-widget item accepted."""
        t0 = time.perf_counter()
        self.requests += 1
        doc = self.documents.get(uri)
        if doc is None:
            return None
        # The lines around the cursor that a prompt could use, not the whole (maybe 10 MB) document.
        excerpt = doc.lines.excerpt(line, character, self.encoding, self._radius(), ALIGN_LINES)
        text, version, offset = excerpt.text, doc.version, excerpt.offset
        if selected is not None:
            # Offsets of the selected item's range in the excerpt (it is on the cursor's lines).
            a = min(max(doc.offset(*selected.start, self.encoding) - excerpt.start, 0), len(text))
            b = min(max(doc.offset(*selected.end, self.encoding) - excerpt.start, a), len(text))
            text = text[:a] + selected.text + text[b:]
            offset = a + len(selected.text) + max(offset - b, 0)
        before, after = text[:offset], text[offset:]
        report = RequestReport(position={"line": line, "character": character, "offset": excerpt.start + offset})

        def answer(texts: list[str], **more: Any) -> Suggestion:
            return Suggestion(texts[:items], offset, text, version, report, first_line=excerpt.first_line,
                              start=excerpt.start, selection=selected is not None, **more)

        def cached() -> Suggestion | None:
            found = self.cache.lookup(uri, before, after)
            if found is None or (len(found[0]) < items and items > 1):
                return None
            report.cached, report.prefetched = True, found[1] or None
            report.total_ms = round((time.perf_counter() - t0) * 1000, 2)
            return answer(found[0], cached=True)

        if (hit := cached()) is not None:
            return hit
        running = self.prefetch.running_for(Target(uri, before, after))
        if running is not None:
            # The prefetch is computing exactly this: wait for it rather than start over. A newer request for
            # the document supersedes this one meanwhile (and, being another state, cancels the prefetch).
            self.prefetch.counters.joined += 1
            serial = self.scheduler.supersede((uri, kind))
            try:
                texts = await asyncio.shield(running)  # a cancelled request leaves the prefetch running
            except Exception:  # noqa: BLE001 - it failed: the model call below meets the error and reports it
                texts = None
            current = self.documents.get(uri)
            if not self.scheduler.is_latest((uri, kind), serial) or current is None or current.version != version:
                report.superseded = True  # typed on (or closed) meanwhile: an answer would be for text that is gone
                return answer([])
            if (hit := cached()) is not None:
                return hit
            if texts == []:  # it ran to the end and the model had nothing to suggest here: no second call
                report.total_ms = round((time.perf_counter() - t0) * 1000, 2)
                return answer([])
        self.prefetch.cancel()  # a newer request always wins over speculation
        await self.ready.wait()
        engine = self.engine
        if engine is None:
            self.scheduler.supersede((uri, kind))  # an older request for the document is stale all the same
            report.error = self.load_error
            return answer([])
        other_docs = self.documents.others(uri)
        root_uri = self.root_uri

        def work(cancel: Callable[[], bool]) -> Any:
            if self.engine is not engine:
                return None  # the model was reloaded since this request started: its engine is closed
            others = [(d.uri, d.text) for d in other_docs]  # joining a big document is work: not on the loop
            # Built here, off the protocol loop and only for requests that survived the debounce.
            request = build_request(text, offset, uri, root_uri, others)
            generated = generate(engine, request, items, cancel)
            self.model_calls += generated.model_calls  # counted on the worker thread, cancelled calls too
            return generated

        async def start() -> Any:
            outcome = await self.scheduler.run((uri, kind), work, label=f"complete {uri}")
            current = self.documents.get(uri)
            if outcome.value is not None and current is not None and current.version == version:
                # Counted and cached here, once, whichever of the requests sharing the run is still waiting.
                self.generations_finished += 1
                self.cache.put(uri, before, after, outcome.value.texts)
            return outcome

        try:
            # The same document, version and cursor for another request kind: share its generation.
            outcome, joined = await self.shared.run(uri, (version, before, after), items, start)
        except Exception as exc:  # noqa: BLE001 - a failed generation answers empty; the server stays up
            report.error = _one_line(exc)
            return answer([])
        generated = outcome.value
        report.cached = False
        report.debounce_ms = round(outcome.debounce_ms, 2)
        report.queue_ms = round(outcome.queue_ms, 2)
        report.run_ms = round(outcome.run_ms, 2)
        report.total_ms = round((time.perf_counter() - t0) * 1000, 2)
        report.superseded = outcome.superseded
        current = self.documents.get(uri)
        if current is None or current.version != version:
            report.superseded = True  # the document changed meanwhile: these suggestions would not fit it
            return answer([])
        if generated is None:
            return answer([])
        if joined:  # the request that started the run reports its engine figures
            report.shared = True
            return answer(generated.texts)
        report.add_engine(generated.timings, generated.stop_reasons, generated.multiline)
        return answer(generated.texts, model_calls=generated.model_calls)

    def _radius(self) -> int:
        cs = self.settings.completion
        return CHARS_PER_TOKEN * (cs.context_tokens + cs.extra_context_tokens)

    def record_shown(self, suggestion: Suggestion, uri: str = "", kind: str = "inline") -> None:
        """A suggestion went to the client: count it, and prefetch what follows accepting it."""
        if suggestion.texts:
            self.stats.shown(suggestion.report.total_ms or 0.0, suggestion.cached)
            self._prefetch_after(uri, suggestion, kind)

    def _prefetch_after(self, uri: str, suggestion: Suggestion, kind: str) -> None:
        """Start computing the suggestion for the document with `suggestion` accepted (see `lsp.prefetch`)."""
        doc, engine = self.documents.get(uri), self.engine
        if not self.prefetch.enabled or doc is None or engine is None or doc.version != suggestion.version:
            return  # off, closed, no model, or the user typed on since the request: it would be stale
        if suggestion.selection:
            return  # built on a suggest-widget item the user may not take: nothing to extend
        shown = Excerpt(suggestion.text, suggestion.offset, suggestion.first_line, suggestion.start)
        ex = accepted_excerpt(doc.lines, shown, suggestion.texts[0], kind, self._radius(), ALIGN_LINES)
        before, after = ex.text[: ex.offset], ex.text[ex.offset :]
        if self.cache.lookup(uri, before, after, count=False) is not None:
            return  # known already (the user typed through a suggestion whose acceptance was prefetched)
        other_docs = self.documents.others(uri)
        root_uri = self.root_uri

        def work(cancel: Callable[[], bool]) -> list[str] | None:
            if self.engine is not engine:
                return None
            others = [(d.uri, d.text) for d in other_docs]
            generated = generate(engine, build_request(ex.text, ex.offset, uri, root_uri, others), 1, cancel)
            self.prefetch.counters.model_calls += generated.model_calls
            return generated.texts

        def store(texts: list[str]) -> None:
            if self.documents.get(uri) is not None:  # not closed meanwhile
                self.cache.put(uri, before, after, texts, prefetched=True)

        self.prefetch.start(Target(uri, before, after), work, store)

    def status(self) -> dict[str, Any]:
        engine = self.engine
        return {
            "ready": self.ready.is_set(),
            "model": engine.backend.info.name if engine else None,
            "format": engine.format.name if engine else None,
            "error": self.load_error,
            "encoding": self.encoding,
            "requests": self.requests,
            "model_calls": self.model_calls,
            "generations_finished": self.generations_finished,
            "cache_hits": self.cache.hits,
            "prefetch": self.prefetch.status() | {"hits": self.cache.prefetched_hits},
            "worker": self.worker.counters.as_dict(),
            "busy": current.label if (current := self.worker.current) is not None else None,
            "open_documents": len(self.documents.docs),
            "documents_bytes": self.documents.memory(),
            "settings": to_dict(self.settings),  # effective: defaults < config < client < command line
        }

    def shutdown(self) -> None:
        """Cancel all model work; the worker frees the model after its current job and ends. Never blocks."""
        self.worker.stop(final=self._retire)
        self.stats.flush()

    def close(self, timeout: float = 1.0) -> bool:
        """After the protocol loop ended: wait for the worker to finish (a generation stops at its next token).
        False when it is still busy (a model load cannot be interrupted)."""
        self.shutdown()
        stopped = self.worker.join(timeout)
        if stopped:
            self.engine = None
        return stopped


def _of_document(uri: str) -> Callable[[Hashable], bool]:
    """Matches the scheduler keys of a document's requests (`(uri, kind)`)."""
    return lambda key: isinstance(key, tuple) and key[0] == uri


def _one_line(exc: BaseException) -> str:
    from starassist.engine.errors import StarassistError

    if isinstance(exc, StarassistError):
        return str(exc)
    return f"{exc.__class__.__name__}: {exc}".splitlines()[0]


def _default_loader(settings: Settings) -> CompletionEngine:
    from starassist.engine.loader import load_backend

    engine = CompletionEngine(load_backend(settings.model, remote=settings.remote), settings)
    engine.warm_up()  # part of loading: the first suggestion is then as fast as the next ones
    return engine


__all__ = ["Selection", "Session", "Suggestion", "settings_section"]
