"""Build the random-weight StarCoder2-architecture FIM model that `starassist bench latency` measures, offline.

Usage: python scripts/make_bench_model.py [--size starcoder2-fim-87m|starcoder2-fim-tiny] [--dir DIR]

Builds the checkpoint with transformers (fixed seed; a byte-level BPE tokenizer with StarCoder2's FIM tokens,
learned from this package's Python source), converts it to Q8_0 with `starassist quantize`'s pipeline and prints
the GGUF's path (cached: a second run prints it at once). Then:
    starassist bench latency --model PATH
"""

from __future__ import annotations

import argparse
from pathlib import Path

from starassist.cli.bench_model import random_fim_gguf
from starassist.engine.settings import data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="starcoder2-fim-87m", choices=["starcoder2-fim-87m", "starcoder2-fim-tiny"])
    parser.add_argument("--dir", type=Path, default=None, help="where to build (default: starassist's data dir/bench)")
    args = parser.parse_args()
    root = args.dir or data_dir() / "bench"
    print(random_fim_gguf(args.size, root, log=lambda line: print(line, flush=True)))


if __name__ == "__main__":
    main()
