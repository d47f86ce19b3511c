"""The two ways a task is completed.

Product: the document + cursor through `CompletionEngine.complete` — prompt window, the model's FIM format (the
prefix alone for left-to-right models), token healing, stop rules, post-processing. Raw: the same prompt tokens
the product builds (before healing), no post-processing; single-line tasks stop at the first line break, the
others at the standard HumanEval stop sequences.
"""

from __future__ import annotations

from dataclasses import dataclass

from starassist.engine.backend import GenerationParams
from starassist.engine.completion import CompletionEngine, CompletionRequest

from .scoring import HUMANEVAL_STOPS, truncate_at_stops
from .tasks import Task

PIPELINES = ("product", "raw")


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float = 0.0  # 0 = greedy
    seed: int = 0

    def seed_for(self, sample: int) -> int:
        # llama.cpp's backend reseeds only on a non-zero seed: keep every sample's seed non-zero and distinct.
        return self.seed * 100_003 + sample + 1


@dataclass(frozen=True)
class Generated:
    completion: str  # what is scored
    raw: str  # what the model produced (product: before post-processing)
    prefix_chars: int  # how much text before the cursor post-processing saw
    multiline: bool


def _request(task: Task, sampling: Sampling, sample: int) -> CompletionRequest:
    return CompletionRequest(text=task.prefix + task.suffix, offset=len(task.prefix), path=task.path,
                             multiline=task.multiline, max_tokens=sampling.max_tokens,
                             temperature=sampling.temperature, seed=sampling.seed_for(sample))


def product(engine: CompletionEngine, task: Task, sampling: Sampling, sample: int = 0) -> Generated:
    done = engine.complete(_request(task, sampling, sample))
    return Generated(done.text, done.raw, done.before_chars, done.multiline)


def raw(engine: CompletionEngine, task: Task, sampling: Sampling, sample: int = 0) -> Generated:
    request = _request(task, sampling, sample)
    win = engine.make_window(request, sampling.max_tokens)
    prompt = engine.build(request, win)
    single = task.multiline is False
    params = GenerationParams(max_tokens=sampling.max_tokens, temperature=sampling.temperature,
                              stop_ids=frozenset(engine.backend.info.eog_ids),
                              stop_strings=("\n",) if single else HUMANEVAL_STOPS, seed=sampling.seed_for(sample))
    text = engine.backend.generate(prompt, params).text
    completion = text.split("\n", 1)[0] if single else truncate_at_stops(text)
    return Generated(completion, text, len(win.prefix), not single)


MAKERS = {"product": product, "raw": raw}
