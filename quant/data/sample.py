"""A small, ordinary piece of Python used as the default text for `starassist quantize --report`.

It mixes the things code models see every day: imports, classes, comprehensions, string formatting,
numbers, error handling and docstrings.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Inventory:
    """Items on the shelves of a small shop, by name."""

    items: dict[str, int] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, count: int = 1, price: float | None = None) -> None:
        if count <= 0:
            raise ValueError(f"count must be positive, got {count}")
        self.items[name] = self.items.get(name, 0) + count
        if price is not None:
            self.prices[name] = price

    def remove(self, name: str, count: int = 1) -> bool:
        have = self.items.get(name, 0)
        if have < count:
            return False
        if have == count:
            del self.items[name]
        else:
            self.items[name] = have - count
        return True

    def total_value(self) -> float:
        return sum(self.prices.get(name, 0.0) * count for name, count in self.items.items())

    def to_json(self) -> str:
        return json.dumps({"items": self.items, "prices": self.prices}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Inventory:
        data = json.loads(text)
        return cls(items=dict(data["items"]), prices=dict(data["prices"]))


def word_counts(path: Path, top: int = 10) -> list[tuple[str, int]]:
    """The most common identifiers in a source file."""
    counter: Counter[str] = Counter()
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.lstrip().startswith("#"):
                continue
            counter.update(WORD.findall(line))
    return counter.most_common(top)


def group_by_extension(paths: list[Path]) -> dict[str, list[Path]]:
    groups: defaultdict[str, list[Path]] = defaultdict(list)
    for p in sorted(paths):
        groups[p.suffix or "<none>"].append(p)
    return dict(groups)


def fibonacci(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True


def binary_search(values: list[int], target: int) -> int:
    lo, hi = 0, len(values) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if values[mid] == target:
            return mid
        if values[mid] < target:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1


def format_table(rows: list[dict[str, object]]) -> str:
    if not rows:
        return ""
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    header = "  ".join(c.ljust(widths[c]) for c in columns)
    lines = [header, "  ".join("-" * widths[c] for c in columns)]
    for row in rows:
        lines.append("  ".join(str(row[c]).ljust(widths[c]) for c in columns))
    return "\n".join(lines)


if __name__ == "__main__":
    shop = Inventory()
    shop.add("apple", 3, 0.5)
    shop.add("pear", 2, 0.75)
    print(f"total: {shop.total_value():.2f}")
    print([n for n in range(30) if is_prime(n)])
    print(fibonacci(20), binary_search([1, 3, 5, 7, 9], 7))
