"""`starassist quantize` as plain functions: resolve the source (downloading it when asked), convert, quantize,
report. The CLI module only parses flags and prints; everything here is testable without typer."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from .errors import QuantError
from .fetch import Confirm
from .types import QuantType, get_type


@dataclass(frozen=True)
class Source:
    kind: Literal["hf", "gguf"]
    path: Path
    name: str


def resolve_source(spec: str, *, download: bool = False, confirm: Confirm | None = None,
                   allow_pickle: bool = False, verify_progress=None) -> Source:
    """An HF checkpoint directory, a GGUF file, or an HF repo id: from the local cache, or downloaded when
    `download` is set (files already cached are kept) or when `confirm` (a terminal prompt) agrees."""
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
                         "or an HF repo id (ORG/NAME)")
    from starassist.engine.errors import ModelNotFoundError
    from starassist.engine.hub import RepoSpec, endpoint
    from starassist.engine.models import resolve_model

    from .fetch import fetch_checkpoint

    repo = RepoSpec.parse(spec)
    name = repo.repo.split("/")[-1]
    if download:
        return Source("hf", fetch_checkpoint(spec, allow_pickle=allow_pickle, verify_progress=verify_progress), name)
    try:
        ref = resolve_model(spec)
    except ModelNotFoundError:
        if confirm is None:
            raise QuantError(f"{repo} is not in the local Hugging Face cache — pass --download to fetch it from "
                             f"{endpoint()}") from None
        ref = None
    if ref is None:
        return Source("hf", fetch_checkpoint(spec, allow_pickle=allow_pickle, confirm=confirm,
                                             verify_progress=verify_progress), name)
    return Source(ref.kind, ref.path, name)


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
    fallbacks: list[dict] = field(default_factory=list)  # {tensor, wanted, used}
    tensor_types: dict[str, int] = field(default_factory=dict)  # of the output: type -> tensor count
    warnings: list[str] = field(default_factory=list)
    report: dict | None = None
    report_path: str | None = None
    seconds: float = 0.0


def check_output(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise QuantError(f"{out} already exists — pass --force to overwrite it or choose another --out")
    if out.is_dir() and out.suffix == ".gguf":
        raise QuantError(f"{out} is a directory — pass a file path to --out")


def check_requantize(path: Path, allow: bool) -> str | None:
    """The quantized type of a GGUF source (None for F32/F16/BF16); refused unless `allow`."""
    from starassist.engine.errors import BadModelFileError

    from .llama_quantize import source_quantization

    try:
        quantized = source_quantization(path)
    except BadModelFileError:
        return None  # a damaged file: llama.cpp's quantizer refuses it and says why
    if quantized and not allow:
        raise QuantError(f"{path} is already quantized ({quantized}): quantizing it again compounds the loss — "
                         "start from the F16/BF16 GGUF or the HF checkpoint, or pass --allow-requantize")
    return quantized


def run(
    spec: str,
    qtype_name: str,
    out: Path | None,
    *,
    force: bool = False,
    report: bool = False,
    sample: str | None = None,
    report_json: Path | None = None,
    report_holes: int | None = None,
    compare: Sequence[Path] = (),
    allow_pickle: bool = False,
    allow_requantize: bool = False,
    download: bool = False,
    confirm: Confirm | None = None,
    threads: int = 0,
    progress=None,
) -> Summary:
    """The whole pipeline. `progress` is an optional `ProgressUI` (rich bars); None runs quietly."""
    from .convert import convert_hf
    from .llama_quantize import check_loads, quantize_gguf

    t0 = time.perf_counter()
    qtype = get_type(qtype_name)
    code = None
    if report:  # a bad --sample or --compare fails before hours of work, not after
        from .report import check_candidates
        from .samples import load_sample

        code = load_sample(sample)
        check_candidates(compare)
    source = resolve_source(spec, download=download, confirm=confirm, allow_pickle=allow_pickle,
                            verify_progress=progress.verifying() if progress else None)
    out = (out or default_output(source, qtype)).expanduser()
    check_output(out, force)
    if report_json is not None:
        check_output(report_json, force)
    requantized = None
    if source.kind == "gguf":
        if out.resolve() == source.path.resolve():
            raise QuantError("--out is the source file — choose another output path")
        if qtype.converted and qtype.name == "F32":
            raise QuantError("re-quantizing a GGUF to F32 is not supported — convert the HF checkpoint instead")
        requantized = check_requantize(source.path, allow_requantize)
    summary = Summary(source=str(source.path), output=str(out), qtype=qtype.name)
    conv_cb = progress.converting if progress else None
    quant_cb = progress.quantizing if progress else None

    # The F16 intermediate is as big as the model: it goes beside the output, never to the system temp folder
    # (often in RAM), and it is removed at the end.
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".starassist-quantize-", dir=out.parent) as td:
        work = Path(td)
        reference: Path | None = None
        ref_label = "F16"
        if source.kind == "hf":
            if qtype.converted:
                r = convert_hf(source.path, out, out_type=qtype.name, allow_pickle=allow_pickle,
                               progress=conv_cb(qtype.name) if conv_cb else None, name=source.name,
                               verify=check_loads)
                summary.steps.append(Step(f"convert {qtype.name}", str(out), r.output_bytes, r.seconds))
                if report:
                    if qtype.name == "F16":
                        reference = out
                    else:
                        reference = convert_hf(source.path, work / "reference.F16.gguf", out_type="F16",
                                               allow_pickle=allow_pickle, name=source.name).path
            else:
                f16 = work / f"{source.name}.F16.gguf"
                r = convert_hf(source.path, f16, out_type="F16", allow_pickle=allow_pickle,
                               progress=conv_cb("F16") if conv_cb else None, name=source.name, verify=check_loads)
                summary.steps.append(Step("convert F16", "(temporary)", r.output_bytes, r.seconds))
                q = quantize_gguf(f16, out, qtype, threads=threads, progress=quant_cb(qtype.name) if quant_cb else None)
                summary.steps.append(Step(f"quantize {qtype.name}", str(out), q.output_bytes, q.seconds))
                summary.fallbacks = [asdict(f) for f in q.fallbacks]
                reference = f16
            summary.warnings = r.warnings
        else:
            q = quantize_gguf(source.path, out, qtype, threads=threads, allow_requantize=requantized is not None,
                              progress=quant_cb(qtype.name) if quant_cb else None)
            summary.steps.append(Step(f"quantize {qtype.name}", str(out), q.output_bytes, q.seconds))
            summary.fallbacks = [asdict(f) for f in q.fallbacks]
            reference = source.path
            ref_label = f"source ({requantized or quant_label(source.path)})"
            if requantized:
                summary.warnings.append(f"the source was already {requantized}: this file carries both losses, and "
                                        "the report can only compare it with that source")
        from starassist.engine.gguf_file import read_gguf

        summary.tensor_types = dict(read_gguf(out).tensor_types)
        if report and reference is not None and code is not None:
            from .report import ReferenceInfo, build_report, write_report

            candidates = [] if reference == out else [(qtype.name, out)]
            candidates += [(p.name, p) for p in compare]
            info = ReferenceInfo(ref_label, reference, f16_size(reference), requantized)
            summary.report = build_report(info, candidates, sample=code, threads=threads or None,
                                          holes=report_holes, note=progress.note if progress else None)
            rpath = report_json or out.with_name(out.name + ".report.json")
            write_report(summary.report, rpath)
            summary.report_path = str(rpath)
    summary.seconds = time.perf_counter() - t0
    return summary


def quant_label(path: Path) -> str:
    from starassist.engine.gguf_file import read_gguf

    return read_gguf(path).quantization


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
