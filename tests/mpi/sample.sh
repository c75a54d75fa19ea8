#!/usr/bin/env bash
# ctest mpi.sample (issue 23): `mpirun -np K pbit sample` writes what one process writes, byte for
# byte outside the `run` section (timing, ranks): moment sums, per-chain energies, read-outs (groups of
# different sizes) and snapshots, with per-chain clamp values; and bad use fails clearly. 103 chains:
# uneven shares on 2 ranks (52, 51) and on 3 (35, 34, 34), where a rank's first chain must count the
# shares before it, not the first rank's share again.
# Usage: sample.sh PBIT MPIRUN
source "$(dirname "$0")/common.sh" "$@"
python3 - <<'PY'
import json
c = {"chains": 103, "seed": 7, "backend": "cpu", "schedule": {"warmup": 20, "samples": 10, "steps_per_sample": 3},
     "beta": {"linear": {"from": 0.1, "to": 1.0, "sweeps": 20}},
     "clamp": {"nodes": [0, 1], "values": [1, -1] * 103}, "field": {"nodes": [2, 3], "values": [0.5, -0.5]},
     "observe": {"moments": True, "energy": True, "readout_groups": [[4, 5, 6], [7, 8]], "snapshot_sweeps": [10, 50]}}
json.dump(c, open("c.json", "w"))
c["seed"] = 8
json.dump(c, open("other.json", "w"))
c["seed"] = 7
c["schedule"] = {"warmup": 12, "samples": 0, "steps_per_sample": 1}
c["observe"]["snapshot_sweeps"] = [12]
json.dump(c, open("no_samples.json", "w"))
c["schedule"] = {"warmup": 20, "samples": 10, "steps_per_sample": 3}
pt = json.loads(json.dumps(c))  # parallel tempering with an adaptive ladder (3 adaptations) and per-chain fields
del pt["beta"]
pt["field"] = {"nodes": [2, 3], "values": [0.1 * (k % 7) - 0.3 for k in range(2 * 103)]}
pt["tempering"] = {"replicas": 4, "hottest": 0.3, "adapt_rounds": 30, "scheme": "seo"}
json.dump(pt, open("pt.json", "w"))
c["chains"] = 2
c["clamp"]["values"] = [1, -1] * 2
json.dump(c, open("two_chains.json", "w"))
PY
"$PBIT" sample --topology pegasus:3 --config c.json --out np1.json 2>/dev/null
"$PBIT" sample --topology pegasus:3 --config no_samples.json --out ns1.json 2>/dev/null
"$PBIT" sample --topology pegasus:3 --config pt.json --out pt1.json 2>/dev/null
for k in 2 3; do
  mpi -np $k "$PBIT" sample --topology pegasus:3 --config c.json --out np$k.json 2>/dev/null
  mpi -np $k "$PBIT" sample --topology pegasus:3 --config no_samples.json --out ns$k.json 2>/dev/null
  mpi -np $k "$PBIT" sample --topology pegasus:3 --config pt.json --out pt$k.json 2>/dev/null
done
python3 - <<'PY'
import json
outs = {k: json.load(open(f"np{k}.json")) for k in (1, 2, 3)}
runs = {k: o.pop("run") for k, o in outs.items()}
assert [runs[k]["ranks"] for k in (1, 2, 3)] == [1, 2, 3], runs
for k in (2, 3):
    bad = [key for key in outs[1] if outs[1][key] != outs[k].get(key)]
    assert not bad, f"np {k} differs from np 1 in {bad}"
    a, b = json.dumps(outs[1], sort_keys=True), json.dumps(outs[k], sort_keys=True)
    assert a == b
for k in (2, 3):  # a run without samples (snapshots only, read-out groups asked for)
    a, b = json.load(open("ns1.json")), json.load(open(f"ns{k}.json"))
    a.pop("run"), b.pop("run")
    assert a == b, [key for key in a if a[key] != b.get(key)]
