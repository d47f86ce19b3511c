"""The remote backend: a team inference server behind the same `Backend` protocol as llama.cpp.

The engine builds prompts as token ids; a server wants text. So this backend's "tokens" are pieces of text
interned in a local table (`PieceVocab`): `tokenize` splits text into word-sized pieces (about as many as a
code tokenizer makes, a little more, so context budgets stay safe), special tokens of the FIM format get ids of
their own, and `generate` turns the ids back into the exact text. Special tokens go over the wire as their
text, which the server tokenizes as special (llama-server, vLLM, TGI and llama-cpp-python all do); text in the
user's code that looks like a marker is therefore escaped to a placeholder by the redactor and put back after.

What a server streams back is plain text: servers leave control tokens out of it, so a marker's text in an
answer was written by the model as text, exactly as when the local backend decodes it. Cutting there is left to
post-processing, which keeps it inside a string literal, as it does locally.

Chat prompts use a wire chat template of marker tokens, so the chat code renders messages as usual and this
backend sends them as messages to `/v1/chat/completions`.

Every byte that leaves goes through `Redactor.redact` first (each text run between special tokens on its own,
so a pattern can never swallow a marker), and every byte that comes back through `Redactor.restore`.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from ..backend import (
    CancelCheck,
    Diagnostic,
    GenerationParams,
    GenerationResult,
    ModelInfo,
    StopReason,
    TextCallback,
    Timings,
    find_stop_string,
    held_back,
)
from ..errors import SettingsError
from ..fim import FORMATS as FIM_FORMATS
from ..fim import get_format
from ..redact import Redactor, allow_list, marker_pattern, partial_placeholder
from ..remote_api import FORMATS, RemoteError, Request, call_json, stream
from ..settings import ModelSettings, RemoteSettings

# Word-sized pieces (a case change starts a new one, so random strings split finely). Against a real code
# tokenizer (SmolLM2's, StarCoder2's family) this counts ordinary code 1.5-1.7x and random base64 0.7x, so
# the context budget in pieces is kept to two thirds of the model's context (`_PIECES_PER_TOKEN`).
_PIECE = re.compile(r"[A-Z]?[a-z]{1,6}|[A-Z]{1,4}|\d{1,3}|[ \t]{1,4}|\r?\n|[^\sA-Za-z\d]|\s")
_PIECES_PER_TOKEN = 2 / 3

# The wire chat template: one marker per role and one closing marker; `generate` reads messages back out.
_ROLES = ("system", "user", "assistant")
_ROLE_MARK = {role: f"<|wire:{role}|>" for role in _ROLES}
_END_MARK = "<|wire:end|>"
WIRE_CHAT_TEMPLATE = (
    "{% for m in messages %}<|wire:{{ m.role }}|>{{ m.content }}<|wire:end|>{% endfor %}"
    "{% if add_generation_prompt %}<|wire:assistant|>{% endif %}"
)

# A server's model name -> our FIM format (first match wins; names are lower-cased, `_` and spaces read as `-`).
NAME_FORMATS: tuple[tuple[str, str], ...] = (
    ("starcoder2", "starcoder2"),
    ("starcoder", "starcoder"),
    ("starchat", "starcoder"),
    ("santacoder", "santacoder"),
    ("codellama", "codellama"),
    ("code-llama", "codellama"),
    ("deepseek-coder", "deepseek"),
    ("qwen2.5-coder", "qwen"),
    ("qwen2-5-coder", "qwen"),
    ("codegemma", "codegemma"),
)

# How servers tokenize on request (to check that the FIM markers are single special tokens there):
# (path, body for (model, text), token count of the answer). Tried in order; the first that answers counts.
TOKENIZE_PROBES = (
    ("/extras/tokenize", lambda m, t: {"model": m, "input": t}, lambda d: len(d["tokens"])),  # llama-cpp-python
    ("/tokenize", lambda m, t: {"content": t, "add_special": False, "parse_special": True},  # llama-server
     lambda d: len(d["tokens"])),
    ("/tokenize", lambda m, t: {"model": m, "prompt": t, "add_special_tokens": False},  # vLLM
     lambda d: len(d["tokens"])),
    ("/tokenize", lambda m, t: {"inputs": t, "add_special_tokens": False}, len),  # TGI
)


def format_for_model_name(name: str) -> str:
    key = re.sub(r"[_\s]", "-", name.lower())
    return next((fmt for needle, fmt in NAME_FORMATS if needle in key), "none")


class PieceVocab:
    """Text pieces interned as ids; special tokens first. Ids only need to live as long as this backend."""

    def __init__(self, specials: Sequence[str]) -> None:
        self.pieces: list[str] = list(specials)
        self.special_ids = {text: i for i, text in enumerate(self.pieces)}
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()  # the LSP tokenizes on its worker and counts on other threads
        names = sorted(specials, key=len, reverse=True)
        self._split = re.compile("(" + "|".join(re.escape(n) for n in names) + ")") if names else None

    def _intern(self, piece: str) -> int:
        found = self._ids.get(piece)
        if found is None:
            with self._lock:
                found = self._ids.setdefault(piece, len(self.pieces))
                if found == len(self.pieces):
                    self.pieces.append(piece)
        return found

    def tokenize(self, text: str, special: bool) -> list[int]:
        parts = self._split.split(text) if special and self._split else [text]
        ids: list[int] = []
        for part in parts:
            if part in self.special_ids and special:
                ids.append(self.special_ids[part])
            else:
                ids.extend(self._intern(m.group(0)) for m in _PIECE.finditer(part))
        return ids

    def is_special(self, token: int) -> bool:
        return token < len(self.special_ids)


@dataclass(frozen=True)
class WirePrompt:
    """What goes to the server for one prompt, already redacted."""

    text: str = ""  # the FIM / completion prompt with special tokens as text
    prefix: str = ""  # for /infill
    suffix: str = ""
    messages: tuple[dict[str, str], ...] = ()  # for /v1/chat/completions
    answer_prefix: str = ""  # text the chat answer was started with (not sent; removed from an echo)


class RemoteBackend:
    """A model served over HTTP. Thread-safe; each generate is one streamed request."""

    def __init__(self, model: ModelSettings, remote: RemoteSettings, *, url: str | None = None) -> None:
        self.remote = remote
        self.url = _checked_url(url or remote.url)
        self.api = FORMATS[remote.api]
        self.model_name = remote.model
        self.listed: list[str] = []
        self.server_context: int | None = None  # tokens per request, where the server says
        self.probe_error: str | None = None
        self.probe_ms = 0.0
        try:
            self.listed = self._list_models()
        except RemoteError as exc:
            if not self.model_name:  # without a name there is no prompt format to choose
                raise
            self.probe_error = str(exc)  # the server may come back; requests will say so until then
        if not self.model_name:
            if not self.listed:
                raise RemoteError(f"the server at {self.url} lists no models — set remote.model")
            self.model_name = self.listed[0]
        if remote.api == "llama-infill":
            fim_name = "infill"  # the server builds the FIM prompt from prefix and suffix
        elif model.fim_format and model.fim_format != "auto":
            fim_name = get_format(model.fim_format).name
        else:
            fim_name = format_for_model_name(self.model_name)
        fim = FIM_FORMATS[fim_name]
        specials = sorted(fim.special_tokens()) + [*_ROLE_MARK.values(), _END_MARK]
        # Marker text in the user's code is escaped even with redaction off: it must reach the model as text.
        self.redactor = Redactor(allow=allow_list(remote.allow), secrets=remote.redact,
                                 markers=marker_pattern(fim.special_tokens()))
        self.vocab = PieceVocab(specials)
        eog = {self.vocab.special_ids[t] for t in ("<|endoftext|>",) if t in self.vocab.special_ids}
        self.info = ModelInfo(
            name=f"remote:{self.model_name}",
            path=self.url,
            arch="remote",
            # A server's context per request (llama-server: -c / -np) bounds ours: a longer prompt is refused.
            context_length=int(min(model.context_length, self.server_context or model.context_length)
                               * _PIECES_PER_TOKEN),
            train_context_length=model.context_length,
            vocab_size=0,
            bos_id=None,
            eos_id=None,
            add_bos=False,
            chat_template=WIRE_CHAT_TEMPLATE,
            special_tokens=dict(self.vocab.special_ids),
            eog_ids=frozenset(eog),
            control_ids=frozenset(self.vocab.special_ids.values()),  # all of them markup, none text
            quantization="served",
            backend=f"remote ({remote.api})",
            device=urllib.parse.urlsplit(self.url).netloc,
            fim_format=fim_name,
        )

    # -- Backend protocol -------------------------------------------------------------------------------------

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        return self.vocab.tokenize(text, special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        pieces = self.vocab.pieces
        return "".join(pieces[t] for t in tokens if 0 <= t < len(pieces))

    def generate(
        self,
        prompt: Sequence[int],
        params: GenerationParams,
        *,
        cancel: CancelCheck | None = None,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        if not prompt:
            raise ValueError("empty prompt")
        wire = self.wire_prompt(prompt, params.heal_text)
        if wire.messages:
            fmt, request = FORMATS["openai-chat"], Request(messages=wire.messages)
        else:
            fmt, request = self.api, Request(prompt=wire.text, prefix=wire.prefix, suffix=wire.suffix)
        request = Request(prompt=request.prompt, prefix=request.prefix, suffix=request.suffix,
                          messages=request.messages, model=self.model_name, max_tokens=params.max_tokens,
                          temperature=params.temperature, repeat_penalty=params.repeat_penalty,
                          stop=tuple(s for s in params.stop_strings if s))
        timings = Timings(prompt_tokens=len(prompt))
        check = cancel or (lambda: False)
        raw, text, emitted, chunks = "", "", 0, 0
        reason: StopReason = "stop_token"
        t0 = time.perf_counter()
        first: float | None = None
        with contextlib.closing(stream(self.url, fmt, request, key_env=self.remote.api_key_env, cancel=check,
                                       read_timeout=self.remote.timeout_s)) as chunks_in:
            for chunk in chunks_in:
                if first is None:
                    first = time.perf_counter()
                chunks += 1
                raw += chunk
                text = self._visible(_strip_echo(raw, wire.answer_prefix, final=False), partial=True)
                cut = find_stop_string(text, params.stop_strings)
                if cut != -1:
                    text, reason = text[:cut], "stop_string"
                    break
                safe = len(text) - held_back(text, params.stop_strings)
                if on_text is not None and safe > emitted:
                    on_text(text[emitted:safe])
                    emitted = safe
            else:
                if check():
                    reason = "cancelled"
                else:
                    text = self._visible(_strip_echo(raw, wire.answer_prefix, final=True), partial=False)
                    cut = find_stop_string(text, params.stop_strings)
                    if cut != -1:
                        text, reason = text[:cut], "stop_string"
                    elif chunks >= params.max_tokens:
                        reason = "max_tokens"
        if on_text is not None and reason != "cancelled" and len(text) > emitted:
            on_text(text[emitted:])
        end = time.perf_counter()
        first = first or end
        timings.prompt_ms = (first - t0) * 1000  # time to the first streamed token: the server's prefill
        timings.generated_tokens = chunks
        timings.generation_ms = (end - first) * 1000
        return GenerationResult(text=text, tokens=[], stop_reason=reason, timings=timings)

    def close(self) -> None:
        pass

    # -- wire ---------------------------------------------------------------------------------------------------

    def _visible(self, raw: str, *, partial: bool) -> str:
        """What the user may see of the server's text: placeholders restored, a half-received one held back."""
        if partial:
            raw = raw[: len(raw) - partial_placeholder(raw)]
        return self.redactor.restore(raw)

    def wire_prompt(self, prompt: Sequence[int], heal_text: str = "") -> WirePrompt:
        """The redacted request for a prompt of this backend's ids (token healing cannot run remotely: the healed
        text simply goes back on the end of the prompt)."""
        runs: list[tuple[str | None, str]] = []  # (special marker or None, text)
        text: list[str] = []
        for token in prompt:
            if self.vocab.is_special(token):
                runs.append((None, "".join(text)))
                text = []
                runs.append((self.vocab.pieces[token], ""))
            else:
                text.append(self.vocab.pieces[token])
        runs.append((None, "".join(text) + heal_text))
        runs = [(m, self.redactor.redact(t)) for m, t in runs]
        marks = [m for m, _ in runs if m is not None]
        if any(m in _ROLE_MARK.values() for m in marks):
            return _messages(runs)
        if self.info.fim_format == "infill":
            return _infill(runs)
        return WirePrompt(text="".join(m if m is not None else t for m, t in runs))

    # -- doctor -------------------------------------------------------------------------------------------------

    def _list_models(self) -> list[str]:
        t0 = time.perf_counter()
        if self.remote.api == "tgi":
            data = call_json(self.url, "/info", key_env=self.remote.api_key_env)
            names = [str(data.get("model_id", ""))]
            contexts = [data.get("max_input_tokens") or data.get("max_input_length")]
        else:
            data = call_json(self.url, "/v1/models", key_env=self.remote.api_key_env)
            models = [m for m in data.get("data", []) if isinstance(m, dict)]
            names = [str(m.get("id", "")) for m in models]
            # vLLM says max_model_len; llama-server says meta.n_ctx (per slot).
            contexts = [m.get("max_model_len") or (m.get("meta") or {}).get("n_ctx") for m in models[:1]]
        self.probe_ms = (time.perf_counter() - t0) * 1000
        self.server_context = next((c for c in contexts if isinstance(c, int) and c > 0), None)
        return [n for n in names if n]

    def token_count(self, text: str) -> int | None:
        """How many tokens the server's tokenizer makes of `text` (special tokens parsed), or None if it has no
        tokenize endpoint we know."""
        for path, body, count in TOKENIZE_PROBES:
            try:
                return int(count(call_json(self.url, path, body(self.model_name, text),
                                           key_env=self.remote.api_key_env)))
            except (RemoteError, KeyError, TypeError):
                continue
        return None

    def diagnostics(self) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        try:
            listed = self._list_models()
        except RemoteError as exc:
            return [Diagnostic("fail", "server", str(exc))]
        out.append(Diagnostic("ok", "server", f"{self.url} answered in {self.probe_ms:.0f} ms ({self.remote.api} API)"))
        if self.server_context:
            out.append(Diagnostic("ok", "server context", f"{self.server_context} tokens per request (prompts are "
                                  f"kept to {self.info.context_length} pieces)"))
        if self.model_name in listed or self.remote.api == "tgi":
            out.append(Diagnostic("ok", "served model", f"{self.model_name}"))
        else:
            out.append(Diagnostic("fail", "served model", f"{self.model_name!r} is not among the server's models "
                                  f"({', '.join(listed) or 'none'}) — set remote.model to one of them"))
        fim = FIM_FORMATS[self.info.fim_format]
        marker = fim.detect[0] if fim.detect else "<fim_prefix>"
        n = self.token_count(marker) if self.remote.api != "llama-infill" else None
        if fim.fim and fim.name != "infill" and n is not None and n != 1:
            out.append(Diagnostic("fail", "server fim", f"the server is up but its model has no FIM tokens ({marker} is "
                                  f"{n} tokens there) — serve a FIM model such as StarCoder2, or set "
                                  "model.fim_format = none"))
        elif not fim.fim and n == 1:
            out.append(Diagnostic("warn", "server fim", f"the server's model has {marker} but its name "
                                  f"{self.model_name!r} says no FIM format — set model.fim_format"))
        elif n is not None:
            out.append(Diagnostic("ok", "server fim", f"{fim.name}: {marker} is one token on the server"
                                  if fim.fim else "no FIM tokens on the server either: left-to-right completion"))
        redaction = "on" if self.remote.redact else "OFF (remote.redact = false)"
        out.append(Diagnostic("ok" if self.remote.redact else "warn", "redaction", redaction))
        return out


