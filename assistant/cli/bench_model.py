"""Random-weight checkpoints of real model shapes, so `starassist bench gpu` runs offline.

Decode speed depends on the shapes (layers, widths, heads, vocabulary), not on the weights' values, so a model
built from a real configuration with random weights measures what the real one would. The tokenizer is a
byte-level BPE learned from Python source with the family's FIM tokens, filled up to the model's vocabulary size.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# The configurations' values, from the published config.json files (shapes only; dropout is off for inference).
CONFIGS: dict[str, dict[str, Any]] = {
    "starcoder2-3b": {
        "model_type": "starcoder2", "vocab_size": 49152, "hidden_size": 3072, "intermediate_size": 12288,
        "num_hidden_layers": 30, "num_attention_heads": 24, "num_key_value_heads": 2,
        "max_position_embeddings": 16384, "rope_theta": 999999.4420358813, "sliding_window": 4096,
        "norm_epsilon": 1e-5, "use_bias": True, "hidden_act": "gelu_pytorch_tanh", "initializer_range": 0.018042,
        "tie_word_embeddings": True,
    },
    "starcoder2-7b": {
        "model_type": "starcoder2", "vocab_size": 49152, "hidden_size": 4608, "intermediate_size": 18432,
        "num_hidden_layers": 32, "num_attention_heads": 36, "num_key_value_heads": 4,
        "max_position_embeddings": 16384, "rope_theta": 1000000.0, "sliding_window": 4096,
        "norm_epsilon": 1e-5, "use_bias": True, "hidden_act": "gelu_pytorch_tanh", "initializer_range": 0.018042,
        "tie_word_embeddings": False,
    },
    "starcoder2-15b": {
        "model_type": "starcoder2", "vocab_size": 49152, "hidden_size": 6144, "intermediate_size": 24576,
        "num_hidden_layers": 40, "num_attention_heads": 48, "num_key_value_heads": 4,
        "max_position_embeddings": 16384, "rope_theta": 100000.0, "sliding_window": 4096,
        "norm_epsilon": 1e-5, "use_bias": True, "hidden_act": "gelu_pytorch_tanh", "initializer_range": 0.01275,
        "tie_word_embeddings": False,
    },
    "starcoderbase-1b": {
        "model_type": "gpt_bigcode", "vocab_size": 49152, "n_embd": 2048, "n_inner": 8192, "n_layer": 24,
        "n_head": 16, "n_positions": 8192, "multi_query": True, "activation_function": "gelu_pytorch_tanh",
        "layer_norm_epsilon": 1e-5, "initializer_range": 0.02, "tie_word_embeddings": True,
    },
    # `starassist bench latency`'s FIM model (scripts/make_bench_model.py): StarCoder2's architecture at 87M
    # parameters, about the size llama.vim's users run on a laptop CPU; 4K context like StarCoder2's first stage.
    "starcoder2-fim-87m": {
        "model_type": "starcoder2", "vocab_size": 49152, "hidden_size": 768, "intermediate_size": 3072,
        "num_hidden_layers": 8, "num_attention_heads": 12, "num_key_value_heads": 2,
        "max_position_embeddings": 4096, "rope_theta": 100000.0, "sliding_window": None, "norm_epsilon": 1e-5,
        "use_bias": True, "hidden_act": "gelu_pytorch_tanh", "initializer_range": 0.02, "tie_word_embeddings": True,
    },
    # The same for tests: built and quantized in seconds.
    "starcoder2-fim-tiny": {
        "model_type": "starcoder2", "vocab_size": 2048, "hidden_size": 128, "intermediate_size": 512,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 2048, "rope_theta": 10000.0, "sliding_window": None, "norm_epsilon": 1e-5,
        "use_bias": True, "hidden_act": "gelu_pytorch_tanh", "initializer_range": 0.02, "tie_word_embeddings": True,
    },
    # For dry runs on a CPU: the same code paths in seconds.
    "tiny": {
        "model_type": "starcoder2", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 256,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 4096, "rope_theta": 10000.0, "sliding_window": None, "norm_epsilon": 1e-5,
        "use_bias": True, "hidden_act": "gelu_pytorch_tanh", "tie_word_embeddings": True,
    },
    "tiny-starcoder": {
        "model_type": "gpt_bigcode", "vocab_size": 512, "n_embd": 64, "n_inner": 256, "n_layer": 2, "n_head": 4,
        "n_positions": 4096, "multi_query": True, "activation_function": "gelu_pytorch_tanh",
        "tie_word_embeddings": True,
    },
}

LEARNED = 16384  # tokenizer entries learned from code; the rest of the vocabulary is filler

# Special tokens (ids 0..) by architecture: end of text first, then what FIM detection and repo layouts use.
SPECIALS = {
    "starcoder2": ("<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<repo_name>",
                   "<file_sep>"),
    "gpt_bigcode": ("<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<filename>",
                    "<gh_stars>", "<reponame>"),
}


def code_tokenizer(specials: Sequence[str], vocab_size: int, texts: Sequence[str]) -> Any:
    """A GPT-2-style byte-level BPE learned from `texts` (at most `LEARNED` entries, so code takes about as many
    tokens as with a real code vocabulary), `specials` at ids 0.., then words " w0", " w1"… up to `vocab_size`:
    never produced by encoding, a random model generates them as text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainer=trainers.BpeTrainer(
        vocab_size=min(vocab_size, LEARNED), special_tokens=list(specials), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    filler = 0
    while len(vocab) < vocab_size:
        vocab.setdefault(f"\u0120w{filler}", len(vocab))  # U+0120: the byte-level alphabet's space
        filler += 1
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(data)), bos_token=specials[0],
                                   eos_token=specials[0], unk_token=specials[0],
                                   additional_special_tokens=list(specials[1:]))


