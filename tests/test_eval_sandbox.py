"""The sandbox against hostile completions: each must fail (or be stopped) without touching the machine."""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

import pytest

from starassist.eval.sandbox import Limits, run_program


def test_a_correct_program_passes_and_a_wrong_one_fails() -> None:
    assert run_program("def f(x):\n    return x + 1\nassert f(1) == 2\n").status == "passed"
    out = run_program("def f(x):\n    return x\nassert f(1) == 2\n")
    assert out.status == "failed" and "AssertionError" in out.detail


def test_writing_a_file_in_the_home_directory_is_refused() -> None:
    target = Path.home() / "starassist-sandbox-escape.txt"
    assert not target.exists()
    out = run_program(f"open({str(target)!r}, 'w').write('x')\n")
    assert out.status == "failed" and "outside the sandbox" in out.detail
    assert not target.exists()


@pytest.mark.parametrize("how", [
    "import os\nos.close(os.open({target!r}, os.O_WRONLY | os.O_CREAT))\n",
    "import pathlib\npathlib.Path({target!r}).write_text('x')\n",
    "import shutil\nshutil.copyfile(__file__, {target!r})\n",
    "import ctypes\nctypes.CDLL(None).creat({target!r}.encode(), 0o644)\n",  # libc's own open
])
def test_every_way_of_writing_into_the_home_directory_is_refused(how: str) -> None:
    target = Path.home() / "starassist-sandbox-escape.txt"
    assert not target.exists()
    out = run_program(how.format(target=str(target)))
    assert out.status == "failed" and "sandbox:" in out.detail, out.detail
    assert not target.exists()


def test_a_hostile_humaneval_completion_fails_without_touching_the_machine() -> None:
    from starassist.eval.runner import Executor, score
    from starassist.eval.tasks import humaneval_sources, tasks

    target = Path.home() / "starassist-sandbox-escape.txt"
    task = next(tasks("humaneval", humaneval_sources()[:1]))
    hostile = f"    open({str(target)!r}, 'w').write('x')\n    return False\n"
    assert score(task, hostile, Executor())["status"] == "failed"
    assert not target.exists()


def test_writing_inside_its_own_directory_is_allowed() -> None:
    assert run_program("open('scratch.txt', 'w').write('x')\nassert open('scratch.txt').read() == 'x'\n").passed


def test_opening_a_socket_is_refused() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    out = run_program(f"import socket\nsocket.create_connection(('127.0.0.1', {port}))\n")
    assert out.status == "failed" and "no network" in out.detail
    try:
        conn, _ = server.accept()
        conn.close()
        connected = True
    except TimeoutError:
        connected = False
    finally:
        server.close()
    assert not connected


def test_forking_is_refused() -> None:
    out = run_program("import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\n")
    assert out.status == "failed" and "no new processes" in out.detail
    for program in ("import subprocess\nsubprocess.run(['true'])\n", "import os\nos.system('true')\n",
                    "import multiprocessing\nmultiprocessing.Process(target=print).start()\n",
                    "import ctypes\nassert ctypes.CDLL(None).fork() >= 0\n"):  # libc's fork skips os.fork's check
        out = run_program(program)
        assert out.status == "failed" and "sandbox: no" in out.detail, (program, out.detail)


def test_signalling_other_processes_is_refused() -> None:
    out = run_program("import os\nos.kill(os.getppid(), 9)\n")
    assert out.status == "failed" and "no signals to other processes" in out.detail


def test_sleeping_forever_is_stopped_by_the_timeout() -> None:
    start = time.monotonic()
    out = run_program("import time\nwhile True:\n    time.sleep(1)\n", Limits(timeout_s=1.0))
    assert out.status == "timeout"
    assert time.monotonic() - start < 5
    # Ignoring SIGTERM does not help: the whole process group gets SIGKILL.
    start = time.monotonic()
    out = run_program("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(3600)\n",
                      Limits(timeout_s=1.0))
    assert out.status == "timeout" and time.monotonic() - start < 5


def test_spinning_the_cpu_is_stopped_and_memory_is_capped() -> None:
    out = run_program("while True:\n    pass\n", Limits(timeout_s=30, cpu_s=1))
    assert out.status == "failed"  # SIGXCPU from RLIMIT_CPU, long before the wall-clock timeout
    out = run_program("x = bytearray(4 << 30)\n", Limits(memory_bytes=512 << 20))
    assert out.status == "failed" and "MemoryError" in out.detail


def test_the_temporary_directory_is_removed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = run_program("import os\nassert os.path.basename(os.getcwd()).startswith('starassist-eval-')\n")
    assert out.passed
    assert list(tmp_path.iterdir()) == []
