"""Token-level golden tests of every FIM format against real GGUF vocabularies (tokenized by llama.cpp).

Each vocabulary is byte-level with no merges, so the expected ids are computed here independently: special
token -> its index, text -> one id per UTF-8 byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from vocab_gguf import TestVocab, write_vocab_gguf

from starassist.engine.backends.llama_cpp import LlamaVocab
from starassist.engine.fim import FORMATS, FimRequest, build_prompt, detect_format

STARCODER = ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<filename>",
             "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>",
             "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<empty_output>", "<commit_before>",
             "<commit_msg>", "<commit_after>", "<reponame>"]
STARCODER2 = ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<repo_name>",
              "<file_sep>", "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>"]
VOCABS = {
    "starcoder": (STARCODER, "starcoder"),
    "starcoder2": (STARCODER2, "starcoder"),
    "santacoder": (["<|endoftext|>", "<fim-prefix>", "<fim-middle>", "<fim-suffix>", "<fim-pad>"], "default"),
    "codellama": (["<s>", "</s>", "▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"], "default"),
    "deepseek": (["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜fim▁hole｜>", "<｜fim▁begin｜>",
                  "<｜fim▁end｜>", "<|EOT|>"], "default"),
    "qwen": (["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
              "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"], "default"),
    "codegemma": (["<pad>", "<eos>", "<bos>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                   "<|file_separator|>"], "default"),
    "none": (["<|endoftext|>", "<|im_start|>", "<|im_end|>"], "default"),
}

PREFIX = "def area(r):\n    # <fim_middle> stays text ü\n    return "
SUFFIX = " * r\n\nprint(area(2))  # 😀 中文\n"


@pytest.fixture(scope="module")
def vocabs(tmp_path_factory) -> dict[str, tuple[TestVocab, LlamaVocab]]:
    root = tmp_path_factory.mktemp("vocabs")
    out = {}
    for name, (specials, pre) in VOCABS.items():
        path = root / f"{name}.gguf"
        expected = write_vocab_gguf(Path(path), specials, pre=pre)
        out[name] = (expected, LlamaVocab(path))
    return out


def _build(name: str, vocab: LlamaVocab, mode: str, request: FimRequest) -> list[int]:
    return build_prompt(FORMATS[name], request, mode=mode, tokenize=vocab.tokenize, special_ids=vocab.special_tokens)


def test_detection_picks_each_format(vocabs):
    for name, (_, vocab) in vocabs.items():
        assert detect_format(lambda t, v=vocab: t in v.special_tokens).name == name


def test_user_text_special_tokens_are_plain_text(vocabs):
    expected, vocab = vocabs["starcoder"]
    ids = vocab.tokenize("x = '<fim_middle>'")
    assert ids == expected.text("x = '<fim_middle>'")
    assert expected.special("<fim_middle>") not in ids


@pytest.mark.parametrize(
    ("name", "mode", "layout"),
    [
        ("starcoder", "psm", [("S", "<fim_prefix>"), ("T", PREFIX), ("S", "<fim_suffix>"), ("T", SUFFIX), ("S", "<fim_middle>")]),
        ("starcoder", "spm", [("S", "<fim_prefix>"), ("S", "<fim_suffix>"), ("T", SUFFIX), ("S", "<fim_middle>"), ("T", PREFIX)]),
        ("starcoder2", "psm", [("S", "<fim_prefix>"), ("T", PREFIX), ("S", "<fim_suffix>"), ("T", SUFFIX), ("S", "<fim_middle>")]),
        ("starcoder2", "spm", [("S", "<fim_prefix>"), ("S", "<fim_suffix>"), ("T", SUFFIX), ("S", "<fim_middle>"), ("T", PREFIX)]),
        ("santacoder", "psm", [("S", "<fim-prefix>"), ("T", PREFIX), ("S", "<fim-suffix>"), ("T", SUFFIX), ("S", "<fim-middle>")]),
        ("santacoder", "spm", [("S", "<fim-prefix>"), ("S", "<fim-suffix>"), ("T", SUFFIX), ("S", "<fim-middle>"), ("T", PREFIX)]),
        ("codellama", "psm", [("S", "▁<PRE>"), ("T", PREFIX), ("S", "▁<SUF>"), ("T", SUFFIX), ("S", "▁<MID>")]),
        ("deepseek", "psm", [("S", "<｜fim▁begin｜>"), ("T", PREFIX), ("S", "<｜fim▁hole｜>"), ("T", SUFFIX), ("S", "<｜fim▁end｜>")]),
        ("qwen", "psm", [("S", "<|fim_prefix|>"), ("T", PREFIX), ("S", "<|fim_suffix|>"), ("T", SUFFIX), ("S", "<|fim_middle|>")]),
        ("codegemma", "psm", [("S", "<|fim_prefix|>"), ("T", PREFIX), ("S", "<|fim_suffix|>"), ("T", SUFFIX), ("S", "<|fim_middle|>")]),
        ("none", "psm", [("T", PREFIX)]),
    ],
)
def test_plain_layouts(vocabs, name, mode, layout):
    expected, vocab = vocabs[name]
    want: list[int] = []
    for kind, value in layout:
        want += [expected.special(value)] if kind == "S" else expected.text(value)
    assert _build(name, vocab, mode, FimRequest(prefix=PREFIX, suffix=SUFFIX)) == want


def test_psm_only_formats_ignore_spm_request(vocabs):
    expected, vocab = vocabs["deepseek"]
    request = FimRequest(prefix=PREFIX, suffix=SUFFIX)
    assert _build("deepseek", vocab, "spm", request) == _build("deepseek", vocab, "psm", request)


def test_starcoder2_repo_level(vocabs):
    e, vocab = vocabs["starcoder2"]
    request = FimRequest(prefix=PREFIX, suffix=SUFFIX, path="pkg/geo.py", repo="shapes",
                         files=(("pkg/util.py", "PI = 3.14\n"), ("README.md", "# shapes\n")))
    want = ([e.special("<repo_name>")] + e.text("shapes")
            + [e.special("<file_sep>")] + e.text("pkg/util.py") + e.text("\nPI = 3.14\n")
            + [e.special("<file_sep>")] + e.text("README.md") + e.text("\n# shapes\n")
            + [e.special("<file_sep>"), e.special("<fim_prefix>")] + e.text("pkg/geo.py") + e.text("\n" + PREFIX)
            + [e.special("<fim_suffix>")] + e.text(SUFFIX) + [e.special("<fim_middle>")])
    assert _build("starcoder2", vocab, "psm", request) == want


def test_starcoder_filename_spm_keeps_prefix_last(vocabs):
    e, vocab = vocabs["starcoder"]
    request = FimRequest(prefix=PREFIX, suffix=SUFFIX, path="geo.py", repo="shapes",
                         files=(("util.py", "PI = 3\n"),))
    want = ([e.special("<filename>")] + e.text("util.py") + e.text("\nPI = 3\n") + [e.special("<|endoftext|>")]
            + [e.special("<fim_prefix>"), e.special("<fim_suffix>")] + e.text(SUFFIX) + [e.special("<fim_middle>")]
            + [e.special("<filename>")] + e.text("geo.py") + e.text("\n" + PREFIX))
    assert _build("starcoder", vocab, "spm", request) == want


def test_qwen_repo_level(vocabs):
    e, vocab = vocabs["qwen"]
    request = FimRequest(prefix=PREFIX, suffix=SUFFIX, path="a.py", repo="r", files=(("b.py", "x = 1"),))
    want = ([e.special("<|repo_name|>")] + e.text("r") + e.text("\n")
            + [e.special("<|file_sep|>")] + e.text("b.py") + e.text("\nx = 1\n")
            + [e.special("<|file_sep|>")] + e.text("a.py") + e.text("\n")
            + [e.special("<|fim_prefix|>")] + e.text(PREFIX) + [e.special("<|fim_suffix|>")] + e.text(SUFFIX)
            + [e.special("<|fim_middle|>")])
    assert _build("qwen", vocab, "psm", request) == want


def test_missing_special_token_is_a_clear_error(vocabs):
    from starassist.engine.errors import SettingsError

    _, vocab = vocabs["none"]
    with pytest.raises(SettingsError, match="fim_format"):
        _build("starcoder", vocab, "psm", FimRequest(prefix="a", suffix="b"))
