"""Model work off the protocol loop: one worker thread runs jobs in order (the model is one sequence anyway),
each job has a cancel flag checked between tokens, and per-document requests are debounced and superseded.
A background job (speculative work nobody waits for) yields to every other job: submitting one cancels it.

The asyncio side never blocks: it awaits a future that the worker resolves with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(eq=False)  # identity: jobs live in sets
class Job(Generic[T]):
    fn: Callable[[Callable[[], bool]], T]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T | None]
    label: str = ""
    background: bool = False  # speculative: any foreground job cancels it
    flag: threading.Event = field(default_factory=threading.Event)
    submitted: float = field(default_factory=time.perf_counter)
    started: float | None = None

    def cancel(self) -> None:
        self.flag.set()

    @property
    def cancelled(self) -> bool:
        return self.flag.is_set()


@dataclass
class WorkerCounters:
    started: int = 0  # jobs whose function ran
    finished: int = 0  # ran to the end without being cancelled
    cancelled: int = 0  # cancelled while running
    skipped: int = 0  # cancelled before they started
    failed: int = 0  # raised (not cancelled): started = finished + cancelled + failed

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Worker:
    """A daemon thread running submitted jobs one at a time."""

    def __init__(self, name: str = "starassist-model") -> None:
        self._queue: queue.Queue[Job[Any] | None] = queue.Queue()
        self._pending: set[Job[Any]] = set()
        self._lock = threading.Lock()
        self.counters = WorkerCounters()
        self.current: Job[Any] | None = None
        self._stopped = False
        self._final: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[Callable[[], bool]], T], label: str = "", *, background: bool = False) -> Job[T]:
        loop = asyncio.get_running_loop()
        job: Job[T] = Job(fn, loop, loop.create_future(), label, background)
        with self._lock:
            if self._stopped:
                job.cancel()
                job.future.set_result(None)
                return job
            if not background:
                for other in self._jobs():
                    if other.background:
                        other.cancel()  # stops at its next token: real work never waits for speculation
            self._pending.add(job)
        self._queue.put(job)
        return job

    def _jobs(self) -> list[Job[Any]]:
        return list(self._pending) + ([self.current] if self.current else [])

    def idle(self) -> bool:
        """Nothing queued and nothing running, on the loop's side: a job whose result the loop already has
        counts as done even while the thread is still clearing it away."""
        with self._lock:
            waiting = [j for j in self._pending if not j.cancelled]  # cancelled ones are skipped unrun
            current = self.current
        return not waiting and (current is None or current.future.done())

    def _resolve(self, job: Job[Any], value: Any = None, error: BaseException | None = None) -> None:
        def done() -> None:
            if job.future.done():
                return
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(value)

        try:
            job.loop.call_soon_threadsafe(done)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                if self._final is not None:
                    self._final()
                return
            with self._lock:
                self._pending.discard(job)
                self.current = job
            try:
                if job.cancelled:
                    self.counters.skipped += 1
                    self._resolve(job, None)
                    continue
                job.started = time.perf_counter()
                self.counters.started += 1
                try:
                    value = job.fn(job.flag.is_set)
                except BaseException as exc:  # noqa: BLE001 - handed to the awaiting request
                    if job.cancelled:
                        self.counters.cancelled += 1
                    else:
                        self.counters.failed += 1
                    self._resolve(job, error=exc)
                    continue
                if job.cancelled:
                    self.counters.cancelled += 1
                    self._resolve(job, None)
                else:
                    self.counters.finished += 1
                    self._resolve(job, value)
            finally:
                with self._lock:
                    self.current = None

    def cancel_all(self) -> None:
        with self._lock:
            jobs = self._jobs()
        for job in jobs:
            job.cancel()

    def stop(self, final: Callable[[], None] | None = None) -> None:
        """Cancel everything and let the thread end after its current job (which stops at the next token),
        running `final` there last (freeing the model on the thread that uses it). Only the first call counts."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._final = final
        self.cancel_all()
        self._queue.put(None)

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


@dataclass
class Outcome(Generic[T]):
    value: T | None  # None when superseded or cancelled
    debounce_ms: float = 0.0
    queue_ms: float = 0.0
    run_ms: float = 0.0
    superseded: bool = False


