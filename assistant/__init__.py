"""starassist: a local coding assistant for your editor. One package: `starassist.engine` (the core),
`starassist.prompts`, `starassist.chat`, `starassist.quant`, `starassist.lsp` and `starassist.cli`, layered in
that order from the bottom (CONTRIBUTING.md).

Nothing here imports torch or loads a model at import time; the CLI and the LSP import what they need lazily.
"""

__version__ = "0.1.0"
