"""The completion engine: document + cursor in, post-processed completion out. Independent of the LSP."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from .backend import Backend, CancelCheck, GenerationParams, ModelInfo, Redacting, TextCallback, Timings
from .context import Window, window
from .fim import FimFormat, FimRequest, Mode, build_prompt, detect_format, get_format, resolve_mode
from .postprocess import postprocess
from .settings import Settings

# Room kept free in the context window besides the generated tokens (special tokens, paths, safety).
_RESERVE = 32
# Text after the cursor that post-processing sees (the suffix overlap, the following lines, the brackets).
AFTER_CHARS = 4000
# Text before the cursor that post-processing sees (the indentation style), more than a small window holds.
BEFORE_CHARS = 8000


@dataclass(frozen=True)
class CompletionRequest:
    text: str  # the whole document
    offset: int  # cursor, as a character offset into `text`
    path: str | None = None  # repo-relative path of the document, when known
    repo: str = ""
    other_files: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (path, snippet), most relevant first
    multiline: bool | None = None  # None: decide from the cursor context
    max_tokens: int | None = None
    # Sampling overrides for this request (the evaluation draws n samples, each with its own seed).
    temperature: float | None = None
    seed: int | None = None


@dataclass
class Completion:
    text: str  # post-processed, ready to insert at the cursor
    raw: str  # what the model produced
    model: str
    format: str
    mode: str
    stop_reason: str
    timings: Timings
    multiline: bool
    window: Window
    prompt: list[int] = field(default_factory=list)  # the token ids the model was given (after healing)
    before_chars: int = 0  # how much text before the cursor post-processing saw


def stop_token_ids(fmt: FimFormat, info: ModelInfo) -> frozenset[int]:
    """What ends a completion: the end-of-generation ids, the format's own stop tokens and control tokens (they
    have no text). Added tokens that are text (DeepSeek-Coder's `ö`, `ü`, ...) do not."""
    specials = info.special_tokens
    return info.eog_ids | info.control_ids | {specials[t] for t in fmt.stops if t in specials}


class CompletionEngine:
    """Builds FIM prompts for a loaded backend and runs completions. One engine per loaded model."""

    def __init__(self, backend: Backend, settings: Settings | None = None) -> None:
        self.backend = backend
        self.settings = settings or Settings()
        self.format: FimFormat = self._choose_format()
        self.mode: Mode = resolve_mode(self.format, self.settings.model.fim_mode)
        info = backend.info
        self._specials = info.special_tokens
        # Post-processing cuts a completion at the text of a control token (never at an added token that is text).
        self.specials: tuple[str, ...] = tuple(t for t, i in self._specials.items() if i in info.control_ids)
        self._stop_ids = stop_token_ids(self.format, info)
        self._bos = [info.bos_id] if info.add_bos and info.bos_id is not None else []
        self._count = functools.lru_cache(maxsize=16384)(lambda s: len(backend.tokenize(s)))

    def _choose_format(self) -> FimFormat:
        configured = self.settings.model.fim_format
        if configured and configured != "auto":
            return get_format(configured)
        if self.backend.info.fim_format:
            return get_format(self.backend.info.fim_format)
        specials = self.backend.info.special_tokens
        return detect_format(lambda tok: tok in specials)

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    def prompt_budget(self, max_tokens: int) -> int:
        ctx = self.backend.info.context_length
        return max(16, min(self.settings.completion.context_tokens, ctx - max_tokens - _RESERVE))

    def make_window(self, request: CompletionRequest, max_tokens: int) -> Window:
        cs = self.settings.completion
        return window(
            request.text,
            request.offset,
            budget=self.prompt_budget(max_tokens),
            prefix_share=cs.prefix_share,
            count_tokens=self.count_tokens,
            use_suffix=self.format.fim,
        )

    def fit_other_files(self, request: CompletionRequest) -> list[tuple[str, str]]:
        """Other files' snippets in relevance order, as many as fit the extra-context budget."""
        if self.format.file is None or request.path is None:
            return []
        budget = self.settings.completion.extra_context_tokens
        kept: list[tuple[str, str]] = []
        for path, code in request.other_files:
            cost = self.count_tokens(path) + self.count_tokens(code) + 4
            if cost > budget:
                continue
            kept.append((path, code))
            budget -= cost
        # Least relevant first, so the most relevant snippet sits nearest to the cursor's file.
        return list(reversed(kept))

    def build(self, request: CompletionRequest, win: Window) -> list[int]:
        fim_request = FimRequest(
            prefix=win.prefix,
            suffix=win.suffix,
            path=request.path,
            repo=request.repo,
            files=tuple(self.fit_other_files(request)),
        )
        return build_prompt(
            self.format,
            fim_request,
            mode=self.mode,
            tokenize=self.backend.tokenize,
            special_ids=self._specials,
            bos=self._bos,
        )

    def warm_up(self) -> None:
        """One tiny completion, so the first real one does not pay for first-use work (llama.cpp's buffers,
        the token-healing index)."""
        text = "def main():\n    "
        self.complete(CompletionRequest(text=text, offset=len(text), max_tokens=1, multiline=False))

    def heal(self, prompt: list[int], prefix: str) -> tuple[list[int], str]:
        """Cut the last prompt token when it is the end of the prefix; the generation must regenerate it.

        A prompt cut at the cursor often ends at a boundary the model never saw in training (GPT-2-style
        vocabularies attach the space before a word to the word, so "\n        " then "for" is unnatural)."""
        if len(prompt) - len(self._bos) < 2:
            return prompt, ""
        # The last token's text in context: some detokenizers drop the leading space of a sequence's first token.
        before = self.backend.detokenize(prompt[-2:-1])
        both = self.backend.detokenize(prompt[-2:])
        if not both.startswith(before):
            return prompt, ""
        tail = both[len(before) :]
        if not tail or "\ufffd" in tail or not prefix.endswith(tail):
            return prompt, ""
        return prompt[:-1], tail

    def _redacted(self, request: CompletionRequest) -> CompletionRequest:
        """For a backend that sends text off the machine: the documents with secrets replaced before the window
        is cut, so neither the cursor nor a window edge can split a secret into halves that pass unnoticed."""
        redactor = self.backend.redactor if isinstance(self.backend, Redacting) else None
        if redactor is None:
            return request
        text, offset = redactor.redact_at(request.text, request.offset)
        others = tuple((path, redactor.redact(code)) for path, code in request.other_files)
        return dataclasses.replace(request, text=text, offset=offset, other_files=others)

    def complete(
        self,
        request: CompletionRequest,
        *,
        cancel: CancelCheck | None = None,
        on_text: TextCallback | None = None,
    ) -> Completion:
        from .postprocess import decide_multiline

        cs = self.settings.completion
        max_tokens = request.max_tokens or cs.max_tokens
        request = self._redacted(request)
        win = self.make_window(request, max_tokens)
        # Post-processing needs the real text around the cursor even where the model is not shown it.
        after = request.text[request.offset : request.offset + AFTER_CHARS]
        before = request.text[max(0, request.offset - max(BEFORE_CHARS, len(win.prefix))) : request.offset]
        if request.multiline is not None:
            multiline = request.multiline
        elif cs.multiline == "auto":
            multiline = decide_multiline(before, after)
        else:
            multiline = cs.multiline == "always"
        prompt = self.build(request, win)
        heal_text = ""
        if cs.token_healing and not self.format.fim:
            prompt, heal_text = self.heal(prompt, win.prefix)
        params = GenerationParams(
            max_tokens=max_tokens,
            temperature=cs.temperature if request.temperature is None else request.temperature,
            top_p=cs.top_p,
            stop_ids=self._stop_ids,
            # Single-line completions stop at the first line break the model emits after some text.
            stop_strings=() if multiline else ("\n",),
            seed=self.settings.model.seed if request.seed is None else request.seed,
            heal_text=heal_text,
        )
        result = self.backend.generate(prompt, params, cancel=cancel, on_text=on_text)
        text = postprocess(result.text, before, after, multiline=multiline, specials=self.specials)
        return Completion(
            text=text,
            raw=result.text,
            model=self.backend.info.name,
            format=self.format.name,
            mode=self.mode if self.format.fim else "l2r",
            stop_reason=result.stop_reason,
            timings=result.timings,
            multiline=multiline,
            window=win,
            prompt=prompt,
            before_chars=len(before),
        )
