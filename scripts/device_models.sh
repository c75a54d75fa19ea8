#!/usr/bin/env bash
# The model runs of issues 4, 5 and 6 on a GPU machine (the device tool), as named jobs that share one
# call's time (DEADLINE_S, default 560 s of the call's 600):
#   dbm_mnist     sparse DBM, full MNIST, configs/dbm_mnist_gpu.json (its 290 s training budget), then
#                 accuracy against inference sweeps (DBM_CURVE_SWEEPS on DBM_CURVE_IMAGES test images)
#   dbm_mnist_mix the same with configs/dbm_mnist_gpu_mix.json (10x the sweeps per update, 1/4 the chains)
#   dbm_fashion   sparse DBM, Fashion-MNIST, configs/dbm_fashion_gpu.json, DBM_BUDGET s of training (less if
#                 the call has less left)
#   dtm4 dtm4_noacp dtm2 dtm8 mebm
#                 DTM / MEBM on 70x70 G12, configs/dtm_fashion_gpu.json with --steps / --acp, DTM_BUDGET s
#                 of training each; mebm also generates again at MEBM_SWEEPS sweeps per sample
#   compare       the comparison suite, shortened to fit (configs/compare_device.json), with the DTM /
#                 MEBM runs of this call (or of bench/results) as its quality points
# Usage (device call, carry ["data/device"], timeout_s 600):  bash scripts/device_models.sh dbm_mnist dtm4 ...
# Everything lands in $OUT/models.tar.gz; unpack it here and copy results into bench/results/.
DEVICE_JOB=models
source "$(dirname "$0")/device_common.sh"
[ $# -gt 0 ] || { echo "usage: $0 JOB..."; exit 2; }
for job in "$@"; do  # a typo must not cost a build on the device
  case $job in dbm_mnist|dbm_mnist_mix|dbm_fashion|dtm4|dtm4_noacp|dtm2|dtm8|mebm|compare) ;; *) echo "unknown job '$job'"; exit 2 ;; esac
done
device_build pbit_cli || exit 1
PBIT=./build/release/pbit
DBM_BUDGET=${DBM_BUDGET:-120}
DTM_BUDGET=${DTM_BUDGET:-90}
MEBM_SWEEPS=${MEBM_SWEEPS:-2000 32000}
dtm() {  # dtm NAME CONFIG STEPS ACP
  phase "$1" $((DTM_BUDGET + 240)) "$PBIT" dtm train --config "$2" --steps "$3" --acp "$4" --time-budget "$DTM_BUDGET" \
    --out "$STAGE/$1"
}
dbm_mnist() {  # dbm_mnist NAME CONFIG: train, then accuracy against inference sweeps per image (the
  # paper's model needed 1e5) on the first DBM_CURVE_IMAGES test images, DBM_CURVE_SWEEPS, 2 chains each
  phase "$1" 480 "$PBIT" dbm train --config "$2" --out "$STAGE/$1"
  [ -f "$STAGE/$1/model.json" ] && phase "$1_curve" 150 bash -c "$PBIT dbm eval --config $2 \
    --model $STAGE/$1/model.json --chains 2 --limit ${DBM_CURVE_IMAGES:-1000} \
    --sweeps ${DBM_CURVE_SWEEPS:-2000,20000,100000} > $STAGE/$1/eval_curve.json"
}
for job in "$@"; do
  case $job in
    dbm_mnist) dbm_mnist dbm_mnist configs/dbm_mnist_gpu.json ;;
    dbm_mnist_mix) dbm_mnist dbm_mnist_mix configs/dbm_mnist_gpu_mix.json ;;
    dbm_fashion)  # the training budget shrinks to what the call has left (evaluation needs about 60 s)
      b=$(( $(cap $((DBM_BUDGET + 60))) - 60 ))
      if [ "$b" -lt 30 ]; then echo "== dbm_fashion: skipped, no time left"; continue; fi
      phase dbm_fashion $((b + 150)) "$PBIT" dbm train --config configs/dbm_fashion_gpu.json \
        --time-budget "$b" --out "$STAGE/dbm_fashion" ;;
    dtm4) dtm dtm4 configs/dtm_fashion_gpu.json 4 on ;;
    dtm4_noacp) dtm dtm4_noacp configs/dtm_fashion_gpu.json 4 off ;;
    dtm2) dtm dtm2 configs/dtm_fashion_gpu.json 2 on ;;
    dtm8) dtm dtm8 configs/dtm_fashion_gpu.json 8 on ;;
    mebm)
      dtm mebm configs/mebm_fashion_gpu.json 1 on
      for s in $MEBM_SWEEPS; do  # the same trained MEBM, generating at other sweep budgets
        cp -r "$STAGE/mebm" "$STAGE/mebm_s$s" 2>/dev/null && phase "mebm_s$s" 200 "$PBIT" dtm train \
          --config configs/mebm_fashion_gpu.json --steps 1 --acp on --time-budget "$DTM_BUDGET" --gen-sweeps "$s" \
          --out "$STAGE/mebm_s$s" --resume
      done ;;
    compare)
      python3 - "$STAGE" > "$STAGE/compare_suite.json" <<'PY'
import json, os, sys
stage = sys.argv[1]
suite = json.load(open("configs/compare_device.json"))
runs = [(os.path.join(stage, d, "results.json"), label) for d, label in
        [("dtm4", "DTM T=4 + ACP"), ("dtm2", "DTM T=2 + ACP"), ("dtm8", "DTM T=8 + ACP"), ("dtm4_noacp", "DTM T=4, no ACP"),
         ("mebm", "MEBM")]] + [(os.path.join(stage, d, "results.json"), "MEBM, " + d.split("_s")[1] + " sweeps")
                               for d in sorted(os.listdir(stage)) if d.startswith("mebm_s")]
suite["quality"] = [{"label": label, "results": p} for p, label in runs if os.path.exists(p)] or suite.get("quality", [])
print(json.dumps(suite, indent=1))
PY
      phase compare 300 "$PBIT" compare --suite "$STAGE/compare_suite.json" --out "$STAGE/compare" ;;
    *) echo "unknown job '$job'"; exit 2 ;;
  esac
done
