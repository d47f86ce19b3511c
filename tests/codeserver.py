"""A real VS Code for tests: code-server on 127.0.0.1 with our packaged `.vsix` installed, a settings.json that
points the extension at this environment's `starassist`, and a headless Chromium page on it (Python playwright).

Installs are cached by scripts/setup_vscode_e2e.py; without chromium (or playwright) the tests skip with the
one-line install hint."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import typing
import urllib.request
from pathlib import Path

import pytest
from lsp_tap import Tap, write_tap

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


# The deliberately broken variant: inline completion answers nothing, without asking the server.
BROKEN_PATCH = (
    "return kept ?? this.remember(doc, pos, await next(doc, pos, ctx, token));",
    "return kept ?? null; // broken on purpose (tests/test_vscode_e2e_broken.py)",
)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)  # node_modules is large; a hard link is instant
    except OSError:
        shutil.copy2(src, dst)


def build_vsix(out: Path, broken: bool = False) -> Path:
    """Package the extension; `broken` packages a copy whose inline provider never reaches the server."""
    ext = REPO / "editors" / "vscode"
    if not (ext / "node_modules" / "vscode-languageclient").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ext, check=True, capture_output=True)
    if broken:
        copy = out / "vscode-broken"
        shutil.copytree(ext, copy, ignore=lambda d, names: [n for n in names if n.endswith(".vsix") or (n == "out" and d == str(ext))], copy_function=_link_or_copy,
                        symlinks=True)
        client = copy / "src" / "client.ts"
        source = client.read_text(encoding="utf-8")
        assert BROKEN_PATCH[0] in source, "the broken variant's patch no longer applies to src/client.ts"
        client.unlink()  # a hard link: write a new file, not through the link
        client.write_text(source.replace(*BROKEN_PATCH), encoding="utf-8")
        ext = copy
    vsix = out / ("starassist-broken.vsix" if broken else "starassist.vsix")
    subprocess.run(
        ["npm", "exec", "--no", "--", "vsce", "package", "--out", str(vsix)],
        cwd=ext,
        check=True,
        capture_output=True,
    )
    return vsix


class CodeServer:
    """code-server started on a free port, torn down by `close()`."""

    def __init__(self, tmp: Path, settings: dict[str, typing.Any], vsix: Path | None = None) -> None:
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
        self._code(["--install-extension", str(vsix or build_vsix(tmp))])
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


class Workbench:
    """The VS Code page and what tests do with it: open files, run commands, read notifications."""

    def __init__(self, page: typing.Any, server: CodeServer, tap: Tap) -> None:
        self.page = page
        self.server = server
        self.tap = tap

    def open_file(self, name: str, text: str) -> None:
        """Write `name` into the workspace, open it from the explorer and put the cursor at its end."""
        page = self.page
        (self.server.folder / name).write_text(text, encoding="utf-8")
        # The explorer, not Quick Open: its file index may not have seen a file written a moment ago.
        row = page.locator(".explorer-folders-view .monaco-list-row", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))
        row.first.wait_for(timeout=20_000)
        row.first.dblclick()
        page.wait_for_selector(f".tab.active[aria-label*='{name}']", timeout=10_000)
        self.focus_editor()
        page.keyboard.press("Control+End")

    def focus_editor(self) -> None:
        page = self.page
        page.locator(".editor-group-container.active .editor-instance .monaco-editor .view-line").last.click()
        page.wait_for_function(
            "() => document.activeElement && document.activeElement.closest('.editor-instance')", timeout=10_000
        )

    def editor_text(self) -> str:
        """The visible lines of the active editor, in order (ghost text is not part of them)."""
        lines = self.page.locator(".editor-group-container.active .monaco-editor .view-lines .view-line")
        rows = lines.evaluate_all(
            "els => els.map(e => { const c = e.cloneNode(true);"
            " c.querySelectorAll('[class*=ghost-text]').forEach(g => g.remove());"
            " return [parseFloat(e.style.top) || 0, c.textContent]; })"
        )
        return "\n".join(t for _, t in sorted(rows)).replace("\u00a0", " ")

    def quick_input(self, key: str) -> typing.Any:
        """Open the quick input with `key` (from the editor, so no other widget takes the key) and return its box."""
        page = self.page
        box = page.locator(".quick-input-widget input:visible").first
        for attempt in range(3):
            if attempt:  # not at first: Escape in the editor would drop its selection
                page.keyboard.press("Escape")
            page.keyboard.press(key)
            try:
                box.wait_for(timeout=5_000)
                return box
            except Exception:  # noqa: BLE001 - focus was somewhere that ate the key: focus the editor, retry
                self.focus_editor()
        box.wait_for(timeout=5_000)
        return box

    def run_command(self, title: str) -> None:
        """Run a command from the palette by its title."""
        page = self.page
        for _ in range(2):
            try:
                self.quick_input("Control+Shift+P").fill(f">{title}", timeout=5_000)
                break
            except Exception:  # noqa: BLE001 - a webview took the focus back and closed the palette: again
                page.wait_for_timeout(300)
        else:
            self.quick_input("Control+Shift+P").fill(f">{title}")
        page.locator(".quick-input-list .monaco-list-row", has_text=title).first.wait_for(timeout=10_000)
        page.keyboard.press("Enter")

    def notification(self, pattern: str | re.Pattern[str], timeout: float = 60) -> typing.Any:
        """The notification toast whose message matches."""
        toast = self.page.locator(".notification-toast", has_text=pattern if isinstance(pattern, re.Pattern) else re.compile(pattern))
        toast.first.wait_for(timeout=timeout * 1000)
        return toast.first

    def clear_notifications(self) -> None:
        self.run_command("Notifications: Clear All Notifications")

    def status(self) -> dict[str, int]:
        """The server's counters and effective max_tokens, read from "starassist: Show Status"."""
        self.clear_notifications()
        self.run_command("starassist: Show Status")
        text = self.notification(r"requests, \d+ model calls").inner_text()
        found = re.search(r"(\d+) requests, (\d+) model calls, (\d+) cache hits", text)
        assert found, text
        out = dict(zip(("requests", "model_calls", "cache_hits"), map(int, found.groups()), strict=True))
        limit = re.search(r"max_tokens (\d+)", text)
        if limit:
            out["max_tokens"] = int(limit.group(1))
        self.clear_notifications()
        return out

    def wait_model_ready(self, timeout: float = 120) -> None:
        """The client is running and the server has finished loading its model (no progress item left)."""
        page = self.page
        page.locator(".statusbar-item .codicon-sparkle").first.wait_for(timeout=timeout * 1000)
        loading = page.locator(".statusbar-item", has_text="loading model")
        try:
            loading.first.wait_for(timeout=3000)
        except Exception:  # noqa: BLE001 - already loaded before the progress item could be seen
            return
        loading.first.wait_for(state="detached", timeout=timeout * 1000)

    def screenshot(self, name: str) -> Path:
        return screenshot(self.page, name)


