"""The code the quantization report measures on: the bundled multi-language sample or the user's own code
(`--sample DIR|FILE`), and the fill-in-the-middle holes cut from it.

A hole is one line's code (after its indentation) or two consecutive lines, the way an editor asks for a
line or a small block; its prefix and suffix are the file's text around it, cut at line boundaries to fit a
token budget. Holes are chosen by a seeded generator, so a report is reproducible and two models always see
the same ones.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import QuantError

# Extensions read from a --sample folder, with the language they name (the report counts files per language).
LANGUAGES = {
    ".py": "Python", ".js": "JavaScript", ".mjs": "JavaScript", ".jsx": "JavaScript", ".ts": "TypeScript",
    ".tsx": "TypeScript", ".go": "Go", ".rs": "Rust", ".java": "Java", ".kt": "Kotlin", ".scala": "Scala",
    ".c": "C", ".h": "C", ".cc": "C++", ".cpp": "C++", ".hpp": "C++", ".cs": "C#", ".rb": "Ruby", ".php": "PHP",
    ".swift": "Swift", ".lua": "Lua", ".sh": "Shell", ".sql": "SQL", ".r": "R", ".jl": "Julia", ".hs": "Haskell",
    ".ex": "Elixir", ".erl": "Erlang", ".dart": "Dart", ".m": "Objective-C", ".pl": "Perl", ".zig": "Zig",
}
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", "build", "dist", "target",
             ".tox", ".mypy_cache", ".pytest_cache", "vendor", "third_party"}
MAX_FILE_BYTES = 100_000  # larger files are usually generated or data
MAX_FILES = 64  # a folder's files are sampled (seeded), not all read


@dataclass(frozen=True)
class CodeFile:
    path: str  # relative to the sample's root
    language: str
    text: str


@dataclass(frozen=True)
class CodeSample:
    source: str  # "bundled" or the path given
    files: tuple[CodeFile, ...]

    def languages(self) -> dict[str, int]:
        return dict(Counter(f.language for f in self.files).most_common())


def language_of(path: Path) -> str | None:
    """The language of a code file's name: `stack.py.txt` counts as Python (the last known extension wins)."""
    for suffix in reversed([s.lower() for s in path.suffixes]):
        if suffix in LANGUAGES:
            return LANGUAGES[suffix]
    return None


def _read(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text if text.strip() and "\x00" not in text else None


def bundled_sample() -> CodeSample:
    data = resources.files("starassist.quant").joinpath("data")
    files = []
    for entry in sorted(data.iterdir(), key=lambda e: e.name):
        if entry.name.startswith("sample."):
            files.append(CodeFile(entry.name, language_of(Path(entry.name)) or "text", entry.read_text("utf-8")))
    return CodeSample("bundled", tuple(files))


def load_sample(spec: str | None, *, seed: int = 0) -> CodeSample:
    """The bundled sample (None), one file, or up to MAX_FILES code files of a folder (hidden folders, vendored
    and build folders skipped; a seeded choice when there are more)."""
    if spec is None:
        return bundled_sample()
    root = Path(spec).expanduser()
    if root.is_file():
        text = _read(root)
        if text is None:
            raise QuantError(f"--sample {root}: not a UTF-8 text file of at most {MAX_FILE_BYTES // 1000} KB")
        return CodeSample(str(root), (CodeFile(root.name, language_of(root) or "text", text),))
    if not root.is_dir():
        raise QuantError(f"--sample {root}: no such file or folder — pass a folder of code or a code file")
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        found.extend(Path(folder) / n for n in sorted(names) if language_of(Path(n)))
    if len(found) > MAX_FILES:
        order = np.random.default_rng(seed).permutation(len(found))
        found = sorted(found[i] for i in order[: MAX_FILES * 2])  # spares for unreadable files
    files = []
    for path in found:
        text = _read(path)
        if text is not None:
            files.append(CodeFile(str(path.relative_to(root)), language_of(path) or "text", text))
        if len(files) == MAX_FILES:
            break
    if not files:
        raise QuantError(f"--sample {root}: no code files found (looked for {', '.join(sorted(LANGUAGES)[:6])}, …)")
    return CodeSample(str(root), tuple(files))


@dataclass(frozen=True)
class Hole:
    file: str
    language: str
    prefix: str
    middle: str
    suffix: str


def _candidates(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line's code: after the indentation, before the line break; lines with at least
    three letters or digits and at most 100 characters (not a lone brace, not a data row)."""
    out = []
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        code = body.lstrip()
        if 3 <= sum(ch.isalnum() for ch in code) and len(code) <= 100:
            out.append((pos + len(body) - len(code), pos + len(body)))
        pos += len(line)
    return out


def pick_holes(sample: CodeSample, count: int, *, seed: int = 0) -> list[Hole]:
    """`count` holes spread over the files (round robin), alternating one line and two lines."""
    rng = np.random.default_rng(seed)
    per_file = []
    for f in sample.files:
        lines = _candidates(f.text)
        per_file.append((f, lines, list(rng.permutation(len(lines)))))
    holes: list[Hole] = []
    while len(holes) < count and any(order for _, _, order in per_file):
        for f, lines, order in per_file:
            if not order or len(holes) >= count:
                continue
            i = int(order.pop())
            start, end = lines[i]
            if len(holes) % 2 and i + 1 < len(lines):  # two lines: through the end of the next candidate line
                nxt_start, nxt_end = lines[i + 1]
                if f.text.count("\n", end, nxt_start) == 1:
                    end = nxt_end
            holes.append(Hole(f.path, f.language, f.text[:start], f.text[start:end], f.text[end:]))
    return holes


def fit_prefix(prefix: str, budget: int, count: Callable[[str], int]) -> str:
    """The end of `prefix`, cut at a line start, that `count` says fits `budget` tokens (whole lines only;
    the hole's own line start is always kept)."""
    head, sep, last = prefix.rpartition("\n")
    if not sep:
        return last
    lines = (head + sep).splitlines(keepends=True)
    kept: list[str] = []
    used = count(last) if last else 0
    for line in reversed(lines[-4 * budget:]):
        used += count(line)
        if used > budget:
            break
        kept.append(line)
    return "".join(reversed(kept)) + last


def fit_suffix(suffix: str, budget: int, count: Callable[[str], int]) -> str:
    """The start of `suffix`, cut at a line end, that fits `budget` tokens (the rest of the hole's line is kept)."""
    first, sep, tail = suffix.partition("\n")
    kept = [first + sep]
    used = count(kept[0])
    for line in tail.splitlines(keepends=True)[: 4 * budget]:
        used += count(line)
        if used > budget:
            break
        kept.append(line)
    return "".join(kept)
