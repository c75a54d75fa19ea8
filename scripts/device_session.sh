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
  # check-state runs the carried pbit, the one the device will run (it ran build/release's, which
  # prepare builds only when missing: another commit's, maybe: helper-119); x86-64-v3 runs here.
  bash scripts/install_deps.sh && bash scripts/get_datasets.sh && bash scripts/device_models.sh prepare &&
    PBIT=$(realpath -m "${KIT_CARRY:-build/carry}")/bin/pbit bash scripts/device_models.sh check-state || { echo "prepare: FAILED (above)"; exit 1; }
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
    # The call's command runs the kit from build/carry: another KIT_CARRY would be carried and not
    # found there, and the jobs would find no pbit (helper-119).
    [ "$(realpath -m "${KIT_CARRY:-build/carry}")" = "$(realpath -m build/carry)" ] ||
      { echo "plan: KIT_CARRY=$KIT_CARRY is not build/carry, the folder the device call runs the kit from: unset it"; exit 2; }
    why=$(bash scripts/device_kit.sh carry-current) ||
      { echo "plan: $why: run 'bash scripts/device_models.sh prepare' after committing (docs/BENCHMARKING.md)"; exit 1; }
  fi
  kit=${PLAN_KIT:-}
  if [ -z "$kit" ]; then
    # (the kit runs unless `needed` says it is not: a `needed` that failed must not save its time)
    needed=$(bash scripts/device_kit.sh needed)
    kit=1
    [[ "$needed" == "kit: not needed"* ]] && kit=0
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
# (helper-119: the plan named no kind, and its caps were measured on an H200)
print("# device: the plain run asks for nvidia-h100-x1 and falls back to nvidia-h200; the caps were sized on an H200 "
      "(dbm_golden's second slice may not fit on an H100: it is then left for a later call)")
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
      # Its correctness stages may run on past kd, to what the first job's least time leaves: without
      # them the kit does not pass, and no job runs anyway (helper-119: 8 kernel variants and 7
      # sanitizer stages since the one GPU timing, 80 s of tests).
      # (30 s for what follows the last stage: the kit's pack, its verdict and the job's start; helper-120)
      local first_min=0 cd
      [ $# -eq 0 ] || first_min=$(( $(job_min "$1") + 30 ))
      cd=$((SESSION_S - SECONDS - first_min))
      [ "$cd" -ge "$kd" ] || cd=$kd
      echo "== kit, deadline $kd s (its correctness stages $cd s)"
      # (the dry run runs the kit's dry-run: its own checks, on this machine's build)
      KIT_SKIP=${KIT_SKIP-$DEFAULT_KIT_SKIP} DEADLINE_S=$kd CORRECTNESS_DEADLINE_S=$cd OUT=$OUT bash scripts/device_kit.sh "${KIT_MODE:-run}"
      krc=$?
      echo "== kit done at $SECONDS s (exit $krc)"
      bash scripts/device_kit.sh verdict "$OUT/kit.tar.gz" --for-jobs && [ $krc -eq 0 ] || { echo "device session: no model job runs on a kit that did not pass"; return 1; }
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
  # The plan's choices, and the kit's `needed` and `carry-current` that it asks, on a made-up checkout:
  # this one's depend on its committed kit runs, and CI has no data/device. A git work tree of its own
  # (not this clone's history to add to) with scripts/ and configs/, a kit run committed on it, and
  # data and a carry of chosen sizes (sparse files: the size without the disk).
  sb=$root/sandbox
  mkdir -p "$sb/src" "$sb/build/carry/bin" "$sb/build/carry/lib" "$sb/data/device/mnist" "$sb/data/device/fashion-mnist" \
    "$sb/data/device/debs" "$sb/data/golden" "$sb/results" && cp -r scripts configs .gitignore "$sb/" && echo "int a;" > "$sb/src/a.cpp" &&
    truncate -s 5M "$sb/build/carry/bin/pbit" "$sb/build/carry/lib/libpbit.so.0" && truncate -s 2M "$sb/build/carry/python.tar.gz" &&
    chmod +x "$sb/build/carry/bin/pbit" && truncate -s 30M "$sb/data/device/mnist/x" && truncate -s 1M "$sb/data/golden/model.json" &&
    truncate -s 40M "$sb/data/device/fashion-mnist/x" && truncate -s 10M "$sb/data/device/debs/x.deb" || fail "the made-up checkout"
  sbgit() { git -C "$sb" -c user.name=dry-run -c user.email=dry-run@localhost "$@"; }
  # (its own carry, results and kit: not the dry run's KIT_FROM, whose carry would not be build/carry)
  sbx() { (cd "$sb" && env -u KIT_FROM -u KIT_SKIP -u KIT_DEADLINE_S KIT_CARRY=build/carry RESULTS="$sb/results" "$@"); }
  # plan_is FILE TIMEOUT_S SESSION_S KIT JOBS CARRY: what the run arguments plan printed last are
  plan_is() {
    python3 - "$@" <<'PY'
import json, sys
f, timeout, session, kit, jobs, carry = sys.argv[1:]
p = json.loads(open(f).read().splitlines()[-1])
env, _, run = p["command"].partition("bash scripts/device_session.sh run")
sys.exit(0 if p["timeout_s"] == int(timeout) and env.split()[0] == "SESSION_S=" + session and ("KIT=1" in env.split()) == (kit == "1")
         and run.split() == jobs.split() and p["carry"] == carry.split() else 1)
PY
  }
  { sbgit init -q && sbgit add -A && sbgit commit -qm code; } > /dev/null 2>&1 || fail "the made-up checkout's git"
  c1=$(sbgit rev-parse HEAD)
  echo "$c1" > "$sb/build/carry/GIT_SHA"
  k=$sb/bench/results/gpu-made-up_2026-01-01
  mkdir -p "$k" && echo "pbit device kit, built 2026-01-01T00:00:00Z in 1 s from $c1" > "$k/machine.txt"
  printf '| stage | result | time |\n|---|---|---|\n| test_exact | ok | 1 s |\n| tests | 5 run, 0 failed, 0 skipped | |\n| correctness stages | all run | |\n| ncu_fast | TIMEOUT after 30 s | 30 s |\n' > "$k/summary.md"
  echo notes > "$sb/notes.md" && sbgit add -A && sbgit commit -qm "the kit's run, and notes" > /dev/null || fail "the made-up checkout's git"
  # The kit passed at the commit before, and only its results and notes came since: it is not needed,
  # the carry built there will do, and the jobs get the whole call (600 s, 560 of them for the
  # session) in priority order, on the carry's bin/ and lib/: dbm_golden's 130 s and then dbm_mnist
  # (whose data dbm_golden carries already) the rest; no time is left for dbm_fashion.
  got=$(sbx bash scripts/device_kit.sh needed)
  [[ "$got" == "kit: not needed"* ]] || fail "needed, the kit passed at an ancestor and no code changed since, said: $got"
  sbx bash scripts/device_session.sh plan 900 > "$root/plan_sb.txt" &&
    plan_is "$root/plan_sb.txt" 600 560 0 "dbm_golden dbm_mnist" "build/carry/bin build/carry/lib data/device/mnist data/golden" ||
    fail "plan, no kit needed, 900 s, said:"$'\n'"$(cat "$root/plan_sb.txt")"
  # A `needed` that fails (here: KIT_FROM without a carry of its own) keeps the kit in the plan.
  sbx KIT_FROM=build/release PLAN_ANY_CARRY=1 bash scripts/device_session.sh plan 900 > "$root/plan_sb.txt" &&
    python3 -c "import json,sys; sys.exit(0 if 'KIT=1' in json.loads(open(sys.argv[1]).read().splitlines()[-1])['command'].split() else 1)" "$root/plan_sb.txt" ||
    fail "plan, 'needed' failing, left the kit out:"$'\n'"$(cat "$root/plan_sb.txt")"
  # But not a kit run built from uncommitted changes, nor one whose summary has a test that failed
  # or none run; and not a carry built from uncommitted changes or from a commit not in this history,
  # nor any carry while the code has uncommitted changes.
  cp "$k/machine.txt" "$root/machine.ok" && cp "$k/summary.md" "$root/summary.ok"
  echo "pbit device kit, built 2026-01-01T00:00:00Z in 1 s from $c1 (with uncommitted changes)" > "$k/machine.txt"
  got=$(sbx bash scripts/device_kit.sh needed)
  [[ "$got" == "kit: needed"* ]] || fail "needed, the kit built from uncommitted changes, said: $got"
  cp "$root/machine.ok" "$k/machine.txt"
  for bad in "s/^| test_exact | ok/| test_exact | FAILED (exit 1)/" "s/| 5 run,/| 0 run,/" "s/ 0 failed,/ 1 failed,/"; do
    sed "$bad" "$root/summary.ok" > "$k/summary.md"
    sbx bash scripts/device_kit.sh verdict "$k" > /dev/null && fail "the verdict passed a kit whose summary had '$bad'"
    got=$(sbx bash scripts/device_kit.sh needed)
    [[ "$got" == "kit: needed"* ]] || fail "needed, a kit run whose summary had '$bad', said: $got"
  done
  cp "$root/summary.ok" "$k/summary.md"
  { echo "$c1"; echo "(with uncommitted changes)"; } > "$sb/build/carry/GIT_SHA"
  sbx bash scripts/device_kit.sh carry-current > /dev/null && fail "carry-current took a carry built from uncommitted changes"
  sbgit commit-tree -m elsewhere "HEAD^{tree}" > "$sb/build/carry/GIT_SHA"
  sbx bash scripts/device_kit.sh carry-current > /dev/null && fail "carry-current took a carry built from a commit not in this history"
  echo "$c1" > "$sb/build/carry/GIT_SHA"
  echo "int c;" >> "$sb/src/a.cpp"
  sbx bash scripts/device_kit.sh carry-current > /dev/null && fail "carry-current took a carry while the code had uncommitted changes"
  sbgit checkout -q -- src/a.cpp
  # A dry run's carry is never a device's; and a failed build fails, leaving the carry as it was (bash
  # ignored kit_build's set -e in its callers' lists: stale binaries went out stamped with HEAD, helper-119).
  echo "from build/release's binaries, for a dry run only (not portable: never carry build/carry to a device)" > "$sb/build/carry/KIT.txt"
  sbx bash scripts/device_kit.sh carry-current > /dev/null && fail "carry-current took a dry run's carry"
  rm "$sb/build/carry/KIT.txt"
  mkdir -p "$root/failbin" && printf '#!/bin/sh\n[ "$1" = --build ] && { echo "stub: the build failed"; exit 2; }\nexit 0\n' > "$root/failbin/cmake" &&
    chmod +x "$root/failbin/cmake" || fail "the stub cmake"
  sbx env PATH="$root/failbin:$PATH" bash scripts/device_kit.sh build > "$root/failbuild.log" 2>&1 &&
    fail "device_kit.sh build passed a build that failed: $(tail -3 "$root/failbuild.log")"
  grep -q "stub: the build failed" "$root/failbuild.log" || fail "the failed build did not run the stub: $(tail -3 "$root/failbuild.log")"
  [ "$(head -1 "$sb/build/carry/GIT_SHA")" = "$c1" ] || fail "a failed build replaced the carry"
  # Then the code changes: the carry is stale, and plan stops; with any carry, the kit is needed and
  # runs first, with all of the carry and the .deb (room is left), its 260 s leaving 250 s of a 700 s
  # budget's call: dbm_golden's 130 s, too little for dbm_mnist; dbm_fashion's data would pass 63 MiB.
  echo "int b;" >> "$sb/src/a.cpp" && sbgit commit -qam "code" > /dev/null || fail "the made-up checkout's git"
  sbx bash scripts/device_session.sh plan 700 > "$root/plan_sb.txt" && fail "plan took a carry built before the code changed: $(cat "$root/plan_sb.txt")"
  grep -q "and the code changed since" "$root/plan_sb.txt" || fail "plan, the carry stale, said: $(cat "$root/plan_sb.txt")"
  sbx PLAN_ANY_CARRY=1 bash scripts/device_session.sh plan 700 > "$root/plan_sb.txt" &&
    plan_is "$root/plan_sb.txt" 550 510 1 "dbm_golden" "build/carry data/device/mnist data/golden data/device/debs" &&
    grep -q "^# left for a later call: dbm_fashion: its data would take the carry to" "$root/plan_sb.txt" ||
    fail "plan, the kit needed, 700 s, said:"$'\n'"$(cat "$root/plan_sb.txt")"
  # A state that pending cannot read stops the plan (not shrinks it to the kit alone).
  mkdir -p "$root/damaged/dbm_golden/state" && echo "[{" > "$root/damaged/dbm_golden/state/golden.json"
  sbx PLAN_ANY_CARRY=1 PLAN_KIT=1 RESULTS="$root/damaged" bash scripts/device_session.sh plan 900 > "$root/plan_sb.txt" 2>&1 &&
    fail "plan went on past a damaged state: $(cat "$root/plan_sb.txt")"
  # A model job's phase (device_models.sh's failed): one cut by the deadline (124) ends the lease
  # well, its state packed for the next; one that failed (here 1) fails the job. A stand-in pbit
  # exits so.
  printf '#!/bin/sh\nexit ${FAKE_PBIT_RC:-0}\n' > "$root/fake_pbit" && chmod +x "$root/fake_pbit"
  for rc in 124 1; do
    rm -rf "$root/fake_out"
    FAKE_PBIT_RC=$rc PBIT=$root/fake_pbit OUT=$root/fake_out RESULTS=$root/fake_results DEADLINE_S=60 bash scripts/device_models.sh run dbm_mnist > "$root/fake.log" 2>&1
    got=$?
    tar -tzf "$root/fake_out/dbm_mnist.tar.gz" > "$root/fake.files" 2>&1
    [ $got = $((rc == 124 ? 0 : 1)) ] && grep -q "dbm_mnist/lease.json$" "$root/fake.files" ||
      { tail -10 "$root/fake.log"; fail "a job whose pbit exited $rc exited $got, or packed no lease.json"; }
  done
  # An evaluation slice that the last one finished says would not finish (its time per image scaled
  # by the sweeps per image) is left for the next lease, its time to the session's next job, not cut
  # at the deadline. A stand-in pbit whose `dbm eval` takes 10 s per 1e5 sweeps per image, and
  # dbm_golden with 4 of its 5 slices at 1e5 done, 35 s: the last 1e5 slice runs (10 s, after a few
  # seconds of setup), then the first 4e5 slice, 40 s by that, is left with some 18-24 s to go
  # (unscaled, 10 s, it would have started and been cut).
  cat > "$root/slow_pbit" <<'PY'
#!/usr/bin/env python3
import json, sys, time
a = sys.argv[1:]
if a[:1] == ["backends"]:
    print("cuda: compiled, available (a stand-in)")
if a[:2] == ["dbm", "eval"]:
    get = lambda k: a[a.index(k) + 1]
    time.sleep(10 * int(get("--sweeps")) / 100000)
    json.dump({"curve": [{"sweeps_per_image": int(get("--sweeps")), "first_image": int(get("--first")), "test_images": int(get("--limit")), "correct": 1}]}, open(get("--out"), "w"))
PY
  mkdir -p "$root/slow_results/dbm_golden/state" && chmod +x "$root/slow_pbit" && echo '{}' > "$root/slow_model.json" && rm -rf "$root/slow_out" &&
    python3 -c "import json,sys; json.dump([{'sweeps_per_image': 100000, 'first_image': f, 'test_images': 2000, 'correct': 1} for f in range(0, 8000, 2000)], open(sys.argv[1], 'w'))" \
      "$root/slow_results/dbm_golden/state/golden.json" || fail "the slow stand-in's state"
  DRY=0 PBIT=$root/slow_pbit GOLDEN_MODEL=$root/slow_model.json OUT=$root/slow_out RESULTS=$root/slow_results DEADLINE_S=35 \
    bash scripts/device_models.sh run dbm_golden > "$root/slow.log" 2>&1 || { tail -10 "$root/slow.log"; fail "dbm_golden on a slow stand-in pbit"; }
  tar -xzf "$root/slow_out/dbm_golden.tar.gz" -C "$root/slow_out" && [ "$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$root/slow_out/dbm_golden/state/golden.json")" = 5 ] &&
    grep -q "^== golden_400000_0: [0-9]* s left, under the 4[0-9] s (+10% +5 s) that the last slice, 1[0-2] s at 100000 sweeps, gives it: for the next lease" "$root/slow.log" &&
    ! grep -q "not finished in this lease" "$root/slow.log" ||
    { tail -10 "$root/slow.log"; fail "a slice that could not finish in the time left was started, or the one that could was not"; }
  # check-state refuses a state the next lease could not continue (a checkpoint cut short)
  if [ -f bench/results/device_jobs/dbm_mnist/state/model_checkpoint.bin ]; then
    mkdir -p "$root/cs" && cp -r bench/results/device_jobs/dbm_mnist "$root/cs/" && truncate -s 1000 "$root/cs/dbm_mnist/state/model_checkpoint.bin"
    RESULTS=$root/cs bash scripts/device_models.sh check-state dbm_mnist > "$root/cs.log" 2>&1 && fail "check-state passed a damaged checkpoint: $(cat "$root/cs.log")"
    grep -q "FAILED, the next lease could not continue it" "$root/cs.log" || fail "check-state, a damaged checkpoint, said: $(cat "$root/cs.log")"
  fi
  # Lease folders in lease order (a comparison takes each variant's newest results): lease_10 after lease_9.
  mkdir -p "$root/ld/lease_9" "$root/ld/lease_10" "$root/ld/lease_partial-1"
  got=$(python3 -c "import sys; sys.path.insert(0, 'scripts'); from device_report import lease_dirs; print(' '.join(d.split('/')[-1] for d in lease_dirs(sys.argv[1])))" "$root/ld")
  [ "$got" = "lease_9 lease_10 lease_partial-1" ] || fail "lease_dirs gave this order: $got"
  # The kit's headline flips/ns (its summary's last table, committed with it): the main benchmark's
  # rows over the first quick run's, and of those only the automatic team size's.
  mkdir -p "$root/headline" && python3 - "$root/headline" <<'PY'
import json, os, sys
row = lambda k, f, t=0: {"graph": "pegasus14", "chains": 16384, "backend": "cuda", "cuda_kernel": k, "cuda_team_warps": t, "flips_per_ns": f}
json.dump({"results": [row("fast", 10.0), row("simple", 5.0)]}, open(os.path.join(sys.argv[1], "gibbs_bench_gpu_first.json"), "w"))
json.dump({"results": [row("fast", 20.0), row("fast", 99.0, 4)]}, open(os.path.join(sys.argv[1], "gibbs_bench_gpu.json"), "w"))
PY
  got=$(python3 scripts/kit_report.py --headline "$root/headline" | grep "^| pegasus14 |")
  [ "$got" = "| pegasus14 | 16384 | 5.0 | 20.0 |" ] || fail "kit_report.py's headline, 5.0 and 20.0 flips/ns measured, said: $got"
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
  # each job's deadline within what was left of the call when it began (a job past the call's end
  # would be cut off by the device tool: the call then brings nothing back)
  python3 - "$root/run.log" <<'PY' || fail "a job's deadline went past the call's end: $(grep "^== .*, deadline" "$root/run.log")"
import re, sys
rows = re.findall(r"^== \w+, deadline (\d+) s \(at (\d+) s of (\d+)\)", open(sys.argv[1]).read(), re.M)
sys.exit(0 if len(rows) == 2 and all(int(d) <= int(s) - int(t) + 1 for d, t, s in rows) else 1)  # (+1: a second may tick between)
PY
  # The kit's correctness stages run on past its deadline, to what the call leaves: a kit whose
  # sanitizer stage the 260 s left NOT RUN did not pass, and no job ran either (helper-119). With a
  # deadline of 1 s (its Python build alone takes longer here) the kit passes all the same.
  # The first job keeps its least time and 30 s more (dbm_golden: 500 - 70 - 30), and runs after it.
  OUT=$root/out_cd KIT=1 KIT_MODE=dry-run KIT_DEADLINE_S=1 SESSION_S=500 bash scripts/device_session.sh run dbm_golden > "$root/run_cd.log" 2>&1 ||
    { tail -30 "$root/run_cd.log"; fail "a kit run past its 1 s deadline"; }
  grep -qE "^== kit, deadline 1 s \(its correctness stages (39[0-9]|400) s\)" "$root/run_cd.log" && grep -q "^kit: passed" "$root/out_cd/session.log" &&
    grep -q "^| correctness stages | all run |" "$root/run_cd.log" && grep -q "^== dbm_golden, deadline" "$root/run_cd.log" ||
    fail "a kit past its deadline: $(grep "^== \|^kit:\|NOT RUN" "$root/run_cd.log" | head -5)"
  for k in 1 2; do  # twice: collecting the same files again rewrites the same folders
    BENCH_RESULTS=$root/results bash scripts/device_session.sh collect "$root/out" > "$root/collect.log" 2>&1 || { cat "$root/collect.log"; fail "collect"; }
  done
  [ "$(ls -d "$root"/results/gpu-* | wc -l)" = 1 ] && grep -q "kit: passed" "$root"/results/gpu-*/README.md || fail "collect: not one kit folder with its verdict"
  ls "$RESULTS"/sessions/session_*.log > /dev/null 2>&1 || fail "collect: no session log"
  for j in dbm_golden dbm_mnist; do [ -f "$RESULTS/$j/lease_1/lease.json" ] && [ ! -e "$RESULTS/$j/lease_2" ] || fail "collect: not one lease_1 of $j"; done
  # An archive that is not one fails the collect; one without lease.json (a run that stopped before
  # it recorded its lease) goes to a lease_partial-* folder, never over a lease collected before.
  mkdir -p "$root/bad" && echo "not an archive" > "$root/bad/dbm_golden.tar.gz"
  BENCH_RESULTS=$root/results bash scripts/device_session.sh collect "$root/bad" > "$root/collect.log" 2>&1 &&
    fail "collect exited 0 on an archive that is not one: $(cat "$root/collect.log")"
  mkdir -p "$root/partial" && tar -xzf "$root/out/dbm_golden.tar.gz" -C "$root/partial" && rm "$root/partial/dbm_golden/lease.json" &&
    tar -czf "$root/bad/dbm_golden.tar.gz" -C "$root/partial" dbm_golden || fail "making a lease without lease.json"
  BENCH_RESULTS=$root/results bash scripts/device_session.sh collect "$root/bad" > "$root/collect.log" 2>&1 || { cat "$root/collect.log"; fail "collect"; }
  [ -f "$RESULTS/dbm_golden/lease_1/lease.json" ] && ls -d "$RESULTS"/dbm_golden/lease_partial-* > /dev/null 2>&1 ||
    fail "collect: a lease without lease.json went over lease_1, or nowhere: $(ls "$RESULTS/dbm_golden")"
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
  # no dbm_mnist_mix while dbm_mnist has work left (here: a slice of its sweep study at 80%), nor
  # after a lease of dbm_mnist at 91% (its sweep study at 80%)
  python3 -c "import json,sys; json.dump([{'sweeps_per_image': b, 'first_image': f, 'test_images': 2500, 'correct': 2000} for b in (1000, 10000, 100000) for f in range(0, 10000, 2500)][1:], open(sys.argv[1], 'w'))" \
    "$root/pending/dbm_mnist/state/curve.json"
  got=$(RESULTS=$root/pending bash scripts/device_models.sh pending | grep "^dbm_mnist")
  [ "$got" = "dbm_mnist: 1 slice(s) of the accuracy against inference sweeps" ] || fail "pending, dbm_mnist with a slice left, said: $got"
  python3 -c "import json,sys; json.dump([{'sweeps_per_image': b, 'first_image': f, 'test_images': 2500, 'correct': 2000} for b in (1000, 10000, 100000) for f in range(0, 10000, 2500)], open(sys.argv[1], 'w'))" \
    "$root/pending/dbm_mnist/state/curve.json"
  echo '[{"updates_to": 12000, "test_accuracy": 0.91}, {"updates_to": 24000, "finished": true, "test_accuracy": 0.88}]' > "$root/pending/dbm_mnist/state/leases.json"
  got=$(RESULTS=$root/pending bash scripts/device_models.sh pending | grep "^dbm_mnist")
  [ -z "$got" ] || fail "pending, dbm_mnist at 91% after a lease, said: $got"
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
  # The jobs' gate (--for-jobs) lets a kit through whose only failure is its Python stage (the jobs
  # run the CLI), saying so, and refuses one with anything else failed; the plain verdict, which
  # `needed` reads, still refuses it. A sanitizer row skipped for the tool's limit is no failure.
  { cat "$s.ok"; echo "| python_build | FAILED (exit 1) | 3 s |"; echo "| python_tests | FAILED (exit 4) | 1 s |"; } > "$s"
  got=$(bash scripts/device_kit.sh verdict "$root/verdict/kit" --for-jobs) && grep -q "^kit: passed for the model jobs, not in full: a stage did not pass: | python_build |" <<< "$got" ||
    fail "the jobs' verdict on a kit whose Python stage failed said: $got"
  bash scripts/device_kit.sh verdict "$root/verdict/kit" > /dev/null && fail "the verdict passed a kit whose Python stage failed"
  for row in "| test_exact | FAILED (exit 1) | 9 s |" "| sanitizer_racecheck_fast_w16_k4_backends | TIMEOUT after 45 s | 45 s |" "| sanitizer_memcheck_simple_backends | FAILED (exit 9) | 3 s |"; do
    { cat "$s.ok"; echo "| python_tests | FAILED (exit 4) | 1 s |"; echo "$row"; } > "$s"
    bash scripts/device_kit.sh verdict "$root/verdict/kit" --for-jobs > /dev/null && fail "the jobs' verdict passed a kit with '$row'"
  done
  { cat "$s.ok"; echo "| sanitizer_racecheck_fast_w16_k4_backends | skipped: tool limit (too many resources requested for launch) | 2 s |"; } > "$s"
  bash scripts/device_kit.sh verdict "$root/verdict/kit" > /dev/null || fail "the verdict refused a kit whose sanitizer met its tool limit"
  # nor a kit cut off after its tests (a lost machine, the call's end): its Python and sanitizer
  # stages never ran, though every row it wrote passed
  sed '/^| tests |/q' "$s.ok" > "$s"
  bash scripts/device_kit.sh verdict "$root/verdict/kit" > /dev/null && fail "the verdict passed a kit cut off after its tests"
  # A kit that did not pass runs no job: one that exited 1 (here: refused its input), and one that
  # exited 0 leaving an archive the verdict refuses (here: 'needed', which leaves $OUT as it is,
  # where the archive with a failed test lies); and one that exited 1 whatever its archive says
  # (here: one that passed).
  for gate in "failed KIT_SKIP=nonsense" "failed KIT_MODE=needed" "passed KIT_SKIP=nonsense"; do
    read -r archive gate <<< "$gate"
    rm -rf "$root/out" && mkdir -p "$root/out"
    { cat "$s.ok"; [ "$archive" = passed ] || echo "| test_exact | FAILED (exit 1) | 9 s |"; } > "$s" && tar -czf "$root/out/kit.tar.gz" -C "$root/verdict" kit
    env OUT="$root/out" KIT=1 SESSION_S=500 "$gate" bash scripts/device_session.sh run dbm_golden > "$root/gate.log" 2>&1 && fail "a session whose kit failed ($gate, its archive $archive) exited 0"
    grep -q "no model job runs on a kit that did not pass" "$root/gate.log" && [ ! -e "$root/out/dbm_golden.tar.gz" ] ||
      { tail -10 "$root/gate.log"; fail "a job ran after a kit that did not pass ($gate, its archive $archive)"; }
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
