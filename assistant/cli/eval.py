"""`starassist eval humaneval|infill`: scores through the product's completion path next to the raw model, and
`starassist eval --compare RUN_A RUN_B` for two runs."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import typer

from .app import cli_settings, command, load_engine


@command("eval")
def eval_(
    what: str = typer.Argument("humaneval", help="humaneval, or infill (tasks cut from HumanEval's solutions or "
                                                 "--corpus)."),
    kind: list[str] = typer.Option(["all"], help="infill: single-line, multi-line, random-span or all "
                                                 "(repeatable)."),
    corpus: Path | None = typer.Option(None, help="infill: cut tasks from your *.py files instead of HumanEval "
                                                  "(exact match and edit similarity; nothing runs)."),
    model: str | None = typer.Option(None, "--model", "-m"),
    limit: int | None = typer.Option(None, help="Only the first N problems (humaneval) or tasks per kind "
                                                "(infill): quick runs; CI uses 5."),
    max_tokens: int | None = typer.Option(None, help="Tokens generated per task [humaneval 256, single-line 48, "
                                                     "others: completion.max_tokens]."),
    per_source: int = typer.Option(1, min=1, help="infill: multi-line blocks and random spans drawn per problem "
                                                  "or file."),
    samples: int = typer.Option(1, min=1, help="Samples per task: pass@k for k ≤ N (unbiased estimator)."),
    temperature: float | None = typer.Option(None, help="Sampling temperature [0 = greedy for one sample, "
                                                        "0.2 for several]."),
    seed: int = typer.Option(0, help="Seed for sampling and for the multi-line / random-span task draw."),
    prompted: bool = typer.Option(False, help="humaneval: the StarCoder paper's prompted variant (a prefix that "
                                              "says a correct solution follows)."),
    out: Path | None = typer.Option(None, help="Folder for per-task JSON results and summaries; a rerun with "
                                               "the same settings resumes from it."),
    ablate: list[str] = typer.Option([], help="Also score the product with this post-processing rule off "
                                              "(repeatable; `all`: each rule in turn, and all of them)."),
    rescore: bool = typer.Option(False, help="Post-process cached product outputs again with the current rules "
                                             "(after a post-processing change; no new generation)."),
    threads: int | None = typer.Option(None, help="llama.cpp threads (on a busy machine 1 is often fastest)."),
    compare: tuple[Path, Path] | None = typer.Option(None, help="Compare two --out folders instead of running."),
    plot: Path | None = typer.Option(None, help="--compare: where to write the PNG [RUN_B/compare.png]."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Score the configured model through the product (prompt window, FIM format, healing, stop rules,
    post-processing) and through the raw model, side by side; model-written code runs in a sandbox."""
    from starassist.engine.errors import StarassistError
    from starassist.eval import tasks as T

    if compare is not None:
        _compare(compare, plot, as_json)
        return
    if what not in ("humaneval", "infill"):
        raise StarassistError(f"unknown evaluation {what!r} — available: humaneval, infill")
    kinds = _kinds(what, kind)
    rules = _rules(ablate)
    if corpus is not None and not corpus.is_dir():
        raise StarassistError(f"--corpus {corpus} is not a folder — pass a folder of .py files")
    sources = T.corpus_sources(corpus) if corpus is not None else T.humaneval_sources()
    temperature = temperature if temperature is not None else (0.0 if samples == 1 else 0.2)
    engine = load_engine(cli_settings(model__path=model, model__threads=threads))
    reports = {}
    for k in kinds:
        chosen = list(itertools.islice(T.tasks(k, sources, seed=seed, prompted=prompted,
                                                      per_source=per_source), limit))
        reports[k] = _run_kind(engine, k, chosen, corpus, max_tokens, samples, temperature, seed, prompted, out,
                               rules, rescore, as_json)
    if as_json:
        typer.echo(json.dumps({"model": engine.backend.info.name, "format": engine.format.name, "runs": reports},
                              indent=2))
        return
    from .eval_tables import print_reports

    print_reports(reports)


def _kinds(what: str, kind: list[str]) -> list[str]:
    from starassist.engine.errors import StarassistError
    from starassist.eval.tasks import INFILL_KINDS

    if what == "humaneval":
        return ["humaneval"]
    if "all" in kind:
        return list(INFILL_KINDS)
    bad = [k for k in kind if k not in INFILL_KINDS]
    if bad:
        raise StarassistError(f"unknown --kind {bad[0]!r} — choose from {', '.join(INFILL_KINDS)} or all")
    return [k for k in INFILL_KINDS if k in kind]


def _rules(ablate: list[str]) -> tuple[str, ...]:
    from starassist.engine.errors import StarassistError
    from starassist.engine.postprocess import RULES

    if "all" in ablate:
        return (*RULES, "all")
    bad = [r for r in ablate if r not in RULES]
    if bad:
        raise StarassistError(f"unknown --ablate rule {bad[0]!r} — rules: {', '.join(RULES)}, or all")
    return tuple(dict.fromkeys(ablate))


def _run_kind(engine, kind, chosen, corpus, max_tokens, samples, temperature, seed, prompted, out, rules,
              rescore, as_json) -> dict:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from starassist.engine.files import write_atomic
    from starassist.eval.pipelines import PIPELINES, Sampling
    from starassist.eval.runner import RunConfig, run
    from starassist.eval.summary import summarize
    from starassist.eval.tasks import MAX_TOKENS

    sampling = Sampling(max_tokens or MAX_TOKENS.get(kind) or engine.settings.completion.max_tokens, temperature, seed)
    config = RunConfig(kind, engine.backend.info.name, engine.format.name, sampling,
                       prompted and kind == "humaneval", str(corpus) if corpus else "humaneval")
    good = dict.fromkeys(PIPELINES, 0)

    def scoreline() -> str:
        return "  ".join(f"{p} {good[p]}" for p in PIPELINES) + (" passed" if corpus is None else " exact")

    start, cpu = time.perf_counter(), _cpu_seconds()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[score]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                  console=Console(stderr=True), disable=as_json) as progress:
        bar = progress.add_task(kind, total=len(chosen) * samples * len(PIPELINES), score=scoreline())

        def on_result(r) -> None:
            good[r.pipeline] += bool(r.passed if r.passed is not None else r.exact)
            progress.update(bar, advance=1, score=scoreline())

        results = run(engine, chosen, config, samples=samples, out=out, ablate_rules=rules,
                      rescore_cached=rescore, on_result=on_result)
    # CPU seconds next to wall seconds: on a shared machine the wall time says more about the neighbours.
    report = {**config.key(), "samples": samples, "seconds": round(time.perf_counter() - start, 1),
              "cpu_seconds": round(_cpu_seconds() - cpu, 1), "summary": summarize(results)}
    if out is not None:
        write_atomic(out / kind / "summary.json", json.dumps(report, indent=2))
    return report


def _cpu_seconds() -> float:
    """This process's CPU time and that of its finished children (the sandboxed programs)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _compare(runs: tuple[Path, Path], plot: Path | None, as_json: bool) -> None:
    from starassist.eval.compare import load_run, rows
    from starassist.eval.compare import plot as draw

    a, b = (load_run(folder) for folder in runs)
    table = rows(a, b)
    dest = plot or runs[1] / "compare.png"
    labels = (runs[0].name or str(runs[0]), runs[1].name or str(runs[1]))
    draw(table, labels, dest)
    if as_json:
        typer.echo(json.dumps({"runs": [str(r) for r in runs], "plot": str(dest),
                               "rows": [r.__dict__ for r in table]}, indent=2))
        return
    from .eval_tables import print_comparison

    print_comparison(table, labels, dest)
