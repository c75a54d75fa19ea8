#!/usr/bin/env bash
# The papers' model runs on a lent GPU, as jobs that fit one device call and continue across leases
# (issue 14; docs/BENCHMARKING.md, "Model runs on a GPU"):
#
#   bash scripts/device_models.sh prepare             # here: datasets, the golden model, the kit
#   bash scripts/device_models.sh run JOB             # on the device: one lease of JOB (DEADLINE_S, 330 s)
#   bash scripts/device_models.sh collect JOB ARCHIVE # here: the lease into bench/results/device_jobs/JOB
#   bash scripts/device_models.sh status              # here: where every job stands
#   bash scripts/device_models.sh dry-run [JOB...]    # here and in CI: each job, tiny, on the CPU, three leases (DRY_LEASES)
#   bash scripts/device_models.sh rehearse [JOB...]   # here and in CI: the same on the CUDA emulator's cuda backend
#   bash scripts/device_models.sh check-state [JOB...] # here and in CI: this pbit continues every committed state
#   bash scripts/device_models.sh pending             # here: the jobs with work left, in priority order
#   bash scripts/device_models.sh data JOB            # the data a call of JOB must carry
#
# Jobs, in priority order:
#   dbm_golden   the FPGA-trained DBM of Niazi et al. (data/golden/model.json, scripts/prepare_golden.py)
#                on all 10,000 MNIST test images at 1e5 and 4e5 sweeps per image, in slices
#   dbm_mnist    pbit's sparse DBM (configs/dbm_mnist_gpu.json) trained lease by lease, evaluated on all
#                10,000 test images after every lease; once trained, accuracy against inference sweeps
#                (1e3 .. 1e5) in slices
#   dbm_fashion  the same on Fashion-MNIST (configs/dbm_fashion_gpu.json)
#   dtm_g12      DTM on 70x70 G12, Fashion-MNIST: T = 4, MEBM, T = 4 without ACP, T = 2, T = 8, each
#                trained lease by lease; the MEBM then generates at other sweep budgets; finally the
#                comparison suite with these runs as its quality points and NVML energy
#   dbm_mnist_mix  if dbm_mnist stops short of 90%: configs/dbm_mnist_gpu_mix.json (10x the sweeps per
#                update on 1/4 of the chains), as dbm_mnist
#
# A job's state lives in bench/results/device_jobs/JOB/state (committed: model-only checkpoints of a
# few hundred KB, lease records, finished evaluation slices); `run` works on a copy and returns the new
# state with the lease's results in $OUT/JOB.tar.gz, and `collect` puts both back and redraws the
# time-to-accuracy plots. The device call: command "bash scripts/device_models.sh run JOB", carry
# ["build/carry/bin", "build/carry/lib", "data/device/<the job's dataset>", "data/golden"], timeout_s 400
# (docs/BENCHMARKING.md: all of data/device and build/carry would pass the 64 MiB a call carries).
set -uo pipefail
cmd=${1:-}
JOBS="dbm_golden dbm_mnist dbm_fashion dtm_g12 dbm_mnist_mix"
RESULTS=${RESULTS:-bench/results/device_jobs}
usage() { sed -n '2,13p' "$0"; exit 2; }
# dtm_g12's variants in training order: name, config, steps, ACP.
DTM_VARIANTS=("dtm4 dtm_fashion_gpu 4 on" "mebm mebm_fashion_gpu 1 on" "dtm4_noacp dtm_fashion_gpu 4 off"
              "dtm2 dtm_fashion_gpu 2 on" "dtm8 dtm_fashion_gpu 8 on")
dbm_config() { case $1 in dbm_mnist) echo configs/dbm_mnist_gpu.json ;; dbm_fashion) echo configs/dbm_fashion_gpu.json ;; *) echo configs/dbm_mnist_gpu_mix.json ;; esac; }
job_config() { case $1 in dbm_golden) echo configs/dbm_golden.json ;; dtm_g12) echo configs/dtm_fashion_gpu.json ;; *) dbm_config "$1" ;; esac; }
# finished DIR: the lease folder's last record (DIR/leases.json) says the run finished training.
finished() { python3 -c "import json,os,sys; p=os.path.join(sys.argv[1],'leases.json'); l=json.load(open(p)) if os.path.exists(p) else []; sys.exit(0 if l and l[-1].get('finished') else 1)" "$1"; }
# n_test CONFIG: the test images its evaluations cover (test_limit, or the whole test set: 10,000)
n_test() { python3 -c "import json,sys; c=json.load(open(sys.argv[1])); print(c.get('dataset',{}).get('test_limit',0) or 10000)" "$1"; }
# The evaluations on the whole test set (10,000 images), in slices that each finish or are redone:
# dbm_golden's budgets (sweeps per image), and the trained DBMs' accuracy against inference sweeps.
GOLDEN_BUDGETS="100000 400000" GOLDEN_SLICE=2000
CURVE_BUDGETS="1000 10000 100000" CURVE_SLICE=2500
# The trained MEBM's generation at other sweep budgets per sample (dtm_g12).
MEBM_SWEEPS=${MEBM_SWEEPS:-2000 32000}
valid_job() { case " $JOBS " in *" $1 "*) return 0 ;; esac; echo "unknown job '$1' (jobs: $JOBS)"; exit 2; }

