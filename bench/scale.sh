#!/usr/bin/env bash
# scale.sh - the driver's own cost per task, measured against simulated
# workers (tests/tools/kiln-sim: one process holding one real connection
# per worker, answering every task at once), so that only the driver and
# the client show. Usage: bench/scale.sh [BUILD_DIR]
#   1. one job of N one-record tasks (bench.so tasks N once) on W workers x
#      4 slots, for every W in SCALE_WORKERS and N in SCALE_TASKS: tasks/s
#      seen by the client, the driver's CPU per task (utime + stime), its
#      peak RSS (VmHWM) and its log bytes per task at the default level
#   2. the same 4,000 slots as 10 x 400 and 1,000 x 4 (100,000 and then
#      1,000,000 tasks: SCALE_RATIO_TASKS), in turns (SCALE_REPS, 3): the
#      rate should not depend on how the slots are spread; prints the
#      ratio of each turn and their median
#   3. a two-stage job, 1,000 map x 1,000 reduce tasks (a million map-output
#      locations) on 1,000 x 4: seconds for the job, driver peak RSS
# Every figure comes from a fresh driver. The driver's net.max_connections
# is raised for 5,000 workers, and so is this shell's descriptor limit.
set -eu
cd "$(dirname "$0")/.."
export KILN_BUILD=${1:-build}
. tests/integration/lib.sh
WORKERS=${SCALE_WORKERS:-10 100 1000 5000}
TASKS=${SCALE_TASKS:-100000 1000000}
SLOTS=${SCALE_SLOTS:-4}
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-scale-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT
printf 'net.max_connections = 12000\n' >"$T/kiln.conf"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"

# cluster W S: a fresh driver and W simulated workers of S slots
cluster() {
  stop_all
  rm -rf "$T/driver" "$T/sim.out"
  start_driver "$T/driver" --config "$T/kiln.conf"
  "$B/tests/tools/kiln-sim" --driver "$MASTER" --workers "$1" --slots "$2" >"$T/sim.out" 2>"$T/sim.err" &
  PIDS="$PIDS $!"
  local i
  for i in $(seq 1 1200); do grep -q '^registered' "$T/sim.out" 2>/dev/null && break; sleep 0.05; done
  [ "$(awk '/^registered/ {print $2}' "$T/sim.out")" = "$1" ] || { log "only $(cat "$T/sim.out") of $1 workers"; exit 1; }
}
peak_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$DRIVER_PID/status"; }
log_bytes() { stat -c %s "$T/driver/driver.log"; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run W S N: prints "tasks/s  driver CPU per task  peak MB  log bytes per
# task" and leaves the rate in RATE
run() {
  cluster "$1" "$2"
  local before out c0 c1
  before=$(log_bytes)
  c0=$(cpu_ticks "$DRIVER_PID")
  out=$("$KILN" submit "$B/bench/bench.so" tasks "$3" once)
  c1=$(cpu_ticks "$DRIVER_PID")
  RATE=${out%% *}
  printf '%8.0f tasks/s  driver %4.1f us CPU/task  peak %5s MB  log %5.1f bytes/task\n' "$RATE" \
    "$(awk -v a="$c0" -v b="$c1" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN { print (b - a) * 1e6 / hz / n }')" \
    "$(peak_mb)" "$(awk -v a="$before" -v b="$(log_bytes)" -v n="$3" 'BEGIN { print (b - a) / n }')"
}

echo "one job of N one-record tasks, W simulated workers x $SLOTS slots:"
for w in $WORKERS; do
  for n in $TASKS; do
    printf '  W=%-5s N=%-8s ' "$w" "$n"
    run "$w" "$SLOTS" "$n"
  done
done
# The two spreads take turns, SCALE_REPS times, so that a slower minute of
# a shared machine does not land on one of them only; the ratio is the
# median of the turns'. Once with 100,000 tasks (with up to 32,000 in
# flight that is mostly the filling and draining of the workers' queues)
# and once with 1,000,000 (mostly the steady rate): SCALE_RATIO_TASKS.
REPS=${SCALE_REPS:-3}
for n in ${SCALE_RATIO_TASKS:-100000 1000000}; do
  echo "the same 4,000 slots spread two ways, $n tasks, $REPS turns:"
  ratios=""
  for r in $(seq 1 "$REPS"); do
    printf '  %-13s ' "10 x 400"
    run 10 400 "$n"
    a=$RATE
    printf '  %-13s ' "1,000 x 4"
    run 1000 4 "$n"
    ratios="$ratios $(awk -v a="$a" -v b="$RATE" 'BEGIN { printf "%.2f", b / a }')"
  done
  echo "  1,000 x 4 / 10 x 400 by turn:$ratios; median $(printf '%s\n' $ratios | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
done
echo "two stages, 1,000 map x 1,000 reduce tasks, 1,000 workers x 4 slots:"
cluster 1000 4
out=$("$KILN" submit "$B/bench/bench.so" shuffle 1000 1000)
printf '  %.2f s for the job (%.0f map-output locations/s), driver peak %s MB\n' "${out##* }" \
  "$(awk -v s="${out##* }" 'BEGIN { print 1e6 / s }')" "$(peak_mb)"
