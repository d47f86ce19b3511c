"""The remote backend's mechanics against a real HTTP server on 127.0.0.1 that answers what the test scripts
(exact chunk boundaries: a placeholder split across server-sent events, a stop string mid-chunk). The same
backend against real inference servers: tests/test_remote_acceptance.py."""

from __future__ import annotations

import json

import pytest
from remote_servers import ScriptedServer, ServerScript

from starassist.engine.backends.remote import RemoteBackend, format_for_model_name
from starassist.engine.completion import CompletionEngine, CompletionRequest
from starassist.engine.errors import SettingsError
from starassist.engine.loader import load_backend
from starassist.engine.settings import ModelSettings, RemoteSettings, Settings

AWS = "AKIAZ7QW4ERT5YUI6OPL"


def engine_for(server: ScriptedServer, **remote) -> CompletionEngine:
    settings = Settings()
    settings.model.backend = "remote"
    settings.remote = RemoteSettings(url=server.url, **remote)
    return CompletionEngine(load_backend(settings.model, remote=settings.remote), settings)


def test_model_names_choose_fim_formats():
    assert [format_for_model_name(n) for n in (
        "bigcode/starcoder2-15b", "/models/starcoder2-3b-Q4_K_M.gguf", "bigcode/starcoderbase-1b", "TechxGenus/starcoder-7b",
        "codellama/CodeLlama-7b-hf", "deepseek-ai/deepseek-coder-6.7b-base", "Qwen/Qwen2.5-Coder-7B", "google/codegemma-2b",
        "HuggingFaceTB/SmolLM2-135M-Instruct")] == [
        "starcoder2", "starcoder2", "starcoder", "starcoder", "codellama", "deepseek", "qwen", "codegemma", "none"]


def test_pieces_round_trip_and_special_text_in_user_code_stays_text():
    with ScriptedServer() as server:
        backend = engine_for(server).backend
    text = 'def f(x):\n\treturn "<fim_middle>" + x  # ünïcode 🎉\r\n'
    ids = backend.tokenize(text)
    assert backend.detokenize(ids) == text
    assert backend.info.special_tokens["<fim_middle>"] not in ids
    assert backend.info.special_tokens["<fim_middle>"] in backend.tokenize("a<fim_middle>b", special=True)


def test_fim_prompt_goes_over_the_wire_as_text_with_the_models_special_tokens():
    with ScriptedServer(ServerScript(chunks=["b)\n"])) as server:
        engine = engine_for(server)
        text = "def add(a, b):\n    return a + \n\nprint(add(1, 2))\n"
        result = engine.complete(CompletionRequest(text=text, offset=text.index("\n\nprint"), path="src/add.py",
                                                   repo="demo", other_files=(("src/util.py", "X = 1\n"),)))
    assert [r.path for r in server.requests] == ["/v1/models", "/v1/completions"]
    body = server.requests[1].body
    assert body["model"] == "bigcode/starcoder2-3b"
    # StarCoder2 was trained on both layouts; starassist sends suffix-prefix-middle (SPM, issue 10): the prefix
    # comes last, so a server's prefix cache keeps all but the text being typed.
    assert body["prompt"] == ("<repo_name>demo<file_sep>src/util.py\nX = 1\n<file_sep><fim_prefix><fim_suffix>"
                              "\n\nprint(add(1, 2))\n<fim_middle>src/add.py\ndef add(a, b):\n    return a + ")
    assert result.text == "b)" and result.format == "starcoder2"


def test_infill_api_sends_prefix_and_suffix():
    with ScriptedServer(ServerScript(chunks=["b"])) as server:
        engine = engine_for(server, api="llama-infill")
        engine.complete(CompletionRequest(text="x = a + \ny = 2\n", offset=8, path="a.py", multiline=False))
    body = server.requests[-1].body
    assert server.requests[-1].path == "/infill"
    assert (body["input_prefix"], body["input_suffix"]) == ("x = a + ", "\ny = 2\n")


