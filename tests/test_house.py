"""The house rules: one import package (`starassist`) in wheels and in the editable install, the layer rule
enforced by import-linter, and no private name used outside the module that defines it."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("assistant", "lsp", "quant", "prompts")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # A copy of the tracked tree: building in place would leave build/ and egg-info in the checkout.
    src = out / "src"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if name.startswith(("editors/", "tests/")) or not (ROOT / name).is_file():
            continue
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("starassist-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory) -> Path:
    """The wheel unpacked as a site directory (its dependencies come from this environment)."""
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    return site


def test_the_wheel_installs_one_top_level_package(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"starassist"}
    for expected in ("starassist/__init__.py", "starassist/engine/fim.py", "starassist/lsp/server.py",
                     "starassist/quant/convert.py", "starassist/prompts/tech_assistant.txt",
                     "starassist/prompts/tasks.toml", "starassist/cli/data/typing_sample.txt",
                     "starassist/quant/data/sample.py"):
        assert expected in names, expected
    assert not [n for n in names if "memorizing" in n or "slowed" in n]  # test machinery is not shipped
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as zf:
        assert "starassist = starassist.cli:main" in zf.read(entry_points).decode()


def _imports(env_path: str | None, code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if env_path is not None:
        env["PYTHONPATH"] = env_path
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


PROBE = """
import importlib, importlib.util, sys
import starassist.cli, starassist.lsp.server, starassist.quant.convert, starassist.prompts, starassist.chat.modify
print(starassist.lsp.server.__file__)
print(starassist.prompts.load_prompts().explain.question[:10])
print([n for n in ("assistant", "lsp", "quant", "prompts") if importlib.util.find_spec(n) is not None])
"""


def test_the_wheel_imports_as_starassist(installed: Path, tmp_path: Path):
    result = _imports(str(installed), PROBE, tmp_path)
    assert result.returncode == 0, result.stderr
    server_file, _, stray = result.stdout.strip().splitlines()
    assert Path(server_file).is_relative_to(installed)
    assert stray == "[]"


def test_the_editable_install_imports_the_same_way(tmp_path: Path):
    result = _imports(None, PROBE, tmp_path)  # cwd outside the checkout: only the installed finder helps
    assert result.returncode == 0, result.stderr
    server_file, _, stray = result.stdout.strip().splitlines()
    assert Path(server_file) == ROOT / "lsp" / "server.py"
    assert stray == "[]"


def _lint_imports(site: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run([str(exe), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=site, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_layer_rule_holds(installed: Path):
    result = _lint_imports(installed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("module", "forbidden"), [
    ("starassist/engine/fim.py", "import starassist.chat.prompt"),
    ("starassist/chat/explain.py", "import starassist.lsp.session"),
    ("starassist/quant/report.py", "import starassist.chat.modify"),
    ("starassist/lsp/suggest.py", "import starassist.quant.types"),
    ("starassist/engine/settings.py", "import starassist.prompts"),
])
def test_the_layer_rule_is_real(installed: Path, tmp_path: Path, module: str, forbidden: str):
    site = tmp_path / "site"
    shutil.copytree(installed, site)
    target = site / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{forbidden}  # a forbidden import\n", encoding="utf-8")
    result = _lint_imports(site)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout.upper()


# ---- private names stay private -----------------------------------------------------------------------------


def _our_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (from the package-dir mapping)."""
    roots = {"assistant": "starassist", "lsp": "starassist.lsp", "quant": "starassist.quant",
             "prompts": "starassist.prompts"}
    out = {}
    for folder, dotted in roots.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([dotted, *parts])] = path
    return out


def _private_uses(module: str, path: Path, ours: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    bound: dict[str, str] = {}  # local name -> our module it refers to
    found = []

    def absolute(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        return ".".join(base + ([node.module] if node.module else []))

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = absolute(node)
            if source not in ours and not source.startswith("starassist"):
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                if full in ours:
                    bound[alias.asname or alias.name] = full
                elif alias.name.startswith("_") and not alias.name.startswith("__") and source != module:
                    found.append(f"{module} imports {alias.name} from {source}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in ours and alias.asname:
                    bound[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{module} uses {bound[node.value.id]}.{node.attr}")
        if isinstance(node, ast.Attribute) and node.attr in ("_llm", "_model", "_ctx") and module.startswith(
                ("starassist.cli", "starassist.lsp", "starassist.quant", "starassist.chat")):
            found.append(f"{module} reaches into a backend's {node.attr}")
    return found


def test_private_names_stay_in_their_module():
    modules = _our_modules()
    ours = set(modules)
    problems = [p for name, path in modules.items() for p in _private_uses(name, path, ours)]
    assert problems == []


def test_no_importlib_for_our_own_modules():
    offenders = []
    for name, path in _our_modules().items():
        text = path.read_text(encoding="utf-8")
        if "import_module(" in text or "__import__(" in text:
            offenders.append(name)
    assert offenders == []
