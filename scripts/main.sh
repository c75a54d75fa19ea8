#!/usr/bin/env bash
# The main job: builds pbit, fetches MNIST, and trains a quick sparse DBM (Pegasus(14), configs/
# dbm_mnist_quick.json) on the best available backend (CUDA with a GPU, else the CPU backend), then
# prints the test accuracy on all 10,000 test images and the sampling throughput in flips/ns.
# Outputs (model, metrics, results.json, generated.png) go to out/dbm_mnist_quick. Extra arguments go
# to 'pbit dbm train' (e.g. --resume).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/get_datasets.sh >/dev/null
source scripts/env.sh
cmake --preset release >/dev/null
cmake --build --preset release --target pbit_cli
./build/release/pbit backends
# A rerun starts afresh (--overwrite) unless asked to --resume the last one.
fresh=--overwrite
for a in "$@"; do [ "$a" = --resume ] && fresh=; done
./build/release/pbit dbm train --config configs/dbm_mnist_quick.json $fresh "$@"
