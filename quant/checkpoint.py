"""Reading a Hugging Face checkpoint directory tensor by tensor, without torch.

safetensors files are memory-mapped and each tensor is copied out on its own, so converting a model keeps
about one tensor in memory. Pickle `.bin` shards are read only when the user allows it, with torch's
`weights_only=True` loader (no code execution), one shard at a time.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import QuantError

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}


@dataclass(frozen=True)
class TensorRef:
    name: str
    shape: tuple[int, ...]
    dtype: str  # safetensors dtype name (F32, F16, BF16, ...)
    file: Path
    begin: int  # absolute byte offsets in `file`
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


def read_header(path: Path) -> tuple[dict, int]:
    """The JSON header of a safetensors file and the offset where tensor data starts."""
    try:
        with path.open("rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                raise QuantError(f"{path} is not a safetensors file (too short) — re-download the shard")
            (n,) = struct.unpack("<Q", raw)
            if n > 100_000_000:
                raise QuantError(f"{path} is not a safetensors file (bad header size) — re-download the shard")
            header = json.loads(f.read(n))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        if isinstance(exc, PermissionError):
            raise QuantError(f"cannot read {path} (permission denied) — check the file's permissions") from None
        raise QuantError(f"{path} is unreadable or not a safetensors file ({exc.__class__.__name__}) "
                         "— re-download the shard") from None
    if not isinstance(header, dict):
        raise QuantError(f"{path} has a malformed safetensors header — re-download the shard")
    return header, 8 + n


def safetensors_index(files: list[Path]) -> dict[str, TensorRef]:
    refs: dict[str, TensorRef] = {}
    for path in files:
        header, base = read_header(path)
        size = path.stat().st_size
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            try:
                begin, end = meta["data_offsets"]
                dtype = meta["dtype"]
                shape = tuple(int(x) for x in meta["shape"])
            except (KeyError, TypeError, ValueError):
                raise QuantError(f"{path}: malformed entry for tensor {name} — re-download the shard") from None
            if dtype not in _DTYPES:
                raise QuantError(f"{path}: tensor {name} has unsupported dtype {dtype}")
            if base + end > size:
                raise QuantError(f"{path} is truncated (tensor {name} ends past the end of the file) "
                                 "— re-download the shard")
            refs[name] = TensorRef(name, shape, dtype, path, base + begin, base + end)
    return refs


def load_tensor(ref: TensorRef) -> np.ndarray:
    """The tensor as float32 (floating types) or its own integer type; a fresh array, not a view of the map."""
    try:
        mm = np.memmap(ref.file, dtype=np.uint8, mode="r", offset=ref.begin, shape=(ref.nbytes,))
    except (OSError, ValueError) as exc:
        raise QuantError(f"cannot read tensor {ref.name} from {ref.file} ({exc}) — re-download the shard") from None
    raw = mm.view(_DTYPES[ref.dtype])
    if ref.dtype == "BF16":
        out = (raw.astype(np.uint32) << 16).view(np.float32)
    elif ref.dtype in ("F16", "F64"):
        out = raw.astype(np.float32)
    else:
        out = np.array(raw)
    del mm
    return out.reshape(ref.shape)


class Checkpoint:
    """An HF checkpoint directory: config, tokenizer files, and a lazy name -> tensor view of its weights."""

    def __init__(self, path: Path, *, allow_pickle: bool = False) -> None:
        self.path = path
        config_file = path / "config.json"
        if not config_file.is_file():
            raise QuantError(f"{path} has no config.json — point SRC at a Hugging Face checkpoint directory")
        try:
            self.config: dict = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise QuantError(f"{config_file} is unreadable ({exc.__class__.__name__}) — re-download it") from None
        self._allow_pickle = allow_pickle
        self._pickle_cache: tuple[Path, dict] | None = None
        self._refs: dict[str, TensorRef] | None = None
        self.format = "safetensors" if any(path.glob("*.safetensors")) else "pickle"

    @property
    def refs(self) -> dict[str, TensorRef]:
        """Every weight by name; the shards are indexed on first use (after the config has been checked)."""
        if self._refs is None:
            path = self.path
            safetensors = sorted(path.glob("*.safetensors"))
            if safetensors:
                self._refs = safetensors_index(safetensors)
            else:
                bins = sorted(p for p in path.glob("*.bin") if p.name != "training_args.bin")
                if not bins:
                    raise QuantError(f"{path} has no *.safetensors weights — is the download complete?")
                if not self._allow_pickle:
                    raise QuantError(
                        f"{path} has only pickle weights ({bins[0].name}); pass --allow-pickle to read them "
                        "safely (weights_only) or convert them to safetensors first"
                    )
                self._refs = self._pickle_index(bins)
        return self._refs

    def _load_pickle(self, file: Path) -> dict:
        if self._pickle_cache and self._pickle_cache[0] == file:
            return self._pickle_cache[1]
        try:
            import torch
        except ImportError:
            raise QuantError("reading .bin weights needs torch — `pip install 'starassist[hf]'`") from None
        try:
            state = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:  # noqa: BLE001 - any failure of the unpickler means an unreadable shard
            raise QuantError(f"cannot read {file} ({exc.__class__.__name__}) — re-download the shard") from None
        self._pickle_cache = (file, state)
        return state

    def _pickle_index(self, bins: list[Path]) -> dict[str, TensorRef]:
        refs = {}
        for file in bins:
            for name, t in self._load_pickle(file).items():
                refs[name] = TensorRef(name, tuple(t.shape), "F32", file, 0, t.numel() * t.element_size())
        return refs

    def tensor(self, name: str) -> np.ndarray:
        ref = self.refs[name]
        if self.format == "safetensors":
            return load_tensor(ref)
        t = self._load_pickle(ref.file)[name]
        return t.float().numpy().copy() if t.is_floating_point() else t.numpy().copy()

    def names(self) -> Iterator[str]:
        return iter(self.refs)

    @property
    def weight_bytes(self) -> int:
        return sum(r.nbytes for r in self.refs.values())
