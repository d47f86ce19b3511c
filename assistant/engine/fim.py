"""Fill-in-the-middle formats as data, one generic prompt builder, and detection from a vocabulary.

A layout is a small template: `[<tok>]` is one special token (looked up as a single id, never parsed from
user text), `{name}` is a slot filled with user text (tokenized with special-token parsing off, so a file that
contains the literal text `<fim_middle>` cannot break the prompt), anything else is literal text.

Slots: prefix, suffix (the text around the cursor), path (the current file, repo-relative), repo (the
repository name), files (other files rendered with the format's `file` template: path, code).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .errors import SettingsError

Mode = Literal["psm", "spm"]
_PIECE = re.compile(r"\[([^\]]+)\]|\{(\w+)\}|([^\[{]+)")


@dataclass(frozen=True)
class FimFormat:
    name: str
    family: str
    # All of these must be single tokens of the vocabulary for the format to be detected.
    detect: tuple[str, ...]
    psm: str
    spm: str | None = None
    # Repo-level layouts, used when the current file's path is known.
    repo_psm: str | None = None
    repo_spm: str | None = None
    file: str | None = None  # how another file of the repository is written into `{files}`
    # Special tokens that end the middle (when present in the vocabulary), besides the model's own EOG tokens.
    stops: tuple[str, ...] = ()
    # The model was trained with suffix-prefix-middle too, so "auto" mode may use it (text that changes while
    # typing sits at the end of the prompt: the KV cache is reused across keystrokes).
    spm_trained: bool = False
    fim: bool = True
    # Slots tokenized without the SentencePiece dummy space that a tokenizer puts before every text it is given
    # (Code Llama was trained with "<SUF>)" and not "<SUF>▁)").
    bare_slots: tuple[str, ...] = ()
    notes: str = ""

    def layout(self, mode: Mode, repo_level: bool) -> str:
        if repo_level and self.repo_psm:
            if mode == "spm" and self.repo_spm:
                return self.repo_spm
            return self.repo_psm
        if mode == "spm" and self.spm:
            return self.spm
        return self.psm

    def special_tokens(self) -> set[str]:
        names = set(self.detect) | set(self.stops)
        for template in (self.psm, self.spm, self.repo_psm, self.repo_spm, self.file):
            if template:
                names.update(m.group(1) for m in _PIECE.finditer(template) if m.group(1))
        return names


_SC_STOPS = ("<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>", "<file_sep>",
             "<filename>", "<repo_name>", "<reponame>")

FORMATS: dict[str, FimFormat] = {
    f.name: f
    for f in (
        FimFormat(
            name="starcoder2",
            family="StarCoder2 (3B/7B/15B)",
            detect=("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>"),
            psm="[<fim_prefix>]{prefix}[<fim_suffix>]{suffix}[<fim_middle>]",
            spm="[<fim_prefix>][<fim_suffix>]{suffix}[<fim_middle>]{prefix}",
            repo_psm="[<repo_name>]{repo}{files}[<file_sep>][<fim_prefix>]{path}\n{prefix}[<fim_suffix>]{suffix}[<fim_middle>]",
            repo_spm="[<repo_name>]{repo}{files}[<file_sep>][<fim_prefix>][<fim_suffix>]{suffix}[<fim_middle>]{path}\n{prefix}",
            file="[<file_sep>]{path}\n{code}",
            stops=_SC_STOPS,
            # SPM as trained: the StarCoder2 paper and model cards only show PSM, but every trainer used for the
            # family applies SPM to half of the FIM samples by default, as for StarCoder (bigcode Megatron-LM
            # `--fim-spm-rate 0.5`, Fast-LLM's `FimConfig.spm_rate = 0.5` for the 3B, NeMo's port of the same FIM
            # dataset for the 15B). With the typed text last, a keystroke only appends to the prompt, so the KV
            # cache is reused exactly; `model.fim_mode = "psm"` gives the documented layout.
            spm_trained=True,
            notes="repo-level PSM as in the StarCoder2 paper (SPM by default: the typed text last); stops at <file_sep>",
        ),
        FimFormat(
            name="starcoder",
            family="StarCoder / StarCoderBase / StarCoderPlus",
            detect=("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<filename>"),
            psm="[<fim_prefix>]{prefix}[<fim_suffix>]{suffix}[<fim_middle>]",
            spm="[<fim_prefix>][<fim_suffix>]{suffix}[<fim_middle>]{prefix}",
            repo_psm="{files}[<fim_prefix>][<filename>]{path}\n{prefix}[<fim_suffix>]{suffix}[<fim_middle>]",
            repo_spm="{files}[<fim_prefix>][<fim_suffix>]{suffix}[<fim_middle>][<filename>]{path}\n{prefix}",
            file="[<filename>]{path}\n{code}[<|endoftext|>]",
            stops=_SC_STOPS,
            spm_trained=True,
            notes="PSM and SPM were both trained; <filename> metadata sits at the start of the file's text",
        ),
        FimFormat(
            name="santacoder",
            family="SantaCoder",
            detect=("<fim-prefix>", "<fim-suffix>", "<fim-middle>"),
            psm="[<fim-prefix>]{prefix}[<fim-suffix>]{suffix}[<fim-middle>]",
            spm="[<fim-prefix>][<fim-suffix>]{suffix}[<fim-middle>]{prefix}",
            stops=("<|endoftext|>", "<fim-prefix>", "<fim-suffix>", "<fim-middle>", "<fim-pad>"),
            spm_trained=True,
        ),
        FimFormat(
            name="codellama",
            family="Code Llama (7B/13B base and instruct)",
            detect=("▁<PRE>", "▁<SUF>", "▁<MID>"),
            psm="[▁<PRE>]{prefix}[▁<SUF>]{suffix}[▁<MID>]",
            stops=("▁<EOT>", "▁<PRE>", "▁<SUF>", "▁<MID>"),
            bare_slots=("suffix",),
            notes="the prefix keeps SentencePiece's dummy space and the suffix has none, as in the reference code",
        ),
        FimFormat(
            name="deepseek",
            family="DeepSeek-Coder",
            detect=("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
            psm="[<｜fim▁begin｜>]{prefix}[<｜fim▁hole｜>]{suffix}[<｜fim▁end｜>]",
            stops=("<｜end▁of▁sentence｜>", "<|EOT|>", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
        ),
        FimFormat(
            name="qwen",
            family="Qwen2.5-Coder",
            detect=("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_sep|>"),
            psm="[<|fim_prefix|>]{prefix}[<|fim_suffix|>]{suffix}[<|fim_middle|>]",
            repo_psm="[<|repo_name|>]{repo}\n{files}[<|file_sep|>]{path}\n[<|fim_prefix|>]{prefix}[<|fim_suffix|>]{suffix}[<|fim_middle|>]",
            file="[<|file_sep|>]{path}\n{code}\n",
            stops=("<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>",
                   "<|file_sep|>", "<|repo_name|>", "<|im_end|>"),
        ),
        FimFormat(
            name="codegemma",
            family="CodeGemma",
            detect=("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"),
            psm="[<|fim_prefix|>]{prefix}[<|fim_suffix|>]{suffix}[<|fim_middle|>]",
            stops=("<|file_separator|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<eos>"),
        ),
        FimFormat(
            name="infill",
            family="a server that builds the FIM prompt itself (llama-server's /infill)",
            detect=(),
            psm="[<fim_prefix>]{prefix}[<fim_suffix>]{suffix}[<fim_middle>]",
            notes="the markers only delimit prefix and suffix on the way to the server; never auto-detected",
        ),
        FimFormat(
            name="none",
            family="models without FIM tokens (left-to-right completion)",
            detect=(),
            psm="{prefix}",
            fim=False,
            notes="the text after the cursor is not shown to the model; post-processing still respects it",
        ),
    )
}

DETECTION_ORDER = ("starcoder2", "starcoder", "santacoder", "codellama", "deepseek", "qwen", "codegemma")


def detect_format(has_token: Callable[[str], bool]) -> FimFormat:
    """The first format whose special tokens all exist in the vocabulary; "none" when no format matches."""
    for name in DETECTION_ORDER:
        fmt = FORMATS[name]
        if all(has_token(t) for t in fmt.detect):
            return fmt
    return FORMATS["none"]


def get_format(name: str) -> FimFormat:
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(FORMATS)
        raise SettingsError(f"setting model.fim_format: unknown format {name!r} (known: auto, {known})") from None


def resolve_mode(fmt: FimFormat, requested: str) -> Mode:
    if requested == "psm" or not fmt.spm:
        return "psm"
    if requested == "spm":
        return "spm"
    return "spm" if fmt.spm_trained else "psm"


def all_special_token_texts() -> set[str]:
    names: set[str] = set()
    for fmt in FORMATS.values():
        names |= fmt.special_tokens()
    return names


@dataclass(frozen=True)
class FimRequest:
    prefix: str
    suffix: str
    path: str | None = None  # repo-relative path of the current file; enables repo-level layouts
    repo: str = ""
    files: Sequence[tuple[str, str]] = field(default_factory=tuple)  # other files: (path, code)


# Put before a text to learn which leading tokens are the tokenizer's own (its dummy space), then cut off.
_SENTINEL = "☺"


def tokenize_bare(tokenize: Callable[[str], list[int]], text: str) -> list[int]:
    """`text`'s tokens without the dummy space a SentencePiece tokenizer puts before any text it is given: the
    text is tokenized after a sentinel character, and the sentinel's own tokens are cut off (the reference
    Code Llama code does the same). Tokenizers without a dummy space give `tokenize(text)`."""
    if not text:
        return []
    mark = tokenize(_SENTINEL)
    ids = tokenize(_SENTINEL + text)
    if mark and ids[: len(mark)] == mark:
        return ids[len(mark) :]
    return tokenize(text)  # the sentinel merged with the text: no clean cut exists


def parse_template(template: str) -> list[tuple[str, str]]:
    """[('special', '<fim_prefix>'), ('slot', 'prefix'), ('text', '\\n'), ...]"""
    out: list[tuple[str, str]] = []
    pos = 0
    for m in _PIECE.finditer(template):
        if m.start() != pos:  # pragma: no cover - the regex covers every character of a well-formed template
            raise ValueError(f"bad FIM template near {template[pos:]!r}")
        pos = m.end()
        special, slot, text = m.groups()
        if special is not None:
            out.append(("special", special))
        elif slot is not None:
            out.append(("slot", slot))
        else:
            out.append(("text", text))
    if pos != len(template):
        raise ValueError(f"bad FIM template near {template[pos:]!r}")
    return out


def build_prompt(
    fmt: FimFormat,
    request: FimRequest,
    *,
    mode: Mode,
    tokenize: Callable[[str], list[int]],
    special_ids: Mapping[str, int],
    bos: Iterable[int] = (),
) -> list[int]:
    """Token ids of the FIM prompt. Text pieces are tokenized separately, special tokens looked up by id."""
    repo_level = request.path is not None and fmt.repo_psm is not None
    template = fmt.layout(mode, repo_level)
    ids: list[int] = list(bos)
    text_buffer: list[str] = []

    def flush() -> None:
        if text_buffer:
            joined = "".join(text_buffer)
            text_buffer.clear()
            if joined:
                ids.extend(tokenize(joined))

    def special(name: str) -> None:
        flush()
        try:
            ids.append(special_ids[name])
        except KeyError:
            raise SettingsError(
                f"FIM format {fmt.name!r} needs the token {name} but the model's vocabulary has none; "
                "set model.fim_format to the model's format (see `starassist doctor`)"
            ) from None

    for kind, value in parse_template(template):
        if kind == "special":
            special(value)
        elif kind == "text":
            text_buffer.append(value)
        elif value == "files":
            file_template = parse_template(fmt.file or "")
            for path, code in request.files:
                for fkind, fvalue in file_template:
                    if fkind == "special":
                        special(fvalue)
                    elif fkind == "text":
                        text_buffer.append(fvalue)
                    else:
                        text_buffer.append({"path": path, "code": code}[fvalue])
                # A file boundary is a natural tokenization boundary; keeps cached prefixes stable.
                flush()
        else:
            slot = {"prefix": request.prefix, "suffix": request.suffix, "path": request.path or "",
                    "repo": request.repo}[value]
            if value in fmt.bare_slots:
                flush()
                ids.extend(tokenize_bare(tokenize, slot))
                continue
            text_buffer.append(slot)
            # Slots are tokenized on their own: a prompt that only grows at the end of the prefix keeps
            # every earlier token identical, so the KV cache is reused while typing.
            flush()
    flush()
    return ids
