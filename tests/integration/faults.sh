#!/usr/bin/env bash
# faults.sh - kiln's fault tests: a real driver and three real workers on
# loopback; user functions that crash, abort, exit, hang or allocate
# without bound; executors, workers, the driver and clients killed or
# stopped mid-job. Each fault must end with the right error (naming the
# function and the cause) after the configured retries, touch no other
# job, and leave daemons that still give right answers (checked against
# wc, cat and seq). Prints "N passed, M failed"; exits non-zero on any
# failure. KILN_SAN=1 marks the sanitizer build.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-faults-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
# A failed allocation returns NULL under ASan too (as it does without
# it), so the memory-limit test sees the same failure in both passes.
export ASAN_OPTIONS="$ASAN_OPTIONS:allocator_may_return_null=1"
APPS=$B/tests/apps
EX=$B/examples
BAD=$APPS/bad.so

# ---- helpers ------------------------------------------------------------------
# newest_app: the application registered last (the driver's log)
newest_app() { grep 'application registered' "$DLOG" | tail -1 | sed 's/.*app=\([^ ]*\).*/\1/'; }
# failures APP: the driver's "task failed" lines for APP
failures() { grep -c "task failed app=$1 " "$DLOG"; }
# start_bg CMD...: kiln submit CMD in the background (CLIENT, output in
# $T/bg.out); waits until it registered (APP) and one of its tasks started
start_bg() {
  local n i
  n=$(grep -c 'application registered' "$DLOG")
  "$B/kiln" submit "$@" > "$T/bg.out" 2>&1 &
  CLIENT=$!
  wait_until '[ "$(grep -c "application registered" "$DLOG")" -gt "$n" ]' 0.02 || true
  APP=$(newest_app)
  wait_log "$DLOG" "task started app=$APP "
}
# wait_exit PID SECONDS: until PID is gone (bounded); then its status in RC
wait_exit() {
  local i
  RC=timeout
  for i in $(seq 1 $(($2 * 10))); do
    if ! kill -0 "$1" 2>/dev/null; then
      wait "$1" 2>/dev/null
      RC=$?
      return 0
    fi
    sleep 0.1
  done
  return 1
}
# exec_pids APP: the executors the workers started for APP
exec_pids() { cat "$T"/w[123]/worker.log | grep "executor started app=$1 " | sed 's/.*pid=\([0-9]*\).*/\1/'; }
alive_pids() {
  local p n=0
  for p in "$@"; do kill -0 "$p" 2>/dev/null && [ "$(cut -d' ' -f3 /proc/"$p"/stat 2>/dev/null)" != Z ] && n=$((n + 1)); done
  echo $n
}

# ---- data -------------------------------------------------------------------------
# two partitions; "boom" only in the second
{ seq 1 30000; echo boom; seq 1 100; } > "$T/boom.txt"
seq 1 200000 > "$T/lines.txt"
seq 1 120 > "$T/slow.txt"
WANT_LINES=$(wc -l < "$T/lines.txt")

start_driver "$T/driver" --log-level debug # start_bg waits for a "task started" (debug) line
DLOG=$T/driver/driver.log
start_worker "$T/w1" 2
start_worker "$T/w2" 2
start_worker "$T/w3" 2
wait_workers 3 || { fail cluster "workers did not register"; summary; exit 1; }
pass cluster_up

# ---- user functions that die: named, retried task.max_failures times ---------------
# fault_case NAME MAX PATTERN CONF... : bad.so NAME over boom.txt with
# task.max_failures=MAX must fail with PATTERN after exactly MAX attempts
fault_case() {
  local name=$1 max=$2 pattern=$3
  shift 3
  local out rc app
  out=$("$KILN" submit --conf task.max_failures="$max" "$@" "$BAD" "$name" "$T/boom.txt" 2>&1)
  rc=$?
  app=$(newest_app)
  case "$out" in
    *"failed $max times; last error: "*$pattern*) [ $rc -ne 0 ] && pass "${name}_named" || fail "${name}_named" "rc=$rc" ;;
    *) fail "${name}_named" "rc=$rc $out" ;;
  esac
  # the partition that failed the job failed exactly MAX times
  local part n
  part=$(printf '%s' "$out" | sed -n 's/.*partition \([0-9]*\) failed.*/\1/p')
  n=$(grep "task failed app=$app " "$DLOG" | grep -c " partition=${part:-x} ")
  [ "$n" -eq "$max" ] && pass "${name}_retried_$max" || fail "${name}_retried_$max" "$n failures of partition ${part:-?} logged for $app"
}
fault_case segv 3 "signal 11 (Segmentation fault) in function 'segv_map' (backtrace: kiln logs app-"*" --task "
fault_case abort 2 "signal 6 (Aborted) in function 'abort_map'"
fault_case exit 2 "status 3 (exit called) in function 'exit_map'"
fault_case loop 2 "time limit of 2 s exceeded"*"in function 'loop_map'" --conf task.timeout=2s

