#!/usr/bin/env bash
# bench.options: pbit_bench_gibbs refuses bad options up front (exit 2, naming the option), and a tiny
# run writes its JSON with every key snake_case and a measured rate (docs/BENCHMARKING.md).
# Usage: options.sh PBIT_BENCH_GIBBS
set -euo pipefail
export OMP_NUM_THREADS=1
B=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# expect CODE MESSAGE ARGS...: the run exits CODE and says MESSAGE
expect() {
  local code=$1 msg=$2 out rc
  shift 2
  set +e
  out=$("$B" "$@" 2>&1)
  rc=$?
  set -e
  [ "$rc" = "$code" ] || { echo "FAIL: pbit_bench_gibbs $* exited $rc, not $code:"; echo "$out"; exit 1; }
  grep -qF -- "$msg" <<<"$out" || { echo "FAIL: pbit_bench_gibbs $* did not say '$msg':"; echo "$out"; exit 1; }
}
# An empty list measured nothing and said "0 rows skipped", naming no option (helper-114).
expect 2 "--chains needs at least one value" --graphs pegasus:2 --backends cpu --chains ""
expect 2 "--chains needs at least one value" --graphs pegasus:2 --backends cpu --chains ,,
expect 2 "--graphs needs at least one value" --graphs "" --backends cpu --chains 4
expect 2 "--backends needs at least one value" --graphs pegasus:2 --backends "" --chains 4
# The 2 warm-up sweeps and the timed ones run on one sampler: --sweeps 2^32 failed on every row (exit 1).
expect 2 "--sweeps expects a number in [1, 4294967293], got '4294967294'" --graphs pegasus:2 --backends cpu --chains 4 --sweeps 4294967294
expect 2 "--chains expects a number" --graphs pegasus:2 --backends cpu --chains 0
expect 0 "wrote $tmp/b.json" --graphs pegasus:2 --backends cpu --chains 4,8 --sweeps 3 --team-warps 0,4 --out "$tmp/b.json"
python3 - "$tmp/b.json" <<'PY'
import json, re, sys
doc = json.load(open(sys.argv[1]))
bad = []
def walk(x, at):
    if isinstance(x, dict):
        for k, v in x.items():
            if not re.fullmatch(r"[a-z0-9_]+", k): bad.append(at + "." + k)
            walk(v, at + "." + k)
    elif isinstance(x, list):
        for i, v in enumerate(x): walk(v, f"{at}[{i}]")
walk(doc, "")
assert not bad, f"keys that are not snake_case: {bad}"
for key in ("machine", "build", "parameters", "timestamp_utc"): assert key in doc, f"no '{key}'"
# The options' lists as lists of their values (cuda_team_warps was the string "0,2": helper-114).
params = doc["parameters"]
assert params["cuda_team_warps"] == [0, 4] and params["fast_words_per_lane"] == [0], params
assert params["contracts"] == ["exact"] and params["cpu_isas"] == ["auto"], params
rows = doc["results"]
assert [r["chains"] for r in rows] == [4, 8], rows
for r in rows: assert r["flips_per_ns"] > 0 and r["backend"] == "cpu", r
print(f"pbit_bench_gibbs: options refused by name; {len(rows)} rows written, keys snake_case")
PY
