#!/usr/bin/env bash
# The device kit (issue 13): proves the CUDA backend in one short call of the device tool.
#
#   bash scripts/device_kit.sh build     # here: portable binaries into build/carry (about a minute)
#   bash scripts/device_kit.sh run       # on the GPU machine: the staged checks, under one deadline
#   bash scripts/device_kit.sh dry-run   # here and in CI: build if needed, then `run` without a GPU
#   bash scripts/device_kit.sh rehearse  # here and in CI: `run`'s GPU stages on the CUDA emulator, tiny
#   bash scripts/device_kit.sh needed [REV]  # here: must the kit run on a GPU before the model jobs?
#   bash scripts/device_kit.sh verdict ARCHIVE [--for-jobs]  # did that kit run pass (tests ran, no stage failed)?
#   bash scripts/device_kit.sh carry-current    # here: is build/carry this commit's code, built clean?
#   KIT_SKIP="ncu thrml ..." bash scripts/device_kit.sh run  # leaves measurement stages out (below)
#
# The device call (docs/BENCHMARKING.md): command "bash scripts/device_kit.sh run", carry
# ["build/carry", "third_party_ref/thrml", "data/device/debs"], timeout_s 540. Everything lands in
# $OUT/kit.tar.gz, refreshed after every stage, so a call cut off still returns what was done; the
# last lines printed are a summary table.
#
# Stages of `run`, each under its own cap and all under DEADLINE_S (420 s by default):
#   1 machine    nvidia-smi, driver and runtime versions, `pbit backends`, and whether the carried
#                binaries load (if not, the needed targets are built there, on 16 cores); then a first
#                flips/ns of both kernels on Pegasus(14) at 16k and 64k chains (a few seconds)
#   2 tests      every CUDA test with PBIT_REQUIRE_GPU=1: both kernels and every fast-kernel team
#                shape on the exact-enumeration and bit-identity tests, cuda against cpu at 16k, 64k
#                and 100k chains on Pegasus(14), the engine's defect tests, NVML, and EqProp, DBM and
#                DTM trainings on cuda that must give the cpu's models bit for bit
#   3 sanitizer  compute-sanitizer memcheck on both kernels, racecheck and synccheck on the fast one
#   3b python    the Python module compiled there for the image's python3 (build/carry/python.tar.gz), then
#                the Python suite with PBIT_REQUIRE_GPU=1: cuda through Python against the reference on
#                both kernels, and DLPack into torch, CuPy and JAX (python/tests/test_cuda.py)
#   4 bench      pbit_bench_gibbs, simple and fast kernel, Pegasus(14), Zephyr(10,4), 70x70 G12, 1k to
#                100k chains, the fast kernel at 1, 2 and 4 words per lane (v1, v2) under both RNG
#                contracts and its team sizes on Pegasus(14); then NVML energy per flip
#                of the best Pegasus(14) configuration over a 10 s window beside idle power
#   5 ncu        one steady-state launch of each kernel (speed of light, stalls, occupancy; the fast
#                kernel's stalls per source line), as .ncu-rep and as ncu's details and raw pages
#   6 thrml      thrml on the same graph, weights, chains and sweeps (if carried and JAX is there)
# At the end scripts/kit_report.py writes report.md and the flips/ns plot's data into the archive.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
CARRY=${KIT_CARRY:-build/carry}
CARRY_ABS=$(realpath -m "$CARRY")  # (the run stages work in other folders; an absolute KIT_CARRY was read as $ROOT/$KIT_CARRY: helper-119)
# KIT_FROM=DIR (with KIT_CARRY=another folder): a dry run on the binaries of an existing build (the
# release one), not the portable build; such a carry is for the dry run only, never for a device.
KIT_FROM=${KIT_FROM:-}
[ -n "$KIT_FROM" ] && [ "$(realpath -m "$CARRY")" = "$(realpath -m build/carry)" ] &&
  { echo "device_kit: KIT_FROM needs KIT_CARRY (build/carry is the device's)"; exit 2; }
mode=${1:-}

# ---------------------------------------------------------------- needed (here, before a device session)
# Model jobs may run only after the kit's correctness stages passed on a GPU for the same code. The
# committed kit runs (bench/results/gpu-*/) record the commit they were built from (machine.txt) and
# their stages (summary.md); if one passed (tests run, none failed, no correctness stage failed,
# timed out or was left out) and nothing that goes into the library and the CLI the model jobs run
# (kernels/ src/ include/ cmake/ CMakeLists.txt CMakePresets.json: the kit preset's flags) changed
# between it and REV (default HEAD), a device session can give all its time to the model jobs. A
# new test alone does not make the kit needed: a session whose kit runs anyway runs it. Prints
# "kit: needed ..." or "kit: not needed ..."; always exits 0.
KIT_CODE_PATHS=(kernels src include cmake CMakeLists.txt CMakePresets.json)
# kit_stages_passed DIR: true if the kit run in DIR (an unpacked archive: summary.md) passed: tests
# ran and none failed, no correctness stage (all but the measurements: bench*, energy, ncu*, thrml*)
# failed, timed out or was left out by the deadline, and the kit got past the last of them (its
# "correctness stages" row; a kit run from before that row, as 2026-11-30's, no longer counts, and
# its code has changed since). Says why not. KIT_FOR_JOBS=1: the gate before the model jobs, which
# run the CLI: the Python stage (python_build, python_tests: the module compiled there, DLPack into
# torch, CuPy and JAX) does not count, since its failure may be the image's (headers, a consumer).
kit_stages_passed() {
  local s=$1/summary.md bad ignore="bench\|energy\|ncu\|thrml"
  [ "${KIT_FOR_JOBS:-0}" = 1 ] && ignore="$ignore\|python"
  [ -f "$s" ] || { echo "no summary.md in $1 (the kit did not get far)"; return 1; }
  bad=$(grep -v "^| \($ignore\)" "$s" | grep -m1 "FAILED\|TIMEOUT\|NOT RUN")
  [ -z "$bad" ] || { echo "a stage did not pass: $bad"; return 1; }
  grep -q "| tests | [1-9][0-9]* run, 0 failed" "$s" || { echo "no tests ran, or some failed: $(grep -m1 "^| tests |" "$s")"; return 1; }
  grep -q "^| correctness stages | all run |" "$s" ||
    { echo "the kit stopped before its last correctness stage (no 'correctness stages' row; last: $(grep "^| " "$s" | tail -1))"; return 1; }
  return 0
}
# What goes into build/carry (the binaries, the libraries, the Python module's sources, and this
# script, which lays the carry out and unpacks it there): a commit that changed none of it (results,
# docs, the other scripts) leaves the carried kit as good as one built from it.
CARRY_CODE_PATHS=(kernels src include cmake CMakeLists.txt CMakePresets.json tests bench python scripts/device_kit.sh
                  ':(exclude)bench/results' ':(exclude)bench/studies')
