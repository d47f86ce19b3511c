"""Chat prompt assembly by model kind, counted in the model's own tokens.

A base model (no chat template, e.g. StarCoder) gets the Tech Assistant prompt: preamble, example dialogues
separated by a rule, then the conversation as `Human:`/`Assistant:` turns; it stops at the next `Human:`.
A model with a chat template gets the preamble as its system message and is rendered with its own template;
it stops at the template's end-of-turn token.

User and assistant text is always tokenized with special=False, so text such as `<|im_end|>` typed by the
user stays plain text and cannot open or close a turn; only the template's own scaffolding is parsed for
special tokens. When the prompt does not fit the context window, whole dialogues go first — the example
dialogues (they are the oldest), then the oldest conversation turns, and as a last resort the preamble; the
question never (a question that does not fit alone is a ContextOverflowError).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from starassist.engine.backend import (
    Backend,
    CancelCheck,
    GenerationParams,
    GenerationResult,
    ModelInfo,
    TextCallback,
)
from starassist.engine.errors import StarassistError
from starassist.engine.settings import ChatSettings
from starassist.prompts import ASSISTANT, HUMAN, PromptSet, Turn, load_prompts

Style = Literal["base", "template"]

BASE_STOP_STRINGS = ("\n" + HUMAN, "\n\n-----")
_SENTINEL = re.compile("\ue000(\\d+)\ue001")


class ContextOverflowError(StarassistError):
    """The question (with the preamble and room for the answer) does not fit the context window."""


class ChatTemplateError(StarassistError):
    pass


@dataclass(frozen=True)
class ChatPrompt:
    tokens: list[int]
    style: Style
    stop_ids: frozenset[int]
    stop_strings: tuple[str, ...]
    max_tokens: int  # room left for the answer, capped by the requested answer length
    answer_prefix: str
    examples_kept: int
    examples_dropped: int
    turns_kept: int
    turns_dropped: int
    preamble_dropped: bool = False  # only when nothing but the question fits


def _sentinel(i: int) -> str:
    return f"\ue000{i}\ue001"


def choose_style(info: ModelInfo, style: str = "auto") -> Style:
    if style == "base":
        return "base"
    if style == "template":
        if not info.chat_template:
            raise ChatTemplateError(f"{info.name} has no chat template — use the base (Tech Assistant) prompt style")
        return "template"
    return "template" if info.chat_template else "base"


# ---- base models: the Tech Assistant layout ---------------------------------------------------------------


def _label(role: str) -> str:
    return HUMAN if role == "user" else ASSISTANT


def render_turn(turn: Turn) -> str:
    return f"\n\n{_label(turn.role)} {turn.content.strip()}"


def render_example(dialogue: Sequence[Turn]) -> str:
    return "\n\n-----" + "".join(render_turn(t) for t in dialogue)


def render_question(question: str, answer_prefix: str = "") -> str:
    tail = f" {answer_prefix}" if answer_prefix else ""
    return f"\n\n{HUMAN} {question.strip()}\n\n{ASSISTANT}{tail}"


def base_segments(
    prompts: PromptSet, examples: Sequence[Sequence[Turn]], history: Sequence[Turn], question: str, answer_prefix: str = ""
) -> tuple[str, list[str], str, list[str], str]:
    """(preamble, example blocks, rule before the live conversation, history turns, question) as text."""
    return (
        prompts.preamble,
        [render_example(d) for d in examples],
        "\n\n-----",
        [render_turn(t) for t in history],
        render_question(question, answer_prefix),
    )


def base_prompt_text(
    prompts: PromptSet, history: Sequence[Turn], question: str, *, examples: Sequence[Sequence[Turn]] | None = None,
    answer_prefix: str = "",
) -> str:
    """The whole Tech Assistant prompt as text (what a base model reads)."""
    pre, ex, rule, hist, q = base_segments(prompts, prompts.examples if examples is None else examples, history, question, answer_prefix)
    return pre + "".join(ex) + rule + "".join(hist) + q


def _pair_starts(history: Sequence[Turn]) -> list[int]:
    """Indexes where history may be cut so that it starts with a user turn (whole exchanges are dropped)."""
    starts = [i for i, t in enumerate(history) if t.role == "user" and i > 0]
    return starts + [len(history)]


def _build_base(
    backend: Backend, prompts: PromptSet, history: Sequence[Turn], question: str, budget: int, answer_prefix: str
) -> tuple[list[int], int, int, bool]:
    """Token ids (segments tokenized separately so every count is exact), examples dropped, turns dropped,
    whether the preamble had to go too."""
    pre, examples, rule, turns, q = base_segments(prompts, prompts.examples, history, question, answer_prefix)
    tok = backend.tokenize
    fixed = [tok(pre), tok(rule)]
    q_ids = tok(q)
    ex_ids = [tok(e) for e in examples]
    turn_ids = [tok(t) for t in turns]
    bos = [backend.info.bos_id] if backend.info.add_bos and backend.info.bos_id is not None else []
    if len(bos) + len(q_ids) > budget:
        raise _overflow(len(q_ids), backend.info.context_length, budget)
    fixed_len = len(bos) + sum(map(len, fixed)) + len(q_ids)
    if fixed_len > budget:  # last resort: the question without preamble, examples or history
        return bos + q_ids, len(ex_ids), len(history), True
    n_ex = 0
    cut = 0
    starts = _pair_starts(history)

    def total() -> int:
        return fixed_len + sum(map(len, ex_ids[n_ex:])) + sum(map(len, turn_ids[cut:]))

    while total() > budget and n_ex < len(ex_ids):
        n_ex += 1
    while total() > budget:
        cut = next(s for s in starts if s > cut)
    ids = bos + fixed[0] + [i for e in ex_ids[n_ex:] for i in e] + fixed[1] + [i for t in turn_ids[cut:] for i in t] + q_ids
    return ids, n_ex, cut, False


# ---- models with a chat template -------------------------------------------------------------------------


def _environment() -> Any:
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    # The same environment options Hugging Face uses for chat templates.
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = raise_exception
    return env


def _special_text(info: ModelInfo, token_id: int | None) -> str:
    if token_id is None:
        return ""
    return next((text for text, i in info.special_tokens.items() if i == token_id), "")


def render_template(info: ModelInfo, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool) -> list[str | int]:
    """Render the model's chat template with each message's content replaced by a placeholder.

    Returns the rendering as a list alternating scaffolding text (str) and message indexes (int), so the caller
    can tokenize the scaffolding with special tokens and the contents without them.
    """
    from jinja2.exceptions import TemplateError

    if not info.chat_template:
        raise ChatTemplateError(f"{info.name} has no chat template")
    placeholders = [{"role": m["role"], "content": _sentinel(i)} for i, m in enumerate(messages)]
    try:
        template = _environment().from_string(info.chat_template)
        rendered = template.render(
            messages=placeholders,
            add_generation_prompt=add_generation_prompt,
            bos_token=_special_text(info, info.bos_id),
            eos_token=_special_text(info, info.eos_id),
        )
    except TemplateError as exc:
        raise ChatTemplateError(f"the chat template of {info.name} failed to render ({exc}) — use the base prompt style") from None
    parts: list[str | int] = []
    pos = 0
    for m in _SENTINEL.finditer(rendered):
        parts.append(rendered[pos : m.start()])
        parts.append(int(m.group(1)))
        pos = m.end()
    parts.append(rendered[pos:])
    indexes = [p for p in parts if isinstance(p, int)]
    if indexes != list(range(len(messages))):
        raise ChatTemplateError(
            f"the chat template of {info.name} does not place each message once and in order — use the base prompt style"
        )
    return parts


def _with_system(info: ModelInfo, system: str, conversation: Sequence[Turn]) -> list[dict[str, str]]:
    """Messages with the preamble as system message; folded into the first user turn if the template refuses
    a system role."""
    messages = [{"role": t.role, "content": t.content} for t in conversation]
    with_system = [{"role": "system", "content": system}, *messages]
    try:
        render_template(info, with_system, add_generation_prompt=True)
        return with_system
    except ChatTemplateError:
        merged = [dict(m) for m in messages]
        merged[0]["content"] = f"{system}\n\n{merged[0]['content']}"
        return merged


def template_tokens(backend: Backend, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> list[int]:
    info = backend.info
    ids: list[int] = []
    for part in render_template(info, messages, add_generation_prompt=add_generation_prompt):
        if isinstance(part, int):
            ids += backend.tokenize(messages[part]["content"], special=False)
        else:
            ids += backend.tokenize(part, special=True)
    if info.add_bos and info.bos_id is not None and (not ids or ids[0] != info.bos_id):
        ids.insert(0, info.bos_id)
    return ids


def end_of_turn_ids(backend: Backend) -> frozenset[int]:
    """Token ids that end an assistant turn under the template, plus every special token of the scaffolding
    (an answer never legitimately contains `<|im_start|>` and the like)."""
    info = backend.info
    probe = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    parts = render_template(info, probe, add_generation_prompt=False)
    after = parts[parts.index(1) + 1]
    assert isinstance(after, str)
    ids: set[int] = set()
    closing = max((t for t in info.special_tokens if after.startswith(t)), key=len, default=None)
    if closing is not None:
        ids.add(info.special_tokens[closing])
    elif info.eos_id is not None:
        ids.add(info.eos_id)
    for part in parts:
        if isinstance(part, str):
            ids.update(i for i in backend.tokenize(part, special=True) if i in info.special_tokens.values())
    return frozenset(ids)


def _build_template(
    backend: Backend, prompts: PromptSet, history: Sequence[Turn], question: str, budget: int, answer_prefix: str
) -> tuple[list[int], int, bool]:
    info = backend.info
    prefix_ids = backend.tokenize(answer_prefix, special=False)
    starts = [0, *_pair_starts(history)]
    for cut in starts:
        conversation = [*history[cut:], Turn("user", question.strip())]
        ids = template_tokens(backend, _with_system(info, prompts.preamble, conversation)) + prefix_ids
        if len(ids) <= budget:
            return ids, cut, False
    # Last resort: the question alone, without our system message.
    ids = template_tokens(backend, [{"role": "user", "content": question.strip()}]) + prefix_ids
    if len(ids) <= budget:
        return ids, len(history), True
    raise _overflow(len(backend.tokenize(question)), info.context_length, budget)


# ---- entry points --------------------------------------------------------------------------------------------


def _overflow(question_tokens: int, context: int, budget: int) -> ContextOverflowError:
    return ContextOverflowError(
        f"the question is {question_tokens} tokens; with {context - budget} tokens kept for the answer it does "
        f"not fit the model's {context}-token context — shorten it, attach a smaller range (FILE:L1-L2) or "
        "lower chat.max_tokens"
    )


def build_chat_prompt(
    backend: Backend,
    history: Sequence[Turn],
    question: str,
    *,
    max_answer_tokens: int,
    style: str = "auto",
    answer_prefix: str = "",
    prompts: PromptSet | None = None,
    context_length: int | None = None,
) -> ChatPrompt:
    """Token ids for the next answer: prompt layout by model kind, trimmed to the context window."""
    prompts = prompts or load_prompts()
    info = backend.info
    chosen = choose_style(info, style)
    context = context_length or info.context_length
    # Never reserve more than half the window for the answer: a long answer setting must not evict the question.
    reserve = max(1, min(max_answer_tokens, context // 2))
    budget = context - reserve
    if chosen == "base":
        ids, n_ex, cut, no_preamble = _build_base(backend, prompts, history, question, budget, answer_prefix)
        stop_ids: frozenset[int] = frozenset({info.eos_id}) if info.eos_id is not None else frozenset()
        stops: tuple[str, ...] = BASE_STOP_STRINGS
        examples_kept = len(prompts.examples) - n_ex
    else:
        ids, cut, no_preamble = _build_template(backend, prompts, history, question, budget, answer_prefix)
        stop_ids, stops, n_ex, examples_kept = end_of_turn_ids(backend), (), 0, 0
    return ChatPrompt(
        tokens=ids,
        style=chosen,
        stop_ids=stop_ids,
        stop_strings=stops,
        max_tokens=max(1, min(max_answer_tokens, context - len(ids) - 1)),
        answer_prefix=answer_prefix,
        examples_kept=examples_kept,
        examples_dropped=n_ex,
        turns_kept=len(history) - cut,
        turns_dropped=cut,
        preamble_dropped=no_preamble,
    )


def generate_answer(
    backend: Backend,
    prompt: ChatPrompt,
    *,
    sampling: ChatSettings | None = None,
    cancel: CancelCheck | None = None,
    on_text: TextCallback | None = None,
    extra_stop_strings: tuple[str, ...] = (),
) -> GenerationResult:
    """Run the model on a built prompt. Streams text through `on_text` without the leading whitespace a base
    model writes after `Assistant:`; the result's text is the answer as generated (not stripped)."""
    sampling = sampling or ChatSettings()
    params = GenerationParams(
        max_tokens=prompt.max_tokens,
        temperature=sampling.temperature,
        repeat_penalty=sampling.repeat_penalty,
        repeat_last_n=sampling.repeat_last_n,
        stop_ids=prompt.stop_ids,
        stop_strings=prompt.stop_strings + extra_stop_strings,
    )
    started = [bool(prompt.answer_prefix)]

    def stream(piece: str) -> None:
        if not started[0]:
            piece = piece.lstrip()
            if not piece:
                return
            started[0] = True
        if on_text is not None:
            on_text(piece)

    return backend.generate(prompt.tokens, params, cancel=cancel, on_text=stream if on_text is not None else None)


__all__ = [
    "ChatPrompt",
    "ChatTemplateError",
    "ContextOverflowError",
    "Turn",
    "base_prompt_text",
    "build_chat_prompt",
    "choose_style",
    "end_of_turn_ids",
    "generate_answer",
    "render_template",
    "template_tokens",
]
