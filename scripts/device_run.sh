#!/usr/bin/env bash
# One call on a GPU machine (the device tool): build, run every test with PBIT_REQUIRE_GPU=1, run
# compute-sanitizer on the CUDA backend tests, and run the Gibbs benchmark on cuda and cpu. Logs and
# JSON go to $OUT (out/device when OUT is unset); copy the JSON into bench/results/ afterwards.
#   device run:  bash scripts/device_run.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/device}
mkdir -p "$OUT"
source scripts/env.sh
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/nvidia_smi.txt"
{ cmake --preset release -DPBIT_BUILD_EXAMPLES=ON && cmake --build --preset release; } > "$OUT/build.log" 2>&1 \
  || { tail -40 "$OUT/build.log"; exit 1; }
echo "== tests (PBIT_REQUIRE_GPU=1)"
PBIT_REQUIRE_GPU=1 ctest --preset release -j 8 2>&1 | tail -25 | tee "$OUT/ctest.log"
if command -v compute-sanitizer >/dev/null 2>&1; then
  echo "== compute-sanitizer"
  for tool in memcheck racecheck; do
    PBIT_REQUIRE_GPU=1 compute-sanitizer --tool $tool --error-exitcode 9 \
      ./build/release/tests/test_backends --gtest_filter='*cuda*' > "$OUT/sanitizer_$tool.log" 2>&1
    echo "$tool: exit $? ($(grep -c 'ERROR SUMMARY: 0 errors' "$OUT/sanitizer_$tool.log") clean summaries)"
  done
fi
echo "== benchmark"
./build/release/bench/pbit_bench_gibbs --backends cuda,cpu --chains 1,32,1024,16384,65536,100000 \
  --out "$OUT/gibbs_bench_gpu.json" 2>&1 | tee "$OUT/bench.log"
