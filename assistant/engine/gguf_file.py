"""A fast, validating reader of GGUF headers: metadata, tensor table, and whether the file is complete.

gguf's own GGUFReader parses every array into Python objects (about 2 s for a 49k vocabulary); listing models
and checking a file before llama.cpp loads it must be quick, so this reads only what it needs.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadModelFileError

GGUF_MAGIC = b"GGUF"

# GGUF value types
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL, _STRING, _ARRAY, _UINT64, _INT64, _FLOAT64 = range(13)
_SCALARS = {
    _UINT8: "<B", _INT8: "<b", _UINT16: "<H", _INT16: "<h", _UINT32: "<I", _INT32: "<i", _FLOAT32: "<f",
    _BOOL: "<?", _UINT64: "<Q", _INT64: "<q", _FLOAT64: "<d",
}


@dataclass
class GGUFInfo:
    path: Path
    version: int
    metadata: dict[str, Any]  # scalars and strings; arrays as their length, except the ones asked for
    tensor_count: int
    tensor_types: dict[str, int] = field(default_factory=dict)  # quantization type name -> tensor count
    parameters: int = 0
    data_end: int = 0
    file_size: int = 0

    @property
    def arch(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    def arch_value(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.arch}.{key}", default)

    @property
    def context_length(self) -> int:
        return int(self.arch_value("context_length", 0) or 0)

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name") or self.path.stem)

    @property
    def quantization(self) -> str:
        ftype = self.metadata.get("general.file_type")
        if ftype is not None:
            try:
                import gguf

                return gguf.LlamaFileType(int(ftype)).name.replace("MOSTLY_", "")
            except (ValueError, ImportError):
                pass
        if self.tensor_types:
            return max(self.tensor_types.items(), key=lambda kv: kv[1])[0]
        return "?"

    @property
    def tokens(self) -> list[str]:
        return list(self.metadata.get("tokenizer.ggml.tokens") or [])


class _Cursor:
    def __init__(self, buf: mmap.mmap | bytes, path: Path) -> None:
        self.buf = buf
        self.pos = 0
        self.path = path

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            raise BadModelFileError(
                f"model file {self.path} is truncated (its header ends early) — download or convert it again"
            )
        out = self.buf[self.pos : end]
        self.pos = end
        return out

    def scalar(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))[0]

    def string(self) -> str:
        n = self.scalar("<Q")
        return self.take(n).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        n = self.scalar("<Q")
        self.take(n)

    def value(self, vtype: int, keep_array: bool) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type = self.scalar("<I")
            count = self.scalar("<Q")
            if item_type in _SCALARS:
                size = struct.calcsize(_SCALARS[item_type])
                raw = self.take(size * count)
                if keep_array:
                    return list(struct.unpack(f"<{count}{_SCALARS[item_type][1]}", raw))
                return count
            if item_type == _STRING:
                if keep_array:
                    return [self.string() for _ in range(count)]
                for _ in range(count):
                    self.skip_string()
                return count
            if keep_array:
                return [self.value(item_type, True) for _ in range(count)]
            for _ in range(count):
                self.value(item_type, False)
            return count
        raise BadModelFileError(f"model file {self.path} has an unknown GGUF value type {vtype} — is it corrupt?")


def read_gguf(path: str | Path, *, arrays: tuple[str, ...] = ()) -> GGUFInfo:
    """Read and validate a GGUF file's header. `arrays` names array keys to return whole (e.g. tokens)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(4)
            if head != GGUF_MAGIC:
                shown = head.decode("latin-1") if head else "nothing (empty file)"
                raise BadModelFileError(
                    f"{path} is not a GGUF file (it starts with {shown!r}) — pass a .gguf model, "
                    "or convert a Hugging Face checkpoint with `starassist quantize`"
                )
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return _parse(mm, path, size, arrays)
    except FileNotFoundError:
        from .errors import ModelNotFoundError

        raise ModelNotFoundError(f"no model at {path} — pass --model PATH or run `starassist models`") from None
    except IsADirectoryError:
        raise BadModelFileError(f"{path} is a directory, not a GGUF file") from None
    except PermissionError:
        raise BadModelFileError(f"cannot read {path} (permission denied) — check the file's permissions") from None


def _parse(mm: mmap.mmap, path: Path, size: int, arrays: tuple[str, ...]) -> GGUFInfo:
    cur = _Cursor(mm, path)
    cur.take(4)
    version = cur.scalar("<I")
    if version not in (2, 3):
        raise BadModelFileError(f"{path} is GGUF version {version}; starassist reads versions 2 and 3")
    n_tensors = cur.scalar("<Q")
    n_kv = cur.scalar("<Q")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        vtype = cur.scalar("<I")
        metadata[key] = cur.value(vtype, key in arrays)
    try:
        import gguf

        quant_sizes = gguf.GGML_QUANT_SIZES
        type_names = {int(t): t.name for t in gguf.GGMLQuantizationType}
    except ImportError:  # pragma: no cover - gguf is a dependency
        quant_sizes, type_names = {}, {}
    tensors: list[tuple[int, int]] = []  # (offset, nbytes)
    tensor_types: dict[str, int] = {}
    parameters = 0
    for _ in range(n_tensors):
        cur.string()
        n_dims = cur.scalar("<I")
        n_elements = 1
        for _ in range(n_dims):
            n_elements *= cur.scalar("<Q")
        ttype = cur.scalar("<I")
        offset = cur.scalar("<Q")
        block, type_size = quant_sizes.get(ttype, (1, 0)) if quant_sizes else (1, 0)
        tensors.append((offset, n_elements // block * type_size))
        name = type_names.get(ttype, str(ttype))
        tensor_types[name] = tensor_types.get(name, 0) + 1
        parameters += n_elements
    alignment = int(metadata.get("general.alignment", 32) or 32)
    data_start = (cur.pos + alignment - 1) // alignment * alignment
    data_end = max((data_start + off + nbytes for off, nbytes in tensors), default=data_start)
    if n_tensors and data_end > size:
        raise BadModelFileError(
            f"model file {path} is truncated ({size:,} of {data_end:,} bytes) — download or convert it again"
        )
    return GGUFInfo(
        path=path,
        version=version,
        metadata=metadata,
        tensor_count=n_tensors,
        tensor_types=tensor_types,
        parameters=parameters,
        data_end=data_end,
        file_size=size,
    )
