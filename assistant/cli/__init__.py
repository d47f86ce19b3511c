"""The `starassist` command line: the top layer, which may import every other part of the product.

Each module registers its commands on the shared typer app when imported (`app.command`); they keep their
heavy imports (llama.cpp, torch, rich) inside the commands, so `starassist --help` stays fast.
"""

from __future__ import annotations

from . import bench, chat, core, eval, lsp, models_pull, quant, redact  # noqa: F401 - importing a module registers its commands
from .app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
