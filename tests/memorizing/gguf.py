"""GGUF files of the memorizing fixture, made by the quantizer's own pipeline and cached next to the fixture
(keyed by the fixture's hash and the quantizer's sources). For tests anywhere in the suite that need a real FIM
model: `fixture_gguf("starcoder2", "Q8_0")`.

The fixture's files, spans and repository name: `memorizing.build.corpus()`, `spans()`, `REPO`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def _converter_hash() -> str:
    import starassist.quant

    quant_dir = Path(starassist.quant.__file__).resolve().parent
    h = hashlib.sha256()
    for name in ("checkpoint.py", "convert.py", "tokenizer_gguf.py", "llama_quantize.py", "types.py"):
        h.update((quant_dir / name).read_bytes())
    return h.hexdigest()[:12]


def fixture_gguf(arch: str = "starcoder", qtype: str = "Q8_0") -> Path:
    """The fixture model `arch` ("starcoder" or "starcoder2") as a `qtype` GGUF; built on first use."""
    from starassist.quant.pipeline import run

    from .build import ARCHS, fixture_dir

    if arch not in ARCHS:
        raise ValueError(f"fixture arch {arch!r}: choose one of {ARCHS}")
    root = fixture_dir()
    out = root / f"gguf-{_converter_hash()}" / f"{arch}.{qtype.upper()}.gguf"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        run(str(root / arch), qtype, out, force=True)  # written to a temporary file and renamed
    return out
