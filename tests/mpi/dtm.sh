#!/usr/bin/env bash
# ctest mpi.dtm (issue 23): `mpirun -np K pbit dtm train` gives what one process gives: the same
# samples (generated.png, trajectory.png), FIDs and metrics outside timing, with the adaptive
# correlation penalty on (per-chain means gathered) and label nodes; and a run stopped after epoch 1
# on 2 ranks (--stop-after) and resumed on 3 ends where an uninterrupted one does. Usage: dtm.sh PBIT MPIRUN SOURCE_DIR
source "$(dirname "$0")/common.sh" "$@"
DATA=$DATA python3 - <<'PY'
import json, os
c = {"dataset": {"name": "mnist", "dir": os.environ["DATA"], "train_limit": 120, "pool": 2},
     "model": {"topology": "grid:24:G12", "steps": 2, "lambda": 0.9, "label_replicas": 1},
     "train": {"epochs": 2, "batch_size": 30, "optimizer": "adam", "learning_rate": 0.02,
               "positive": {"warmup": 3, "samples": 2, "steps_per_sample": 2},
               "negative": {"warmup": 3, "samples": 2, "steps_per_sample": 2},
               "acp": {"enabled": True, "lambda0": 0.02, "eps": 0.016, "dims": 16, "chains": 8}},
     "generate": {"sweeps": 6, "samples": 20},
     "run": {"backend": "cpu", "seed": 3, "threads": 1}}
json.dump(c, open("dtm.json", "w"))
c["run"]["seed"] = 4
json.dump(c, open("other.json", "w"))
c["train"]["negative"]["tempering"] = {"replicas": 3, "hottest": 0.4}
json.dump(c, open("tempered.json", "w"))
PY
"$PBIT" dtm train --config dtm.json --out np1 > np1.log 2>&1 || { cat np1.log; exit 1; }
mpi -np 2 "$PBIT" dtm train --config dtm.json --out np2 > np2.log 2>&1 || { cat np2.log; exit 1; }
mpi -np 2 "$PBIT" dtm train --config dtm.json --out re --stop-after 1 > re1.log 2>&1 || { cat re1.log; exit 1; }
mpi -np 3 "$PBIT" dtm train --config dtm.json --out re --resume > re2.log 2>&1 || { cat re2.log; exit 1; }
grep -q "resuming after epoch 1" re2.log || { cat re2.log; exit 1; }
for f in generated.png trajectory.png; do cmp np1/$f np2/$f; cmp np1/$f re/$f; done
same_json np1/metrics.json np2/metrics.json np1/metrics.json re/metrics.json np1/results.json np2/results.json np1/results.json re/results.json
python3 - <<'PY'
import json
r = json.load(open("np1/results.json"))
assert [json.load(open(f))["ranks"] for f in ("np1/results.json", "np2/results.json", "re/results.json")] == [1, 2, 3]
m = json.load(open("np1/metrics.json"))
assert r["epochs_trained"] == 2 and len(r["feature_fid_over_training"]) == 2, r
assert all(s["acp_lambda"] > 0 for s in m["epochs"][0]["steps"]), m  # the penalty's per-chain means were gathered
print("mpi.dtm: dtm train on 2 ranks, and resumed from 2 onto 3 ranks, gave one process's samples and FIDs;",
      "feature-FID", round(r["feature_fid"], 3))
PY
if mpi -np 31 "$PBIT" dtm train --config dtm.json --out few > err1.txt 2>&1; then echo "31 ranks for 30 chains passed"; exit 1; fi
grep -q "31 ranks for 30 chains" err1.txt || { cat err1.txt; exit 1; }
# Ranks given different configs (MPMD) would train one model from two seeds' chains.
if mpi -np 1 "$PBIT" dtm train --config dtm.json --out mpmd : -np 1 "$PBIT" dtm train --config other.json --out mpmd \
    > err2.txt 2>&1; then echo "disagreeing ranks passed"; exit 1; fi
grep -q "the ranks disagree on the DTM config" err2.txt || { cat err2.txt; exit 1; }
# A tempered negative phase shards too (each chain's replicas on its rank, swaps keyed by the chain):
# 2 ranks, and 2 then 3 through a checkpoint (its chains, walkers and swap counts), give one process's samples,
# metrics and swap statistics.
"$PBIT" dtm train --config tempered.json --out t1 > t1.log 2>&1 || { cat t1.log; exit 1; }
mpi -np 2 "$PBIT" dtm train --config tempered.json --out t2 > t2.log 2>&1 || { cat t2.log; exit 1; }
mpi -np 2 "$PBIT" dtm train --config tempered.json --out tre --stop-after 1 > tre1.log 2>&1 || { cat tre1.log; exit 1; }
mpi -np 3 "$PBIT" dtm train --config tempered.json --out tre --resume > tre2.log 2>&1 || { cat tre2.log; exit 1; }
grep -q "resuming after epoch 1" tre2.log || { cat tre2.log; exit 1; }
for f in generated.png trajectory.png; do cmp t1/$f t2/$f; cmp t1/$f tre/$f; done
same_json t1/results.json t2/results.json t1/results.json tre/results.json t1/metrics.json tre/metrics.json
python3 - <<'PY'
import json
acc = json.load(open("t1/results.json"))["negative_tempering"]["swap_acceptance_per_step"]
assert len(acc) == 2 and all(0 < a < 1 for step in acc for a in step), acc  # swaps were tried and some taken
trips = json.load(open("t1/results.json"))["negative_tempering"]["round_trips_per_step"]
assert sum(trips) > 0, trips  # walkers went to the hottest replica and back: the counts are summed, not one rank's
print("mpi.dtm: a tempered negative phase on 2 ranks, and from 2 onto 3, gave one process's checkpoint, samples and",
      "swap acceptance", acc)
PY
# Leases of a tempered run (one epoch each: lease 1 in one process, lease 2 on 2 ranks): each lease's
# results give its own swap statistics, the rounds too (they counted the run's, the others the lease's).
for n in 1 2; do
  mpi -np "$n" "$PBIT" dtm train --config tempered.json --lease tl --lease-seconds 0.001 --out tl$n > tl$n.log 2>&1 || { cat tl$n.log; exit 1; }
done
python3 - <<'PY'
import json
t = [json.load(open("tl%d/results.json" % n))["negative_tempering"] for n in (1, 2)]
assert [len(json.load(open("tl%d/results.json" % n))["leases"]) for n in (1, 2)] == [1, 2]
assert t[0]["swap_rounds_per_step"] == t[1]["swap_rounds_per_step"] and min(t[0]["swap_rounds_per_step"]) > 0, t  # one epoch each, from fresh chains
print("mpi.dtm: two leases of a tempered run each report their own", t[1]["swap_rounds_per_step"], "swap rounds per step")
PY