# kit_carry_current: true if $CARRY was built, from a clean tree, from HEAD or from an ancestor whose
# code is HEAD's (the commits since changed only results, docs or scripts), and no code is
# uncommitted now. Says which kit it is, or why it will not do.
kit_carry_current() {
  local sha
  [ -x "$CARRY/bin/pbit" ] && [ -f "$CARRY/GIT_SHA" ] || { echo "no kit in $CARRY"; return 1; }
  sha=$(head -1 "$CARRY/GIT_SHA")
  grep -q uncommitted "$CARRY/GIT_SHA" && { echo "$CARRY was built from uncommitted changes"; return 1; }
  # (a dry run's carry, another build's binaries, says so in KIT.txt: never one for a device, helper-119)
  grep -q "for a dry run only" "$CARRY/KIT.txt" 2> /dev/null && { echo "$CARRY holds a dry run's kit (KIT_FROM), never one for a device"; return 1; }
  git merge-base --is-ancestor "$sha" HEAD 2> /dev/null || { echo "$CARRY was built from ${sha:0:12}, not this commit or an ancestor"; return 1; }
  git diff --quiet "$sha" HEAD -- "${CARRY_CODE_PATHS[@]}" || { echo "$CARRY was built from ${sha:0:12}, and the code changed since"; return 1; }
  [ -z "$(git status --porcelain --untracked-files=no -- "${CARRY_CODE_PATHS[@]}")" ] || { echo "the code has uncommitted changes"; return 1; }
  echo "$CARRY: the kit of ${sha:0:12}, whose code is this commit's"
}
# kit_passed_at DIR: the commit a committed kit run (DIR = bench/results/gpu-*) was built from, if it
# passed and that commit, unmodified, is in this clone; nothing otherwise.
kit_passed_at() {
  local m=$1/machine.txt sha
  [ -f "$m" ] || return 0
  sha=$(sed -n 's/^pbit device kit, built .* from \([0-9a-f]\{40\}\).*/\1/p' "$m" | head -1)
  [ -n "$sha" ] && git cat-file -e "$sha^{commit}" 2>/dev/null || return 0
  grep -q "^pbit device kit, built .*uncommitted" "$m" && return 0  # built from a tree that differs from $sha
  kit_stages_passed "$1" > /dev/null || return 0
  echo "$sha"
}
kit_needed() {
  local rev=${1:-HEAD} sha dir best="" best_dir="" best_time=0 t
  git rev-parse --verify -q "$rev^{commit}" > /dev/null || { echo "kit: needed (no commit '$rev' here)"; return 0; }
  for dir in bench/results/gpu-*; do
    sha=$(kit_passed_at "$dir")
    [ -n "$sha" ] || continue
    git merge-base --is-ancestor "$sha" "$rev" 2>/dev/null || continue
    t=$(git log -1 --format=%ct "$sha")
    if [ "$t" -gt "$best_time" ]; then best=$sha best_dir=$dir best_time=$t; fi
  done
  if [ -z "$best" ]; then echo "kit: needed (no committed kit run that passed on a GPU for an ancestor of $rev)"; return 0; fi
  local changed
  changed=$(git diff --name-only "$best" "$rev" -- "${KIT_CODE_PATHS[@]}")
  if [ -z "$changed" ]; then
    echo "kit: not needed: it passed on a GPU at ${best:0:12} ($best_dir) and nothing in ${KIT_CODE_PATHS[*]} changed since"
  else
    echo "kit: needed: $(wc -l <<< "$changed") files in ${KIT_CODE_PATHS[*]} changed since it passed on a GPU at ${best:0:12} ($best_dir):"
    head -10 <<< "$changed" | sed 's/^/  /'
  fi
}
if [ "$mode" = needed ]; then
  kit_needed "${2:-}"
  exit 0
fi
if [ "$mode" = carry-current ]; then
  kit_carry_current
  exit $?
fi
# verdict ARCHIVE|DIR [--for-jobs]: did this kit run pass (exit 0), and if not, why (exit 1).
# --for-jobs, the gate before the model jobs in one device call (scripts/device_session.sh run):
# also passes a kit whose only failure is its Python stage, and says so (the kit is still needed).
if [ "$mode" = verdict ]; then
  src=${2:-} for_jobs=0
  case ${3:-} in --for-jobs) for_jobs=1 ;; "") ;; *) echo "usage: $0 verdict KIT_ARCHIVE|DIR [--for-jobs] (not '$3')"; exit 2 ;; esac
  if [ -f "$src" ]; then
    d_=$(mktemp -d)
    trap 'rm -rf "$d_"' EXIT
    tar -xzf "$src" -C "$d_" 2> /dev/null || { echo "kit: did not pass: $src is not a kit archive"; exit 1; }
    src=$d_/kit
  elif [ ! -d "$src" ]; then
    echo "usage: $0 verdict KIT_ARCHIVE|DIR [--for-jobs] (no '$src')"; exit 2
  fi
  why=$(kit_stages_passed "$src") && { echo "kit: passed ($(grep -m1 "^| tests |" "$src/summary.md"))"; exit 0; }
  if [ $for_jobs = 1 ] && KIT_FOR_JOBS=1 kit_stages_passed "$src" > /dev/null; then
    echo "kit: passed for the model jobs, not in full: $why (the jobs run the CLI; the kit runs again in the next session)"
    exit 0
  fi
  echo "kit: did not pass: $why"
  exit 1
fi

