"""Reading a Hugging Face checkpoint directory tensor by tensor, without torch.

safetensors files are memory-mapped and each tensor is copied out on its own, so converting a model keeps
about one tensor in memory. Pickle `.bin` shards are read only when the user allows it, with torch's
`weights_only=True` loader (no code execution), one shard at a time.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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
            if name in refs:
                raise duplicate_tensor(name, refs[name].file, path)
            refs[name] = TensorRef(name, shape, dtype, path, base + begin, base + end)
    return refs


def duplicate_tensor(name: str, first: Path, second: Path) -> QuantError:
    return QuantError(f"tensor {name} is in both {first.name} and {second.name} — one of them is not part of this "
                      "checkpoint (an old copy?); remove it or add the checkpoint's index file")


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


# The file that maps each tensor to its shard, and the single-file name, per weight format (HF's names).
INDEX_FILES = {"safetensors": "model.safetensors.index.json", "pickle": "pytorch_model.bin.index.json"}
SINGLE_FILES = {"safetensors": "model.safetensors", "pickle": "pytorch_model.bin"}
_SHARD = re.compile(r"^(?P<stem>.+)-(?P<i>\d+)-of-(?P<n>\d+)\.(?:safetensors|bin)$")


@dataclass(frozen=True)
class WeightFiles:
    """The files that hold a checkpoint's weights, chosen so that stray files (an old copy, optimizer state)
    are not read as weights and a missing shard is an error before anything is written."""

    format: Literal["safetensors", "pickle"]
    files: list  # paths (`find_weights`) or names (`choose_weights`)
    index: dict[str, str] | None = None  # tensor name -> file name, from the checkpoint's index


class IncompleteWeights(QuantError):
    def __init__(self, missing: list[str], total: int) -> None:
        self.missing = missing
        shown = ", ".join(missing[:3]) + (" …" if len(missing) > 3 else "")
        super().__init__(f"{len(missing)} of {total} weight files are missing ({shown})")


class NoWeights(QuantError):
    pass


def _complete_sets(names: list[str]) -> list[str]:
    """Names of the form NAME-0000i-of-0000n must come as complete sets (else the missing ones are listed in
    the error); other names are taken as they are."""
    groups: dict[tuple[str, int, str], set[int]] = {}
    for name in names:
        m = _SHARD.match(name)
        if m:
            groups.setdefault((m["stem"], int(m["n"]), name.rsplit(".", 1)[1]), set()).add(int(m["i"]))
    missing = [f"{stem}-{i:05d}-of-{n:05d}.{ext}" for (stem, n, ext), have in groups.items()
               for i in range(1, n + 1) if i not in have]
    if missing:
        raise IncompleteWeights(missing, sum(n for _, n, _ in groups))
    return names


def choose_weights(names: Collection[str], read_index: Callable[[str], dict[str, str]]) -> WeightFiles:
    """Which of the file `names` of a checkpoint (a folder, or a Hub repository) hold its weights: those its
    index names (read through `read_index`), else the single-file name, else complete shard sets; safetensors
    before pickle. `files` are names here; `IncompleteWeights` lists the names an index or a set lacks."""
    for fmt, suffix in (("safetensors", ".safetensors"), ("pickle", ".bin")):
        if INDEX_FILES[fmt] in names:
            weight_map = read_index(INDEX_FILES[fmt])
            wanted = sorted(set(weight_map.values()))
            missing = [n for n in wanted if n not in names]
            if missing:
                raise IncompleteWeights(missing, len(wanted))
            return WeightFiles(fmt, wanted, weight_map)  # type: ignore[arg-type]
        if SINGLE_FILES[fmt] in names:
            return WeightFiles(fmt, [SINGLE_FILES[fmt]])  # type: ignore[arg-type]
        found = sorted(n for n in names if n.endswith(suffix) and "/" not in n
                       and (fmt == "safetensors" or n.startswith("pytorch_model")))
        if found:
            return WeightFiles(fmt, _complete_sets(found))  # type: ignore[arg-type]
    raise NoWeights("no *.safetensors weights")


def read_index(index_file: Path) -> dict[str, str]:
    try:
        weight_map = json.loads(index_file.read_text(encoding="utf-8"))["weight_map"]
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise TypeError
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise QuantError(f"{index_file} is unreadable or has no weight_map — re-download it") from None
    return weight_map


def find_weights(path: Path) -> WeightFiles:
    """The weight files of the checkpoint folder at `path` (see `choose_weights`), as paths."""
    names = {p.name for p in path.iterdir()} if path.is_dir() else set()
    try:
        chosen = choose_weights(names, lambda name: read_index(path / name))
    except IncompleteWeights as exc:
        raise QuantError(f"{path} is incomplete: {exc} — finish the download (for a Hub model: "
                         "`starassist quantize ORG/NAME --download`)") from None
    except NoWeights:
        raise QuantError(f"{path} has no *.safetensors weights — is the download complete?") from None
    return WeightFiles(chosen.format, [path / n for n in chosen.files], chosen.index)


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
        self._weights: WeightFiles | None = None

    @property
    def weights(self) -> WeightFiles:
        if self._weights is None:
            self._weights = find_weights(self.path)
        return self._weights

    @property
    def format(self) -> str:
        return self.weights.format

    @property
    def refs(self) -> dict[str, TensorRef]:
        """Every weight by name; the shards are indexed on first use (after the config has been checked)."""
        if self._refs is None:
            weights = self.weights
            if weights.format == "safetensors":
                refs = safetensors_index(weights.files)
            else:
                if not self._allow_pickle:
                    raise QuantError(
                        f"{self.path} has only pickle weights ({weights.files[0].name}); pass --allow-pickle to "
                        "read them safely (weights_only) or convert them to safetensors first"
                    )
                refs = self._pickle_index(weights.files)
            if weights.index is not None:
                for name, file_name in weights.index.items():
                    if name not in refs or refs[name].file.name != file_name:
                        raise QuantError(f"{self.path / file_name} lacks tensor {name}, which the checkpoint's "
                                         "index puts there — re-download that shard")
            self._refs = refs
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
                if name in refs:
                    raise duplicate_tensor(name, refs[name].file, file)
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
