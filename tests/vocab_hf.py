"""Build small Hugging Face tokenizer directories from real models' special-token tables (see `token_tables`),
offline with the `tokenizers` library: the added tokens keep their content and `special` flag, the model
underneath is the simple one `token_tables` computes expectations with."""

from __future__ import annotations

from pathlib import Path

from token_tables import Table


def build_tokenizer(table: Table):
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = {tok: i for i, tok in enumerate(table.tokens)}
    if table.kind == "bpe":
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
    else:
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[], byte_fallback=True, fuse_unk=True,
                                   unk_token="<unk>" if "<unk>" in vocab else None))
        steps = [normalizers.Replace(" ", "▁")]
        undo = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
        if table.data.get("add_space_prefix"):  # the dummy space, as Llama's fast tokenizer adds it
            steps.insert(0, normalizers.Prepend("▁"))
            undo.append(decoders.Strip(" ", 1, 0))
        tok.normalizer = normalizers.Sequence(steps)
        tok.decoder = decoders.Sequence(undo)
    tok.add_tokens([AddedToken(t["content"], special=bool(t["special"]), normalized=False) for t in table.added])
    bos = table.data.get("bos")
    if table.data.get("add_bos") and bos:  # as Llama-family tokenizer.json files put BOS first
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, vocab[bos])])
    return tok


def write_table_tokenizer(directory: Path, table: Table) -> Path:
    """A tokenizer directory AutoTokenizer loads (tokenizer.json and its config)."""
    from transformers import PreTrainedTokenizerFast

    data = table.data
    fast = PreTrainedTokenizerFast(tokenizer_object=build_tokenizer(table), bos_token=data.get("bos"),
                                   eos_token=data["eos"], model_max_length=2048)
    directory.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(directory))
    return directory
