"""Checks shared by the tests that run starassist against a real inference server (llama-cpp-python's server,
llama.cpp's llama-server): `starassist complete` in-process, a recording proxy where the wire matters."""

from __future__ import annotations

import json
from pathlib import Path

from quant_fixtures import run_cli
from recording_proxy import RecordingProxy
from remote_servers import server_tokens


def complete_json(args: list[str]) -> dict:
    result = run_cli(["complete", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def memorized_span_failures(url: str, tmp_path: Path) -> tuple[int, list[tuple]]:
    """Each masked span of the memorizing fixture, completed through the server at `url` (PSM): how many, and
    those that did not come back."""
    from memorizing.build import corpus, spans

    failures, count = [], 0
    for path, text in corpus():
        for span in spans(text, path):
            doc = tmp_path / Path(path).name
            doc.write_text(text[: span.start] + text[span.end :], encoding="utf-8")
            out = complete_json([str(doc), "--line", str(span.line), "--col", str(span.col), "--plain",
                                 "--fim-mode", "psm", "--max-tokens", "48", "--multiline", "--raw", "--model", url])
            count += 1
            want = text[span.start : span.end]
            if not out["raw"].startswith(want):
                failures.append((path, span.line, want, out["raw"][: len(want) + 10]))
    return count, failures


def check_marker_text_reaches_the_model_as_text(url: str, tmp_path: Path) -> None:
    """Marker text in the user's code (`"<fim_middle>"`) reaches the model as text, not as the control token a
    server makes of it when it parses the prompt's text."""
    code = 'MIDDLE = "<fim_middle>"\n\ndef f(x):\n    return x + \n'
    marker = server_tokens(url, "<fim_middle>")
    assert len(marker) == 1  # sent as it is, the text would be the control token on this server
    doc = tmp_path / "m.py"
    doc.write_text(code, encoding="utf-8")
    with RecordingProxy(url) as proxy:
        complete_json([str(doc), "--line", "4", "--col", "15", "--max-tokens", "8", "--model", proxy.url])
    prompt = json.loads(next(ex for ex in proxy.exchanges if ex.path == "/v1/completions").body)["prompt"]
    assert 'MIDDLE = "<MARKER_1>"' in prompt
    # The model reads one <fim_middle>: the format's own, where the middle starts.
    assert server_tokens(url, prompt).count(marker[0]) == 1
