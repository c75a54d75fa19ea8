#!/usr/bin/env bash
# Imperfect p-bit hardware and physics-aware training (Wright et al. 2022) on the p-DNN: the
# 784-256-256-10 p-bit network of configs/pdnn_mnist.json trained three ways - on the ideal model
# (then deployed), with PAT (forward on the device, backward through the ideal model at the measured
# activations) and in situ (forward on the device, backward through the device's own response) - on
# two devices of the same instance (device_seed) at two severities, each model evaluated on its
# device and on ideal p-bits at T = 1 and 10, on all 10,000 test images. OUT/summary.{json,md},
# OUT/hardware.png.
#   bash bench/studies/pdnn_hardware.sh [OUT] [EPOCHS]   e.g. ... out/pdnn_hardware 5
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-out/pdnn_hardware}
EPOCHS=${2:-5}
PBIT=${PBIT:-build/release/pbit}
BASE=${CFG:-configs/pdnn_mnist.json}
mkdir -p "$OUT"
python3 - "$BASE" "$OUT" "$EPOCHS" <<'PY'
import json, sys
base, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
devices = {
    "mild": {"weight_bits": 6, "weight_range": 0.5, "input_bits": 6, "input_range": 4, "lut_bits": 4,
             "gain_sigma": 0.1, "offset_sigma": 0.1, "device_seed": 7},
    "severe": {"weight_bits": 4, "weight_range": 0.5, "input_bits": 4, "input_range": 4, "lut_bits": 3,
               "gain_sigma": 0.3, "offset_sigma": 0.3, "beta_offset": -0.2, "stuck_fraction": 0.02, "device_seed": 7},
}
for dev, hw in devices.items():
    for mode in ["ideal", "pat", "in_situ"]:
        c = json.load(open(base))
        c["hardware"] = hw
        c["train"]["mode"] = mode
        c["train"]["epochs"] = epochs
        c["eval"]["samples"] = [1, 10]
        c["_comment"] = "pdnn_hardware.sh: " + base + ", device '" + dev + "', train.mode " + mode + ", " + str(epochs) + " epochs"
        json.dump(c, open(f"{out}/config_{dev}_{mode}.json", "w"), indent=1)
PY
for dev in mild severe; do
  for mode in ideal pat in_situ; do
    run=${dev}_$mode
    model=$OUT/$run/model.bin
    if [ "$mode" = ideal ]; then  # one ideal-trained network serves both devices
      run=ideal; model=$OUT/ideal/model.bin
      [ -f "$model" ] || "$PBIT" pdnn train --config "$OUT/config_${dev}_ideal.json" --out "$OUT/ideal" --overwrite 2>"$OUT/ideal.log" | tee -a "$OUT/train.txt"
    else
      "$PBIT" pdnn train --config "$OUT/config_$run.json" --out "$OUT/$run" --overwrite 2>"$OUT/$run.log" | tee -a "$OUT/train.txt"
    fi
    "$PBIT" pdnn eval --config "$OUT/config_${dev}_$mode.json" --model "$model" --label "$dev $mode" --out "$OUT/eval_${dev}_${mode}_device.json" 2>/dev/null
    "$PBIT" pdnn eval --config "$OUT/config_${dev}_$mode.json" --model "$model" --ideal --label "$dev $mode" --out "$OUT/eval_${dev}_${mode}_ideal.json" 2>/dev/null
  done
done
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
rows, md = [], ["# p-DNN on imperfect p-bits: ideal-trained, PAT and in-situ-trained (MNIST, all 10,000 test images)", "",
                "| device | trained | on the device T=1 | T=10 | on ideal p-bits T=1 | T=10 |", "|---|---|---:|---:|---:|---:|"]
for dev in ["mild", "severe"]:
    for mode in ["ideal", "pat", "in_situ"]:
        d = json.load(open(f"{out}/eval_{dev}_{mode}_device.json"))
        i = json.load(open(f"{out}/eval_{dev}_{mode}_ideal.json"))
        r = {"device": dev, "hardware": d["eval"]["hardware"], "train_mode": mode,
             "device_accuracy": dict(zip(map(str, d["eval"]["samples"]), d["eval"]["test_accuracy"])),
             "ideal_accuracy": dict(zip(map(str, i["eval"]["samples"]), i["eval"]["test_accuracy"]))}
        rows.append(r)
        md.append("| %s (%s) | %s | %.2f%% | %.2f%% | %.2f%% | %.2f%% |" % (dev, r["hardware"], mode, 100 * r["device_accuracy"]["1"],
                  100 * r["device_accuracy"]["10"], 100 * r["ideal_accuracy"]["1"], 100 * r["ideal_accuracy"]["10"]))
md += ["", "The gap PAT closes on the device (points, PAT minus ideal-trained; in situ beside it):", ""]
gaps = {}
for dev in ["mild", "severe"]:
    a = {r["train_mode"]: r["device_accuracy"] for r in rows if r["device"] == dev}
    for T in ["1", "10"]:
        g = {"pat": 100 * (a["pat"][T] - a["ideal"][T]), "in_situ": 100 * (a["in_situ"][T] - a["ideal"][T])}
        gaps[f"{dev}_T{T}"] = g
        md.append("- %s device, T = %s: PAT %+.2f, in situ %+.2f" % (dev, T, g["pat"], g["in_situ"]))
json.dump({"study": "pdnn_hardware", "rows": rows, "gain_over_ideal_training_points": gaps}, open(f"{out}/summary.json", "w"), indent=1)
open(f"{out}/summary.md", "w").write("\n".join(md) + "\n")
with open(f"{out}/hardware.dat", "w") as f:
    f.write("# case ideal-trained pat in_situ (accuracy on the device, %)\n")
    for dev in ["mild", "severe"]:
        for T in ["1", "10"]:
            a = {r["train_mode"]: r["device_accuracy"][T] for r in rows if r["device"] == dev}
            f.write('"%s, T=%s" %.3f %.3f %.3f\n' % (dev, T, 100 * a["ideal"], 100 * a["pat"], 100 * a["in_situ"]))
open(f"{out}/hardware.gp", "w").write("""# gnuplot hardware.gp (data: hardware.dat)
set terminal pngcairo size 900,520
set output 'hardware.png'
set title 'p-DNN 784-256-256-10 on imperfect p-bits: accuracy on the device (MNIST)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'test accuracy on the device (%)'
set yrange [85:100]
set grid ytics
set key top left
plot 'hardware.dat' using 2:xtic(1) title 'trained on ideal p-bits', '' using 3 title 'physics-aware (PAT)', '' using 4 title 'in situ'
""")
print("\n".join(md))
PY
(cd "$OUT" && gnuplot hardware.gp 2>/dev/null) || echo "gnuplot not found: hardware.png not drawn (hardware.gp is there)"
