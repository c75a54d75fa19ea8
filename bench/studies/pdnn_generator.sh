#!/usr/bin/env bash
# The p-DNN generator against T (Ghantasala et al. 2025: sample-aware training, quality improving with
# the samples averaged): trains the VAE of configs/pdnn_generator_mnist.json (data.dataset replaced)
# with a p-bit decoder at one and at four decoder samples per training image, and with a tanh decoder;
# then 'pbit pdnn generate' at T = 1 .. 100 for each p-bit decoder and for the tanh decoder with p-bit
# units (noise injection), and once for the tanh decoder as trained; 'pbit pdnn report' draws the
# feature-FID against T (OUT/report/fid.png).
#   bash bench/studies/pdnn_generator.sh [DATASET] [OUT] [EPOCHS]   e.g. ... mnist out/pdnn_generator 10
set -euo pipefail
cd "$(dirname "$0")/../.."
DATASET=${1:-mnist}
OUT=${2:-out/pdnn_generator_$DATASET}
EPOCHS=${3:-10}
PBIT=${PBIT:-build/release/pbit}
BASE=${CFG:-configs/pdnn_generator_mnist.json}
mkdir -p "$OUT"
for v in ${VARIANTS:-pbit pbit4 tanh}; do
  python3 - "$BASE" "$OUT/config_$v.json" "$v" "$DATASET" "$EPOCHS" <<'PY'
import json, sys
base, out, v, dataset, epochs = sys.argv[1:]
cfg = json.load(open(base))
cfg["data"]["dataset"] = dataset
cfg["train"]["epochs"] = int(epochs)
cfg["network"]["activation"] = "pbit" if v.startswith("pbit") else v
cfg["train"]["samples"] = int(v[4:] or 1) if v.startswith("pbit") else 1
cfg["_comment"] = "pdnn_generator.sh: " + base + " with a " + v + " decoder on " + dataset + ", " + epochs + " epochs"
json.dump(cfg, open(out, "w"), indent=1)
PY
  "$PBIT" pdnn train --config "$OUT/config_$v.json" --out "$OUT/$v" --overwrite 2>"$OUT/$v.log" | tee -a "$OUT/train.txt"
  "$PBIT" pdnn generate --config "$OUT/config_$v.json" --model "$OUT/$v/model.bin" --label "$v" --out "$OUT/gen_$v" 2>>"$OUT/$v.log"
  if [ "$v" = tanh ]; then
    "$PBIT" pdnn generate --config "$OUT/config_$v.json" --model "$OUT/$v/model.bin" --activation pbit --label "tanh+pbit noise" \
      --out "$OUT/gen_tanh_noise" 2>>"$OUT/$v.log"
  fi
done
"$PBIT" pdnn report "$OUT"/gen_*/results.json --out "$OUT/report"
