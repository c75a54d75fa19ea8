#!/usr/bin/env bash
# ctest mpi.dbm (issue 23): `mpirun -np K pbit dbm train` and `dbm eval` give what one process gives:
# the same model.json, generated.png and (outside timing keys) metrics.json and results.json, and a
# run resumed on another rank count ends with the model of an uninterrupted run.
# Usage: dbm.sh PBIT MPIRUN SOURCE_DIR
source "$(dirname "$0")/common.sh" "$@"
DATA=$DATA python3 - <<'PY'
import json, os
c = {"dataset": {"name": "mnist", "dir": os.environ["DATA"], "train_limit": 250, "test_limit": 50, "pool": 2},
     "graph": {"topology": "pegasus:4", "label_replicas": 2},
     "run": {"backend": "cpu", "seed": 5, "threads": 1},
     "train": {"epochs": 2, "batch_size": 25, "eval_images_per_epoch": 20, "momentum": 0.5, "centering_rate": 0.1,
               "positive": {"chains": 2, "samples": 2, "steps_per_sample": 2},
               "negative": {"chains": 37, "samples": 3, "steps_per_sample": 2}, "checkpoint_every_batches": 4},
     "eval": {"warmup": 6, "samples": 4, "chains": 2, "batch_images": 16},
     "generate": {"per_class": 1, "beta_end": 1.0, "beta_step": 0.5, "sweeps_per_beta": 3}}
json.dump(c, open("dbm.json", "w"))
c["train"]["epochs"] = 1
json.dump(c, open("dbm_1epoch.json", "w"))
c["train"]["epochs"] = 2
pt = json.loads(json.dumps(c))  # evaluation by parallel tempering with an adaptive ladder: 2 adaptations
pt["eval"].update({"warmup": 20, "tempering": {"replicas": 3, "hottest": 0.4, "adapt_rounds": 20, "scheme": "seo"}})
json.dump(pt, open("dbm_pt.json", "w"))
c["train"]["negative"]["chains"] = 2
json.dump(c, open("few_chains.json", "w"))
PY
"$PBIT" dbm train --config dbm.json --out np1 > np1.log 2>&1 || { cat np1.log; exit 1; }
mpi -np 2 "$PBIT" dbm train --config dbm.json --out np2 > np2.log 2>&1 || { cat np2.log; exit 1; }
# Resumed on another rank count: epoch 1 on 2 ranks, epoch 2 on 3 ranks (epochs may change on resume).
mpi -np 2 "$PBIT" dbm train --config dbm_1epoch.json --out re > re1.log 2>&1 || { cat re1.log; exit 1; }
mpi -np 3 "$PBIT" dbm train --config dbm.json --out re --resume > re2.log 2>&1 || { cat re2.log; exit 1; }
grep -q "resuming at epoch 2" re2.log || { cat re2.log; exit 1; }
cmp np1/model.json np2/model.json
cmp np1/model.json re/model.json
cmp np1/generated.png np2/generated.png
# Evaluation: every batch's images shared out (the last batches smaller than the rank count too).
"$PBIT" dbm eval --config dbm.json --model np1/model.json --out e1.json > /dev/null 2>&1
mpi -np 3 "$PBIT" dbm eval --config dbm.json --model np1/model.json --out e3.json > /dev/null 2>&1
"$PBIT" dbm eval --config dbm.json --model np1/model.json --first 3 --limit 35 --sweeps 6,20 --out c1.json > /dev/null 2>&1
mpi -np 2 "$PBIT" dbm eval --config dbm.json --model np1/model.json --first 3 --limit 35 --sweeps 6,20 --out c2.json > /dev/null 2>&1
# With parallel tempering: 34 images in batches of 16, 16 and 2, so one of 3 ranks has no image of
# the last batch and adds zeros to the ladder's swap counts.
"$PBIT" dbm eval --config dbm_pt.json --model np1/model.json --first 3 --limit 34 --out t1.json > /dev/null 2>&1
mpi -np 3 "$PBIT" dbm eval --config dbm_pt.json --model np1/model.json --first 3 --limit 34 --out t3.json > t3.log 2>&1 || { cat t3.log; exit 1; }
same_json np1/metrics.json np2/metrics.json np1/metrics.json re/metrics.json np1/results.json np2/results.json e1.json e3.json \
  c1.json c2.json t1.json t3.json