# ---------------------------------------------------------------- here
if [ "$cmd" = prepare ]; then
  cd "$(dirname "$0")/.."
  # Each step's failure ends prepare with exit 1: it said "done" and the failure showed only later, as
  # a plan asking to run prepare again or as jobs moved to "missing here" (helper-119).
  bash scripts/prepare_device_data.sh || { echo "prepare: the device data failed (above)"; exit 1; }
  if [ -n "${OPUS_GIT_DIR:-}" ]; then
    [ -x build/release/pbit ] || { source scripts/env.sh; cmake --preset release > /dev/null && cmake --build --preset release --target pbit_cli; } ||
      { echo "prepare: building pbit for the golden model failed (above)"; exit 1; }
    /usr/bin/python3 scripts/prepare_golden.py --git-dir "$OPUS_GIT_DIR" --epoch 100 --out data/golden ||
      { echo "prepare: the golden model failed (above)"; exit 1; }
  else
    echo "golden model: set OPUS_GIT_DIR to a clone of github.com/OPUSLab/SparseDeepBoltzmannMachines to prepare data/golden"
  fi
  # The carried kit must be this commit's code, built from a clean tree: a stale carry would run old
  # code on the device while check-state checked this one.
  if ! bash scripts/device_kit.sh carry-current; then
    [ -z "$(git status --porcelain --untracked-files=no)" ] || echo "note: the tree has uncommitted changes: commit them before a device call"
    bash scripts/device_kit.sh build || { echo "prepare: the kit build failed (above)"; exit 1; }
  fi
  du -sh data/device data/golden build/carry 2>/dev/null
  exit 0
fi

if [ "$cmd" = collect ]; then
  job=${2:-}; archive=${3:-}
  valid_job "$job"
  [ -f "$archive" ] || { echo "collect: no archive '$archive'"; exit 2; }
  cd "$(dirname "$0")/.."
  tmp=$(mktemp -d)
  tar -xzf "$archive" -C "$tmp" || exit 2
  src=$tmp/$job
  [ -d "$src/state" ] || { echo "collect: the archive has no $job/state"; exit 2; }
  dst=$RESULTS/$job
  n=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['lease'])" "$src/lease.json" 2>/dev/null || echo x)
  [ "$n" = x ] && { echo "collect: the archive has no lease.json (the run did not get far)"; n=partial-$(date +%s); }
  mkdir -p "$dst"
  rm -rf "$dst/state" "$dst/lease_$n"
  # Each step checked: a collect that failed half-way said "collected" (helper-119).
  cp -r "$src/state" "$dst/state" || { echo "collect: copying $job's state failed"; exit 1; }
  find "$dst/state" -name '*.tmp*' -type f -delete  # a write the deadline cut: its file was never renamed into place
  mkdir -p "$dst/lease_$n"
  # The lease's outputs without what is large and reproducible: checkpoints, model files, configs.
  (cd "$src" && tar -cf - --exclude=./state --exclude='*.bin' --exclude='model.json' --exclude='standin*' --exclude='.pbit-lock' --exclude='*.tmp*' . ) | tar -xf - -C "$dst/lease_$n" ||
    { echo "collect: copying lease $n's outputs failed"; exit 1; }
  python3 scripts/device_report.py "$dst" || { echo "collect: $job's report failed (its files are in $dst; fix the report and rerun device_report.py)"; exit 1; }
  echo "collected lease $n of $job into $dst ($(du -sh "$dst" | cut -f1)); commit it"
  rm -rf "$tmp"
  exit 0
fi

# data JOB: what a device call of JOB carries besides the kit: the folder of its configs' dataset
# (scripts/prepare_device_data.sh names them as the configs do), and dbm_golden's model.
if [ "$cmd" = data ]; then
  cd "$(dirname "$0")/.."
  job=${2:-}
  valid_job "$job"
  config=$(job_config "$job")
  echo "data/device/$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['dataset']['name'])" "$config")$([ "$job" = dbm_golden ] && echo " data/golden")"
  exit 0
fi

# pending: the jobs that still have work, in priority order, one a line, with what is left (read from
# the committed states; scripts/device_session.sh plans a device call from it). dbm_mnist_mix is
# pending only once dbm_mnist is done short of 90%.
if [ "$cmd" = pending ]; then
  cd "$(dirname "$0")/.."
  tests=()
  for job in $JOBS; do tests+=("$job=$(n_test "$(job_config "$job")")"); done
  python3 - "$RESULTS" "$JOBS" "$GOLDEN_BUDGETS" "$GOLDEN_SLICE" "$CURVE_BUDGETS" "$CURVE_SLICE" "${DTM_VARIANTS[*]}" "$MEBM_SWEEPS" "${tests[*]}" <<'PY'
import glob, json, os, sys
results, jobs = sys.argv[1], sys.argv[2].split()
mebm_sweeps = sys.argv[8].split()
n_test = {j: int(n) for j, n in (a.split("=") for a in sys.argv[9].split())}  # as eval_units reads them
sys.path.insert(0, "scripts")
from device_report import units_table
golden = ([int(b) for b in sys.argv[3].split()], int(sys.argv[4]))
curve = ([int(b) for b in sys.argv[5].split()], int(sys.argv[6]))
variants = sys.argv[7].split()[0::4]  # "name config steps acp" each
def load(*p, default=None):
    p = os.path.join(results, *p)
    return json.load(open(p)) if os.path.exists(p) else default
def slices_left(name, job, spec):
    done = {(u["sweeps_per_image"], u["first_image"]) for u in load(job, "state", name + ".json", default=[])}
    budgets, slice_ = spec
    return sum((b, f) not in done for b in budgets for f in range(0, n_test[job], slice_))
