"""A real VS Code for tests: code-server on 127.0.0.1 with our packaged `.vsix` installed, a settings.json that
points the extension at this environment's `starassist`, and a headless Chromium page on it (Python playwright).

Installs are cached by scripts/setup_vscode_e2e.py; without chromium (or playwright) the tests skip with the
one-line install hint."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import typing
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / ".artifacts" / "vscode-e2e"
sys.path.insert(0, str(REPO / "scripts"))
import setup_vscode_e2e as setup  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def skip_reason() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed — pip install -e '.[test]'"
    missing = setup.missing_system()
    if missing:
        return f"no {', '.join(missing)} for the VS Code e2e tests — run `{setup.APT_HINT}`"
    return None


def build_vsix(out: Path) -> Path:
    ext = REPO / "editors" / "vscode"
    if not (ext / "node_modules" / "vscode-languageclient").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ext, check=True, capture_output=True)
    vsix = out / "starassist.vsix"
    subprocess.run(
        ["npm", "exec", "--no", "--", "vsce", "package", "--out", str(vsix)],
        cwd=ext,
        check=True,
        capture_output=True,
    )
    return vsix


class CodeServer:
    """code-server started on a free port, torn down by `close()`."""

    def __init__(self, tmp: Path, settings: dict[str, typing.Any]) -> None:
        root = setup.install()
        self.node = setup.node_bin(root) / "node"
        self.entry = setup.code_server(root)
        self.env = dict(os.environ)
        self.env["PATH"] = f"{setup.node_bin(root)}{os.pathsep}{self.env['PATH']}"
        self.env["STARASSIST_CONFIG_DIR"] = str(tmp / "config")
        self.env["STARASSIST_DATA_DIR"] = str(tmp / "data")
        self.user_data = tmp / "user-data"
        self.extensions = tmp / "extensions"
        self.folder = tmp / "workspace"
        self.folder.mkdir()
        vsix = build_vsix(tmp)
        self._code(["--install-extension", str(vsix)])
        user = self.user_data / "User"
        user.mkdir(parents=True, exist_ok=True)
        base = {
            "workbench.startupEditor": "none",
            "security.workspace.trust.enabled": False,
            "editor.inlineSuggest.enabled": True,
            "telemetry.telemetryLevel": "off",
            "workbench.tips.enabled": False,
            "chat.commandCenter.enabled": False,
            "workbench.secondarySideBar.defaultVisibility": "hidden",
        }
        (user / "settings.json").write_text(json.dumps({**base, **settings}, indent=1), encoding="utf-8")
        self.port = free_port()
        self.log = open(tmp / "code-server.log", "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [
                str(self.node),
                str(self.entry),
                *self._dirs(),
                "--auth",
                "none",
                "--disable-telemetry",
                "--bind-addr",
                f"127.0.0.1:{self.port}",
                str(self.folder),
            ],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}/?folder={self.folder}"
        self._wait_up(60)

    def _dirs(self) -> list[str]:
        return ["--user-data-dir", str(self.user_data), "--extensions-dir", str(self.extensions)]

    def _code(self, args: list[str]) -> None:
        subprocess.run(
            [str(self.node), str(self.entry), *self._dirs(), *args],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=180,
        )

    def _wait_up(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"code-server exited: see {self.log.name}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2).read()
                return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError("code-server did not start")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def server_path() -> str:
    script = Path(sys.executable).with_name("starassist")
    return str(script)


@pytest.fixture(scope="module")
def vscode(tmp_path_factory: pytest.TempPathFactory) -> typing.Iterator[typing.Any]:
    """(code-server, playwright page) with a workbench loaded; screenshots land in .artifacts/ on failure."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("vscode")
    server = CodeServer(
        tmp, {"starassist.serverPath": server_path(), "starassist.completion.debounce_ms": 30}
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=setup.chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(server.url)
        page.wait_for_selector(".monaco-workbench", timeout=60_000)
        try:
            yield server, page
        finally:
            browser.close()
            server.close()


def screenshot(page: typing.Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
