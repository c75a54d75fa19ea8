#!/usr/bin/env bash
# The same work on this machine's cores as threads or as MPI ranks (issue 23): `pbit sample` of
# Pegasus(14) with CHAINS chains for SWEEPS sweeps (moments every 10), as 1 rank x 2 threads and as
# 2 ranks x 1 thread, interleaved REPEATS times; the outputs must agree byte for byte outside `run`.
# flips/ns of the run alone (the CLI's timing; mpirun's start-up excluded). OUT/mpi_scaling.{json,md}.
#   bash bench/studies/mpi_scaling.sh [OUT]
# Environment: PBIT (build/release/pbit), CHAINS (4096), SWEEPS (400), REPEATS (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-out/mpi_scaling}
PBIT=${PBIT:-build/release/pbit}
CHAINS=${CHAINS:-4096}
SWEEPS=${SWEEPS:-400}
REPEATS=${REPEATS:-3}
mkdir -p "$OUT"
python3 - "$OUT" "$CHAINS" "$SWEEPS" <<'PY'
import json, sys
out, chains, sweeps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
json.dump({"chains": chains, "seed": 1, "backend": "cpu", "beta": 0.5,
           "schedule": {"warmup": 0, "samples": sweeps // 10, "steps_per_sample": 10}, "observe": {"moments": True}},
          open(f"{out}/config.json", "w"))
PY
for r in $(seq "$REPEATS"); do
  "$PBIT" sample --topology pegasus:14 --config "$OUT/config.json" --threads 2 --out "$OUT/threads_$r.json" 2>/dev/null
  mpirun --allow-run-as-root --oversubscribe --bind-to core -np 2 "$PBIT" sample --topology pegasus:14 --config "$OUT/config.json" \
    --threads 1 --out "$OUT/ranks_$r.json" 2>/dev/null
  echo "repeat $r/$REPEATS done" >&2
done
python3 - "$OUT" "$REPEATS" <<'PY'
import json, statistics, sys
out, repeats = sys.argv[1], int(sys.argv[2])
runs = {k: [json.load(open(f"{out}/{k}_{r}.json")) for r in range(1, repeats + 1)] for k in ("threads", "ranks")}
ref = dict(runs["threads"][0]); ref.pop("run")
for k in runs:
    for x in runs[k]:
        y = dict(x); y.pop("run")
        assert y == ref, "outputs differ"
rate = {k: [x["run"]["flips_per_ns"] for x in runs[k]] for k in runs}
med = {k: statistics.median(v) for k, v in rate.items()}
n, e = ref["num_nodes"], ref["num_edges"]
res = {"study": "mpi_scaling", "topology": "pegasus(14)", "num_nodes": n, "num_edges": e, "chains": ref["num_chains"],
       "sweeps": ref["sweeps"], "device": runs["threads"][0]["run"]["device"], "git_sha": runs["threads"][0]["run"]["git_sha"],
       "one_rank_two_threads_flips_per_ns": rate["threads"], "two_ranks_one_thread_flips_per_ns": rate["ranks"],
       "median_one_rank_two_threads_flips_per_ns": med["threads"], "median_two_ranks_one_thread_flips_per_ns": med["ranks"],
       "ranks_over_threads": med["ranks"] / med["threads"], "identical_outputs": True,
       "exchanged_bytes_per_run_moment_sums": 8 * (n + e)}
json.dump(res, open(f"{out}/mpi_scaling.json", "w"), indent=1)
md = ["| layout | flips/ns (median of %d) | repeats |" % repeats, "|---|---:|---|",
      "| 1 rank x 2 threads | %.3f | %s |" % (med["threads"], " ".join("%.3f" % x for x in rate["threads"])),
      "| 2 ranks x 1 thread | %.3f | %s |" % (med["ranks"], " ".join("%.3f" % x for x in rate["ranks"])),
      "", "ranks / threads = %.3f; outputs identical; moment sums all-reduced once per run: 8 (N + E) = %d bytes" % (med["ranks"] / med["threads"], 8 * (n + e))]
open(f"{out}/mpi_scaling.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