def dbm_left(job):
    leases = load(job, "state", "leases.json", default=[])
    if not (leases and leases[-1].get("finished")):
        return "training: %d updates done" % (leases[-1]["updates_to"] if leases else 0)
    n = slices_left("curve", job, curve)
    return n and "%d slice(s) of the accuracy against inference sweeps" % n
def dtm_left(job):
    todo = [v for v in variants if not (load(job, "state", v, "leases.json", default=[]) or [{}])[-1].get("finished")]
    if todo:
        return "training: " + ", ".join(todo)
    # trained, but no results came back (a call cut between the two; variant_done in the script)
    todo = [v for v in variants if not glob.glob(os.path.join(results, job, "lease_*", v, "results.json"))]
    if todo:
        return "the results of " + ", ".join(todo)
    st = os.path.join(results, job, "state")
    todo = [s for s in mebm_sweeps if not os.path.exists(os.path.join(st, "mebm_s%s.done" % s))]
    if todo:
        return "the MEBM at %s sweeps" % " and ".join(todo)
    # compare.done names the MEBM budgets the comparison had: a budget added since redraws it
    cmp = os.path.join(st, "compare.done")
    had = open(cmp).read().split() if os.path.exists(cmp) else None
    return (had is None or not set(mebm_sweeps) <= set(had)) and "the comparison suite"
for job in jobs:
    if job == "dbm_golden":
        n = slices_left("golden", job, golden)
        left = n and "%d evaluation slice(s)" % n
    elif job == "dtm_g12":
        left = dtm_left(job)
    elif job == "dbm_mnist_mix":  # dbm_mnist's best: after a lease, or at a budget of its sweep study
        mnist = load("dbm_mnist", "state", "leases.json", default=[])
        best = max([l.get("test_accuracy") or 0 for l in mnist] or [0])
        _, by = units_table(load("dbm_mnist", "state", "curve.json", default=[]), "")
        best = max([best] + [b["correct"] / b["images"] for b in by.values() if b["images"]])
        left = not dbm_left("dbm_mnist") and best < 0.9 and dbm_left(job)
    else:
        left = dbm_left(job)
    if left:
        print("%s: %s" % (job, left))
PY
  exit $?
fi

if [ "$cmd" = status ]; then
  cd "$(dirname "$0")/.."
  for job in $JOBS; do
    # the README's heading, summary and tables, up to its "Leases:" line
    if [ -f "$RESULTS/$job/README.md" ]; then awk '{print} /^Leases:/ {exit}' "$RESULTS/$job/README.md"; echo; else echo "$job: no lease yet"; fi
  done
  exit 0
fi

# check-state: the committed state of every job (bench/results/device_jobs/JOB/state) is what the next
# lease continues from; a change to pbit that no longer reads it would only show on the device, a
# lease lost. This reads each checkpoint as the lease would (`--check`, on the reference backend:
# the backends train alike, so the checkpoints do not name one; it runs no sweeps, and the memory
# guard sizes it at a byte per spin) and rebuilds each job's report from its records. Seconds; no GPU.
if [ "$cmd" = check-state ]; then
  cd "$(dirname "$0")/.."
  shift
  PBIT=${PBIT:-$PWD/build/release/pbit}
  [ -x "$PBIT" ] || { echo "check-state: build pbit first (bash scripts/test.sh)"; exit 2; }
  for job in ${*:-$JOBS}; do valid_job "$job"; done
  tmp=$(mktemp -d /tmp/pbit-check-state.XXXX)
  trap 'rm -rf "$tmp"' EXIT
  fails=0 checked=0
  check() {  # check WHAT COMMAND...: one checkpoint, read as its lease would read it
    local what=$1
    shift
    checked=$((checked + 1))
    if out=$("$@" --backend reference --check 2>&1); then echo "check-state $what: ${out##*check: }"
    else echo "check-state $what: FAILED, the next lease could not continue it:"; echo "$out" | tail -5; fails=$((fails + 1)); fi
  }
  for job in ${*:-$JOBS}; do
    st=$RESULTS/$job/state
    [ -d "$st" ] || continue
    cp -r "$RESULTS/$job" "$tmp/$job"  # --check writes nothing; the copy is for the report
    case $job in
      dbm_mnist | dbm_fashion | dbm_mnist_mix)
        [ -f "$st/model_checkpoint.bin" ] && check "$job" "$PBIT" dbm train --config "$(dbm_config "$job")" --lease "$tmp/$job/state" --out "$tmp/out_$job" ;;
      dtm_g12)
        for v in "${DTM_VARIANTS[@]}"; do
          read -r name conf steps acp <<< "$v"
          [ -f "$st/$name/model_checkpoint.bin" ] || continue
          check "$job/$name" "$PBIT" dtm train --config "configs/$conf.json" --steps "$steps" --acp "$acp" --lease "$tmp/$job/state/$name" \
            --out "$tmp/out_$name"
        done ;;
    esac
    leases=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['leases'])" "$st/job.json" 2>/dev/null || echo 0)
    checked=$((checked + 1))
    if python3 scripts/device_report.py "$tmp/$job" > "$tmp/$job.report.log" 2>&1 && { [ "$leases" = 0 ] || python3 scripts/device_report.py --check "$leases" "$tmp/$job"; }; then
      echo "check-state $job: report rebuilt from $leases lease(s)"
    else
      echo "check-state $job: FAILED, the report cannot be rebuilt from its records:"; tail -5 "$tmp/$job.report.log"; fails=$((fails + 1))
    fi
  done
  [ $fails -eq 0 ] || { echo "device_models check-state: $fails of $checked FAILED"; exit 1; }
  echo "device_models check-state: ok ($checked checks)"
  exit 0
