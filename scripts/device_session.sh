#!/usr/bin/env bash
# A lucky session's device time in one call (issues 13 and 14; docs/BENCHMARKING.md, "A session with
# a device"): the kit where the code changed since it last passed on a GPU, its verdict, then the
# model jobs with work left, in priority order, each under its own deadline and all under the call's.
# One call, because a machine left idle for 30 s is given back and a fresh start costs minutes.
#
#   bash scripts/device_session.sh plan [BUDGET_S]   # here: the device tool's run arguments (JSON)
#   bash scripts/device_session.sh run [JOB...]      # there: what plan printed (SESSION_S, KIT)
#   bash scripts/device_session.sh collect DIR       # here: the call's archives into bench/results
#   bash scripts/device_session.sh dry-run           # here and in CI: run and collect on the CPU
#
# run's switches (plan sets them): SESSION_S, the seconds the whole command may take (the call's
# timeout_s less 40 s to pack and send back); KIT=1 runs the kit first (scripts/device_kit.sh run,
# at most KIT_DEADLINE_S, 260 s; KIT_SKIP as there, by default the measurement stages that only
# re-measure), and no job runs unless it passed. Everything comes back in $OUT: kit.tar.gz, one
# JOB.tar.gz per job (scripts/device_models.sh) and session.log.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
cmd=${1:-}
shift
# Seconds a job needs to be worth starting, and at most gets (dbm_golden: two slices at 4e5 sweeps,
# 54 s each on an H200). The training jobs reserve 90 s of theirs for the evaluation after training.
job_min() { case $1 in dbm_golden) echo 70 ;; *) echo 150 ;; esac; }
job_cap() { case $1 in dbm_golden) echo 130 ;; *) echo 100000 ;; esac; }
job_data() { case $1 in dbm_golden) echo "data/device/mnist data/golden" ;; dbm_fashion | dtm_g12) echo data/device/fashion-mnist ;; *) echo data/device/mnist ;; esac; }
JOBS="dbm_golden dbm_mnist dbm_fashion dtm_g12 dbm_mnist_mix"  # scripts/device_models.sh's
DEFAULT_KIT_SKIP="bench_v2 bench_teams bench_pdnn energy ncu thrml"
usage() { sed -n '7,10p' "$0"; exit 2; }

# ---------------------------------------------------------------- plan (here)
# Which jobs, whether the kit, and what to carry: the checkout, the carried kit (all of build/carry
# when the kit runs, its bin/ and lib/ otherwise), each job's dataset, the .deb for a build there
# if room is left; jobs are taken in priority order while the whole stays under the 64 MiB a call
# carries (both datasets beside the kit do not fit: Fashion-MNIST's jobs wait for a later call).
if [ "$cmd" = plan ]; then
  budget=${1:-900}
  [[ "$budget" =~ ^[0-9]+$ ]] || { echo "plan: BUDGET_S must be whole seconds (status's budget_left_s), not '$budget'"; exit 2; }
  CARRY=${KIT_CARRY:-build/carry}
  if [ "${PLAN_ANY_CARRY:-0}" != 1 ]; then  # (the dry run plans with its own carry)
    [ -x "$CARRY/bin/pbit" ] && [ "$(head -1 "$CARRY/GIT_SHA" 2>/dev/null)" = "$(git rev-parse HEAD)" ] && ! grep -q uncommitted "$CARRY/GIT_SHA" ||
      { echo "plan: $CARRY is not the kit of this commit: commit, then run 'bash scripts/device_models.sh prepare' (docs/BENCHMARKING.md)"; exit 1; }
  fi
  kit=0
  bash scripts/device_kit.sh needed | head -1 | grep -q "^kit: needed" && kit=1
  mapfile -t pending < <(bash scripts/device_models.sh pending)
  data=()
  for p in "${pending[@]}"; do data+=("${p%%:*}=$(job_data "${p%%:*}")"); done
  python3 - "$budget" "$kit" "$CARRY" "${KIT_SKIP-$DEFAULT_KIT_SKIP}" "${data[@]}" <<'PY'
