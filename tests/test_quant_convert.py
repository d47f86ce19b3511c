"""HF -> GGUF conversion: llama.cpp computes the same logits as transformers, tokenizes like the HF tokenizer,
and finds the metadata it needs (MQA head count, FIM ids, pre-tokenizer). Peak memory stays near one tensor."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from starassist.quant.convert import convert_hf

ARCHS = ("starcoder", "starcoder2")
VARIANTS = ("starcoder", "starcoder2", "starcoder-mha")

CODE_SAMPLES = [
    "def add(a, b):\n    return a + b\n",
    "x = 1234567890 + 0.5e-3\nvalues = [10, 200, 3000]\n",
    "if x:\n\n\n        y  =   2\t\t# tabs\tand  spaces   \n    \n",
    "s = 'héllo wörld ✓ 中文 日本語 🚀'\n# naïve café — “quotes”\n",
    "class Stack:\n    def push(self, x):\n        self.items.append(x)\n",
    "   leading spaces and trailing   ",
    "\n\n\n",
    "a<b>c <fim_prefix> not special here",
]


@pytest.fixture(scope="module")
def f32_gguf(random_checkpoint, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("f32")
    return {arch: convert_hf(random_checkpoint[arch], out / f"{arch}.gguf", out_type="F32").path for arch in VARIANTS}


@pytest.mark.parametrize("arch", VARIANTS)
def test_llama_cpp_logits_match_transformers(arch, random_checkpoint, f32_gguf):
    import llama_cpp
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(random_checkpoint[arch], dtype=torch.float32).eval()
    tok = transformers.AutoTokenizer.from_pretrained(random_checkpoint[arch])
    ids = tok("".join(CODE_SAMPLES[:5]), add_special_tokens=False).input_ids[:120]
    llm = llama_cpp.Llama(str(f32_gguf[arch]), n_ctx=256, logits_all=True, verbose=False, n_threads=1,
                          n_threads_batch=1)
    try:
        llm.eval(ids)
        got = np.array(llm.scores[: len(ids)], dtype=np.float32)
    finally:
        llm.close()
    with torch.no_grad():
        want = model(torch.tensor([ids])).logits[0].numpy()
    span = float(want.max() - want.min())
    assert span > 1.0, "random logits too flat to compare"
    diff = float(np.abs(got - want).max())
    assert diff <= 1e-3 * span, f"max |llama.cpp - transformers| = {diff:.2e}, logit range {span:.2f}"
    assert (got.argmax(-1) == want.argmax(-1)).all()


@pytest.mark.parametrize("arch", ARCHS)
def test_gguf_tokenizer_gives_hf_ids(arch, random_checkpoint, f32_gguf):
    import transformers

    from starassist.engine.backends.llama_cpp import LlamaVocab

    hf = transformers.AutoTokenizer.from_pretrained(random_checkpoint[arch])
    vocab = LlamaVocab(f32_gguf[arch])
    try:
        for text in CODE_SAMPLES:
            want = hf(text, add_special_tokens=False, split_special_tokens=True).input_ids
            assert vocab.tokenize(text) == want, text
            assert vocab.detokenize(want) == text
        # With special-token parsing on, both see the FIM tokens as single ids.
        text = "<fim_prefix>def f():<fim_suffix>\n<fim_middle>"
        assert vocab.tokenize(text, special=True) == hf(text, add_special_tokens=False).input_ids
    finally:
        vocab.close()


def test_gguf_metadata(random_checkpoint, f32_gguf):
    from gguf import GGUFReader

    from starassist.engine.backends.llama_cpp import LlamaVocab

    def meta(path: Path) -> dict:
        reader = GGUFReader(path)
        return {k: f.contents() for k, f in reader.fields.items() if not k.startswith("tokenizer.ggml.tokens")
                and k not in ("tokenizer.ggml.merges", "tokenizer.ggml.token_type")}

    sc = meta(f32_gguf["starcoder"])
    assert sc["general.architecture"] == "starcoder"
    assert sc["starcoder.attention.head_count_kv"] == 1  # multi-query attention
    assert sc["starcoder.attention.head_count"] == 4
    assert sc["tokenizer.ggml.model"] == "gpt2" and sc["tokenizer.ggml.pre"] == "starcoder"
    assert (sc["tokenizer.ggml.fim_pre_token_id"], sc["tokenizer.ggml.fim_mid_token_id"],
            sc["tokenizer.ggml.fim_suf_token_id"], sc["tokenizer.ggml.fim_pad_token_id"]) == (1, 2, 3, 4)
    assert sc["tokenizer.ggml.fim_rep_token_id"] == 18  # <reponame>
    assert sc["tokenizer.ggml.eos_token_id"] == 0
    names = {t.name for t in GGUFReader(f32_gguf["starcoder"]).tensors}
    assert {"token_embd.weight", "position_embd.weight", "blk.0.attn_qkv.weight", "blk.0.attn_qkv.bias",
            "output.weight"} <= names

    sc2 = meta(f32_gguf["starcoder2"])
    assert sc2["general.architecture"] == "starcoder2"
    assert sc2["starcoder2.attention.head_count_kv"] == 2
    assert (sc2["tokenizer.ggml.fim_rep_token_id"], sc2["tokenizer.ggml.fim_sep_token_id"]) == (5, 6)
    names2 = {t.name for t in GGUFReader(f32_gguf["starcoder2"]).tensors}
    assert "output.weight" not in names2 and "blk.1.attn_k.bias" in names2  # tied head, biases kept

    vocab = LlamaVocab(f32_gguf["starcoder2"])
    try:
        assert vocab.special_tokens["<file_sep>"] == 6 and vocab.special_tokens["<repo_name>"] == 5
        assert {0, 6} <= set(vocab.eog_ids)  # <|endoftext|> and <file_sep> end generation
    finally:
        vocab.close()


@pytest.mark.parametrize("out_type", ["F16", "BF16"])
def test_half_precision_outputs_load_and_agree(out_type, random_checkpoint, f32_gguf, tmp_path):
    import llama_cpp

    out = convert_hf(random_checkpoint["starcoder"], tmp_path / "m.gguf", out_type=out_type).path
    assert out.stat().st_size < 0.6 * f32_gguf["starcoder"].stat().st_size
    ids = list(range(20, 80))
    tops = []
    for path in (f32_gguf["starcoder"], out):
        llm = llama_cpp.Llama(str(path), n_ctx=128, logits_all=True, verbose=False, n_threads=1, n_threads_batch=1)
        llm.eval(ids)
        tops.append(np.array(llm.scores[: len(ids)]).argmax(-1))
        llm.close()
    assert (tops[0] == tops[1]).mean() >= 0.95


_RSS_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    import numpy, gguf
    from starassist.quant.convert import convert_hf

    def peak_kib():
        # VmHWM starts afresh at exec; ru_maxrss would carry the forking parent's (pytest's) high-water mark.
        try:
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    base = peak_kib()
    if sys.argv[1] == "convert":
        convert_hf(Path(sys.argv[2]), Path(sys.argv[3]), out_type="F16")
    elif sys.argv[1] == "load-all":  # control: what holding the whole model costs, so the probe is shown to work
        from starassist.quant.checkpoint import Checkpoint
        ckpt = Checkpoint(Path(sys.argv[2]))
        kept = [ckpt.tensor(n) for n in ckpt.names()]
    peak = peak_kib()
    print(json.dumps({"base_kib": base, "peak_kib": peak}))
    """
)


