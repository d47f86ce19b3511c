"""Sampling controls in the shared decode loop. Token healing: the prompt's last token is cut and regenerated
under a constraint, so a cursor after indentation or inside a word does not leave a left-to-right model at an
unnatural token boundary. Repeat penalty: what chat uses to keep small models out of loops."""

from __future__ import annotations

import pytest

from starassist.engine.backend import DecodeSteps, GenerationParams, HealingIndex, decode
from starassist.engine.completion import CompletionEngine, CompletionRequest
from starassist.engine.settings import Settings

PIECES = [b"", b"\n", b"\n  ", b"\n    ", b" ", b"   ", b" x", b"x", b"re", b"ret", b"return", b"urn", b" =", b"\xe2"]


def test_candidates_extend_or_complete_the_healed_text():
    index = HealingIndex(PIECES)
    by_text = lambda ids: sorted(PIECES[i] for i in ids)  # noqa: E731
    # Tokens that start with the text, and tokens that are a proper prefix of it (more must follow).
    assert by_text(index.candidates(b"\n  ")) == [b"\n", b"\n  ", b"\n    "]
    assert by_text(index.candidates(b"ret")) == [b"re", b"ret", b"return"]
    assert by_text(index.candidates(b" ")) == [b" ", b"   ", b" =", b" x"]
    assert index.candidates(b"zz") == []
    assert index.piece(0) == b"" and index.piece(999) == b""  # control tokens and unknown ids never heal


class ScriptedModel:
    """A fake model that prefers tokens in a fixed order: the sampler takes the first preferred allowed one."""

    def __init__(self, pieces: list[bytes], preferred: list[list[int]]):
        self.pieces = pieces
        self.preferred = preferred  # per step, token ids in order of preference
        self.step = 0
        self.allowed_seen: list[list[int] | None] = []
        self.penalized_seen: list[list[int]] = []

    def steps(self) -> DecodeSteps:
        def sample(allowed, penalized):
            self.allowed_seen.append(None if allowed is None else sorted(allowed))
            self.penalized_seen.append(list(penalized))
            prefs = self.preferred[min(self.step, len(self.preferred) - 1)]
            return next(t for t in prefs if allowed is None or t in allowed)

        def advance(token):
            self.step += 1

        return DecodeSteps(
            sample=sample,
            advance=advance,
            position=lambda: self.step,
            text_of=lambda toks: b"".join(self.pieces[t] for t in toks).decode("utf-8", errors="replace"),
            healing=lambda: HealingIndex(self.pieces),
        )


def run(model: ScriptedModel, params: GenerationParams, prompt: tuple[int, ...] = ()):
    chunks: list[str] = []
    tokens, text, reason = decode(model.steps(), params, eog_ids=frozenset({0}), n_ctx=100, cancel=None,
                                  on_text=chunks.append, prompt=prompt)
    return tokens, text, reason, chunks


def test_healing_constrains_the_first_token_and_strips_the_healed_text():
    # Unconstrained, the model would start with " x" (a space too many after the cut indentation).
    model = ScriptedModel(PIECES, [[6, 3, 1], [7], [12], [0]])
    tokens, text, reason, chunks = run(model, GenerationParams(max_tokens=8, heal_text="\n    "))
    assert model.allowed_seen[0] == [1, 2, 3]  # only tokens consistent with "\n    "
    assert model.allowed_seen[1] is None  # healed after one token: free from then on
    assert tokens == [3, 7, 12] and reason == "stop_token"
    assert text == "x =" and "".join(chunks) == text


def test_healing_across_several_tokens_and_a_stop_string_inside_the_healed_text():
    # "\n" then "   " then " x": the healed text "\n    " spans two tokens and one character of a third.
    model = ScriptedModel(PIECES, [[1], [5], [6], [0]])
    tokens, text, reason, chunks = run(model, GenerationParams(max_tokens=8, heal_text="\n    ",
                                                               stop_strings=("\n",)))
    assert tokens == [1, 5, 6]
    # The line break being healed is prompt text, not output: the single-line stop does not fire on it.
    assert text == "x" and reason == "stop_token" and "".join(chunks) == "x"


def test_healing_inside_a_word():
    model = ScriptedModel(PIECES, [[10, 9], [12], [0]])
    _, text, _, _ = run(model, GenerationParams(max_tokens=8, heal_text="re"))
    assert text == "turn ="