fi

# rehearse: the dry run with the cuda backend of the cuda-emu build (pbit's CUDA emulator,
# docs/TESTING.md), so the jobs' CUDA paths run as they will on the device, tiny.
if [ "$cmd" = rehearse ]; then
  cd "$(dirname "$0")/.."
  shift
  (source scripts/env.sh && cmake --preset cuda-emu > /dev/null && cmake --build --preset cuda-emu --target pbit_cli) > /tmp/pbit-models-rehearsal-build.log 2>&1 ||
    { tail -30 /tmp/pbit-models-rehearsal-build.log; echo "device_models rehearse: build failed"; exit 1; }
  PBIT=$PWD/build/cuda-emu/pbit DRY_BACKEND=cuda exec bash "$0" dry-run "$@"
fi

if [ "$cmd" = dry-run ]; then
  cd "$(dirname "$0")/.."
  shift
  jobs=${*:-$JOBS}
  root=$(mktemp -d /tmp/pbit-models-dry.XXXX)
  export PBIT=${PBIT:-$PWD/build/release/pbit} DRY=1 RESULTS=$root/results DRY_BACKEND=${DRY_BACKEND:-cpu}
  [ -x "$PBIT" ] || { echo "dry-run: build pbit first (bash scripts/test.sh)"; exit 2; }
  n_leases=${DRY_LEASES:-3}  # more (e.g. 12) to see a job past lease 9
  [[ "$n_leases" =~ ^[0-9]+$ ]] && n_leases=$((10#$n_leases)) && [ "$n_leases" -ge 3 ] ||
    { echo "dry-run: DRY_LEASES must be a whole number >= 3"; exit 2; }
  echo "device_models dry-run: $PBIT, backend $DRY_BACKEND, $n_leases leases"
  fails=0
  for job in $jobs; do
    valid_job "$job"
    t0=$SECONDS
    for lease in $(seq "$n_leases"); do  # each lease continues from the state the one before left
      rm -rf "$root/out"
      OUT=$root/out DEADLINE_S=${DRY_DEADLINE_S:-300} STATE_IN=$RESULTS/$job/state bash "$0" run "$job" > "$root/$job.$lease.log" 2>&1
      rc=$?
      if [ $rc -ne 0 ] || [ ! -f "$root/out/$job.tar.gz" ]; then
        echo "dry-run $job lease $lease: FAILED (exit $rc)"; tail -25 "$root/$job.$lease.log"; fails=$((fails + 1)); continue 2
      fi
      # Tiny phases must not need a second lease. The leases are split by --lease-seconds, never by
      # the deadline, which only catches a hang: a slow machine must not turn the check into a race.
      if grep -q -- "^-- .*: exit \(124\|137\) \|^== .*: skipped, no time left" "$root/$job.$lease.log"; then
        echo "dry-run $job lease $lease: a phase ran out of time"; grep -- "^-- " "$root/$job.$lease.log"; fails=$((fails + 1)); continue 2
      fi
      bash "$0" collect "$job" "$root/out/$job.tar.gz" >> "$root/$job.$lease.log" 2>&1 || {
        echo "dry-run $job: collect FAILED"; tail -25 "$root/$job.$lease.log"; fails=$((fails + 1)); continue 2; }
    done
    # grep reads the logs itself: `cat ... | grep -q` under pipefail fails whenever grep's early exit
    # reaches cat before cat has written everything (SIGPIPE, 141), which a CI run hit.
    if [ "$job" = dtm_g12 ] && ! grep -q -- "^-- compare: exit 0 " "$root"/dtm_g12.*.log; then
      echo "dry-run dtm_g12: the comparison suite did not run; what each lease did:"
      for lease in $(seq "$n_leases"); do echo "  lease $lease:"; grep -E "^(==|--|lease |a phase)" "$root/dtm_g12.$lease.log" | sed 's/^/    /'; done
      fails=$((fails + 1)); continue
    fi
    # The feature-FID's network came with the state: only the first call of all trained it.
    trained=$(grep -l "^feature net: epoch 1/" "$RESULTS"/dtm_g12/lease_*/logs/*.log 2>/dev/null | wc -l)
    if [ "$job" = dtm_g12 ] && [ "$trained" -ne 1 ]; then
      echo "dry-run dtm_g12: $trained calls trained the feature network (1 expected: the state keeps it):"
      grep -l "^feature net: epoch 1/" "$RESULTS"/dtm_g12/lease_*/logs/*.log
      fails=$((fails + 1)); continue
    fi
    # A comparison after the first takes the rows the state's journal kept.
    if [ "$job" = dtm_g12 ] && ! grep -q "rows measured before, not measured again" "$RESULTS/dtm_g12/lease_$n_leases/logs/compare.log"; then
      echo "dry-run dtm_g12: the last lease's comparison measured again what the journal held:"; grep "^compare:" "$RESULTS/dtm_g12/lease_$n_leases/logs/compare.log" | head -3
      fails=$((fails + 1)); continue
    fi
    # A journal the comparison refuses (here: of another kind of machine) is kept aside, not fatal to
    # every later lease: one more lease measures afresh.
    if [ "$job" = dtm_g12 ]; then
      j=$RESULTS/dtm_g12/state/compare_journal.json
      python3 -c "import json,sys; p=sys.argv[1]; j=json.load(open(p)); j['machine']['gpu']='no such GPU'; json.dump(j, open(p, 'w'))" "$j" &&
        rm -rf "$root/out" &&
        OUT=$root/out DEADLINE_S=${DRY_DEADLINE_S:-300} STATE_IN=$RESULTS/$job/state bash "$0" run "$job" > "$root/$job.refused.log" 2>&1
      if [ $? -ne 0 ] || ! grep -q "^compare: the journal was refused" "$root/$job.refused.log" || ! grep -q -- "^-- compare_afresh: exit 0 " "$root/$job.refused.log"; then
        echo "dry-run dtm_g12: a lease with a refused compare journal did not measure afresh:"; tail -25 "$root/$job.refused.log"
        fails=$((fails + 1)); continue
      fi
    fi
    # The third lease on trains nothing: its comparison must still find the five variants' results and
    # the MEBM at each of MEBM_SWEEPS' budgets in the leases collected before it.
    if [ "$job" = dtm_g12 ] && ! python3 -c "import json,os,sys; q=json.load(open(sys.argv[1]))['quality']; sys.exit(0 if len(q) == 5 + len(sys.argv[2].split()) and all(os.path.exists(x['results']) for x in q) else 1)" \
         "$RESULTS/dtm_g12/lease_$n_leases/compare_suite.json" "$MEBM_SWEEPS"; then
      echo "dry-run dtm_g12: the last lease's comparison did not find the earlier leases' results:"; cat "$RESULTS/dtm_g12/lease_$n_leases/compare_suite.json"
      fails=$((fails + 1)); continue
    fi
    if ! python3 scripts/device_report.py --check "$n_leases" "$RESULTS/$job"; then
      echo "dry-run $job: the leases did not continue one another"; fails=$((fails + 1)); continue
    fi
    # A call cut after the run was marked finished but before its outputs were written (pbit marks it
    # first): the next call has the finished lease write them again, training nothing.
    # (Only where the leases finished that run: on the emulator dbm_mnist's three leases do not.)
    lost=
    case $job in
      dtm_g12) finished "$RESULTS/dtm_g12/state/dtm8" && rm -f "$RESULTS"/dtm_g12/lease_*/dtm8/results.json && lost="dtm8/results.json" ;;
      dbm_mnist) finished "$RESULTS/dbm_mnist/state" && rm -f "$RESULTS/dbm_mnist/state/model.json" && lost="state/model.json" ;;
    esac
    if [ -z "$lost" ] && [ "$DRY_BACKEND" = cpu ] && { [ "$job" = dtm_g12 ] || [ "$job" = dbm_mnist ]; }; then
      echo "dry-run $job: its leases did not finish the run, so the check of lost outputs did not run"; fails=$((fails + 1)); continue
    fi
    if [ -n "$lost" ]; then
      rm -rf "$root/out"
      OUT=$root/out DEADLINE_S=${DRY_DEADLINE_S:-300} STATE_IN=$RESULTS/$job/state bash "$0" run "$job" > "$root/$job.lost.log" 2>&1
      rc=$?
      tar -tzf "$root/out/$job.tar.gz" > "$root/$job.lost.files" 2>&1  # (not piped into grep -q: see above)
      if [ $rc -ne 0 ] || ! grep -q "/$lost\$" "$root/$job.lost.files" || grep -q "^lease [0-9]*: continuing" "$root/$job.lost.log"; then
        echo "dry-run $job: a finished run whose $lost was lost did not write it again:"; tail -25 "$root/$job.lost.log"
        fails=$((fails + 1)); continue
      fi
    fi
    echo "dry-run $job: ok, $n_leases leases in $((SECONDS - t0)) s ($(ls "$RESULTS/$job" | tr '\n' ' '))"
  done
  [ $fails -eq 0 ] || { echo "device_models dry-run: $fails job(s) FAILED (logs in $root)"; exit 1; }
  [ -n "${KEEP_DRY:-}" ] && echo "kept $root" || rm -rf "$root"
  echo "device_models dry-run: ok"
  exit 0
fi

[ "$cmd" = run ] || usage
job=${2:-}
valid_job "$job"

# ---------------------------------------------------------------- there (run)
DEVICE_JOB=$job
source "$(dirname "$0")/device_common.sh"
case $RESULTS in /*) ;; *) RESULTS=$ROOT/$RESULTS ;; esac  # absolute: the dry run's already is
STATE_IN=${STATE_IN:-$RESULTS/$job/state}
DRY=${DRY:-0}
mkdir -p "$STAGE/state"
[ -d "$STATE_IN" ] && cp -r "$STATE_IN/." "$STAGE/state/"
echo "job $job, lease state from $STATE_IN ($(ls "$STAGE/state" | wc -l) files), deadline $DEADLINE_S s, $PBIT"
timeout -k 2 30 "$PBIT" backends | tee "$STAGE/backends.txt"  # a hung driver must not take the call
if [ "$DRY" != 1 ] && ! grep -q "^cuda: compiled, available" "$STAGE/backends.txt"; then
  echo "no usable GPU: run the device kit first"; exit 1
fi
export PBIT_CUDA_KERNEL=${PBIT_CUDA_KERNEL:-auto}

# cfg SRC: the config this lease uses. In a dry run, the job's real config made tiny (the DRY_BACKEND
# backend, cpu unless rehearsing; a few hundred images, few sweeps), so the dry run exercises the same
# keys and code paths.
cfg() {
  local src=$1 dst=$STAGE/config_$(basename "$1")
  python3 - "$src" "$dst" "$DRY" "${DRY_BACKEND:-cpu}" <<'PY'
import json, sys
src, dst, dry = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
c = json.load(open(src))
if dry:
    c.setdefault("run", {})["backend"] = sys.argv[4]
    t = c.get("train")
    if not (t and "acp" in t):  # the DTM config has no test_limit
        c.setdefault("dataset", {}).update({"train_limit": 2000, "test_limit": 300})
    if t and "negative" in t and "acp" not in t:  # DBM
        c["graph"]["topology"] = "pegasus:6"
        c["dataset"].update({"pool": 2, "train_limit": 4000})
        t.update({"epochs": 2, "checkpoint_every_batches": 0, "eval_images_per_epoch": 50})
        t["positive"].update({"chains": 1, "warmup": 2, "samples": 2, "steps_per_sample": 2})
        t["negative"].update({"chains": 128, "samples": 4, "steps_per_sample": 2})
        c["eval"].update({"chains": 1, "warmup": 10, "samples": 5, "steps_per_sample": 2, "batch_images": 300})
        c.setdefault("generate", {}).update({"per_class": 2, "sweeps_per_beta": 2})
    elif t:  # DTM
        c["dataset"].update({"pool": 2, "train_limit": 400})
        c["model"]["topology"] = "grid:28:G12"
        t.update({"epochs": 2, "batch_size": 50})
        t["positive"].update({"warmup": 4, "samples": 2, "steps_per_sample": 2})
        t["negative"].update({"warmup": 4, "samples": 2, "steps_per_sample": 2})
        t["acp"]["chains"] = 16
        c["generate"].update({"sweeps": 6, "samples": 64})
    else:  # evaluation only (dbm_golden; its stand-in model is the dry run's 14x14 DBM)
        c["dataset"]["pool"] = 2
        c["eval"].update({"batch_images": 100, "steps_per_sample": 5})
    if sys.argv[4] == "cuda":  # rehearsing on the CUDA emulator (some 0.02 flips/ns): smaller still
        if t and "negative" in t and "acp" not in t:
            c["dataset"].update({"train_limit": 100, "test_limit": 60})
            t.update({"eval_images_per_epoch": 20})
            t["negative"]["chains"] = 32
            c["eval"]["batch_images"] = 60
        elif t:
            c["dataset"].update({"train_limit": 50, "pool": 4})
            c["model"]["topology"] = "grid:12:G12"  # 144 nodes, room for the 7x7 image on the data color
            t["acp"]["chains"] = 8
            c["generate"]["samples"] = 16
json.dump(c, open(dst, "w"), indent=1)
PY
  echo "$dst"
}

# lease_record N: the lease number and what it did, read by collect.
lease_note() { python3 -c "import json,sys; json.dump({'lease': int(sys.argv[1]), 'job': sys.argv[2], 'deadline_s': int(sys.argv[3])}, open(sys.argv[4], 'w'))" "$1" "$job" "$DEADLINE_S" "$STAGE/lease.json"; }
next_lease() { python3 -c "import json,os,sys; p=os.path.join(sys.argv[1], 'job.json'); d=json.load(open(p)) if os.path.exists(p) else {'leases': 0}; print(d['leases'] + 1)" "$STAGE/state"; }
bump_lease() { python3 -c "import json,os,sys; p=os.path.join(sys.argv[1], 'job.json'); d=json.load(open(p)) if os.path.exists(p) else {'leases': 0}; d['leases'] += 1; json.dump(d, open(p, 'w'), indent=1)" "$STAGE/state"; }
LEASE=$(next_lease)
lease_note "$LEASE"
bump_lease
pack_stage

# variant_done NAME: dtm_g12's variant trained (its lease record says finished) and its results.json
# written, in this call or a collected lease. pbit marks the run finished before it generates and
# writes results.json, so a call cut in between left a finished variant without results, which the
# comparison then left out: its lease runs again, training nothing, and writes them.
variant_done() {
  finished "$STAGE/state/$1" &&
    { [ -f "$STAGE/$1/results.json" ] || compgen -G "$RESULTS/dtm_g12/lease_*/$1/results.json" > /dev/null; }
}

# failed RC: 0 when a phase ended well or was cut by the deadline (the next lease goes on from the
# state), 1 when it failed (bad input, a crash): the job then exits 1.
failed() {
  case $1 in
    0 | 75 | 124 | 137) return 0 ;;  # ended, skipped for lack of time (phase), or cut by the deadline
    *) echo "a phase FAILED with exit $1 (its log is in logs/)"; return 1 ;;
  esac
}