class DocumentScheduler:
    """Debounce and supersede per key (a document, or a document and a request kind): a newer request for a key
    cancels the older one."""

    def __init__(self, worker: Worker, debounce_ms: int = 100, adaptive: bool = True) -> None:
        self.worker = worker
        self.debounce_ms = debounce_ms
        self.adaptive = adaptive
        self._serial: dict[Hashable, int] = {}
        self._jobs: dict[Hashable, Job[Any]] = {}
        self._last_request: dict[Hashable, float] = {}
        self._interval_ms: dict[Hashable, float] = {}  # smoothed time between requests (typing speed)

    def debounce_for(self, key: Hashable) -> float:
        """Seconds to wait before starting. Adaptive: a fast typist's next keystroke is expected within about
        their usual interval, so wait slightly longer than that; a slow typist's pause means they want it now."""
        base = self.debounce_ms
        interval = self._interval_ms.get(key)
        if not self.adaptive or interval is None or base == 0:
            return base / 1000
        if interval < 2 * base:
            return min(2 * base, max(base / 4, 1.25 * interval)) / 1000
        return base / 4 / 1000

    def _note_request(self, key: Hashable) -> None:
        now = time.perf_counter()
        last = self._last_request.get(key)
        self._last_request[key] = now
        if last is not None:
            gap = min((now - last) * 1000, 5000.0)
            prev = self._interval_ms.get(key)
            self._interval_ms[key] = gap if prev is None else 0.7 * prev + 0.3 * gap

    def supersede(self, key: Hashable) -> int:
        """Mark a new request for `key`; cancels the running or queued older one. Returns its serial."""
        serial = self._serial.get(key, 0) + 1
        self._serial[key] = serial
        old = self._jobs.pop(key, None)
        if old is not None:
            old.cancel()
        return serial

    def supersede_where(self, match: Callable[[Hashable], bool]) -> None:
        """Supersede every key that `match`es (all the request kinds of a document that changed)."""
        for key in [k for k in self._serial if match(k)]:
            self.supersede(key)

    def forget_where(self, match: Callable[[Hashable], bool]) -> None:
        """Supersede the matching keys and drop what is kept about them (a closed document); a request still
        waiting for one of them is stale."""
        self.supersede_where(match)
        for table in (self._serial, self._last_request, self._interval_ms):
            for key in [k for k in table if match(k)]:
                del table[key]

    def is_latest(self, key: Hashable, serial: int) -> bool:
        return self._serial.get(key) == serial

    async def run(self, key: Hashable, fn: Callable[[Callable[[], bool]], T], *, debounce: bool = True,
                  label: str = "") -> Outcome[T]:
        self._note_request(key)
        serial = self.supersede(key)
        t0 = time.perf_counter()
        delay = self.debounce_for(key) if debounce else 0.0
        if delay > 0:
            await asyncio.sleep(delay)
        waited = (time.perf_counter() - t0) * 1000
        if not self.is_latest(key, serial):
            return Outcome(None, debounce_ms=waited, superseded=True)
        job = self.worker.submit(fn, label)
        self._jobs[key] = job
        try:
            value = await job.future
        except asyncio.CancelledError:
            job.cancel()  # $/cancelRequest or shutdown: stop the generation at the next token
            raise
        finally:
            if self._jobs.get(key) is job:
                del self._jobs[key]
        end = time.perf_counter()
        started = job.started or end
        return Outcome(
            None if job.cancelled else value,
            debounce_ms=waited,
            queue_ms=(started - job.submitted) * 1000,
            run_ms=(end - started) * 1000,
            superseded=job.cancelled and not self.is_latest(key, serial),
        )


@dataclass(eq=False)
class _Shared:
    context: Hashable
    size: int
    task: asyncio.Future[Any]
    waiters: int = 0


class SharedRuns:
    """Requests that need the same work share one run: VS Code asks for an inline completion and a completion
    list at every keystroke, for the same document and cursor. A request joins a run in progress for its key
    when the context is equal and the run is at least as big (`size`: how many suggestions it makes); otherwise
    it starts its own. A run is cancelled when every request waiting for it is."""

    def __init__(self) -> None:
        self._runs: dict[Hashable, _Shared] = {}

    async def run(self, key: Hashable, context: Hashable, size: int,
                  start: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """The value of the run for (key, context), and whether this request joined one already running."""
        shared = self._runs.get(key)
        joined = (shared is not None and shared.context == context and shared.size >= size
                  and not shared.task.done())
        if not joined:
            shared = _Shared(context, size, asyncio.ensure_future(start()))
            self._runs[key] = shared
            shared.task.add_done_callback(lambda _t, k=key, s=shared: self._forget(k, s))
        assert shared is not None
        shared.waiters += 1
        try:
            return await asyncio.shield(shared.task), joined
        except asyncio.CancelledError:
            if shared.waiters == 1:
                shared.task.cancel()  # nobody else wants it: stop the generation
                self._forget(key, shared)  # and a request arriving in the same tick starts afresh
            raise
        finally:
            shared.waiters -= 1

    def _forget(self, key: Hashable, shared: _Shared) -> None:
        if self._runs.get(key) is shared:
            del self._runs[key]
