#!/usr/bin/env bash
# ctest records.dtm_fashion_cpu: the README's DTM, MEBM and class-conditional DTM CPU figures come
# from the newest records bench/results/<config>-2core_<date>/ of configs/dtm_fashion_cpu.json,
# mebm_fashion_cpu.json and dtm_fashion_cond_cpu.json. This trains each config again and checks
# that the code still gives its newest record - the final and per-epoch feature-FIDs, every step's
# final autocorrelation and the label agreement, to 1e-6 relative (sampling and training are exact;
# the FID's linear algebra may differ in its last bits on another CPU) - and that the README and
# configs/compare_cpu_quick.json name those records. A deliberate change of training fails here:
# re-record with bench/studies/dtm_fashion_cpu.sh and update the README's figures (helper-130 found
# them three training changes old).
#   Usage: dtm_fashion_cpu.sh PBIT SOURCE_DIR
set -euo pipefail
PBIT=$1
SRC=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The FID's feature network trained afresh, not read from a cache an older pbit may have left in
# out/cache/ (helper-132); and on the cpu backend, whatever the build (the records' backend).
export PBIT_CACHE_DIR="$work/cache"
for config in dtm_fashion_cpu mebm_fashion_cpu dtm_fashion_cond_cpu; do
  rec=$(cd "$SRC" && ls -d bench/results/"$config"-2core_* 2>/dev/null | sort | tail -n 1)
  [ -n "$rec" ] || { echo "no record bench/results/$config-2core_<date>/ (bench/studies/dtm_fashion_cpu.sh makes them)"; exit 1; }
  grep -q "$rec/" "$SRC/README.md" || { echo "README.md does not name the newest record $rec/"; exit 1; }
  if [ "$config" != dtm_fashion_cond_cpu ]; then
    grep -q "\"$rec/results.json\"" "$SRC/configs/compare_cpu_quick.json" ||
      { echo "configs/compare_cpu_quick.json does not name the newest record $rec/results.json"; exit 1; }
  fi
  (cd "$SRC" && "$PBIT" dtm train --config "configs/$config.json" --backend cpu --out "$work/$config" > "$work/$config.log" 2>&1) ||
    { cat "$work/$config.log"; exit 1; }
  python3 - "$SRC/$rec/results.json" "$work/$config/results.json" <<'PY'
import json, sys
want, got = (json.load(open(f)) for f in sys.argv[1:3])
def close(a, b):
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1e-12)
bad = []
for key in ("feature_fid_over_training", "final_autocorrelation"):
    if len(want[key]) != len(got[key]):
        bad.append("%s: recorded %d entries, now %d" % (key, len(want[key]), len(got[key])))
pairs = [("feature_fid", want["feature_fid"], got["feature_fid"]), ("label_agreement", want["label_agreement"], got["label_agreement"])]
pairs += [("feature-FID after epoch %d" % w["epoch"], w["feature_fid_256"], g["feature_fid_256"])
          for w, g in zip(want["feature_fid_over_training"], got["feature_fid_over_training"])]
pairs += [("step %d autocorrelation" % w["step"], w["autocorrelation"], g["autocorrelation"])
          for w, g in zip(want["final_autocorrelation"], got["final_autocorrelation"])]
for what, w, g in pairs:
    if not close(w, g):
        bad.append("%s: recorded %s, now %s" % (what, w, g))
if bad:
    print("%s (commit %s) is not what this code gives:\n  %s\nre-record with bench/studies/dtm_fashion_cpu.sh and update the README's figures"
          % (sys.argv[1], want.get("git_sha", "?"), "\n  ".join(bad)))
    sys.exit(1)
print("%s: reproduced (feature-FID %.4f)" % (sys.argv[1], got["feature_fid"]))
PY
done