import json, os, subprocess, sys
budget, kit, carry, skip = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], sys.argv[4]
data = dict((a.split("=")[0], a.split("=")[1].split()) for a in sys.argv[5:])  # job: the data it reads
pending = list(data)
def size(p):
    if os.path.isfile(p):
        return os.path.getsize(p)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(p) for f in fs if not os.path.islink(os.path.join(d, f)))
tree = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True, check=True).stdout.decode().split("\0")
total = sum(size(f) for f in tree if f and os.path.isfile(f))
carried = [carry] if kit else [carry + "/bin", carry + "/lib"]
total += sum(size(p) for p in carried)
limit = 64 * 2**20 - 2**20  # a MiB to spare
jobs, why_not = [], []
for j in pending:
    need = [p for p in data[j] if p not in carried]
    missing = [p for p in need if not os.path.isdir(p)]
    extra = sum(size(p) for p in need if os.path.isdir(p))
    if missing:
        why_not.append("%s: %s missing here (bash scripts/device_models.sh prepare%s)" % (j, " ".join(missing), ", with OPUS_GIT_DIR" if "data/golden" in missing else ""))
    elif total + extra > limit:
        why_not.append("%s: its data would take the carry to %.1f MiB, over 64" % (j, (total + extra) / 2**20))
    else:
        jobs.append(j); carried += need; total += extra
if kit and os.path.isdir("data/device/debs") and total + size("data/device/debs") <= limit:
    carried.append("data/device/debs"); total += size("data/device/debs")
# The machine's start (1-2 min) and the call's return count against the budget: a call it cuts off
# brings nothing back.
timeout = min(600, budget - 150)
if timeout < 120 or not (jobs or kit):
    print("plan: nothing to run (%s)" % ("%d s of budget: too little for a call" % budget if timeout < 120 else "no kit needed and no job left"))
    sys.exit(1)
env = ["SESSION_S=%d" % (timeout - 40)] + (["KIT=1"] + (['KIT_SKIP="%s"' % skip] if skip else []) if kit else [])
command = " ".join(env + ["bash scripts/device_session.sh run"] + jobs)
for w in why_not:
    print("# left for a later call: " + w)
print("# the kit %s; jobs: %s; carry %.1f MiB of 64" % ("runs first" if kit else "is not needed", " ".join(jobs) or "none", total / 2**20))
print(json.dumps({"command": command, "carry": carried, "timeout_s": timeout}))
PY
  exit $?
fi

