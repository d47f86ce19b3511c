"""Issue 13's acceptance: starassist against real inference servers on 127.0.0.1.

llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`) runs the embedded model and the
memorizing StarCoder fixture (session fixtures in conftest). A recording proxy (tests/recording_proxy.py) sits
between starassist and the server where a test needs to see the wire: what was sent, what came back, when
starassist hung up. Completions go through `starassist complete`, `doctor`, explain and chat in-process (typer's
CliRunner) and through the real `starassist lsp` driven by pytest-lsp.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path

import lsp_fixtures
import pytest
from lsp_fixtures import isolated_env, server_command, start_session, stop_session
from lsprotocol import types
from quant_fixtures import run_cli
from recording_proxy import RecordingProxy
from remote_checks import (
    check_marker_text_reaches_the_model_as_text,
    complete_json,
    memorized_span_failures,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server] (the test extra)")

CORPUS = Path(__file__).with_name("remote_corpus")
PLANTED = json.loads((CORPUS / "planted.json").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def default_settings(monkeypatch, tmp_path):
    """No user config file and no STARASSIST_* environment; token healing off so that the local and the remote
    path give the model the very same text."""
    for name in list(os.environ):
        if name.startswith("STARASSIST_") and name != "STARASSIST_TEST_CACHE":
            monkeypatch.delenv(name)
    monkeypatch.setenv("STARASSIST_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("STARASSIST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STARASSIST_COMPLETION__TOKEN_HEALING", "false")
    monkeypatch.setenv("STARASSIST_MODEL__THREADS", "1")


def corpus_files() -> dict[str, str]:
    return {str(p.relative_to(CORPUS)): p.read_text(encoding="utf-8")
            for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.name != "planted.json"}


def streamed_text(exchange) -> str:
    """The text a server streamed back (server-sent events inside a chunked HTTP answer)."""
    out = []
    for line in exchange.answer.decode("utf-8", "replace").splitlines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            out += [c.get("text") or (c.get("delta") or {}).get("content") or ""
                    for c in json.loads(line[5:]).get("choices", [])]
    return "".join(out)


def leaked(exchanges) -> list[tuple[str, str]]:
    """Planted values found in what reached the server: the raw bytes, and the JSON strings decoded (so an
    escaped newline inside a key block cannot hide a match)."""
    found = []
    for ex in exchanges:
        decoded = json.dumps(json.loads(ex.body), ensure_ascii=False).replace("\\n", "\n") if ex.body else ""
        for item in PLANTED:
            for value in item["must_not_leave"]:
                if value.strip() in ex.text or value.strip() in decoded:
                    found.append((item["category"], value))
    return found


# ---- completions through remote ---------------------------------------------------------------------------


def test_complete_through_the_remote_embedded_model_matches_the_local_one(llama_server_embedded, tmp_path):
    doc = tmp_path / "fib.py"
    doc.write_text('def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    if n < 2:\n        return n\n'
                   "    return ", encoding="utf-8")
    args = [str(doc), "--line", "5", "--col", "12", "--max-tokens", "16"]
    remote = complete_json([*args, "--model", llama_server_embedded.url])
    local = complete_json([*args, "--model", "embedded"])
    assert remote["model"] == "remote:embedded" and remote["format"] == "none"
    # Same weights, same greedy decoding, same prompt text: the same completion.
    assert remote["text"].strip() and remote["text"] == local["text"]


def test_memorized_spans_come_back_through_remote_psm(llama_server_fixture, tmp_path):
    count, failures = memorized_span_failures(llama_server_fixture.url, tmp_path)
    print(f"remote PSM: {count - len(failures)}/{count} masked spans came back")
    assert count >= 25 and not failures, failures[:5]


# ---- redaction on the wire --------------------------------------------------------------------------------


def test_marker_text_in_the_users_code_reaches_the_model_as_text(llama_server_fixture, tmp_path):
    check_marker_text_reaches_the_model_as_text(llama_server_fixture.url, tmp_path)


def test_planted_secrets_never_reach_the_server(llama_server_embedded):
    """One corpus file as the current document (the cursor mid-file), all the others as other open files (a
    repo-level layout puts them in the prompt): none of the 61 planted values reaches the server."""
    from starassist.engine.completion import CompletionEngine, CompletionRequest
    from starassist.engine.loader import load_backend
    from starassist.engine.settings import load_settings

    files = corpus_files()
    with RecordingProxy(llama_server_embedded.url) as proxy:
        settings = load_settings(overrides={
            "model": {"path": proxy.url, "fim_format": "starcoder2", "context_length": 8000},
            "completion": {"context_tokens": 3000, "extra_context_tokens": 4000, "max_tokens": 4}})
        engine = CompletionEngine(load_backend(settings.model, remote=settings.remote), settings)
        names = sorted(files)
        current = "billing/config.py"
        text = files[current]
        others = tuple((p, t) for p, t in files.items() if p != current)
        engine.complete(CompletionRequest(text=text, offset=len(text) // 2, path=current, repo="acme",
                                          other_files=others, multiline=False))
    posts = proxy.posts("/v1/completions")
    assert len(posts) == 1
    prompts = [json.loads(ex.body)["prompt"] for ex in posts]
    for prompt in prompts:  # every file went out (as the current one or as another open file)
        assert all(f"{name}\n" in prompt for name in names)
    assert leaked(proxy.exchanges) == []
    placeholders = set(re.findall(r"<(?:SECRET|EMAIL|IP_ADDRESS)_\d+>", "".join(prompts)))
    print(f"{len(PLANTED)} planted values in {len(files)} files: 0 reached the server; {len(placeholders)} "
          "distinct placeholders went instead")
    assert len(placeholders) >= 50


def test_an_echoed_placeholder_is_restored_before_the_user_sees_it(llama_server_embedded, tmp_path):
    # The model sees the same placeholder four times and writes it a fifth time; the user gets the address.
    doc = tmp_path / "recipients.txt"
    doc.write_text("ana.lima@acme-corp.com\n" * 4, encoding="utf-8")
    with RecordingProxy(llama_server_embedded.url) as proxy:
        out = complete_json([str(doc), "--line", "5", "--col", "1", "--single-line", "--max-tokens", "8",
                             "--model", proxy.url])
    answer = streamed_text(proxy.posts("/v1/completions")[-1])
    assert answer.startswith("<EMAIL_1>")  # the server really wrote the placeholder ...
    assert out["text"] == "ana.lima@acme-corp.com"  # ... and the user sees the original
    assert "ana.lima@acme-corp.com" not in proxy.posts("/v1/completions")[-1].text


def test_explain_and_chat_go_to_chat_completions_redacted(llama_server_embedded, tmp_path):
    from starassist.chat.session import ChatSession
    from starassist.engine.loader import load_backend
    from starassist.engine.settings import load_settings

    doc = tmp_path / "db.py"
    files = corpus_files()
    doc.write_text(files["billing/config.py"], encoding="utf-8")
    with RecordingProxy(llama_server_embedded.url) as proxy:
        result = run_cli(["explain", f"{doc}:5-9", "--model", proxy.url, "--max-tokens", "40"])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip()
        settings = load_settings(overrides={"model": {"path": proxy.url}, "chat": {"max_tokens": 24}})
        session = ChatSession(load_backend(settings.model, remote=settings.remote), settings)
        session.ask(f"Is this safe?\n{files['.env']}")
        session.ask("Why?")
    chats = proxy.posts("/v1/chat/completions")
    assert len(chats) == 3
    assert [m["role"] for m in json.loads(chats[2].body)["messages"]][-3:] == ["user", "assistant", "user"]
    assert leaked(proxy.exchanges) == []


# ---- the LSP through remote --------------------------------------------------------------------------------


def lsp_options(url: str, timeout_s: float = 300, **completion) -> dict:
    return {"model": {"backend": "remote", "context_length": 512},
            "remote": {"url": url, "timeout_s": timeout_s},
            "completion": {"debounce_ms": 0, "max_tokens": 48, **completion}}


@pytest.mark.asyncio
async def test_lsp_completes_through_remote_and_survives_outages(llama_server_fixture, tmp_path, monkeypatch):
    from memorizing.build import REPO, corpus, spans

    monkeypatch.setattr(lsp_fixtures, "ROOT_URI", f"file:///work/{REPO}")
    proxy = RecordingProxy(llama_server_fixture.url)
    session = await start_session(server_command(), isolated_env(tmp_path))
    try:
        await session.initialize("visual-studio-code", lsp_options(proxy.url, timeout_s=2))
        path, text = corpus()[0]
        span = spans(text, path)[2]
        uri = session.open(path, text[: span.start] + text[span.end :])

        async def suggestion() -> str | None:
            result = await session.inline(uri, span.line - 1, span.col - 1)
            return result.items[0].insert_text if result.items else None

        want = text[span.start : span.end]
        assert await suggestion() == want
        assert (await session.status()).model == "remote:tiny-starcoder"

        outages = [("down", "cannot reach the server at"), ("401", "refused the API key (401)"),
                   ("slow", "did not answer within 2 s")]
        for outage, message in outages:
            if outage == "down":
                proxy.down()
            elif outage == "401":
                proxy.status = 401
            else:
                proxy.delay_s = 3
            session.client.messages.clear()
            for _ in range(2 if outage == "slow" else 3):  # editors keep asking: the user is told once
                # Typing at the end of the file: a new suffix, so the suggestion cache cannot answer.
                end_line = session.texts[uri].count("\n")
                session.insert(uri, end_line, 0, "#")
                assert await suggestion() is None
            shown = [m.message for m in session.client.messages]
            assert len(shown) == 1 and message in shown[0] and "\n" not in shown[0], (outage, shown)
            # The server comes back; the LSP never went away.
            if outage == "down":
                proxy.up()
            proxy.status, proxy.delay_s = None, 0.0
            session.client.text_document_did_close(types.DidCloseTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=uri)))  # forgets cached suggestions
            uri = session.open(path, text[: span.start] + text[span.end :])
            assert await suggestion() == want, outage
        assert proxy.posts("/v1/completions")
        assert leaked(proxy.exchanges) == []
    finally:
        await stop_session(session)
        proxy.down()


@pytest.mark.asyncio
async def test_lsp_other_open_documents_go_out_redacted(llama_server_embedded, tmp_path, monkeypatch):
    files = corpus_files()
    with RecordingProxy(llama_server_embedded.url) as proxy:
        session = await start_session(server_command(), isolated_env(tmp_path))
        try:
            options = lsp_options(proxy.url, max_tokens=4, extra_context_tokens=2000, context_tokens=1500)
            options["model"].update(context_length=6000, fim_format="starcoder2")
            await session.initialize("visual-studio-code", options)
            for name in ("deploy/values.yaml", ".env", "web/server.js", "lib/vault.rb"):
                session.open(name, files[name], "plaintext")
            uri = session.open("billing/config.py", files["billing/config.py"])
            await session.inline(uri, 10, 0)
        finally:
            await stop_session(session)
    prompts = [json.loads(ex.body)["prompt"] for ex in proxy.posts("/v1/completions")]
    assert leaked(proxy.exchanges) == []
    # The suggestion's prompt (after the LSP's warm-up; a prefetch may follow it) holds the other files, redacted.
    with_files = [p for p in prompts if "<file_sep>" in p]
    assert with_files and with_files[0].count("<SECRET_") >= 10, [p[:200] for p in prompts]


@pytest.mark.asyncio
async def test_a_keystroke_hangs_up_a_long_remote_generation_within_100ms(llama_server_embedded, tmp_path):
    text = "# A long story about the sea, told line by line.\n\n"
    with RecordingProxy(llama_server_embedded.url) as proxy:
        session = await start_session(server_command(), isolated_env(tmp_path))
        try:
            options = lsp_options(proxy.url, max_tokens=400, multiline="always")
            options["model"]["context_length"] = 2048
            await session.initialize("visual-studio-code", options)
            await session.wait_for_status(lambda s: s.ready and s.model)
            uri = session.open("story.md", text, "markdown")
            first = asyncio.ensure_future(session.inline(uri, 2, 0))
            await session.wait_for(lambda: len(proxy.posts("/v1/completions")) >= 2)  # warm-up, then ours
            long_one = proxy.posts("/v1/completions")[-1]
            await session.wait_for(lambda: long_one.answer.count(b"data:") >= 5, timeout=120)  # generating
            typed = time.monotonic()
            session.insert(uri, 2, 0, "T")  # the keystroke: didChange (the editor's next request follows)
            second = asyncio.ensure_future(session.inline(uri, 2, 1))
            await session.wait_for(lambda: long_one.client_gone_at is not None, timeout=5)
            hung_up_ms = (long_one.client_gone_at - typed) * 1000
            first_items = (await first).items
            assert not first_items  # superseded
            await second
        finally:
            await stop_session(session)
    tokens_streamed = long_one.answer.count(b"data:")
    print(f"keystroke -> connection closed in {hung_up_ms:.1f} ms (after {tokens_streamed} streamed tokens)")
    assert hung_up_ms < 100
    assert long_one.upstream_closed_at is not None  # the proxy hung up on the server in turn
    assert tokens_streamed < 400


# ---- doctor ------------------------------------------------------------------------------------------------


def test_doctor_checks_the_endpoint(llama_server_fixture, llama_server_embedded, monkeypatch):
    ok = run_cli(["doctor", "--model", llama_server_fixture.url])
    assert ok.exit_code == 0, ok.output
    for line in ("served model: tiny-starcoder", "server fim: starcoder: <fim_prefix> is one token on the server",
                 "redaction: on", "latency: first token after"):
        assert line in ok.stdout
    assert "answered in" in ok.stdout and "infill:" in ok.stdout

    no_fim = run_cli(["doctor", "--model", llama_server_embedded.url])
    assert "no FIM tokens on the server either" in no_fim.stdout
    monkeypatch.setenv("STARASSIST_MODEL__FIM_FORMAT", "starcoder2")
    wrong = run_cli(["doctor", "--model", llama_server_embedded.url])
    assert wrong.exit_code == 1
    assert "the server is up but its model has no FIM tokens" in wrong.stdout

    with RecordingProxy(llama_server_fixture.url) as proxy:
        proxy.status = 401
        refused = run_cli(["doctor", "--model", proxy.url])
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == [
        "starassist: error: the server refused the API key (401) — set the variable named by remote.api_key_env"]


@pytest.mark.asyncio
async def test_requests_reaching_a_shared_server_per_100_keystrokes(llama_server_fixture, tmp_path, monkeypatch):
    """What a typist costs the team server: each keystroke is a didChange plus an inline request (as editors
    send them); debounce, supersede and the suggestion cache decide how many reach the server."""
    from memorizing.build import REPO, corpus

    monkeypatch.setattr(lsp_fixtures, "ROOT_URI", f"file:///work/{REPO}")
    typed = ("    def peek_or_default(self, default=None):\n        return self.items[-1] if self.items else default\n"
             * 2)[:100]
    report = {}
    with RecordingProxy(llama_server_fixture.url) as proxy:
        session = await start_session(server_command(), isolated_env(tmp_path))
        try:
            options = lsp_options(proxy.url, max_tokens=48)
            options["completion"].pop("debounce_ms")  # the default debounce, as users have it
            await session.initialize("visual-studio-code", options)
            await session.wait_for_status(lambda s: s.ready and s.model)
            path, text = corpus()[0]
            for interval_ms in (80, 200):  # a fast typist (150 wpm) and an ordinary one (60 wpm)
                uri = session.open(f"{path}.{interval_ms}", text + "\n")
                before = len(proxy.posts("/v1/completions"))
                line, col, pending = text.count("\n") + 1, 0, []
                for ch in typed:
                    session.insert(uri, line, col, ch)
                    line, col = (line + 1, 0) if ch == "\n" else (line, col + 1)
                    pending.append(asyncio.ensure_future(session.inline(uri, line, col)))
                    await asyncio.sleep(interval_ms / 1000)
                results = await asyncio.gather(*pending)
                sent = proxy.posts("/v1/completions")[before:]
                cut = sum(1 for ex in sent if ex.client_gone_at is not None)
                # The most generations this one editor had running on the server at the same moment.
                events = sorted([(ex.started, 1) for ex in sent] + [(ex.upstream_closed_at or ex.started, -1) for ex in sent])
                running = peak = 0
                for _, step in events:
                    running += step
                    peak = max(peak, running)
                report[interval_ms] = (len(sent), cut, sum(1 for r in results if r.items), peak)
        finally:
            await stop_session(session)
    for interval_ms, (sent, cut, shown, peak) in report.items():
        print(f"100 keystrokes every {interval_ms} ms: {sent} requests reached the server ({cut} hung up early), "
              f"{shown} suggestions shown, at most {peak} running at once")
        assert peak <= 2  # one editor never keeps more than the current generation (and one finishing) busy
    assert report[80][0] <= 30  # a fast typist's keystrokes mostly never leave the machine


def test_bench_team_measures_editors_typing_at_once(llama_server_fixture, monkeypatch):
    """`starassist bench team`: real LSPs typing at once against the server, with the user's settings; the
    requests it counts are the ones the server received."""
    # llama-cpp-python's server does not say its context (512 here) and answers a longer prompt with nothing.
    monkeypatch.setenv("STARASSIST_MODEL__CONTEXT_LENGTH", "512")
    with RecordingProxy(llama_server_fixture.url) as proxy:
        result = run_cli(["bench", "team", "--model", proxy.url, "--editors", "1,2", "--keystrokes", "16",
                          "--key-ms", "120", "--json"])
        posts = len(proxy.posts("/v1/completions"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [r["editors"] for r in report["rows"]] == [1, 2]
    for row in report["rows"]:
        assert row["pauses"] == 2 * row["editors"] and row["errors"] == 0
        assert row["shown"] >= 1 and 0 < row["p50_ms"] <= row["p95_ms"]
    counted = sum(r["requests_per_100_keys"] * r["editors"] * 16 / 100 for r in report["rows"])
    warmups = 1 + 2  # each LSP warms the server up once when it starts, before any keystroke
    assert 0 < counted and abs(counted - (posts - warmups)) < 1
    assert report["editors_served"] in (0, 1, 2)