# eval_units NAME CONFIG MODEL CHAINS "S1 S2 ..." SLICE: accuracy against inference sweeps on the whole
# test set, in slices of SLICE images that each finish or are redone; finished slices go to
# state/NAME.json and add up to the accuracy at each budget. A slice that the last one finished in
# this lease says would not finish in the time left (its time per image, scaled by the sweeps per
# image) is left for the next lease, so that the session's next job gets that time rather than a
# slice cut at the deadline.
eval_units() {
  local name=$1 config=$2 model=$3 chains=$4 budgets=$5 slice=$6
  local n_images t0 est last_s=0 last_us=0  # the last finished slice's sweeps per image and us per image
  n_images=$(n_test "$config")
  for s in $budgets; do
    for ((first = 0; first < n_images; first += slice)); do
      if python3 - "$STAGE/state/$name.json" "$s" "$first" <<'PY'; then continue; fi
import json, os, sys
p, s, f = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
done = json.load(open(p)) if os.path.exists(p) else []
sys.exit(0 if any(u["sweeps_per_image"] == s and u["first_image"] == f for u in done) else 1)
PY
      local lim=$((n_images - first < slice ? n_images - first : slice)) part=$STAGE/${name}_${s}_$first.json
      if [ "$last_s" -gt 0 ]; then
        est=$(( (last_us * lim * s / last_s + 999999) / 1000000 ))
        if [ "$(left)" -lt $((est + est / 10 + 5)) ]; then
          echo "== ${name}_${s}_$first: $(left) s left, under the $est s (+10% +5 s) that the last slice, $((last_us * lim / 1000000)) s at $last_s sweeps, gives it: for the next lease"
          return 0
        fi
      fi
      t0=$SECONDS
      phase "${name}_${s}_$first" 100000 "$PBIT" dbm eval --config "$config" --model "$model" --chains "$chains" --first "$first" \
        --limit "$lim" --sweeps "$s" --out "$part"
      local rc=$?
      if [ $rc -ne 0 ]; then
        failed $rc && echo "slice ${s}/${first} not finished in this lease: the next lease redoes it"
        return $?
      fi
      python3 - "$STAGE/state/$name.json" "$part" <<'PY'
import json, os, sys
p, part = sys.argv[1], sys.argv[2]
done = json.load(open(p)) if os.path.exists(p) else []
done += json.load(open(part))["curve"]
json.dump(done, open(p + ".tmp", "w"), indent=1)
os.replace(p + ".tmp", p)
PY
      rm -f "$part"
      last_s=$s last_us=$(( (SECONDS - t0) * 1000000 / lim ))
      pack_stage
    done
  done
  return 0
}

