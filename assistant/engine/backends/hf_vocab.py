"""A Hugging Face tokenizer as the engine needs it: plain text never becomes a control token, and the control
tokens, end-of-generation ids and added text tokens are told apart.

Tokenizers keep *added tokens*; some are flagged special, some are not. Those not flagged special are matched
in any text, which is right for the ones that are text (DeepSeek-Coder adds thirteen letters such as `ö`, Qwen
adds `<tool_call>`) and wrong for control tokens that were simply never flagged (Qwen2.5-Coder's and CodeGemma's
FIM tokens, DeepSeek's `<｜fim▁hole｜>`): a document that contains that text would hand the model a control
token. Like llama.cpp's converter, we take an added token that is flagged special or is written like a control
token (`<|...|>`, `<｜...｜>`, DeepSeek's `<pad>`) as a control token, and tokenize plain text with all of them switched off.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Tokens that end a generation whatever the prompt (llama.cpp's end-of-generation set, by text).
EOG_TEXTS = ("<|endoftext|>", "<file_sep>", "<fim_pad>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>")
_CONTROL_SHAPE = re.compile(r"^(<\|.+\|>|<｜.+｜>)$")
_UNFLAGGED_CONTROL = ("<pad>",)  # DeepSeek-Coder's padding token is not flagged special


def looks_like_control(content: str) -> bool:
    return bool(_CONTROL_SHAPE.match(content)) or content in _UNFLAGGED_CONTROL


class HfVocab:
    """Tokenization and the special-token tables of a transformers tokenizer (a directory or a loaded one)."""

    def __init__(self, source: str | Path | Any) -> None:
        if isinstance(source, str | Path):
            import transformers

            source = transformers.AutoTokenizer.from_pretrained(str(source))
        tok = self.tokenizer = source
        added: dict[int, Any] = dict(sorted(getattr(tok, "added_tokens_decoder", {}).items()))
        specials: dict[str, int] = {}
        control: set[int] = set()
        for tid, token in added.items():
            content = str(getattr(token, "content", token))
            specials.setdefault(content, int(tid))
            if getattr(token, "special", False) or looks_like_control(content):
                control.add(int(tid))
        for text in getattr(tok, "all_special_tokens", []) or []:
            tid = tok.convert_tokens_to_ids(text)
            if isinstance(tid, int) and tid >= 0:
                specials.setdefault(text, tid)
                control.add(tid)
        self.special_tokens = specials
        self.control_ids = frozenset(control)
        eog = {specials[t] for t in EOG_TEXTS if t in specials}
        if tok.eos_token_id is not None:
            eog.add(int(tok.eos_token_id))
        self.eog_ids = frozenset(eog)
        self.bos_id: int | None = tok.bos_token_id
        self.eos_id: int | None = tok.eos_token_id
        self.add_bos = bool(getattr(tok, "add_bos_token", False)) or self._adds_bos()
        # Two copies of the fast tokenizer with fixed settings (no shared flag flipped per call, so no lock):
        # `_plain` has every control token flagged special and does not match special tokens at all.
        self._fast = getattr(tok, "backend_tokenizer", None)
        self._plain = None
        if self._fast is not None:
            from tokenizers import AddedToken, Tokenizer

            plain = Tokenizer.from_str(self._fast.to_str())
            unflagged = [t for tid, t in added.items() if tid in control and not getattr(t, "special", False)]
            if unflagged:
                plain.add_special_tokens([AddedToken(str(t.content), special=True, normalized=False,
                                                     lstrip=t.lstrip, rstrip=t.rstrip, single_word=t.single_word)
                                          for t in unflagged])
            plain.encode_special_tokens = True
            self._plain = plain

    def _adds_bos(self) -> bool:
        """Whether the tokenizer's own post-processing puts BOS first (Llama-family tokenizer.json files say so
        there, not in a config flag)."""
        if self.bos_id is None:
            return False
        try:
            ids = self.tokenizer("a", add_special_tokens=True).input_ids
        except Exception:  # noqa: BLE001 - a tokenizer that cannot do this does not add BOS for us either
            return False
        return bool(ids) and ids[0] == self.bos_id

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Token ids without BOS. With special=False, the text of a control token is plain text."""
        if not text:
            return []
        if self._fast is not None and self._plain is not None:
            encoder = self._fast if special else self._plain
            return list(encoder.encode(text, add_special_tokens=False).ids)
        return list(self.tokenizer(text, add_special_tokens=False, split_special_tokens=not special).input_ids)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self.tokenizer.decode(list(tokens), skip_special_tokens=True)
