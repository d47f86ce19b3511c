"""A Hub checkpoint for the quantizer: which files of the repository make the checkpoint (config, tokenizer,
the weight files its index names — no optimizer state, no duplicate formats), the user's consent with the
download size, then `starassist.engine.hub` fetches and verifies them into the Hugging Face cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starassist.engine import hub
from starassist.engine.hub import Listing, RepoSpec, VerifyProgress

from .checkpoint import INDEX_FILES, IncompleteWeights, NoWeights, choose_weights, read_index
from .errors import QuantError

# Besides the weights: what conversion reads (config, tokenizer) and what transformers' loaders want alongside.
SIDE_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json",
              "merges.txt", "special_tokens_map.json", "added_tokens.json")

Confirm = Callable[[str], bool]  # asked with a question; True to go ahead


def checkpoint_files(listing: Listing, *, allow_pickle: bool) -> list[str]:
    """The repository's files that make the checkpoint. An index file is fetched first to read which shards
    it names."""
    names = set(listing.files)
    spec = f"{listing.repo}@{listing.revision}" if listing.revision != "main" else listing.repo
    if "config.json" not in names:
        ggufs = sorted(n for n in names if n.endswith(".gguf"))
        hint = (f" — it holds GGUF files: `starassist models pull {spec}:{ggufs[0]}` fetches one ready to use"
                if ggufs else "")
        raise QuantError(f"{spec} has no config.json, so it is not a Hugging Face checkpoint{hint}")

    def fetch_index(name: str) -> dict[str, str]:
        return read_index(hub.download(listing, [name]) / name)

    try:
        weights = choose_weights(names, fetch_index)
    except IncompleteWeights as exc:
        raise QuantError(f"{spec} is incomplete on the Hub: {exc}") from None
    except NoWeights:
        raise QuantError(f"{spec} has no weights (*.safetensors) — is it a model repository?") from None
    if weights.format == "pickle" and not allow_pickle:
        raise QuantError(f"{spec} has only pickle weights ({weights.files[0]}); pass --allow-pickle to read them "
                         "safely (weights_only)")
    index = [INDEX_FILES[weights.format]] if weights.index is not None else []
    return [n for n in SIDE_FILES if n in names] + index + list(weights.files)


def fetch_checkpoint(spec: str, *, allow_pickle: bool = False, confirm: Confirm | None = None,
                     verify_progress: VerifyProgress | None = None) -> Path:
    """Download the checkpoint `org/name[@revision]` into the HF cache (what is there already is kept) and return
    its folder. `confirm`, when given, is asked first with the size to download; declining stops."""
    repo = RepoSpec.parse(spec)
    if repo.file:
        raise QuantError(f"{spec} names a file — quantize takes a repository (ORG/NAME) or a local .gguf file")
    listing = hub.list_repo(repo)
    files = checkpoint_files(listing, allow_pickle=allow_pickle)
    todo = hub.missing_bytes(listing, files)
    if confirm is not None and todo and not confirm(
            f"Download {repo} ({len(files)} files, {size_text(todo)}) from {hub.endpoint()}?"):
        raise QuantError(f"not downloading {repo} — pass --download to fetch it without asking")
    return hub.download(listing, files, verify_progress=verify_progress)



def size_text(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"
