"""What a quantization traded, measured the way a FIM product uses the model.

- FIM agreement: holes cut from a code sample of several languages (`samples`), each laid out in the model's
  own FIM format (`starassist.engine.fim`, PSM and SPM where the format has both) and scored on the middle
  only: top-1 agreement with the reference at every middle position (teacher-forced on the true middle and
  its end token), and under greedy decoding how often the middle comes out exactly as the reference's, and
  exactly as the true one.
- Left-to-right: top-1 agreement and perplexity over the sample's files, as before.
- Speed: prompt processing and generation timed separately, through the product's backend, after a warm-up.
Every rate comes with its sample size and a 95% interval (`intervals`). Size is compared with F16.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import QuantError
from .evaluate import Middle, Speed, TokenStats, greedy_middles, token_stats
from .intervals import clustered_rate, perplexity, proportion
from .samples import CodeSample, Hole, fit_prefix, fit_suffix, pick_holes

DEFAULT_HOLES = 48  # FIM holes; each is measured in every mode of the format (PSM and SPM: 96 examples)
MAX_CONTEXT = 1024  # report context: FIM prompts stay well inside it; logits for all positions stay small
L2R_TOKENS = 2048  # left-to-right positions measured, spread over the sample's files
BLOCK = 32  # left-to-right positions per cluster (neighbouring positions are not independent)
Note = Callable[[str], None]


@dataclass(frozen=True)
class ReferenceInfo:
    label: str  # "F16", or "source (Q8_0)" when a GGUF was quantized again
    path: Path
    f16_bytes: int  # what the model weighs in F16 (size column)
    requantized: str | None = None  # the source's own quantization, when it had one


@dataclass(frozen=True)
class FimExample:
    hole: Hole
    mode: str
    prompt: list[int]
    target: list[int]  # the middle's tokens and the end token


@dataclass
class Plan:
    """What every model of the report is run on (built once, from the reference's vocabulary)."""

    n_ctx: int
    fim_format: str
    modes: tuple[str, ...]
    examples: list[FimExample]
    l2r: list[list[int]]
    stop_ids: frozenset[int]
    max_middle: int

    def timing_prompts(self) -> list[list[int]]:
        if self.examples:
            return [ex.prompt for ex in self.examples]
        return [seq[: len(seq) // 2] for seq in self.l2r[:8] if len(seq) > 8]


def check_candidates(paths: Sequence[Path]) -> None:
    for p in paths:
        if not p.is_file() or p.suffix.lower() != ".gguf":
            raise QuantError(f"--compare {p}: not a .gguf file")


def _same_vocabulary(reference: Path, other: Path) -> None:
    from starassist.engine.gguf_file import read_gguf

    keys = ("tokenizer.ggml.tokens",)
    if read_gguf(reference, arrays=keys).tokens != read_gguf(other, arrays=keys).tokens:
        raise QuantError(f"{other} has another vocabulary than {reference} — compare quantizations of one model")


def make_plan(reference: Path, sample: CodeSample, holes: int) -> Plan:
    from starassist.engine.backends.llama_cpp import LlamaVocab
    from starassist.engine.fim import FimRequest, build_prompt, detect_format
    from starassist.engine.gguf_file import read_gguf

    n_ctx = min(read_gguf(reference).context_length or MAX_CONTEXT, MAX_CONTEXT)
    vocab = LlamaVocab(reference)
    try:
        special = vocab.special_tokens
        bos = [vocab.bos_id] if vocab.add_bos and vocab.bos_id is not None and vocab.bos_id >= 0 else []
        per_file = max(2, L2R_TOKENS // max(1, len(sample.files)))
        l2r = []
        for f in sample.files:
            ids = vocab.tokenize(f.text)[: per_file]
            step = n_ctx - len(bos)
            l2r += [bos + ids[i : i + step] for i in range(0, len(ids), step) if len(ids[i : i + step]) > 1]
        if not l2r:
            raise QuantError("the report sample is too short — pass --sample with some code")
        fmt = detect_format(lambda t: t in special)
        stops = [special[t] for t in fmt.stops if t in special]
        max_middle = min(64, n_ctx // 8)
        examples: list[FimExample] = []
        modes: tuple[str, ...] = ()
        if fmt.fim and stops:
            modes = ("psm", "spm") if fmt.spm else ("psm",)

            def count(text: str) -> int:
                return len(vocab.tokenize(text))

            for hole in pick_holes(sample, holes):
                middle = vocab.tokenize(hole.middle)
                if not middle or len(middle) > max_middle:
                    continue
                request = FimRequest(prefix=fit_prefix(hole.prefix, int(n_ctx * 0.45), count),
                                     suffix=fit_suffix(hole.suffix, int(n_ctx * 0.2), count))
                for mode in modes:
                    prompt = build_prompt(fmt, request, mode=mode, tokenize=vocab.tokenize,  # type: ignore[arg-type]
                                          special_ids=special, bos=bos)
                    examples.append(FimExample(hole, mode, prompt, middle + [stops[0]]))
        return Plan(n_ctx, fmt.name, modes, examples, l2r, frozenset(stops) | vocab.eog_ids, max_middle)
    finally:
        vocab.close()


@dataclass
class Measured:
    stats: TokenStats
    middles: list[Middle]
    speed: Speed


def measure(path: Path, plan: Plan, threads: int | None) -> Measured:
    sequences = plan.l2r + [ex.prompt + ex.target for ex in plan.examples]
    starts = [0] * len(plan.l2r) + [len(ex.prompt) - 1 for ex in plan.examples]
    stats = token_stats(path, sequences, n_ctx=plan.n_ctx, threads=threads, starts=starts)
    middles, speed = greedy_middles(path, plan.timing_prompts(), stop_ids=plan.stop_ids,
                                    max_tokens=plan.max_middle + 8, n_ctx=plan.n_ctx, threads=threads)
    return Measured(stats, middles if plan.examples else [], speed)


def _blocks(values: np.ndarray) -> list[np.ndarray]:
    return [values[i : i + BLOCK] for i in range(0, len(values), BLOCK)]


def _fim_rates(plan: Plan, ref: Measured, m: Measured, ref_parts, parts, pick: Callable[[FimExample], bool]
               ) -> dict:
    skip = len(plan.l2r)
    chosen = [i for i, ex in enumerate(plan.examples) if pick(ex)]
    agree = [int((ref_parts[skip + i] == parts[skip + i]).sum()) for i in chosen]
    counts = [len(parts[skip + i]) for i in chosen]
    exact = [m.middles[i].stopped and m.middles[i].text == plan.examples[i].hole.middle for i in chosen]
    same = [m.middles[i].stopped == ref.middles[i].stopped and m.middles[i].text == ref.middles[i].text
            for i in chosen]
    return {"top1_agreement": clustered_rate(agree, counts).as_dict(),
            "same_middle_as_reference": proportion(same).as_dict(),
            "exact_middle": proportion(exact).as_dict()}


def _row(label: str, path: Path, plan: Plan, ref: Measured, m: Measured, f16_bytes: int) -> dict:
    from starassist.engine.gguf_file import read_gguf

    info = read_gguf(path)
    ref_parts = ref.stats.split(ref.stats.argmax)
    parts = m.stats.split(m.stats.argmax)
    nll = m.stats.split(-m.stats.logprob)
    hits, counts, sums = [], [], []
    for i in range(len(plan.l2r)):
        for a, b, c in zip(_blocks(ref_parts[i]), _blocks(parts[i]), _blocks(nll[i]), strict=True):
            hits.append(int((a == b).sum()))
            counts.append(len(a))
            sums.append(float(c.sum()))
    row = {
        "model": label,
        "path": str(path),
        "quantization": info.quantization,
        "tensor_types": dict(sorted(info.tensor_types.items(), key=lambda kv: -kv[1])),
        "size_mb": round(info.file_size / 2**20, 2),
        "size_vs_f16": round(info.file_size / f16_bytes, 3) if f16_bytes else None,
        "fim": None,
        "left_to_right": {"top1_agreement": clustered_rate(hits, counts).as_dict(),
                          "perplexity": perplexity(sums, counts).as_dict()},
        "speed": {"prompt_tokens_per_s": round(m.speed.prompt_tokens_per_s, 1),
                  "gen_tokens_per_s": round(m.speed.gen_tokens_per_s, 1), "prompts": m.speed.prompts,
                  "prompt_tokens": m.speed.prompt_tokens, "generated_tokens": m.speed.generated_tokens},
    }
    if plan.examples:
        row["fim"] = _fim_rates(plan, ref, m, ref_parts, parts, lambda ex: True)
        row["fim"]["by_mode"] = {mode: _fim_rates(plan, ref, m, ref_parts, parts, lambda ex, mo=mode: ex.mode == mo)
                                 for mode in plan.modes}
    return row


def build_report(reference: ReferenceInfo, candidates: Sequence[tuple[str, Path]], *, sample: CodeSample,
                 threads: int | None = None, holes: int | None = None, note: Note | None = None) -> dict:
    """The report for the reference and each (label, path) candidate; JSON-ready. Models run one at a time."""
    for _, path in candidates:
        _same_vocabulary(reference.path, path)
    plan = make_plan(reference.path, sample, holes or DEFAULT_HOLES)
    models = [(reference.label, reference.path), *candidates]
    measured: list[Measured] = []
    for label, path in models:
        if note:
            note(f"measuring {label}: {len(plan.examples)} FIM examples, {len(plan.l2r)} left-to-right sequences")
        measured.append(measure(path, plan, threads))
    ref = measured[0]
    rows = [_row(label, path, plan, ref, m, reference.f16_bytes) for (label, path), m in zip(models, measured,
                                                                                            strict=True)]
    by_mode = {mode: sum(1 for ex in plan.examples if ex.mode == mode) for mode in plan.modes}
    return {
        "version": 2,
        "confidence": 0.95,
        "reference": {"label": reference.label, "path": str(reference.path), "requantized_from": reference.requantized,
                      "note": (f"the reference is itself {reference.requantized}: the loss of that quantization "
                               "is not measured here") if reference.requantized else None},
        "sample": {"source": sample.source, "files": len(sample.files), "languages": sample.languages()},
        "context": plan.n_ctx,
        "fim": {"format": plan.fim_format, "modes": list(plan.modes), "examples": len(plan.examples),
                "by_mode": by_mode, "middle_tokens": int(sum(len(ex.target) for ex in plan.examples))}
        if plan.examples else None,
        "left_to_right": {"sequences": len(plan.l2r), "positions": int(sum(len(s) - 1 for s in plan.l2r))},
        "rows": rows,
    }


def pct(rate: dict | None) -> str:
    """"99.6% (99.1–99.8)": the rate and its 95% interval, in percent."""
    if not rate or rate["rate"] != rate["rate"]:
        return "–"
    return f"{100 * rate['rate']:.1f}% ({100 * rate['low']:.1f}–{100 * rate['high']:.1f})"


def tensor_summary(types: dict[str, int]) -> str:
    """The weight types of a file, most common first (F32 norms and biases left out)."""
    ordered = sorted(types.items(), key=lambda kv: (-kv[1], kv[0]))
    return " ".join(f"{t}×{n}" for t, n in ordered if t != "F32") or "F32"


def report_lines(report: dict) -> tuple[str, list[str], list[list[str]]]:
    """(title, header, rows) of the report as a table with one column per model: the terminal's table and the
    README's come from here."""
    fim, l2r = report["fim"], report["left_to_right"]
    fim_part = (f"FIM: {fim['examples']} middles, {fim['middle_tokens']} tokens ({fim['format']} format, "
                f"{'+'.join(m.upper() for m in fim['modes'])})") if fim else "FIM: none (the model has no FIM tokens)"
    title = (f"Quality report — {fim_part}; left-to-right (L2R): {l2r['positions']} positions; sample: "
             f"{report['sample']['source']} ({report['sample']['files']} files); 95% intervals. Same middle: "
             "greedy FIM output identical to the reference's; exact middle: identical to the true middle")
    rows = report["rows"]
    header = ["", *(r["model"] if r["model"] == r["quantization"] else f"{r['model']} ({r['quantization']})"
                    for r in rows)]

    def line(name: str, cell: Callable[[int, dict], str]) -> list[str]:
        return [name, *(cell(i, r) for i, r in enumerate(rows))]

    def agree(get: Callable[[dict], dict | None]) -> Callable[[int, dict], str]:
        return lambda i, r: "reference" if i == 0 else pct(get(r))

    def ppl(i: int, r: dict) -> str:
        p = r["left_to_right"]["perplexity"]
        digits = 3 if p["high"] < 100 else 0
        return f"{p['value']:.{digits}f} ({p['low']:.{digits}f}–{p['high']:.{digits}f})"

    table = [
        line("size", lambda i, r: f"{r['size_mb']:.1f} MB"),
        line("size vs F16", lambda i, r: f"{r['size_vs_f16']:.2f}×" if r["size_vs_f16"] else "–"),
        line("tensors", lambda i, r: tensor_summary(r["tensor_types"])),
    ]
    if fim:
        table += [
            line("FIM top-1 agree", agree(lambda r: r["fim"]["top1_agreement"])),
            line("FIM same middle", agree(lambda r: r["fim"]["same_middle_as_reference"])),
            line("FIM exact middle", lambda i, r: pct(r["fim"]["exact_middle"])),
        ]
    table += [
        line("L2R top-1 agree", agree(lambda r: r["left_to_right"]["top1_agreement"])),
        line("perplexity", ppl),
        line("prompt tok/s", lambda i, r: f"{r['speed']['prompt_tokens_per_s']:.0f}"),
        line("gen tok/s", lambda i, r: f"{r['speed']['gen_tokens_per_s']:.0f}"),
    ]
    return title, header, table


def print_report(report: dict, console) -> None:
    from rich.table import Table

    title, header, rows = report_lines(report)
    table = Table(title=title)
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if report["reference"]["note"]:
        console.print(f"[yellow]note:[/] {report['reference']['note']}")


def write_report(report: dict, path: Path) -> None:
    from starassist.engine.files import write_atomic

    write_atomic(path, json.dumps(report, indent=2))
