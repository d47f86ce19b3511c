"""transformers backend: Hugging Face checkpoint directories (plain, quantized by bitsandbytes on load, or saved
quantized), on a CUDA or Apple GPU where there is one, else on the CPU (`hf_placement`).

Same contract as the llama.cpp backend: our own prefill (in batches, cancellable between them) and decode loop
(cancellable between tokens), streaming through `on_text`, and KV-cache prefix reuse: only the tokens after the
longest common prefix with the previous call are evaluated. Three decode paths (`model.decode`):

- "cuda_graph": a static KV cache and the one-token step replayed as a captured CUDA graph (`hf_decoder`);
- "static": the same static-cache forward run eagerly (CPU, MPS, or where capture is impossible);
- "dynamic": transformers' own forward with its dynamic cache, cropped to the common prefix (any architecture).
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Sequence
from pathlib import Path

import torch

from ..backend import (
    CancelCheck,
    DecodeSteps,
    Diagnostic,
    GenerationParams,
    HealingIndex,
    ModelInfo,
    TokenLoopBackend,
)
from ..errors import BadModelFileError
from ..settings import ModelSettings
from .hf_decoder import CapturedStep, StaticDecoder, unsupported_reason
from .hf_placement import Hardware, describe_memory, device_name, first_line, load_model, place
from .hf_vocab import HfVocab

# Quantizations whose layers a CUDA graph cannot capture, and why.
_NO_GRAPH = {
    "int8": "bitsandbytes int8 picks outlier columns at every step (data-dependent shapes), which a CUDA graph "
            "cannot capture",
}
_PATHS = {
    "cuda_graph": "a captured CUDA graph per token over a static KV cache of {n} positions",
    "static": "a static KV cache of {n} positions, eager steps",
    "dynamic": "transformers' forward with its dynamic KV cache",
}


class TransformersBackend(TokenLoopBackend):
    """An HF checkpoint loaded with transformers. Calls are serialized by a lock; one KV sequence is kept."""

    def __init__(self, path: str | Path, settings: ModelSettings | None = None, *, name: str | None = None) -> None:
        import json

        import transformers

        settings = settings or ModelSettings()
        path = Path(path)
        if settings.threads:
            torch.set_num_threads(settings.threads)
        try:
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise BadModelFileError(f"{path} is not a readable HF checkpoint ({exc.__class__.__name__}) — pass a "
                                    "directory with config.json and weights") from None
        transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bars on the LSP's stderr
        self.placement = place(settings, config, Hardware.detect())
        self._device = self.placement.device
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
        except (OSError, ValueError, ImportError) as exc:
            raise BadModelFileError(f"transformers could not load {path} ({first_line(exc)})") from None
        self.vocab = HfVocab(self.tokenizer)
        self.model = load_model(path, self.placement, config)
        params = inspect.signature(self.model.forward).parameters
        # transformers 5.23+ names the cache argument `cache` (`past_key_values` is deprecated, gone in 5.40).
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._keep_last = "logits_to_keep" in params
        self._lock = threading.Lock()
        self._cache = None
        self._cached: list[int] = []
        self._batch = max(1, settings.batch_size)
        self._gen = torch.Generator().manual_seed(settings.seed)
        self._logits: torch.Tensor | None = None  # logits after the last evaluated token
        self._decoder: StaticDecoder | None = None  # static KV buffers (cuda_graph and static paths)
        self._step: CapturedStep | None = None
        self.decode_path = "dynamic"
        self._decode_wanted = "auto"
        self._decode_notes: list[str] = []

        vocab = self.vocab
        mc = self.model.config
        train_ctx = int(getattr(mc, "n_positions", 0) or getattr(mc, "max_position_embeddings", 0) or 2048)
        size = sum(f.stat().st_size for f in path.iterdir() if f.suffix in (".safetensors", ".bin"))
        quant = self.placement.quantization
        self.info = ModelInfo(
            name=name or path.name,
            path=str(path),
            arch=str(getattr(mc, "model_type", "unknown")),
            context_length=min(train_ctx, settings.context_length),
            train_context_length=train_ctx,
            vocab_size=int(mc.vocab_size),
            bos_id=vocab.bos_id,
            eos_id=vocab.eos_id,
            add_bos=vocab.add_bos,
            chat_template=getattr(self.tokenizer, "chat_template", None),
            special_tokens=vocab.special_tokens,
            eog_ids=vocab.eog_ids,
            control_ids=vocab.control_ids,
            quantization=quant if quant != "none" else self.placement.dtype,
            size_bytes=size,
            backend="transformers",
            threads=torch.get_num_threads(),
            device=device_name(self._device),
            # The common prefix is kept (the static decoder moves its position, the dynamic cache is cropped) and
            # the changed rest evaluated again; cached keys are not moved to new positions here.
            kv_reuse="crop",
        )
        self._healing: HealingIndex | None = None
        self.set_decode(settings.decode)

    # -- tokens ----------------------------------------------------------------------------------------------

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        return self.vocab.tokenize(text, special=special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self.vocab.detokenize(tokens)

    # -- decode paths ----------------------------------------------------------------------------------------

    def set_decode(self, mode: str) -> str:
        """Use decode path `mode` ("auto", "cuda_graph", "static" or "dynamic"); returns the path in use. One that
        cannot run falls back (cuda_graph, then static, then dynamic) and `diagnostics()` says why."""
        with self._lock, self._inference():
            path = "cuda_graph" if mode == "auto" else mode  # auto: the fastest path that runs here
            notes: list[str] = []
            self._step = None
            if path == "cuda_graph":
                why = self._graph_unavailable()
                if not why:
                    try:
                        self._step = CapturedStep(self._static())
                    except Exception as exc:  # noqa: BLE001 - any failure to capture means: run eagerly
                        why = f"capture failed ({first_line(exc)})"
                        self._step = None
                if why:
                    notes.append(f"no CUDA graph: {why}")
                    path = "static"
            if path == "static" and (why := unsupported_reason(self.model.config)):
                notes.append(f"no static KV cache: {why}")
                path = "dynamic"
            if path == "dynamic":
                if self._decoder is not None:
                    self._decoder, self._cached = None, []  # the KV state was in the static buffers
            else:
                capacity = self._static().capacity  # (a new decoder starts with an empty KV state)
                self._cached = self._cached[: capacity - 1]  # capture wrote at the last position: never reuse it
            self.decode_path, self._decode_wanted, self._decode_notes = path, mode, notes
        return path

    def _graph_unavailable(self) -> str:
        if self._device != "cuda":
            return f"the model runs on {self._device}, and CUDA graphs need a CUDA device"
        return _NO_GRAPH.get(self.placement.quantization, "") or unsupported_reason(self.model.config)

    def _static(self) -> StaticDecoder:
        if self._decoder is None:
            self._cache, self._cached = None, []  # the KV state was in transformers' cache
            self._decoder = StaticDecoder(self.model, self.info.context_length)
        return self._decoder

    # -- generation ------------------------------------------------------------------------------------------

    def _forward(self, ids: list[int]) -> torch.Tensor:
        """Evaluate `ids` after the cached sequence; returns the logits of the last position."""
        start = len(self._cached)
        if self._step is not None and len(ids) == 1:
            logits = self._step(ids[0], start)
        elif self._decoder is not None:
            inp = torch.tensor([ids], device=self._device)
            positions = torch.arange(start, start + len(ids), device=self._device)
            logits = self._decoder.forward(inp, positions, span=start + len(ids))
        else:
            logits = self._dynamic_forward(ids)
        self._cached.extend(ids)
        return logits.float()

    def _dynamic_forward(self, ids: list[int]) -> torch.Tensor:
        from transformers import DynamicCache

        if self._cache is None:
            self._cache = DynamicCache()
        kwargs = {self._cache_arg: self._cache, "use_cache": True}
        if self._keep_last:
            kwargs["logits_to_keep"] = 1
        out = self.model(input_ids=torch.tensor([ids], device=self._device), **kwargs)
        cache = out.get("cache")
        self._cache = cache if cache is not None else out.get("past_key_values")
        return out.logits[0, -1]

    def _prefill(self, prompt: list[int], cancel: CancelCheck | None) -> tuple[int, bool]:
        n = 0
        for a, b in zip(self._cached, prompt, strict=False):
            if a != b:
                break
            n += 1
        reused = min(n, len(prompt) - 1)
        if self._decoder is not None:
            # Static buffers: reuse is moving the position pointer; what lies past it is rewritten before it is read.
            self._cached = self._cached[:reused]
        elif self._cache is not None and reused > 0 and hasattr(self._cache, "crop"):
            drop = len(self._cached) - reused
            if drop > 0:
                # transformers 5: a negative argument removes that many tokens from the end.
                self._cache.crop(-drop)
            self._cached = self._cached[:reused]
        else:
            reused = 0
            self._cache = None
            self._cached = []
        rest = prompt[reused:]
        for start in range(0, len(rest), self._batch):
            if cancel is not None and cancel():
                # The cache holds a partial prompt; `_cached` says how much of it.
                return reused, True
            self._logits = self._forward(rest[start : start + self._batch])
        return reused, False

    def _sample(self, logits: torch.Tensor, params: GenerationParams, allowed: Sequence[int] | None,
                penalized: Sequence[int]) -> int:
        if penalized:
            ids = torch.tensor(sorted(set(penalized)), device=logits.device)
            seen = logits[ids]
            logits = logits.clone()
            logits[ids] = torch.where(seen > 0, seen / params.repeat_penalty, seen * params.repeat_penalty)
        if allowed is not None:
            only = torch.full_like(logits, float("-inf"))
            index = torch.tensor(list(allowed), device=logits.device)
            only[index] = logits[index]
            logits = only
        if params.temperature <= 0:
            return int(torch.argmax(logits))
        scaled = logits / params.temperature
        if params.top_k > 0:
            k = min(params.top_k, scaled.numel())
            values, indices = torch.topk(scaled, k)
        else:
            values, indices = torch.sort(scaled, descending=True)
        probs = torch.softmax(values, dim=-1)
        keep = int(torch.searchsorted(torch.cumsum(probs, 0), torch.tensor(params.top_p, device=probs.device))) + 1
        probs = probs[:keep] / probs[:keep].sum()
        choice = torch.multinomial(probs.cpu(), 1, generator=self._gen)
        return int(indices[int(choice)])

    def _reseed(self, seed: int) -> None:
        self._gen.manual_seed(seed)

    def _inference(self) -> contextlib.AbstractContextManager[object]:
        return torch.inference_mode()

    def _decode_steps(self, params: GenerationParams) -> DecodeSteps:
        def advance(token: int) -> None:
            self._logits = self._forward([token])

        return DecodeSteps(sample=lambda allowed, penalized: self._sample(self._logits, params, allowed, penalized),
                           advance=advance, position=lambda: len(self._cached), text_of=self.detokenize,
                           healing=self._healing_index)

    def _healing_index(self) -> HealingIndex:
        if self._healing is None:
            # Each token's text after an anchor token (SentencePiece decoders drop a leading space at the start
            # of a text); a token that is only part of a UTF-8 character cannot heal (rare).
            # (Runs inside generate(), under the lock that tokenize() takes: use the tokenizer directly.)
            anchor = list(self.tokenizer("a", add_special_tokens=False).input_ids[:1])
            lead = len(self.detokenize(anchor))
            texts = self.tokenizer.batch_decode([anchor + [t] for t in range(len(self.tokenizer))],
                                                skip_special_tokens=True)
            self._healing = HealingIndex([t[lead:].encode("utf-8") if "\ufffd" not in t else b"" for t in texts])
        return self._healing

    def raw_generate(self, prompt: Sequence[int], max_tokens: int) -> list[int]:
        """transformers' own greedy `model.generate` on the same loaded model, exactly `max_tokens` new tokens:
        the baseline that `starassist bench gpu` compares with. Leaves our KV state alone."""
        import transformers

        with self._lock, self._inference():
            ids = torch.tensor([list(prompt)], device=self._device)
            config = transformers.GenerationConfig(max_new_tokens=max_tokens, min_new_tokens=max_tokens,
                                                   do_sample=False, pad_token_id=self.info.eos_id,
                                                   eos_token_id=self.info.eos_id)
            out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config)
            return out[0, len(prompt) :].tolist()

    # -- doctor ----------------------------------------------------------------------------------------------

    def diagnostics(self) -> list[Diagnostic]:
        p = self.placement
        source = "by bitsandbytes while loading" if p.on_load else "(saved in the checkpoint)"
        how = "none" if p.quantization == "none" else f"{p.quantization} {source}, computing in {p.dtype}"
        out = [Diagnostic("ok", "device", f"{self.info.device}, {p.dtype}"),
               Diagnostic("ok", "quantization", how)]
        out += [Diagnostic("warn", "settings", note) for note in p.notes]
        capacity = self._decoder.capacity if self._decoder is not None else 0
        detail = _PATHS[self.decode_path].format(n=capacity)
        if self._decode_notes:
            detail += " — " + "; ".join(self._decode_notes)
        fell_back = self._decode_wanted not in ("auto", self.decode_path)
        out.append(Diagnostic("warn" if fell_back else "ok", "decode", f"{self.decode_path}: {detail}"))
        kv = self._decoder.kv_bytes if self._decoder is not None else 0
        out.append(Diagnostic("ok", "memory", describe_memory(self.model, self._device, kv)))
        return out

    def close(self) -> None:
        with self._lock:
            self._cache = None
            self._cached = []
            self._step = None
            self._decoder = None
