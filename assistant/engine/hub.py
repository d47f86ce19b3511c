"""Fetching from the Hugging Face Hub (or the mirror that HF_ENDPOINT names) into the local Hugging Face cache,
where `starassist.engine.models` finds it. Only on an explicit request (`starassist models pull`,
`starassist quantize ORG/NAME --download` or its prompt); nothing else in starassist touches the network.

Downloads go through huggingface_hub: its progress bars, the user's token (HF_TOKEN or `hf auth login`) for
gated repositories, and its retries — a dropped connection resumes with a range request, and files already in
the cache are not fetched again (a file cut off by an interrupted run starts over: huggingface_hub 2 removes
partial files). Environment variables are read at call time (huggingface_hub reads some at import), and every
failure becomes one line that says what to do. huggingface_hub's telemetry is switched off: its user-agent
extras and its fetch of an "agent harness" list from the endpoint are not requests a download needs.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import DownloadError
from .models import hf_cache_dir

DEFAULT_ENDPOINT = "https://huggingface.co"
VerifyProgress = Callable[[int, int, str], None]  # (bytes hashed, bytes to hash, file name)

# Exception class names (anywhere in the MRO) that mean "the network or the server could not be reached",
# across huggingface_hub's HTTP libraries (requests, httpx, httpx2).
_NETWORK_ERRORS = frozenset({"ConnectError", "ConnectTimeout", "ConnectionError", "TimeoutException", "ReadTimeout",
                             "Timeout", "NetworkError", "RemoteProtocolError", "ProxyError", "OfflineModeIsEnabled"})


def _huggingface_hub():
    import huggingface_hub
    from huggingface_hub import constants

    constants.HF_HUB_DISABLE_TELEMETRY = True
    return huggingface_hub


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class RepoSpec:
    """`org/name[@revision][:file]`, as `starassist` accepts it everywhere."""

    repo: str
    revision: str = "main"
    file: str | None = None

    @classmethod
    def parse(cls, spec: str) -> RepoSpec:
        name, _, file_name = spec.strip().partition(":")
        repo, _, revision = name.partition("@")
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise DownloadError(f"{spec!r} is not a Hub id — write ORG/NAME (optionally @REVISION and :FILE)")
        return cls(repo, revision or "main", file_name or None)

    def __str__(self) -> str:
        rev = f"@{self.revision}" if self.revision != "main" else ""
        return f"{self.repo}{rev}" + (f":{self.file}" if self.file else "")


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int | None
    sha256: str | None  # large files' (LFS) content hash, as the Hub lists it


@dataclass(frozen=True)
class Listing:
    repo: str
    revision: str
    commit: str
    files: dict[str, RemoteFile]

    def size(self, names: Iterable[str]) -> int:
        return sum(self.files[n].size or 0 for n in names)


def describe_error(exc: BaseException, repo: str, revision: str = "main", file: str | None = None
                   ) -> DownloadError | None:
    """One-line error for what huggingface_hub raised; None when it is not a Hub or network failure."""
    from huggingface_hub import errors as hf

    where = endpoint()
    if isinstance(exc, hf.GatedRepoError):
        return DownloadError(f"{repo} is gated: accept its conditions at {where}/{repo}, then log in here "
                             "(`hf auth login`) or set HF_TOKEN")
    if isinstance(exc, hf.RepositoryNotFoundError):
        return DownloadError(f"{where} has no repository {repo} (or it is private: log in with `hf auth login` "
                             "or set HF_TOKEN) — check the name")
    if isinstance(exc, hf.RevisionNotFoundError):
        return DownloadError(f"{repo} has no revision {revision!r} at {where} — check the name after @")
    if isinstance(exc, hf.RemoteEntryNotFoundError):
        return DownloadError(f"{repo} has no file {file or '(unknown)'} at {revision} — see the repository's files "
                             f"at {where}/{repo}")
    if offline() or isinstance(exc, hf.OfflineModeIsEnabled):
        return offline_error(repo)
    names = {c.__name__ for c in type(exc).__mro__}
    cause = exc.__cause__
    while cause is not None:
        names |= {c.__name__ for c in type(cause).__mro__}
        cause = cause.__cause__
    if names & _NETWORK_ERRORS or isinstance(exc, hf.LocalEntryNotFoundError):
        return DownloadError(f"cannot reach {where} to fetch {repo} — check your network connection (or "
                             "HF_ENDPOINT) and run the command again; finished files are kept")
    if isinstance(exc, hf.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "an error"
        return DownloadError(f"{where} answered {status} for {repo} — try again later")
    if isinstance(exc, OSError) and "Consistency check failed" in str(exc):
        return DownloadError(f"a file of {repo} arrived incomplete — run the command again")
    return None


def offline_error(repo: str) -> DownloadError:
    return DownloadError(f"HF_HUB_OFFLINE is set, so {repo} cannot be downloaded — unset HF_HUB_OFFLINE, or fetch "
                         "it on a connected machine and pass its folder")


def _guard(repo: str, revision: str, call: Callable[[], object], file: str | None = None) -> object:
    try:
        return call()
    except DownloadError:
        raise
    except Exception as exc:  # noqa: BLE001 - every Hub failure becomes one line, or propagates unchanged
        known = describe_error(exc, repo, revision, file)
        if known is None:
            raise
        raise known from None


def list_repo(spec: RepoSpec) -> Listing:
    """The files of the repository at the revision (with sizes and LFS hashes): one API call."""
    if offline():
        raise offline_error(spec.repo)
    api = _huggingface_hub().HfApi(endpoint=endpoint())
    info = _guard(spec.repo, spec.revision,
                  lambda: api.model_info(spec.repo, revision=spec.revision, files_metadata=True))
    files = {}
    for s in info.siblings or []:  # type: ignore[attr-defined]
        files[s.rfilename] = RemoteFile(s.rfilename, s.size, s.lfs.sha256 if s.lfs else None)
    if not info.sha:  # type: ignore[attr-defined]
        raise DownloadError(f"{endpoint()} did not say which commit {spec} is at — is HF_ENDPOINT a Hub?")
    return Listing(spec.repo, spec.revision, info.sha, files)  # type: ignore[attr-defined]


def cached_snapshot(listing: Listing) -> Path:
    return hf_cache_dir() / ("models--" + listing.repo.replace("/", "--")) / "snapshots" / listing.commit


def missing_bytes(listing: Listing, names: Iterable[str]) -> int:
    """Bytes still to download for `names` (files already in the cache's snapshot are not fetched again)."""
    snap = cached_snapshot(listing)
    return sum(listing.files[n].size or 0 for n in names if not (snap / n).is_file())


def download(listing: Listing, names: Iterable[str], *, verify_progress: VerifyProgress | None = None) -> Path:
    """Fetch `names` of the listed commit into the HF cache; return the snapshot folder. Each file's size and
    (for large files) SHA-256 is checked against the listing."""
    hf_hub_download = _huggingface_hub().hf_hub_download
    if offline():
        raise offline_error(listing.repo)
    names = list(names)
    for name in names:
        if name not in listing.files:
            raise DownloadError(f"{listing.repo} has no file {name} at {listing.revision}")
    paths: dict[str, Path] = {}
    for name in names:
        # By revision name, not commit: huggingface_hub then records the ref (refs/main) that resolution reads.
        got = _guard(listing.repo, listing.revision, lambda n=name: hf_hub_download(
            listing.repo, n, revision=listing.revision, cache_dir=str(hf_cache_dir()), endpoint=endpoint()), name)
        paths[name] = Path(str(got))
    snap = cached_snapshot(listing)
    for name, path in paths.items():
        if os.path.realpath(path.parent) != os.path.realpath((snap / name).parent):
            raise DownloadError(f"{listing.repo} changed while downloading ({name} came from another commit) — run "
                                "the command again")
    _verify(listing, paths, verify_progress)
    return snap


def _verify(listing: Listing, paths: dict[str, Path], progress: VerifyProgress | None) -> None:
    total = sum(listing.files[n].size or 0 for n in paths if listing.files[n].sha256)
    done = 0
    for name, path in paths.items():
        want = listing.files[name]
        size = path.stat().st_size
        if want.size is not None and size != want.size:
            raise DownloadError(f"{name} of {listing.repo} has {size} bytes, the Hub lists {want.size} — delete "
                                f"{path.resolve()} and run the command again")
        if not want.sha256:
            continue
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total, name)
        if h.hexdigest() != want.sha256:
            raise DownloadError(f"{name} of {listing.repo} does not match the Hub's checksum — delete "
                                f"{path.resolve()} and run the command again")
