"""How a file is named to the model: relative to the project it belongs to, never by where a checkout lives
(absolute paths say nothing about the code, and answers would depend on them). Used by every prompt that
names a file: completion (repo-level FIM layouts), explain, modify, chat attachments."""

from __future__ import annotations

import os
from pathlib import Path, PurePath, PurePosixPath


def model_name(path: PurePath | str, roots: tuple[PurePath | str | None, ...] = ()) -> tuple[str, str]:
    """(path shown to the model, repository name): relative to the first root that contains `path`, the root's
    folder naming the repository; outside all of them, the file's name and its folder's name."""
    p = PurePosixPath(PurePath(path).as_posix())
    for root in roots:
        if root is None:
            continue
        r = PurePosixPath(PurePath(root).as_posix())
        try:
            return p.relative_to(r).as_posix(), r.name
        except ValueError:
            continue
    return p.name, p.parent.name


def git_root(path: Path) -> Path | None:
    """The enclosing git work tree of a file, if any."""
    for parent in path.resolve().parents:
        if (parent / ".git").exists():
            return parent
    return None


def local_file_name(path: Path, *, use_git_root: bool = True) -> tuple[str, str]:
    """`model_name` for a file on this machine: relative to its git work tree, else to the working directory."""
    absolute = Path(os.path.abspath(path)).resolve()
    roots: tuple[Path | None, ...] = (git_root(absolute) if use_git_root else None, Path.cwd().resolve())
    return model_name(absolute, roots)