pt = {k: json.load(open(f"pt{k}.json")) for k in (1, 2, 3)}
assert abs(pt[1]["tempering"]["betas"][1] - 0.3 ** (1 / 3)) > 1e-4, "the ladder did not adapt from the geometric one"
for k in (2, 3):  # tempered: the same ladder, swaps, energies and snapshots
    a, b = dict(pt[1]), dict(pt[k])
    a.pop("run"), b.pop("run")
    assert a == b, f"tempered np {k} differs from np 1 in {[key for key in a if a[key] != b.get(key)]}"
assert all(a is not None and a > 0 for a in pt[1]["tempering"]["swap_acceptance"]) and pt[3]["run"]["ranks"] == 3, pt[1]["tempering"]
print("mpi.sample: np 2 and np 3 wrote what np 1 wrote (energies, snapshots, read-outs, moment sums; and tempered)")
PY
# More ranks than chains, and ranks given different configs (MPMD), fail with a clear message.
if mpi -np 3 "$PBIT" sample --topology pegasus:3 --config two_chains.json > err1.txt 2>&1; then echo "3 ranks for 2 chains passed"; exit 1; fi
grep -q "3 ranks for 2 chains" err1.txt || { cat err1.txt; exit 1; }
if mpi -np 1 "$PBIT" sample --topology pegasus:3 --config c.json : -np 1 "$PBIT" sample --topology pegasus:3 --config other.json \
    > err2.txt 2>&1; then echo "disagreeing ranks passed"; exit 1; fi
grep -q "the ranks disagree on the sampling config" err2.txt || { cat err2.txt; exit 1; }
# A rank that fails alone (its graph file is missing) ends the whole run instead of leaving the
# other rank waiting in a collective; and commands that are not sharded yet are refused.
rc=0
timeout 60 "$MPIRUN" --allow-run-as-root --oversubscribe -np 1 "$PBIT" sample --topology pegasus:3 --config c.json : \
  -np 1 "$PBIT" sample --graph missing.json --config c.json > err3.txt 2>&1 || rc=$?
[ "$rc" != 0 ] || { echo "a failing rank passed"; exit 1; }
[ "$rc" != 124 ] || { echo "a failing rank left the run hanging"; exit 1; }
grep -q "missing.json" err3.txt || { cat err3.txt; exit 1; }
# An unsharded command is refused with the command line: said once, by rank 0, exit code 2 without
# MPI_Abort (each rank said it, then MPI_Abort: helper-112).
rc=0
timeout 60 "$MPIRUN" --allow-run-as-root --oversubscribe -np 3 "$PBIT" graph --topology pegasus:2 --out unsharded.json > err4.txt 2>&1 || rc=$?
[ "$rc" = 2 ] || { echo "an unsharded command: exit code $rc"; cat err4.txt; exit 1; }
[ "$(grep -c "pbit: error: 'pbit graph' does not run over MPI ranks yet" err4.txt)" = 1 ] || { cat err4.txt; exit 1; }
! grep -q "MPI_ABORT\|(rank [12])" err4.txt || { cat err4.txt; exit 1; }
[ ! -e unsharded.json ] || { echo "an unsharded command ran"; exit 1; }
# A rank that runs alone (PBIT_NO_MPI=1 on it only) never starts MPI: the others, in MPI_Init, say so
# while they wait and give up after PBIT_MPI_START_S (they waited silently for ever: helper-112). (The lone
# rank stays a while: Open MPI ends a job whose process exits without MPI_Init beside ranks that
# called it, which would end this one before the wait.)
rc=0
PBIT_MPI_START_S=8 timeout 60 "$MPIRUN" --allow-run-as-root --oversubscribe -np 1 "$PBIT" sample --topology pegasus:3 --config c.json --out joined.json : \
  -np 1 env PBIT_NO_MPI=1 sh -c '"$0" sample --topology pegasus:3 --config c.json --out alone1.json; sleep 20' "$PBIT" > err11.txt 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || { echo "a rank that never joins: exit code $rc (124: the others hung)"; cat err11.txt; exit 1; }
grep -q "pbit: waiting 2 s in MPI_Init for the other processes of the job to start MPI: one run with PBIT_NO_MPI=1" err11.txt &&
  grep -q "pbit: error: the other processes of the job did not start MPI within 8 s (PBIT_MPI_START_S)" err11.txt || { cat err11.txt; exit 1; }
