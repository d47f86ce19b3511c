"""starassist engine core: model resolution, backends, FIM prompts, completion, settings.

Nothing here imports torch or loads a model at import time; the CLI and the LSP import what they need lazily.
"""

__version__ = "0.1.0"