# dbm_lease CONFIG: one lease of training, then the evaluation and generation `dbm train` does; once
# the run is trained, the accuracy against inference sweeps.
dbm_lease() {
  local config
  config=$(cfg "$1")
  if ! finished "$STAGE/state"; then
    # Training gets what the call has left less the evaluation and generation that follow (about
    # 60 s on a GPU at 10,000 sweeps per test image; a dry run's are tiny).
    local reserve=${EVAL_RESERVE_S:-90}
    local lease_s=$(( $(left) - reserve ))
    if [ "$DRY" = 1 ]; then
      lease_s=0.15  # a dry run's training takes about 0.3 s: split it
    elif [ "$lease_s" -lt 10 ]; then
      echo "not enough time left for a lease"; return 1
    fi
    PHASE_TAIL=12 phase train $(( $(left) - 5 )) "$PBIT" dbm train --config "$config" --lease "$STAGE/state" \
      --lease-seconds "$lease_s" --out "$STAGE/run" ${BURN_IN:+--burn-in "$BURN_IN"}
    local rc=$?  # (a lease writes its checkpoints into the state folder only: nothing large to leave behind)
    failed "$rc"
    return $?
  fi
  echo "training finished in an earlier lease: accuracy against inference sweeps"
  local model="$STAGE/state/model.json"
  [ -f "$model" ] || cp "$RESULTS/$job/state/model.json" "$model" 2>/dev/null
  if [ ! -f "$model" ]; then
    # pbit marks the run finished (its last checkpoint) before it writes model.json: a call cut in
    # between kept no model. A finished lease trains nothing and writes its outputs again.
    echo "no model.json kept from the lease that finished training: that lease writes it again (no training)"
    PHASE_TAIL=12 phase train $(( $(left) - 5 )) "$PBIT" dbm train --config "$config" --lease "$STAGE/state" --out "$STAGE/run"
    failed $? || return 1
    [ -f "$STAGE/run/model.json" ] && cp "$STAGE/run/model.json" "$model"
  fi
  [ -f "$model" ] || { echo "no model.json in the state"; return 1; }
  local budgets=$CURVE_BUDGETS slice=$CURVE_SLICE
  [ "$DRY" = 1 ] && budgets="40 200" && slice=150
  eval_units curve "$config" "$model" 2 "$budgets" "$slice"
}