# The ranks read their command lines before anything runs and agree: a bad option on one rank ends
# the run (it left the other waiting in the config check's collective for ever, helper-97), each
# refused rank saying why; on every rank, it is said once; --help is printed once.
rc=0
timeout 60 "$MPIRUN" --allow-run-as-root --oversubscribe -np 1 "$PBIT" sample --topology pegasus:3 --config c.json --out bad.json : \
  -np 1 "$PBIT" sample --topology pegasus:3 --config c.json --bogus > err5.txt 2>&1 || rc=$?
[ "$rc" = 2 ] || { echo "a bad option on one rank: exit code $rc (124: it hung)"; cat err5.txt; exit 1; }
grep -q "pbit: error (rank 1): 'pbit sample' has no option --bogus" err5.txt || { cat err5.txt; exit 1; }
grep -q "the ranks' command lines disagree (1 refused, 0 asked for help or the version, 1 would run)" err5.txt || { cat err5.txt; exit 1; }
[ ! -e bad.json ] || { echo "rank 0 ran beside a refused rank"; exit 1; }
rc=0
timeout 60 "$MPIRUN" --allow-run-as-root --oversubscribe -np 3 "$PBIT" sample --topology pegasus:3 --config c.json --bogus > err6.txt 2>&1 || rc=$?
[ "$rc" = 2 ] || { echo "a bad option on every rank: exit code $rc"; cat err6.txt; exit 1; }
[ "$(grep -c "has no option --bogus" err6.txt)" = 1 ] || { cat err6.txt; exit 1; }
timeout 60 "$MPIRUN" --allow-run-as-root --oversubscribe -np 3 "$PBIT" sample --help > help3.txt 2> /dev/null  # (stdout: Open MPI may warn on stderr)
"$PBIT" sample --help > help1.txt
cmp help1.txt help3.txt || { echo "--help on 3 ranks is not printed once"; exit 1; }
# --version too (it was refused as a command that does not run over ranks); and ranks refused for
# different reasons each say theirs.
timeout 60 "$MPIRUN" --allow-run-as-root --oversubscribe -np 2 "$PBIT" --version > version2.txt 2> /dev/null || { echo "--version on 2 ranks failed"; exit 1; }
"$PBIT" --version > version1.txt
cmp version1.txt version2.txt || { echo "--version on 2 ranks is not printed once"; cat version2.txt; exit 1; }
rc=0
timeout 60 "$MPIRUN" --allow-run-as-root --oversubscribe -np 1 "$PBIT" sample --bogus : -np 1 "$PBIT" dbm --nope > err10.txt 2>&1 || rc=$?
[ "$rc" = 2 ] || { echo "differently refused ranks: exit code $rc"; cat err10.txt; exit 1; }
grep -q "pbit: error: 'pbit sample' has no option --bogus" err10.txt && grep -q "pbit: error (rank 1): 'pbit dbm' has no option --nope" err10.txt ||
  { cat err10.txt; exit 1; }
# Rank 0 alone builds the JSON output, so only rank 0 checks its memory: a rank with 1 MB to spare
# (less than the 2 MB output, more than its chains) refused a run it would not have written.
timeout 60 "$MPIRUN" --allow-run-as-root --oversubscribe -np 1 "$PBIT" sample --topology pegasus:3 --config c.json --out lean.json : \
  -np 1 env PBIT_MAX_MEMORY=1M "$PBIT" sample --topology pegasus:3 --config c.json --out lean.json > err7.txt 2>&1 || { cat err7.txt; exit 1; }
