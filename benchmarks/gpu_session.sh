#!/usr/bin/env bash
# One prepared device session for issue 19 (one H100/H200, at most 9 minutes, results under $OUT):
#
#   1. benchmarks/gpu_tune.py: the decision table (runs per program, attention, precision, unroll, XLA
#      loop flags, a short packed paper-schedule cell), search deadline 340 s, SIGINT at 400 s
#      (the rows measured so far are still written, with "interrupted": true);
#   2. benchmarks/precision_error.py at H = 100 and 500: each precision policy's gradient error against
#      float64 on the GPU, SIGINT at 100 s (rows so far kept).
#
# Run from the repository root on the device machine (nothing to install; JAX with CUDA present):
#
#   bash benchmarks/gpu_session.sh            # with the run tool: timeout_s 600
#
# Afterwards, here: copy $OUT/gpu_tune.json to benchmarks/results/gpu_tune_h200.json and
# $OUT/precision_error_gpu.json to benchmarks/results/precision_error_h200.json, then
#   python benchmarks/gpu_defaults.py benchmarks/results/gpu_tune_h200.json
# (the library's GPU defaults, awmkit/data/gpu_defaults.json, from that result) and commit all three.
set -u
OUT=${OUT:-/tmp/gpu-session}
mkdir -p "$OUT"
export PYTHONPATH=$PWD
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1; python3 -c "import jax; print(jax.__version__, jax.devices())"; } > "$OUT/machine.txt" 2>&1
start=$(date +%s)
timeout -s INT -k 10 400 python3 benchmarks/gpu_tune.py --budget-s 340 --out "$OUT/gpu_tune.json" 2>&1 | tee "$OUT/gpu_tune.log"
echo "gpu_tune: $(( $(date +%s) - start )) s" | tee -a "$OUT/gpu_session.log"
timeout -s INT -k 10 100 python3 benchmarks/precision_error.py --horizons 100 500 --out "$OUT/precision_error_gpu.json" 2>&1 | tee "$OUT/precision_error.log"
echo "total: $(( $(date +%s) - start )) s" | tee -a "$OUT/gpu_session.log"
