#!/usr/bin/env bash
# The device benchmark on a lent GPU, in one call (docs/BENCHMARKS.md):
#   bash tools/device_benchmark.sh [tools/device_benchmark.py flags]
# 1. installs the carried wheels ($DEVICE_WHEELS/*.whl, default .whl/, e.g.
#    ml-collections) with --no-deps into $DEVICE_SITE (default /tmp/site), if any;
# 2. records the GPU and the JAX install in $OUT/device_info.txt;
# 3. runs tools/device_benchmark.py, which writes $OUT/device_benchmark.{json,md,log}
#    (default budget 450 s: every figure within 8 minutes, leaving room for the
#    machine's start and a rerun in the session's 15).
# PYTHON (default python3) is the interpreter that has jax; OUT defaults to out/device_benchmark.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$PWD/out/device_benchmark}
SITE=${DEVICE_SITE:-/tmp/site}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
wheels=("${DEVICE_WHEELS:-.whl}"/*.whl)
if [ -e "${wheels[0]}" ]; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --root-user-action=ignore \
      --target "$SITE" "${wheels[@]}" || { echo "installing ${wheels[*]} failed" >&2; exit 2; }
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
{
  date -u
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
  XLA_PYTHON_CLIENT_PREALLOCATE=false "$PYTHON" -c \
      "import sys, jax, jaxlib, flax, optax; print(sys.version.split()[0], 'jax', jax.__version__, 'jaxlib', jaxlib.__version__, 'flax', flax.__version__, 'optax', optax.__version__); print(jax.devices())"
} > "$OUT/device_info.txt" 2>&1
cat "$OUT/device_info.txt"
exec "$PYTHON" tools/device_benchmark.py --out="$OUT" "$@"
