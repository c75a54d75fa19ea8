#!/usr/bin/env bash
# Builds the fuzz targets (cmake --preset fuzz: clang-14 and libFuzzer) and runs each for SECONDS
# (default 30) on one core, from a corpus of the project's own files and the seeds the targets write.
# Exit 1 on any finding (crash, sanitizer report, uncaught non-pbit exception, allocation over
# 1 GB, a unit slower than 10 s); the reproducer is kept under build/fuzz/findings/<target>/.
# A summary (executions, new coverage, findings per target) goes to build/fuzz/summary.json.
#   bash tests/fuzz/run.sh [SECONDS] [TARGET...]      e.g. bash tests/fuzz/run.sh 3600 fuzz_checkpoints
# Long runs keep their corpus in build/fuzz/corpus/<target> and continue from it.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-30}
shift || true
if ! command -v clang++-14 >/dev/null || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz: clang-14 with libFuzzer (Debian: clang-14 libfuzzer-14-dev) not found; not fuzzing"
  exit 0
fi
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
B=build/fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_graph_file fuzz_sample_config fuzz_dbm_config fuzz_dtm_config fuzz_compare_suite fuzz_eqprop_config
           fuzz_pdnn_config fuzz_model_file fuzz_roles_file fuzz_checkpoints fuzz_idx fuzz_specs)
fi

# Seeds: the project's own files, with the selector byte a target reads first where it has one.
seed() {  # seed TARGET NAME [PREFIX_BYTE] < content
  local dir=$B/corpus/$1 f
  mkdir -p "$dir"
  f=$dir/seed_$2
  if [ -n "${3:-}" ]; then { printf "$3"; cat; } > "$f"; else cat > "$f"; fi
}
for c in configs/sample_example.json; do seed fuzz_sample_config "$(basename "$c")" < "$c"; done
for c in configs/dbm_*.json; do seed fuzz_dbm_config "$(basename "$c")" < "$c"; done
for c in configs/dtm_*.json configs/mebm_*.json; do seed fuzz_dtm_config "$(basename "$c")" < "$c"; done
for c in configs/compare_*.json; do seed fuzz_compare_suite "$(basename "$c")" < "$c"; done
for c in configs/eqprop_*.json; do seed fuzz_eqprop_config "$(basename "$c")" < "$c"; done
for c in configs/pdnn_*.json; do seed fuzz_pdnn_config "$(basename "$c")" < "$c"; done
printf '{"format": "pbit.graph", "version": 1, "num_nodes": 4, "edges": [[0, 1, 0.5], [1, 2, -1.0], [2, 3, 0.25]],\n "biases": [0.0, 0.1, 0.0, -0.2], "coloring": [0, 1, 0, 1]}\n' |
  seed fuzz_graph_file graph_json '\x01'
printf '# a comment\nnodes 5\n0 1 0.5\n1 2 -1.0\n2,3,0.25\nbias 4 0.3\n3 4 1\n' | seed fuzz_graph_file edge_list '\x00'
for s in pegasus:3 zephyr:2 zephyr:2:2 chimera:3 chimera:2:3:4 grid:10:G8 grid:12:G12:open "grid:10:1_0,0_1" lattice:5 \
         lattice:6:open king:5 king:5:torus regular:20:3 regular:30:4:7; do
  printf '%s' "$s" | seed fuzz_specs "${s//[:,]/_}"
done
printf 'grid:12:G8\ndata:20:0,latent:rest' | seed fuzz_specs roles_colored
printf 'pegasus:3\nvisible:16,label:10,hidden:rest' | seed fuzz_specs roles
for t in "${targets[@]}"; do
  mkdir -p "$B/corpus/$t" "$B/seeds/$t"
  PBIT_FUZZ_SEEDS=$B/seeds/$t "$B/tests/fuzz/$t" -runs=0 "$B/seeds/$t" >/dev/null 2>&1 || true
  cp -n "$B/seeds/$t/"* "$B/corpus/$t/" 2>/dev/null || true
done

status=0
summary="["
for t in "${targets[@]}"; do
  mkdir -p "$B/findings/$t" "$B/logs"
  log=$B/logs/$t.log
  set +e
  "$B/tests/fuzz/$t" "$B/corpus/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$B/findings/$t/" > "$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)  # none when a target died at start: report it below
  findings=$(find "$B/findings/$t" -type f | wc -l)
  printf '%-22s %10s execs  %7s/s  cov %6s  rc %d  findings %d\n' "$t" "${execs:-0}" "${rate:-0}" "${cov:-0}" "$rc" "$findings"
  if [ "$rc" != 0 ] || [ "$findings" != 0 ]; then
    status=1
    echo "fuzz: $t found a problem; log $log, reproducer(s) in $B/findings/$t:"
    grep -E "ERROR|SUMMARY|terminate|what\(\)|out-of-memory|timeout" "$log" | head -8 || true
  fi
  summary+="{\"target\": \"$t\", \"seconds\": $secs, \"executions\": ${execs:-0}, \"executions_per_s\": ${rate:-0}, \"coverage_edges\": ${cov:-0}, \"exit_code\": $rc, \"findings\": $findings},"
done
echo "${summary%,}]" > "$B/summary.json"
echo "fuzz: summary in $B/summary.json"
exit $status
