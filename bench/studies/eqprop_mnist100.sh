#!/usr/bin/env bash
# EqProp on MNIST/100 (configs/eqprop_mnist100.json, Laydevant et al. 2024's setting) with three seeds,
# each model then classified on all 10,000 MNIST test images; a summary (mean and spread) in
# OUT/summary.json. About a minute per seed on one CPU core. The README quotes the record
# bench/results/eqprop_mnist100-2core_<date>/ made with it, and ctest records.eqprop_mnist100 checks
# that the code still gives the newest such record (its seed 1, trained and evaluated again).
#   bash bench/studies/eqprop_mnist100.sh [OUT] [SEEDS]     e.g. ... out/eqprop_mnist100 "1 2 3"
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-out/eqprop_mnist100}
SEEDS=${2:-1 2 3}
PBIT=${PBIT:-build/release/pbit}
CFG=${CFG:-configs/eqprop_mnist100.json}
mkdir -p "$OUT"
for s in $SEEDS; do
  "$PBIT" eqprop train --config "$CFG" --seed "$s" --out "$OUT/seed$s" --overwrite 2>"$OUT/seed$s.log"
  "$PBIT" eqprop eval --config "$CFG" --model "$OUT/seed$s/model.bin" --test-images 0 --out "$OUT/seed$s/eval_10k.json" 2>>"$OUT/seed$s.log"
  "$PBIT" eqprop eval --config "$CFG" --model "$OUT/seed$s/model.bin" --chains 1 --out "$OUT/seed$s/eval_100_1chain.json" 2>>"$OUT/seed$s.log"
  "$PBIT" eqprop eval --config "$CFG" --model "$OUT/seed$s/model.bin" --chains 1 --test-images 0 --out "$OUT/seed$s/eval_10k_1chain.json" 2>>"$OUT/seed$s.log"
done
python3 - "$OUT" $SEEDS <<'PY'
import json, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
rows = []
for s in seeds:
    r = json.load(open(f"{out}/seed{s}/results.json"))
    e = json.load(open(f"{out}/seed{s}/eval_10k.json"))
    e1 = json.load(open(f"{out}/seed{s}/eval_100_1chain.json"))
    e10k1 = json.load(open(f"{out}/seed{s}/eval_10k_1chain.json"))
    rows.append({"seed": int(s), "test_accuracy_100": r["eval"]["test_accuracy"], "test_accuracy_10k": e["eval"]["test_accuracy"],
                 "test_accuracy_100_1chain": e1["eval"]["test_accuracy"], "test_accuracy_10k_1chain": e10k1["eval"]["test_accuracy"],
                 "epochs": r["epochs_trained"], "train_wall_s": r["train_wall_s"], "train_flips": r["train_flips"],
                 "best_epoch_test_accuracy_100": max(h["test_accuracy"] for h in r["history"])})
def stat(k):
    v = [x[k] for x in rows]
    return {"mean": statistics.mean(v), "stdev": statistics.stdev(v) if len(v) > 1 else 0.0, "min": min(v), "max": max(v)}
summary = {"study": "eqprop_mnist100", "config": json.load(open(f"{out}/seed{seeds[0]}/results.json"))["config"],
           "seeds": rows, "test_accuracy_100": stat("test_accuracy_100"), "test_accuracy_10k": stat("test_accuracy_10k"),
           "test_accuracy_100_1chain": stat("test_accuracy_100_1chain"), "test_accuracy_10k_1chain": stat("test_accuracy_10k_1chain"),
           "eval_chains_per_image": json.load(open(f"{out}/seed{seeds[0]}/eval_10k.json"))["chains_per_image"],
           "paper": "88.8% +- 1.5% on the 100 test images (D-Wave), Laydevant et al. 2024"}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
for k, what in (("", "%d chains per image" % summary["eval_chains_per_image"]), ("_1chain", "1 chain per image")):
    print("MNIST/100, %d seeds, read-out of %s: %.1f%% +- %.1f%% on the 100 test images, %.2f%% +- %.2f%% on all 10,000" % (
        len(rows), what, 100 * summary["test_accuracy_100" + k]["mean"], 100 * summary["test_accuracy_100" + k]["stdev"],
        100 * summary["test_accuracy_10k" + k]["mean"], 100 * summary["test_accuracy_10k" + k]["stdev"]))
PY
