#!/usr/bin/env bash
# The CuPy backend on a machine with an NVIDIA GPU, in under 10 minutes: install the cupy extra, run the
# GPU test suite (pytest -m gpu: the method contract suite on CuPy inputs, the kernel-vs-NumPy checks and the
# stack certificate against LAPACK and its CPU twin), then the GPU benchmarks (the asv classes of
# asv_bench/benchmarks/bench_gpu.py, timed directly: fused pass, certified Gaussian, stacks of 100 000
# 32x32 and 8x8 matrices against cupy.linalg.norm), and print a summary. Usage: bash scripts/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
# run from the repository root (python -m puts it on sys.path); install only what is missing, since a GPU
# machine may have no package index: CuPy, then the test extra's pure-Python tools
python -c "import cupy" 2>/dev/null || python -m pip install -q "cupy-cuda12x>=13" || exit 1
# CuPy's wheel loads cuBLAS/cuSOLVER/cuSPARSE from the system toolkit or from NVIDIA's wheels
python -c "import cupyx.scipy.sparse.linalg" 2>/dev/null || python -m pip install -q "cupy-cuda12x[ctk]" || exit 1
python -c "import numpy, scipy, array_api_compat, array_api_strict, pytest, hypothesis" 2>/dev/null \
  || python -m pip install -q numpy scipy array-api-compat array-api-strict pytest hypothesis || exit 1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python -c "import cupy; print('cupy', cupy.__version__, 'devices', cupy.cuda.runtime.getDeviceCount())" || exit 1

timeout 330 python -m pytest -m gpu -q 2>&1 | tee gpu_tests.log | tail -25
tests_rc=${PIPESTATUS[0]}
timeout 270 python scripts/gpu_bench.py 5 2>&1 | tee gpu_bench.log
bench_rc=${PIPESTATUS[0]}

echo
echo "== summary ($((SECONDS - start)) s) =="
echo "gpu tests: exit $tests_rc -- $(grep -E '(passed|failed|error)' gpu_tests.log | tail -1)"
echo "gpu benchmarks: exit $bench_rc (gpu_bench.log, gpu_bench_results.json)"
grep -E "^  " gpu_bench.log || true   # the ratios against the issue's targets
exit $((tests_rc != 0 || bench_rc != 0))