python3 - <<'PY'
import json
r = json.load(open("np1/results.json"))
assert [json.load(open(f))["ranks"] for f in ("np1/results.json", "np2/results.json", "e3.json")] == [1, 2, 3]
assert r["test_images"] == 50 and len(json.load(open("np1/metrics.json"))["epochs"]) == 2, r
t = json.load(open("t1.json"))
assert len(t["swap_acceptance"]) == 2 and all(a is not None and a > 0 for a in t["swap_acceptance"]), t  # (null: never attempted)
print("mpi.dbm: dbm train on 2 ranks, and resumed from 2 onto 3 ranks, gave one process's model;",
      "dbm eval on 3 and 2 ranks (and tempered on 3) gave one process's accuracy; test accuracy", r["test_accuracy"])
PY
# More ranks than negative chains: refused with a message on every rank.
if mpi -np 3 "$PBIT" dbm train --config few_chains.json --out few > err1.txt 2>&1; then echo "3 ranks for 2 chains passed"; exit 1; fi
grep -q "3 ranks for 2 negative-phase chains" err1.txt || { cat err1.txt; exit 1; }
# Ranks given different configs.
if mpi -np 1 "$PBIT" dbm eval --config dbm.json --model np1/model.json : -np 1 "$PBIT" dbm eval --config few_chains.json \
    --model np1/model.json > err2.txt 2>&1; then echo "disagreeing ranks passed"; exit 1; fi
grep -q "the ranks disagree on the DBM config" err2.txt || { cat err2.txt; exit 1; }
# Ranks that see different checkpoints (node-local output folders: here each rank's working folder)
# stop rather than train different models.
mkdir -p d1/run d2/run && cp re/checkpoint.bin d1/run/
if mpi -np 1 -wdir "$PWD/d1" "$PBIT" dbm train --config "$PWD/dbm.json" --out run --resume : \
    -np 1 -wdir "$PWD/d2" "$PBIT" dbm train --config "$PWD/dbm.json" --out run --resume > err3.txt 2>&1; then
  echo "ranks with different checkpoints passed"; exit 1
