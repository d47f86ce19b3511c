"""Recent completions, so repeating a request or typing through a shown suggestion needs no model call.

An entry remembers the text before and after the cursor it was computed for. A later request matches when the
text after the cursor is unchanged and the text before it is the old one plus the start of the suggestion: the
user typed what was shown, and the rest of the suggestion is still the answer.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedSuggestion:
    before: str  # document text before the cursor when computed
    after: str  # document text after the cursor
    items: tuple[str, ...]  # completions, best first (each non-empty)
    prefetched: bool = False  # computed ahead by the prefetch, not for a request


class SuggestionCache:
    """Per-document most-recent-first entries; bounded overall by `size`."""

    def __init__(self, size: int = 256, per_document: int = 8) -> None:
        self.size = size
        self.per_document = per_document
        self._entries: OrderedDict[tuple[str, int], CachedSuggestion] = OrderedDict()
        self._serial = 0
        self.hits = 0
        self.prefetched_hits = 0  # of `hits`, answered by an entry the prefetch made

    def put(self, uri: str, before: str, after: str, items: list[str], *, prefetched: bool = False) -> None:
        items = [t for t in items if t]
        if self.size <= 0 or not items:
            return
        self._serial += 1
        self._entries[(uri, self._serial)] = CachedSuggestion(before, after, tuple(items), prefetched)
        mine = [k for k in self._entries if k[0] == uri]
        for key in mine[: max(0, len(mine) - self.per_document)]:
            del self._entries[key]
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def get(self, uri: str, before: str, after: str) -> list[str] | None:
        """Remainders of cached suggestions that the text before the cursor is consistent with, or None."""
        found = self.lookup(uri, before, after)
        return None if found is None else found[0]

    def lookup(self, uri: str, before: str, after: str, *, count: bool = True) -> tuple[list[str], bool] | None:
        """(remainders, whether the prefetch made the entry), or None. `count=False` only looks: no hit is
        counted and the entry keeps its age."""
        for key in reversed([k for k in self._entries if k[0] == uri]):
            entry = self._entries[key]
            if entry.after != after or not before.startswith(entry.before):
                continue
            typed = before[len(entry.before) :]
            rest = [item[len(typed) :] for item in entry.items if item.startswith(typed) and len(item) > len(typed)]
            if rest:
                if count:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    self.prefetched_hits += entry.prefetched
                return rest, entry.prefetched
        return None

    def forget(self, uri: str) -> None:
        for key in [k for k in self._entries if k[0] == uri]:
            del self._entries[key]
