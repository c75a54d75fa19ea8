#!/usr/bin/env bash
# One call on a GPU machine: build, run every test with PBIT_REQUIRE_GPU=1, run the benchmarks, and
# leave logs and JSON in $OUT (or out/device when OUT is unset). Used with the device tool:
#   run: bash scripts/device_run.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/device}
mkdir -p "$OUT"
source scripts/env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/nvidia_smi.txt"
{ cmake --preset release && cmake --build --preset release; } 2>&1 | tail -20 | tee "$OUT/build.log"
PBIT_REQUIRE_GPU=1 ctest --preset release -j 8 --output-junit "$PWD/$OUT/ctest.xml" 2>&1 | tail -40 | tee "$OUT/ctest.log"
./build/release/bench/pbit_bench_gibbs --backends cuda,cpu --out "$OUT/gibbs_bench_gpu.json" 2>&1 | tee "$OUT/bench.log"