def _training_texts() -> list[str]:
    """Python source at hand offline: this package's own modules."""
    root = Path(__file__).resolve().parents[1]
    return [p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.py"))]


def random_checkpoint(name: str, root: Path, device: str, log: Callable[[str], None] = lambda _: None) -> Path:
    """The random-weight checkpoint of configuration `name` under `root` (built on first use, on `device`,
    saved in bfloat16)."""
    import torch
    import transformers

    from starassist.engine.errors import StarassistError
    from starassist.engine.files import atomic_output

    if name not in CONFIGS:
        raise StarassistError(f"unknown configuration {name!r} — choose one of {', '.join(CONFIGS)}")
    dest = root / f"random-{name}"
    if (dest / "config.json").is_file():
        return dest
    values = dict(CONFIGS[name])
    arch = values.pop("model_type")
    config = transformers.AutoConfig.for_model(arch, **values, bos_token_id=0, eos_token_id=0)
    log(f"building a random-weight {name} checkpoint in {dest} …")
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(0)
    with torch.device(device):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    with torch.no_grad():
        # Zero logits for the special tokens: a random model would otherwise often end a suggestion at once.
        model.get_output_embeddings().weight[: len(SPECIALS[arch])] = 0
    tokenizer = code_tokenizer(SPECIALS[arch], int(config.vocab_size), _training_texts())
    with atomic_output(dest, directory=True) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    del model
    return dest


def random_fim_gguf(name: str, root: Path, log: Callable[[str], None] = lambda _: None) -> Path:
    """The random-weight checkpoint `name` converted to Q8_0 by our own quantizer (`starassist quantize`), under
    `root`; built on first use, offline."""
    from starassist.quant.pipeline import run

    out = root / f"random-{name}.Q8_0.gguf"
    if not out.is_file():
        checkpoint = random_checkpoint(name, root, "cpu", log)
        log(f"quantizing {checkpoint} to {out} …")
        run(str(checkpoint), "Q8_0", out, force=True)  # written to a temporary file and renamed
    return out
