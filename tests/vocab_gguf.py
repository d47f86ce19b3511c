"""Build small vocabulary-only GGUF files for tokenizer tests (no weights).

The vocabulary is byte-level BPE without merges: special tokens first (ids 0..k-1, type CONTROL), then the 256
byte tokens in GPT-2's byte-to-unicode spelling. Tokenizing plain text therefore gives one token per UTF-8 byte,
so expected token ids can be computed independently of llama.cpp.
"""

from __future__ import annotations

from pathlib import Path

import gguf


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


class TestVocab:
    __test__ = False  # not a pytest test class

    def __init__(self, specials: list[str]) -> None:
        self.specials = specials
        symbols = byte_symbols()
        # llama.cpp requires at least one merge; this one (two NUL bytes) never occurs in test text.
        self.merge = f"{symbols[0]} {symbols[0]}"
        self.tokens = specials + symbols + [symbols[0] * 2]

    def special(self, text: str) -> int:
        return self.specials.index(text)

    def text(self, text: str) -> list[int]:
        base = len(self.specials)
        return [base + b for b in text.encode("utf-8")]


def write_vocab_gguf(path: Path, specials: list[str], *, arch: str = "starcoder", pre: str = "default",
                     eos: str | None = None, add_bos: bool = False) -> TestVocab:
    vocab = TestVocab(specials)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(2048)
    writer.add_embedding_length(64)
    writer.add_block_count(1)
    writer.add_feed_forward_length(128)
    writer.add_head_count(4)
    writer.add_head_count_kv(1)
    writer.add_layer_norm_eps(1e-5)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types([gguf.TokenType.CONTROL] * len(specials) + [gguf.TokenType.NORMAL] * 257)
    writer.add_token_merges([vocab.merge])
    eos_id = vocab.special(eos) if eos else 0
    writer.add_bos_token_id(eos_id)
    writer.add_eos_token_id(eos_id)
    writer.add_add_bos_token(add_bos)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return vocab