case $job in
  dbm_golden)
    model=${GOLDEN_MODEL:-$ROOT/data/golden/model.json}
    budgets=$GOLDEN_BUDGETS
    slice=$GOLDEN_SLICE
    if [ "$DRY" = 1 ]; then  # no GPL weights here: a tiny trained model stands in
      model=$STAGE/standin_model.json
      "$PBIT" dbm train --overwrite --config "$(DRY_BACKEND=cpu cfg "$ROOT/configs/dbm_mnist_gpu.json")" --out "$STAGE/standin" > "$STAGE/standin.log" 2>&1 \
        && cp "$STAGE/standin/model.json" "$model"
      budgets="40 200"
      slice=120
    fi
    [ -f "$model" ] || { echo "no golden model at $model: run scripts/device_models.sh prepare with OPUS_GIT_DIR, carry data/golden"; exit 1; }
    eval_units golden "$(cfg "$ROOT/configs/dbm_golden.json")" "$model" 1 "$budgets" "$slice" || exit 1
    ;;
  dbm_mnist | dbm_fashion | dbm_mnist_mix)
    dbm_lease "$ROOT/$(dbm_config "$job")" || exit 1
    # The model file (2.4 MB) joins the state only once training is over: the curve needs it.
    if [ -f "$STAGE/run/model.json" ] && finished "$STAGE/state"; then
      cp "$STAGE/run/model.json" "$STAGE/state/model.json"
    fi
    ;;
  dtm_g12)
    # The feature-FID's network (trained on the whole training set, some 10 s a call) is kept in the
    # state, so that no lease after the first trains it again.
    export PBIT_CACHE_DIR=$STAGE/state/cache
    # Variants in order; each lease trains the first unfinished one, and goes on to the next while
    # at least a third of the call is left.
    for v in "${DTM_VARIANTS[@]}"; do
      read -r name conf steps acp <<< "$v"
      st=$STAGE/state/$name
      mkdir -p "$st"
      variant_done "$name" && continue  # (finished but without results: the lease writes them, training nothing)
      # A dry run trains one epoch of every unfinished variant per lease whatever the time, so
      # whether its three leases reach the comparison suite does not depend on the machine's speed.
      [ "$DRY" != 1 ] && [ "$(left)" -lt $((DEADLINE_S / 3)) ] && break
      config=$(cfg "$ROOT/configs/$conf.json")
      lease_s=$(( $(left) - ${GEN_RESERVE_S:-60} ))
      [ "$DRY" = 1 ] && lease_s=0.05  # one epoch per lease
      PHASE_TAIL=6 phase "$name" $(( $(left) - 5 )) "$PBIT" dtm train --config "$config" --steps "$steps" --acp "$acp" \
        --lease "$st" --lease-seconds "$lease_s" --out "$STAGE/$name"
      rc=$?
      failed $rc || exit 1
    done
    # The MEBM at other sweep budgets, once trained; then the comparison suite with these runs.
    if finished "$STAGE/state/mebm"; then
      for s in $MEBM_SWEEPS; do
        [ "$DRY" = 1 ] && s=$((s / 500))
        [ -f "$STAGE/state/mebm_s$s.done" ] && continue
        config=$(cfg "$ROOT/configs/mebm_fashion_gpu.json")
        cp -r "$STAGE/state/mebm" "$STAGE/mebm_s${s}_state"
        phase "mebm_s$s" 200 "$PBIT" dtm train --config "$config" --steps 1 --acp on --lease "$STAGE/mebm_s${s}_state" \
          --gen-sweeps "$s" --out "$STAGE/mebm_s$s"
        rc=$?
        [ $rc -eq 0 ] && touch "$STAGE/state/mebm_s$s.done"
        failed $rc || exit 1
        rm -rf "$STAGE/mebm_s${s}_state"
      done
    fi
    all_done=1
    for name in dtm4 mebm dtm4_noacp dtm2 dtm8; do
      variant_done "$name" || all_done=0
    done
    if [ $all_done = 1 ]; then
      python3 - "$RESULTS/dtm_g12" "$STAGE" "$DRY" "${DRY_BACKEND:-cpu}" > "$STAGE/compare_suite.json" <<'PY'
