"""`starassist chat` for scripts (`--once`, piped stdin) as real subprocesses, and the session's commands and
history driven in-process with the real embedded model."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from starassist.chat.session import ChatSession, load_history, save_history
from starassist.cli.chat_terminal import Terminal, read_question
from starassist.engine.errors import StarassistError
from starassist.engine.settings import Settings
from starassist.prompts import Turn

STARASSIST = str(Path(sys.executable).with_name("starassist"))


def run_cli(args: list[str], tmp_path: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        STARASSIST_CONFIG_DIR=str(tmp_path / "config"),
        STARASSIST_DATA_DIR=str(tmp_path / "data"),
        STARASSIST_CHAT__MAX_TOKENS="40",
    )
    return subprocess.run(
        [STARASSIST, *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=env,
        timeout=180,
    )


@pytest.mark.slow
def test_once_prints_an_answer_and_exits_0(tmp_path):
    done = run_cli(["chat", "--once", "What is a Python list?"], tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip()
    assert not (tmp_path / "data" / "chat_history.json").exists()  # scripts don't overwrite the history


@pytest.mark.slow
def test_piped_code_is_attached_to_the_once_question(tmp_path):
    code = b"def area(r):\n    return 3.14159 * r * r\n"
    done = run_cli(["chat", "--once", "what does this do"], tmp_path, stdin=code)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip()
    # A piped question without --once is answered once too.
    done = run_cli(["chat"], tmp_path, stdin=b"What is a tuple in Python?\n")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip()


def test_bad_flags_are_one_line_errors(tmp_path):
    done = run_cli(["chat", "--once", "hi", "--max-tokens", "0"], tmp_path)
    assert done.returncode == 2
    err = done.stderr.decode().strip()
    assert "chat.max_tokens" in err and len(err.splitlines()) == 1


# ---- multi-line input -------------------------------------------------------------------------------------


def feeder(lines: list[str]):
    it = iter(lines)

    def read_line(prompt: str) -> str:
        try:
            return next(it)
        except StopIteration:
            raise EOFError from None

    return read_line


def test_read_question_multiline_forms():
    assert read_question(feeder(["plain question"])) == "plain question"
    assert read_question(feeder(["first \\", "second\\", "third"])) == "first \nsecond\nthird"
    assert read_question(feeder(['"""', "def f():", "    pass", '"""'])) == "def f():\n    pass"


# ---- the session, in-process -----------------------------------------------------------------------------------


def test_history_files_are_private_and_validated(tmp_path):
    path = tmp_path / "deep" / "h.json"
    turns = [Turn("user", "q"), Turn("assistant", "a")]
    save_history(path, turns, "m")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_history(path) == turns
    os.chmod(path, 0o644)
    save_history(path, turns, "m")  # rewriting makes it private again
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text('{"turns": [{"role": "robot", "content": "x"}]}')
    with pytest.raises(StarassistError, match="malformed turn"):
        load_history(path)
    path.write_text("not json")
    with pytest.raises(StarassistError, match="not a saved conversation"):
        load_history(path)


@pytest.mark.slow
def test_terminal_commands_with_the_real_model(embedded_backend, tmp_path):
    settings = Settings()
    settings.chat.max_tokens = 24
    history = tmp_path / "data" / "chat_history.json"
    code_file = tmp_path / "code.py"
    code_file.write_text("import os\n\ndef home():\n    return os.environ['HOME']\n")
    session = ChatSession(embedded_backend, settings, history_path=history)
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=False)
    saved = tmp_path / "saved.json"
    script = [
        "/help",
        "What is a variable? \\",
        "Answer briefly.",
        f"/save {saved}",
        f"/file {code_file}:3-4",
        "What does this function return?",
        "/reset",
        f"/load {saved}",
        "/model",
        "/file /no/such/file.py",
        "/bogus",
        "/exit",
        "never read",
    ]
    code = Terminal(session, console, read_line=feeder(script)).run()
    text = out.getvalue()
    assert code == 0
    assert "/file PATH[:L1-L2]" in text and '"""' in text  # /help documents commands and multi-line input
    assert text.count("tok/s") == 2  # two answers, each with its footer
    assert "attached" in text and "(lines 3-4)" in text
    assert "conversation cleared" in text and "loaded 1 exchanges" in text
    assert "chat template" in text  # /model
    assert "no such file" in text.lower() or "No such file" in text
    assert "unknown command /bogus" in text
    # The first question was two lines joined; /load restored the one exchange saved before the second.
    assert session.turns[0].content == "What is a variable? \nAnswer briefly."
    assert len(session.turns) == 2
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert load_history(history) == session.turns  # resumable: the history file follows the session


@pytest.mark.slow
def test_resume_continues_the_saved_conversation(tmp_path):
    data = tmp_path / "data"
    history = data / "chat_history.json"
    save_history(history, [Turn("user", "My name is Ada."), Turn("assistant", "Nice to meet you, Ada.")], "m")
    done = run_cli(["chat", "--resume", "--once", "What is my name?"], tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip()
    assert load_history(history)[0].content == "My name is Ada."
