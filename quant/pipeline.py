"""`starassist quantize` as plain functions: resolve the source, convert, quantize, report. The CLI module only
parses flags and prints; everything here is testable without typer."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import QuantError
from .types import QuantType, get_type


@dataclass(frozen=True)
class Source:
    kind: Literal["hf", "gguf"]
    path: Path
    name: str


def resolve_source(spec: str) -> Source:
    """An HF checkpoint directory, a GGUF file, or an HF repo id in the local cache (never downloaded)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return Source("hf", path, path.name)
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise QuantError(f"{path} is neither a GGUF file nor a checkpoint directory — pass the directory "
                             "that holds config.json, or a .gguf file")
        return Source("gguf", path, path.stem)
    if path.exists() or "/" not in spec or spec.startswith((".", "/", "~")):
        raise QuantError(f"no such file or directory: {spec} — pass an HF checkpoint directory, a .gguf file "
                         "or an HF repo id from your local cache")
    from starassist.engine.models import resolve_model

    ref = resolve_model(spec)
    return Source(ref.kind, ref.path, spec.split("/")[-1].split(":")[0].split("@")[0])


def default_output(source: Source, qtype: QuantType) -> Path:
    return Path.cwd() / f"{source.name}.{qtype.name}.gguf"


@dataclass
class Step:
    name: str
    path: str
    size_bytes: int
    seconds: float


@dataclass
class Summary:
    source: str
    output: str
    qtype: str
    steps: list[Step] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    report: dict | None = None
    report_path: str | None = None
    seconds: float = 0.0


def check_output(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise QuantError(f"{out} already exists — pass --force to overwrite it or choose another --out")
    if out.is_dir() and out.suffix == ".gguf":
        raise QuantError(f"{out} is a directory — pass a file path to --out")


def run(
    spec: str,
    qtype_name: str,
    out: Path | None,
    *,
    force: bool = False,
    report: bool = False,
    sample: str | None = None,
    report_json: Path | None = None,
    allow_pickle: bool = False,
    threads: int = 0,
    progress=None,
) -> Summary:
    """The whole pipeline. `progress` is an optional `ProgressUI` (rich bars); None runs quietly."""
    from .convert import convert_hf
    from .llama_quantize import quantize_gguf

    t0 = time.perf_counter()
    qtype = get_type(qtype_name)
    source = resolve_source(spec)
    out = (out or default_output(source, qtype)).expanduser()
    check_output(out, force)
    if report_json is not None:
        check_output(report_json, force)
    summary = Summary(source=str(source.path), output=str(out), qtype=qtype.name)
    conv_cb = progress.converting if progress else None
    quant_cb = progress.quantizing if progress else None

    with tempfile.TemporaryDirectory(prefix=".starassist-quantize-", dir=out.parent if out.parent.exists() else None) as td:
        work = Path(td)
        reference: Path | None = None
        ref_label = "F16"
        if source.kind == "hf":
            if qtype.converted:
                r = convert_hf(source.path, out, out_type=qtype.name, allow_pickle=allow_pickle,
                               progress=conv_cb(qtype.name) if conv_cb else None, name=source.name)
                summary.steps.append(Step(f"convert {qtype.name}", str(out), r.output_bytes, r.seconds))
                if report:
                    if qtype.name == "F16":
                        reference = out
                    else:
                        r16 = convert_hf(source.path, work / "reference.F16.gguf", out_type="F16",
                                         allow_pickle=allow_pickle, name=source.name)
                        reference = r16.path
            else:
                f16 = work / f"{source.name}.F16.gguf"
                r = convert_hf(source.path, f16, out_type="F16", allow_pickle=allow_pickle,
                               progress=conv_cb("F16") if conv_cb else None, name=source.name)
                summary.steps.append(Step("convert F16", "(temporary)", r.output_bytes, r.seconds))
                q = quantize_gguf(f16, out, qtype, threads=threads, progress=quant_cb(qtype.name) if quant_cb else None)
                summary.steps.append(Step(f"quantize {qtype.name}", str(out), q.output_bytes, q.seconds))
                summary.fallbacks = q.fallbacks
                reference = f16
        else:
            if out.resolve() == source.path.resolve():
                raise QuantError("--out is the source file — choose another output path")
            if qtype.converted and qtype.name == "F32":
                raise QuantError("re-quantizing a GGUF to F32 is not supported — convert the HF checkpoint instead")
            q = quantize_gguf(source.path, out, qtype, threads=threads,
                              progress=quant_cb(qtype.name) if quant_cb else None)
            summary.steps.append(Step(f"quantize {qtype.name}", str(out), q.output_bytes, q.seconds))
            summary.fallbacks = q.fallbacks
            reference = source.path
            ref_label = f"source ({source.path.name})"

        if report and reference is not None:
            from .report import build_report, default_sample, write_report

            text = Path(sample).expanduser().read_text(encoding="utf-8") if sample else default_sample()
            f16_bytes = f16_size(reference)
            candidates = [] if reference == out else [(qtype.name, out)]
            if progress:
                progress.note("measuring quality and speed…")
            summary.report = build_report(reference, candidates, sample=text, f16_bytes=f16_bytes,
                                          reference_label=ref_label, threads=threads or None)
            rpath = report_json or out.with_name(out.name + ".report.json")
            write_report(summary.report, rpath)
            summary.report_path = str(rpath)
    summary.seconds = time.perf_counter() - t0
    return summary


def f16_size(path: Path) -> int:
    """What the model weighs in F16: 2 bytes per weight of its tensors, plus the file's metadata."""
    from gguf import GGUFReader

    from starassist.engine.gguf_file import read_gguf

    if read_gguf(path).quantization.upper() == "F16":
        return path.stat().st_size
    reader = GGUFReader(path)
    weights = sum(int(t.n_elements) for t in reader.tensors)
    data = sum(int(t.n_bytes) for t in reader.tensors)
    return path.stat().st_size - data + 2 * weights
