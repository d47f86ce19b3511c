"""Pick and load a backend for the configured model."""

from __future__ import annotations

from .backend import Backend
from .errors import MissingExtraError, SettingsError
from .models import ModelRef, resolve_model
from .settings import ModelSettings, RemoteSettings


def is_remote(settings: ModelSettings) -> bool:
    return settings.backend == "remote" or settings.path.strip().startswith(("http://", "https://"))


def load_backend(settings: ModelSettings, ref: ModelRef | None = None, remote: RemoteSettings | None = None) -> Backend:
    if ref is None and is_remote(settings):
        from .backends.remote import RemoteBackend

        remote = remote or RemoteSettings()
        url = settings.path if settings.path.strip().startswith(("http://", "https://")) else remote.url
        if not url:
            raise SettingsError("model.backend is remote but remote.url is empty — set remote.url = "
                                "\"http://your-server:8080\" (or put the URL in model.path)")
        return RemoteBackend(settings, remote, url=url)
    ref = ref or resolve_model(settings.path)
    if ref.kind == "gguf":
        if settings.backend == "transformers":
            raise SettingsError(
                f"model.backend is transformers but {ref.path} is a GGUF file — use model.backend = auto or "
                "llama.cpp, or point model.path at a checkpoint directory"
            )
        from .backends.llama_cpp import LlamaCppBackend

        return LlamaCppBackend(ref.path, settings, name=ref.display_name)
    if settings.backend == "llama.cpp":
        raise SettingsError(
            f"{ref.path} is a Hugging Face checkpoint; llama.cpp needs a GGUF — convert it with "
            f"`starassist quantize {ref.source}` or set model.backend = transformers"
        )
    try:
        from .backends.transformers_hf import TransformersBackend
    except ImportError as exc:
        raise MissingExtraError(
            f"{ref.path} is a Hugging Face checkpoint and the transformers backend is not installed ({exc.name}) "
            "— `pip install 'starassist[hf]'`, or convert it with `starassist quantize`"
        ) from None
    return TransformersBackend(ref.path, settings, name=ref.display_name)
