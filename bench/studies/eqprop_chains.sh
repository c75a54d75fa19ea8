#!/usr/bin/env bash
# EqProp on MNIST/100 with 1, 8 and 64 chains per training image at equal training updates (the same
# epochs and batches, and every batch updates: train.skip_when_correct is off, since with more chains
# an image's free outputs match its target exactly less often; the statistics of each phase are
# averaged over the chains), each model classified
# on all 10,000 MNIST test images with the config's read-out. Summary in OUT/summary.json.
#   bash bench/studies/eqprop_chains.sh [OUT] [EPOCHS] [CHAINS]   e.g. ... out/eqprop_chains 20 "1 8 64"
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-out/eqprop_chains}
EPOCHS=${2:-20}
CHAINS=${3:-1 8 64}
PBIT=${PBIT:-build/release/pbit}
BASE=${CFG:-configs/eqprop_mnist100.json}
mkdir -p "$OUT"
for c in $CHAINS; do
  python3 - "$BASE" "$OUT/config_c$c.json" "$c" "$EPOCHS" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["train"]["chains_per_image"] = int(sys.argv[3])
cfg["train"]["epochs"] = int(sys.argv[4])
cfg["train"]["skip_when_correct"] = False
cfg["_comment"] = "eqprop_chains.sh: " + sys.argv[1] + " with train.chains_per_image = " + sys.argv[3] + " and " + sys.argv[4] + " epochs, every image updating"
json.dump(cfg, open(sys.argv[2], "w"), indent=1)
PY
  "$PBIT" eqprop train --config "$OUT/config_c$c.json" --out "$OUT/c$c" --overwrite 2>"$OUT/c$c.log"
  "$PBIT" eqprop eval --config "$OUT/config_c$c.json" --model "$OUT/c$c/model.bin" --test-images 0 --out "$OUT/c$c/eval_10k.json" 2>>"$OUT/c$c.log"
done
python3 - "$OUT" $CHAINS <<'PY'
import json, sys
out, chains = sys.argv[1], sys.argv[2:]
rows = []
for c in chains:
    r = json.load(open(f"{out}/c{c}/results.json"))
    e = json.load(open(f"{out}/c{c}/eval_10k.json"))
    rows.append({"chains_per_image": int(c), "epochs": r["epochs_trained"], "updates": r["history"][-1]["updates"],
                 "test_accuracy_100": r["eval"]["test_accuracy"], "test_accuracy_10k": e["eval"]["test_accuracy"],
                 "train_wall_s": r["train_wall_s"], "train_flips": r["train_flips"],
                 "train_accuracy_free_phase_last_epoch": r["history"][-1]["train_accuracy_free_phase"]})
json.dump({"study": "eqprop_chains", "rows": rows}, open(f"{out}/summary.json", "w"), indent=1)
for x in rows:
    print("%3d chains per image: %5.1f%% on 100 test images, %6.2f%% on 10,000; %d updates, %.0f s, %.3g flips" % (
        x["chains_per_image"], 100 * x["test_accuracy_100"], 100 * x["test_accuracy_10k"], x["updates"], x["train_wall_s"], x["train_flips"]))
PY
