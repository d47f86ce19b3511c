"""Run tasks through both pipelines, score them, cache one JSON per task and sample, and re-score the product's
own model output with post-processing rules turned off (the ablation: no new generation needed).

Layout under `--out DIR`: `DIR/<kind>/run.json` (the settings the cached results were made with: a rerun with
other settings is refused, a rerun with the same ones resumes) and `DIR/<kind>/<pipeline>/<task>[.s<n>].json`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from starassist.engine.completion import AFTER_CHARS, BEFORE_CHARS, CompletionEngine
from starassist.engine.errors import StarassistError
from starassist.engine.files import write_atomic
from starassist.engine.postprocess import RULES, postprocess

from .pipelines import MAKERS, PIPELINES, Generated, Sampling
from .sandbox import Limits, Outcome, run_program
from .scoring import edit_similarity, exact_match
from .tasks import Task


@dataclass
class Result:
    task_id: str
    kind: str
    pipeline: str
    sample: int
    completion: str
    passed: bool | None  # None: nothing executed (a corpus task)
    exact: bool | None  # None: HumanEval (many bodies are correct)
    similarity: float | None
    status: str  # "passed", "failed", "timeout", "not run"
    detail: str = ""
    raw: str = ""
    prefix_chars: int = 0
    multiline: bool = False
    # rule -> {"completion", "passed", "exact", "similarity"} with that post-processing rule off (product only)
    ablation: dict[str, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    kind: str
    model: str
    format: str
    sampling: Sampling
    prompted: bool = False
    source: str = "humaneval"

    def key(self) -> dict:
        return {"kind": self.kind, "model": self.model, "format": self.format, "prompted": self.prompted,
                "source": self.source, **asdict(self.sampling)}


class Executor:
    """Runs a task's programs in the sandbox, once per distinct completion (the product, the raw model and the
    ablated variants often agree). The canonical middle itself is known to pass and is not run."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits
        self._task_id = ""
        self._seen: dict[str, Outcome] = {}

    def outcome(self, task: Task, completion: str) -> Outcome:
        if task.task_id != self._task_id:
            self._task_id, self._seen = task.task_id, {}
        if completion == task.middle:
            return Outcome(True, "passed", "")
        if completion not in self._seen:
            self._seen[completion] = run_program(task.program(completion), self.limits)
        return self._seen[completion]


def score(task: Task, completion: str, executor: Executor) -> dict:
    """passed / exact / similarity / status / detail of one completion of `task`."""
    out: dict = {"exact": None, "similarity": None, "passed": None, "status": "not run", "detail": ""}
    if task.kind != "humaneval":
        out["exact"] = exact_match(completion, task.middle)
        out["similarity"] = edit_similarity(completion.strip(), task.middle.strip())
    if task.check:
        outcome = executor.outcome(task, completion)
        out.update(passed=outcome.passed, status=outcome.status, detail=outcome.detail)
    return out


def _postprocess_again(
    task: Task, result: Result, skip: frozenset[str] = frozenset(), specials: Sequence[str] = ()
) -> str:
    """The product's post-processing of its cached model output, as `CompletionEngine.complete` ran it."""
    # As much of the text before the cursor as the engine gives post-processing (results cached before it gave
    # more than the window recorded the window's length).
    chars = max(BEFORE_CHARS, result.prefix_chars)
    prefix = task.prefix[max(0, len(task.prefix) - chars) :]
    return postprocess(result.raw, prefix, task.suffix[:AFTER_CHARS], multiline=result.multiline,
                       specials=specials, skip=skip)


def rescore(task: Task, result: Result, executor: Executor, specials: Sequence[str] = ()) -> bool:
    """Post-process a cached product result again with the current rules (generation does not depend on them,
    so this is what a new run would give); True when its completion changed."""
    text = _postprocess_again(task, result, specials=specials)
    if text == result.completion:
        return False
    scored = score(task, text, executor)
    result.completion, result.ablation = text, {}
    for name, value in scored.items():
        setattr(result, name, value)
    return True


def ablate(
    task: Task, result: Result, rules: Iterable[str], executor: Executor, specials: Sequence[str] = ()
) -> None:
    """Add to `result.ablation` the product's score with each of `rules` turned off (the same model output
    post-processed again)."""
    for rule in rules:
        if rule in result.ablation:
            continue
        skip = frozenset(RULES) if rule == "all" else frozenset({rule})
        text = _postprocess_again(task, result, skip, specials)
        scored = score(task, text, executor)
        result.ablation[rule] = {"completion": text, "passed": scored["passed"], "exact": scored["exact"],
                                 "similarity": scored["similarity"]}


def _file_name(task_id: str, sample: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", task_id)
    return safe + (f".s{sample}" if sample else "") + ".json"


class Cache:
    """Per-task results under `root/<kind>`; no root = nothing stored."""

    def __init__(self, root: Path | None, config: RunConfig) -> None:
        self.dir = None if root is None else root / config.kind
        if self.dir is None:
            return
        stamp = self.dir / "run.json"
        if stamp.exists():
            old = json.loads(stamp.read_text(encoding="utf-8"))
            if old != config.key():
                diff = ", ".join(f"{k}: {old.get(k)!r} → {v!r}" for k, v in config.key().items() if old.get(k) != v)
                raise StarassistError(f"{self.dir} holds results made with other settings ({diff}) — "
                                      "pass another --out folder or remove that one")
        else:
            os.makedirs(self.dir, exist_ok=True)
            write_atomic(stamp, json.dumps(config.key(), indent=1))

    def _path(self, pipeline: str, task_id: str, sample: int) -> Path | None:
        return None if self.dir is None else self.dir / pipeline / _file_name(task_id, sample)

    def load(self, pipeline: str, task_id: str, sample: int) -> Result | None:
        path = self._path(pipeline, task_id, sample)
        if path is None or not path.exists():
            return None
        return Result(**json.loads(path.read_text(encoding="utf-8")))

    def store(self, result: Result) -> None:
        path = self._path(result.pipeline, result.task_id, result.sample)
        if path is not None:
            os.makedirs(path.parent, exist_ok=True)
            write_atomic(path, json.dumps(asdict(result), indent=1))


def run(
    engine: CompletionEngine,
    tasks: Iterable[Task],
    config: RunConfig,
    *,
    samples: int = 1,
    out: Path | None = None,
    ablate_rules: tuple[str, ...] = (),
    rescore_cached: bool = False,
    limits: Limits | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Each task × sample × pipeline, from the cache when it is there (an interrupted run resumes)."""
    cache = Cache(out, config)
    executor = Executor(limits)
    results = []
    for task in tasks:
        for sample in range(samples):
            for pipeline in PIPELINES:
                result = cache.load(pipeline, task.task_id, sample)
                if result is None:
                    made: Generated = MAKERS[pipeline](engine, task, config.sampling, sample)
                    scored = score(task, made.completion, executor)
                    result = Result(task.task_id, task.kind, pipeline, sample, made.completion,
                                    raw=made.raw, prefix_chars=made.prefix_chars, multiline=made.multiline,
                                    **scored)
                    cache.store(result)
                elif pipeline == "product" and rescore_cached:
                    changed = rescore(task, result, executor, engine.specials)
                    if ablate_rules and result.ablation:
                        result.ablation, changed = {}, True  # scored with the old rules: score it again below
                    if changed:
                        cache.store(result)
                if pipeline == "product" and any(r not in result.ablation for r in ablate_rules):
                    ablate(task, result, ablate_rules, executor, engine.specials)
                    cache.store(result)
                results.append(result)
                if on_result:
                    on_result(result)
    return results
