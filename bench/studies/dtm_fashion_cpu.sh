#!/usr/bin/env bash
# The README's DTM and MEBM records on a 2-core CPU: configs/dtm_fashion_cpu.json (T = 4),
# mebm_fashion_cpu.json (T = 1) and dtm_fashion_cond_cpu.json (with label nodes) trained here, each
# run's results.json, metrics.json, fid.png, generated.png and trajectory.png copied to
# bench/results/<config>-2core_<DATE>/. ctest records.dtm_fashion_cpu checks that the code still
# gives the records that configs/compare_cpu_quick.json names; after a deliberate change of
# training, re-record with this script and point compare_cpu_quick.json and the README at the new
# folders (each run takes under a minute on 2 cores).
#   bash bench/studies/dtm_fashion_cpu.sh [DATE]   (DATE: today's, YYYY-MM-DD)
# Environment: PBIT (build/release/pbit).
set -euo pipefail
cd "$(dirname "$0")/../.."
PBIT=${PBIT:-build/release/pbit}
DATE=${1:-$(date -u +%F)}
[ -z "$(git status --porcelain -- src include)" ] || { echo "dtm_fashion_cpu.sh: src/ or include/ has changes not committed: a record names its commit" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PBIT_CACHE_DIR="$work/cache"  # the FID's feature network trained afresh, as the records test trains it
head=$(git rev-parse --short=12 HEAD)
for name in dtm_fashion_cpu mebm_fashion_cpu dtm_fashion_cond_cpu; do
  out=bench/results/$name-2core_$DATE
  echo "training configs/$name.json -> $out" >&2
  "$PBIT" dtm train --config "configs/$name.json" --out "$work/$name" --overwrite 2> "$work/$name.log" || { cat "$work/$name.log" >&2; exit 1; }
  built=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["git_sha"])' "$work/$name/results.json")
  [ "$built" = "$head" ] || { echo "dtm_fashion_cpu.sh: $PBIT was built at $built, not at HEAD $head: build it first" >&2; exit 2; }
  mkdir -p "$out"
  for f in results.json metrics.json fid.png generated.png trajectory.png; do cp "$work/$name/$f" "$out/$f"; done
  python3 - "$out/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
fids = ", ".join("%.1f" % e["feature_fid_256"] for e in r["feature_fid_over_training"])
extra = "" if r.get("label_agreement") is None else ", label agreement %.3f" % r["label_agreement"]
print("%s: feature-FID %.2f (%s after each epoch; floor %.2f; feature net %.1f%%)%s, commit %s" %
      (sys.argv[1], r["feature_fid"], fids, r["feature_fid_real_floor"], 100 * r["feature_net_test_accuracy"], extra, r["git_sha"]))
PY
done