# ---------------------------------------------------------------- build (here)
# kit_build [CMAKE_ARGS...]: configures build/kit, builds what the device needs, copies it to
# build/carry (bin/, lib/), prints the size and the symbol versions the binaries need. Each step that
# must not fail says so with `|| exit 1`: its callers run it in && and || lists, where bash ignores
# set -e, and a failed build went on to carry stale binaries stamped with HEAD (helper-119).
kit_build() (
  set -e
  source scripts/env.sh
  t0=$SECONDS
  local B=build/kit
  targets=(pbit pbit_cli pbit_bench_gibbs test_backends test_exact test_compare test_eqprop test_pdnn test_hardware test_tempering test_cuda_engine test_dbm test_dtm_model)
  if [ -n "$KIT_FROM" ]; then  # an existing build's binaries, for a dry run (built by its own preset)
    B=$KIT_FROM
  else
    cmake --preset kit "$@" > /dev/null || exit 1
  fi
  if grep -q "^build tests/test_cuda_fault " "$B/build.ninja"; then  # built only with CUDA
    targets+=(test_cuda_fault)
  fi
  # KIT_BUILD_LIMIT_S: a build on the device stops there, so that it cannot take the whole call.
  [ -n "$KIT_FROM" ] || ${KIT_BUILD_LIMIT_S:+timeout -k 5 "$KIT_BUILD_LIMIT_S"} cmake --build --preset kit --target "${targets[@]}" || exit 1
  rm -rf "$CARRY" && mkdir -p "$CARRY/bin" "$CARRY/lib" || exit 1
  cp -P "$B"/libpbit.so* "$CARRY/lib/" || exit 1
  cp "$B/pbit" "$B/bench/pbit_bench_gibbs" "$CARRY/bin/" || exit 1
  for t in "${targets[@]}"; do if [ -f "$B/tests/$t" ]; then cp "$B/tests/$t" "$CARRY/bin/" || exit 1; fi; done
  # Runtime libraries the device image might lack, next to libpbit (its RUNPATH is $ORIGIN).
  for so in libgomp.so.1 libz.so.1; do
    f=$(ldd "$B/libpbit.so.0" | awk -v n="$so" '$1 == n {print $3}')
    if [ -n "$f" ]; then cp -L "$f" "$CARRY/lib/"; fi
  done
  strip --strip-unneeded "$CARRY"/bin/* "$CARRY"/lib/*.so* 2>/dev/null || true
  # The Python module is compiled on the device, for its Python (run's python stage): the commands' objects
  # (the module links them, as pbit.cli) and the header-only build dependencies it includes; the
  # device's own pybind11 is preferred, Debian's is the fallback.
  # Packed (8 MB as files, 2 as python.tar.gz), so that the kit and a Fashion-MNIST job fit one call.
  mkdir -p "$CARRY/python/obj" "$CARRY/python/include" || exit 1
  cp "$B"/CMakeFiles/pbit_commands.dir/src/cli/*.o "$CARRY/python/obj/" || exit 1
  strip --strip-debug "$CARRY"/python/obj/*.o
  # (from this machine's /usr/include, or the .deb sysroot of a build on the device; one missing is
  # reported here and fails only the python stage there)
  local h d
  for h in CLI nlohmann dlpack pybind11; do
    for d in /usr/include /tmp/pbit-sysroot/usr/include ""; do
      if [ -z "$d" ]; then echo "kit: no $h headers to carry (the Python stage will not compile)"; break; fi
      if [ -d "$d/$h" ]; then cp -r "$d/$h" "$CARRY/python/include/"; break; fi
    done
  done
  tar -czf "$CARRY/python.tar.gz" -C "$CARRY" python && rm -rf "$CARRY/python" || exit 1
  git rev-parse HEAD > "$CARRY/GIT_SHA" 2>/dev/null || echo unknown > "$CARRY/GIT_SHA"
  git diff --quiet HEAD 2>/dev/null || echo "(with uncommitted changes)" >> "$CARRY/GIT_SHA"
  {
    echo "pbit device kit, built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - t0)) s from $(head -1 "$CARRY/GIT_SHA")$(sed -n '2s/^/ /p' "$CARRY/GIT_SHA")"
    if [ -n "$KIT_FROM" ]; then
      echo "from $KIT_FROM's binaries, for a dry run only (not portable: never carry $CARRY to a device)"
    else
      echo "host code: -march=x86-64-v3; CUDA: sm_90 SASS + compute_90 PTX, -lineinfo, cudart static; RUNPATH \$ORIGIN/../lib"
    fi
    echo "size: $(du -sh "$CARRY" | cut -f1) ($(ls "$CARRY/bin" | tr '\n' ' '))"
    echo "symbol versions needed (the device image is Ubuntu 24.04-like: GLIBC_2.39, GLIBCXX_3.4.33, CXXABI_1.3.15):"
    for v in GLIBC GLIBCXX CXXABI; do
      printf '  %-8s %s\n' "$v" "$(objdump -T "$CARRY"/bin/* "$CARRY"/lib/*.so* 2>/dev/null | grep -o "${v}_[0-9.]*" | sort -Vu | tail -1)"
    done
    # registers and spills of every kernel (a few seconds)
    python3 scripts/cuda_resources.py "$B" --json "$CARRY/cuda_resources.json" 2>&1 || echo "(no register table: cuda_resources.py failed)"
    if command -v cuobjdump > /dev/null; then
      echo "CUDA code in libpbit: $(cuobjdump --list-elf --list-ptx "$CARRY/lib/libpbit.so.0" 2>/dev/null | grep -o 'sm_[0-9a]*\|compute_[0-9a]*' | sort -u | tr '\n' ' ')"
    fi
  } | tee "$CARRY/KIT.txt"
)

# What else the call carries, both in git-ignored folders: the build dependencies' .deb for a build on
# the device if the binaries do not load there (data/device/debs), and thrml's pure-Python source
# (third_party_ref/thrml, from a git dir given as THRML_GIT_DIR, e.g. the search tool's fetch of
# github:extropic-ai/thrml), with a minimal dist-info so that `import thrml` finds its version.
kit_extras() {
  mkdir -p data/device/debs
  if ! ls data/device/debs/libcli11-dev*.deb data/device/debs/pybind11-dev*.deb > /dev/null 2>&1; then
    (cd data/device/debs && apt-get download libgtest-dev libgmock-dev nlohmann-json3-dev libeigen3-dev zlib1g-dev libcli11-dev \
      libdlpack-dev pybind11-dev 2>&1 \
      | grep -v "^W: Download is performed unsandboxed" || true)
  fi
  echo "build dependencies for a build on the device: $(ls data/device/debs | wc -l) .deb, $(du -sh data/device/debs | cut -f1)"
  if [ -n "${THRML_GIT_DIR:-}" ]; then
    rm -rf third_party_ref/thrml && mkdir -p third_party_ref/thrml
    git --git-dir="$THRML_GIT_DIR" archive HEAD thrml LICENSE pyproject.toml 2> /dev/null | tar -x -C third_party_ref/thrml
    [ -f third_party_ref/thrml/thrml/__init__.py ] || { echo "thrml: could not export from $THRML_GIT_DIR"; return 1; }
    local v
    v=$(sed -n 's/^version = "\(.*\)"/\1/p' third_party_ref/thrml/pyproject.toml | head -1)
    mkdir -p "third_party_ref/thrml/thrml-$v.dist-info"
    printf 'Metadata-Version: 2.1\nName: thrml\nVersion: %s\n' "$v" > "third_party_ref/thrml/thrml-$v.dist-info/METADATA"
    echo "thrml $v ($(git --git-dir="$THRML_GIT_DIR" rev-parse --short HEAD)) in third_party_ref/thrml"
  elif [ -d third_party_ref/thrml/thrml ]; then
    echo "thrml: third_party_ref/thrml as before"
  else
    echo "thrml: not prepared (set THRML_GIT_DIR to a clone of github.com/extropic-ai/thrml); the kit skips it"
  fi
}

# On the GPU machine, when the carried binaries do not load: the build dependencies' .deb (carried in
# data/device/debs, scripts/prepare_device_data.sh) into a private prefix, then kit_build there.
kit_build_here() {
  local sysroot=/tmp/pbit-sysroot
  rm -rf "$sysroot" && mkdir -p "$sysroot"
  for f in data/device/debs/*.deb; do
    [ -f "$f" ] || { echo "no data/device/debs/*.deb carried: cannot build here"; return 1; }
    if command -v dpkg > /dev/null; then dpkg -x "$f" "$sysroot"; else ar p "$f" data.tar.xz | tar -xJ -C "$sysroot"; fi
  done
  local zlib_so
  zlib_so=$(ls /lib/x86_64-linux-gnu/libz.so.1 /usr/lib/x86_64-linux-gnu/libz.so.1 2>/dev/null | head -1)
  [ -n "$zlib_so" ] && ln -sf "$zlib_so" "$sysroot/usr/lib/x86_64-linux-gnu/libz.so"
  rm -rf build/kit
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) kit_build -DCMAKE_PREFIX_PATH="$sysroot/usr"
}

# ---------------------------------------------------------------- run (there) and dry-run (here)
OUT=${OUT:-$ROOT/out/kit}
STAGE_ROOT=$(mktemp -d /tmp/pbit-kit.XXXX)  # removed at exit, once kit.tar.gz holds it
STAGE=$STAGE_ROOT/kit
trap 'rm -rf "$STAGE_ROOT"' EXIT  # kit_run packs it first
mkdir -p "$OUT" "$STAGE"
DEADLINE_S=${DEADLINE_S:-420}
# CORRECTNESS_DEADLINE_S (>= DEADLINE_S): the correctness stages' own deadline. A device session sets
# it to what the call can give before its first job's least time: past DEADLINE_S a sanitizer stage
# was NOT RUN, the kit did not pass, and no job ran either (helper-119); measurement stages keep
# DEADLINE_S.
CORRECTNESS_DEADLINE_S=${CORRECTNESS_DEADLINE_S:-$DEADLINE_S}
[ "$CORRECTNESS_DEADLINE_S" -ge "$DEADLINE_S" ] 2> /dev/null || CORRECTNESS_DEADLINE_S=$DEADLINE_S
RUN_T0=0  # when kit_run began: the deadline is the run's, not a dry run's build before it
pack() { tar -czf "$OUT/kit.tar.gz.part" -C "$(dirname "$STAGE")" kit && mv "$OUT/kit.tar.gz.part" "$OUT/kit.tar.gz"; }
cap() {  # cap SECONDS: what a stage may take, never past its deadline; 0 = no useful time left
  local deadline=$DEADLINE_S
  [ "${MEASUREMENT:-0}" = 1 ] || deadline=$CORRECTNESS_DEADLINE_S
  local left=$((deadline - (SECONDS - RUN_T0)))
  if [ "$left" -lt 10 ]; then echo 0; elif [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}
SUMMARY=$STAGE/summary.md
note() { echo "$*" | tee -a "$SUMMARY"; }
# step NAME SECONDS CMD...: runs CMD under its cap, its output in $STAGE/NAME.log; records the result.
step() {
  local name=$1 limit
  limit=$(cap "$2")
  shift 2
  # A correctness stage the deadline left out is NOT RUN, which `needed` does not count as a pass (a
  # slower GPU must not make a kit run that skipped tests read as one that passed them); a
  # measurement stage (mstep) is only skipped.
  if [ "$limit" -eq 0 ]; then
    if [ "${MEASUREMENT:-0}" = 1 ]; then note "| $name | skipped: deadline | |"; else note "| $name | NOT RUN: deadline | |"; fi
    return 0
  fi
  local t0=$SECONDS
  timeout -k 5 "$limit" "$@" > "$STAGE/$name.log" 2>&1
  local rc=$?
  local verdict=ok line
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && verdict="TIMEOUT after $limit s"
  [ $rc -ne 0 ] && [ "$verdict" = ok ] && verdict="FAILED (exit $rc)"
  # TOOL_LIMIT (an extended regex): a failure whose log says so is the tool's, not the code's (a
  # kernel that compute-sanitizer's instrumentation no longer fits: the tests ran it without the tool)
  if [ "${verdict%% *}" = FAILED ] && [ -n "${TOOL_LIMIT:-}" ] && line=$(grep -m1 -E "$TOOL_LIMIT" "$STAGE/$name.log"); then
    verdict="skipped: tool limit ($(tr -d '|\r' <<< "$line" | sed 's/^[= ]*//' | cut -c1-120))"
  fi
  note "| $name | $verdict | $((SECONDS - t0)) s |"
  [ "${verdict%% *}" = ok ] || tail -15 "$STAGE/$name.log" | sed 's/^/    /'
  pack
  return 0
}
skip() { note "| $1 | skipped: $2 | |"; }
# What a launch failed for lack of registers or threads reads as (cudaErrorLaunchOutOfResources)
SANITIZER_LIMIT="too many resources requested for launch|cudaErrorLaunchOutOfResources"
# KIT_SKIP: measurement stages a session leaves out to give its device time to the model jobs (the
# correctness stages, tests, python and sanitizers, always run: `needed` counts only a run with them).
KIT_SKIPPABLE="bench bench_v2 bench_teams bench_auto bench_pdnn energy ncu thrml"
set -f; ks_=(${KIT_SKIP:-}); set +f  # words however separated, never globbed
KIT_SKIP="${ks_[*]}"                # one space between them: what left_out matches
for s_ in "${ks_[@]}"; do
  case " $KIT_SKIPPABLE " in *" $s_ "*) ;; *) echo "KIT_SKIP: '$s_' is not a stage that may be left out (those are: $KIT_SKIPPABLE)"; exit 2 ;; esac
