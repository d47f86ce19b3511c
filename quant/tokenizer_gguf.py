"""The GGUF tokenizer metadata of a StarCoder-family checkpoint: byte-level BPE vocabulary, merges, token types,
pre-tokenizer name, BOS/EOS/UNK/PAD and the FIM / repository special-token ids.

Read from `tokenizer.json` (or `vocab.json` + `merges.txt`) plus `tokenizer_config.json`, with plain json: no
`transformers` needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import QuantError

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# llama.cpp looks FIM tokens up by these keys; <file_sep> and <fim_pad> also end generation there.
FIM_KEYS = {
    "fim_pre": ("<fim_prefix>", "<fim-prefix>"),
    "fim_suf": ("<fim_suffix>", "<fim-suffix>"),
    "fim_mid": ("<fim_middle>", "<fim-middle>"),
    "fim_pad": ("<fim_pad>", "<fim-pad>"),
    "fim_rep": ("<repo_name>", "<reponame>"),
    "fim_sep": ("<file_sep>",),
}


@dataclass
class GgufVocab:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str
    special_ids: dict[str, int] = field(default_factory=dict)  # bos/eos/unk/pad/fim_* -> id
    add_bos: bool = False


def _token_text(value) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise QuantError(f"{path} is unreadable ({exc.__class__.__name__}) — re-download the tokenizer files") from None


# llama.cpp's names for the two byte-level pre-tokenizers of the StarCoder family (llama-vocab.cpp): the
# names are matched exactly, and an unknown one makes llama.cpp refuse the whole file.
PRE_STARCODER = "starcoder"  # GPT-2's split with every digit on its own
PRE_GPT2 = "gpt-2"


def _pre_name(pre: dict | None, where: Path) -> str:
    """llama.cpp's pre-tokenizer name for the HF pre-tokenizer: StarCoder's splits digits one by one."""
    parts = (pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]) if pre else []
    kinds = [p.get("type") for p in parts]
    if "ByteLevel" not in kinds:
        raise QuantError(f"{where}: unsupported tokenizer pre-tokenizer {kinds or 'none'} — expected a byte-level "
                         "BPE (StarCoder family)")
    if any(p.get("type") == "Digits" and p.get("individual_digits") for p in parts):
        return PRE_STARCODER
    return PRE_GPT2


def read_vocab(path: Path, vocab_size: int) -> GgufVocab:
    """The vocabulary of the checkpoint at `path`, padded to `vocab_size`: the embedding's rows."""
    tok_file = path / "tokenizer.json"
    config = _read_json(path / "tokenizer_config.json") if (path / "tokenizer_config.json").is_file() else {}
    added: list[dict] = []
    if tok_file.is_file():
        data = _read_json(tok_file)
        model = data.get("model") or {}
        if model.get("type") != "BPE":
            raise QuantError(f"{tok_file}: tokenizer model {model.get('type')} is not BPE — only StarCoder-family "
                             "byte-level BPE tokenizers are supported")
        vocab: dict[str, int] = model.get("vocab") or {}
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
        added = list(data.get("added_tokens") or [])
        pre = _pre_name(data.get("pre_tokenizer"), tok_file)
    elif (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
        vocab = _read_json(path / "vocab.json")
        lines = (path / "merges.txt").read_text(encoding="utf-8").splitlines()
        merges = [m for m in lines if m and not m.startswith("#version")]
        for id_, entry in (config.get("added_tokens_decoder") or {}).items():
            added.append({"id": int(id_), "content": entry.get("content"), "special": entry.get("special", True)})
        pre = PRE_STARCODER  # the StarCoder checkpoints that ship vocab.json + merges.txt
    else:
        raise QuantError(f"{path} has no tokenizer files (tokenizer.json, or vocab.json + merges.txt) — copy them "
                         "from the original model repository")
    by_id: dict[int, str] = {i: t for t, i in vocab.items()}
    types: dict[int, int] = {}
    for entry in added:
        by_id[int(entry["id"])] = entry["content"]
        types[int(entry["id"])] = CONTROL if entry.get("special", True) else USER_DEFINED
    n = max(vocab_size, max(by_id) + 1 if by_id else 0)
    if n > vocab_size:
        raise QuantError(f"{path}: the tokenizer has {n} tokens but the model only {vocab_size} embedding rows "
                         "— the tokenizer does not belong to this checkpoint")
    tokens, token_types = [], []
    for i in range(n):
        if i in by_id:
            tokens.append(by_id[i])
            token_types.append(types.get(i, NORMAL))
        else:  # embedding rows without a token (vocabularies padded to a multiple of 64 or so)
            tokens.append(f"[PAD{i}]")
            token_types.append(UNUSED)
    ids = {t: i for i, t in enumerate(tokens)}
    special: dict[str, int] = {}
    for key in ("bos", "eos", "unk", "pad"):
        text = _token_text(config.get(f"{key}_token"))
        if text is not None and text in ids:
            special[key] = ids[text]
    if "eos" not in special and "<|endoftext|>" in ids:
        special["eos"] = ids["<|endoftext|>"]
    special.setdefault("bos", special.get("eos", 0))
    for key, names in FIM_KEYS.items():
        for name in names:
            if name in ids:
                special[key] = ids[name]
                break
    add_bos = bool(config.get("add_bos_token", False))
    return GgufVocab(tokens, token_types, merges, pre, special, add_bos)


def write_vocab(writer, vocab: GgufVocab) -> None:
    """Add the tokenizer keys to a `gguf.GGUFWriter`."""
    from gguf import Keys

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    ids = vocab.special_ids
    simple = {"bos": writer.add_bos_token_id, "eos": writer.add_eos_token_id, "unk": writer.add_unk_token_id,
              "pad": writer.add_pad_token_id}
    for key, add in simple.items():
        if key in ids:
            add(ids[key])
    fim = {"fim_pre": Keys.Tokenizer.FIM_PRE_ID, "fim_suf": Keys.Tokenizer.FIM_SUF_ID,
           "fim_mid": Keys.Tokenizer.FIM_MID_ID, "fim_pad": Keys.Tokenizer.FIM_PAD_ID,
           "fim_rep": Keys.Tokenizer.FIM_REP_ID, "fim_sep": Keys.Tokenizer.FIM_SEP_ID}
    for key, gguf_key in fim.items():
        if key in ids:
            writer.add_uint32(gguf_key, ids[key])
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(False)
