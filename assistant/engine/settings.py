"""One typed settings tree, read from layers: defaults < user config file < environment < command line.

The same tree is used by the CLI (strict: a bad value is an error) and by the LSP (lenient: a bad value is
reported and the default kept), so the LSP's `initializationOptions` look exactly like the TOML file.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from .errors import SettingsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ENV_PREFIX = "STARASSIST_"


@dataclass
class ModelSettings:
    # A GGUF file, an HF checkpoint directory, an HF repo id in the local HF cache, or "embedded".
    path: str = "embedded"
    backend: Literal["auto", "llama.cpp", "transformers"] = "auto"
    # Upper bound on the context window; the model's own training context caps it too.
    context_length: int = 4096
    # Layers offloaded to the GPU in CUDA/Metal builds of llama.cpp; -1 means all, 0 means CPU only.
    gpu_layers: int = 0
    # transformers backend: where the model runs ("auto": cuda, then mps, then cpu) ...
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    # ... in which dtype ("auto": bfloat16 on GPUs that have it, else float16; float32 on the CPU; bitsandbytes
    # computes in it too) ...
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # ... quantized on load by bitsandbytes (a plain checkpoint; pre-quantized checkpoints keep theirs) ...
    quantization: Literal["none", "int8", "nf4"] = "none"
    # ... and how it decodes: "cuda_graph" replays one captured graph per token (static KV cache), "static" runs
    # the same static-cache step eagerly, "dynamic" is transformers' own forward. "auto": cuda_graph on CUDA,
    # static elsewhere; a path that cannot run falls back, and `starassist doctor` says why.
    decode: Literal["auto", "cuda_graph", "static", "dynamic"] = "auto"
    # 0 = let llama.cpp decide (physical cores).
    threads: int = 0
    # Prompt tokens evaluated per llama.cpp batch; cancellation is checked between batches.
    batch_size: int = 256
    # FIM format name (see `starassist models`), or "auto" to detect it from the vocabulary.
    fim_format: str = "auto"
    # "auto" puts the text that changes while typing last (SPM) where the model was trained for it.
    fim_mode: Literal["auto", "psm", "spm"] = "auto"
    seed: int = 0


@dataclass
class CompletionSettings:
    max_tokens: int = 96
    temperature: float = 0.0
    top_p: float = 0.95
    # Token budget for the text around the cursor (prefix + suffix) and the share that goes to the prefix.
    context_tokens: int = 1536
    prefix_share: float = 0.75
    # Token budget for snippets of other open documents (repo-level FIM formats only).
    extra_context_tokens: int = 512
    multiline: Literal["auto", "always", "never"] = "auto"
    # Left-to-right models: regenerate the prompt's last token under a constraint, so a cursor after
    # indentation or inside a word does not leave the model at an unnatural token boundary.
    token_healing: bool = True
    # Items returned for an explicitly invoked inline completion.
    invoked_items: int = 3
    debounce_ms: int = 100
    adaptive_debounce: bool = True
    cache_size: int = 256


@dataclass
class ChatSettings:
    max_tokens: int = 512
    temperature: float = 0.2
    # Divides the logits of tokens seen in the last `repeat_last_n` tokens (llama.cpp's repeat penalty): small
    # models otherwise fall into loops in prose. Completion does not use it: code repeats names by nature.
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    history_file: str = ""


@dataclass
class RemoteSettings:
    # A team inference server, used when model.backend = "remote" (issue 13).
    url: str = ""
    # Wire format: "openai" = /v1/completions (vLLM, TGI >= 2, llama-server, Ollama, LM Studio),
    # "llama-infill" = llama-server's /infill, "tgi" = TGI's /generate_stream.
    api: Literal["openai", "llama-infill", "tgi"] = "openai"
    model: str = ""
    # The NAME of the environment variable that holds the key: keys never live in config files.
    api_key_env: str = ""
    # Secrets and PII are replaced by placeholders before anything is sent; values listed here (comma-separated)
    # are sent as they are.
    redact: bool = True
    allow: str = ""


@dataclass
class Settings:
    model: ModelSettings = field(default_factory=ModelSettings)
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    remote: RemoteSettings = field(default_factory=RemoteSettings)


def config_dir() -> Path:
    explicit = os.environ.get("STARASSIST_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("starassist"))


def config_file() -> Path:
    return config_dir() / "config.toml"


def data_dir() -> Path:
    explicit = os.environ.get("STARASSIST_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("starassist"))


# ---- conversion --------------------------------------------------------------------------------------------


def _describe(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _coerce(key: str, tp: Any, value: Any, from_text: bool) -> Any:
    """Convert `value` to `tp` or raise SettingsError naming `key`. `from_text` allows "12" for an int."""
    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        if value in choices:
            return value
        raise SettingsError(f"setting {key}: {value!r} is not {_describe(tp)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise SettingsError(f"setting {key}: {value!r} is not true/false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if from_text and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise SettingsError(f"setting {key}: {value!r} is not a whole number")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_text and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise SettingsError(f"setting {key}: {value!r} is not a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise SettingsError(f"setting {key}: {value!r} is not text")
    raise SettingsError(f"setting {key}: unsupported type {tp}")  # pragma: no cover - programming error


_RANGES: dict[str, tuple[float, float]] = {
    "model.context_length": (128, 1_048_576),
    "model.gpu_layers": (-1, 100_000),
    "model.threads": (0, 1024),
    "model.batch_size": (1, 65_536),
    "completion.max_tokens": (1, 8192),
    "completion.temperature": (0.0, 5.0),
    "completion.top_p": (0.0, 1.0),
    "completion.context_tokens": (16, 1_048_576),
    "completion.prefix_share": (0.0, 1.0),
    "completion.extra_context_tokens": (0, 1_048_576),
    "completion.invoked_items": (1, 10),
    "completion.debounce_ms": (0, 10_000),
    "completion.cache_size": (0, 100_000),
    "chat.max_tokens": (1, 32_768),
    "chat.temperature": (0.0, 5.0),
    "chat.repeat_penalty": (1.0, 3.0),
    "chat.repeat_last_n": (0, 4096),
}


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _apply(obj: Any, data: dict[str, Any], prefix: str, from_text: bool, errors: list[str] | None) -> None:
    """Apply a nested mapping onto a settings dataclass. Errors raise, or are collected when `errors` is a list."""
    hints = _hints(type(obj))
    for raw_key, value in data.items():
        key_name = str(raw_key).replace("-", "_")
        key = f"{prefix}{key_name}"
        try:
            if key_name not in hints:
                known = ", ".join(f.name for f in dataclasses.fields(obj))
                raise SettingsError(f"setting {key}: unknown key (known here: {known})")
            tp = hints[key_name]
            current = getattr(obj, key_name)
            if dataclasses.is_dataclass(current):
                if not isinstance(value, dict):
                    raise SettingsError(f"setting {key}: expected a table of settings, got {value!r}")
                _apply(current, value, key + ".", from_text, errors)
                continue
            converted = _coerce(key, tp, value, from_text)
            if key in _RANGES and not (_RANGES[key][0] <= converted <= _RANGES[key][1]):
                lo, hi = _RANGES[key]
                raise SettingsError(f"setting {key}: {converted!r} is outside {lo}..{hi}")
            setattr(obj, key_name, converted)
        except SettingsError as exc:
            if errors is None:
                raise
            errors.append(str(exc))


def apply_mapping(settings: Settings, data: dict[str, Any], *, strict: bool = True) -> list[str]:
    """Apply a nested mapping (TOML table, LSP initializationOptions). Returns the errors in lenient mode."""
    errors: list[str] | None = None if strict else []
    _apply(settings, data, "", False, errors)
    return errors or []


def env_mapping(environ: typing.Mapping[str, str]) -> dict[str, Any]:
    """STARASSIST_MODEL=path and STARASSIST_<SECTION>__<KEY>=value, e.g. STARASSIST_COMPLETION__MAX_TOKENS=64."""
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        if rest == "model":
            out.setdefault("model", {})["path"] = value
        elif "__" in rest:
            section, key = rest.split("__", 1)
            out.setdefault(section, {})[key] = value
    return out


def load_settings(
    *,
    overrides: dict[str, Any] | None = None,
    environ: typing.Mapping[str, str] | None = None,
    file: Path | None = None,
) -> Settings:
    """Defaults < config file < environment < `overrides` (command-line flags). Strict: errors raise."""
    settings = Settings()
    path = file if file is not None else config_file()
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"config file {path} is not valid TOML ({exc}); fix or remove it") from None
        try:
            apply_mapping(settings, data)
        except SettingsError as exc:
            raise SettingsError(f"{exc} (in {path})") from None
    env = env_mapping(os.environ if environ is None else environ)
    try:
        _apply(settings, env, "", True, None)
    except SettingsError as exc:
        raise SettingsError(f"{exc} (from the environment, {ENV_PREFIX}…)") from None
    if overrides:
        _apply(settings, overrides, "", True, None)
    return settings


def to_dict(settings: Settings) -> dict[str, Any]:
    return dataclasses.asdict(settings)


def replace_from(settings: Settings, data: dict[str, Any]) -> tuple[Settings, list[str]]:
    """A copy of `settings` with `data` applied leniently (bad keys reported and skipped): for the LSP."""
    import copy

    new = copy.deepcopy(settings)
    errors = apply_mapping(new, data, strict=False)
    return new, errors


__all__ = [
    "ChatSettings",
    "CompletionSettings",
    "ModelSettings",
    "Settings",
    "apply_mapping",
    "config_file",
    "data_dir",
    "env_mapping",
    "load_settings",
    "replace_from",
    "to_dict",
]

