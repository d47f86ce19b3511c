"""The sandbox against hostile completions: each must fail (or be stopped) without touching the machine."""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

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
    out = run_program("import subprocess\nsubprocess.run(['true'])\n")
    assert out.status == "failed"


def test_sleeping_forever_is_stopped_by_the_timeout() -> None:
    start = time.monotonic()
    out = run_program("import time\nwhile True:\n    time.sleep(1)\n", Limits(timeout_s=1.0))
    assert out.status == "timeout"
    assert time.monotonic() - start < 5


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