def test_secrets_never_leave_and_a_placeholder_split_across_events_comes_back_whole():
    # The server echoes the placeholder in three server-sent events; the user never sees a piece of it.
    script = ServerScript(chunks=["<SEC", "RET_1", '>"\n'])
    shown: list[str] = []
    with ScriptedServer(script) as server:
        engine = engine_for(server)
        text = f'KEY = "{AWS}"\nOWNER = "ana@corp.example.org"\nCOPY = "'
        result = engine.complete(CompletionRequest(text=text, offset=len(text), path="cfg.py",
                                                   other_files=(("other.py", f"k = '{AWS}'  # from 10.1.2.3\n"),),
                                                   multiline=False), on_text=shown.append)
    sent = json.dumps(server.requests[-1].body)
    for secret in (AWS, "ana@corp.example.org", "10.1.2.3"):
        assert secret not in sent
    assert "<SECRET_1>" in sent and "<EMAIL_1>" in sent and "<IP_ADDRESS_1>" in sent
    assert result.text == f'{AWS}"'
    assert "".join(shown).startswith(AWS) and not any("<" in piece for piece in shown)


def test_redaction_can_be_switched_off_and_allow_listed():
    with ScriptedServer() as server:
        engine_for(server, allow="10.1.2.3").complete(CompletionRequest(text="host = '10.1.2.3'\n", offset=17))
        engine_for(server, redact=False).complete(CompletionRequest(text=f"k = '{AWS}'\n", offset=26))
    assert "10.1.2.3" in server.requests[1].body["prompt"]
    assert AWS in server.requests[3].body["prompt"]


def test_a_cursor_inside_a_secret_does_not_let_its_halves_out():
    with ScriptedServer() as server:
        engine_for(server).complete(CompletionRequest(text=f"k = '{AWS}'\nprint(k)\n", offset=12))
    prompt = server.requests[-1].body["prompt"]
    assert prompt == "<fim_prefix><fim_suffix>'\nprint(k)\n<fim_middle>k = '<SECRET_1>"  # SPM (see above)


def test_a_stop_string_ends_the_completion_and_hangs_up():
    script = ServerScript(chunks=["first line\nsecond", " line"] + ["more "] * 200, delay_s=0.01)
    with ScriptedServer(script) as server:
        result = engine_for(server).complete(CompletionRequest(text="x = ", offset=4, multiline=False))
        assert server.disconnected.wait(2)
    assert result.text == "first line" and result.stop_reason == "stop_string"


def test_chat_goes_to_chat_completions_as_redacted_messages():
    from starassist.chat.session import ChatSession

    script = ServerScript(chunks=["Use ", "<EMAIL_1>", " for that."])
    with ScriptedServer(script) as server:
        settings = Settings()
        settings.remote = RemoteSettings(url=server.url)
        backend = RemoteBackend(settings.model, settings.remote)
        session = ChatSession(backend, settings)
        first = session.ask("Who owns this? owner = 'ana@corp.example.org'")
        session.ask(f"And the key {AWS}?")
    chats = [r for r in server.requests if r.path == "/v1/chat/completions"]
    assert [m["role"] for m in chats[1].body["messages"]] == ["system", "user", "assistant", "user"]
    sent = json.dumps([r.body for r in chats])
    assert "ana@corp.example.org" not in sent and AWS not in sent
    assert chats[1].body["messages"][1]["content"].endswith("owner = '<EMAIL_1>'")
    assert chats[1].body["messages"][2]["content"] == "Use <EMAIL_1> for that."  # history goes out redacted
    assert first.text == "Use ana@corp.example.org for that."  # what the user sees and what history keeps
    assert session.turns[1].content == "Use ana@corp.example.org for that."


def test_the_key_is_only_in_the_authorization_header(monkeypatch):
    monkeypatch.setenv("TEAM_KEY", "tk-9f8e7d6c5b4a")
    with ScriptedServer(ServerScript(api_key="tk-9f8e7d6c5b4a")) as server:
        engine = engine_for(server, api_key_env="TEAM_KEY")
        result = engine.complete(CompletionRequest(text="x = ", offset=4))
    assert all(r.headers.get("Authorization") == "Bearer tk-9f8e7d6c5b4a" for r in server.requests)
    from starassist.engine.settings import to_dict

    visible = repr(engine.backend.info) + repr(result.timings) + json.dumps(to_dict(engine.settings)) + repr(result)
    assert "tk-9f8e7d6c5b4a" not in visible