def _strip_echo(raw: str, prefix: str, *, final: bool) -> str:
    """A chat answer without the answer prefix the server could not be given, if the model repeated it."""
    if not prefix:
        return raw
    if raw.startswith(prefix):
        return raw[len(prefix):]
    return "" if not final and prefix.startswith(raw) else raw


def _messages(runs: list[tuple[str | None, str]]) -> WirePrompt:
    messages: list[dict[str, str]] = []
    role: str | None = None
    trailing = ""
    for mark, text in runs:
        if mark is None:
            if role is not None:
                trailing += text
            continue
        if mark == _END_MARK and role is not None:
            messages.append({"role": role, "content": trailing})
            role, trailing = None, ""
        else:
            role = next((r for r, m in _ROLE_MARK.items() if m == mark), None)
            trailing = ""
    # Text after the final assistant marker is an answer prefix: the server starts its own answer.
    return WirePrompt(messages=tuple(messages), answer_prefix=trailing)


def _infill(runs: list[tuple[str | None, str]]) -> WirePrompt:
    parts: dict[str, str] = {}
    current = None
    for mark, text in runs:
        if mark is not None:
            current = mark
        elif current is not None:
            parts[current] = parts.get(current, "") + text
    return WirePrompt(prefix=parts.get("<fim_prefix>", ""), suffix=parts.get("<fim_suffix>", ""))


def _checked_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"setting remote.url: {url!r} is not an http(s) URL — write it like http://gpu-box:8080")
    if parts.username or parts.password:
        raise SettingsError("setting remote.url: credentials do not belong in a URL — put the key in an environment "
                            "variable and name it in remote.api_key_env")
    return url.strip().rstrip("/")
