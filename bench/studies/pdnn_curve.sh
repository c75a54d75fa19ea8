#!/usr/bin/env bash
# The p-DNN paper's curve (Ghantasala et al. 2025) on one dataset: trains a 784-256-256-10 perceptron
# (configs/pdnn_mnist.json, data.dataset replaced) six times - tanh (fp32), 1-, 2- and 3-bit
# deterministic units, and p-bit units (sample-aware with one and with four samples per training
# image) - then evaluates on every
# test image: the p-DNN at T = 1, 2, 4, 10, 32, 100 samples, the tanh network with p-bit units
# (noise injection, no retraining) at the same T, and the deterministic networks once; 'pbit pdnn
# report' draws accuracy against T and energy per inference against accuracy (OUT/report).
#   bash bench/studies/pdnn_curve.sh [DATASET] [OUT] [EPOCHS]   e.g. ... fashion-mnist out/pdnn_fashion 10
# VARIANTS="pbit4" trains only those (the report reads every OUT/eval_*.json).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATASET=${1:-mnist}
OUT=${2:-out/pdnn_$DATASET}
EPOCHS=${3:-10}
PBIT=${PBIT:-build/release/pbit}
BASE=${CFG:-configs/pdnn_mnist.json}
mkdir -p "$OUT"
variants=${VARIANTS:-tanh quant1 quant2 quant3 pbit pbit4}
for v in $variants; do
  python3 - "$BASE" "$OUT/config_$v.json" "$v" "$DATASET" "$EPOCHS" <<'PY'
import json, sys
base, out, v, dataset, epochs = sys.argv[1:]
cfg = json.load(open(base))
cfg["data"]["dataset"] = dataset
cfg["train"]["epochs"] = int(epochs)
net = cfg["network"]
net.pop("bits", None)
if v.startswith("quant"):
    net["activation"], net["bits"] = "quant", int(v[5:])
elif v.startswith("pbit"):
    net["activation"] = "pbit"
    cfg["train"]["samples"] = int(v[4:] or 1)
else:
    net["activation"] = v
    cfg["train"]["samples"] = 1
cfg["_comment"] = "pdnn_curve.sh: " + base + " with " + v + " hidden units on " + dataset + ", " + epochs + " epochs"
json.dump(cfg, open(out, "w"), indent=1)
PY
  "$PBIT" pdnn train --config "$OUT/config_$v.json" --out "$OUT/$v" --overwrite 2>"$OUT/$v.log" | tee -a "$OUT/train.txt"
  "$PBIT" pdnn eval --config "$OUT/config_$v.json" --model "$OUT/$v/model.bin" --label "$v" --out "$OUT/eval_$v.json" 2>>"$OUT/$v.log"
done
if [ -f "$OUT/tanh/model.bin" ] && [ ! -f "$OUT/eval_tanh_noise.json" -o "$OUT/tanh/model.bin" -nt "$OUT/eval_tanh_noise.json" ]; then
  "$PBIT" pdnn eval --config "$OUT/config_tanh.json" --model "$OUT/tanh/model.bin" --activation pbit --label "tanh+pbit noise" \
    --out "$OUT/eval_tanh_noise.json" 2>>"$OUT/tanh.log"
fi
"$PBIT" pdnn report "$OUT"/eval_*.json --out "$OUT/report"
