"""Local acceptance telemetry: counts and latencies in a JSON file under the data directory. Nothing leaves
the machine. The file is rewritten atomically, at most every few seconds and at exit."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starassist.engine.files import write_atomic
from starassist.engine.numbers import percentile
from starassist.engine.settings import data_dir

MAX_LATENCIES = 2000


def stats_path() -> Path:
    return data_dir() / "stats.json"


@dataclass
class Stats:
    shown: int = 0  # responses that offered at least one suggestion
    accepted: int = 0
    cache_hits: int = 0
    model_latencies_ms: list[float] = field(default_factory=list)  # requests answered by a model call
    cached_latencies_ms: list[float] = field(default_factory=list)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.shown if self.shown else 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        def nums(key: str) -> list[float]:
            return [float(x) for x in data.get(key, []) if isinstance(x, (int, float))][-MAX_LATENCIES:]

        return cls(
            shown=int(data.get("shown", 0)),
            accepted=int(data.get("accepted", 0)),
            cache_hits=int(data.get("cache_hits", 0)),
            model_latencies_ms=nums("model_latencies_ms"),
            cached_latencies_ms=nums("cached_latencies_ms"),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "shown": self.shown,
            "accepted": self.accepted,
            "cache_hits": self.cache_hits,
            "model_latencies_ms": [round(x, 1) for x in self.model_latencies_ms[-MAX_LATENCIES:]],
            "cached_latencies_ms": [round(x, 1) for x in self.cached_latencies_ms[-MAX_LATENCIES:]],
        }


def load(path: Path) -> Stats:
    try:
        return Stats.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return Stats()
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
        return Stats()  # a damaged stats file is not worth an error; it is rewritten on the next flush


class StatsRecorder:
    """In-memory counters merged into the stats file (other editor sessions may write it too)."""

    def __init__(self, path: Path | None = None, flush_every_s: float = 5.0) -> None:
        self.path = path or stats_path()
        self.flush_every_s = flush_every_s
        self._pending = Stats()
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def shown(self, latency_ms: float, cached: bool) -> None:
        with self._lock:
            self._pending.shown += 1
            if cached:
                self._pending.cache_hits += 1
                self._pending.cached_latencies_ms.append(latency_ms)
            else:
                self._pending.model_latencies_ms.append(latency_ms)
        self._maybe_flush()

    def accepted(self) -> None:
        with self._lock:
            self._pending.accepted += 1
        self.flush()

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, Stats()
            self._last_flush = time.monotonic()
        if not (pending.shown or pending.accepted):
            return
        try:
            total = load(self.path)
            total.shown += pending.shown
            total.accepted += pending.accepted
            total.cache_hits += pending.cache_hits
            total.model_latencies_ms = (total.model_latencies_ms + pending.model_latencies_ms)[-MAX_LATENCIES:]
            total.cached_latencies_ms = (total.cached_latencies_ms + pending.cached_latencies_ms)[-MAX_LATENCIES:]
            write_atomic(self.path, json.dumps(total.as_dict()))
        except OSError:
            pass  # telemetry must never break completion


def summary(stats: Stats) -> dict[str, Any]:
    out: dict[str, Any] = {
        "shown": stats.shown,
        "accepted": stats.accepted,
        "acceptance_rate": round(stats.acceptance_rate, 4),
        "cache_hits": stats.cache_hits,
    }
    for name, values in (("model_latency_ms", stats.model_latencies_ms), ("cached_latency_ms", stats.cached_latencies_ms)):
        out[name] = {f"p{q}": percentile(values, q) for q in (50, 90, 99)} | {"count": len(values)}
    return out
