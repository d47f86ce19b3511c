"""The quantizer's defects found in review against llama.cpp's loader and quantizer and the real StarCoder /
StarCoder2 configs: each test here failed before its fix (issue 12)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from quant_fixtures import run_cli, save_random_checkpoint

from starassist.quant.convert import convert_hf
from starassist.quant.errors import QuantError


def _one_line_error(result, *needles: str) -> str:
    assert result.exit_code != 0
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _meta(path: Path) -> dict:
    from gguf import GGUFReader

    skip = ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type")
    return {k: f.contents() for k, f in GGUFReader(path).fields.items() if k not in skip}


def _tensors(path: Path) -> dict[str, tuple[str, np.ndarray]]:
    from gguf import GGUFReader

    return {t.name: (t.tensor_type.name, np.array(t.data)) for t in GGUFReader(path).tensors}


@pytest.fixture()
def ckpt(random_checkpoint, tmp_path) -> Path:
    dest = tmp_path / "ckpt"
    shutil.copytree(random_checkpoint["starcoder"], dest)
    return dest


# ---- 1. the pre-tokenizer of byte-level tokenizers without the digit split ----------------------------------


def _gpt2_style_checkpoint(dest: Path) -> Path:
    """A GPTBigCode checkpoint whose tokenizer is GPT-2's byte-level BPE, without StarCoder's digit split."""
    from memorizing.build import SPECIALS, corpus, hf_tokenizer, tiny_model
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=list(SPECIALS["starcoder"]),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([t for _, t in corpus()], trainer=trainer)
    tiny_model("starcoder", tok.get_vocab_size(), width=64, layers=2).save_pretrained(dest)
    hf_tokenizer(tok, SPECIALS["starcoder"]).save_pretrained(dest)
    return dest


def test_gpt2_pretokenizer_converts_and_llama_cpp_tokenizes_like_hf(tmp_path):
    import transformers

    from starassist.engine.backends.llama_cpp import LlamaVocab

    src = _gpt2_style_checkpoint(tmp_path / "gpt2-style")
    out = convert_hf(src, tmp_path / "m.gguf", out_type="F32").path
    assert _meta(out)["tokenizer.ggml.pre"] == "gpt-2"  # llama.cpp's name; "gpt2" makes it refuse the file
    hf = transformers.AutoTokenizer.from_pretrained(src)
    vocab = LlamaVocab(out)
    try:
        for text in ("x = 1234567890 + 0.5e-3\n", "def add(a, b):\n    return a + b\n", "  tabs\tand   spaces \n",
                     "s = 'héllo ✓ 中文 🚀'\n", "it's they're we've I'm you'll he'd"):
            assert vocab.tokenize(text) == hf(text, add_special_tokens=False).input_ids, text
    finally:
        vocab.close()
    # The whole pipeline, which now has llama.cpp read the vocabulary before a file is kept.
    result = run_cli(["quantize", str(src), "--type", "Q8_0", "--out", str(tmp_path / "q.gguf")])
    assert result.exit_code == 0, result.output


def test_a_vocabulary_llama_cpp_refuses_is_an_error_with_its_reason(tmp_path):
    from starassist.quant.llama_quantize import check_loads

    good = convert_hf(_gpt2_style_checkpoint(tmp_path / "src"), tmp_path / "good.gguf", out_type="F32").path
    data = good.read_bytes()
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(data.replace(b"gpt-2", b"gpt-9", 1))  # an unknown pre-tokenizer name of the same length
    with pytest.raises(QuantError, match="unknown pre-tokenizer type"):
        check_loads(bad)
    check_loads(good)


# ---- 2. incomplete downloads and stray files ------------------------------------------------------------------


def _reshard(src: Path, dest: Path, *, index: bool = True) -> list[str]:
    """`src`'s weights in two shards named the way transformers names them (blocks 0 and 1 apart)."""
    from safetensors.numpy import load_file, save_file

    shutil.copytree(src, dest)
    tensors = load_file(str(dest / "model.safetensors"))
    (dest / "model.safetensors").unlink()
    names = sorted(tensors)
    first = [n for n in names if not re.search(r"\.(?:h|layers)\.[1-9]", n)]  # embeddings and block 0
    shards = {"model-00001-of-00002.safetensors": first,
              "model-00002-of-00002.safetensors": [n for n in names if n not in first]}
    for file, part in shards.items():
        save_file({n: tensors[n] for n in part}, str(dest / file))
    if index:
        weight_map = {n: f for f, part in shards.items() for n in part}
        (dest / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return list(shards)


def test_which_files_hold_the_weights():
    from starassist.quant.checkpoint import IncompleteWeights, choose_weights

    index = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    names = {"config.json", "model.safetensors.index.json", *index.values(), "model-old.safetensors", "optimizer.bin"}
    chosen = choose_weights(names, lambda name: index)
    assert chosen.format == "safetensors" and chosen.files == sorted(index.values()) and chosen.index == index
    assert choose_weights({"model.safetensors", "old.safetensors"}, dict).files == ["model.safetensors"]
    pickle = choose_weights({"pytorch_model.bin", "optimizer.bin", "training_args.bin"}, dict)
    assert pickle.format == "pickle" and pickle.files == ["pytorch_model.bin"]
    with pytest.raises(IncompleteWeights) as err:
        choose_weights({"model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors"}, dict)
    assert err.value.missing == ["model-00002-of-00003.safetensors"]
    with pytest.raises(IncompleteWeights) as err:
        choose_weights(names - {index["b"]}, lambda name: index)
    assert err.value.missing == [index["b"]]


def test_a_missing_shard_is_refused_before_anything_is_written(random_checkpoint, tmp_path):
    src = tmp_path / "sharded"
    shards = _reshard(random_checkpoint["starcoder"], src)
    whole = convert_hf(src, tmp_path / "whole.gguf", out_type="F16")  # both shards: fine
    assert whole.tensors == len(_tensors(whole.path))
    (src / shards[1]).unlink()
    out = tmp_path / "out.gguf"
    _one_line_error(run_cli(["quantize", str(src), "--type", "F16", "--out", str(out)]),
                    "incomplete", shards[1])
    assert not out.exists()
    # Without the index too: the shard names say a set is incomplete.
    (src / "model.safetensors.index.json").unlink()
    _one_line_error(run_cli(["quantize", str(src), "--type", "F16", "--out", str(out)]), "1 of 2", shards[1])
    # And a lone weights file under another name: the blocks themselves show what is missing.
    (src / shards[0]).rename(src / "weights.safetensors")
    _one_line_error(run_cli(["quantize", str(src), "--type", "F16", "--out", str(out)]), "incomplete", "block 1")
    assert not out.exists()


def test_stray_weight_files_are_not_read(random_checkpoint, tmp_path):
    from safetensors.numpy import load_file, save_file

    src = tmp_path / "sharded"
    _reshard(random_checkpoint["starcoder"], src)
    clean = convert_hf(src, tmp_path / "clean.gguf", out_type="F16").path
    # An old copy of the weights left beside the shards (zeros, same names): the index says what to read.
    old = {n: np.zeros_like(t) for n, t in load_file(str(src / "model-00001-of-00002.safetensors")).items()}
    save_file(old, str(src / "model-old.safetensors"))
    again = convert_hf(src, tmp_path / "again.gguf", out_type="F16").path
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(clean.read_bytes()).digest()
    # Without an index, two files holding the same tensor are an error, not a silent choice.
    (src / "model.safetensors.index.json").unlink()
    (src / "model-00002-of-00002.safetensors").rename(src / "rest.safetensors")
    (src / "model-00001-of-00002.safetensors").rename(src / "first.safetensors")
    with pytest.raises(QuantError, match="in both"):
        convert_hf(src, tmp_path / "x.gguf", out_type="F16")


def test_optimizer_state_beside_pickle_weights_is_ignored(tmp_path):
    import torch

    src = save_random_checkpoint("starcoder", tmp_path / "pkl", tied=False, safe=False)
    torch.save({"state": {}, "param_groups": [{"lr": 1e-3}]}, src / "optimizer.bin")
    torch.save({"global_step": 10}, src / "training_args.bin")
    result = run_cli(["quantize", str(src), "--type", "F32", "--out", str(tmp_path / "p.gguf"), "--allow-pickle"])
    assert result.exit_code == 0, result.output


# ---- 3. re-quantization -------------------------------------------------------------------------------------


def test_requantizing_needs_the_flag_and_the_report_says_so(ckpt, tmp_path):
    q8 = tmp_path / "m.Q8_0.gguf"
    assert run_cli(["quantize", str(ckpt), "--type", "Q8_0", "--out", str(q8)]).exit_code == 0
    out = tmp_path / "m.Q4_0.gguf"
    _one_line_error(run_cli(["quantize", str(q8), "--type", "Q4_0", "--out", str(out)]),
                    "already quantized (Q8_0)", "--allow-requantize")
    assert not out.exists()
    result = run_cli(["quantize", str(q8), "--type", "Q4_0", "--out", str(out), "--allow-requantize", "--json",
                      "--report", "--report-holes", "4", "--threads", "1"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert any("already Q8_0" in w for w in summary["warnings"])
    report = summary["report"]
    assert report["reference"]["requantized_from"] == "Q8_0" and "Q8_0" in report["reference"]["note"]
    assert report["rows"][0]["model"] == "source (Q8_0)"


# ---- 4. llama.cpp's log levels ------------------------------------------------------------------------------


def test_llama_cpp_error_not_its_warning_is_the_reason(ckpt, tmp_path):
    from starassist.quant.llama_quantize import quantize_gguf
    from starassist.quant.types import get_type

    q8 = tmp_path / "m.Q8_0.gguf"
    assert run_cli(["quantize", str(ckpt), "--type", "Q8_0", "--out", str(q8)]).exit_code == 0
    # llama.cpp first warns (a K-quant falls back for 64-wide rows), then fails with an error.
    with pytest.raises(QuantError) as err:
        quantize_gguf(q8, tmp_path / "q.gguf", get_type("Q4_K_M"), threads=1, allow_requantize=False)
    assert "requantizing from type q8_0 is disabled" in str(err.value)
    assert "falling back" not in str(err.value)


def test_a_damaged_gguf_fails_with_llama_cpps_reason(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    line = _one_line_error(run_cli(["quantize", str(bad), "--type", "Q8_0", "--out", str(tmp_path / "q.gguf")]),
                           "could not quantize")
    assert line.endswith("bad GGUF version: 0")  # llama.cpp's own words: the cause, not the unwinding


def test_llama_cpp_errors_reach_python_logging_as_errors(tmp_path, caplog):
    from starassist.engine.backends.llama_cpp import LlamaVocab
    from starassist.engine.errors import BadModelFileError

    good = convert_hf(_gpt2_style_checkpoint(tmp_path / "src"), tmp_path / "good.gguf", out_type="F32").path
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(good.read_bytes().replace(b"gpt-2", b"gpt-9", 1))
    with caplog.at_level("WARNING", logger="starassist.llama"), pytest.raises(BadModelFileError):
        LlamaVocab(bad)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("unknown pre-tokenizer type" in m for m in errors), caplog.records


# ---- 5. the F16 intermediate --------------------------------------------------------------------------------


class Recorder:
    """A `ProgressUI` stand-in that looks at the disk while the F16 intermediate is being written."""

    def __init__(self, watch: dict[str, Path]) -> None:
        self.watch = watch
        self.seen: dict[str, list[str]] = {}

    def converting(self, out_type: str):
        def update(done: int, total: int, item: str) -> None:
            if not self.seen:
                self.seen = {k: sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())
                             for k, d in self.watch.items()}
        return update

    def quantizing(self, qtype: str):
        return None

    def verifying(self):
        return None

    def note(self, text: str) -> None:
        pass


def test_the_f16_intermediate_stays_beside_the_output(ckpt, tmp_path, monkeypatch):
    import tempfile

    from starassist.quant.pipeline import run

    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    out = tmp_path / "new" / "folder" / "m.Q8_0.gguf"  # its folder does not exist yet
    recorder = Recorder({"system": system_tmp, "out": tmp_path / "new"})
    run(str(ckpt), "Q8_0", out, progress=recorder)
    assert recorder.seen["system"] == []
    assert any(".starassist-quantize-" in p and "F16.gguf" in p for p in recorder.seen["out"]), recorder.seen
    assert out.is_file() and sorted(p.name for p in out.parent.iterdir()) == [out.name]


# ---- 6. fallbacks and the types actually written ------------------------------------------------------------


def test_fallbacks_are_counted_per_tensor_and_the_types_reported(ckpt, tmp_path):
    from starassist.quant.llama_quantize import quantize_gguf
    from starassist.quant.pipeline import run
    from starassist.quant.types import get_type

    f16 = convert_hf(ckpt, tmp_path / "m.F16.gguf", out_type="F16").path
    q = quantize_gguf(f16, tmp_path / "q.gguf", get_type("Q4_K_M"), threads=1)
    assert q.stated_fallbacks > 0 and len(q.fallbacks) == q.stated_fallbacks  # 64-wide rows: no K-quant fits
    written = {name: kind for name, (kind, _) in _tensors(q.path).items()}
    assert len({f.tensor for f in q.fallbacks}) == len(q.fallbacks)
    assert all(written[f.tensor] == f.used.upper() and f.wanted.endswith("_K") for f in q.fallbacks)

    out = tmp_path / "m.Q4_K_M.gguf"
    summary = run(str(ckpt), "Q4_K_M", out, report=True, report_holes=4, threads=1)
    counts = {t: list(written.values()).count(t) for t in set(written.values())}
    assert summary.tensor_types == counts  # what the file holds, not what was asked for
    assert summary.report["rows"][1]["tensor_types"] == counts
    assert len(summary.fallbacks) == q.stated_fallbacks


# ---- 7. sizes from the tensors, not from weak defaults ------------------------------------------------------


def test_missing_config_sizes_come_from_the_tensors(ckpt, random_checkpoint, tmp_path):
    config = json.loads((ckpt / "config.json").read_text())
    n_positions, vocab_size = config.pop("n_positions"), config.pop("vocab_size")
    config.pop("n_inner", None)
    (ckpt / "config.json").write_text(json.dumps(config))
    out = convert_hf(ckpt, tmp_path / "sc.gguf", out_type="F32").path
    meta = _meta(out)
    assert meta["starcoder.context_length"] == n_positions  # the wpe table's rows, not 8192
    assert len(meta["tokenizer.ggml.fim_pre_token_id"] and _tensors(out)["token_embd.weight"][1]) == vocab_size
    result = run_cli(["complete", str(_doc(tmp_path)), "--line", "2", "--col", "5", "--model", str(out),
                      "--max-tokens", "4", "--json"])
    assert result.exit_code == 0, result.output  # llama.cpp loads it

    sc2 = tmp_path / "sc2"
    shutil.copytree(random_checkpoint["starcoder2"], sc2)
    config = json.loads((sc2 / "config.json").read_text())
    kv_heads = config.pop("num_key_value_heads")
    config.pop("vocab_size")
    (sc2 / "config.json").write_text(json.dumps(config))
    out2 = convert_hf(sc2, tmp_path / "sc2.gguf", out_type="F32").path
    assert _meta(out2)["starcoder2.attention.head_count_kv"] == kv_heads  # from k_proj, not n_head
    assert run_cli(["complete", str(_doc(tmp_path)), "--line", "2", "--col", "5", "--model", str(out2),
                    "--max-tokens", "4"]).exit_code == 0


def test_a_config_that_does_not_fit_the_weights_is_one_line(ckpt, tmp_path):
    config = json.loads((ckpt / "config.json").read_text())
    config["vocab_size"] += 7
    (ckpt / "config.json").write_text(json.dumps(config))
    _one_line_error(run_cli(["quantize", str(ckpt), "--type", "F16", "--out", str(tmp_path / "x.gguf")]),
                    f"vocab_size {config['vocab_size']}", "rows")


def _doc(tmp_path: Path) -> Path:
    doc = tmp_path / "doc.py"
    doc.write_text("def f(x):\n    \n")
    return doc


# ---- 8. F16 range, sliding window, SantaCoder's remote-code variant -----------------------------------------


def test_weights_beyond_f16_range_stay_f32_instead_of_becoming_infinite(ckpt, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(str(ckpt / "model.safetensors"))
    big = "transformer.h.1.mlp.c_fc.weight"
    state[big] = state[big].clone()
    state[big][0, :4] = torch.tensor([1e5, -2e5, 7e4, 3.0])
    save_file({k: v.to(torch.bfloat16) for k, v in state.items()}, str(ckpt / "model.safetensors"))
    result = convert_hf(ckpt, tmp_path / "m.gguf", out_type="F16")
    tensors = _tensors(result.path)
    kind, data = tensors["blk.1.ffn_up.weight"]
    assert kind == "F32" and np.isfinite(data).all() and float(np.abs(data).max()) >= 1.9e5
    assert tensors["blk.0.ffn_up.weight"][0] == "F16"  # the others are still F16
    assert any("beyond F16's range" in w for w in result.warnings)


def test_a_context_beyond_the_sliding_window_is_warned_about(random_checkpoint, tmp_path):
    sc2 = tmp_path / "sc2"
    shutil.copytree(random_checkpoint["starcoder2"], sc2)
    config = json.loads((sc2 / "config.json").read_text())
    config["sliding_window"] = 128
    (sc2 / "config.json").write_text(json.dumps(config))
    result = run_cli(["quantize", str(sc2), "--type", "F16", "--out", str(tmp_path / "m.gguf"), "--json"])
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout.strip().splitlines()[-1])["warnings"]
    assert len(warnings) == 1 and "128-token sliding window" in warnings[0]


def test_santacoder_remote_code_variant_names_the_convertible_one(ckpt, tmp_path):
    config = json.loads((ckpt / "config.json").read_text())
    config.update(architectures=["GPT2LMHeadCustomModel"], model_type="gpt2",
                  auto_map={"AutoModelForCausalLM": "modeling_gpt2_mq.GPT2LMHeadCustomModel"})
    (ckpt / "config.json").write_text(json.dumps(config))
    _one_line_error(run_cli(["quantize", str(ckpt), "--out", str(tmp_path / "x.gguf")]),
                    "GPT2LMHeadCustomModel", "bigcode/gpt_bigcode-santacoder")
