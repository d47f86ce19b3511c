"""Explain and modify: answer parsing, byte-exact atomic apply, refusal on concurrent change, and the real
embedded model through the API and the CLI."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

import starassist.cli  # noqa: F401 - registers every command
from starassist.chat import modify as edits
from starassist.chat.explain import explain_code, language_for
from starassist.chat.modify import (
    FileChangedError,
    apply_edit,
    extract_code,
    fit_to_selection,
    parse_location,
    propose_edit,
    read_selection,
    unified_diff,
)
from starassist.cli.app import app
from starassist.engine.errors import CancelledError, StarassistError
from starassist.engine.settings import Settings

# CRLF line endings and no final newline: both must survive an edit untouched outside the selection.
SOURCE = (
    b"import math\r\n"
    b"\r\n"
    b"def add(a, b):\r\n"
    b"    return a + b\r\n"
    b"\r\n"
    b"print(add(1, 2))"
)


def small_settings(max_tokens: int = 64) -> Settings:
    settings = Settings()
    settings.chat.max_tokens = max_tokens
    return settings


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("STARASSIST_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("STARASSIST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STARASSIST_CHAT__MAX_TOKENS", "64")
    return tmp_path


# ---- pure parts --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("```python\ndef f():\n    return 1\n```\nThis returns one.", "def f():\n    return 1"),
        ("Here you go:\n\n```\nx = 1\n```", "x = 1"),
        ("```python\ny = 2\n", "y = 2"),  # unclosed fence (generation stopped)
        ("~~~js\nlet a = 1;\n~~~", "let a = 1;"),
        ("````md\n```python\nz\n```\n````", "```python\nz\n```"),  # a longer fence wraps a shorter one
        ("\nreturn a * b\n\n", "return a * b"),  # bare code
        ("```python\r\nq = 3\r\n```", "q = 3"),
    ],
)
def test_extract_code(answer, code):
    assert extract_code(answer) == code


def test_fit_to_selection_keeps_margin_newlines_and_trailing_newline():
    selection = "    if x:\r\n        y()\r\n"
    assert fit_to_selection("if x:\n    z()", selection) == "    if x:\r\n        z()\r\n"
    # Already indented answers are not indented twice; no trailing newline when the selection has none.
    assert fit_to_selection("    a = 1\n    b = 2\n", "    a = 0") == "    a = 1\n    b = 2"
    assert fit_to_selection("\tx()\n", "\tx\n") == "\tx()\n"


def test_parse_location():
    assert parse_location("a/b.py") == (Path("a/b.py"), None, None)
    assert parse_location("a/b.py:3") == (Path("a/b.py"), 3, 3)
    assert parse_location("a/b.py:3-7") == (Path("a/b.py"), 3, 7)
    assert parse_location("C:\\x\\y.py:2-4") == (Path("C:\\x\\y.py"), 2, 4)
    with pytest.raises(StarassistError):
        parse_location("a.py:7-3")


def test_language_for():
    assert language_for("x/y.py") == "python"
    assert language_for("y.rs") == "rust"
    assert language_for("Dockerfile") == "dockerfile"
    assert language_for("y.py", "cython") == "cython"
    assert language_for(None) == ""


def test_read_selection_ranges(tmp_path):
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    sel = read_selection(path, 3, 4)
    assert sel.text == "def add(a, b):\r\n    return a + b\r\n"
    assert read_selection(path, 6, 6).text == "print(add(1, 2))"
    assert read_selection(path).text == SOURCE.decode()
    with pytest.raises(StarassistError, match="outside"):
        read_selection(path, 5, 9)


def test_apply_changes_only_the_selected_lines_crlf_and_no_final_newline(tmp_path):
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    os.chmod(path, 0o640)
    sel = read_selection(path, 3, 4)
    replacement = fit_to_selection("def add(a: int, b: int) -> int:\n    return a + b", sel.text)
    diff = unified_diff(sel, replacement, label="m.py")
    assert "-def add(a, b):" in diff and "+def add(a: int, b: int) -> int:" in diff
    apply_edit(sel, replacement)
    data = path.read_bytes()
    assert data == SOURCE[: sel.start] + b"def add(a: int, b: int) -> int:\r\n    return a + b\r\n" + SOURCE[sel.end :]
    assert data.endswith(b"print(add(1, 2))")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.py"]  # no temp file left behind
    # The last line, without a final newline, can be edited too and still has none.
    sel = read_selection(path, 6, 6)
    replacement = fit_to_selection("print(add(2, 3))\n", sel.text)
    diff = unified_diff(sel, replacement)
    assert diff.count("\\ No newline at end of file") == 2
    apply_edit(sel, replacement)
    assert path.read_bytes().endswith(b"\r\n\r\nprint(add(2, 3))")


def test_apply_refuses_when_the_file_changed_concurrently(tmp_path, monkeypatch):
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    sel = read_selection(path, 3, 4)
    concurrent = SOURCE.replace(b"import math", b"import cmath")
    real_write = edits.write_atomic

    def other_writer_then_write(*args, **kwargs) -> None:  # another process saves after our first check
        path.write_bytes(concurrent)
        real_write(*args, **kwargs)

    monkeypatch.setattr(edits, "write_atomic", other_writer_then_write)
    with pytest.raises(FileChangedError, match="changed since it was read"):
        apply_edit(sel, "def sub(a, b):\r\n    return a - b\r\n")
    monkeypatch.undo()
    assert path.read_bytes() == concurrent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.py"]
    # A change made before apply (same size, content differs) is caught by the first check too.
    sel = read_selection(path, 3, 4)
    path.write_bytes(concurrent.replace(b"cmath", b"xmath"))
    with pytest.raises(FileChangedError):
        apply_edit(sel, "x\r\n")


# ---- the real model ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_explain_code_with_the_embedded_model(embedded_backend):
    code = "def add(a, b):\n    return a + b\n"
    pieces: list[str] = []
    text = explain_code(embedded_backend, code, path="m.py", settings=small_settings(48), on_text=pieces.append)
    assert text.strip()
    assert "".join(pieces).strip() == text
    with pytest.raises(CancelledError):
        explain_code(embedded_backend, code, settings=small_settings(48), cancel=lambda: True)


@pytest.mark.slow
def test_propose_edit_with_the_embedded_model_keeps_selection_conventions(embedded_backend):
    selection = "    def add(a, b):\r\n        return a + b\r\n"
    new = propose_edit(embedded_backend, selection, "add type hints", path="m.py", settings=small_settings())
    assert new.strip()
    assert new.endswith("\r\n") and "\n" not in new.replace("\r\n", "")
    assert all(line.startswith("    ") for line in new.split("\r\n") if line.strip())
    with pytest.raises(CancelledError):
        propose_edit(embedded_backend, selection, "add type hints", cancel=lambda: True)


@pytest.mark.slow
def test_cli_explain(env):
    path = env / "m.py"
    path.write_bytes(SOURCE)
    result = CliRunner().invoke(app, ["explain", f"{path}:3-4"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    bad = CliRunner().invoke(app, ["explain", f"{path}:30-40"])
    assert bad.exit_code == 1 and "outside" in bad.output and "Traceback" not in bad.output


@pytest.mark.slow
def test_cli_modify_shows_a_diff_and_apply_changes_only_the_selection(env):
    path = env / "m.py"
    path.write_bytes(SOURCE)
    os.chmod(path, 0o600)
    shown = CliRunner().invoke(app, ["modify", f"{path}:3-4", "add type hints"])
    assert shown.exit_code == 0, shown.output
    assert path.read_bytes() == SOURCE  # without --apply nothing is written
    assert "@@" in shown.stdout and f"+++ b/{path}" in shown.stdout

    applied = CliRunner().invoke(app, ["modify", f"{path}:3-4", "add type hints", "--apply"])
    assert applied.exit_code == 0, applied.output
    data = path.read_bytes()
    assert data != SOURCE, "the model's edit was not written"
    before, after = SOURCE.split(b"def add")[0], b"\r\n\r\nprint(add(1, 2))"
    assert data.startswith(before) and data.endswith(after)  # byte-identical outside lines 3-4
    middle = data[len(before) : len(data) - len(after) + 2]
    assert middle.endswith(b"\r\n") and b"\n" not in middle.replace(b"\r\n", b"")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The diff printed is the change written: its added lines are in the new selection, its removed lines
    # come from the old one.
    lines = applied.stdout.replace("\r\n", "\n").splitlines()
    plus = [x[1:] for x in lines if x.startswith("+") and not x.startswith("+++")]
    minus = [x[1:] for x in lines if x.startswith("-") and not x.startswith("---")]
    assert plus and set(plus) <= set(middle.decode().split("\r\n"))
    assert set(minus) <= {"def add(a, b):", "    return a + b"}


@pytest.mark.slow
def test_cli_modify_apply_refuses_after_a_concurrent_change(env, monkeypatch):
    path = env / "m.py"
    path.write_bytes(SOURCE)
    concurrent = SOURCE + b"\r\n# saved by the editor meanwhile\r\n"
    real = edits.propose_edit

    def propose_while_the_editor_saves(*args, **kwargs):
        out = real(*args, **kwargs)  # the real model runs; meanwhile the file is saved by someone else
        path.write_bytes(concurrent)
        return out

    monkeypatch.setattr(edits, "propose_edit", propose_while_the_editor_saves)
    result = CliRunner().invoke(app, ["modify", f"{path}:3-4", "add type hints", "--apply"])
    assert result.exit_code == 1
    assert "changed since it was read" in result.output and "Traceback" not in result.output
    assert path.read_bytes() == concurrent
    assert sorted(p.name for p in env.iterdir() if p.is_file()) == ["m.py"]


def test_files_are_named_to_the_model_without_where_they_live(tmp_path, monkeypatch):
    from starassist.chat.modify import prompt_path as _prompt_path

    (tmp_path / "pkg").mkdir()
    monkeypatch.chdir(tmp_path)
    assert _prompt_path(tmp_path / "pkg" / "m.py") == "pkg/m.py"  # inside the working directory: relative
    assert _prompt_path(Path("pkg/m.py")) == "pkg/m.py"
    assert _prompt_path(Path("/elsewhere/deep/m.py")) == "m.py"  # outside it: the name only
