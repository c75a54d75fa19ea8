#!/usr/bin/env bash
# Training over MPI ranks against threads on this machine's cores (issue 23): `pbit dbm train` of a
# sparse DBM on Pegasus(14) (MNIST, UPDATES updates of batch 50, 256 persistent negative chains, 40
# sweeps per phase) as 1 rank x 2 threads and as 2 ranks x 1 thread, interleaved REPEATS times. Every
# run must give the same model.json. Reports the training's sampling rate (flips/ns), its wall time
# per update, and the bytes all-reduced per update (2 phases x 8 (N + E)). OUT/mpi_training.{json,md}.
#   bash bench/studies/mpi_training.sh [OUT]
# Environment: PBIT (build/release/pbit), UPDATES (40), REPEATS (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-out/mpi_training}
PBIT=${PBIT:-build/release/pbit}
UPDATES=${UPDATES:-40}
REPEATS=${REPEATS:-3}
mkdir -p "$OUT"
python3 - "$OUT" "$UPDATES" <<'PY'
import json, sys
out, updates = sys.argv[1], int(sys.argv[2])
json.dump({"dataset": {"name": "mnist", "train_limit": 50 * updates, "test_limit": 100},
           "graph": {"topology": "pegasus:14", "label_replicas": 5, "placement": "random", "role_seed": 1},
           "run": {"backend": "cpu", "seed": 1},
           "train": {"epochs": 1, "batch_size": 50, "learning_rate": 0.1, "momentum": 0.6, "eval_images_per_epoch": 0,
                     "positive": {"chains": 1, "samples": 10, "steps_per_sample": 4},
                     "negative": {"chains": 256, "samples": 10, "steps_per_sample": 4}},
           "eval": {"chains": 1, "warmup": 20, "samples": 20, "batch_images": 100},
           "generate": {"per_class": 1, "beta_end": 1.0, "beta_step": 0.5, "sweeps_per_beta": 5}},
          open(f"{out}/config.json", "w"), indent=1)
PY
for r in $(seq "$REPEATS"); do
  OMP_NUM_THREADS=2 "$PBIT" dbm train --config "$OUT/config.json" --out "$OUT/threads_$r" --overwrite 2>/dev/null
  OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe --bind-to core -np 2 "$PBIT" dbm train --config "$OUT/config.json" \
    --out "$OUT/ranks_$r" --overwrite 2>/dev/null
  echo "repeat $r/$REPEATS done" >&2
done
python3 - "$OUT" "$REPEATS" <<'PY'
import json, statistics, sys
out, repeats = sys.argv[1], int(sys.argv[2])
ref = open(f"{out}/threads_1/model.json").read()
runs = {}
for k in ("threads", "ranks"):
    runs[k] = []
    for r in range(1, repeats + 1):
        assert open(f"{out}/{k}_{r}/model.json").read() == ref, f"{k}_{r}: another model"
        runs[k].append(json.load(open(f"{out}/{k}_{r}/results.json")))
r0 = runs["threads"][0]
g = json.load(open(f"{out}/threads_1/model.json"))["graph"]
n, e = g["num_nodes"], len(g["edges"])
rate = {k: [x["train_flips_per_ns"] for x in runs[k]] for k in runs}
per_update = {k: [x["train_wall_s"] / x["train_updates"] * 1e3 for x in runs[k]] for k in runs}
med = {k: statistics.median(v) for k, v in rate.items()}
medu = {k: statistics.median(v) for k, v in per_update.items()}
res = {"study": "mpi_training", "topology": "pegasus(14)", "num_nodes": n, "num_edges": e, "updates": r0["train_updates"],
       "device": r0["device"], "git_sha": r0["git_sha"], "identical_models": True,
       "one_rank_two_threads_train_flips_per_ns": rate["threads"], "two_ranks_one_thread_train_flips_per_ns": rate["ranks"],
       "one_rank_two_threads_ms_per_update": per_update["threads"], "two_ranks_one_thread_ms_per_update": per_update["ranks"],
       "median_one_rank_two_threads_train_flips_per_ns": med["threads"], "median_two_ranks_one_thread_train_flips_per_ns": med["ranks"],
       "ranks_over_threads": med["ranks"] / med["threads"], "allreduced_bytes_per_update": 2 * 8 * (n + e)}
json.dump(res, open(f"{out}/mpi_training.json", "w"), indent=1)
md = ["| layout | training flips/ns (median of %d) | ms per update (median) | repeats (flips/ns) |" % repeats, "|---|---:|---:|---|"]
for k, name in (("threads", "1 rank x 2 threads"), ("ranks", "2 ranks x 1 thread")):
    md.append("| %s | %.3f | %.1f | %s |" % (name, med[k], medu[k], " ".join("%.3f" % x for x in rate[k])))
md += ["", "ranks / threads = %.3f; the same model.json from every run; all-reduced per update: 2 x 8 (N + E) = %d bytes"
       % (med["ranks"] / med["threads"], 2 * 8 * (n + e))]
open(f"{out}/mpi_training.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
