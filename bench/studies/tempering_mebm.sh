#!/usr/bin/env bash
# What parallel tempering buys the monolithic EBM's mixing (issue 21), at equal flips: two MEBMs of
# configs/mebm_fashion_cpu.json (70x70 G12 scaled to 28x28, Fashion-MNIST pooled to 14x14) - the
# config as it is (ACP on, 3 epochs) and the slow mixer the DTM paper warns of (ACP off, EPOCHS_SLOW
# epochs) - are trained here, then `pbit dtm mixing` measures the autocorrelation of ACP's projection
# against lag for plain Gibbs and for each ladder, S replica-sweeps each (tempering: S / R sweeps of R
# replicas), and generation's feature-FID with the anneal and with tempering at equal flips.
# OUT/summary.{json,md}, OUT/mixing.png. Finished steps are kept (remove their outputs to redo them).
#   bash bench/studies/tempering_mebm.sh [OUT]   e.g. ... out/tempering_mebm
# Environment: PBIT, EPOCHS_SLOW (12), S (9600 replica-sweeps), STRIDE (48: a multiple of every R),
# LADDERS ("R:hottest[:adapt_rounds] ...": geometric from beta 1, tuned during the warm-up's first
# adapt_rounds rounds if given; default "2:0.7 4:0.5 8:0.3 8:0.5:400 16:0.3:400").
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-out/tempering_mebm}
PBIT=${PBIT:-build/release/pbit}
BASE=configs/mebm_fashion_cpu.json
EPOCHS_SLOW=${EPOCHS_SLOW:-12}
S=${S:-9600}
STRIDE=${STRIDE:-48}
LADDERS=${LADDERS:-2:0.7 4:0.5 8:0.3 8:0.5:400 16:0.3:400}
mkdir -p "$OUT"
python3 - "$BASE" "$OUT" "$EPOCHS_SLOW" <<'PY'
import json, sys
base, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = json.load(open(base)); c["run"]["backend"] = "cpu"
c["run"]["output_dir"] = out + "/acp"
c["_comment"] = "tempering_mebm.sh: " + base + " as it is (ACP on)"
json.dump(c, open(f"{out}/config_acp.json", "w"), indent=1)
c["train"]["acp"]["enabled"] = False
c["train"]["epochs"] = epochs
c["run"]["output_dir"] = out + "/noacp"
c["_comment"] = "tempering_mebm.sh: " + base + " without ACP, %d epochs (the slow mixer)" % epochs
json.dump(c, open(f"{out}/config_noacp.json", "w"), indent=1)
PY
for m in acp noacp; do
  if [ ! -f "$OUT/$m/checkpoint.bin" ]; then
    echo "training the MEBM ($m)" >&2
    "$PBIT" dtm train --config "$OUT/config_$m.json" --overwrite 2>"$OUT/train_$m.log" | tee "$OUT/train_$m.txt"
  fi
  for l in $LADDERS; do
    IFS=: read -r r hot adapt <<<"$l"
    adapt=${adapt:-0}
    [ -f "$OUT/mixing_${m}_$(echo "$l" | tr : _).json" ] && continue  # measured already (rm it to measure again)
    echo "mixing: $m, $r replicas down to beta $hot, adapt_rounds $adapt" >&2
    "$PBIT" dtm mixing --config "$OUT/config_$m.json" --out "$OUT/mixing_${m}_$(echo "$l" | tr : _).json" --sweeps "$S" --stride "$STRIDE" \
      --tempering "{\"replicas\": $r, \"target\": 1, \"hottest\": $hot, \"scheme\": \"deo\", \"adapt_rounds\": $adapt}" 2>>"$OUT/mixing.log"
  done
done
# Generation at equal flips: the config's anneal (generate.sweeps sweeps, beta 0.8 -> 1.2) against
# GEN_R replicas (adaptive ladder from 1.2 down to GEN_HOT) for generate.sweeps / GEN_R sweeps;
# feature-FID of 1000 samples each (the trained model is copied, so its own results stay).
GEN_R=${GEN_R:-8}
GEN_HOT=${GEN_HOT:-0.5}
for m in acp noacp; do
  [ -f "$OUT/${m}_pt/results.json" ] && continue
  rm -rf "$OUT/${m}_pt" && cp -r "$OUT/$m" "$OUT/${m}_pt"
  python3 - "$OUT/config_$m.json" "$OUT/config_${m}_pt.json" "$OUT/${m}_pt" "$GEN_R" "$GEN_HOT" <<'PY'
