"""Build small vocabulary-only GGUF files for tokenizer tests (no weights).

The vocabulary is byte-level BPE without merges: special tokens first (ids 0..k-1, type CONTROL), then the 256
byte tokens in GPT-2's byte-to-unicode spelling. Tokenizing plain text therefore gives one token per UTF-8 byte,
so expected token ids can be computed independently of llama.cpp. `write_table_gguf` writes the vocabularies of
`token_tables` (real models' special-token tables; byte-level BPE or SentencePiece).
"""

from __future__ import annotations

from pathlib import Path

import gguf
from token_tables import SPM_CHARS, Table, byte_symbols


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


def _add_tiny_shape(writer: gguf.GGUFWriter) -> None:
    """The smallest model shape llama.cpp loads a vocabulary-only file with."""
    writer.add_context_length(2048)
    writer.add_embedding_length(64)
    writer.add_block_count(1)
    writer.add_feed_forward_length(128)
    writer.add_head_count(4)
    writer.add_head_count_kv(1)


def write_table_gguf(path: Path, table: Table) -> None:
    """A vocabulary-only GGUF of a real model's special-token table (see `token_tables`), typed as llama.cpp's
    converter types a real model's tokens: CONTROL for special or special-looking added tokens, USER_DEFINED
    for the other added tokens."""
    data = table.data
    writer = gguf.GGUFWriter(str(path), "llama")
    _add_tiny_shape(writer)
    writer.add_layer_norm_rms_eps(1e-5)
    added_types = [gguf.TokenType.CONTROL if table.is_control(t) else gguf.TokenType.USER_DEFINED for t in table.added]
    if table.kind == "bpe":
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("default")
        symbols = byte_symbols()
        writer.add_token_list(table.tokens + [symbols[0] * 2])  # llama.cpp wants one merge: NUL NUL never occurs
        writer.add_token_types(added_types + [gguf.TokenType.NORMAL] * (len(table.pieces) + 1))
        writer.add_token_merges([f"{symbols[0]} {symbols[0]}"])
    else:
        writer.add_tokenizer_model("llama")
        writer.add_token_list(table.tokens)
        writer.add_token_scores([0.0] * len(table.tokens))
        writer.add_token_types(added_types + [gguf.TokenType.NORMAL] * (1 + len(SPM_CHARS))
                               + [gguf.TokenType.BYTE] * 256)
        writer.add_add_space_prefix(bool(data.get("add_space_prefix")))
        if "<unk>" in table.tokens:
            writer.add_unk_token_id(table.id_of("<unk>"))
    if data.get("bos"):
        writer.add_bos_token_id(table.id_of(data["bos"]))
    writer.add_eos_token_id(table.id_of(data["eos"]))
    writer.add_add_bos_token(bool(data.get("add_bos")))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_vocab_gguf(path: Path, specials: list[str], *, arch: str = "starcoder", pre: str = "default",
                     eos: str | None = None, add_bos: bool = False) -> TestVocab:
    vocab = TestVocab(specials)
    writer = gguf.GGUFWriter(str(path), arch)
    _add_tiny_shape(writer)
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