# ---------------------------------------------------------------- collect (here)
# The kit's archive into bench/results/gpu-<gpu>_<date>/ (with a README of its verdict and summary,
# and session.log), each job's with scripts/device_models.sh collect. BENCH_RESULTS: another results
# folder (the dry run's).
if [ "$cmd" = collect ]; then
  dir=${1:-}
  [ -d "$dir" ] || { echo "collect: no folder '$dir' (the device tool's files_at)"; exit 2; }
  results=${BENCH_RESULTS:-bench/results}
  n=0
  if [ -f "$dir/kit.tar.gz" ]; then
    tmp=$(mktemp -d)
    tar -xzf "$dir/kit.tar.gz" -C "$tmp" || { echo "collect: $dir/kit.tar.gz is not a kit archive"; exit 2; }
    # machine.txt begins with nvidia-smi's CSV where there was a GPU: "NVIDIA H200" gives gpu-h200
    name=$(awk -F, 'NR == 1 && $1 == "name" { getline; print $1 }' "$tmp/kit/machine.txt" 2>/dev/null)
    gpu=$(sed 's/^NVIDIA //; s/[^A-Za-z0-9]\+/-/g' <<< "$name" | tr 'A-Z' 'a-z')
    dst=$results/gpu-${gpu:-none}_$(date -u +%Y-%m-%d)
    k=2
    while [ -e "$dst" ]; do dst=$results/gpu-${gpu:-none}_$(date -u +%Y-%m-%d)_$k; k=$((k + 1)); done
    mkdir -p "$dst"
    cp -r "$tmp/kit/." "$dst/"
    [ -f "$dir/session.log" ] && cp "$dir/session.log" "$dst/"
    verdict=$(bash scripts/device_kit.sh verdict "$dst")
    { echo "# The device kit on ${name:-no GPU}, $(date -u +%Y-%m-%d)"
      echo
      echo "\`bash scripts/device_session.sh run\` (docs/BENCHMARKING.md); $verdict."
      echo "\`report.md\` has the tables; \`summary.md\`, below, is what the call printed."
      echo
      cat "$dst/summary.md" 2>/dev/null; } > "$dst/README.md"
    rm -rf "$tmp"
    echo "collected the kit into $dst: $verdict"
    n=$((n + 1))
  fi
  for a in "$dir"/*.tar.gz; do
    job=$(basename "$a" .tar.gz)
    [ "$job" = kit ] && continue
    RESULTS=$results/device_jobs bash scripts/device_models.sh collect "$job" "$a" || exit 1
    n=$((n + 1))
  done
  [ $n -gt 0 ] || { echo "collect: no kit.tar.gz or JOB.tar.gz in $dir"; exit 2; }
  echo "collect: $n archive(s); commit them"
  exit 0
fi

# ---------------------------------------------------------------- run (there)
if [ "$cmd" = run ]; then
  OUT=${OUT:-$PWD/out/session}
  SESSION_S=${SESSION_S:-540}
  [[ "$SESSION_S" =~ ^[0-9]+$ ]] || { echo "run: SESSION_S must be whole seconds"; exit 2; }
  for job in "$@"; do case " $JOBS " in *" $job "*) ;; *) echo "run: unknown job '$job' (jobs: $JOBS)"; exit 2 ;; esac; done
  mkdir -p "$OUT"
  # (a pipe, not exec into tee: the log must be whole when the call returns)
  session() {
    echo "device session: $SESSION_S s; kit: ${KIT:-0}; jobs: ${*:-none}"
    if [ "${KIT:-0}" = 1 ]; then
      kd=$((SESSION_S < ${KIT_DEADLINE_S:-260} ? SESSION_S : ${KIT_DEADLINE_S:-260}))
      # (the dry run runs the kit's dry-run: its own checks, on this machine's build)
      KIT_SKIP=${KIT_SKIP-$DEFAULT_KIT_SKIP} DEADLINE_S=$kd OUT=$OUT bash scripts/device_kit.sh "${KIT_MODE:-run}"
      krc=$?
      echo "== kit done at $SECONDS s (exit $krc)"
      bash scripts/device_kit.sh verdict "$OUT/kit.tar.gz" && [ $krc -eq 0 ] || { echo "device session: no model job runs on a kit that did not pass"; return 1; }
    fi
    rc=0
    for job in "$@"; do
      left=$((SESSION_S - SECONDS))
      d=$((left < $(job_cap "$job") ? left : $(job_cap "$job")))
      if [ "$d" -lt "$(job_min "$job")" ]; then echo "== $job: $left s left, under the $(job_min "$job") s it needs: for a later call"; continue; fi
      echo "== $job, deadline $d s (at $SECONDS s of $SESSION_S)"
      DEADLINE_S=$d OUT=$OUT bash scripts/device_models.sh run "$job" || { echo "== $job: FAILED"; rc=1; }
    done
    echo "device session done in $SECONDS s of $SESSION_S: $(cd "$OUT" && ls | tr '\n' ' ')"
    return $rc
  }
  session "$@" 2>&1 | tee "$OUT/session.log"
  exit "${PIPESTATUS[0]}"
fi

# ---------------------------------------------------------------- dry-run (here, CI)
# run and collect on this machine: the kit's dry run stands in for its run (KIT_FROM and KIT_CARRY
# as scripts/test.sh gives them), the jobs run tiny on the CPU (scripts/device_models.sh's dry-run
# mode) from an empty results folder; then a kit that does not pass must stop the jobs.
if [ "$cmd" = dry-run ]; then
  root=$(mktemp -d /tmp/pbit-session-dry.XXXX)
  trap 'rm -rf "$root"' EXIT
  export PBIT=${PBIT:-$PWD/build/release/pbit} DRY=1 DRY_BACKEND=cpu RESULTS=$root/results/device_jobs
  [ -x "$PBIT" ] || { echo "dry-run: build pbit first (bash scripts/test.sh)"; exit 2; }
  fail() { echo "device_session dry-run: FAILED: $*"; exit 1; }
  PLAN_ANY_CARRY=1 bash scripts/device_session.sh plan 900 > "$root/plan.txt" || fail "plan: $(cat "$root/plan.txt")"
  python3 -c "import json,sys; p=json.loads(open(sys.argv[1]).read().splitlines()[-1]); assert len(p['command']) <= 2000 and p['carry'] and 120 <= p['timeout_s'] <= 600" "$root/plan.txt" ||
    fail "plan printed no usable run arguments: $(cat "$root/plan.txt")"
  OUT=$root/out KIT=1 KIT_MODE=dry-run SESSION_S=500 bash scripts/device_session.sh run dbm_golden dbm_mnist > "$root/run.log" 2>&1 ||
    { tail -30 "$root/run.log"; fail "run"; }
  for f in kit dbm_golden dbm_mnist; do [ -s "$root/out/$f.tar.gz" ] || fail "no $f.tar.gz in \$OUT"; done
  grep -q "^kit: passed" "$root/out/session.log" || fail "session.log has no kit verdict"
  BENCH_RESULTS=$root/results bash scripts/device_session.sh collect "$root/out" > "$root/collect.log" 2>&1 || { cat "$root/collect.log"; fail "collect"; }
  ls "$root"/results/gpu-*/summary.md > /dev/null 2>&1 && grep -q "kit: passed" "$root"/results/gpu-*/README.md || fail "collect: no kit folder with its verdict"
  for j in dbm_golden dbm_mnist; do [ -f "$RESULTS/$j/lease_1/lease.json" ] || fail "collect: no lease_1 of $j"; done
  # pending reads the states: golden with one slice missing, dbm_mnist trained and measured short
  # of 90% (so dbm_mnist_mix's turn), dbm_fashion trained but not measured, dtm_g12 all done.
  python3 - "$root/pending" <<'PY'
