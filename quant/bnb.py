"""`--bnb nf4|int8`: a pre-quantized bitsandbytes checkpoint (transformers `save_pretrained`) for the
transformers backend. Loads the source with the quantization applied, saves into a temporary directory next to
the destination and renames it at the end."""

from __future__ import annotations

import time
from pathlib import Path

from starassist.engine.files import atomic_output

from .errors import QuantError

MODES = ("nf4", "int8")


def quantize_bnb(spec: str, out: Path, mode: str, *, force: bool = False, allow_pickle: bool = False) -> dict:
    from .checkpoint import Checkpoint
    from .convert import detect_arch, model_hparams
    from .pipeline import resolve_source

    mode = mode.lower()
    if mode not in MODES:
        raise QuantError(f"--bnb {mode}: choose nf4 or int8")
    source = resolve_source(spec)
    if source.kind != "hf":
        raise QuantError(f"--bnb needs a Hugging Face checkpoint directory, not a GGUF ({source.path})")
    out = out.expanduser()
    if out.exists() and not force:
        raise QuantError(f"{out} already exists — pass --force to overwrite it or choose another --out")
    ckpt = Checkpoint(source.path, allow_pickle=allow_pickle)
    spec = detect_arch(ckpt.config, source.path)
    from .tokenizer_gguf import read_vocab

    # Index the shards now: clear one-line errors for missing or unreadable weights, and for a tokenizer that is
    # missing or does not fit the embedding.
    shapes = {n: r.shape for n, r in ckpt.refs.items()}
    read_vocab(source.path, model_hparams(spec, ckpt.config, shapes, source.path)["vocab_rows"])
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise QuantError(f"--bnb needs the transformers extra ({exc.name} missing) — "
                         "`pip install 'starassist[hf]'`") from None
    from starassist.engine.logs import quiet_bitsandbytes

    quiet_bitsandbytes()
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise QuantError("--bnb needs bitsandbytes — `pip install bitsandbytes`") from None

    t0 = time.perf_counter()
    transformers.utils.logging.disable_progress_bar()
    if mode == "nf4":
        qconfig = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                  bnb_4bit_compute_dtype=torch.float32)
    else:
        qconfig = transformers.BitsAndBytesConfig(load_in_8bit=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(source.path), quantization_config=qconfig, device_map=device, dtype=torch.float32,
        use_safetensors=ckpt.format == "safetensors",
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(source.path))
    with atomic_output(out, directory=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    return {"output": str(out), "mode": mode, "size_bytes": size, "source": str(source.path),
            "seconds": round(time.perf_counter() - t0, 2)}