python3 -c 'import json; a, b = json.load(open("np1.json")), json.load(open("lean.json")); a.pop("run"), b.pop("run"); assert a == b'
# Processes that a launcher started but that cannot see each other (srun --mpi=none, a pbit built
# without MPI under mpirun) each run the whole run: said once, from two processes on (the fewest that
# write over each other), unless PBIT_NO_MPI=1 asked for it.
env -u PBIT_NO_MPI SLURM_STEP_NUM_TASKS=2 "$PBIT" sample --topology pegasus:3 --config c.json --out alone.json 2> err8.txt
grep -q "note: the launcher started 2 processes, but this one runs alone (no MPI in its environment" err8.txt || { cat err8.txt; exit 1; }
SLURM_STEP_NUM_TASKS=2 PBIT_NO_MPI=1 "$PBIT" sample --topology pegasus:3 --config c.json --out alone.json 2> err9.txt
! grep -q "the launcher started" err9.txt || { cat err9.txt; exit 1; }
echo "mpi.sample: bad use refused clearly, a rank failing alone ends the run"
# From Python, pbit.cli returns on every rank only once rank 0 has written the run's output: a script
# reads this run's file on every rank, not an earlier one (a rank that went on early read the stale
# file, or none).
PYDIR=$(dirname "$PBIT")/python
if [ -d "$PYDIR/pbit" ]; then
  for round in 1 2 3; do
    echo '{"stale": true}' > py.json
    PYTHONPATH="$PYDIR" mpi -np 2 python3 -c '
import json, os, pbit
pbit.cli("sample", "--topology", "pegasus:3", "--config", "c.json", "--out", "py.json")
got = json.load(open("py.json"))
assert "stale" not in got, "rank " + os.environ.get("OMPI_COMM_WORLD_RANK", "?") + " read the earlier file"
got.pop("run")
want = json.load(open("np1.json"))
want.pop("run")
assert got == want
' 2>py_err.txt || { cat py_err.txt; exit 1; }
  done
  echo "mpi.sample: pbit.cli under mpirun returns on every rank after rank 0 wrote the output"
  # A pbit that a rank starts as a child process runs as one process with PBIT_NO_MPI=1 (without it,
  # MPI_Init in the child ends it: it inherits the launcher's environment).
  PYTHONPATH="$PYDIR" mpi -np 2 python3 -c '
import json, os, subprocess, sys, pbit
pbit.cli("sample", "--topology", "pegasus:3", "--config", "c.json", "--out", "py.json")
rank = os.environ["OMPI_COMM_WORLD_RANK"]
out = "child_" + rank + ".json"
r = subprocess.run([sys.argv[1], "sample", "--topology", "pegasus:3", "--config", "c.json", "--out", out],
                   env=dict(os.environ, PBIT_NO_MPI="1"), capture_output=True, text=True)
assert r.returncode == 0, r.stderr
got = json.load(open(out))
assert got["run"]["ranks"] == 1, got["run"]
got.pop("run")
want = json.load(open("np1.json"))
want.pop("run")
assert got == want
' "$PBIT" 2>py_err.txt || { cat py_err.txt; exit 1; }
  echo "mpi.sample: a pbit started by a rank runs alone with PBIT_NO_MPI=1"
  # PBIT_NO_MPI=1 holds where MPI is already running in the process (mpi4py starts it at import; here
  # ctypes does): a pbit.cli call on rank 0 alone runs as one process. It joined the ranks'
  # collectives and waited for rank 1 for ever (helper-99).
  rc=0
  PYTHONPATH="$PYDIR" timeout 60 "$MPIRUN" --allow-run-as-root --oversubscribe -np 2 python3 -c '
import ctypes, ctypes.util, json, os
os.environ["PBIT_NO_MPI"] = "1"
mpi = ctypes.CDLL(ctypes.util.find_library("mpi"), mode=ctypes.RTLD_GLOBAL)
assert mpi.MPI_Init(None, None) == 0
import pbit
if os.environ["OMPI_COMM_WORLD_RANK"] == "0":
    pbit.cli("sample", "--topology", "pegasus:3", "--config", "c.json", "--out", "alone0.json")
    got = json.load(open("alone0.json"))
    assert got["run"]["ranks"] == 1, got["run"]
mpi.MPI_Finalize()
' 2>py_err.txt || rc=$?
  [ "$rc" = 0 ] || { echo "pbit.cli on rank 0 alone with PBIT_NO_MPI=1 under a running MPI: exit code $rc (124: it hung)"; cat py_err.txt; exit 1; }
  echo "mpi.sample: PBIT_NO_MPI=1 runs pbit.cli alone where MPI is already running (mpi4py)"
else
  echo "mpi.sample: no Python module beside $PBIT; pbit.cli under mpirun not checked"
fi
