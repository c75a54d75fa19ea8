#!/usr/bin/env bash
# A lucky session's device time in one call (issues 13 and 14; docs/BENCHMARKING.md, "A session with
# a device"): the kit where the code changed since it last passed on a GPU, its verdict, then the
# model jobs with work left, in priority order, each under its own deadline and all under the call's.
# One call, because a machine left idle for 30 s is given back and a fresh start costs minutes.
#
#   bash scripts/device_session.sh prepare [BUDGET_S] # here: everything before the call, then plan
#   bash scripts/device_session.sh plan [BUDGET_S]   # here: the device tool's run arguments (JSON)
#   bash scripts/device_session.sh run [JOB...]      # there: what plan printed (SESSION_S, KIT)
#   bash scripts/device_session.sh collect DIR       # here: the call's archives into bench/results
#   bash scripts/device_session.sh dry-run           # here and in CI: plan, run and collect on the CPU
#
# run's switches (plan sets them): SESSION_S, the seconds the whole command may take (the call's
# timeout_s less 40 s to pack and send back); KIT=1 runs the kit first (scripts/device_kit.sh run,
# at most KIT_DEADLINE_S, 260 s, or the whole call where the carried binaries do not load
# there and it builds them; KIT_SKIP as there, by default the measurement stages that only
# re-measure), and no job runs unless it passed. Everything comes back in $OUT: kit.tar.gz, one
# JOB.tar.gz per job (scripts/device_models.sh) and session.log.
set -uo pipefail
SELF=$(realpath "${BASH_SOURCE[0]}") CALLER_PWD=$PWD
cd "$(dirname "$SELF")/.." || exit 2
cmd=${1:-}
shift
# Seconds a job needs to be worth starting, and at most gets (dbm_golden: two slices at 4e5 sweeps,
# 54 s each on an H200). The training jobs reserve 90 s of theirs for the evaluation after training.
job_min() { case $1 in dbm_golden) echo 70 ;; *) echo 150 ;; esac; }
job_cap() { case $1 in dbm_golden) echo 130 ;; *) echo 100000 ;; esac; }
DEFAULT_KIT_SKIP="bench_v2 bench_teams bench_pdnn energy ncu thrml"
KIT_DEADLINE_S=${KIT_DEADLINE_S:-260}
usage() { sed -n '7,11p' "$SELF"; exit 2; }

