"""A real terminal session of `starassist chat` in tmux with the embedded model: a streamed answer, /reset,
Ctrl-C during an answer keeps the session alive, /exit exits 0. Waits poll the screen with timeouts."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install -y tmux)"),
]

STARASSIST = str(Path(sys.executable).with_name("starassist"))
FOOTER = "tok/s"


class Pane:
    def __init__(self, socket: str, name: str) -> None:
        self.socket = socket
        self.name = name

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self) -> str:
        # -J joins wrapped lines; -S - includes the scrollback so nothing is lost when the screen scrolls.
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", self.name)

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def type_line(self, text: str) -> None:
        self.send("-l", text)
        self.send("Enter")

    def wait(self, predicate: Callable[[str], bool], what: str, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{screen}")


@pytest.fixture
def pane(tmp_path):
    socket = f"starassist-test-{os.getpid()}"
    env = {
        "STARASSIST_CONFIG_DIR": str(tmp_path / "config"),
        "STARASSIST_DATA_DIR": str(tmp_path / "data"),
        "STARASSIST_CHAT__MAX_TOKENS": "150",
        "STARASSIST_CHAT__TEMPERATURE": "0",  # greedy: the same (long) answers on every run
        "TERM": "xterm-256color",
    }
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    # The shell reports the exit code and keeps the pane open so the test can read it.
    command = f"env {exports} {shlex.quote(STARASSIST)} chat; echo EXIT=$?; sleep 600"
    subprocess.run(
        ["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "chat", "-x", "110", "-y", "45", command],
        check=True, timeout=30,
    )
    yield Pane(socket, "chat")
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=30)
    socket_file = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}" / socket
    socket_file.unlink(missing_ok=True)


def after(screen: str, marker: str) -> str:
    """The screen text after the last occurrence of `marker`."""
    return screen.rsplit(marker, 1)[-1]


def prompt_ready(screen: str) -> bool:
    return screen.rstrip().endswith(">>>")


def test_chat_session_in_a_real_terminal(pane: Pane, tmp_path):
    pane.wait(lambda s: "starassist chat" in s and prompt_ready(s), "the banner and the prompt")

    # 1. A question: the answer appears while it is generated (seen before its footer), then the footer.
    question = "Explain in detail what a Python dictionary is."
    pane.type_line(question)
    partial = pane.wait(lambda s: after(s, question).strip() != "", "the answer to start")
    assert FOOTER not in after(partial, question), "the answer appeared all at once, not streamed"
    done = pane.wait(lambda s: FOOTER in after(s, question) and prompt_ready(s), "the finished answer")
    answer = after(done, question).split("[", 1)[0]
    assert answer.strip()
    history = tmp_path / "data" / "chat_history.json"
    assert history.is_file() and (history.stat().st_mode & 0o777) == 0o600

    # 2. /reset.
    pane.type_line("/reset")
    pane.wait(lambda s: "conversation cleared" in s and prompt_ready(s), "/reset")

    # 3. Ctrl-C while an answer streams stops the answer, not the program.
    for attempt in range(3):
        question = f"Write a long essay about the history of computers, part {attempt + 1}."
        pane.type_line(question)
        started = pane.wait(lambda s, q=question: after(s, q).strip() != "", "an answer to interrupt")
        if FOOTER in after(started, question):
            continue  # already finished: ask for another one
        pane.send("C-c")
        screen = pane.wait(lambda s, q=question: FOOTER in after(s, q) and prompt_ready(s), "the prompt after Ctrl-C")
        if "stopped" in after(screen, question):
            break  # the answer was still streaming when Ctrl-C arrived
    else:
        pytest.fail("every answer finished before Ctrl-C arrived")
    assert "EXIT=" not in screen

    # The session is alive: it still answers.
    pane.type_line("/help")
    pane.wait(lambda s: "/file PATH[:L1-L2]" in after(s, ">>> /help") and prompt_ready(s), "/help after Ctrl-C")

    # 4. /exit leaves with status 0.
    pane.type_line("/exit")
    pane.wait(lambda s: "EXIT=0" in s, "exit status 0", timeout=30)
