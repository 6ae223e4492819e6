#!/usr/bin/env bash
# lost.sh - lost workers: a real driver and three real workers; a worker is
# killed (kill -9) or frozen (SIGSTOP past worker.timeout) in the middle of
# a shuffle, and the job must still give the answer mawk gives, the driver
# rerunning from lineage only the map tasks whose outputs went with the
# worker; a worker lost while two applications run fails neither. Then a
# soak: 20 pairs of jobs of two applications at once with a worker killed,
# a worker frozen or an executor killed during each pair, every answer
# checked, no files of ended applications left. Prints "N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-lost-XXXXXX")
trap 'kill -CONT $WORKER_PIDS 2>/dev/null; stop_all; rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
APPS=$B/tests/apps
EX=$B/examples
SOAK_JOBS=${KILN_SOAK_JOBS:-20}

# ---- data: "key<TAB>number" lines, 3000 keys --------------------------------
mawk 'BEGIN { srand(7); for (i = 0; i < 400000; i++) printf "k%d\t%d\n", int(rand() * 3000), int(rand() * 1000) }' \
  > "$T/kv.txt"
mawk -F'\t' '{ s[$1] += $2 } END { for (k in s) printf "%s\t%d\n", k, s[k] }' "$T/kv.txt" | LC_ALL=C sort > "$T/kv.want"
# text for wordcount in the soak
mawk 'BEGIN { srand(8); for (i = 0; i < 200000; i++) { n = 1 + int(rand() * 8); s = "";
  for (j = 0; j < n; j++) s = s (j ? " " : "") "w" int(rand() * rand() * 5000); print s } }' > "$T/words.txt"
mawk '{ for (i = 1; i <= NF; i++) c[$i]++ } END { for (w in c) print w "\t" c[w] }' "$T/words.txt" |
  LC_ALL=C sort > "$T/words.want"