import json, sys
src, dst, out, r, hot = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
c = json.load(open(src))
g = c["generate"]
g.pop("beta_start", None)
g["sweeps"] = g["sweeps"] // r
g["tempering"] = {"replicas": r, "hottest": hot, "adapt_rounds": min(100, g["sweeps"] // 2)}
c["run"]["output_dir"] = out
c["_comment"] = c["_comment"] + "; generation by %d-replica tempering at equal flips" % r
json.dump(c, open(dst, "w"), indent=1)
PY
  echo "tempered generation: $m" >&2
  "$PBIT" dtm train --config "$OUT/config_${m}_pt.json" --resume 2>>"$OUT/generate_pt.log" | tee -a "$OUT/generate_pt.txt"
done
python3 - "$OUT" "$LADDERS" <<'PY'
import json, sys
out, ladders = sys.argv[1], sys.argv[2].split()
names = {"acp": "MEBM, ACP on (3 epochs)", "noacp": "MEBM, ACP off (slow mixer)"}
rows, md = [], ["# MEBM mixing: plain Gibbs against parallel tempering at equal flips", "",
                "Integrated autocorrelation time of ACP's projection (replica-sweeps; '>=' where r had not reached 0 within the horizon).", "",
                "| model | sampler | replicas | hottest beta | ladder | swap acceptance | tau_int (replica-sweeps) | tau_int (target sweeps) |",
                "|---|---|---:|---:|---|---|---:|---:|"]
def fmt(x):
    return ("%.0f" if x["integrated_time_complete"] else ">= %.0f") % x["integrated_time_replica_sweeps"]
for m in ("acp", "noacp"):
    first = True
    for l in ladders:
        f = l.split(":"); r, hot = f[0], f[1]; adapt = int(f[2]) if len(f) > 2 else 0
        tag = l.replace(":", "_")
        j = json.load(open(f"{out}/mixing_{m}_{tag}.json"))
        p, t = j["plain"], j["tempering"]
        if first:
            rows.append({"model": m, "sampler": "plain", "replicas": 1, "integrated_time_replica_sweeps": p["integrated_time_replica_sweeps"],
                         "integrated_time_complete": p["integrated_time_complete"], "wall_s": p["wall_s"]})
            md.append("| %s | plain Gibbs | 1 | - | - | - | %s | %s |" % (names[m], fmt(p), fmt(p)))
            first = False
        acc = " ".join("-" if a is None else "%.2f" % a for a in t["swap_acceptance"])  # (null: a pair never attempted)
        rows.append({"model": m, "sampler": "tempering", "replicas": int(r), "hottest_beta": float(hot), "adapt_rounds": adapt, "betas": t["betas"],
                     "swap_acceptance": t["swap_acceptance"], "integrated_time_replica_sweeps": t["integrated_time_replica_sweeps"],
                     "integrated_time_complete": t["integrated_time_complete"], "wall_s": t["wall_s"]})
        target = dict(t); target["integrated_time_replica_sweeps"] = t["integrated_time_replica_sweeps"] / int(r)
        md.append("| %s | tempering | %s | %s | %s | %s | %s | %s |" % (names[m], r, hot, "adaptive (%d rounds)" % adapt if adapt else "geometric",
                                                                 acc, fmt(t), fmt(target)))
        with open(f"{out}/curve_{m}_{tag}.dat", "w") as f:
            f.write("# lag_replica_sweeps r_plain r_tempered\n")
            for a, b in zip(p["curve"], t["curve"]):
                f.write("%d %.5f %.5f\n" % (a["lag_replica_sweeps"], a["r"], b["r"]))
json.dump({"study": "tempering_mebm", "horizon_replica_sweeps": j["horizon_replica_sweeps"], "stride_replica_sweeps": j["stride_replica_sweeps"],
           "nodes": j["nodes"], "git_sha": j["git_sha"], "device": j["device"], "rows": rows}, open(f"{out}/summary.json", "w"), indent=1)
gen = []
md += ["", "Generation at equal flips (1000 samples, feature-FID against the test set; lower is better):", "",
       "| model | sampler | sweeps x replicas | feature-FID |", "|---|---|---:|---:|"]
for m in ("acp", "noacp"):
    for tag, what in (("", "anneal 0.8 -> 1.2"), ("_pt", "tempering, adaptive ladder")):
        g = json.load(open(f"{out}/{m}{tag}/results.json"))
        reps = g.get("generation_replicas", 1)
        gen.append({"model": m, "sampler": what, "sweeps_per_sample": g["sweeps_per_sample"], "replicas": reps,
                    "feature_fid": g["feature_fid"], "betas": g.get("generation_tempering_betas"), "generation_wall_s": g["generation_wall_s"]})
        md.append("| %s | %s | %d x %d | %.2f |" % (names[m], what, g["sweeps_per_sample"], reps, g["feature_fid"]))
summary = json.load(open(f"{out}/summary.json"))
summary["generation"] = gen
json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
open(f"{out}/summary.md", "w").write("\n".join(md) + "\n")
plots = []
for m in ("acp", "noacp"):
    lines = []
    for k, l in enumerate(ladders):
        f = l.split(":"); tag = l.replace(":", "_")
        if k == 0:
            lines.append("'curve_%s_%s.dat' using 1:2 with lines lw 3 lc rgb 'black' title 'plain Gibbs'" % (m, tag))
        lines.append("'curve_%s_%s.dat' using 1:3 with lines lw 2 title '%s replicas to beta %s%s'" % (m, tag, f[0], f[1], ", adaptive" if len(f) > 2 else ""))
    plots.append("set title '%s'\nplot %s" % (names[m], ", ".join(lines)))
open(f"{out}/mixing.gp", "w").write("""# gnuplot mixing.gp (data: curve_*.dat)
set terminal pngcairo size 1200,500
set output 'mixing.png'
set multiplot layout 1,2 title 'MEBM (Fashion-MNIST 14x14 on 28x28 G12): autocorrelation at equal flips'
set xlabel 'lag (replica-sweeps: every replica counted)'
set ylabel 'autocorrelation r'
set grid
set logscale x
set xrange [%d:*]
set yrange [-0.05:0.5]
set key top right
""" % j["stride_replica_sweeps"] + "\n".join(plots) + "\nunset multiplot\n")
print("\n".join(md))
PY
(cd "$OUT" && gnuplot mixing.gp 2>/dev/null) || echo "gnuplot not found: mixing.png not drawn (mixing.gp is there)"
