"""The llama.cpp backend with the real embedded model: KV reuse, cancellation, streaming, stops, timings."""

from __future__ import annotations

import pytest

from starassist.engine.backend import GenerationParams
from starassist.engine.completion import CompletionEngine, CompletionRequest

pytestmark = pytest.mark.slow

CODE = '''import os
import sys


def read_config(path):
    """Read a key=value config file into a dict."""
    result = {}
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip()
    return result


def main(argv):
    config = read_config(argv[1])
    for key in sorted(config):
        print(key, config[key])
'''


def test_model_facts(embedded_backend):
    info = embedded_backend.info
    assert info.arch == "llama"
    assert info.context_length == 4096
    assert info.train_context_length == 8192
    assert info.vocab_size == 49152
    assert "<|im_end|>" in info.special_tokens
    assert info.chat_template and "<|im_start|>" in info.chat_template
    assert info.quantization == "Q4_1"


def test_kv_cache_reuse_when_prompt_extends(embedded_backend):
    params = GenerationParams(max_tokens=4)
    first_prompt = embedded_backend.tokenize(CODE * 3)
    embedded_backend.generate(first_prompt, params)
    extended = first_prompt + embedded_backend.tokenize("\n\ndef helper(x):\n    return")
    result = embedded_backend.generate(extended, params)
    t = result.timings
    assert t.prompt_tokens == len(extended)
    assert t.reused_tokens >= 0.9 * t.prompt_tokens
    assert t.evaluated_tokens == len(extended) - t.reused_tokens
    assert t.prompt_ms > 0 and t.generation_ms > 0 and t.generated_tokens == len(result.tokens)


def test_unrelated_prompt_is_evaluated_in_full(embedded_backend):
    params = GenerationParams(max_tokens=2)
    embedded_backend.generate(embedded_backend.tokenize("alpha beta gamma " * 20), params)
    result = embedded_backend.generate(embedded_backend.tokenize("def unrelated():\n    pass\n" * 5), params)
    assert result.timings.reused_tokens == 0


def test_cancel_stops_within_one_token(embedded_backend):
    streamed: list[str] = []
    requested_after = 3

    def cancel() -> bool:
        # The user cancels once three pieces of text have arrived.
        return len(streamed) >= requested_after

    prompt = embedded_backend.tokenize(CODE)
    result = embedded_backend.generate(prompt, GenerationParams(max_tokens=200), cancel=cancel, on_text=streamed.append)
    assert result.stop_reason == "cancelled"
    # The flag is checked before every token: at most one more token after the request.
    assert requested_after <= result.timings.generated_tokens <= requested_after + 1


def test_cancel_before_start_evaluates_nothing_new(embedded_backend):
    prompt = embedded_backend.tokenize("print('cancelled before prefill') " * 10)
    result = embedded_backend.generate(prompt, GenerationParams(max_tokens=50), cancel=lambda: True)
    assert result.stop_reason == "cancelled"
    assert result.tokens == []


def test_streaming_matches_result_and_stop_strings(embedded_backend):
    pieces: list[str] = []
    prompt = embedded_backend.tokenize(CODE + "\n\ndef ")
    result = embedded_backend.generate(prompt, GenerationParams(max_tokens=40, stop_strings=("\n",)), on_text=pieces.append)
    assert "\n" not in result.text
    assert "".join(pieces) == result.text
    assert result.stop_reason in ("stop_string", "max_tokens", "stop_token")


def test_stop_token_ids(embedded_backend):
    prompt = embedded_backend.tokenize("x = 1\n")
    greedy = embedded_backend.generate(prompt, GenerationParams(max_tokens=5))
    assert greedy.tokens, "the model should produce something"
    first = greedy.tokens[0]
    stopped = embedded_backend.generate(prompt, GenerationParams(max_tokens=5, stop_ids=frozenset({first})))
    assert stopped.stop_reason == "stop_token"
    assert stopped.tokens == []


def test_sampling_with_temperature_is_seeded(embedded_backend):
    prompt = embedded_backend.tokenize(CODE)
    params = GenerationParams(max_tokens=12, temperature=0.9, seed=7)
    a = embedded_backend.generate(prompt, params)
    b = embedded_backend.generate(prompt, params)
    assert a.tokens == b.tokens


def test_engine_completion_left_to_right(embedded_backend):
    engine = CompletionEngine(embedded_backend)
    assert engine.format.name == "none"
    text = CODE + "\n\nif __name__ == "
    completion = engine.complete(CompletionRequest(text=text, offset=len(text), path="cfg.py", max_tokens=16))
    assert completion.text.strip()
    assert completion.mode == "l2r"
    assert completion.timings.prompt_tokens > 100
    for special in embedded_backend.info.special_tokens:
        assert special not in completion.raw


def test_engine_typing_reuses_cache(embedded_backend):
    engine = CompletionEngine(embedded_backend)
    text = CODE + "\n\ndef write_config(path, config):\n    with open(path, "
    engine.complete(CompletionRequest(text=text, offset=len(text), max_tokens=4))
    typed = text + '"w'
    second = engine.complete(CompletionRequest(text=typed, offset=len(typed), max_tokens=4))
    assert second.timings.reused_tokens >= 0.9 * second.timings.prompt_tokens


def test_long_tokens_are_not_lost(embedded_backend):
    # Code vocabularies hold tokens longer than 32 bytes (runs of '#', '=' or spaces); llama-cpp-python's own
    # detokenize drops those silently.
    rule = "#" * 80
    text = f"{rule}\n" + " " * 40 + "x = 1\n"
    assert any(len(embedded_backend.detokenize([t]).encode()) > 32 for t in embedded_backend.tokenize(text))
    assert embedded_backend.detokenize(embedded_backend.tokenize(text)) == text
    # The decode loop's streaming text goes through the same pieces.
    steps = embedded_backend._decode_steps(GenerationParams())
    assert steps.text_of(embedded_backend.tokenize(text)) == text
