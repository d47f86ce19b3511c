"""Golden token tests of the Code Llama, Qwen2.5-Coder, DeepSeek-Coder and CodeGemma formats, for both backends:
llama.cpp (vocabulary-only GGUF files) and transformers (tokenizer directories), both built from the real
tokenizers' special-token tables in tests/golden/tokens/ (see tests/token_tables.py).

Covered: the FIM prompt's token ids (Code Llama's suffix without SentencePiece's dummy space), special-token text
typed in a document staying text, and which tokens end a completion (not the added tokens that are text)."""

from __future__ import annotations

from pathlib import Path

import pytest
from token_tables import Table, load_tables
from vocab_gguf import write_table_gguf
from vocab_hf import write_table_tokenizer

from starassist.engine.backend import ModelInfo
from starassist.engine.completion import stop_token_ids
from starassist.engine.fim import FORMATS, FimRequest, build_prompt

TABLES = load_tables()
BACKENDS = ("llama.cpp", "transformers")


@pytest.fixture(scope="module")
def vocabs(tmp_path_factory) -> dict[tuple[str, str], object]:
    from starassist.engine.backends.hf_vocab import HfVocab
    from starassist.engine.backends.llama_cpp import LlamaVocab

    root = tmp_path_factory.mktemp("token-tables")
    out: dict[tuple[str, str], object] = {}
    for name, table in TABLES.items():
        gguf_path = root / f"{name}.gguf"
        write_table_gguf(gguf_path, table)
        out[(name, "llama.cpp")] = LlamaVocab(gguf_path)
        out[(name, "transformers")] = HfVocab(write_table_tokenizer(root / name, table))
    return out


def _cases() -> list[tuple[str, str, int]]:
    return [(name, backend, i) for name, t in TABLES.items() for backend in BACKENDS for i in range(len(t.data["cases"]))]


@pytest.mark.parametrize(("name", "backend", "case"), _cases())
def test_fim_prompt_tokens(vocabs, name: str, backend: str, case: int) -> None:
    table, vocab = TABLES[name], vocabs[(name, backend)]
    spec = table.data["cases"][case]
    assert vocab.add_bos == bool(table.data.get("add_bos"))
    bos = [vocab.bos_id] if vocab.add_bos else []
    got = build_prompt(FORMATS[table.data["format"]], FimRequest(prefix=spec["prefix"], suffix=spec["suffix"]),
                       mode="psm", tokenize=vocab.tokenize, special_ids=vocab.special_tokens, bos=bos)
    want = table.expected_ids(spec["expect"])
    assert [table.tokens[i] for i in got] == [table.tokens[i] for i in want], spec["name"]


@pytest.mark.parametrize(("name", "backend"), [(n, b) for n in TABLES for b in BACKENDS])
def test_control_token_text_in_a_document_is_text(vocabs, name: str, backend: str) -> None:
    table, vocab = TABLES[name], vocabs[(name, backend)]
    dummy = " " if table.data.get("add_space_prefix") else ""  # SentencePiece's, before any text
    for token in table.added:
        text = f"x = '{token['content']}'\n"
        if table.is_control(token):
            want = table.expected_ids([{"text": dummy + text}])
        else:  # an added token that is text is that token, in both backends
            want = table.expected_ids([{"text": dummy + "x = '"}, token["content"], {"text": "'\n"}])
        assert vocab.tokenize(text) == want, token
        assert vocab.tokenize(token["content"], special=True) == [table.id_of(token["content"])]


@pytest.mark.parametrize(("name", "backend"), [(n, b) for n in TABLES for b in BACKENDS])
def test_completion_stops_on_control_and_format_tokens_only(vocabs, name: str, backend: str) -> None:
    table, vocab = TABLES[name], vocabs[(name, backend)]
    info = ModelInfo(name=name, path="", arch="test", context_length=2048, train_context_length=2048,
                     vocab_size=len(table.tokens), bos_id=vocab.bos_id, eos_id=None, add_bos=vocab.add_bos,
                     special_tokens=vocab.special_tokens, eog_ids=vocab.eog_ids, control_ids=vocab.control_ids)
    stops = {table.tokens[i] for i in stop_token_ids(FORMATS[table.data["format"]], info)}
    assert set(table.data["stops"]) <= stops
    assert not stops & set(table.data["text_tokens"])
    assert stops <= {t["content"] for t in table.added}  # never a piece of text


def test_tables_are_the_real_models(tmp_path: Path) -> None:
    """The tables keep the real ids; the formats' tokens are all in them."""
    for table in TABLES.values():
        contents = {t["content"] for t in table.added}
        fmt = FORMATS[table.data["format"]]
        assert set(fmt.detect) <= contents, table.name
        assert len({t["id"] for t in table.added}) == len(table.added)
        assert isinstance(table, Table)