def test_url_in_model_path_selects_remote_and_bad_urls_are_one_line_errors():
    with ScriptedServer() as server:
        backend = load_backend(ModelSettings(path=server.url), remote=RemoteSettings())
        assert isinstance(backend, RemoteBackend) and backend.info.name == "remote:bigcode/starcoder2-3b"
    with pytest.raises(SettingsError, match="remote.url is empty — set remote.url"):
        load_backend(ModelSettings(backend="remote"), remote=RemoteSettings())
    with pytest.raises(SettingsError, match="credentials do not belong in a URL — .*remote.api_key_env"):
        load_backend(ModelSettings(backend="remote"), remote=RemoteSettings(url="http://bob:pw@gpu:8080"))
    with pytest.raises(SettingsError, match="not an http"):
        load_backend(ModelSettings(backend="remote"), remote=RemoteSettings(url="gpu-box:8080"))


def test_a_server_that_is_down_at_load_is_fine_when_the_model_is_named():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = RemoteSettings(url=f"http://127.0.0.1:{port}", model="bigcode/starcoder2-3b")
    backend = RemoteBackend(ModelSettings(), remote)
    assert backend.info.fim_format == "starcoder2" and "cannot reach" in (backend.probe_error or "")
    from starassist.engine.remote_api import RemoteError

    with pytest.raises(RemoteError, match="cannot reach the server"):
        RemoteBackend(ModelSettings(), RemoteSettings(url=remote.url))


def test_marker_text_in_the_users_code_goes_out_escaped_and_comes_back_as_written():
    # Sent as it is, `"<fim_middle>"` in a string would reach the model as the control token (servers parse
    # special tokens in a prompt's text). It goes as a placeholder, redaction on or off, and an answer that
    # echoes the placeholder shows the user's text.
    for redact in (True, False):
        with ScriptedServer(ServerScript(chunks=["<MARK", "ER_1>", '"\n'])) as server:
            engine = engine_for(server, redact=redact)
            text = 'MID = "<fim_middle>"\nEND = "<|endoftext|>"\nCOPY = "'
            result = engine.complete(CompletionRequest(text=text, offset=len(text), path="m.py", multiline=False))
        prompt = server.requests[-1].body["prompt"]
        assert prompt.count("<fim_middle>") == 1 and "<|endoftext|>" not in prompt  # only the format's own
        assert 'MID = "<MARKER_1>"\nEND = "<MARKER_2>"' in prompt
        assert result.text == '<fim_middle>"'


def test_marker_text_in_a_chat_message_goes_out_escaped():
    with ScriptedServer(ServerScript(chunks=["It ends a turn: <MARKER_1>."])) as server:
        settings = Settings()
        settings.remote = RemoteSettings(url=server.url)
        from starassist.chat.session import ChatSession

        answer = ChatSession(RemoteBackend(settings.model, settings.remote), settings).ask(
            'What is "<|im_end|>" in my template?')
    sent = json.dumps(server.requests[-1].body["messages"])
    assert "<|im_end|>" not in sent and "<MARKER_1>" in sent
    assert answer.text == "It ends a turn: <|im_end|>."


def test_marker_text_in_an_answer_is_cut_as_locally_outside_a_literal_and_kept_inside():
    # Servers leave control tokens out of what they stream, so marker text in an answer was written as text:
    # post-processing decides, as it does for the local backend.
    with ScriptedServer(ServerScript(chunks=['<fim_', 'prefix>")'])) as server:
        inside = engine_for(server).complete(CompletionRequest(text='tok = ("', offset=8, multiline=False))
    with ScriptedServer(ServerScript(chunks=["b)", "<fim_prefix>", "junk"])) as server:
        outside = engine_for(server).complete(CompletionRequest(text="f(a, ", offset=5, multiline=False))
    assert inside.text == '<fim_prefix>")'
    assert outside.text == "b)"


@pytest.mark.parametrize("listing", [{"max_model_len": 512}, {"meta": {"n_ctx": 512, "n_ctx_train": 16384}}])
def test_the_servers_context_bounds_the_prompt(listing):
    # vLLM lists max_model_len, llama-server meta.n_ctx (its -c shared by the -np slots): a prompt sized for the
    # configured 4096 tokens would be refused there.
    with ScriptedServer(ServerScript(listing=listing)) as server:
        engine = engine_for(server)
        text = "x = 1\n" * 2000
        engine.complete(CompletionRequest(text=text, offset=len(text) // 2, path="big.py"))
        prompt = server.requests[-1].body["prompt"]
        diagnostics = {d.name: d.detail for d in engine.backend.diagnostics()}
    assert engine.backend.server_context == 512 and engine.backend.info.context_length == 341
    assert len(engine.backend.tokenize(prompt, special=True)) <= 341
    assert diagnostics["server context"].startswith("512 tokens per request")