fi
grep -q "the ranks disagree on the checkpoint files" err3.txt || { cat err3.txt; exit 1; }
# Ranks that read different images (each node's own copy of the dataset: here the first label changed
# on rank 1's) or a different graph.file stop rather than train another model (helper-97: the model
# differed from one process's without a word).
mkdir -p da/ds db/ds ga gb
for f in "$DATA"/*-ubyte; do ln -s "$f" da/ds/; ln -s "$f" db/ds/; done
rm db/ds/train-labels-idx1-ubyte && cp "$DATA/train-labels-idx1-ubyte" db/ds/
printf '\x09' | dd of=db/ds/train-labels-idx1-ubyte bs=1 seek=8 conv=notrunc status=none  # the first label, a 5
! cmp -s "$DATA/train-labels-idx1-ubyte" db/ds/train-labels-idx1-ubyte
python3 - <<'PY'
import json
c = json.load(open("dbm.json"))
c["dataset"]["dir"] = "ds"
json.dump(c, open("dbm_reldir.json", "w"))
c["dataset"]["dir"] = json.load(open("dbm.json"))["dataset"]["dir"]
c["graph"] = {"file": "g.txt", "label_replicas": 2}
json.dump(c, open("dbm_gfile.json", "w"))
PY
"$PBIT" graph --topology pegasus:4 --out ga/g.txt 2>/dev/null
sed '$ s/^[0-9]* /0 /' ga/g.txt > gb/g.txt  # the last coupling moved: as many edges, another graph
! cmp -s ga/g.txt gb/g.txt
if timeout 120 "$MPIRUN" --allow-run-as-root --oversubscribe -np 1 -wdir "$PWD/da" "$PBIT" dbm train --config "$PWD/dbm_reldir.json" --out "$PWD/dd" : \
    -np 1 -wdir "$PWD/db" "$PBIT" dbm train --config "$PWD/dbm_reldir.json" --out "$PWD/dd" > err4.txt 2>&1; then
  echo "ranks with different images passed"; exit 1
fi
grep -q "the ranks disagree on the training images" err4.txt || { cat err4.txt; exit 1; }
if timeout 120 "$MPIRUN" --allow-run-as-root --oversubscribe -np 1 -wdir "$PWD/ga" "$PBIT" dbm train --config "$PWD/dbm_gfile.json" --out "$PWD/dg" : \
    -np 1 -wdir "$PWD/gb" "$PBIT" dbm train --config "$PWD/dbm_gfile.json" --out "$PWD/dg" > err5.txt 2>&1; then
  echo "ranks with different graph files passed"; exit 1
fi
grep -q "the ranks disagree on graph.file g.txt" err5.txt || { cat err5.txt; exit 1; }
# A run refused on every rank after its output folder was made (here: no dataset) leaves no folder:
# every rank made it and only rank 0 removed it, so a later rank's stayed (helper-112: 3 tries in 5).
python3 -c 'import json; c = json.load(open("dbm.json")); c["dataset"]["dir"] = "no_such_dir"; json.dump(c, open("nodata.json", "w"))'
for try in 1 2 3 4; do
  if mpi -np 3 "$PBIT" dbm train --config nodata.json --out gone$try/sub > err6.txt 2>&1; then echo "a run without its dataset passed"; exit 1; fi
  [ ! -e gone$try ] || { echo "a refused run on 3 ranks left $(find gone$try | tr '\n' ' ')"; cat err6.txt; exit 1; }
  grep -q "pbit: error (rank 0): I/O error: mnist train images: 'no_such_dir' does not exist" err6.txt || { cat err6.txt; exit 1; }
done
echo "mpi.dbm: bad use refused clearly"
# Ctrl-C in pbit.cli under mpirun (each Python rank gets SIGINT, as srun forwards it): every rank
# ends as interrupted, rank 0 saying where the run continues from; it was an "internal error" that
# said nothing of the checkpoint (helper-112).
PYDIR=$(dirname "$PBIT")/python
if [ -d "$PYDIR/pbit" ]; then
  python3 -c 'import json; c = json.load(open("dbm.json")); c["train"]["epochs"] = 400; json.dump(c, open("dbm_long.json", "w"))'
  echo 'import pbit; pbit.cli("dbm", "train", "--config", "dbm_long.json", "--out", "pyint")' > pyint.py
  PYTHONPATH="$PYDIR" timeout 120 "$MPIRUN" --allow-run-as-root --oversubscribe -np 2 python3 pyint.py > pyint.log 2>&1 &
  job=$!
  for _ in $(seq 600); do [ -f pyint/checkpoint.bin ] && break; sleep 0.1; done
  [ -f pyint/checkpoint.bin ] || { echo "no checkpoint within a minute"; cat pyint.log; exit 1; }
  for p in $(pgrep -f "python3 pyint.py"); do [ "$(cat /proc/"$p"/comm 2>/dev/null)" = python3 ] && kill -INT "$p"; done
  rc=0
  wait $job || rc=$?
  [ "$rc" != 0 ] && [ "$rc" != 124 ] || { echo "Ctrl-C of pbit.cli ranks: exit code $rc (124: hung)"; cat pyint.log; exit 1; }
  grep -q "pbit: interrupted (rank 0); run the same command with --resume .* in pyint" pyint.log && ! grep -q "internal error" pyint.log ||
    { cat pyint.log; exit 1; }
  echo "mpi.dbm: Ctrl-C of pbit.cli under mpirun ends every rank as interrupted, saying where to continue"
fi
