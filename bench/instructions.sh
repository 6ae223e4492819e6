#!/usr/bin/env bash
# instructions.sh - the driver's instructions per task, counted by
# callgrind (valgrind): a figure that does not move with the load of a
# shared machine, to compare two builds of the driver where tasks/s
# (bench/scale.sh) moves by +-30% from one minute to the next.
#
# Usage: bench/instructions.sh [BUILD_DIR [WORKERS SLOTS TASKS]]
#   (defaults: build, and 10 400 30000 then 1000 4 30000)
# The driver runs under callgrind against simulated workers
# (tests/tools/kiln-sim); a first job of 1,000 tasks warms it up, the
# counters are zeroed (callgrind_control -z), the measured job of TASKS
# one-record tasks runs, and the counters are dumped. Prints the
# instructions per task and the ten functions that execute most of them
# (self cost). Under callgrind the driver is ~50x slower, so the simulator
# answers bigger batches than at full speed: compare builds with this,
# not with tasks/s. Each run takes ~10 s per 30,000 tasks.
set -eu
cd "$(dirname "$0")/.."
export KILN_BUILD=${1:-build}
. tests/integration/lib.sh
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
  { echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-instr-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT
printf 'net.max_connections = 12000\n' >"$T/kiln.conf"

# measure W S N: one driver under callgrind, W simulated workers of S slots
measure() {
  stop_all
  rm -rf "$T/driver" "$T"/cg.out*
  mkdir -p "$T/driver"
  valgrind --tool=callgrind --callgrind-out-file="$T/cg.out" "$B/kiln-driver" --listen 127.0.0.1:0 \
    --http 127.0.0.1:0 --state-dir "$T/driver" --log-file "$T/driver/driver.log" --config "$T/kiln.conf" \
    2>"$T/valgrind.err" &
  DRIVER_PID=$!
  PIDS="$PIDS $DRIVER_PID"
  MASTER=127.0.0.1:$(port "$T/driver" rpc)
  export KILN_MASTER=$MASTER
  "$B/tests/tools/kiln-sim" --driver "$MASTER" --workers "$1" --slots "$2" >"$T/sim.out" 2>"$T/sim.err" &
  PIDS="$PIDS $!"
  local i
  for i in $(seq 1 2400); do grep -q '^registered' "$T/sim.out" 2>/dev/null && break; sleep 0.05; done
  [ "$(awk '/^registered/ {print $2}' "$T/sim.out")" = "$1" ] || { log "only $(cat "$T/sim.out") of $1 workers"; exit 1; }
  "$KILN" submit "$B/bench/bench.so" tasks 1000 once >/dev/null
  callgrind_control -z "$DRIVER_PID" >/dev/null 2>&1
  "$KILN" submit "$B/bench/bench.so" tasks "$3" once >/dev/null
  callgrind_control -d "$DRIVER_PID" >/dev/null 2>&1
  local f
  for i in $(seq 1 100); do
    f=$(ls -t "$T"/cg.out.* 2>/dev/null | head -1)
    [ -n "$f" ] && break
    sleep 0.1
  done
  local ir
  ir=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  printf '%s: W=%s x %s slots, %s tasks: %s instructions/task\n' "$KILN_BUILD" "$1" "$2" "$3" \
    "$(awk -v a="$ir" -v n="$3" 'BEGIN { printf "%.0f", a / n }')"
  callgrind_annotate --auto=no --threshold=100 "$f" 2>/dev/null | sed -n '/file:function/,$p' |
    awk 'NR > 2 && !/\(below main\)|event_base|main \[|libc_start|0x000000000001ab70/' | head -10 | cut -c1-120
}

if [ $# -ge 4 ]; then
  measure "$2" "$3" "$4"
else
  measure 10 400 30000
  measure 1000 4 30000
fi