# ---------------------------------------------------------------- prepare (here)
# Everything a session with a device does before its call, in one command (docs/BENCHMARKING.md,
# step 1): Debian's packages and the datasets, the jobs' data, the golden model (OPUS_GIT_DIR) and
# the carried kit (THRML_GIT_DIR for its thrml stage) as `device_models.sh prepare` makes them, the
# committed job states checked, then `plan BUDGET_S`. The carry must be this commit's: commit first.
if [ "$cmd" = prepare ]; then
  # (git status fails outside a work tree, where $(...) alone would read as a clean one)
  changes=$(git status --porcelain --untracked-files=no 2> /dev/null) ||
    { echo "prepare: not a git work tree (a kit is tied to the commit it was built from): run it in a clone"; exit 2; }
  [ -z "$changes" ] ||
    { echo "prepare: the tree has uncommitted changes; commit them first (a kit built from them never counts)"; exit 1; }
  for v in OPUS_GIT_DIR THRML_GIT_DIR; do
    case ${!v:-} in /* | "") ;; *) export "$v=$CALLER_PWD/${!v}" ;; esac  # (relative to where it was called)
    [ -z "${!v:-}" ] || git --git-dir="${!v}" rev-parse -q --verify HEAD > /dev/null 2>&1 ||
      { echo "prepare: $v='${!v}' is not a git dir (the fetch tool's .../repo)"; exit 2; }
  done
  [ -n "${OPUS_GIT_DIR:-}" ] || [ -f data/golden/model.json ] ||
    echo "prepare: no OPUS_GIT_DIR and no data/golden: dbm_golden waits (fetch OPUSLab/SparseDeepBoltzmannMachines)"
  t0=$SECONDS
  # (check-state runs this checkout's pbit, which device_models.sh prepare builds only with OPUS_GIT_DIR)
  bash scripts/install_deps.sh && bash scripts/get_datasets.sh && bash scripts/device_models.sh prepare &&
    { [ -x build/release/pbit ] || (source scripts/env.sh && cmake --preset release > /dev/null && cmake --build --preset release --target pbit_cli); } &&
    bash scripts/device_models.sh check-state || { echo "prepare: FAILED (above)"; exit 1; }
  echo "prepare: done in $((SECONDS - t0)) s; the plan:"
  exec bash "$SELF" plan "${1:-900}"
fi

# ---------------------------------------------------------------- plan (here)
# Whether the kit runs (PLAN_KIT=0/1 overrides `needed`), which jobs, and what to carry: the
# checkout, the carried kit (all of build/carry when the kit runs, its bin/ and lib/ otherwise), each
# job's data, thrml where its stage runs, the .deb for a build there if room is left. Jobs are taken
# in priority order while the call has time for them after the kit and the carry stays under the
# 64 MiB a call sends.
if [ "$cmd" = plan ]; then
  budget=${1:-900}
  [[ "$budget" =~ ^[0-9]+$ ]] || { echo "plan: BUDGET_S must be whole seconds (status's budget_left_s), not '$budget'"; exit 2; }
  if [ "${PLAN_ANY_CARRY:-0}" != 1 ]; then  # (the dry run plans with its own carry)
    why=$(bash scripts/device_kit.sh carry-current) ||
      { echo "plan: $why: run 'bash scripts/device_models.sh prepare' after committing (docs/BENCHMARKING.md)"; exit 1; }
  fi
  kit=${PLAN_KIT:-}
  if [ -z "$kit" ]; then
    needed=$(bash scripts/device_kit.sh needed)
    kit=0
    [[ "$needed" == "kit: needed"* ]] && kit=1
  fi
  # (read whole, not through a pipe or <(...): a failing pending or data must stop the plan, not
  # shrink it to the kit alone)
  pending=$(bash scripts/device_models.sh pending) || { echo "plan: 'device_models.sh pending' failed (above): a job's state is damaged"; exit 1; }
  data=()
  while IFS=: read -r job _; do
    [ -n "$job" ] || continue
    d=$(bash scripts/device_models.sh data "$job") || { echo "plan: 'device_models.sh data $job' failed: $d"; exit 1; }
    data+=("$job=$(job_min "$job")=$(job_cap "$job")=$d")
  done <<< "$pending"
  python3 - "$budget" "$kit" "${KIT_CARRY:-build/carry}" "${KIT_SKIP-$DEFAULT_KIT_SKIP}" "$KIT_DEADLINE_S" "${data[@]}" <<'PY'
import json, os, subprocess, sys
budget, kit, carry, skip, kit_s = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], sys.argv[4], int(sys.argv[5])
# each job as JOB=MIN=CAP=DATA: the seconds it needs and gets at most (job_min, job_cap), the data it reads
jobs_data = [(j, int(lo), int(cap), data.split()) for j, lo, cap, data in (a.split("=") for a in sys.argv[6:])]
MiB = 2**20
def size(p):
    if os.path.isfile(p):
        return os.path.getsize(p)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(p) for f in fs if not os.path.islink(os.path.join(d, f)))
tree = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True, check=True).stdout.decode().split("\0")
total = sum(size(f) for f in tree if f and os.path.isfile(f))
carried = [carry] if kit else [carry + "/bin", carry + "/lib"]
if kit and "thrml" not in skip.split() and os.path.isdir("third_party_ref/thrml"):
    carried.append("third_party_ref/thrml")
total += sum(size(p) for p in carried)
limit = 63 * MiB  # the call's 64 MiB, a MiB to spare
# The machine's start (1-2 min) and the call's return count against the budget: a call it cuts off
# brings nothing back.
timeout = min(600, budget - 150)
session = timeout - 40
left = session - (kit_s if kit else 0)
jobs, later = [], []
for j, lo, cap, data in jobs_data:
    need = [p for p in data if p not in carried]
    missing = [p for p in need if not os.path.isdir(p)]
    extra = sum(size(p) for p in need if os.path.isdir(p))
    if missing:
        later.append("%s: %s missing here (bash scripts/device_models.sh prepare%s)" % (j, " ".join(missing), ", with OPUS_GIT_DIR" if "data/golden" in missing else ""))
    elif total + extra > limit:
        later.append("%s: its data would take the carry to %.1f MiB, over %d" % (j, (total + extra) / MiB, limit // MiB))
    elif left < lo:
        later.append("%s: %d s left of the call%s, under the %d s it needs" % (j, max(left, 0), " after the kit" if kit else "", lo))
    else:
        jobs.append(j); carried += need; total += extra; left -= min(cap, left)
if kit and os.path.isdir("data/device/debs") and total + size("data/device/debs") <= limit:
    carried.append("data/device/debs"); total += size("data/device/debs")
if timeout < 120 or not (jobs or kit):
    print("plan: nothing to run (%s)" % ("%d s of budget: too little for a call" % budget if timeout < 120 else "no kit needed and no job that fits"))
    for w in later:
        print("#   " + w)
    sys.exit(1)
env = ["SESSION_S=%d" % session]
if kit:
    env += ["KIT=1", 'KIT_SKIP="%s"' % skip] + (["KIT_DEADLINE_S=%d" % kit_s] if kit_s != 260 else [])
command = " ".join(env + ["bash scripts/device_session.sh run"] + jobs)
for w in later:
    print("# left for a later call: " + w)
print("# the kit %s; jobs: %s; carry %.1f MiB of 64" % ("runs first" if kit else "is not needed", " ".join(jobs) or "none", total / MiB))
if kit and session < kit_s:
    print("# warning: %d s of call is under the kit's %d s deadline: its last stages may not run, and then it does not pass" % (session, kit_s))
print(json.dumps({"command": command, "carry": carried, "timeout_s": timeout}))
PY
  exit $?
fi

# ---------------------------------------------------------------- collect (here)
# The kit's archive into bench/results/gpu-<gpu>_<date of the run>/ (with a README of its verdict and
# summary), each job's with scripts/device_models.sh collect, session.log into
# bench/results/device_jobs/sessions/. Collecting the same files again rewrites the same folders;
# every archive is tried, and it exits 1 if one failed. BENCH_RESULTS: another results folder.
if [ "$cmd" = collect ]; then
  dir=${1:-}
  case $dir in /* | "") ;; *) dir=$CALLER_PWD/$dir ;; esac
  [ -d "$dir" ] || { echo "collect: no folder '${1:-}' (the device tool's files_at)"; exit 2; }
  results=${BENCH_RESULTS:-bench/results}
  n=0 fails=0
  if [ -f "$dir/session.log" ]; then
    stamp=$(sed -n '1s/^device session \([0-9TZ:-]*\):.*/\1/p' "$dir/session.log" | tr -d ':')
    mkdir -p "$results/device_jobs/sessions"
    cp "$dir/session.log" "$results/device_jobs/sessions/session_${stamp:-$(date -u +%Y%m%dT%H%M%SZ)}.log"
  fi
  if [ -f "$dir/kit.tar.gz" ]; then
    tmp=$(mktemp -d)
    if tar -xzf "$dir/kit.tar.gz" -C "$tmp" 2> /dev/null && [ -f "$tmp/kit/summary.md" ]; then
      # machine.txt begins with nvidia-smi's CSV where there was a GPU: "NVIDIA H200" gives gpu-h200
      name=$(awk -F, 'NR == 1 && $1 == "name" { getline; print $1 }' "$tmp/kit/machine.txt" 2>/dev/null)
      gpu=$(sed 's/^NVIDIA //; s/[^A-Za-z0-9]\+/-/g' <<< "$name" | tr 'A-Z' 'a-z')
      day=$(head -1 "$tmp/kit/summary.md" | grep -o '[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]' | head -1)
      base=$results/gpu-${gpu:-none}_${day:-$(date -u +%Y-%m-%d)}
      dst=$base k=2
      # a second kit run on the same day gets _2, ...; the same run collected again, its own folder
      while [ -e "$dst" ] && ! cmp -s "$dst/summary.md" "$tmp/kit/summary.md"; do dst=${base}_$k; k=$((k + 1)); done
      rm -rf "$dst" && mkdir -p "$dst" && cp -r "$tmp/kit/." "$dst/"
      verdict=$(bash scripts/device_kit.sh verdict "$dst")
      { echo "# The device kit on ${name:-no GPU}, ${day:-$(date -u +%Y-%m-%d)}"
        echo
        echo "\`bash scripts/device_session.sh run\` (docs/BENCHMARKING.md); $verdict."
        echo "\`report.md\` has the tables; \`summary.md\`, below, is what the call printed."
        echo
        cat "$dst/summary.md"; } > "$dst/README.md"
      echo "collected the kit into $dst: $verdict"
      n=$((n + 1))
    else
      echo "collect: $dir/kit.tar.gz is not a kit archive (or holds no summary.md)"; fails=$((fails + 1))
    fi
    rm -rf "$tmp"
  fi
  for a in "$dir"/*.tar.gz; do
    [ -f "$a" ] || continue
    job=$(basename "$a" .tar.gz)
    [ "$job" = kit ] && continue
    if RESULTS=$results/device_jobs bash scripts/device_models.sh collect "$job" "$a"; then n=$((n + 1)); else fails=$((fails + 1)); fi
  done
  [ $((n + fails)) -gt 0 ] || { echo "collect: no kit.tar.gz or JOB.tar.gz in $dir"; exit 2; }
  [ $fails -eq 0 ] || { echo "collect: $n archive(s) collected, $fails FAILED (above)"; exit 1; }
  echo "collect: $n archive(s); commit them"
  exit 0
fi

# ---------------------------------------------------------------- run (there)
if [ "$cmd" = run ]; then
  OUT=${OUT:-$PWD/out/session}
  SESSION_S=${SESSION_S:-540}
  [[ "$SESSION_S" =~ ^[0-9]+$ ]] || { echo "run: SESSION_S must be whole seconds"; exit 2; }
  for job in "$@"; do d=$(bash scripts/device_models.sh data "$job") || { echo "run: $d"; exit 2; }; done
  mkdir -p "$OUT"
  session() {
    echo "device session $(date -u +%Y-%m-%dT%H:%M:%SZ): $SESSION_S s; kit: ${KIT:-0}; jobs: ${*:-none}"
    if [ "${KIT:-0}" = 1 ]; then
      local kd=$((SESSION_S < KIT_DEADLINE_S ? SESSION_S : KIT_DEADLINE_S)) krc
      # Carried binaries that do not load here are built here from the carried .deb (device_kit.sh),
      # which takes most of the kit's deadline: the kit may then take the whole call, as no job
      # would run behind a kit that could not also run its tests; the jobs get what it leaves.
      # (A dry run's kit makes its own carry.)
      if [ "${KIT_MODE:-run}" != dry-run ] && ! timeout -k 2 20 "${KIT_CARRY:-build/carry}/bin/pbit" version > /dev/null 2>&1; then
        kd=$((SESSION_S - SECONDS > 60 ? SESSION_S - SECONDS : 60))  # (what is left of the call)
        echo "== the carried binaries do not load here: the kit builds them and may take the whole call"
      fi
      echo "== kit, deadline $kd s"
      # (the dry run runs the kit's dry-run: its own checks, on this machine's build)
      KIT_SKIP=${KIT_SKIP-$DEFAULT_KIT_SKIP} DEADLINE_S=$kd OUT=$OUT bash scripts/device_kit.sh "${KIT_MODE:-run}"
      krc=$?
      echo "== kit done at $SECONDS s (exit $krc)"
      bash scripts/device_kit.sh verdict "$OUT/kit.tar.gz" && [ $krc -eq 0 ] || { echo "device session: no model job runs on a kit that did not pass"; return 1; }
    fi
    local rc=0 job left d
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
  # (a pipe, not exec into tee: the log must be whole when the call returns)
  session "$@" 2>&1 | tee "$OUT/session.log"
  exit "${PIPESTATUS[0]}"
fi

# ---------------------------------------------------------------- dry-run (here, CI)
# plan, run and collect on this machine: the kit's dry run stands in for its run (KIT_FROM and
# KIT_CARRY as scripts/test.sh gives them), the jobs run tiny on the CPU (scripts/device_models.sh's
# dry-run mode) from an empty results folder; pending is read on made-up states; and a kit that
# does not pass must stop the jobs.
if [ "$cmd" = dry-run ]; then
  root=$(mktemp -d /tmp/pbit-session-dry.XXXX)
  trap 'rm -rf "$root"' EXIT
  export PBIT=${PBIT:-$PWD/build/release/pbit} DRY=1 DRY_BACKEND=cpu RESULTS=$root/results/device_jobs
  [ -x "$PBIT" ] || { echo "dry-run: build pbit first (bash scripts/test.sh)"; exit 2; }
  fail() { echo "device_session dry-run: FAILED: $*"; exit 1; }
  # (the kit forced: whether it is needed depends on the committed kit runs, and CI has no data/device)
  PLAN_ANY_CARRY=1 PLAN_KIT=1 KIT_CARRY=${KIT_CARRY:-build/carry} bash scripts/device_session.sh plan 900 > "$root/plan.txt" || fail "plan: $(cat "$root/plan.txt")"
  python3 -c "import json,sys; p=json.loads(open(sys.argv[1]).read().splitlines()[-1]); assert len(p['command']) <= 2000 and p['carry'] and 120 <= p['timeout_s'] <= 600 and 'KIT=1' in p['command']" "$root/plan.txt" ||
    fail "plan printed no usable run arguments: $(cat "$root/plan.txt")"
  # prepare refuses a copy outside a git work tree and a git dir that is not one, before any work
  mkdir -p "$root/nogit/scripts" && cp "$SELF" "$root/nogit/scripts/"
  (cd "$root/nogit" && bash scripts/device_session.sh prepare 900) > "$root/prep.txt" 2>&1
  [ $? = 2 ] && grep -q "^prepare: not a git work tree" "$root/prep.txt" || fail "prepare outside a work tree: $(cat "$root/prep.txt")"
  if [ -z "$(git status --porcelain --untracked-files=no 2> /dev/null)" ]; then  # (a tree with changes stops before the git dirs)
    OPUS_GIT_DIR=$root/nogit bash scripts/device_session.sh prepare 900 > "$root/prep.txt" 2>&1
    [ $? = 2 ] && grep -q "^prepare: OPUS_GIT_DIR=.* is not a git dir" "$root/prep.txt" || fail "prepare with a bad OPUS_GIT_DIR: $(cat "$root/prep.txt")"
  fi
  OUT=$root/out KIT=1 KIT_MODE=dry-run SESSION_S=500 bash scripts/device_session.sh run dbm_golden dbm_mnist > "$root/run.log" 2>&1 ||
    { tail -30 "$root/run.log"; fail "run"; }
  for f in kit dbm_golden dbm_mnist; do [ -s "$root/out/$f.tar.gz" ] || fail "no $f.tar.gz in \$OUT"; done
  grep -q "^kit: passed" "$root/out/session.log" || fail "session.log has no kit verdict"
  for k in 1 2; do  # twice: collecting the same files again rewrites the same folders
    BENCH_RESULTS=$root/results bash scripts/device_session.sh collect "$root/out" > "$root/collect.log" 2>&1 || { cat "$root/collect.log"; fail "collect"; }
  done
  [ "$(ls -d "$root"/results/gpu-* | wc -l)" = 1 ] && grep -q "kit: passed" "$root"/results/gpu-*/README.md || fail "collect: not one kit folder with its verdict"
  ls "$RESULTS"/sessions/session_*.log > /dev/null 2>&1 || fail "collect: no session log"
  for j in dbm_golden dbm_mnist; do [ -f "$RESULTS/$j/lease_1/lease.json" ] && [ ! -e "$RESULTS/$j/lease_2" ] || fail "collect: not one lease_1 of $j"; done
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
put(r + "/dbm_mnist/state/curve.json", [{"sweeps_per_image": b, "first_image": f, "test_images": 2500, "correct": 2000} for b in (1000, 10000, 100000) for f in range(0, 10000, 2500)])
for v in ("dtm4", "mebm", "dtm4_noacp", "dtm2", "dtm8"):
    put(r + "/dtm_g12/state/%s/leases.json" % v, [{"finished": True}])
    put(r + "/dtm_g12/lease_%d/%s/results.json" % (1 + (v == "dtm8"), v), {})  # (its results came back)
