"""Session fixtures for the quantizer's tests (listed in conftest's `pytest_plugins`).

- `tiny_fixture`: the memorizing StarCoder / StarCoder2 fixture (HF checkpoints), trained once and cached in
  ~/.cache/starassist-tests/ (a few minutes cold, instant warm).
- `fixture_gguf`: that fixture converted and quantized by `starassist quantize` (F32, F16, Q8_0, Q4_K_M).
- `random_checkpoint`: tiny random GPTBigCode / StarCoder2 checkpoints built with transformers (seconds).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ARCHS = ("starcoder", "starcoder2")


@pytest.fixture(scope="session")
def tiny_fixture() -> Path:
    from memorizing.build import fixture_dir

    return fixture_dir(log=lambda s: print(s, flush=True))


def run_cli(args: list[str]):
    from typer.testing import CliRunner

    import starassist.cli  # noqa: F401 - registers every command
    from starassist.cli.app import app

    return CliRunner().invoke(app, args)


@pytest.fixture(scope="session")
def fixture_gguf(tiny_fixture: Path, tmp_path_factory) -> dict[tuple[str, str], Path]:
    """(arch, type) -> GGUF made by `starassist quantize` from the fixture checkpoint."""
    out_dir = tmp_path_factory.mktemp("fixture-gguf")
    paths: dict[tuple[str, str], Path] = {}
    for arch in ARCHS:
        for qtype in ("F32", "F16", "Q8_0", "Q4_K_M"):
            out = out_dir / f"{arch}.{qtype}.gguf"
            result = run_cli(["quantize", str(tiny_fixture / arch), "--type", qtype, "--out", str(out)])
            assert result.exit_code == 0, result.output
            paths[(arch, qtype)] = out
    return paths


def save_random_checkpoint(arch: str, dest: Path, *, seed: int = 1, tied: bool = True, width: int = 64,
                           layers: int = 2, safe: bool = True, multi_query: bool = True) -> Path:
    """A random tiny model with the fixture's tokenizer; weights scaled up so the logits have a real range."""
    import torch
    from memorizing.build import SPECIALS, build_tokenizer, corpus, hf_tokenizer, tiny_model

    tok = build_tokenizer(SPECIALS[arch], [t for _, t in corpus()])
    if multi_query:
        model = tiny_model(arch, tok.get_vocab_size(), seed=seed, width=width, layers=layers, tied=tied)
    else:
        import transformers
        from memorizing.build import tiny_config

        config = tiny_config(arch, tok.get_vocab_size(), width=width, layers=layers, tied=tied)
        config.multi_query = False
        torch.manual_seed(seed)
        model = transformers.GPTBigCodeForCausalLM(config).float().eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.mul_(4.0)
    model.save_pretrained(dest)
    if not safe:  # an old-style pickle checkpoint (transformers 5 only writes safetensors itself)
        torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, dest / "pytorch_model.bin")
        (dest / "model.safetensors").unlink()
    hf_tokenizer(tok, SPECIALS[arch]).save_pretrained(dest)
    return dest


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("random-ckpt")
    # StarCoder untied (an lm_head -> output tensor), StarCoder2 tied (output falls back to token_embd).
    return {
        "starcoder": save_random_checkpoint("starcoder", root / "starcoder", tied=False),
        "starcoder2": save_random_checkpoint("starcoder2", root / "starcoder2", tied=True),
        # Multi-head GPTBigCode: its fused QKV is laid out per head and must be reordered for llama.cpp.
        "starcoder-mha": save_random_checkpoint("starcoder", root / "starcoder-mha", multi_query=False),
    }
