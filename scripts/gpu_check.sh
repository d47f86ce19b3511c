#!/usr/bin/env bash
# The transformers backend on a GPU, in one run (about 5-8 minutes on one H200, the bitsandbytes rows included):
#   1. the fast path's tests on CUDA: the captured graph against the eager step on random models, and on the
#      memorizing fixture the cuda_graph path's greedy tokens against transformers' dynamic cache (PSM/SPM);
#   2. `starassist bench gpu`: keystroke replay and decode tokens/s for each decode path and precision, with
#      transformers' model.generate as the baseline, on a random-weight StarCoder2-3B (built here, offline).
#
# What it needs there: python3 with a CUDA torch, transformers, tokenizers, numpy, rich, typer and pytest
# (the H200 machines have them). No network, no install: starassist is imported from this tree. It does not
# need pygls, gguf, llama-cpp-python or bitsandbytes.
#   - bitsandbytes (for the nf4/int8 rows): put its wheel in .whl/ (here, in the repo root:
#     `echo /.whl/ >> .git/info/exclude; python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12
#     --implementation cp --platform manylinux_2_24_x86_64 -d .whl bitsandbytes==0.50.2`, 43 MB) and carry `.whl`;
#     this script installs it into /tmp/site. Without it those rows are reported as skipped.
#   - the memorizing fixture (for step 1's fixture tests; 7 MB): `mkdir -p .gpu && cp -r
#     ~/.cache/starassist-tests/fixture-* .gpu/ && echo /.gpu/ >> .git/info/exclude`, and carry `.gpu`.
#     Without it those tests are skipped (building it there would take minutes).
#
# Usage: bash scripts/gpu_check.sh [OUT_DIR]     (OUT_DIR defaults to $OUT, else /tmp/gpu-check)
# Sizes (environment): CONFIG=starcoder2-3b MODES=bf16,nf4,int8 KEYSTROKES=16 DECODE_TOKENS=96 MAX_TOKENS=16
#   FILE=assistant/engine/completion.py (typed through; about 1500-token prompts) DEVICE=auto
# Dry run on a CPU: CONFIG=tiny DEVICE=cpu MODES=fp32,nf4 KEYSTROKES=2 DECODE_TOKENS=8 bash scripts/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT_DIR=${1:-${OUT:-/tmp/gpu-check}}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
CONFIG=${CONFIG:-starcoder2-3b}
MODES=${MODES:-bf16,nf4,int8}
KEYSTROKES=${KEYSTROKES:-16}
DECODE_TOKENS=${DECODE_TOKENS:-96}
MAX_TOKENS=${MAX_TOKENS:-16}
FILE=${FILE:-assistant/engine/completion.py}
DEVICE=${DEVICE:-auto}
start=$(date +%s)
export COLUMNS=${COLUMNS:-160} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export STARASSIST_CONFIG_DIR="$OUT_DIR/config" STARASSIST_DATA_DIR="${DATA_DIR:-$OUT_DIR/data}"

if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! "$PY" -c "import starassist.cli" 2>/dev/null; then
  # Not installed: lay out the package as setuptools' package-dir does (assistant/ is starassist; lsp/, quant/
  # and prompts/ are its subpackages) with links into this tree.
  shim=$(mktemp -d)
  mkdir "$shim/starassist"
  for entry in assistant/*; do ln -s "$ROOT/$entry" "$shim/starassist/"; done
  for sub in lsp quant prompts; do ln -s "$ROOT/$sub" "$shim/starassist/$sub"; done
  export PYTHONPATH="$shim${PYTHONPATH:+:$PYTHONPATH}"
fi

{
  echo "== machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$PY" - <<'EOF'
import platform, torch, transformers
try:
    import bitsandbytes
    bnb = bitsandbytes.__version__
except ImportError:
    bnb = "not installed"
cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
print(f"python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}), "
      f"transformers {transformers.__version__}, bitsandbytes {bnb}; {cuda}")
EOF
} 2>&1 | tee "$OUT_DIR/machine.txt"

echo "== 1. tests (fast path on ${DEVICE})"
fixture_root=""
for candidate in "${FIXTURE_ROOT:-}" .gpu "$HOME/.cache/starassist-tests"; do
  if [ -n "$candidate" ] && compgen -G "$candidate/fixture-*/manifest.json" >/dev/null; then
    fixture_root=$(cd "$candidate" && pwd); break
  fi
done
test_device=$DEVICE
[ "$test_device" = auto ] && test_device=$("$PY" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
tests=(tests/test_hf_fast_path.py)
if [ -n "$fixture_root" ]; then
  tests+=(tests/test_transformers_static.py)
else
  echo "no memorizing fixture (.gpu/fixture-*): its tests are skipped"
fi
STARASSIST_TEST_CACHE="$fixture_root" STARASSIST_TEST_DEVICE="$test_device" timeout "${TEST_TIMEOUT:-300}" \
  "$PY" -m pytest "${tests[@]}" -q -p no:cacheprovider -o addopts="-ra" 2>&1 | tee "$OUT_DIR/tests.log"
tests_rc=${PIPESTATUS[0]}

echo "== 2. starassist bench gpu ($CONFIG; $MODES)"
timeout "${BENCH_TIMEOUT:-480}" "$PY" -m starassist.cli bench gpu --config "$CONFIG" --device "$DEVICE" \
  --modes "$MODES" --keystrokes "$KEYSTROKES" --max-tokens "$MAX_TOKENS" --decode-tokens "$DECODE_TOKENS" \
  --file "$FILE" --json > "$OUT_DIR/bench.json" 2> >(tee "$OUT_DIR/bench.log" >&2)
bench_rc=$?
if [ $bench_rc -eq 0 ]; then
  "$PY" -c "import json, sys; from starassist.cli.bench_gpu import print_report; print_report(json.load(open(sys.argv[1])))" \
    "$OUT_DIR/bench.json" 2>&1 | tee "$OUT_DIR/bench.txt"
fi
echo "== done in $(( $(date +%s) - start )) s: tests rc=$tests_rc, bench rc=$bench_rc; files in $OUT_DIR"
[ $tests_rc -eq 0 ] && [ $bench_rc -eq 0 ]
