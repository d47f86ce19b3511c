"""transformers backend: Hugging Face checkpoint directories (including bitsandbytes-quantized ones), on CPU here
and on a GPU where one exists.

Same contract as the llama.cpp backend: our own prefill (in batches, cancellable between them) and decode loop
(cancellable between tokens), streaming through `on_text`, and KV-cache prefix reuse: the cache of the previous
call is cropped to the longest common prefix with the new prompt, so only the rest is evaluated.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path

import torch

from ..backend import (
    CancelCheck,
    DecodeSteps,
    GenerationParams,
    HealingIndex,
    ModelInfo,
    TokenLoopBackend,
)
from ..errors import BadModelFileError
from ..logs import quiet_bitsandbytes
from ..settings import ModelSettings

# Tokens that end a generation whatever the prompt (llama.cpp's end-of-generation set, by text).
_EOG_TEXTS = ("<|endoftext|>", "<file_sep>", "<fim_pad>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>")


def _device(settings: ModelSettings) -> str:
    if settings.gpu_layers != 0 and torch.cuda.is_available():
        return "cuda"
    return "cpu"


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
        self._device = _device(settings)
        quantized = bool(config.get("quantization_config"))
        if quantized:
            quiet_bitsandbytes()
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
            kwargs: dict = {"device_map": self._device} if quantized else {"dtype": torch.float32}
            self.model = transformers.AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
        except (OSError, ValueError, ImportError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            raise BadModelFileError(f"transformers could not load {path} ({first})") from None
        if not quantized:
            self.model.to(self._device)
        self.model.eval()
        self._fast = getattr(self.tokenizer, "backend_tokenizer", None)
        self._lock = threading.Lock()
        self._cache = None
        self._cached: list[int] = []
        self._batch = max(1, settings.batch_size)
        self._gen = torch.Generator().manual_seed(settings.seed)
        self._logits: torch.Tensor | None = None  # logits after the last evaluated token

        tok = self.tokenizer
        specials: dict[str, int] = {}
        for tid, added in sorted(getattr(tok, "added_tokens_decoder", {}).items()):
            specials.setdefault(str(added.content if hasattr(added, "content") else added), int(tid))
        for text in getattr(tok, "all_special_tokens", []) or []:
            tid = tok.convert_tokens_to_ids(text)
            if isinstance(tid, int) and tid >= 0:
                specials.setdefault(text, tid)
        eog = {specials[t] for t in _EOG_TEXTS if t in specials}
        if tok.eos_token_id is not None:
            eog.add(int(tok.eos_token_id))
        mc = self.model.config
        train_ctx = int(getattr(mc, "n_positions", 0) or getattr(mc, "max_position_embeddings", 0) or 2048)
        size = sum(f.stat().st_size for f in path.iterdir() if f.suffix in (".safetensors", ".bin"))
        qc = config.get("quantization_config") or {}
        quant = qc.get("bnb_4bit_quant_type") if qc.get("load_in_4bit") else ("int8" if qc.get("load_in_8bit") else "")
        self.info = ModelInfo(
            name=name or path.name,
            path=str(path),
            arch=str(getattr(mc, "model_type", "unknown")),
            context_length=min(train_ctx, settings.context_length),
            train_context_length=train_ctx,
            vocab_size=int(mc.vocab_size),
            bos_id=tok.bos_token_id,
            eos_id=tok.eos_token_id,
            add_bos=bool(getattr(tok, "add_bos_token", False)),
            chat_template=getattr(tok, "chat_template", None),
            special_tokens=specials,
            eog_ids=frozenset(eog),
            quantization=str(quant or qc.get("quant_method") or str(getattr(mc, "dtype", "") or "float32")),
            size_bytes=size,
            backend="transformers",
            threads=torch.get_num_threads(),
        )
        self._healing: HealingIndex | None = None

    # -- tokens ----------------------------------------------------------------------------------------------

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        if not text:
            return []
        if self._fast is not None:
            with self._lock:
                self._fast.encode_special_tokens = not special
                try:
                    return list(self._fast.encode(text, add_special_tokens=False).ids)
                finally:
                    self._fast.encode_special_tokens = False
        return list(self.tokenizer(text, add_special_tokens=False, split_special_tokens=not special).input_ids)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self.tokenizer.decode(list(tokens), skip_special_tokens=True)

    # -- generation ------------------------------------------------------------------------------------------

    def _forward(self, ids: list[int]) -> torch.Tensor:
        """Evaluate `ids` after the cached sequence; returns the logits of the last position."""
        from transformers import DynamicCache

        if self._cache is None:
            self._cache = DynamicCache()
        inp = torch.tensor([ids], device=self._device)
        out = self.model(input_ids=inp, past_key_values=self._cache, use_cache=True)
        self._cache = out.past_key_values
        self._cached.extend(ids)
        return out.logits[0, -1].float()

    def _prefill(self, prompt: list[int], cancel: CancelCheck | None) -> tuple[int, bool]:
        n = 0
        for a, b in zip(self._cached, prompt, strict=False):
            if a != b:
                break
            n += 1
        reused = min(n, len(prompt) - 1)
        if self._cache is not None and reused > 0 and hasattr(self._cache, "crop"):
            drop = len(self._cached) - reused
            if drop > 0:
                # transformers 5: a negative argument removes that many tokens from the end.
                self._cache.crop(-drop)
            self._cached = self._cached[:reused]
        else:
            reused = 0
            self._cache = None
            self._cached = []
        logits = None
        rest = prompt[reused:]
        for start in range(0, len(rest), self._batch):
            if cancel is not None and cancel():
                # The cache holds a partial prompt; keep it consistent with `_cached`.
                return reused, True
            logits = self._forward(rest[start : start + self._batch])
        self._logits = logits
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
        keep = int(torch.searchsorted(torch.cumsum(probs, 0), torch.tensor(params.top_p)).item()) + 1
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

    def close(self) -> None:
        with self._lock:
            self._cache = None
            self._cached = []