def test_no_healing_without_heal_text():
    model = ScriptedModel(PIECES, [[6], [0]])
    _, text, _, _ = run(model, GenerationParams(max_tokens=8))
    assert text == " x" and model.allowed_seen == [None, None]


def test_repeat_penalty_sees_the_last_n_tokens_of_prompt_and_output():
    model = ScriptedModel(PIECES, [[7], [11], [12], [0]])
    run(model, GenerationParams(max_tokens=8, repeat_penalty=1.2, repeat_last_n=3), prompt=(9, 10, 4, 5))
    assert model.penalized_seen == [[10, 4, 5], [4, 5, 7], [5, 7, 11], [7, 11, 12]]
    plain = ScriptedModel(PIECES, [[7], [0]])
    run(plain, GenerationParams(max_tokens=8), prompt=(9, 10))
    assert plain.penalized_seen == [[], []]  # off by default (completion)


def test_max_tokens_while_healing_returns_nothing():
    model = ScriptedModel(PIECES, [[1], [5]])
    tokens, text, reason, chunks = run(model, GenerationParams(max_tokens=1, heal_text="\n    "))
    assert tokens == [1] and text == "" and reason == "max_tokens" and chunks == []


# -- with the real embedded model (left-to-right: healing is on by default) ------------------------------------

STACK = "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        "


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Cursor after indentation: the completion starts with code, not with a space too many.
        (STACK, "self.items.append(item)"),
        # Cursor inside a word: the rest of the word.
        ("def add(a, b):\n    ret", "urn a + b"),
        (STACK + "self.items.app", "end(item)"),
    ],
)
def test_embedded_model_completes_at_unnatural_boundaries(embedded_backend, text, expected):
    engine = CompletionEngine(embedded_backend)
    result = engine.complete(CompletionRequest(text=text, offset=len(text), max_tokens=24))
    assert result.text.splitlines()[0] == expected
    assert result.raw.startswith(expected)  # the healed prompt text is not part of the output


@pytest.mark.slow
def test_healing_can_be_switched_off(embedded_backend):
    settings = Settings()
    text = "def add(a, b):\n    ret"
    healed = CompletionEngine(embedded_backend, settings).complete(CompletionRequest(text=text, offset=len(text),
                                                                                     max_tokens=8))
    settings.completion.token_healing = False
    plain = CompletionEngine(embedded_backend, settings).complete(CompletionRequest(text=text, offset=len(text),
                                                                                    max_tokens=8))
    assert plain.timings.prompt_tokens == healed.timings.prompt_tokens + 1
    assert not plain.text.startswith("urn")  # the boundary the model stumbles on (see the parametrized test)


@pytest.mark.slow
def test_repeat_penalty_breaks_a_loop_with_the_embedded_model(embedded_backend):
    prompt = embedded_backend.tokenize("print(1)\nprint(1)\nprint(1)\nprint(1)\n")
    plain = embedded_backend.generate(prompt, GenerationParams(max_tokens=12))
    assert plain.text.startswith("print(1)\nprint(1)\n")  # greedy decoding keeps repeating the line
    penalized = embedded_backend.generate(prompt, GenerationParams(max_tokens=12, repeat_penalty=1.1))
    assert "print(1)" not in penalized.text  # the chat default steps out of the loop


@pytest.mark.slow
def test_fim_formats_are_not_healed(embedded_backend):
    # FIM models are trained on prefixes cut at any character; only left-to-right prompts are healed.
    settings = Settings()
    engine = CompletionEngine(embedded_backend, settings)
    prompt = embedded_backend.tokenize("def add(a, b):\n    ret")
    assert engine.heal(prompt, "def add(a, b):\n    ret") == (prompt[:-1], " ret")
    assert engine.heal(prompt[:1], "def") == (prompt[:1], "")  # never cut a prompt down to nothing
    assert engine.heal(prompt, "something else") == (prompt, "")


@pytest.mark.slow
def test_warm_up_does_the_first_use_work(embedded_path):
    from starassist.engine.backends.llama_cpp import LlamaCppBackend
    from starassist.engine.settings import ModelSettings

    backend = LlamaCppBackend(embedded_path, ModelSettings(context_length=512))
    try:
        assert backend._healing is None
        CompletionEngine(backend).warm_up()  # what the LSP does while the model loads
        assert backend._healing is not None
    finally:
        backend.close()