# an unbounded allocation under task.memory_limit, while another client's
# job runs on the same workers: that one is untouched
n=$(grep -c 'application registered' "$DLOG")
"$KILN" submit "$EX/linecount.so" "$T/lines.txt" 6 > "$T/other.out" 2>&1 &
other=$!
wait_until '[ "$(grep -c "application registered" "$DLOG")" -gt "$n" ]' 0.02 || true
fault_case alloc 2 "memory limit 64 MiB exceeded"*"in function 'alloc_map'" --conf task.memory_limit=64m
# user code that checks for NULL and fails by itself: the error still says
# the limit was reached
fault_case hog 2 "hog_map: allocation refused (the task reached task.memory_limit of 64 MiB)" --conf task.memory_limit=64m
wait $other
[ "$(cat "$T/other.out")" = "$WANT_LINES" ] && pass other_client_untouched || fail other_client_untouched "$(cat "$T/other.out")"

# a hung task of one application next to another application's job
start_bg --conf task.timeout=2s --conf task.max_failures=1 "$BAD" loop "$T/boom.txt"
got=$("$KILN" submit "$EX/linecount.so" "$T/lines.txt" 6 2>&1)
[ "$got" = "$WANT_LINES" ] && pass job_beside_hung_task || fail job_beside_hung_task "$got"
wait $CLIENT
grep -q "time limit of 2 s exceeded" "$T/bg.out" && pass hung_task_ended || fail hung_task_ended "$(cat "$T/bg.out")"

alive=1
for p in $PIDS; do kill -0 "$p" 2>/dev/null || alive=0; done
got=$("$KILN" submit "$EX/linecount.so" "$T/lines.txt" 6 2>&1)
[ $alive -eq 1 ] && [ "$got" = "$WANT_LINES" ] && pass daemons_serve_after_faults || fail daemons_serve_after_faults "alive=$alive got=$got"

# ---- a failed job's other tasks are cancelled while the application goes on ----------
# partition 0 fails at once; partition 1 would sleep ~50 s: the driver cancels it
{ echo boom; seq 1 2000; } > "$T/failslow.txt"
out=$("$KILN" submit --conf task.max_failures=1 "$BAD" failslow "$T/failslow.txt" 2>&1)
app=$(newest_app)
if echo "$out" | grep -q "first job: .*boom" && echo "$out" | grep -qx 2001; then pass app_goes_on_after_failed_job
else fail app_goes_on_after_failed_job "$out"; fi
check failed_job_tasks_cancelled grep -q "tasks cancelled app=$app job=1 " "$DLOG"
if cat "$T"/w[123]/worker.log | grep -q "tasks cancelled app=$app tasks=1"; then pass worker_stops_cancelled_task
else fail worker_stops_cancelled_task "$(grep -h "app=$app" "$T"/w[123]/worker.log | tail -5)"; fi

# ---- kill -9 of an executor mid-task: retried, the answer is right ------------------
start_bg "$BAD" slow "$T/slow.txt"
wait_until '[ -n "$(exec_pids "$APP")" ]' 0.02 || true
victim=$(exec_pids "$APP" | head -1)
kill -9 "$victim"
wait $CLIENT
rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$T/bg.out")" = "$(wc -l < "$T/slow.txt")" ]; then
  pass executor_killed_retried_answer_right
else
  fail executor_killed_retried_answer_right "rc=$rc $(cat "$T/bg.out")"
fi
grep "task failed app=$APP " "$DLOG" | grep -q 'signal 9 (Killed)' && pass executor_kill_logged || fail executor_kill_logged "$(grep "app=$APP " "$DLOG" | tail -3)"

# ---- save_text commits only a job that succeeded ------------------------------------
# the partition without "boom" finishes first; then the other one fails
start_bg --conf task.max_failures=1 "$BAD" waitsegv "$T/boom.txt" "$T/savefail"
wait_log "$DLOG" "task finished app=$APP .*partition=0 " && pass save_failed_had_a_finished_part || fail save_failed_had_a_finished_part "no finished task"
touch "$T/boom.txt.go"
wait $CLIENT
rc=$?
rm -f "$T/boom.txt.go"
parts=$(ls "$T/savefail" 2>/dev/null | grep -c '^part-')
if [ $rc -ne 0 ] && grep -q "waitsegv_map" "$T/bg.out" && [ ! -e "$T/savefail/_SUCCESS" ] && [ "$parts" -eq 0 ] &&
   [ ! -e "$T/savefail/_temporary" ]; then
  pass save_failed_job_leaves_nothing
