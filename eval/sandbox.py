"""Run model-written code in a child process that cannot hurt the machine.

Limits: wall-clock timeout (the whole process group is killed), CPU seconds, address space, open files, no new
processes (RLIMIT_NPROC 0 makes fork fail), no network (socket creation is refused before the code runs), a fresh
temporary directory as cwd and HOME, and the file-size limit keeps writes small. The directory is removed after.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass

# Prepended to the program: Python-level guards that rlimits cannot express. Writing outside the temporary
# directory is refused by an audit hook on `open` (and os calls that create or remove paths).
_GUARD = r'''
import os as _os, sys as _sys, socket as _socket
_ROOT = _os.path.realpath(_os.getcwd())
def _inside(p):
    try:
        return _os.path.realpath(_os.fsdecode(p)).startswith(_ROOT + _os.sep)
    except Exception:
        return False
def _hook(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes, _os.PathLike)):
        mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writes = any(c in (mode or "") for c in "wax+") or flags & (_os.O_WRONLY | _os.O_RDWR | _os.O_CREAT)
        if writes and not _inside(args[0]):
            raise PermissionError("sandbox: writing outside the sandbox directory")
    elif event in ("os.remove", "os.rename", "os.mkdir", "os.rmdir", "shutil.rmtree", "os.symlink", "os.link"):
        if args and not _inside(args[0]):
            raise PermissionError("sandbox: changing files outside the sandbox directory")
    elif event in ("socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo"):
        raise PermissionError("sandbox: no network")
    elif event in ("os.system", "subprocess.Popen", "os.fork", "os.exec", "os.posix_spawn", "os.spawn"):
        raise PermissionError("sandbox: no new processes")
_sys.addaudithook(_hook)
del _hook
'''


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    cpu_s: int = 10
    memory_bytes: int = 1 << 30
    file_bytes: int = 1 << 20


@dataclass(frozen=True)
class Outcome:
    passed: bool
    status: str  # "passed", "failed", "timeout"
    detail: str  # the tail of stderr, for the per-problem JSON


def _limit(limits: Limits):
    def apply() -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # fork fails even if the audit hook is bypassed

    return apply


def run_program(program: str, limits: Limits | None = None) -> Outcome:
    """Run `program` (Python source) in the sandbox; passed means exit status 0 within the limits."""
    limits = limits or Limits()
    with tempfile.TemporaryDirectory(prefix="starassist-eval-") as tmp:
        path = os.path.join(tmp, "program.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(_GUARD + "\n" + program)
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", path],
            cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=_limit(limits),
        )
        try:
            _, err = proc.communicate(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return Outcome(False, "timeout", f"no result within {limits.timeout_s:g} s")
        detail = err.decode("utf-8", "replace")[-500:]
        if proc.returncode == 0:
            return Outcome(True, "passed", "")
        return Outcome(False, "failed", detail)
