"""The VS Code side: the extension compiles and packages, and a session driven by `vscode-languageserver-protocol`
(the protocol library inside VS Code's language client) gets real completions from `starassist lsp`.

Needs node and npm; `editors/vscode/node_modules` is installed with `npm ci` when missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import typing
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXTENSION = REPO / "editors" / "vscode"
NODE_TESTS = REPO / "tests" / "node"

NODE = shutil.which("node")
NPM = shutil.which("npm")
pytestmark = pytest.mark.skipif(not (NODE and NPM), reason="node and npm are needed for the VS Code client tests")


def server_command() -> list[str]:
    """`starassist lsp` from this interpreter's environment (the console script next to it, else `-m`)."""
    script = Path(sys.executable).with_name("starassist")
    if script.is_file():
        return [str(script), "lsp"]
    return [sys.executable, "-m", "starassist", "lsp"]


def isolated_env(tmp: Path) -> dict[str, str]:
    """No user config file, and telemetry written under the test's directory."""
    env = dict(os.environ)
    env["STARASSIST_CONFIG_DIR"] = str(tmp / "config")
    env["STARASSIST_DATA_DIR"] = str(tmp / "data")
    env.pop("STARASSIST_MODEL__PATH", None)
    return env


def run(cmd: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def extension_built() -> Path:
    """editors/vscode with its node_modules installed and `out/` compiled by `npm run compile` (tsc)."""
    if not (EXTENSION / "node_modules" / "vscode-languageserver-protocol").is_dir():
        done = run([NPM, "ci", "--no-audit", "--no-fund"], EXTENSION, timeout=300)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    done = run([NPM, "run", "compile"], EXTENSION, timeout=180)
    assert done.returncode == 0, f"tsc failed:\n{done.stdout}\n{done.stderr}"
    return EXTENSION


def test_extension_compiles(extension_built: Path) -> None:
    out = extension_built / "out"
    for name in ("extension.js", "client.js", "constants.js", "timings.js"):
        assert (out / name).is_file(), name
    manifest = json.loads((extension_built / "package.json").read_text(encoding="utf-8"))
    assert manifest["main"] == "./out/extension.js"
    commands = {c["command"] for c in manifest["contributes"]["commands"]}
    assert commands == {"starassist.explain", "starassist.modify", "starassist.restartServer", "starassist.showLog",
                        "starassist.toggleInline", "starassist.toggleInlineForLanguage", "starassist.openChat",
                        "starassist.showStatus"}
    participants = manifest["contributes"]["chatParticipants"]
    assert [p["id"] for p in participants] == ["starassist.assistant"]
    assert {c["name"] for c in participants[0]["commands"]} == {"explain", "modify"}
    props = manifest["contributes"]["configuration"]["properties"]
    # The configuration mirrors the server's settings tree key for key.
    import dataclasses

    from starassist.engine.settings import Settings

    expected = {
        f"starassist.{section.name}.{f.name}"
        for section in dataclasses.fields(Settings)
        for f in dataclasses.fields(section.default_factory())  # type: ignore[misc]
    }
    mirrored = {k for k in props if k.split(".")[1] in ("model", "completion", "chat", "remote")}
    assert mirrored == expected
    defaults = Settings()
    json_types = {int: "integer", float: "number", str: "string", bool: "boolean"}
    for key in expected:
        _, section, name = key.split(".")
        section_obj = getattr(defaults, section)
        assert props[key]["default"] == getattr(section_obj, name), key
        hint = typing.get_type_hints(type(section_obj))[name]
        if typing.get_origin(hint) is typing.Literal:
            assert props[key]["enum"] == list(typing.get_args(hint)), key
        else:
            assert props[key]["type"] == json_types[hint], key
    # Every name the extension uses lives in constants.ts.
    constants = (out / "constants.js").read_text(encoding="utf-8")
    for command in commands:
        assert command in constants


def test_timings_formatter(extension_built: Path) -> None:
    done = run([NODE, str(NODE_TESTS / "timings.test.mjs")], REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "timings ok" in done.stdout


def test_chat_input_parsing(extension_built: Path) -> None:
    """The chat panel's slash commands, `#file` / `#selection`, the function-at-cursor guess, and language-model
    requests as `starassist.chat` arguments."""
    done = run([NODE, str(NODE_TESTS / "chat_input.test.mjs")], REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "chat input ok" in done.stdout
    assert "language model messages ok" in done.stdout


@pytest.mark.slow
def test_node_protocol_session(extension_built: Path, tmp_path: Path) -> None:
    """initialize, didOpen, incremental didChange, inlineCompletion, $/cancelRequest, shutdown, exit."""
    cmd = [NODE, str(NODE_TESTS / "session.mjs"), "--", *server_command()]
    done = run(cmd, tmp_path, timeout=300, env=isolated_env(tmp_path))
    summary_lines = [line for line in done.stdout.splitlines() if line.startswith("SUMMARY ")]
    assert summary_lines, f"no summary from the node session:\n{done.stdout}\n{done.stderr}"
    summary = json.loads(summary_lines[-1][len("SUMMARY "):])
    assert done.returncode == 0, f"node session failed: {summary['errors']}\n{done.stderr[-3000:]}"
    assert summary["exitCode"] == 0
    texts = [item["insertText"] for item in summary["invoked"]]
    assert texts and all(isinstance(t, str) and t.strip() for t in texts)
    assert summary["afterCancel"]
    cancelled = summary["cancelled"]
    assert cancelled["kind"] == "error" and cancelled["code"] == -32800 or cancelled["kind"] == "result" and not cancelled["items"]
    # Per-request timings reach the client (log messages and/or the starassist/timings notification).
    notes = summary["notifications"]
    assert notes.get("starassist/timings", 0) + notes.get("window/logMessage", 0) >= 1


@pytest.mark.slow
def test_extension_against_server(extension_built: Path, tmp_path: Path) -> None:
    """The compiled extension with the real vscode-languageclient and the real server; only the `vscode` module
    is a stand-in (tests/node/fake_vscode.cjs). Inline completion through the library's own provider, timings in
    the status bar, settings forwarded, explain and modify from the command palette, restart, clean deactivate."""
    cmd = [NODE, str(NODE_TESTS / "extension_host.mjs"), "--", *server_command()]
    done = run(cmd, tmp_path, timeout=400, env=isolated_env(tmp_path))
    summary_lines = [line for line in done.stdout.splitlines() if line.startswith("SUMMARY ")]
    assert summary_lines, f"no summary from the extension host:\n{done.stdout}\n{done.stderr}"
    summary = json.loads(summary_lines[-1][len("SUMMARY "):])
    assert done.returncode == 0, f"extension host failed: {summary['errors']}\n{summary.get('output')}\n{done.stderr[-3000:]}"
    assert summary["items"] and all(item["insertText"].strip() for item in summary["items"])
    assert summary["status"]["text"].startswith("$(sparkle) starassist ")
    assert summary["didChangeConfiguration"]["settings"]["starassist"]["completion"]["max_tokens"] == 16
    assert summary["explanation"].strip()
    assert summary["modified"].strip()  # the accepted proposal, now the document
    assert summary["afterRestart"] and summary["afterRestart"][0].strip()  # serves again after a restart
    stats = json.loads((tmp_path / "data" / "stats.json").read_text(encoding="utf-8"))
    assert stats["accepted"] >= 1  # the item's command reached the server


def test_extension_with_missing_server(extension_built: Path, tmp_path: Path) -> None:
    """A wrong starassist.serverPath: activation succeeds, one error names the setting, commands still answer."""
    missing = tmp_path / "no-such-dir" / "starassist"
    cmd = [NODE, str(NODE_TESTS / "extension_host.mjs"), "--expect-start-failure", "--", str(missing), "lsp"]
    done = run(cmd, tmp_path, timeout=60, env=isolated_env(tmp_path))
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    summary = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("SUMMARY "))[len("SUMMARY "):])
    errors = [m["text"] for m in summary["messages"] if m["kind"] == "error"]
    assert errors == [f"[starassist] `{missing}` not found — install starassist (pip install starassist) or set starassist.serverPath"]


@pytest.mark.slow
def test_vsce_package(extension_built: Path, tmp_path: Path) -> None:
    vsix = tmp_path / "starassist.vsix"
    done = run([NPM, "exec", "--no", "--", "vsce", "package", "--out", str(vsix)], extension_built, timeout=300)
    assert done.returncode == 0, f"vsce package failed:\n{done.stdout}\n{done.stderr}"
    with zipfile.ZipFile(vsix) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("extension/package.json"))
    assert "extension/out/extension.js" in names
    assert {"extension/webview/chat.js", "extension/webview/chat.css"} <= names  # the chat panel's page
    assert "extension/node_modules/vscode-languageclient/package.json" in names  # runtime dependency shipped
    assert not any(n.startswith("extension/src/") for n in names)
    assert manifest["name"] == "starassist" and manifest["publisher"] == "starassist"
