"""The e2e tests catch a broken extension: a variant whose inline provider never reaches the server (built by
`build_vsix(broken=True)`) shows no ghost text, so `ghost_text` — the step every completion test starts with —
fails on it. Its own code-server session; the working extension is tested in test_vscode_e2e.py."""

from __future__ import annotations

import typing

import pytest
from codeserver import E2E_SETTINGS, Workbench, build_vsix, skip_reason, start_workbench
from test_vscode_e2e import AREA, ghost_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> typing.Iterator[Workbench]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("vscode-broken")
    for bench in start_workbench(tmp, E2E_SETTINGS, vsix=build_vsix(tmp, broken=True)):
        bench.wait_model_ready()
        yield bench


def test_ghost_text_step_fails_without_the_inline_provider(broken: Workbench) -> None:
    broken.open_file("area.py", AREA)
    broken.page.keyboard.type("return ", delay=40)
    with pytest.raises(Exception, match="Timeout"):
        ghost_text(broken, timeout=30)
    assert broken.tap.requests("textDocument/inlineCompletion") == []
    # The server itself is fine: it answers other requests.
    assert broken.status()["requests"] == 0