# One model thread: code-server, Chromium and the server share the machine, and llama.cpp's threads wait for
# each other at every layer, so two threads on an oversubscribed machine are far slower than one.
E2E_SETTINGS = {"starassist.completion.debounce_ms": 30, "starassist.model.threads": 1}


def start_workbench(tmp: Path, settings: dict[str, typing.Any], vsix: Path | None = None) -> typing.Iterator[Workbench]:
    """code-server with the extension (our `.vsix` or `vsix`) talking to the real server through a tap."""
    from playwright.sync_api import sync_playwright

    tap_dir = tmp / "tap"
    script = write_tap(tap_dir, server_path())
    server = CodeServer(tmp, {"starassist.serverPath": str(script), **settings}, vsix=vsix)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=setup.chromium(), args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(server.url)
                page.wait_for_selector(".monaco-workbench", timeout=60_000)
                yield Workbench(page, server, Tap(tap_dir))
            finally:
                browser.close()
    finally:
        server.close()


@pytest.fixture(scope="module")
def vscode(tmp_path_factory: pytest.TempPathFactory) -> typing.Iterator[Workbench]:
    """One code-server session per test module, with the workbench loaded and the model ready."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("vscode")
    for bench in start_workbench(tmp, E2E_SETTINGS):
        bench.wait_model_ready()
        yield bench


def screenshot(page: typing.Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
