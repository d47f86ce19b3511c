"""The state of one LSP session: settings, open documents, the engine (loaded in the background), the model
worker, the suggestion cache and telemetry. Protocol-independent: the server module turns LSP messages into
calls here and results into LSP types."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starassist.engine.completion import CompletionEngine
from starassist.engine.context import ALIGN_LINES
from starassist.engine.settings import Settings, replace_from, to_dict

from .cache import SuggestionCache
from .documents import DocumentStore
from .report import RequestReport
from .scheduler import DocumentScheduler, Worker
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
        self.cache = SuggestionCache(cs.cache_size)
        self.stats = StatsRecorder()
        self.engine: CompletionEngine | None = None
        self.load_error: str | None = None
        self.ready = asyncio.Event()
        self._load_engine = load_engine or _default_loader
        self.requests = 0
        self.model_calls = 0  # engine.complete calls (an invoked request may make several)
        self.generations_finished = 0  # completion jobs that ran to the end (not superseded or cancelled)
        self._loaded_model_settings: Any = None

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
        if self.engine is not None:
            self.engine.settings = new
        return errors

    def model_settings_changed(self) -> bool:
        return self._loaded_model_settings is not None and self._loaded_model_settings != self.settings.model

    # -- model -----------------------------------------------------------------------------------------------

    async def load(self) -> str | None:
        """Load (or reload) the model on the worker thread. Returns an error message, or None when loaded."""
        settings = self.settings
        old = self.engine

        def work(cancel: Callable[[], bool]) -> CompletionEngine:
            if old is not None:
                old.backend.close()
            return self._load_engine(settings)

        self.ready.clear()
        self.engine = None
        self._loaded_model_settings = settings.model
        try:
            self.engine = await self.worker.submit(work, "load").future
            self.load_error = None if self.engine is not None else "model loading was cancelled"
        except Exception as exc:  # noqa: BLE001 - shown to the user, the server stays up
            self.load_error = _one_line(exc)
        finally:
            self.ready.set()  # waiting requests answer (empty when the load failed)
        return self.load_error

    # -- completion ------------------------------------------------------------------------------------------

    async def suggest(self, uri: str, line: int, character: int, items: int) -> Suggestion | None:
        """Suggestions at a position, from the cache when the user typed through one, else from the model."""
        t0 = time.perf_counter()
        self.requests += 1
        doc = self.documents.get(uri)
        if doc is None:
            return None
        # The lines around the cursor that a prompt could use, not the whole (maybe 10 MB) document.
        cs = self.settings.completion
        excerpt = doc.lines.excerpt(line, character, self.encoding,
                                    CHARS_PER_TOKEN * (cs.context_tokens + cs.extra_context_tokens), ALIGN_LINES)
        text, version, offset, first_line = excerpt.text, doc.version, excerpt.offset, excerpt.first_line
        before, after = text[:offset], text[offset:]
        report = RequestReport(position={"line": line, "character": character, "offset": excerpt.start + offset})
        hit = self.cache.get(uri, before, after)
        if hit is not None and (len(hit) >= items or items == 1):
            report.cached, report.total_ms = True, round((time.perf_counter() - t0) * 1000, 2)
            return Suggestion(hit[:items], offset, text, version, report, cached=True, first_line=first_line)
        await self.ready.wait()
        engine = self.engine
        if engine is None:
            self.scheduler.supersede(uri)  # an older request for the document is stale all the same
            report.error = self.load_error
            return Suggestion([], offset, text, version, report, first_line=first_line)
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

        try:
            outcome = await self.scheduler.run(uri, work, label=f"complete {uri}")
        except Exception as exc:  # noqa: BLE001 - a failed generation answers empty; the server stays up
            report.error = _one_line(exc)
            return Suggestion([], offset, text, version, report, first_line=first_line)
        generated = outcome.value
        report.cached = False
        report.debounce_ms = round(outcome.debounce_ms, 2)
        report.queue_ms = round(outcome.queue_ms, 2)
        report.run_ms = round(outcome.run_ms, 2)
        report.total_ms = round((time.perf_counter() - t0) * 1000, 2)
        report.superseded = outcome.superseded
        if generated is None:
            return Suggestion([], offset, text, version, report, first_line=first_line)
        self.generations_finished += 1
        report.add_engine(generated.timings, generated.stop_reasons, generated.multiline)
        self.cache.put(uri, before, after, generated.texts)
        return Suggestion(generated.texts[:items], offset, text, version, report, model_calls=generated.model_calls,
                          first_line=first_line)

    def record_shown(self, suggestion: Suggestion) -> None:
        if suggestion.texts:
            self.stats.shown(suggestion.report.total_ms or 0.0, suggestion.cached)

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
            "worker": self.worker.counters.as_dict(),
            "busy": current.label if (current := self.worker.current) is not None else None,
            "open_documents": len(self.documents.docs),
            "documents_bytes": self.documents.memory(),
            "settings": to_dict(self.settings),  # effective: defaults < config < client < command line
        }

    def shutdown(self) -> None:
        self.worker.stop()
        self.stats.flush()

    def close(self, timeout: float = 5.0) -> None:
        """After `exit`: wait for the worker to stop (it stops at the next token), then free the model."""
        if self.worker.join(timeout) and self.engine is not None:
            self.engine.backend.close()
            self.engine = None


def _one_line(exc: BaseException) -> str:
    from starassist.engine.errors import StarassistError

    if isinstance(exc, StarassistError):
        return str(exc)
    return f"{exc.__class__.__name__}: {exc}".splitlines()[0]


def _default_loader(settings: Settings) -> CompletionEngine:
    from starassist.engine.loader import load_backend

    engine = CompletionEngine(load_backend(settings.model), settings)
    engine.warm_up()  # part of loading: the first suggestion is then as fast as the next ones
    return engine


__all__ = ["Session", "Suggestion", "settings_section"]