else
  fail save_failed_job_leaves_nothing "rc=$rc parts=$parts $(ls -a "$T/savefail" 2>&1) $(cat "$T/bg.out")"
fi

out=$("$KILN" submit "$BAD" flaky "$T/boom.txt" "$T/saveflaky" 2>&1)
rc=$?
app=$(newest_app)
if [ $rc -eq 0 ] && [ -f "$T/saveflaky/_SUCCESS" ] && [ "$(ls "$T/saveflaky" | grep -c '^part-')" -eq 2 ] &&
   [ ! -e "$T/saveflaky/_temporary" ] && cmp -s <(cat "$T"/saveflaky/part-*) "$T/boom.txt"; then
  pass save_retried_part_once
else
  fail save_retried_part_once "rc=$rc $(ls -a "$T/saveflaky" 2>&1) $out"
fi
[ -f "$T/boom.txt.marker" ] && [ "$(failures "$app")" -eq 1 ] && pass save_flaky_failed_once || fail save_flaky_failed_once "failures=$(failures "$app")"
rm -f "$T/boom.txt.marker"

# ---- a client that goes away, or `kiln kill`: files and executors go ------------------
# app_files APP: what the workers keep for APP besides executor logs
app_files() { ls -d "$T"/w[123]/"$1"/shuffle "$T"/w[123]/"$1"/cache "$T"/w[123]/"$1"/tmp 2>/dev/null | wc -l; }
wait_files() {
  local app=$1
  wait_until '[ -n "$(ls "$T"/w[123]/"$app"/shuffle/*/*.data 2>/dev/null)" ] && [ -n "$(ls -d "$T"/w[123]/"$app"/cache/* 2>/dev/null)" ]' 0.02
}
wait_gone() {
  local app=$1
  wait_until '[ "$(app_files "$app")" -eq 0 ] && [ "$(alive_pids $(exec_pids "$app"))" -eq 0 ]' 0.05
}
seq 1 400 > "$T/keys.txt"
start_bg "$BAD" slowshuffle "$T/keys.txt"
if wait_files "$APP"; then
  kill -9 $CLIENT
  wait $CLIENT 2>/dev/null
  wait_gone "$APP" && pass client_gone_files_removed || fail client_gone_files_removed "files=$(app_files "$APP") executors=$(alive_pids $(exec_pids "$APP"))"
else
  fail client_gone_files_removed "no shuffle and cache files appeared for $APP"
fi
start_bg "$BAD" slowshuffle "$T/keys.txt"
if wait_files "$APP"; then
  "$KILN" kill "$APP" > /dev/null
  wait $CLIENT
  rc=$?
  wait_gone "$APP" && [ $rc -ne 0 ] && pass kiln_kill_files_removed || fail kiln_kill_files_removed "rc=$rc files=$(app_files "$APP") executors=$(alive_pids $(exec_pids "$APP"))"
else
  fail kiln_kill_files_removed "no shuffle and cache files appeared for $APP"
fi

# a client killed while its save_text job writes: the workers remove what the
# attempts wrote (DIR/_temporary/APP, then DIR), as the client can no longer
start_bg "$BAD" slow "$T/slow.txt" "$T/savekill"
wait_until '[ -n "$(ls "$T/savekill/_temporary" 2>/dev/null)" ]' 0.02 || true
if [ -n "$(ls "$T/savekill/_temporary" 2>/dev/null)" ]; then
  kill -9 $CLIENT
  wait $CLIENT 2>/dev/null
  wait_until '[ ! -e "$T/savekill" ]' 0.05 || true
  [ ! -e "$T/savekill" ] && pass client_gone_save_output_removed ||
    fail client_gone_save_output_removed "$(find "$T/savekill" | head -5)"
else
  fail client_gone_save_output_removed "no attempt file appeared in $T/savekill/_temporary"
fi

