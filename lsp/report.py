"""What one completion request cost and produced, from the engine's `Timings` to the `starassist/timings`
notification and the log line. A field left None is not sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from starassist.engine.backend import Timings


@dataclass
class RequestReport:
    position: dict[str, int]  # {line, character, offset}
    total_ms: float | None = None
    cached: bool | None = None
    prefetched: bool | None = None  # the cached suggestion was computed ahead by the prefetch
    error: str | None = None  # why there is no suggestion (no model loaded, a failed generation)
    # Scheduling (requests that reached the model worker).
    debounce_ms: float | None = None
    queue_ms: float | None = None
    run_ms: float | None = None
    superseded: bool | None = None
    shared: bool | None = None  # answered by the generation another request for the same text started
    # The engine's work, summed over the model calls of the request.
    model_calls: int | None = None
    stop_reasons: list[str] | None = None
    multiline: bool | None = None
    prompt_tokens: int | None = None
    reused_tokens: int | None = None
    evaluated_tokens: int | None = None  # prompt tokens actually computed (prompt_tokens - reused_tokens)
    reused_chunks: int | None = None  # cached runs moved to new positions (model.kv_reuse = "shift" only)
    prompt_ms: float | None = None
    generated_tokens: int | None = None
    generation_ms: float | None = None

    def add_engine(self, timings: Sequence[Timings], stop_reasons: list[str], multiline: bool) -> None:
        self.model_calls = len(timings)
        self.stop_reasons = stop_reasons
        self.multiline = multiline
        self.prompt_tokens = sum(t.prompt_tokens for t in timings)
        self.reused_tokens = sum(t.reused_tokens for t in timings)
        self.evaluated_tokens = sum(t.evaluated_tokens for t in timings)
        self.reused_chunks = sum(t.reused_chunks for t in timings)
        self.prompt_ms = round(sum(t.prompt_ms for t in timings), 2)
        self.generated_tokens = sum(t.generated_tokens for t in timings)
        self.generation_ms = round(sum(t.generation_ms for t in timings), 2)

    def fields(self) -> dict[str, Any]:
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}

    def notification(self, uri: str, version: int, kind: str, items: int, model_calls: int) -> dict[str, Any]:
        """The `starassist/timings` payload."""
        return {"uri": uri, "version": version, "kind": kind, "items": items, "model_calls": model_calls,
                **self.fields()}

    def log_line(self, kind: str, items: int, model_calls: int) -> str:
        if self.error:
            return f"{kind}: no suggestion: {self.error}"
        total = self.total_ms or 0.0
        if self.cached:
            return f"{kind}: {items} item(s) from cache in {total:.1f} ms"
        return (f"{kind}: {items} item(s) in {total:.0f} ms "
                f"(debounce {self.debounce_ms or 0:.0f}, queue {self.queue_ms or 0:.0f}, "
                f"prompt {self.prompt_tokens or 0} tok/{self.evaluated_tokens or 0} evaluated "
                f"{self.prompt_ms or 0:.0f} ms, {self.generated_tokens or 0} tok "
                f"{self.generation_ms or 0:.0f} ms, {model_calls} call(s))")
