"""Prompt data shipped with starassist, and the one loader that parses it.

`tech_assistant.txt`: a preamble describing the assistant, then example dialogues, each block separated by a
line holding only the rule `-----`; turns start with `Human:` or `Assistant:` at the beginning of a line.
`tasks.toml`: the explain and modify templates.
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass
from importlib import resources
from typing import Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

RULE = "-----"
HUMAN = "Human:"
ASSISTANT = "Assistant:"

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class Turn:
    role: Role
    content: str


@dataclass(frozen=True)
class TaskTemplate:
    question: str
    answer_prefix: str = ""
    # Worked examples: placeholder values plus the expected `answer`.
    examples: tuple[dict[str, str], ...] = ()

    def render(self, **values: str) -> tuple[str, str]:
        """(question, answer prefix) with `{name}` placeholders filled; other braces are left alone."""
        return fill(self.question, values), fill(self.answer_prefix, values)

    def example_turns(self) -> list[Turn]:
        """The worked examples as earlier turns of a conversation."""
        turns = []
        for example in self.examples:
            values = {k: v for k, v in example.items() if k != "answer"}
            turns += [Turn("user", fill(self.question, values)), Turn("assistant", example["answer"])]
        return turns


@dataclass(frozen=True)
class PromptSet:
    preamble: str
    examples: tuple[tuple[Turn, ...], ...]
    explain: TaskTemplate
    modify: TaskTemplate


def fill(template: str, values: dict[str, str]) -> str:
    """Replace `{name}` for the given names only, so code or JSON braces in a template need no escaping."""
    if not values:
        return template
    pattern = re.compile("|".join(re.escape("{" + k + "}") for k in values))
    return pattern.sub(lambda m: values[m.group(0)[1:-1]], template)


_TURN_START = re.compile(rf"^({re.escape(HUMAN)}|{re.escape(ASSISTANT)})[ \t]?", re.MULTILINE)


def parse_dialogue(block: str) -> tuple[Turn, ...]:
    """Turns of one example dialogue. A line starting with `Human:`/`Assistant:` opens a new turn."""
    marks = list(_TURN_START.finditer(block))
    if not marks or block[: marks[0].start()].strip():
        raise ValueError(f"an example dialogue must start with {HUMAN!r}: {block[:60]!r}")
    turns = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(block)
        role: Role = "user" if mark.group(1) == HUMAN else "assistant"
        turns.append(Turn(role, block[mark.end() : end].strip()))
    if turns[0].role != "user":
        raise ValueError(f"an example dialogue must start with {HUMAN!r}: {block[:60]!r}")
    for prev, cur in zip(turns, turns[1:], strict=False):
        if prev.role == cur.role:
            raise ValueError(f"example dialogue has two {cur.role} turns in a row: {cur.content[:60]!r}")
    if turns[-1].role != "assistant":
        raise ValueError("an example dialogue must end with an Assistant turn")
    return tuple(turns)


def parse_tech_assistant(text: str) -> tuple[str, tuple[tuple[Turn, ...], ...]]:
    """(preamble, example dialogues) from the Tech Assistant file."""
    blocks = re.split(rf"^{re.escape(RULE)}[ \t]*$", text.replace("\r\n", "\n"), flags=re.MULTILINE)
    preamble = blocks[0].strip()
    if not preamble:
        raise ValueError("the Tech Assistant prompt has no preamble")
    return preamble, tuple(parse_dialogue(b.strip()) for b in blocks[1:] if b.strip())


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _task(table: dict) -> TaskTemplate:
    examples = tuple(dict(e) for e in table.get("examples", ()))
    return TaskTemplate(question=table["question"], answer_prefix=table.get("answer_prefix", ""), examples=examples)


@functools.lru_cache(maxsize=1)
def load_prompts() -> PromptSet:
    """The shipped prompts, parsed once."""
    preamble, examples = parse_tech_assistant(_read("tech_assistant.txt"))
    tasks = tomllib.loads(_read("tasks.toml"))
    return PromptSet(
        preamble=preamble,
        examples=examples,
        explain=_task(tasks["explain"]),
        modify=_task(tasks["modify"]),
    )


__all__ = ["RULE", "PromptSet", "TaskTemplate", "Turn", "fill", "load_prompts", "parse_dialogue", "parse_tech_assistant"]
