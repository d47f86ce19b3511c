"""llama.cpp's log readers nest: a reader that loads a model (the quantizer's report, `explained_load`) must not
wait on the reader the load installs itself — that wait hung CI's quantizer tests."""

from __future__ import annotations

import threading

from starassist.engine.logs import collect_llama_logs, llama_log_handler


def test_a_model_loads_inside_a_log_reader_and_both_readers_see_the_load(embedded_path):
    from starassist.engine.backends.llama_cpp import LlamaCppBackend
    from starassist.engine.settings import ModelSettings

    outer: list[bytes] = []
    outcome: dict = {}

    def load() -> None:
        with llama_log_handler(lambda level, text: outer.append(text)), collect_llama_logs() as inner:
            backend = LlamaCppBackend(embedded_path, ModelSettings(threads=1))
            outcome["arch"] = backend.info.arch
            backend.close()
            outcome["inner"] = list(inner)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "a nested llama.cpp log reader deadlocked"
    assert outcome["arch"] == "llama"
    assert outer and outcome["inner"], "every installed reader sees llama.cpp's load log"
    assert any(b"llama" in piece for piece in outer)

