"""The quantizer: StarCoder / StarCoder2 checkpoints to laptop-sized GGUF files (or bitsandbytes checkpoints),
with a report of what the quantization traded. `starassist quantize --help`.

Modules: `fetch` (a Hub checkpoint's files, through `starassist.engine.hub`), `checkpoint` (which files hold
the weights; safetensors read tensor by tensor), `tokenizer_gguf` + `convert` (HF -> GGUF F32/F16/BF16),
`llama_quantize` (llama.cpp's quantizer and its log), `types` (the offered types), `report` with `samples`
(the code measured on), `evaluate` (running a model over it) and `intervals` (95% intervals), `bnb`,
`pipeline` (the command as functions). The command line is `starassist.cli.quant`. It uses only the engine's
public names.
"""
