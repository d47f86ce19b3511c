"""Small test vocabularies built from real tokenizers' special-token tables (tests/golden/tokens/*.json).

A table lists a model's added tokens (content, real id, `special` flag). The test vocabulary puts those tokens
first (ids 0..k-1, in table order) and then a tokenizer model simple enough that the expected tokens of any text
are computed here, independently of llama.cpp and of Hugging Face tokenizers:

- "bpe": byte-level BPE without merges (Qwen, DeepSeek): one token per UTF-8 byte, in GPT-2's byte spelling;
- "spm": SentencePiece-style (Code Llama, CodeGemma): "▁" for a space, one token per printable ASCII character,
  byte-fallback tokens <0xXX> for everything else, and a leading "▁" (the dummy space) where the model adds one.

`tests/vocab_gguf.py` writes such a vocabulary as a GGUF file (llama.cpp), `tests/vocab_hf.py` as a Hugging Face
tokenizer directory (transformers).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLES = Path(__file__).parent / "golden" / "tokens"
SPM_CHARS = [chr(c) for c in range(0x21, 0x7F)]
# What llama.cpp's converter types CONTROL although the tokenizer does not flag it special.
_LOOKS_SPECIAL = re.compile(r"^(<\|.*\|>|<｜.*｜>|<pad>)$")


def byte_symbols() -> list[str]:
    """GPT-2's reversible byte -> printable unicode character table, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    mapping: dict[int, int] = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = 256 + extra
            extra += 1
    return [chr(mapping[b]) for b in range(256)]


def byte_piece(b: int) -> str:
    return f"<0x{b:02X}>"


@dataclass(frozen=True)
class Table:
    name: str
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.data["tokenizer"]

    @property
    def added(self) -> list[dict[str, Any]]:
        return self.data["added_tokens"]

    def is_control(self, token: dict[str, Any]) -> bool:
        return bool(token["special"]) or bool(_LOOKS_SPECIAL.match(token["content"]))

    @property
    def pieces(self) -> list[str]:
        """The tokenizer model's own tokens, after the added ones."""
        if self.kind == "bpe":
            # A byte whose symbol is an added token is that token (DeepSeek adds the symbols of the thirteen
            # bytes UTF-8 never uses, which its BPE vocabulary lacks).
            added = {t["content"] for t in self.added}
            return [s for s in byte_symbols() if s not in added]
        return ["▁"] + SPM_CHARS + [byte_piece(b) for b in range(256)]

    @property
    def tokens(self) -> list[str]:
        return [t["content"] for t in self.added] + self.pieces

    def id_of(self, content: str) -> int:
        return self.tokens.index(content)

    def text_pieces(self, text: str) -> list[str]:
        """The tokens of plain text (no added token matched, no dummy space added)."""
        if self.kind == "bpe":
            symbols = byte_symbols()
            return [symbols[b] for b in text.encode("utf-8")]
        out: list[str] = []
        for ch in text:
            if ch in (" ", "▁"):
                out.append("▁")
            elif ch in SPM_CHARS:
                out.append(ch)
            else:
                out += [byte_piece(b) for b in ch.encode("utf-8")]
        return out

    def expected_ids(self, expect: list[Any]) -> list[int]:
        """A case's expectation: token contents (strings) and plain-text runs ({"text": ...})."""
        ids: list[int] = []
        base = len(self.added)
        for item in expect:
            if isinstance(item, str):
                ids.append(self.id_of(item))
            else:
                ids += [base + self.pieces.index(p) for p in self.text_pieces(item["text"])]
        return ids


def load_tables() -> dict[str, Table]:
    return {p.stem: Table(p.stem, json.loads(p.read_text(encoding="utf-8"))) for p in sorted(TABLES.glob("*.json"))}
