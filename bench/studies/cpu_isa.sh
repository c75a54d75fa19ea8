#!/usr/bin/env bash
# The cpu backend's instruction-set paths side by side (issue 15): one run of pbit_bench_gibbs over
# the five graphs at 32, 1024 and 16384 chains for the avx512, avx2 (x86-64-v3) and generic paths;
# then, when a reference build is given, REPEATS alternating rounds at 1024 chains of the reference
# (e.g. 3688397, the last build with hand-written AVX-512 intrinsics, compiled with -march=native)
# against this build's avx512 and avx2 paths, on pegasus14, regular15 and g12. Writes
# OUT/gibbs_cpu_isas.json, OUT/round<r>_{ref,head}.json and OUT/cpu_isa.md (the tables, medians).
#   bash bench/studies/cpu_isa.sh [OUT]
# Environment: BENCH (build/release/bench/pbit_bench_gibbs), REF_BENCH (a reference build's
# pbit_bench_gibbs) or REF_COMMIT (a commit of this repository: built into build/ref-<commit> with
# its cpu-only preset, bench target only; a few minutes on 2 cores), REPEATS (4), MIN_TIME (1).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-out/cpu_isa}
BENCH=${BENCH:-build/release/bench/pbit_bench_gibbs}
REPEATS=${REPEATS:-4}
MIN_TIME=${MIN_TIME:-1}
REF_BENCH=${REF_BENCH:-}
if [[ -z "$REF_BENCH" && -n "${REF_COMMIT:-}" ]]; then
  dir=build/ref-$REF_COMMIT
  if [[ ! -d "$dir" ]]; then git worktree add --detach "$dir" "$REF_COMMIT" >&2; fi
  (cd "$dir" && cmake --preset cpu-only > /dev/null && cmake --build build/cpu-only --target pbit_bench_gibbs -j"$(nproc)" > /dev/null)
  REF_BENCH=$dir/build/cpu-only/bench/pbit_bench_gibbs
fi
[[ -x "$BENCH" ]] || { echo "cpu_isa.sh: no benchmark at $BENCH (build it: cmake --build build/release --target pbit_bench_gibbs)" >&2; exit 1; }
mkdir -p "$OUT"
# A path this CPU lacks (avx512 on most laptops) is an error row and exit status 1: go on without it.
"$BENCH" --backends cpu --cpu-isas avx512,avx2,generic --chains 32,1024,16384 --min-time "$MIN_TIME" \
  --out "$OUT/gibbs_cpu_isas.json" > "$OUT/gibbs_cpu_isas.txt" || [[ -s "$OUT/gibbs_cpu_isas.json" ]]
echo "isa table done" >&2
if [[ -n "$REF_BENCH" ]]; then
  for r in $(seq "$REPEATS"); do
    "$REF_BENCH" --backends cpu --graphs pegasus14,regular15,g12 --chains 1024 --min-time "$MIN_TIME" \
      --out "$OUT/round${r}_ref.json" > /dev/null
    "$BENCH" --backends cpu --cpu-isas avx512,avx2 --graphs pegasus14,regular15,g12 --chains 1024 --min-time "$MIN_TIME" \
      --out "$OUT/round${r}_head.json" > /dev/null || [[ -s "$OUT/round${r}_head.json" ]]
    echo "round $r/$REPEATS done" >&2
  done
fi
python3 - "$OUT" "$REPEATS" "${REF_BENCH:+yes}" <<'PY'
import json, statistics, sys
out, repeats, have_ref = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "yes"
d = json.load(open(f"{out}/gibbs_cpu_isas.json"))
# Paths this CPU cannot run come back as error rows (no flips_per_ns): their cells read "-".
fp = {(r["graph"], r["cpu_isa"], r["chains"]): r["flips_per_ns"] for r in d["results"] if "flips_per_ns" in r}
cell = lambda v: "-" if v is None else f"{v:.3f}"
ratio = lambda a, b: "-" if a is None or b is None else f"{a / b:.0%}"
graphs = list(dict.fromkeys(r["graph"] for r in d["results"]))
lines = [f"# cpu backend by instruction-set path ({d['machine']['cpu']}, {d['machine']['logical_cpus']} threads)", "",
         f"`{' '.join(['pbit_bench_gibbs', '--backends cpu --cpu-isas avx512,avx2,generic --chains 32,1024,16384'])}`"
         f" at {d['build']['git_sha']}, {d['build']['compiler']}: flips/ns in one run.", "",
         "| graph | avx512 B=32 | avx2 B=32 | generic B=32 | avx512 B=1024 | avx2 B=1024 | generic B=1024 | avx512 B=16384 | avx2 B=16384 | avx2 / avx512 at 1024 |",
         "|---|" + "---:|" * 9]
for g in graphs:
    cells = [fp.get((g, i, b)) for b, i in [(32, "avx512"), (32, "avx2"), (32, "generic"), (1024, "avx512"), (1024, "avx2"),
                                           (1024, "generic"), (16384, "avx512"), (16384, "avx2")]]
    lines.append(f"| {g} | " + " | ".join(cell(c) for c in cells) + f" | {ratio(fp.get((g, 'avx2', 1024)), fp.get((g, 'avx512', 1024)))} |")
summary = {"isa_table": {f"{g}/{i}/{b}": v for (g, i, b), v in fp.items()}}
if have_ref and repeats > 0:
    ref, head, sha = {}, {}, "?"
    for r in range(1, repeats + 1):
        dr = json.load(open(f"{out}/round{r}_ref.json"))
        sha = dr["build"]["git_sha"]
        for x in dr["results"]:
            if "flips_per_ns" in x:
                ref.setdefault(x["graph"], []).append(x["flips_per_ns"])
        for x in json.load(open(f"{out}/round{r}_head.json"))["results"]:
            if "flips_per_ns" in x:
                head.setdefault((x["graph"], x["cpu_isa"]), []).append(x["flips_per_ns"])
    lines += ["", f"Against the reference build {sha}, {repeats} alternating rounds at 1024 chains, medians (flips/ns):", "",
              "| graph | reference | avx512 path | avx512 / reference | avx2 path | avx2 / avx512 |", "|---|---:|---:|---:|---:|---:|"]
    summary["reference_sha"] = sha
    summary["rounds"] = repeats
    for g in ref:
        m_ref, m_512, m_2 = (statistics.median(v) if v else None for v in (ref[g], head.get((g, "avx512")), head.get((g, "avx2"))))
        pct = "-" if m_512 is None else f"{m_512 / m_ref:.1%}"
        lines.append(f"| {g} | {cell(m_ref)} | {cell(m_512)} | {pct} | {cell(m_2)} | {ratio(m_2, m_512)} |")
        summary[f"{g}_reference_flips_per_ns"] = m_ref
        summary[f"{g}_avx512_flips_per_ns"] = m_512
        summary[f"{g}_avx2_flips_per_ns"] = m_2
open(f"{out}/cpu_isa.md", "w").write("\n".join(lines) + "\n")
json.dump(summary, open(f"{out}/cpu_isa_summary.json", "w"), indent=1, sort_keys=True)
print("\n".join(lines))
PY