# ---- kill -9 of the driver mid-job: the client errors and exits; a new driver serves ---
rpc_port=${MASTER##*:}
start_bg "$BAD" slow "$T/slow.txt"
kill -9 "$DRIVER_PID"
wait "$DRIVER_PID" 2>/dev/null
if wait_exit $CLIENT 20 && [ "$RC" -ne 0 ] && grep -q "lost the connection to the driver" "$T/bg.out"; then
  pass driver_killed_client_errors
else
  fail driver_killed_client_errors "rc=$RC $(cat "$T/bg.out")"
fi
old_app=$APP
mkdir -p "$T/driver2"
"$B/kiln-driver" --listen "127.0.0.1:$rpc_port" --http 127.0.0.1:0 --state-dir "$T/driver2" \
  --log-file "$T/driver2/driver.log" --log-level debug &
DRIVER_PID=$!
PIDS="$WORKER_PIDS $DRIVER_PID"
port "$T/driver2" rpc >/dev/null
DLOG=$T/driver2/driver.log
wait_workers 3 && pass workers_reconnect_to_new_driver || fail workers_reconnect_to_new_driver "$(tail -3 "$T/w1/worker.log")"
wait_until '[ "$(alive_pids $(exec_pids "$old_app"))" -eq 0 ]' 0.05 || true
[ "$(alive_pids $(exec_pids "$old_app"))" -eq 0 ] && pass executors_end_with_lost_driver || fail executors_end_with_lost_driver "$(exec_pids "$old_app")"
got=$("$KILN" submit "$EX/linecount.so" "$T/lines.txt" 6 2>&1)
[ "$got" = "$WANT_LINES" ] && pass job_after_driver_kill || fail job_after_driver_kill "$got"

# ---- SIGTERM: a worker mid-job, then the driver mid-job --------------------------------
# the worker that runs one of the job's tasks is the one stopped
start_bg "$BAD" slow "$T/slow.txt"
victim=""
started_on() { local k; for k in 1 2 3; do grep -q "executor started app=$APP " "$T/w$k/worker.log" && victim=$k && return 0; done; return 1; }
wait_until started_on 0.02 || true
vpid=$(echo $WORKER_PIDS | awk -v k="${victim:-3}" '{ print $k }')
kill -TERM "$vpid"
if [ -n "$victim" ] && wait_exit "$vpid" 10 && [ "$RC" -eq 0 ]; then
  pass worker_sigterm_exit_0
else
  fail worker_sigterm_exit_0 "worker ${victim:-none}: status $RC"
fi
left=$(pgrep -f -- "--work-dir $T/w${victim:-3}" | wc -l)
[ "$left" -eq 0 ] && pass worker_sigterm_no_executors_left || fail worker_sigterm_no_executors_left "$(pgrep -af -- "--work-dir $T/w${victim:-3}")"
grep -q "executor exited app=$APP\|executor died app=$APP" "$T/w${victim:-3}/worker.log" && pass worker_sigterm_reaped_executor || fail worker_sigterm_reaped_executor "$(tail -3 "$T/w${victim:-3}/worker.log")"
WORKER_PIDS=$(echo $WORKER_PIDS | awk -v k="${victim:-3}" '{ $k = ""; print }')
PIDS="$WORKER_PIDS $DRIVER_PID"
wait $CLIENT
rc=$?
[ $rc -eq 0 ] && [ "$(cat "$T/bg.out")" = "$(wc -l < "$T/slow.txt")" ] && pass job_survives_worker_stop || fail job_survives_worker_stop "rc=$rc $(cat "$T/bg.out")"

start_bg "$BAD" slow "$T/slow.txt"
kill -TERM "$DRIVER_PID"
if wait_exit "$DRIVER_PID" 10 && [ "$RC" -eq 0 ]; then pass driver_sigterm_exit_0; else fail driver_sigterm_exit_0 "status $RC"; fi
if wait_exit $CLIENT 20 && [ "$RC" -ne 0 ] && grep -q "driver is shutting down" "$T/bg.out"; then
  pass client_told_driver_shutting_down
else
  fail client_told_driver_shutting_down "rc=$RC $(cat "$T/bg.out")"
fi
wait_until '[ "$(alive_pids $(exec_pids "$APP"))" -eq 0 ]' 0.05 || true
[ "$(alive_pids $(exec_pids "$APP"))" -eq 0 ] && pass driver_stop_ends_executors || fail driver_stop_ends_executors "$(exec_pids "$APP")"
PIDS=$WORKER_PIDS
all0=1
for p in $WORKER_PIDS; do
  kill -TERM "$p"
  wait_exit "$p" 10 && [ "$RC" -eq 0 ] || all0=0
done
[ $all0 -eq 1 ] && pass workers_sigterm_exit_0 || fail workers_sigterm_exit_0 "a worker did not exit 0"
PIDS=""
left=$(pgrep -f -- "$T" | wc -l)
[ "$left" -eq 0 ] && pass no_leftover_processes || fail no_leftover_processes "$(pgrep -af -- "$T")"

summary
