#!/usr/bin/env bash
# What parallel tempering buys DBM inference (issue 21), at equal flips: the sparse DBM of
# configs/dbm_mnist_quick.json (MODEL, trained here if absent) classifies test images [0, LIMIT) with
# plain Gibbs at S sweeps per image and with R-replica tempering at S / R sweeps, so that both spend
# the same flips (every replica's sweeps count). OUT/summary.{json,md}, OUT/tempering.png.
#   bash bench/studies/tempering_dbm.sh [OUT]   e.g. ... out/tempering_dbm
# Environment: MODEL (a model.json of that config), LIMIT (test images, 1000), R (replicas, 4),
# HOTTEST (the hottest replica's beta, 0.3), ROUND (sweeps per swap round, 5), BUDGETS (plain sweeps
# per image, "40 100 200 400 1000 2000").
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-out/tempering_dbm}
PBIT=${PBIT:-build/release/pbit}
BASE=${CFG:-configs/dbm_mnist_quick.json}
MODEL=${MODEL:-$OUT/model/model.json}
LIMIT=${LIMIT:-1000}
R=${R:-4}
HOTTEST=${HOTTEST:-0.3}
ROUND=${ROUND:-5}
BUDGETS=${BUDGETS:-40 100 200 400 1000 2000}
mkdir -p "$OUT"
python3 - "$BASE" "$OUT" "$R" "$HOTTEST" "$ROUND" <<'PY'
import json, sys
base, out, r, hottest, rnd = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
c = json.load(open(base)); c["run"]["backend"] = "cpu"
c["_comment"] = "tempering_dbm.sh: " + base + ", plain Gibbs inference"
json.dump(c, open(f"{out}/config_plain.json", "w"), indent=1)
c["eval"]["tempering"] = {"replicas": r, "hottest": hottest, "sweeps_per_round": rnd, "scheme": "deo"}
c["_comment"] = "tempering_dbm.sh: " + base + ", %d-replica tempered inference" % r
json.dump(c, open(f"{out}/config_tempered.json", "w"), indent=1)
PY
if [ ! -f "$MODEL" ]; then
  "$PBIT" dbm train --config "$OUT/config_plain.json" --out "$(dirname "$MODEL")" --overwrite 2>"$OUT/train.log" | tee "$OUT/train.txt"
fi
plain=$(echo $BUDGETS | tr ' ' ',')
tempered=$(for s in $BUDGETS; do echo $((s / R)); done | paste -sd,)
"$PBIT" dbm eval --config "$OUT/config_plain.json" --model "$MODEL" --limit "$LIMIT" --sweeps "$plain" --out "$OUT/plain.json" >/dev/null
"$PBIT" dbm eval --config "$OUT/config_tempered.json" --model "$MODEL" --limit "$LIMIT" --sweeps "$tempered" --out "$OUT/tempered.json" >/dev/null
python3 - "$OUT" "$R" "$LIMIT" <<'PY'
import json, sys
out, r, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
p = json.load(open(f"{out}/plain.json"))["curve"]
t = json.load(open(f"{out}/tempered.json"))["curve"]
rows = []
md = ["# DBM inference: plain Gibbs against %d-replica parallel tempering at equal flips (test images 0-%d)" % (r, limit - 1), "",
      "| replica-sweeps per image | plain Gibbs | tempering (sweeps x replicas) | difference (points) | swap acceptance per pair |", "|---:|---:|---:|---:|---|"]
for a, b in zip(p, t):
    row = {"replica_sweeps_per_image": a["sweeps_per_image"], "plain_accuracy": a["test_accuracy"],
           "tempered_sweeps_per_image": b["sweeps_per_image"], "tempered_accuracy": b["test_accuracy"],
           "swap_acceptance": b.get("swap_acceptance"), "plain_wall_s": a["eval_wall_s"], "tempered_wall_s": b["eval_wall_s"]}
    rows.append(row)
    md.append("| %d | %.2f%% | %.2f%% (%d x %d) | %+.2f | %s |" % (a["sweeps_per_image"], 100 * a["test_accuracy"], 100 * b["test_accuracy"],
              b["sweeps_per_image"], r, 100 * (b["test_accuracy"] - a["test_accuracy"]),
              " ".join("-" if x is None else "%.3f" % x for x in b.get("swap_acceptance", [])) or "-"))
json.dump({"study": "tempering_dbm", "replicas": r, "test_images": limit, "rows": rows}, open(f"{out}/summary.json", "w"), indent=1)
open(f"{out}/summary.md", "w").write("\n".join(md) + "\n")
with open(f"{out}/tempering.dat", "w") as f:
    f.write("# replica_sweeps plain_accuracy tempered_accuracy (%)\n")
    for x in rows: f.write("%d %.3f %.3f\n" % (x["replica_sweeps_per_image"], 100 * x["plain_accuracy"], 100 * x["tempered_accuracy"]))
open(f"{out}/tempering.gp", "w").write("""# gnuplot tempering.gp (data: tempering.dat)
set terminal pngcairo size 800,500
set output 'tempering.png'
set title 'Sparse DBM inference at equal flips: plain Gibbs vs %d-replica tempering'
set xlabel 'sweeps per image, all replicas counted'
set ylabel 'test accuracy (%%)'
set logscale x
set grid
set key bottom right
plot 'tempering.dat' using 1:2 with linespoints lw 2 title 'plain Gibbs', '' using 1:3 with linespoints lw 2 title 'parallel tempering'
""" % r)
print("\n".join(md))
PY
(cd "$OUT" && gnuplot tempering.gp 2>/dev/null) || echo "gnuplot not found: tempering.png not drawn (tempering.gp is there)"
