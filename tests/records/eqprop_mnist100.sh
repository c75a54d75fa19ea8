#!/usr/bin/env bash
# ctest records.eqprop_mnist100: the README's EqProp MNIST/100 figures come from the newest record
# bench/results/eqprop_mnist100-2core_<date>/ of bench/studies/eqprop_mnist100.sh. This trains its
# seed 1 again and classifies all 10,000 test images with 10 chains and with 1, as the study does, and
# checks that the code still gives the record: every epoch's test accuracy, free-phase training
# accuracy and cost, updates and flips, and the 10,000 images' accuracies and confusion matrices
# (training and sampling are exact; the costs to 1e-9 relative). A deliberate change of training or
# evaluation fails here: re-record with bench/studies/eqprop_mnist100.sh (and the other EqProp studies
# the README quotes, which share the code) and update the README's figures.
#   Usage: eqprop_mnist100.sh PBIT SOURCE_DIR
set -euo pipefail
PBIT=$1
SRC=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rec=$(cd "$SRC" && ls -d bench/results/eqprop_mnist100-2core_* 2>/dev/null | sort | tail -n 1)
[ -n "$rec" ] || { echo "no record bench/results/eqprop_mnist100-2core_<date>/ (bench/studies/eqprop_mnist100.sh makes one)"; exit 1; }
grep -q "$rec/" "$SRC/README.md" || { echo "README.md does not name the newest record $rec/"; exit 1; }
cfg=configs/eqprop_mnist100.json
(cd "$SRC" &&
  "$PBIT" eqprop train --config $cfg --seed 1 --out "$work/seed1" > "$work/train.log" 2>&1 &&
  "$PBIT" eqprop eval --config $cfg --model "$work/seed1/model.bin" --test-images 0 --out "$work/seed1/eval_10k.json" > "$work/eval.log" 2>&1 &&
  "$PBIT" eqprop eval --config $cfg --model "$work/seed1/model.bin" --chains 1 --test-images 0 \
    --out "$work/seed1/eval_10k_1chain.json" >> "$work/eval.log" 2>&1) || { cat "$work/train.log" "$work/eval.log" 2>/dev/null | tail -20; exit 1; }
python3 - "$SRC/$rec/seed1" "$work/seed1" <<'PY'
import json, sys
want_dir, got_dir = sys.argv[1:3]
load = lambda d, f: json.load(open(f"{d}/{f}"))
bad = []
def same(what, w, g, rel=0.0):
    if w is None or g is None or isinstance(w, (list, str)):
        ok = w == g
    else:
        ok = abs(w - g) <= rel * max(abs(w), abs(g))
    if not ok:
        bad.append("%s: recorded %s, now %s" % (what, w, g))
want, got = load(want_dir, "results.json"), load(got_dir, "results.json")
same("epochs", len(want["history"]), len(got["history"]))
same("train_flips", want["train_flips"], got["train_flips"])
same("test accuracy on the 100", want["eval"]["test_accuracy"], got["eval"]["test_accuracy"])
for w, g in zip(want["history"], got["history"]):
    for key in ("test_accuracy", "train_accuracy_free_phase", "updates", "flips"):
        same("epoch %d %s" % (w["epoch"], key), w[key], g[key])
    same("epoch %d train_cost" % w["epoch"], w["train_cost"], g["train_cost"], 1e-9)
for f in ("eval_10k.json", "eval_10k_1chain.json"):
    w, g = load(want_dir, f), load(got_dir, f)
    same(f + " test_images", w["eval"]["test_images"], g["eval"]["test_images"])
    same(f + " test_accuracy", w["eval"]["test_accuracy"], g["eval"]["test_accuracy"])
    same(f + " confusion", w["eval"]["confusion"], g["eval"]["confusion"])
if bad:
    print("%s (commit %s) is not what this code gives:\n  %s\nre-record with bench/studies/eqprop_mnist100.sh and update the README's figures"
          % (want_dir, want.get("git_sha", "?"), "\n  ".join(bad[:20])))
    sys.exit(1)
print("%s: reproduced (%.2f%% on the 100 test images, %.2f%% on all 10,000)" %
      (want_dir, 100 * got["eval"]["test_accuracy"], 100 * load(got_dir, "eval_10k.json")["eval"]["test_accuracy"]))
PY
