#!/usr/bin/env bash
# The main job: builds pbit and runs the Gibbs throughput benchmark on the best available backend
# (CUDA when a GPU is present, else the CPU backend), printing its table and writing
# out/gibbs_bench.json. Extra arguments go to the benchmark (e.g. --chains 1024 --graphs regular15).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
source scripts/env.sh
cmake --preset release >/dev/null
cmake --build --preset release --target pbit_bench_gibbs pbit_cli
mkdir -p out
./build/release/pbit backends
./build/release/bench/pbit_bench_gibbs --backends best --out out/gibbs_bench.json "$@"
