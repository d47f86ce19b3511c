"""Files appear complete or not at all: write to a hidden temporary in the destination's folder, rename at
the end. The one atomic writer of the product (settings, chat history, telemetry, edits, quantizer outputs)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(dest: Path, *, directory: bool = False, private: bool = False) -> Iterator[Path]:
    """Yield a temporary path (file or directory) beside `dest`; when the block ends without an error it
    replaces `dest`, on any error or interruption it is removed. `private`: folder 0700, file 0600."""
    dest = Path(dest)
    if private:
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)  # mode 0600
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory and dest.is_dir():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_atomic(dest: Path, data: str | bytes, *, mode: int | None = None, private: bool = False,
                 check: Callable[[], None] | None = None) -> None:
    """Write `data` (str as UTF-8) to `dest` atomically and durably (fsync before the rename). `mode`: the
    file's permissions (default: 0600 when private, else what a new file gets under the umask). `check` runs
    right before the rename: if it raises, `dest` is left as it was."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_output(dest, private=private) as tmp:
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        if mode is None and not private:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, 0o600 if mode is None else mode)
        if check is not None:
            check()