def _big_checkpoint(dest: Path) -> int:
    """A 48-layer GPTBigCode of ~130 MB whose largest tensor is 1 MB, written straight with safetensors."""
    from memorizing.build import SPECIALS, build_tokenizer, corpus, hf_tokenizer
    from safetensors.numpy import save_file

    dest.mkdir()
    tok = build_tokenizer(SPECIALS["starcoder"], [t for _, t in corpus()])
    n_vocab, d, layers = tok.get_vocab_size(), 256, 48
    hf_tokenizer(tok, SPECIALS["starcoder"]).save_pretrained(dest)
    config = {"architectures": ["GPTBigCodeForCausalLM"], "model_type": "gpt_bigcode", "vocab_size": n_vocab,
              "n_positions": 512, "n_embd": d, "n_layer": layers, "n_head": 4, "n_inner": 4 * d,
              "multi_query": True, "layer_norm_epsilon": 1e-5}
    (dest / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(0)
    qkv = d + 2 * (d // 4)
    shapes = {"transformer.wte.weight": (n_vocab, d), "transformer.wpe.weight": (512, d),
              "transformer.ln_f.weight": (d,), "transformer.ln_f.bias": (d,)}
    for i in range(layers):
        p = f"transformer.h.{i}."
        shapes.update({p + "ln_1.weight": (d,), p + "ln_1.bias": (d,), p + "ln_2.weight": (d,), p + "ln_2.bias": (d,),
                       p + "attn.c_attn.weight": (qkv, d), p + "attn.c_attn.bias": (qkv,),
                       p + "attn.c_proj.weight": (d, d), p + "attn.c_proj.bias": (d,),
                       p + "mlp.c_fc.weight": (4 * d, d), p + "mlp.c_fc.bias": (4 * d,),
                       p + "mlp.c_proj.weight": (d, 4 * d), p + "mlp.c_proj.bias": (d,)})
    # Two shards, like real checkpoints.
    names = list(shapes)
    half = len(names) // 2
    total = 0
    for k, part in enumerate((names[:half], names[half:])):
        tensors = {n: rng.standard_normal(shapes[n], dtype=np.float32) * 0.02 for n in part}
        total += sum(t.nbytes for t in tensors.values())
        save_file(tensors, str(dest / f"model-0000{k + 1}-of-00002.safetensors"))
    return total


@pytest.mark.slow
def test_conversion_peak_memory_stays_near_one_tensor(tmp_path):
    size = _big_checkpoint(tmp_path / "big")
    root = Path(__file__).resolve().parent.parent

    def run(*args: str) -> dict:
        proc = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, *args], capture_output=True, text=True,
                              cwd=root, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    idle = run("idle")
    conv = run("convert", str(tmp_path / "big"), str(tmp_path / "big.gguf"))
    whole = run("load-all", str(tmp_path / "big"))
    grew = (conv["peak_kib"] - idle["peak_kib"]) * 1024
    grew_whole = (whole["peak_kib"] - idle["peak_kib"]) * 1024
    print(f"model {size / 2**20:.0f} MB; peak RSS above idle: conversion {grew / 2**20:.1f} MB, "
          f"holding all tensors {grew_whole / 2**20:.1f} MB")
    assert grew_whole > 0.8 * size  # the probe sees a model held in memory
    assert (tmp_path / "big.gguf").stat().st_size > size // 2
    assert grew < size / 4, f"conversion grew RSS by {grew / 2**20:.0f} MB for a {size / 2**20:.0f} MB model"


def test_vocab_padded_to_the_embedding_rows(random_checkpoint):
    from starassist.quant.errors import QuantError
    from starassist.quant.tokenizer_gguf import CONTROL, NORMAL, UNUSED, read_vocab

    src = random_checkpoint["starcoder"]
    n = json.loads((src / "config.json").read_text())["vocab_size"]
    vocab = read_vocab(src, n + 3)
    assert vocab.tokens[-3:] == [f"[PAD{n}]", f"[PAD{n + 1}]", f"[PAD{n + 2}]"]
    assert vocab.types[-1] == UNUSED and vocab.types[1] == CONTROL and vocab.types[100] == NORMAL
    assert vocab.pre == "starcoder" and vocab.special_ids["eos"] == 0
    with pytest.raises(QuantError, match="does not belong to this checkpoint"):
        read_vocab(src, n - 1)


def test_cli_import_stays_cheap():
    code = ("import sys, starassist.cli, starassist.cli.quant; "
            "print(','.join(m for m in ('torch', 'transformers', 'llama_cpp', 'gguf', 'numpy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
