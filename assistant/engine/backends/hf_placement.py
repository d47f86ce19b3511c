"""Where and how the transformers backend holds a model: the device, the dtype, and bitsandbytes quantization on
load. The choices are pure functions of the settings and of what torch reports, so they are tested without a GPU;
`load_model` applies them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import BadModelFileError, MissingExtraError, SettingsError
from ..logs import quiet_bitsandbytes
from ..settings import ModelSettings

# dtype = "auto", by device. A CUDA card without bfloat16 (before Ampere) gets float16.
AUTO_DTYPE = {"cuda": "bfloat16", "mps": "float16", "cpu": "float32"}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Hardware:
    """What torch reports about this machine."""

    cuda: bool
    mps: bool
    bf16: bool  # CUDA bfloat16 support

    @classmethod
    def detect(cls) -> Hardware:
        cuda = torch.cuda.is_available()
        mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        return cls(cuda=cuda, mps=mps, bf16=cuda and torch.cuda.is_bf16_supported())


@dataclass(frozen=True)
class Placement:
    device: str  # "cuda", "mps" or "cpu"
    dtype: str  # a DTYPES key: the non-quantized weights and activations, and bitsandbytes' compute dtype
    quantization: str  # "none", "nf4", "int8" (or a pre-quantized checkpoint's own method)
    on_load: bool  # quantized by bitsandbytes while loading (False: none, or the checkpoint came quantized)
    notes: tuple[str, ...] = ()  # settings that could not apply, in words

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


def choose_device(setting: str, hw: Hardware) -> str:
    if setting == "auto":
        return "cuda" if hw.cuda else "mps" if hw.mps else "cpu"
    if setting == "cuda" and not hw.cuda:
        raise SettingsError(f"model.device = cuda but torch {torch.__version__} sees no CUDA device — set "
                            "model.device = auto or cpu, or install a CUDA build of torch")
    if setting == "mps" and not hw.mps:
        raise SettingsError("model.device = mps but torch sees no Apple GPU (MPS) — set model.device = auto or cpu")
    return setting


def choose_dtype(setting: str, device: str, hw: Hardware) -> str:
    if setting != "auto":
        return setting
    if device == "cuda" and not hw.bf16:
        return "float16"
    return AUTO_DTYPE[device]


def checkpoint_quantization(config: dict[str, Any]) -> str:
    """The quantization a checkpoint was saved with ("" for a plain one)."""
    qc = config.get("quantization_config") or {}
    if not qc:
        return ""
    if qc.get("load_in_4bit"):
        return str(qc.get("bnb_4bit_quant_type") or "fp4")
    if qc.get("load_in_8bit"):
        return "int8"
    return str(qc.get("quant_method") or "quantized")


def place(settings: ModelSettings, config: dict[str, Any], hw: Hardware) -> Placement:
    device = choose_device(settings.device, hw)
    dtype = choose_dtype(settings.dtype, device, hw)
    saved = checkpoint_quantization(config)
    if saved:
        notes = ()
        if settings.quantization not in ("none", saved):
            notes = (f"model.quantization = {settings.quantization} not applied: the checkpoint is already "
                     f"quantized ({saved})",)
        return Placement(device, dtype, saved, on_load=False, notes=notes)
    return Placement(device, dtype, settings.quantization, on_load=settings.quantization != "none")


def first_line(exc: BaseException) -> str:
    """An exception's first line of text, for one-line messages."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _bnb_config(quantization: str, dtype: torch.dtype) -> Any:
    import transformers

    if quantization == "nf4":
        return transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                               bnb_4bit_compute_dtype=dtype)
    return transformers.BitsAndBytesConfig(load_in_8bit=True)


def _need_bitsandbytes(placement: Placement, why: str) -> None:
    quiet_bitsandbytes()
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise MissingExtraError(f"{why} needs bitsandbytes — `pip install bitsandbytes`"
                                + (", or set model.quantization = none" if placement.on_load else "")) from None


def load_model(path: Path, placement: Placement, config: dict[str, Any]) -> Any:
    """The causal LM at `path`, on `placement.device`, in `placement.dtype`, quantized as placed."""
    import transformers

    kwargs: dict[str, Any] = {"dtype": placement.torch_dtype}
    if placement.on_load:
        _need_bitsandbytes(placement, f"model.quantization = {placement.quantization}")
        kwargs["quantization_config"] = _bnb_config(placement.quantization, placement.torch_dtype)
    elif (config.get("quantization_config") or {}).get("quant_method") == "bitsandbytes":
        _need_bitsandbytes(placement, f"this checkpoint ({placement.quantization})")
    quantized = placement.quantization != "none"
    if quantized or placement.device != "cpu":
        kwargs["device_map"] = placement.device  # load straight onto the device (quantized layers must)
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except (OSError, ValueError, ImportError, RuntimeError) as exc:
        raise BadModelFileError(f"transformers could not load {path} ({first_line(exc)})") from None
    if quantized:
        # A checkpoint saved by `starassist quantize --bnb` records float32 compute; the setting decides here.
        for module in model.modules():
            if hasattr(module, "compute_dtype"):  # bitsandbytes' 4-bit layers
                module.compute_dtype = placement.torch_dtype
    return model.eval()


def describe_memory(model: Any, device: str, extra_bytes: int = 0) -> str:
    """Weights (and KV buffers) in memory, and the device's use when it is a GPU."""
    text = f"weights {_size(int(model.get_memory_footprint()))}"
    if extra_bytes:
        text += f", KV buffers {_size(extra_bytes)}"
    if device == "cuda":
        index = torch.cuda.current_device()
        total = torch.cuda.get_device_properties(index).total_memory
        text += f"; CUDA memory allocated {_size(torch.cuda.memory_allocated(index))} of {_size(total)}"
    return text


def _size(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def device_name(device: str) -> str:
    if device == "cuda":
        index = torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return device