import glob, json, os, sys
sys.path.insert(0, "scripts")
from device_report import lease_dirs
# The newest results of each variant: this lease's, else the last collected one.
results, stage = sys.argv[1], sys.argv[2]
suite = json.load(open("configs/compare_device.json"))
if sys.argv[3] == "1":  # a dry run: the same workloads, tiny
    suite.update({"backends": [sys.argv[4]], "chains": [4, 32], "min_seconds": 0.2, "idle_seconds": 0.2})
    for w in suite["workloads"]:
        if "sweeps_per_sample" in w:
            w["sweeps_per_sample"] = max(2, w["sweeps_per_sample"] // 50)
labels = {"dtm4": "DTM T=4 + ACP", "dtm2": "DTM T=2 + ACP", "dtm8": "DTM T=8 + ACP", "dtm4_noacp": "DTM T=4, no ACP", "mebm": "MEBM"}
quality = []
# the MEBM at other sweep budgets, run in this lease or an earlier one
budgets = sorted({os.path.basename(p) for p in glob.glob(os.path.join(stage, "mebm_s*")) + glob.glob(os.path.join(results, "lease_*", "mebm_s*"))
                  if os.path.basename(p)[6:].isdigit()}, key=lambda d: int(d[6:]))
for d, label in list(labels.items()) + [(d, "MEBM, %s sweeps" % d[6:]) for d in budgets]:
    # newest lease first, by number: lease_10 before lease_9
    cands = [os.path.join(stage, d, "results.json")] + [os.path.join(l, d, "results.json") for l in reversed(lease_dirs(results, numbered_only=True))]
    for p in cands:
        if os.path.exists(p):
            quality.append({"label": label, "results": p})
            break
suite["quality"] = quality
suite["output_dir"] = os.path.join(stage, "compare")
print(json.dumps(suite, indent=1))
PY
      # The journal keeps each measured row in the state: a comparison the deadline cuts goes on in
      # the next lease from its last row (and a later lease only redraws it with newer quality runs).
      journal=$STAGE/state/compare_journal.json
      phase compare 300 "$PBIT" compare --suite "$STAGE/compare_suite.json" --out "$STAGE/compare" --journal "$journal"
      rc=$?
      # A journal pbit refuses (a changed suite, another build type or kind of machine, a damaged row)
      # would fail every later lease the same way: it is kept aside and the comparison measured afresh.
      if [ $rc -eq 2 ] && grep -qF -- "--journal $journal: " "$STAGE/logs/compare.log"; then
        aside=$STAGE/state/compare_journal.refused.$(date -u +%Y%m%dT%H%M%SZ).json
        mv "$journal" "$aside"
        echo "compare: the journal was refused (above); kept as $aside, measuring afresh"
        phase compare_afresh 300 "$PBIT" compare --suite "$STAGE/compare_suite.json" --out "$STAGE/compare" --journal "$journal"
        rc=$?
      fi
      failed $rc || exit 1
      [ $rc -eq 0 ] && echo "$MEBM_SWEEPS" > "$STAGE/state/compare.done"
    fi
    ;;
esac
echo "lease $LEASE of $job done in $SECONDS s"
pack_stage
exit 0