import json, os, sys
def put(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True); json.dump(obj, open(path, "w"))
r = sys.argv[1]
put(r + "/dbm_golden/state/golden.json", [{"sweeps_per_image": b, "first_image": f} for b in (100000, 400000) for f in range(0, 10000, 2000)][1:])
for j in ("dbm_mnist", "dbm_fashion"):
    put(r + "/%s/state/leases.json" % j, [{"updates_to": 24000, "finished": True, "test_accuracy": 0.88}])
put(r + "/dbm_mnist/state/curve.json", [{"sweeps_per_image": b, "first_image": f} for b in (1000, 10000, 100000) for f in range(0, 10000, 2500)])
for v in ("dtm4", "mebm", "dtm4_noacp", "dtm2", "dtm8"):
    put(r + "/dtm_g12/state/%s/leases.json" % v, [{"finished": True}])
for f in ("mebm_s2000.done", "mebm_s32000.done", "compare.done"):
    open(r + "/dtm_g12/state/" + f, "w").close()
PY
  want=$'dbm_golden: 1 evaluation slice(s)\ndbm_fashion: 12 slice(s) of the accuracy against inference sweeps\ndbm_mnist_mix: training: 0 updates done'
  got=$(RESULTS=$root/pending bash scripts/device_models.sh pending)
  [ "$got" = "$want" ] || fail "device_models.sh pending said:"$'\n'"$got"$'\n'"not:"$'\n'"$want"
  # The gate: a kit that did not pass (here: refused its input) runs no job.
  rm -rf "$root/out"
  OUT=$root/out KIT=1 KIT_SKIP=nonsense SESSION_S=500 bash scripts/device_session.sh run dbm_golden > "$root/gate.log" 2>&1 && fail "a session whose kit failed exited 0"
  grep -q "no model job runs on a kit that did not pass" "$root/gate.log" && [ ! -e "$root/out/dbm_golden.tar.gz" ] ||
    { tail -10 "$root/gate.log"; fail "a job ran after a kit that did not pass"; }
  grep "^device_kit dry-run\|^kit: \|^dry run: " "$root/run.log"
  echo "device_session dry-run: ok ($(sed -n 's/^# the kit/the kit/p' "$root/plan.txt"))"
  exit 0
fi
usage