printf 'worker.timeout = 2s\n' > "$T/kiln.conf"
start_driver "$T/driver" --config "$T/kiln.conf" --log-level debug # "task started" is a debug line
DLOG=$T/driver/driver.log
NEXT_WORKER=1
# add_worker: starts worker wN (2 slots) and records its pid in W[N]
declare -A W
add_worker() {
  local n=$NEXT_WORKER
  NEXT_WORKER=$((n + 1))
  start_worker "$T/w$n" 2
  W[$n]=${WORKER_PIDS##* }
}
add_worker; add_worker; add_worker
wait_workers 3 || { fail cluster "workers did not register"; summary; exit 1; }
pass cluster_up

# wait_dlog PATTERN COUNT: until the driver log has COUNT lines matching
wait_dlog() {
  local pattern=$1 n=$2
  wait_until '[ "$(grep -c -- "$pattern" "$DLOG")" -ge "$n" ]' 0.02
}

# stages_of FUNCTION: how many stages calling FUNCTION were submitted so far
stages_of() { grep -c "stage submitted .*functions=\"[^\"]*$1" "$DLOG"; }

# wait_stage_started FUNCTION BEFORE TASKS: until stage number BEFORE+1
# calling FUNCTION was submitted and TASKS of its tasks started
wait_stage_started() {
  wait_dlog "stage submitted .*functions=\"[^\"]*$1" $(($2 + 1)) || return 1
  local stage
  stage=$(grep "stage submitted .*functions=\"[^\"]*$1" "$DLOG" | sed -n "$(($2 + 1))p" | sed 's/.*stage=\([0-9]*\).*/\1/')
  wait_dlog "task started .*stage=$stage " "$3"
}

# kill_worker N: kill -9 of worker N, reaped quietly
kill_worker() {
  kill -9 "${W[$1]}" 2>/dev/null
  wait "${W[$1]}" 2>/dev/null
  unset "W[$1]"
}

# kill_mid_stage NAME FUNCTION VICTIM WANT shuf.so-ARGS...: runs a job, kills
# worker VICTIM once the stage calling FUNCTION started its first task, and
# passes NAME when the job still prints exactly WANT (sorted)
kill_mid_stage() {
  local name=$1 fn=$2 victim=$3 want=$4
  shift 4
  local before
  before=$(stages_of "$fn")
  "$KILN" submit "$APPS/shuf.so" "$@" > "$T/$name.out" 2> "$T/$name.err" &
  local client=$!
  wait_stage_started "$fn" "$before" 1
  kill_worker "$victim"
  wait "$client"
  local rc=$?
  if [ $rc -eq 0 ] && LC_ALL=C sort "$T/$name.out" | cmp -s - "$want"; then pass "$name"
  else fail "$name" "rc=$rc $(head -c 400 "$T/$name.err")"; fi
}

# live_workers: how many workers the driver lists now
live_workers() { "$KILN" workers 2>/dev/null | tail -n +2 | wc -l; }

# ---- kill -9 of a worker in the middle of the reduce stage ------------------
# slowsum's reduce stage takes seconds (2 ms per key); the kill lands once
# its first reduce task started, when every worker holds map outputs.
lost0=$(grep -c "map outputs lost" "$DLOG")
kill_mid_stage kill9_mid_shuffle_right_answer slow_fmt 3 "$T/kv.want" slowsum "$T/kv.txt" 12
check kill9_worker_lost grep -q "worker lost id=3 " "$DLOG"
if [ "$(grep -c "map outputs lost" "$DLOG")" -gt "$lost0" ]; then pass kill9_lost_maps_rerun
else fail kill9_lost_maps_rerun "no 'map outputs lost' line"; fi
# only the map tasks whose outputs were lost ran again (of 4: the killed one held 1 or 2)
rerun=$(grep "map outputs lost" "$DLOG" | grep -o "rerun=[0-9]*" | head -1 | cut -d= -f2)
if [ -n "$rerun" ] && [ "$rerun" -ge 1 ] && [ "$rerun" -lt 4 ]; then pass kill9_only_lost_maps_rerun
else fail kill9_only_lost_maps_rerun "rerun=${rerun:-none} of 4 map tasks"; fi

# the surviving workers still serve
add_worker
wait_workers 3 || fail rejoin "the new worker did not register"
"$KILN" submit "$APPS/shuf.so" sum "$T/kv.txt" 5 | LC_ALL=C sort > "$T/after.out"
check after_kill_next_job_right cmp -s "$T/after.out" "$T/kv.want"

# ---- kill -9 of a worker holding cached partitions while a job reads them ----
# the job is planned again: lost partitions are recomputed from lineage
mawk -F'\t' '{ n[$1]++; b[$1] += length($2) } END { for (k in n) printf "%s\t%d\t%d\n", k, n[k], b[k] }' "$T/kv.txt" |
  LC_ALL=C sort > "$T/group.want"
kill_mid_stage kill9_cached_partitions_recomputed slow_group_stats 1 "$T/group.want" cachekill "$T/kv.txt" 9
check cache_loss_replans grep -q "job replanned .*cached partitions lost" "$DLOG"
add_worker
wait_workers 3 || fail rejoin2 "the new worker did not register"

# ---- a worker frozen past worker.timeout mid-shuffle, then thawed -------------
reg0=$(grep -c "worker registered" "$DLOG")
"$KILN" submit "$APPS/shuf.so" slowsum "$T/kv.txt" 12 > "$T/stop.out" 2> "$T/stop.err" &
CLIENT=$!
n0=$(grep -c "functions=\"[^\"]*slow_fmt" "$DLOG")
wait_dlog "stage submitted .*functions=\"[^\"]*slow_fmt" $((n0 + 1))
VICTIM=${W[5]}
kill -STOP "$VICTIM"
wait_dlog "worker lost id=5 .*no heartbeat" 1 || fail stop_detected "no 'worker lost' for the frozen worker"
kill -CONT "$VICTIM"
wait "$CLIENT"
rc=$?
LC_ALL=C sort "$T/stop.out" > "$T/stop.sorted"
if [ $rc -eq 0 ] && cmp -s "$T/stop.sorted" "$T/kv.want"; then pass sigstop_mid_shuffle_right_answer
else fail sigstop_mid_shuffle_right_answer "rc=$rc $(head -c 400 "$T/stop.err")"; fi
# thawed, it registers again as a new worker
if wait_dlog "worker registered" $((reg0 + 1)); then pass thawed_worker_registers_again
else fail thawed_worker_registers_again "no new registration"; fi
wait_workers 3 || fail thawed_rejoin "only $(live_workers) workers"

# ---- a worker lost while two applications run ---------------------------------
# Y's reduce stage (3 tasks, one on each worker, 4 ms a key) runs when X, a
# second application, starts reading its cached dataset; then a worker goes.
# X is planned again at once (its cached partitions went) and Y's task that
# ran there is queued again: it must not launch before Y too has forgotten
# the lost worker's map outputs (issue 9, defect 3: Y failed with "launched
# with 2 map outputs of its input missing").
ybefore=$(stages_of nap_fmt)
"$KILN" submit "$APPS/shuf.so" slowsum "$T/kv.txt" 3 4 > "$T/two_y.out" 2> "$T/two_y.err" &
YCLIENT=$!
wait_stage_started nap_fmt "$ybefore" 3 || fail two_apps_setup "Y's reduce stage did not start"
xbefore=$(stages_of slow_group_stats)
"$KILN" submit "$APPS/shuf.so" cachekill "$T/kv.txt" 9 > "$T/two_x.out" 2> "$T/two_x.err" &
XCLIENT=$!
wait_stage_started slow_group_stats "$xbefore" 1 || fail two_apps_setup "X's second job did not start"
kill_worker 2
wait "$YCLIENT"
rc=$?
if [ $rc -eq 0 ] && LC_ALL=C sort "$T/two_y.out" | cmp -s - "$T/kv.want"; then pass two_apps_kill9_first_app_right
else fail two_apps_kill9_first_app_right "rc=$rc $(head -c 400 "$T/two_y.err")"; fi
wait "$XCLIENT"
rc=$?
if [ $rc -eq 0 ] && LC_ALL=C sort "$T/two_x.out" | cmp -s - "$T/group.want"; then pass two_apps_kill9_second_app_right
else fail two_apps_kill9_second_app_right "rc=$rc $(head -c 400 "$T/two_x.err")"; fi
check two_apps_no_missing_inputs test "$(grep -c "map outputs\? of its input missing" "$DLOG")" -eq 0
add_worker
wait_workers 3 || fail two_apps_rejoin "only $(live_workers) workers"

# ---- soak: a fault during each of $SOAK_JOBS pairs of jobs ---------------------
# Two applications at once: wordcount, and a shuffle job of shuf.so
# (alternately a sum and a cached group read twice); both answers checked.
# The fault, in turn: a random worker killed (kill -9, and a new one
# started), a random worker frozen (SIGSTOP past worker.timeout, so the
# driver counts it lost, then SIGCONT: it joins again as a new worker), or
# a random executor killed (its task is retried). At the end nothing of the
# ended applications is left in any work dir but executor logs.
# freeze_worker N: SIGSTOP until the driver counts a worker lost, then SIGCONT
freeze_worker() {
  local lost
  lost=$(grep -c "worker lost" "$DLOG")
  kill -STOP "${W[$1]}" 2>/dev/null
  wait_dlog "worker lost" $((lost + 1)) || log "frozen worker $1 was never counted lost"
  kill -CONT "${W[$1]}" 2>/dev/null
}
# kill_executor N: kill -9 one of worker N's executors (if it has one)
kill_executor() {
  local x
  x=$(pgrep -P "${W[$1]}" | head -1)
  [ -n "$x" ] && kill -9 "$x" 2>/dev/null
}
ok=0
faults=""
for i in $(seq 1 "$SOAK_JOBS"); do
  "$KILN" submit "$EX/wordcount.so" "$T/words.txt" "$T/soak-$i" 6 > /dev/null 2> "$T/soak.err" &
  CLIENT=$!
  if [ $((i % 2)) -eq 0 ]; then
    "$KILN" submit "$APPS/shuf.so" sum "$T/kv.txt" 5 > "$T/soak2.out" 2> "$T/soak2.err" &
    want2=$T/kv.want
  else
    "$KILN" submit "$APPS/shuf.so" cachekill "$T/kv.txt" 6 > "$T/soak2.out" 2> "$T/soak2.err" &
    want2=$T/group.want
  fi
  CLIENT2=$!
  # the kill lands after a random number (1..24) of the jobs' task launches
  target=$(($(grep -c "task started" "$DLOG") + 1 + RANDOM % 24))
  while kill -0 "$CLIENT" 2>/dev/null && [ "$(grep -c "task started" "$DLOG")" -lt "$target" ]; do sleep 0.01; done
  keys=("${!W[@]}")
  victim=${keys[$((RANDOM % ${#keys[@]}))]}
  case $((i % 3)) in
    0) fault=killed; kill_worker "$victim" ;;
    1) fault=frozen; freeze_worker "$victim" ;;
    2) fault=executor; kill_executor "$victim" ;;
  esac
  faults="$faults $fault"
  wait "$CLIENT"
  rc=$?
  wait "$CLIENT2"
  rc2=$?
  if [ $rc -eq 0 ] && cat "$T/soak-$i"/part-* 2>/dev/null | LC_ALL=C sort | cmp -s - "$T/words.want" &&
    [ $rc2 -eq 0 ] && LC_ALL=C sort "$T/soak2.out" | cmp -s - "$want2"; then
    ok=$((ok + 1))
  else
    log "soak pair $i (worker $victim $fault): rc=$rc rc2=$rc2 $(head -c 300 "$T/soak.err") $(head -c 300 "$T/soak2.err")"
  fi
  rm -rf "$T/soak-$i"
  [ "$fault" = killed ] && add_worker
  wait_workers 3 >/dev/null 2>&1
done
soak_left=""
for n in "${!W[@]}"; do
  wait_until '[ -z "$(find "$T/w$n" -mindepth 2 -path "$T/w$n/app-*/*" ! -name "executor-*.log" 2>/dev/null)" ]' 0.02 || true
  soak_left="$soak_left$(find "$T/w$n" -mindepth 2 -path "$T/w$n/app-*/*" ! -name 'executor-*.log' 2>/dev/null | head -3)"
done
[ -z "$soak_left" ] && pass soak_leaves_no_files || fail soak_leaves_no_files "$soak_left"
log "soak faults:$faults"
log "soak: $(grep -c "task requeued" "$DLOG") tasks requeued, $(grep -c "task fetch failed" "$DLOG") fetch failures, $(grep -c "map outputs lost" "$DLOG") map reruns in the whole run"
if [ "$ok" -eq "$SOAK_JOBS" ]; then pass "soak_${SOAK_JOBS}_pairs_right"
else fail "soak_${SOAK_JOBS}_pairs_right" "$ok of $SOAK_JOBS right"; fi

# ---- a crash leaves no files behind (issue 9, defect 4) -----------------------
# The driver and a worker are killed (kill -9) in the middle of a shuffle,
# then both start again (the driver on the same port and state dir, the
# worker on the same work dir): once the workers registered and a job ran,
# nothing of the dead application is left under any work dir but its
# executor logs.
cbefore=$(stages_of nap_fmt)
"$KILN" submit "$APPS/shuf.so" slowsum "$T/kv.txt" 3 50 > /dev/null 2> "$T/crash.err" &
CCLIENT=$!
wait_stage_started nap_fmt "$cbefore" 3 || fail crash_setup "the reduce stage did not start"
DEAD_APP=$(grep "application registered" "$DLOG" | tail -1 | sed 's/.*app=\([^ ]*\).*/\1/')
keys=("${!W[@]}")
CRASHED=${keys[0]}
kill -9 "$DRIVER_PID"
wait "$DRIVER_PID" 2>/dev/null
kill_worker "$CRASHED"
wait "$CCLIENT" 2>/dev/null
if find "$T/w$CRASHED/$DEAD_APP/shuffle" -name '*.data' | grep -q .; then pass crash_left_shuffle_files
else fail crash_left_shuffle_files "no map output of $DEAD_APP on worker $CRASHED to clean"; fi
# the new driver keeps unused blobs for 1 s only (store.retention)
printf 'worker.timeout = 2s\nstore.retention = 1s\n' > "$T/kiln2.conf"
rm -f "$T/driver/ports"
"$B/kiln-driver" --listen "$MASTER" --http 127.0.0.1:0 --state-dir "$T/driver" --log-file "$T/driver/driver2.log" \
  --config "$T/kiln2.conf" --log-level debug &
DRIVER_PID=$!
PIDS="$PIDS $DRIVER_PID"
port "$T/driver" rpc > /dev/null
DLOG=$T/driver/driver2.log
rm -f "$T/w$CRASHED/ports"
start_worker "$T/w$CRASHED" 2
W[$CRASHED]=${WORKER_PIDS##* }
wait_workers 3 || fail crash_rejoin "only $(live_workers) workers after the restart"
"$KILN" submit "$APPS/shuf.so" sum "$T/kv.txt" 5 | LC_ALL=C sort > "$T/crash.out"
check crash_restart_next_job_right cmp -s "$T/crash.out" "$T/kv.want"
# leftovers WORKER: what applications left in its work dir besides logs
leftovers() { find "$T/w$1" -mindepth 2 -path "$T/w$1/app-*/*" ! -name 'executor-*.log' 2>/dev/null; }
clean=1
for n in "${!W[@]}"; do
  wait_until '[ -z "$(leftovers "$n")" ]' 0.02 || true
  if [ -n "$(leftovers "$n")" ]; then clean=0; log "left on worker $n: $(leftovers "$n" | head -5)"; fi
done
if [ $clean -eq 1 ]; then pass crash_nothing_left_but_logs
else fail crash_nothing_left_but_logs "shuffle, cache or spill files stayed"; fi
if ls "$T/w$CRASHED/$DEAD_APP"/executor-*.log > /dev/null 2>&1; then pass crash_executor_logs_kept
else fail crash_executor_logs_kept "no executor log of $DEAD_APP on worker $CRASHED"; fi

# ---- blob retention: an unused library goes, a running application's stays ----
SHUF_HASH=$(sha256sum "$APPS/shuf.so" | cut -c1-64)
WC_HASH=$(sha256sum "$EX/wordcount.so" | cut -c1-64)
rbefore=$(stages_of nap_fmt)
# 3000 reduced records at 500 ms each: it outlives every check below, however slow the machine
"$KILN" submit "$APPS/shuf.so" slowsum "$T/kv.txt" 3 500 > /dev/null 2> "$T/live.err" &
LCLIENT=$!
wait_stage_started nap_fmt "$rbefore" 1 || fail retention_setup "the long job did not start"
LIVE_APP=$(grep "application registered" "$DLOG" | tail -1 | sed 's/.*app=\([^ ]*\).*/\1/')
# (the restarted driver may have dropped either blob already at start-up)
wc_drops=$(grep -c "blob dropped hash=$WC_HASH" "$DLOG")
shuf_drops=$(grep -c "blob dropped hash=$SHUF_HASH" "$DLOG")
"$KILN" submit "$EX/wordcount.so" "$T/words.txt" "$T/retention-out" 3 > /dev/null 2> "$T/wc.err"
check retention_job_right sh -c "cat '$T/retention-out'/part-* | LC_ALL=C sort | cmp -s - '$T/words.want'"
if wait_dlog "blob dropped hash=$WC_HASH" $((wc_drops + 1)); then pass retention_drops_unused_library
else fail retention_drops_unused_library "wordcount.so's blob stayed"; fi
check retention_dropped_file_gone test ! -e "$T/driver/blobs/$WC_HASH"
# dropped later than the blob of the running application was last used: kept only for being in use
check retention_keeps_running_apps_library test -e "$T/driver/blobs/$SHUF_HASH"
check retention_running_app_still_running kill -0 "$LCLIENT"
check retention_running_app_blob_not_dropped test "$(grep -c "blob dropped hash=$SHUF_HASH" "$DLOG")" -eq "$shuf_drops"
"$KILN" kill "$LIVE_APP" > /dev/null 2>&1
wait "$LCLIENT" 2>/dev/null
if wait_dlog "blob dropped hash=$SHUF_HASH" $((shuf_drops + 1)); then pass retention_drops_library_after_app_ended
else fail retention_drops_library_after_app_ended "shuf.so's blob stayed after its application ended"; fi

# ---- nothing left behind -------------------------------------------------------
stop_all
wait_until '[ "$(pgrep -f "$T/" | wc -l)" -eq 0 ]' || true
left=$(pgrep -f "$T/" | wc -l)
check no_leftover_processes test "$left" -eq 0
summary
