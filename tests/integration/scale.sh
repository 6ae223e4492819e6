#!/usr/bin/env bash
# scale.sh - a real driver with a few hundred simulated workers
# (tests/tools/kiln-sim, two processes): answers come a little late, some
# first attempts fail, and some workers vanish mid-job, in a job of many
# one-record tasks and in a shuffle. Every job must finish with the right
# count; the log stays small (a summary per stage, not a line per task);
# and the driver's memory comes back when the applications end.
# Sizes are smaller under the sanitizers (KILN_SAN=1). No timing is
# asserted: the waits are bounded so a hang fails instead of blocking.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
if [ "${KILN_SAN:-}" = 1 ]; then
  TASKS=20000 BIG=40000 SHUF=6000:100:5 SLACK_MB=0
else
  TASKS=50000 BIG=400000 SHUF=6000:300:5 SLACK_MB=48
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-scale-XXXXXX")
[ -n "${KILN_SAN:-}" ] && sanitizer_logs "$T/sanitizer"
trap 'stop_all; rm -rf "$T"' EXIT
ulimit -n 4096 2>/dev/null || true

start_driver "$T/driver"
DLOG=$T/driver/driver.log
SIM="$B/tests/tools/kiln-sim --driver $MASTER --delay-ms 2"
# A: 300 workers x 2 slots; 2% of first attempts fail; 40 vanish once it
# answered 3,000 tasks (in the first job). B: 100 x 4; 30 vanish mid-shuffle
# once it answered 1,000 of the shuffle's 6,000 map tasks (B's 400 of the
# 1,000 slots get ~2,400 of them, well past the threshold however placement
# spreads them; and 1,000 is more than B's 800 in flight, so the vanished
# workers hold map outputs the driver knows of), so lost map outputs are
# rerun.
$SIM --workers 300 --slots 2 --fail 0.02 --seed 1 --vanish 40 --vanish-after 3000 >"$T/a.out" 2>"$T/a.err" &
SIM_A=$!
$SIM --workers 100 --slots 4 --fail 0.01 --seed 2 --vanish 30 --vanish-after 1000 --vanish-in-shuffle >"$T/b.out" 2>"$T/b.err" &
SIM_B=$!
PIDS="$PIDS $SIM_A $SIM_B"
registered() {
  local out=$1
  wait_until 'grep -q "^registered" "$out" 2>/dev/null' 0.05 || true
  awk '/^registered/ {print $2}' "$1"
}
ra=$(registered "$T/a.out")
rb=$(registered "$T/b.out")
[ "$ra" = 300 ] && [ "$rb" = 100 ] && pass sim_workers_registered || fail sim_workers_registered "A: $ra B: $rb"
wait_workers 400 || true

# Under the sanitizers freed memory stays in ASan's quarantine and heap, by
# design: the memory checks are for the normal build.
memcheck() {
  if [ "${KILN_SAN:-}" = 1 ]; then log "skip $1: ASan keeps freed memory (quarantine)"; return; fi
  if [ "$2" -le "$3" ]; then pass "$1"; else fail "$1" "$4"; fi
}
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$DRIVER_PID/status"; }
hwm() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$DRIVER_PID/status"; }
rss0=$(rss)
log0=$(stat -c %s "$DLOG")

# ---- one application: many tasks, a shuffle, a bigger job -----------------------
out=$("$KILN" submit "$B/tests/apps/scale.so" "tasks:$TASKS" "shuffle:$SHUF" "tasks:$BIG" 2>"$T/app1.err")
rc=$?
[ $rc -eq 0 ] && pass jobs_right_count_with_failures_and_losses ||
  fail jobs_right_count_with_failures_and_losses "rc=$rc $out $(tail -3 "$T/app1.err")"
wait_log "$DLOG" "application ended" || true
rss1=$(rss)
peak=$(hwm)
log1=$(stat -c %s "$DLOG")

lost=$(grep -c "worker lost" "$DLOG")
[ "$lost" -ge 40 ] && pass workers_vanished_mid_job || fail workers_vanished_mid_job "$lost workers lost"
failed=$(grep -c "task failed" "$DLOG")
[ "$failed" -gt 0 ] && pass tasks_failed_and_retried || fail tasks_failed_and_retried "no task failed"
check no_reduce_without_input test "$(grep -c "of its input missing" "$DLOG")" -eq 0
# a summary per stage, with the slowest task; no line per successful task
check stage_summaries grep -q "stage finished .*records_in=[0-9]* .*slowest_worker=sim-" "$DLOG"
check no_per_task_lines test "$(grep -c "task started\|task finished" "$DLOG")" -eq 0
ntasks=$((TASKS + BIG + ${SHUF%%:*} + $(echo "$SHUF" | cut -d: -f2)))
per=$(((log1 - log0) / ntasks))
[ "$per" -le 30 ] && pass log_under_30_bytes_per_task || fail log_under_30_bytes_per_task "$per bytes per task"
reruns=$(grep -c "map outputs lost" "$DLOG")
[ "$reruns" -gt 0 ] && pass lost_map_outputs_rerun || fail lost_map_outputs_rerun "no map outputs lost"
log "$reruns map-output reruns, $failed failed attempts, $lost workers lost"
grep "stage finished" "$DLOG" | tail -2 | sed 's/^/  /' >&2
log "driver RSS ${rss0} MB before, peak ${peak} MB, ${rss1} MB after the application; log $((log1 - log0)) bytes for $ntasks tasks"
memcheck memory_returns_after_app "$rss1" $((rss0 + SLACK_MB)) "RSS ${rss0} MB before, ${rss1} MB after (peak ${peak} MB)"

# ---- a second application: no growth from one to the next -------------------------
out=$("$KILN" submit "$B/tests/apps/scale.so" "tasks:$BIG" 2>"$T/app2.err")
rc=$?
[ $rc -eq 0 ] && pass second_app_right_count || fail second_app_right_count "rc=$rc $out $(tail -3 "$T/app2.err")"
wait_until '[ "$(grep -c "application ended" "$DLOG")" -ge 2 ]' 0.05 || true
rss2=$(rss)
log "driver RSS ${rss2} MB after the second application"
memcheck memory_flat_across_apps "$rss2" $((rss1 + 16)) "${rss1} MB -> ${rss2} MB"

# the simulators say what they did (answers, failures, vanished workers)
kill -TERM "$SIM_A" "$SIM_B" 2>/dev/null
wait "$SIM_A" "$SIM_B" 2>/dev/null
log "sim A: $(tail -1 "$T/a.out"); sim B: $(tail -1 "$T/b.out")"
check sim_a_vanished grep -q "vanished 40$" "$T/a.out"
check sim_b_vanished grep -q "vanished 30$" "$T/b.out"
check driver_alive kill -0 "$DRIVER_PID"
summary
