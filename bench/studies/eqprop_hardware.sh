#!/usr/bin/env bash
# EqProp on imperfect p-bits (issue 20): the MNIST/100 network of configs/eqprop_mnist100.json trained
# on the ideal sampler, with physics-aware training (train.mode pat: the free phase on the device, the
# nudged phase and its reference on the ideal sampler from the device's free state) and in situ
# (train.mode in_situ: both phases' statistics measured on the device's sampler, as a hardware Ising
# machine would), for two devices of one instance at two severities; each model classifies all
# 10,000 test images on its device and on ideal p-bits.
# OUT/summary.{json,md}, OUT/hardware.png.
#   bash bench/studies/eqprop_hardware.sh [OUT]   e.g. ... out/eqprop_hardware
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-out/eqprop_hardware}
PBIT=${PBIT:-build/release/pbit}
BASE=${CFG:-configs/eqprop_mnist100.json}
mkdir -p "$OUT"
python3 - "$BASE" "$OUT" <<'PY'
import json, sys
base, out = sys.argv[1], sys.argv[2]
devices = {
    "mild": {"weight_bits": 6, "weight_range": 1.0, "gain_sigma": 0.1, "offset_sigma": 0.1, "device_seed": 7},
    "severe": {"weight_bits": 4, "weight_range": 1.0, "gain_sigma": 0.3, "offset_sigma": 0.3, "beta_offset": -0.2,
               "stuck_fraction": 0.02, "device_seed": 7},
}
c = json.load(open(base))
json.dump(c, open(f"{out}/config_ideal.json", "w"), indent=1)
for dev, hw in devices.items():
    for mode in ["ideal", "pat", "in_situ"]:
        d = json.load(open(base))
        d["hardware"] = hw
        d["train"]["mode"] = mode
        d["_comment"] = "eqprop_hardware.sh: " + base + " on device '" + dev + "', train.mode " + mode
        json.dump(d, open(f"{out}/config_{dev}_{mode}.json", "w"), indent=1)
PY
"$PBIT" eqprop train --config "$OUT/config_ideal.json" --out "$OUT/ideal" --overwrite 2>"$OUT/ideal.log" | tee -a "$OUT/train.txt"
"$PBIT" eqprop eval --config "$OUT/config_ideal.json" --model "$OUT/ideal/model.bin" --test-images 0 --out "$OUT/eval_ideal_on_ideal.json" 2>/dev/null
for dev in mild severe; do
  "$PBIT" eqprop eval --config "$OUT/config_${dev}_ideal.json" --model "$OUT/ideal/model.bin" --test-images 0 --out "$OUT/eval_ideal_on_$dev.json" 2>/dev/null
  for mode in pat in_situ; do
    "$PBIT" eqprop train --config "$OUT/config_${dev}_${mode}.json" --out "$OUT/${dev}_${mode}" --overwrite 2>"$OUT/${dev}_${mode}.log" | tee -a "$OUT/train.txt"
    "$PBIT" eqprop eval --config "$OUT/config_${dev}_${mode}.json" --model "$OUT/${dev}_${mode}/model.bin" --test-images 0 --out "$OUT/eval_${dev}_${mode}_on_$dev.json" 2>/dev/null
    "$PBIT" eqprop eval --config "$OUT/config_ideal.json" --model "$OUT/${dev}_${mode}/model.bin" --test-images 0 --out "$OUT/eval_${dev}_${mode}_on_ideal.json" 2>/dev/null
  done
done
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
acc = lambda f: json.load(open(f"{out}/{f}"))["eval"]["test_accuracy"]
ideal_on_ideal = acc("eval_ideal_on_ideal.json")
md = ["# EqProp (MNIST/100 network) on imperfect p-bits: all 10,000 test images", "",
      "| device | trained ideally, on the device | PAT, on the device | in situ, on the device | PAT - ideal-trained (points) | PAT, on ideal p-bits | in situ, on ideal p-bits |",
      "|---|---:|---:|---:|---:|---:|---:|"]
rows = []
for dev in ["mild", "severe"]:
    r = {"device": dev, "hardware": json.load(open(f"{out}/config_{dev}_in_situ.json"))["hardware"],
         "ideal_trained_on_device": acc(f"eval_ideal_on_{dev}.json"), "pat_on_device": acc(f"eval_{dev}_pat_on_{dev}.json"),
         "in_situ_on_device": acc(f"eval_{dev}_in_situ_on_{dev}.json"), "pat_on_ideal": acc(f"eval_{dev}_pat_on_ideal.json"),
         "in_situ_on_ideal": acc(f"eval_{dev}_in_situ_on_ideal.json")}
    r["pat_gain_points"] = 100 * (r["pat_on_device"] - r["ideal_trained_on_device"])
    rows.append(r)
    md.append("| %s | %.2f%% | %.2f%% | %.2f%% | %+.2f | %.2f%% | %.2f%% |" % (dev, 100 * r["ideal_trained_on_device"], 100 * r["pat_on_device"],
              100 * r["in_situ_on_device"], r["pat_gain_points"], 100 * r["pat_on_ideal"], 100 * r["in_situ_on_ideal"]))
md += ["", "The ideally trained network on ideal p-bits: %.2f%%." % (100 * ideal_on_ideal)]
json.dump({"study": "eqprop_hardware", "ideal_trained_on_ideal": ideal_on_ideal, "rows": rows}, open(f"{out}/summary.json", "w"), indent=1)
open(f"{out}/summary.md", "w").write("\n".join(md) + "\n")
with open(f"{out}/hardware.dat", "w") as f:
    f.write("# device ideal-trained PAT in-situ (accuracy on the device, %)\n")
    for r in rows: f.write('"%s" %.3f %.3f %.3f\n' % (r["device"], 100 * r["ideal_trained_on_device"], 100 * r["pat_on_device"], 100 * r["in_situ_on_device"]))
open(f"{out}/hardware.gp", "w").write("""# gnuplot hardware.gp (data: hardware.dat)
set terminal pngcairo size 800,500
set output 'hardware.png'
set title 'EqProp 784-120-40 (MNIST/100) on imperfect p-bits: accuracy on the device'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'test accuracy on the device (%%)'
set yrange [0:100]
set grid ytics
set key outside below horizontal
plot 'hardware.dat' using 2:xtic(1) title 'trained on the ideal sampler', '' using 3 title 'physics-aware (PAT)', '' using 4 title 'trained in situ', %f with lines dt 2 title 'ideal-trained on ideal p-bits'
""" % (100 * ideal_on_ideal))
print("\n".join(md))
PY
(cd "$OUT" && gnuplot hardware.gp 2>/dev/null) || echo "gnuplot not found: hardware.png not drawn (hardware.gp is there)"
