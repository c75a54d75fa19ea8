#!/usr/bin/env bash
# Builds pbit and runs every test (CTest: unit, exact-enumeration, backend, topology, DBM, CLI,
# hostile input, example, install), then the suite again under the sanitizers and the CUDA tests on
# the CUDA emulator, then the device kit's and the model jobs' dry runs and their rehearsals on the
# emulator (docs/TESTING.md; PBIT_TEST_QUICK=1 skips the sanitizers and everything on the emulator).
# CUDA tests skip visibly without a GPU; set PBIT_REQUIRE_GPU=1 to make them fail instead.
# What is labelled slow runs only with PBIT_TEST_SLOW=1: the CTest label `slow` (an offline
# `pip install .`, which builds the library once more), a short fuzz run of every reader (a clang
# build of its own) and the device kit's portable build (the dry run otherwise takes the release
# build's binaries). Without them the run fits CI's 45 minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
slow=${PBIT_TEST_SLOW:-0}
skip_slow=(-LE slow)
[ "$slow" = 1 ] && skip_slow=()
# Each stage's time, so that a CI log shows where the minutes go (the run must fit 45 of them).
run_start=$SECONDS stage_start=$SECONDS
took() { echo "test.sh: $1 took $((SECONDS - stage_start)) s (the run so far: $((SECONDS - run_start)) s)"; stage_start=$SECONDS; }
bash scripts/install_deps.sh
bash scripts/get_datasets.sh >/dev/null   # the DBM tests train on real MNIST
source scripts/env.sh
took "dependencies and datasets"
cmake --preset release >/dev/null
cmake --build --preset release
took "the release build"
ctest --preset release -j "$(nproc)" "${skip_slow[@]}"
took "the release suite"
[ "$slow" = 1 ] || echo "test.sh: tests labelled slow ($(ctest --preset release -N -L slow | grep -c 'Test *#') of them) left out; PBIT_TEST_SLOW=1 runs them too"
if [ "${PBIT_TEST_QUICK:-0}" != 1 ]; then
  # The whole suite again under AddressSanitizer + UBSan with leak checking (docs/TESTING.md).
  # The sanitizers of GCC 12 and clang 14 can crash at start on kernels that randomise mmap with 32
  # bits (vm.mmap_rnd_bits, Ubuntu 24.04's default): they run without address randomisation, where
  # the system allows it (a container's seccomp may refuse; then as they are).
  norand=()
  setarch "$(uname -m)" -R true 2>/dev/null && norand=(setarch "$(uname -m)" -R)
  cmake --preset asan >/dev/null
  cmake --build --preset asan
  took "the asan build"
  "${norand[@]}" ctest --preset asan -j "$(nproc)" "${skip_slow[@]}"
  took "the asan suite"
  # A short run of every fuzz target (clang-14 + libFuzzer; skipped with a message without them).
  if [ "$slow" = 1 ]; then
    "${norand[@]}" bash tests/fuzz/run.sh "${PBIT_FUZZ_SECONDS:-15}"
    took "the fuzz run"
  else
    echo "test.sh: the fuzz run is labelled slow (a clang build of its own); PBIT_TEST_SLOW=1 runs it"
  fi
  # The CUDA tests on the CUDA emulator: the .cu sources compiled for the host (docs/TESTING.md), so
  # the kernels are checked against the CPU backends on every commit, GPU or not.
  cmake --preset cuda-emu >/dev/null
  cmake --build --preset cuda-emu
  took "the cuda-emu build"
  ctest --preset cuda-emu -j "$(nproc)"
  took "the cuda-emu suite"
fi
# A device session's one call, dry (docs/BENCHMARKING.md): its plan, the device kit's dry run (every
# stage of the GPU script, GPU-only stages skipped, so the kit cannot rot between sessions that get a
# device) in place of its run, two model jobs tiny on the CPU after the kit's verdict, collect, and a
# failed kit stopping the jobs. The kit on the portable build with PBIT_TEST_SLOW=1, else on the
# release build's binaries (build/carry-dry, never carried).
if [ "$slow" = 1 ]; then
  bash scripts/device_session.sh dry-run
else
  KIT_FROM=build/release KIT_CARRY=build/carry-dry bash scripts/device_session.sh dry-run
fi
took "the device session's dry run (the kit's within it)"
# The model jobs for a lent GPU, each made tiny and run for three leases on the CPU; and every job's
# committed state, which the next lease continues from, read by this pbit.
bash scripts/device_models.sh dry-run
bash scripts/device_models.sh check-state
took "the model jobs' dry run and check-state"
if [ "${PBIT_TEST_QUICK:-0}" != 1 ]; then
  # What only a device would otherwise run, rehearsed on the CUDA emulator at tiny sizes: the kit's
  # GPU stages (benchmarks, best configuration, energy window, summary) and the model jobs on the
  # cuda backend (dbm_fashion and dbm_mnist_mix take dbm_mnist's path).
  bash scripts/device_kit.sh rehearse
  bash scripts/device_models.sh rehearse dbm_golden dbm_mnist dtm_g12
  took "the rehearsals on the emulator"
fi
