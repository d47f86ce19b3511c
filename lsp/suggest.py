"""From a document and a cursor to suggestion texts: request building, invoked-mode variants, and the exact
edit an item makes. No protocol types here; runs on the worker thread."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urlparse

from starassist.engine.backend import Timings
from starassist.engine.completion import CompletionEngine, CompletionRequest
from starassist.engine.naming import model_name
from starassist.engine.textpos import line_end

from .context_files import rank_snippets

_TRAILING_CLOSERS = re.compile(r"[\s)\]}>\"'`;,]*")
_WORD_CHAR = re.compile(r"[\w$]")


def uri_path(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("file", "") else uri


def relative_path(uri: str, root_uri: str | None) -> tuple[str, str]:
    """Repo-relative path of a document and the repository name, from the workspace root when known."""
    return model_name(uri_path(uri), (uri_path(root_uri) if root_uri else None,))


def build_request(
    text: str,
    offset: int,
    uri: str,
    root_uri: str | None,
    others: Sequence[tuple[str, str]],
) -> CompletionRequest:
    """The engine request for a cursor, with the most related other open documents as extra context."""
    path, repo = relative_path(uri, root_uri)
    ranked = rank_snippets(text, offset, [(relative_path(u, root_uri)[0], t) for u, t in others])
    return CompletionRequest(text=text, offset=offset, path=path, repo=repo, other_files=tuple(ranked))


@dataclass
class Generated:
    texts: list[str] = field(default_factory=list)
    timings: list[Timings] = field(default_factory=list)
    model_calls: int = 0
    stop_reasons: list[str] = field(default_factory=list)
    multiline: bool = False


def _sampler(engine: CompletionEngine, temperature: float) -> CompletionEngine:
    settings = copy.deepcopy(engine.settings)
    settings.completion.temperature = temperature
    return CompletionEngine(engine.backend, settings)


def generate(
    engine: CompletionEngine,
    request: CompletionRequest,
    items: int,
    cancel: Callable[[], bool],
    *,
    sample_temperature: float = 0.8,
) -> Generated:
    """Up to `items` distinct non-empty completions: the configured one first, then the other line mode, then
    samples. Stops early on cancel."""
    out = Generated()

    def run(eng: CompletionEngine, req: CompletionRequest) -> None:
        result = eng.complete(req, cancel=cancel)
        out.model_calls += 1
        out.timings.append(result.timings)
        out.stop_reasons.append(result.stop_reason)
        if out.model_calls == 1:
            out.multiline = result.multiline
        if result.stop_reason != "cancelled" and result.text.strip() and result.text not in out.texts:
            out.texts.append(result.text)

    run(engine, request)
    if items > 1 and not cancel():
        run(engine, replace(request, multiline=not out.multiline))
    if items > len(out.texts) and not cancel():
        sampler = _sampler(engine, sample_temperature)
        for seed in range(1, 2 * items):
            if len(out.texts) >= items or cancel():
                break
            sampler.settings.model.seed = seed
            run(sampler, request)
    return out


def inline_edit(text: str, offset: int, completion: str) -> tuple[int, str]:
    """(end offset, insert text) of an inline item. When the rest of the cursor's line is only closing
    punctuation (an editor's auto-closed brackets), the item replaces it and re-inserts it after the
    completion, so the suggestion is shown and accepted as one piece."""
    end = line_end(text, offset)
    rest = text[offset:end]
    if rest and _TRAILING_CLOSERS.fullmatch(rest) and rest.strip():
        return end, completion + rest
    return offset, completion


def word_start(text: str, offset: int) -> int:
    """Start of the identifier that ends at the cursor (completion items filter against it)."""
    start = offset
    while start > 0 and _WORD_CHAR.match(text[start - 1]):
        start -= 1
    return start
