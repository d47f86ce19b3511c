"""Speculative prefetch: once a suggestion has been shown and the model worker is idle, compute the suggestion
that follows accepting it (the document with the suggestion inserted, the cursor after it) and keep it in the
suggestion cache, so Tab-then-keep-typing is answered with no model call.

The policy, in one place:
- start only when the worker is idle, the feature is on, and the accepted state is not already cached;
- a prefetch is a background job: any real request (a keystroke's completion, explain/modify, a model load)
  cancels it between tokens; a keystroke's request does so when it arrives, before its debounce;
- a request for exactly the state being prefetched waits for that prefetch instead of starting it over;
- it sends nothing to the client: its only effect is a cache entry (and counters in `starassist/status`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .documents import Excerpt, Lines
from .scheduler import Job, Worker
from .suggest import inline_edit


@dataclass(frozen=True)
class Target:
    """The state a prefetch computes a suggestion for: the cache key of the request that will follow."""

    uri: str
    before: str
    after: str


def accepted_excerpt(lines: Lines, excerpt: Excerpt, completion: str, kind: str, radius: int, align: int) -> Excerpt:
    """The excerpt a request will see after the editor accepts `completion` shown at `excerpt`'s cursor: an
    inline item also replaces auto-closed brackets (`inline_edit`), a completion item inserts at the cursor; the
    cursor ends after the inserted text. Computed on a copy of the document, with `Lines.excerpt`'s window."""
    if kind == "inline":
        end, insert = inline_edit(excerpt.text, excerpt.offset, completion)
    else:
        end, insert = excerpt.offset, completion
    at = excerpt.start + excerpt.offset
    accepted = lines.copy()
    accepted.replace_offsets(at, excerpt.start + end, insert)
    return accepted.excerpt_at(at + len(insert), radius, align)


@dataclass
class PrefetchCounters:
    started: int = 0  # prefetch jobs submitted
    finished: int = 0  # ran to the end
    cancelled: int = 0  # stopped (or skipped) because real work came first
    failed: int = 0
    stored: int = 0  # left a suggestion in the cache
    joined: int = 0  # requests for the prefetched state that waited for it instead of starting over
    model_calls: int = 0  # engine calls made by prefetches (not counted in the session's model_calls)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Prefetcher:
    """At most one prefetch at a time, on the shared model worker."""

    def __init__(self, worker: Worker, enabled: bool = True) -> None:
        self.worker = worker
        self.enabled = enabled
        self.counters = PrefetchCounters()
        self._job: Job[Any] | None = None
        self._target: Target | None = None

    def start(self, target: Target, work: Callable[[Callable[[], bool]], list[str] | None],
              store: Callable[[list[str]], None]) -> bool:
        """Run `work(cancel)` in the background and hand its texts to `store` (on the loop), unless the feature
        is off or the worker has something else to do. Returns whether it started."""
        if not self.enabled or not self.worker.idle():
            return False
        self.cancel()
        job = self.worker.submit(work, f"prefetch {target.uri}", background=True)
        self._job, self._target = job, target
        self.counters.started += 1
        job.future.add_done_callback(lambda future: self._finished(job, future, store))
        return True

    def _finished(self, job: Job[Any], future: asyncio.Future[Any], store: Callable[[list[str]], None]) -> None:
        if self._job is job:
            self._job = None
        if future.cancelled() or job.cancelled:
            self.counters.cancelled += 1
        elif future.exception() is not None:
            self.counters.failed += 1  # the request that follows will meet the same error and report it
        elif future.result() is None:
            self.counters.cancelled += 1  # the model was reloaded meanwhile
        else:
            self.counters.finished += 1
            if future.result():
                store(future.result())
                self.counters.stored += 1

    def running_for(self, target: Target) -> asyncio.Future[Any] | None:
        """The future of a live prefetch of exactly `target`, or None."""
        job = self._job
        if job is None or job.cancelled or job.future.done() or self._target != target:
            return None
        return job.future

    def cancel(self, uri: str | None = None) -> None:
        """Stop the prefetch (only if it is for `uri`, when given)."""
        job, target = self._job, self._target
        if job is not None and (uri is None or (target is not None and target.uri == uri)):
            job.cancel()

    def status(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "running": self._job is not None, **self.counters.as_dict()}
