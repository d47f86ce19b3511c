"""The remote path against llama-cpp-python's real OpenAI-compatible server with the embedded model."""

from __future__ import annotations

import pytest
from remote_servers import LlamaCppServer

from starassist.engine.redact import Redactor
from starassist.engine.remote_api import FORMATS, Request, stream

pytestmark = pytest.mark.slow
pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server] (the test extra)")


@pytest.fixture(scope="module")
def llama_server(embedded_path):
    server = LlamaCppServer(str(embedded_path)).wait_ready()
    yield server
    server.stop()


def test_greedy_completion_streams_from_the_real_server(llama_server, embedded_backend):
    from starassist.engine.backend import GenerationParams

    prompt = "def fibonacci(n):\n    "
    remote = "".join(stream(llama_server.url, FORMATS["openai"],
                            Request(prompt=prompt, model="embedded", max_tokens=12)))
    local = embedded_backend.generate(embedded_backend.tokenize(prompt), GenerationParams(max_tokens=12))
    assert remote.strip()
    # Same weights, same greedy decoding: the server's first words are ours.
    assert remote[:8] == local.text[:8]


def test_redacted_prompt_reaches_the_server_and_echoes_are_restored(llama_server):
    redactor = Redactor()
    source = 'API_KEY = "AKIAZ7QW4ERT5YUI6OPL"\nprint(API_KEY)\n# copy: API_KEY = "'
    sent = redactor.redact(source)
    assert "AKIAZ7QW4ERT5YUI6OPL" not in sent
    echoed = "".join(stream(llama_server.url, FORMATS["openai"],
                            Request(prompt=sent, model="embedded", max_tokens=8, stop=("\n",))))
    # Whatever the model echoes of the placeholder comes back as the original, locally.
    assert "<SECRET_1>" not in redactor.restore(echoed)
