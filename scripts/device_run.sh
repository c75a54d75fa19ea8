#!/usr/bin/env bash
# One call on a GPU machine (the device tool) for the sampler core and the fast kernel (issues 2, 7):
# build, every test with PBIT_REQUIRE_GPU=1, the CUDA tests again with the fast kernel, the Gibbs
# benchmark (cuda simple and fast, and cpu), thrml side by side, ncu counters of both kernels, then
# compute-sanitizer. Everything
# lands in $OUT/gpu_tests_bench.tar.gz; unpack it here and copy the JSON into bench/results/.
# Before the call, here: bash scripts/prepare_device_data.sh, and build the thrml wheel into .whl/
# (docs/BENCHMARKING.md). Device call: command "bash scripts/device_run.sh", carry ["data/device", ".whl"],
# timeout_s 600.
DEVICE_JOB=gpu_tests_bench
source "$(dirname "$0")/device_common.sh"
device_build || exit 1
PHASE_TAIL=25 phase ctest 150 env PBIT_REQUIRE_GPU=1 ctest --preset release -j 8
phase ctest_fast 90 env PBIT_CUDA_KERNEL=fast PBIT_REQUIRE_GPU=1 ctest --preset release -j 8 -L gpu
PHASE_TAIL=40 phase bench 120 ./build/release/bench/pbit_bench_gibbs --backends cuda,cpu --graphs pegasus14,regular15,g12,zephyr10 \
  --chains 1,32,1024,16384,65536,100000 --min-time 0.2 --out "$STAGE/gibbs_bench_gpu.json"
PHASE_TAIL=20 phase bench_fast 60 env PBIT_CUDA_KERNEL=fast ./build/release/bench/pbit_bench_gibbs --backends cuda \
  --graphs pegasus14,regular15,g12 --chains 1024,16384,65536,100000 --min-time 0.2 --out "$STAGE/gibbs_bench_gpu_fast.json"
for w in 4 16; do  # the fast kernel's team size (warps per 32-chain word), against the automatic choice above
  phase "bench_fast_w$w" 30 env PBIT_CUDA_KERNEL=fast PBIT_CUDA_FAST_WARPS=$w ./build/release/bench/pbit_bench_gibbs --backends cuda \
    --graphs pegasus14 --chains 1024,16384,100000 --min-time 0.2 --out "$STAGE/gibbs_bench_gpu_fast_w$w.json"
done
if ls .whl/thrml-*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/thrml-*.whl && export PYTHONPATH=/tmp/site
  ./build/release/pbit graph --topology pegasus:14 --weights 0.25,0.1 --seed 1 --out /tmp/pegasus14.json >/dev/null
  for chains in 1024 16384; do
    phase "thrml_$chains" 90 python3 scripts/thrml_compare.py --graph /tmp/pegasus14.json --chains $chains --sweeps 100 \
      --out "$STAGE/thrml_vs_pbit_p14_$chains.json"
  done
else
  echo "no .whl/thrml-*.whl: build it here first (see docs/BENCHMARKING.md)"
fi
if command -v ncu >/dev/null 2>&1; then  # issue slots, instructions, occupancy and DRAM traffic of each kernel
  NCU_METRICS=sm__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active,sm__warps_active.avg.pct_of_peak_sustained_active,dram__bytes.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,gpu__time_duration.sum,launch__registers_per_thread
  for k in simple fast; do
    phase "ncu_$k" 60 env PBIT_CUDA_KERNEL=$k ncu --csv --metrics "$NCU_METRICS" -k regex:"fast_sweeps|sweep_color" -c 3 \
      ./build/release/bench/pbit_bench_gibbs --backends cuda --graphs pegasus14 --chains 16384 --min-time 0.05
  done
fi
if command -v compute-sanitizer >/dev/null 2>&1; then
  for tool in memcheck racecheck; do
    phase "sanitizer_$tool" 60 env PBIT_REQUIRE_GPU=1 compute-sanitizer --tool $tool --error-exitcode 9 \
      ./build/release/tests/test_backends --gtest_filter='*cuda*'
  done
  phase sanitizer_fast_memcheck 40 env PBIT_CUDA_KERNEL=fast PBIT_REQUIRE_GPU=1 compute-sanitizer --tool memcheck \
    --error-exitcode 9 ./build/release/tests/test_backends --gtest_filter='*cuda*'
fi
