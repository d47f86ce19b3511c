"""`starassist models pull ORG/NAME[@REVISION][:FILE.gguf]`: fetch a ready GGUF from the Hub (or HF_ENDPOINT)
into the Hugging Face cache and make it the configured model, so `starassist lsp` uses it next."""

from __future__ import annotations

import json
import os
import re

import typer

from .app import guarded
from .core import models_app

# llama.cpp's split files: every part is needed, llama.cpp opens them from the first.
_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.gguf$")


def gguf_parts(name: str, available: set[str]) -> list[str]:
    """The files to fetch for GGUF `name`: itself, or every part of a split GGUF (starting from the first)."""
    m = _SPLIT.match(name)
    if not m:
        return [name]
    parts = [f"{m['stem']}-{i:05d}-of-{m['n']}.gguf" for i in range(1, int(m["n"]) + 1)]
    return parts if all(p in available for p in parts) else [name]


@models_app.command("pull")
@guarded
def pull(
    spec: str = typer.Argument(..., help="ORG/NAME, optionally @REVISION and :FILE.gguf (default: the preferred quantization)."),
    register: bool = typer.Option(True, "--register/--no-register", help="Make it model.path in the config file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Fetch a GGUF from the Hugging Face Hub and make it the model starassist uses."""
    from pathlib import Path

    from rich.console import Console

    from starassist.engine import hub
    from starassist.engine.config_edit import set_value
    from starassist.engine.errors import DownloadError
    from starassist.engine.gguf_file import read_gguf
    from starassist.engine.models import pick_gguf
    from starassist.engine.settings import ENV_PREFIX

    console = Console(stderr=True)
    repo = hub.RepoSpec.parse(spec)
    listing = hub.list_repo(repo)
    ggufs = sorted(n for n in listing.files if n.endswith(".gguf"))
    if repo.file is not None and repo.file not in listing.files:
        shown = ", ".join(ggufs[:4]) + (" …" if len(ggufs) > 4 else "") if ggufs else "none"
        raise DownloadError(f"{repo.repo} has no file {repo.file} at {repo.revision} (its GGUF files: {shown})")
    if repo.file is None:
        if not ggufs:
            raise DownloadError(f"{repo.repo} has no GGUF file — `starassist quantize {repo.repo} --download` makes "
                                "one from its checkpoint")
        first_parts = [n for n in ggufs if gguf_parts(n, set(ggufs))[0] == n]
        name = pick_gguf([Path(n) for n in first_parts]).as_posix()
        if len(first_parts) > 1:
            console.print(f"{repo.repo} has {len(first_parts)} GGUF files; taking {name} "
                          f"(pass {repo.repo}:FILE.gguf for another)")
    else:
        name = repo.file
    files = gguf_parts(name, set(listing.files))
    name = files[0]  # llama.cpp opens a split GGUF from its first part
    size = listing.size(files)
    console.print(f"fetching {name} ({size / 2**20:.1f} MB) from {hub.endpoint()}")
    snap = hub.download(listing, files)
    path = snap / name
    info = read_gguf(path)  # a complete, readable GGUF, or a one-line error
    chosen = hub.RepoSpec(repo.repo, repo.revision, name)
    config = set_value("model", "path", str(chosen)) if register else None
    payload = {"model": str(chosen), "path": str(path), "size_mb": round(info.file_size / 2**20, 1),
               "arch": info.arch, "quantization": info.quantization, "config": str(config) if config else None}
    if as_json:
        typer.echo(json.dumps(payload))
        return
    console.print(f"{chosen}: {info.arch}, {info.quantization}, {payload['size_mb']} MB at {path}")
    if config:
        console.print(f"model.path = {str(chosen)!r} in {config} — `starassist lsp` and `complete` use it next")
        override = f"{ENV_PREFIX}MODEL__PATH"
        if os.environ.get(override):
            console.print(f"[yellow]note:[/] {override} is set and overrides the config file")