done
left_out() {  # left_out NAME: true (and noted) when KIT_SKIP names it
  case " $KIT_SKIP " in *" $1 "*) skip "$1" "left out (KIT_SKIP)"; return 0 ;; esac
  return 1
}
# mstep NAME ...: a measurement step, unless KIT_SKIP leaves it out
mstep() { left_out "$1" || MEASUREMENT=1 step "$@"; }

kit_run() {
  local dry=${DRY:-0} rehearsal=${REHEARSAL:-0}
  RUN_T0=$SECONDS
  trap 'pack; rm -rf "$STAGE_ROOT"' EXIT
  BIN=${KIT_BIN:-$CARRY_ABS/bin}
  export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
  # Sizes of the GPU stages. A rehearsal (kit_rehearse: the CUDA emulator stands in for the GPU, at
  # about 0.03 flips/ns) runs the same stages and glue at sizes that take seconds there.
  local ch_first=16384,65536 ch_bench=1024,16384,65536,100000 ch_teams=1024,16384,100000 ch_auto=1024,4096,16384
  local best_min=16384 mt=0.2 mt_short=0.1 energy_s=10 idle_s=5 ncu_chains=65536 thrml_chains="1024 16384"
  local pdnn=(--images 1024 --seconds 8) pdnn_t1=10 pdnn_t2=100
  if [ "$rehearsal" = 1 ]; then
    ch_first=64,96 ch_bench=64,1056 ch_teams=64 ch_auto=64 best_min=64 mt=0.02 mt_short=0.02 energy_s=2 idle_s=1
    ncu_chains=64 thrml_chains=64 pdnn=(--sizes 784,32,10 --images 8 --seconds 0.2) pdnn_t1=2 pdnn_t2=4
  fi
  echo "# pbit device kit $( [ "$dry" = 1 ] && echo "(dry run)" )$( [ "$rehearsal" = 1 ] && echo "(rehearsal on the CUDA emulator)" ), $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$SUMMARY"
  note ""
  note "| stage | result | time |"
  note "|---|---|---|"

  # 1 machine
  {
    # Probes under short limits: a hung driver must not take the call's whole time.
    timeout -k 2 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv 2>&1 ||
      echo "nvidia-smi: not here, or no answer in 20 s"
    timeout -k 2 20 nvcc --version 2>&1 | tail -2 || true
    uname -a; nproc; head -1 /etc/os-release 2>/dev/null; ldd --version 2>&1 | head -1
    cat "$CARRY_ABS/KIT.txt" 2>/dev/null
  } > "$STAGE/machine.txt" 2>&1
  local loads=1
  if [ ! -x "$BIN/pbit" ] || ! timeout -k 2 20 "$BIN/pbit" version > "$STAGE/kit_loads.log" 2>&1; then
    loads=0
    ldd "$BIN/pbit" "$CARRY_ABS/lib/libpbit.so.0" >> "$STAGE/kit_loads.log" 2>&1
  fi
  if [ $loads = 0 ]; then
    note "| carried binaries | do not load here (kit_loads.log): building the targets here | |"
    if [ "$dry" = 1 ] || [ "$rehearsal" = 1 ]; then echo "dry run or rehearsal: the kit's binaries must load here"; return 1; fi
    local t0=$SECONDS limit
    limit=$(cap 300)  # a build on 16 cores takes a few minutes; the tests need the rest of the call
    [ "$limit" -gt 0 ] || { note "| build here | NOT RUN: deadline | |"; return 1; }
    KIT_BUILD_LIMIT_S=$limit kit_build_here > "$STAGE/build_here.log" 2>&1
    local rc=$? verdict
    verdict="exit $rc"
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && verdict="TIMEOUT after $limit s"
    note "| build here | $verdict | $((SECONDS - t0)) s |"
    timeout -k 2 20 "$BIN/pbit" version > /dev/null 2>&1 || { note "the build here failed (build_here.log)"; tail -20 "$STAGE/build_here.log"; return 1; }
  fi
  timeout -k 2 30 "$BIN/pbit" backends > "$STAGE/backends.txt" 2>&1
  cat "$STAGE/backends.txt"
  local gpu=0
  grep -q "^cuda: compiled, available" "$STAGE/backends.txt" && gpu=1
  if [ $gpu = 0 ] && [ "$dry" != 1 ]; then
    note "| machine | NO USABLE GPU: $(grep '^cuda' "$STAGE/backends.txt") | |"
    return 1
  fi
  note "| machine | $(grep '^cuda' "$STAGE/backends.txt" | cut -c1-110) | |"
  pack
  # A first throughput figure before the long stages (a few seconds), so that a call cut short by
  # slow tests still brings back flips/ns for Pegasus(14) at >= 16k chains; stage 4 measures properly.
  if [ $gpu = 1 ]; then
    step bench_first 25 "$BIN/pbit_bench_gibbs" --min-time "$mt_short" --backends cuda --graphs pegasus14 --chains "$ch_first" \
      --cuda-kernels simple,fast --out "$STAGE/gibbs_bench_gpu_first.json"
  fi

  # 2 tests: gtest JSON per binary; the fault tests each in their own process
  mkdir -p "$STAGE/tests"
  if [ "$rehearsal" = 1 ]; then  # ctest --preset cuda-emu runs them on the emulator
    skip tests "rehearsal (ctest --preset cuda-emu runs these tests on the emulator)"
  else
  local req=()
  [ $gpu = 1 ] && req=(env PBIT_REQUIRE_GPU=1)
  local t
  for t in "test_cuda_engine 150 *" "test_backends 60 *cuda*" "test_exact 90 *cuda*" "test_compare 30 *cuda*" \
           "test_eqprop 20 *cuda*" "test_pdnn 20 *cuda*" "test_hardware 20 *cuda*" "test_tempering 20 *cuda*" \
           "test_dbm 20 *cuda*" "test_dtm_model 20 *cuda*"; do
    set -f; set -- $t; set +f
    step "$1" "$2" "${req[@]}" "$BIN/$1" --gtest_filter="$3" --gtest_output="json:$STAGE/tests/$1.json"
  done
  if [ -x "$BIN/test_cuda_fault" ]; then  # each case in its own process: a fault ends the CUDA context
    for t in SyncCheckNamesTheFaultingKernel_cuda WithoutSyncCheckTheLaunchLooksFine_cuda; do
      step "test_cuda_fault_${t%%_cuda}" 30 "${req[@]}" "$BIN/test_cuda_fault" --gtest_filter="CudaFault.$t" \
        --gtest_output="json:$STAGE/tests/test_cuda_fault_$t.json"
    done
  fi
  python3 - "$STAGE/tests" <<'PY' | tee -a "$SUMMARY"
import glob, json, os, sys
tot = {"tests": 0, "failures": 0, "skipped": 0}
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    d = json.load(open(f))
    skipped = sum(1 for s in d.get("testsuites", []) for t in s.get("testsuite", []) if t.get("result") == "SKIPPED")
    tot["tests"] += d.get("tests", 0); tot["failures"] += d.get("failures", 0) + d.get("errors", 0); tot["skipped"] += skipped
    bad = [s["name"] + "." + t["name"] for s in d.get("testsuites", []) for t in s.get("testsuite", []) if t.get("failures")]
    for b in bad: print("|   failed | %s (%s) | |" % (b, os.path.basename(f)))
    if d.get("tests", 0) == 0:  # a filter that matches nothing must not read as a pass
        tot["failures"] += 1
        print("|   FAILED | %s ran no test: its filter matched nothing | |" % os.path.basename(f))
print("| tests | %d run, %d failed, %d skipped | |" % (tot["tests"], tot["failures"], tot["skipped"]))
PY
  fi
  pack

  # 3 sanitizers, on the small bit-identity cases (before the Python stage: a slow or stuck Python
  # build or import there, which the jobs' gate does not count, must not leave them NOT RUN)
  if [ "$rehearsal" = 1 ]; then
    skip sanitizers "rehearsal (compute-sanitizer needs a GPU)"
  elif [ $gpu = 1 ] && command -v compute-sanitizer > /dev/null; then
    # memcheck on the bit-identity protocol (clamps, fields, observers, warm starts, shards); racecheck
    # and synccheck, which are slower, on the split-run case (36 nodes, 33 chains, a few launches),
    # including fast_w16_k4 (the planner's pick at large chain counts: 512 threads at the register
    # limit), in a stage of its own under each tool: the tool-limit rule reads a stage's whole log,
    # and one that shared it with fast_w4_k2 would have hidden that kernel's errors (helper-119);
    # memcheck on the tempering kernels (energies, chain permutation) and per-chain betas.
    local tool variants filter cap_s bin
    for t in "memcheck simple test_backends *BitIdenticalToReference*cuda*:*SplitRunEqualsOneRun*cuda*:*AShard*cuda* 45" \
             "memcheck fast_w4,fast_w8_k4 test_backends *BitIdenticalToReference*cuda*:*SplitRunEqualsOneRun*cuda*:*AShard*cuda* 45" \
             "racecheck fast_w2,fast_w3_k4 test_backends *SplitRunEqualsOneRun*cuda* 60" \
             "racecheck fast_w16_k4 test_backends *SplitRunEqualsOneRun*cuda* 45" \
             "synccheck fast_w4_k2 test_backends *SplitRunEqualsOneRun*cuda* 30" \
             "synccheck fast_w16_k4 test_backends *SplitRunEqualsOneRun*cuda* 30" \
             "memcheck simple,fast_w4 test_tempering *cuda* 45"; do
      read -r tool variants bin filter cap_s <<< "$t"
      # (a launch the instrumented kernel no longer fits, fast_w16_k4's 512 threads at the register
      # limit, is the tool's limit: skipped, not a failure; the tests stage ran that kernel)
      TOOL_LIMIT=$SANITIZER_LIMIT step "sanitizer_${tool}_${variants%%,*}_${bin#test_}" "$cap_s" env PBIT_TEST_CUDA_VARIANTS="$variants" PBIT_REQUIRE_GPU=1 \
        compute-sanitizer --tool "$tool" --error-exitcode 9 --print-limit 20 "$BIN/$bin" --gtest_filter="$filter"
    done
    grep -h "ERROR SUMMARY" "$STAGE"/sanitizer_*.log 2>/dev/null | sort | uniq -c | sed 's/^/    /' | tee -a "$SUMMARY"
  else
    skip sanitizers "$( [ $gpu = 1 ] && echo "compute-sanitizer not found" || echo "no GPU")"
  fi
  pack

  # 3b the Python module, compiled here for this machine's python3 against the carried library, and
  # its tests: on a GPU the cuda backend through Python (bit for bit against the reference on both
  # kernels) and its state read in place by torch, CuPy and JAX through DLPack (python/tests/test_cuda.py)
  if [ "$rehearsal" = 1 ]; then
    skip python "rehearsal (ctest runs the Python suite)"
  else
    local py=${PBIT_PYTHON:-python3} pydir=$STAGE_ROOT/python
    # this machine's python3 (on the device the image's, with torch, CuPy and JAX), or Debian's where
    # python3 lacks numpy or pytest (a pyenv one here)
    if ! "$py" -c "import numpy, pytest" 2> /dev/null && /usr/bin/python3 -c "import numpy, pytest" 2> /dev/null; then
      py=/usr/bin/python3
    fi
    mkdir -p "$pydir/pbit" && cp python/pbit/__init__.py "$pydir/pbit/"
    local carried=$STAGE_ROOT/carried  # the carried objects and headers, unpacked
    mkdir -p "$carried" && tar -xzf "$CARRY_ABS/python.tar.gz" -C "$carried" 2> /dev/null || echo "no $CARRY/python.tar.gz to unpack"
    local pyinc pyext
    pyinc=$("$py" -m pybind11 --includes 2>/dev/null) ||
      pyinc="-I$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    pyext=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
    # shellcheck disable=SC2086  # pyinc is a list of -I flags
    step python_build 120 "${CXX:-c++}" -std=c++20 -O1 -fPIC -shared $pyinc -I"$carried/python/include" -Iinclude -Isrc \
      -DPBIT_PY_VERSION='"kit"' python/src/module.cpp "$carried"/python/obj/*.o -L"$CARRY_ABS/lib" -lpbit \
      -Wl,-rpath,"$CARRY_ABS/lib" -o "$pydir/pbit/_pbit$pyext"
    local pytests=(python/tests)
    [ $gpu = 1 ] || pytests=(python/tests/test_cuda.py)  # here ctest runs the rest
    # on the GPU the DLPack consumers must be there too (PBIT_REQUIRE_CONSUMERS): a skip would hide them
    step python_tests 120 "${req[@]}" env PYTHONPATH="$pydir" PBIT_CLI="$BIN/pbit" PBIT_SOURCE_DIR="$ROOT" PYTHONDONTWRITEBYTECODE=1 \
      PBIT_REQUIRE_CONSUMERS=$gpu \
      "$py" -m pytest -q -p no:cacheprovider -rs "${pytests[@]}"
    note "| python | $("$py" --version 2>&1), $(tail -1 "$STAGE/python_tests.log" 2> /dev/null | tr -d '=|') | |"
  fi
  pack
  # Every correctness stage has run (the verdict requires this row: an archive packed before it, of a
  # kit cut off after its tests by a lost machine or the call's end, has not run them all).
  note "| correctness stages | all run | |"
  pack

  # 4 throughput
  local bench=("$BIN/pbit_bench_gibbs" --min-time "$mt")
  if [ $gpu = 1 ]; then
    mstep bench 120 "${bench[@]}" --backends cuda --graphs pegasus14,zephyr10,g12 --chains "$ch_bench" \
      --cuda-kernels simple,fast --out "$STAGE/gibbs_bench_gpu.json"
    # v1 (one word per lane) against v2 (2 and 4) under both RNG contracts, side by side (issue 17)
    mstep bench_v2 75 "${bench[@]}" --min-time "$mt_short" --backends cuda --graphs pegasus14,zephyr10,g12 --chains "$ch_bench" \
      --cuda-kernels fast --words-per-lane 1,2,4 --contracts exact,fast --out "$STAGE/gibbs_bench_gpu_v2.json"
    mstep bench_teams 45 "${bench[@]}" --backends cuda --graphs pegasus14 --chains "$ch_teams" \
      --cuda-kernels fast --team-warps 2,4,8,16 --out "$STAGE/gibbs_bench_gpu_teams.json"
    mstep bench_auto 30 "${bench[@]}" --backends cuda --graphs pegasus14 --chains "$ch_auto" --cuda-kernels auto \
      --out "$STAGE/gibbs_bench_gpu_auto.json"
    # p-DNN inference (issue 19): T samples of a 784-256-256-10 network for 1024 images per call, with
    # NVML energy over each 8-second window
    mstep bench_pdnn 45 bash -c "'$BIN/pbit' pdnn bench --backend cuda --samples $pdnn_t1 ${pdnn[*]} --out '$STAGE/pdnn_bench_gpu_T$pdnn_t1.json' &&
      '$BIN/pbit' pdnn bench --backend cuda --samples $pdnn_t2 ${pdnn[*]} --out '$STAGE/pdnn_bench_gpu_T$pdnn_t2.json'"
  else
    skip bench "no GPU (the cpu row below checks the benchmark's JSON)"
    step bench_cpu_dry 30 "${bench[@]}" --backends cpu,cuda --graphs pegasus14 --chains 256 --min-time 0.05 \
      --cuda-kernels simple,fast --out "$STAGE/gibbs_bench_dry.json"
    step bench_v2_dry 30 "${bench[@]}" --backends packed --graphs pegasus14 --chains 64 --min-time 0.05 \
      --words-per-lane 1,4 --contracts exact,fast --out "$STAGE/gibbs_bench_dry_v2.json"
    step bench_pdnn_dry 20 "$BIN/pbit" pdnn bench --backend cpu --sizes 784,64,10 --samples 4 --images 16 --seconds 0.1 \
      --out "$STAGE/pdnn_bench_dry.json"
  fi
  # The best Pegasus(14) configuration at >= 16k chains, for the energy window and ncu.
  local best
  best=$(python3 - "$STAGE" "$best_min" <<'PY'
import glob, json, os, sys
rows = []
for f in glob.glob(os.path.join(sys.argv[1], "gibbs_bench_*.json")):
    rows += [r for r in json.load(open(f))["results"] if r.get("graph") == "pegasus14" and "flips_per_ns" in r
             and r.get("backend") == "cuda" and r["chains"] >= int(sys.argv[2])]
if rows:
    r = max(rows, key=lambda r: r["flips_per_ns"])
    print(r["cuda_kernel"], r["cuda_team_warps"], r["chains"], ("%.1f" if r["flips_per_ns"] >= 1 else "%.3g") % r["flips_per_ns"],
          r.get("fast_words_per_lane", 0),
          r.get("contract", "exact"))
PY
)
  local bk bt bc bf bw bx
  read -r bk bt bc bf bw bx <<< "$best"
  [ -n "$best" ] && note "| best Pegasus(14) | $bk kernel (team $bt, $bw words per lane, $bx contract), $bc chains: $bf flips/ns | |"
  if left_out energy; then
    :
  elif [ $gpu = 1 ] && [ -n "$best" ]; then
    cat > "$STAGE/energy_suite.json" <<EOF
{"_comment": "device kit: NVML energy per flip of the best Pegasus(14) configuration, $energy_s s window, $idle_s s idle",
 "workloads": [{"name": "gibbs_pegasus14", "kind": "gibbs", "graph": "pegasus:14"}],
 "backends": ["cuda"], "chains": [$bc], "min_seconds": $energy_s, "idle_seconds": $idle_s,
 "platforms": "$ROOT/configs/platforms.json", "output_dir": "$STAGE/energy"}
EOF
    local tw=$bt ww=$bw
    [ "$tw" = 0 ] && tw=
    [ "$ww" = 0 ] && ww=
    MEASUREMENT=1 step energy 45 env PBIT_CUDA_KERNEL="$bk" PBIT_CUDA_FAST_WARPS="$tw" PBIT_FAST_WORDS="$ww" "$BIN/pbit" compare --suite "$STAGE/energy_suite.json" \
      --out "$STAGE/energy"
    python3 - "$STAGE/energy/results.json" <<'PY' 2>/dev/null | tee -a "$SUMMARY"
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["results"]:
    if "energy_j_per_flip" in r:
        print("| energy | %.3g J/flip at %.1f flips/ns (idle %.0f W subtracted, %s) | |" % (
            r["energy_j_per_flip"], r["flips_per_ns"], d["energy"]["gpu_idle_w"], r["energy_source"]))
    else:
        print("| energy | none measured: %s | |" % r.get("energy_source", "no energy source")[:120])
PY
  else
    skip energy "no GPU"
  fi

  # 5 ncu: one steady-state launch of each kernel (the bench's warm-up launch is skipped)
  if left_out ncu; then
    :
  elif [ "$rehearsal" = 1 ]; then
    skip ncu "rehearsal (ncu needs a GPU)"
  elif [ $gpu = 1 ] && command -v ncu > /dev/null; then
    local sections=(--section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats
                    --section SchedulerStats --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis)
    # The fast kernel also with source counters: sampled stall reasons per SASS/source line (-lineinfo),
    # which say which instructions of the loop wait (the 2026-11-30 run had only the totals).
    MEASUREMENT=1 step ncu_fast 90 ncu --clock-control none -k regex:fast_sweeps_kernel --launch-skip 1 --launch-count 1 "${sections[@]}" \
      --section SourceCounters --section InstructionStats \
      --export "$STAGE/ncu_fast" --force-overwrite \
      "$BIN/pbit_bench_gibbs" --backends cuda --graphs pegasus14 --chains "$ncu_chains" --cuda-kernels fast --sweeps 20
    MEASUREMENT=1 step ncu_simple 60 ncu --clock-control none -k regex:sweep_color_kernel --launch-skip 40 --launch-count 1 "${sections[@]}" \
      --export "$STAGE/ncu_simple" --force-overwrite \
      "$BIN/pbit_bench_gibbs" --backends cuda --graphs pegasus14 --chains "$ncu_chains" --cuda-kernels simple --sweeps 20
    # The report's pages as text too: a machine without Nsight Compute cannot open the .ncu-rep.
    local k
    for k in fast simple; do
      [ -f "$STAGE/ncu_$k.ncu-rep" ] || continue
      MEASUREMENT=1 step "ncu_${k}_details" 20 ncu --import "$STAGE/ncu_$k.ncu-rep" --page details --print-units base
      MEASUREMENT=1 step "ncu_${k}_raw" 20 ncu --import "$STAGE/ncu_$k.ncu-rep" --page raw --csv --print-units base
    done
  else
    skip ncu "$( [ $gpu = 1 ] && echo "ncu not found" || echo "no GPU")"
  fi

  # 6 thrml, side by side
  if left_out thrml; then
    :
  elif [ "$rehearsal" = 1 ]; then
    skip thrml "rehearsal"
  elif [ $gpu = 1 ] && [ -d "$ROOT/third_party_ref/thrml/thrml" ] && python3 -c "import jax, equinox, jaxtyping" 2>/dev/null; then
    "$BIN/pbit" graph --topology pegasus:14 --weights 0.25,0.1 --seed 1 --out "$STAGE/pegasus14.json" > /dev/null
    for c in $thrml_chains; do
      MEASUREMENT=1 step "thrml_$c" 90 env PYTHONPATH="$ROOT/third_party_ref/thrml" python3 scripts/thrml_compare.py --graph "$STAGE/pegasus14.json" \
        --chains $c --sweeps 100 --pbit "$BIN/pbit" --out "$STAGE/thrml_vs_pbit_p14_$c.json"
    done
    python3 - "$STAGE" <<'PY' | tee -a "$SUMMARY"
import glob, json, os, sys
for f in sorted(glob.glob(os.path.join(sys.argv[1], "thrml_vs_pbit_*.json"))):
    d = json.load(open(f))
    print("| thrml %d chains | pbit %.1f, thrml %.2f flips/ns: %.1fx | |" % (d["chains"], d["pbit"]["flips_per_ns"], d["thrml"]["flips_per_ns"], d["pbit_over_thrml"]))
PY
  else
    skip thrml "$( [ $gpu = 1 ] && echo "third_party_ref/thrml not carried, or no JAX" || echo "no GPU")"
  fi

  # The headline table last: flips/ns per graph and chain count, simple against fast, from stage 4's
  # main run (automatic team and words per lane, exact contract), or bench_first's if it did not run.
  python3 scripts/kit_report.py --headline "$STAGE" | tee -a "$SUMMARY"
  # report.md and the flips/ns plot's data and script (the PNG where gnuplot is installed)
  python3 scripts/kit_report.py "$STAGE" > /dev/null 2>&1 || echo "kit_report.py failed on this archive" | tee -a "$SUMMARY"
  echo "deadline: ${DEADLINE_S} s, used $((SECONDS - RUN_T0)) s"
  pack
  echo "archive: $OUT/kit.tar.gz ($(du -h "$OUT/kit.tar.gz" | cut -f1))"
}

# The dry run must show that the kit loads and every stage runs here; it fails when a test or a
# stage that does not need a GPU failed.
kit_dry_run() {
  local t0=$SECONDS
  if [ -n "$KIT_FROM" ] || ! kit_carry_current > /dev/null; then
    kit_build > "$STAGE/../kit_build.log" 2>&1 || { tail -30 "$STAGE/../kit_build.log"; echo "device_kit: build failed"; return 1; }
    sed -n '/^pbit device kit/,$p' "$STAGE/../kit_build.log"
  fi
  DRY=1 kit_run
  local rc=$?
  echo "dry run: $((SECONDS - t0)) s in all"
  [ $rc -eq 0 ] || { echo "device_kit dry-run: FAILED (stage error above)"; return 1; }
  if grep -q "FAILED\|TIMEOUT\|NOT RUN" "$SUMMARY"; then echo "device_kit dry-run: FAILED"; return 1; fi
  if ! grep -q "| tests | [1-9][0-9]* run, 0 failed" "$SUMMARY"; then echo "device_kit dry-run: no tests ran"; return 1; fi
  grep -q "| python_tests | ok" "$SUMMARY" || { echo "device_kit dry-run: the Python module's tests did not run"; return 1; }
  [ -s "$STAGE/report.md" ] || { echo "device_kit dry-run: no report.md (scripts/kit_report.py)"; return 1; }
  # A sanitizer stage's failure is the tool's limit only where its log says so (into a summary of its own)
  (
    SUMMARY=$STAGE_ROOT/tool_limit.md STAGE=$STAGE_ROOT DEADLINE_S=100000
    pack() { :; }
    TOOL_LIMIT=$SANITIZER_LIMIT step limit 10 sh -c 'echo "test: CUDA error: too many resources requested for launch | x"; exit 1' > /dev/null
    TOOL_LIMIT=$SANITIZER_LIMIT step race 10 sh -c 'echo "========= Error: Race reported between Write access"; exit 9' > /dev/null
    TOOL_LIMIT=$SANITIZER_LIMIT step slow 1 sh -c 'echo "too many resources requested for launch"; sleep 5' > /dev/null
    grep -qx "| limit | skipped: tool limit (test: CUDA error: too many resources requested for launch  x) | [0-9]* s |" "$SUMMARY" &&
      grep -qx "| race | FAILED (exit 9) | [0-9]* s |" "$SUMMARY" && grep -qx "| slow | TIMEOUT after 1 s | [0-9]* s |" "$SUMMARY"
  ) || { echo "device_kit dry-run: TOOL_LIMIT misread a stage:"; cat "$STAGE_ROOT/tool_limit.md"; return 1; }
  # (the listing is read whole: grep -q would close the pipe early, and pipefail would count tar's SIGPIPE)
  local listing
  listing=$(tar -tzf "$OUT/kit.tar.gz")
  grep -q "kit/tests/test_cuda_engine.json" <<< "$listing" || { echo "device_kit dry-run: archive incomplete"; return 1; }
  # `needed` reads the committed kit runs: at the commit a passing run was built from, it must say
  # the kit is not needed (where that commit is in this clone).
  local dir sha verdict
  for dir in bench/results/gpu-*; do
    sha=$(kit_passed_at "$dir")
    [ -n "$sha" ] || continue
    verdict=$(kit_needed "$sha")
    grep -q "^kit: not needed" <<< "$verdict" || { echo "device_kit dry-run: 'needed $sha' says: $verdict"; return 1; }
  done
  kit_needed HEAD | head -1
  echo "device_kit dry-run: ok"
}

# A rehearsal of `run`'s GPU stages, which the dry run skips: the cuda-emu build's CLI and benchmark,
# whose CUDA backend is pbit's emulator (docs/TESTING.md), stand in for the carried binaries and the
# GPU, so the benchmarks, the choice of the best configuration, the energy window and the summary run
# as they will on the device, at sizes that take seconds here. The tests stage is skipped (ctest
# --preset cuda-emu runs those tests), and so are the tools the image has and this machine lacks
# (nvidia-smi, compute-sanitizer, ncu, JAX). It fails if a stage failed or a GPU stage did not run.
kit_rehearse() {
  local t0=$SECONDS
  (source scripts/env.sh && cmake --preset cuda-emu > /dev/null && cmake --build --preset cuda-emu --target pbit_cli pbit_bench_gibbs) \
    > "$STAGE_ROOT/rehearsal_build.log" 2>&1 || { tail -30 "$STAGE_ROOT/rehearsal_build.log"; echo "device_kit rehearse: build failed"; return 1; }
  mkdir -p "$STAGE_ROOT/bin"
  ln -s "$ROOT/build/cuda-emu/pbit" "$ROOT/build/cuda-emu/bench/pbit_bench_gibbs" "$STAGE_ROOT/bin/"
  KIT_BIN=$STAGE_ROOT/bin KIT_SKIP= REHEARSAL=1 kit_run
  local rc=$?
  echo "rehearsal: $((SECONDS - t0)) s in all"
  [ $rc -eq 0 ] || { echo "device_kit rehearse: FAILED (stage error above)"; return 1; }
  if grep -q "FAILED\|TIMEOUT\|NOT RUN" "$SUMMARY"; then echo "device_kit rehearse: FAILED"; return 1; fi
  local want
  for want in "| bench_first | ok" "| bench | ok" "| bench_v2 | ok" "| bench_teams | ok" "| bench_auto | ok" "| bench_pdnn | ok" \
              "| best Pegasus(14) |" "| energy | ok" "| graph | chains | simple flips/ns | fast flips/ns |"; do
    grep -qF "$want" "$SUMMARY" || { echo "device_kit rehearse: no '$want' row in the summary"; return 1; }
  done
  grep -q "^| pegasus14 | .* | .* | .* |" "$STAGE/report.md" && [ -s "$STAGE/flips_vs_chains.gp" ] ||
    { echo "device_kit rehearse: report.md has no throughput table, or no plot (scripts/kit_report.py)"; return 1; }
  # The p-DNN rows too: a bench that exited 0 with a renamed key read as 0 inferences/s (helper-121).
  python3 - "$STAGE" <<'PY' || { echo "device_kit rehearse: no p-DNN inference rows with a rate from two cuda bench runs (scripts/kit_report.py)"; return 1; }
import glob, json, re, sys
js = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/pdnn_bench_gpu_T*.json")]
text = open(sys.argv[1] + "/report.md").read()
section = text.split("## p-DNN inference", 1)[1].split("\n## ", 1)[0] if "## p-DNN inference" in text else ""
rates = [float(m) for m in re.findall(r"^\| [0-9-]+ \| [0-9]+ \| ([0-9.]+) \|", section, re.M)]
sys.exit(0 if len(js) == 2 and all(j.get("backend") == "cuda" and j.get("inferences_per_s", 0) > 0 for j in js)
         and len(rates) == 2 and min(rates) > 0 else 1)
PY
  echo "device_kit rehearse: ok"
}

case $mode in
  build) kit_build || exit 1; kit_extras ;;
  run) kit_run ;;
  dry-run) kit_dry_run ;;
  rehearse) kit_rehearse ;;
  *) echo "usage: $0 build|run|dry-run|rehearse|needed [REV]|verdict ARCHIVE|carry-current (docs/BENCHMARKING.md)"; exit 2 ;;
esac