for f in ("mebm_s2000.done", "mebm_s32000.done"):
    open(r + "/dtm_g12/state/" + f, "w").close()
open(r + "/dtm_g12/state/compare.done", "w").write("2000 32000\n")
PY
  want=$'dbm_golden: 1 evaluation slice(s)\ndbm_fashion: 12 slice(s) of the accuracy against inference sweeps\ndbm_mnist_mix: training: 0 updates done'
  got=$(RESULTS=$root/pending bash scripts/device_models.sh pending)
  [ "$got" = "$want" ] || fail "device_models.sh pending said:"$'\n'"$got"$'\n'"not:"$'\n'"$want"
  # a MEBM budget added after the comparison was drawn: it is drawn again
  got=$(RESULTS=$root/pending MEBM_SWEEPS="2000 8000 32000" bash scripts/device_models.sh pending | grep dtm_g12)
  [ "$got" = "dtm_g12: the MEBM at 8000 sweeps" ] || fail "pending, a MEBM budget added, said: $got"
  touch "$root/pending/dtm_g12/state/mebm_s8000.done"
  got=$(RESULTS=$root/pending MEBM_SWEEPS="2000 8000 32000" bash scripts/device_models.sh pending | grep dtm_g12)
  [ "$got" = "dtm_g12: the comparison suite" ] || fail "pending, a MEBM budget added and run, said: $got"
  rm "$root/pending/dtm_g12/state/mebm_s8000.done"
  # a variant finished but without results (a call cut between the two): its lease is still to run
  mv "$root/pending/dtm_g12/lease_2" "$root/pending/dtm_g12/away_lease_2"
  got=$(RESULTS=$root/pending bash scripts/device_models.sh pending | grep dtm_g12)
  [ "$got" = "dtm_g12: the results of dtm8" ] || fail "pending, a finished variant without results, said: $got"
  mv "$root/pending/dtm_g12/away_lease_2" "$root/pending/dtm_g12/lease_2"
  # dbm_mnist at 92% after 1e5 sweeps per image in its sweep study: no dbm_mnist_mix
  python3 -c "import json,sys; json.dump([{'sweeps_per_image': b, 'first_image': f, 'test_images': 2500, 'correct': 2300 if b == 100000 else 2000} for b in (1000, 10000, 100000) for f in range(0, 10000, 2500)], open(sys.argv[1], 'w'))" \
    "$root/pending/dbm_mnist/state/curve.json"
  got=$(RESULTS=$root/pending bash scripts/device_models.sh pending)
  [ "$got" = "$(head -2 <<< "$want")" ] || fail "device_models.sh pending, dbm_mnist at 92% at 1e5 sweeps, said:"$'\n'"$got"
  # The verdict, the gate: the kit's archive with a test failed, or a correctness stage left out, is
  # refused; a measurement cut by the deadline is not a failure.
  mkdir -p "$root/verdict" && tar -xzf "$root/out/kit.tar.gz" -C "$root/verdict"
  s=$root/verdict/kit/summary.md
  cp "$s" "$s.ok"
  for row in "| test_exact | FAILED (exit 1) | 9 s |" "| sanitizer_memcheck_simple | NOT RUN: deadline | |" "| python_tests | TIMEOUT after 120 s | 120 s |"; do
    { cat "$s.ok"; echo "$row"; } > "$s"
    bash scripts/device_kit.sh verdict "$root/verdict/kit" > /dev/null && fail "the verdict passed a kit with '$row'"
  done
  { cat "$s.ok"; echo "| ncu_fast | TIMEOUT after 30 s | 30 s |"; } > "$s"
  bash scripts/device_kit.sh verdict "$root/verdict/kit" > /dev/null || fail "the verdict refused a kit whose ncu timed out"
  # A kit that did not pass runs no job: one that exited 1 (here: refused its input), and one that
  # exited 0 leaving an archive the verdict refuses (here: 'needed', which leaves $OUT as it is,
  # where the archive with a failed test lies).
  for gate in "KIT_SKIP=nonsense" "KIT_MODE=needed"; do
    rm -rf "$root/out" && mkdir -p "$root/out"
    { cat "$s.ok"; echo "| test_exact | FAILED (exit 1) | 9 s |"; } > "$s" && tar -czf "$root/out/kit.tar.gz" -C "$root/verdict" kit
    env OUT="$root/out" KIT=1 SESSION_S=500 "$gate" bash scripts/device_session.sh run dbm_golden > "$root/gate.log" 2>&1 && fail "a session whose kit failed ($gate) exited 0"
    grep -q "no model job runs on a kit that did not pass" "$root/gate.log" && [ ! -e "$root/out/dbm_golden.tar.gz" ] ||
      { tail -10 "$root/gate.log"; fail "a job ran after a kit that did not pass ($gate)"; }
  done
  # Carried binaries that do not load: the kit's deadline is the whole call ('needed' stands in for
  # the kit, which would build them here; it leaves no archive that passes, so no job runs).
  rm -rf "$root/out" && mkdir -p "$root/out"
  OUT=$root/out KIT=1 KIT_MODE=needed KIT_CARRY=$root/no_carry SESSION_S=500 bash scripts/device_session.sh run dbm_golden > "$root/noload.log" 2>&1 &&
    fail "a session whose carried binaries do not load exited 0"
  grep -qE "^== kit, deadline (4[89][0-9]|500) s" "$root/noload.log" && grep -q "do not load here" "$root/noload.log" && [ ! -e "$root/out/dbm_golden.tar.gz" ] ||
    { tail -10 "$root/noload.log"; fail "carried binaries that do not load did not give the kit the whole call"; }
  # and a carry that loads (the kit's dry run made it) keeps the kit's 260 s
  rm -rf "$root/out" && mkdir -p "$root/out"
  OUT=$root/out KIT=1 KIT_MODE=needed KIT_CARRY=${KIT_CARRY:-build/carry} SESSION_S=500 bash scripts/device_session.sh run dbm_golden > "$root/load.log" 2>&1
  grep -q "^== kit, deadline 260 s" "$root/load.log" && ! grep -q "do not load here" "$root/load.log" ||
    { tail -10 "$root/load.log"; fail "a carry that loads did not keep the kit's 260 s"; }
  out=$(bash scripts/device_session.sh run no_such_job 2>&1) && fail "run took an unknown job"
  grep -q "unknown job 'no_such_job'" <<< "$out" || fail "run did not name an unknown job: $out"
  grep "^device_kit dry-run\|^kit: \|^dry run: " "$root/run.log"
  echo "device_session dry-run: ok ($(sed -n 's/^# the kit/the kit/p' "$root/plan.txt"))"
  exit 0
fi
usage
