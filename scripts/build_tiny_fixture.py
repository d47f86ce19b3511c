"""Build (or find) the tiny memorizing StarCoder/StarCoder2 fixture and print its directory.

Usage: python scripts/build_tiny_fixture.py [--force] [--gguf TYPE ...]

With --gguf, also convert both models with the quantizer's pipeline (e.g. `--gguf Q8_0 F16`) and print the paths.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the fixture is test machinery

from memorizing.build import ARCHS, cache_root, fixture_dir, source_hash  # noqa: E402
from memorizing.gguf import fixture_gguf  # noqa: E402


def main() -> None:
    args = sys.argv[1:]
    if "--force" in args:
        shutil.rmtree(cache_root() / f"fixture-{source_hash()}", ignore_errors=True)
    print(fixture_dir(log=lambda s: print(s, flush=True)))
    if "--gguf" in args:
        for qtype in args[args.index("--gguf") + 1 :]:
            if qtype.startswith("--"):
                break
            for arch in ARCHS:
                print(fixture_gguf(arch, qtype))


if __name__ == "__main__":
    main()
