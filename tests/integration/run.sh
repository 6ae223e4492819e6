#!/usr/bin/env bash
# run.sh - kiln's integration tests: a real driver and two real workers on
# loopback, jobs run through `kiln submit`, results compared with coreutils
# and mawk on generated data. Prints "N passed, M failed"; exits non-zero
# on any failure.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-it-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
APPS=$B/tests/apps
EX=$B/examples

# ---- data -------------------------------------------------------------------
# ~55 MB of text: random words, some lines holding "needle", some empty,
# a last line without a newline.
mawk 'BEGIN {
  srand(42); split("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega", w, " ");
  for (i = 0; i < 1000000; i++) {
    n = int(rand() * 14); s = "";
    for (j = 0; j < n; j++) s = s (j ? " " : "") w[1 + int(rand() * 24)] int(rand() * 1000);
    if (rand() < 0.01) s = s " needle" i;
    print s
  }
  printf "last line without newline"
}' > "$T/big.txt"
head -c 2000000 "$T/big.txt" > "$T/small.txt"
echo >> "$T/small.txt"
log "generated $(wc -c < "$T/big.txt") bytes of text"

# debug: the per-task lines below ("task started") are debug lines
start_driver "$T/driver" --log-level debug
start_worker "$T/w1" 2
start_worker "$T/w2" 2
wait_workers 2 || { fail cluster "workers did not register"; summary; exit 1; }
pass cluster_up

# ---- grep over >= 50 MB vs grep -F ------------------------------------------
"$KILN" submit "$EX/grep.so" needle "$T/big.txt" "$T/grep.out" 8 2>"$T/grep.err"
rc=$?
if [ $rc -eq 0 ] && [ -f "$T/grep.out/_SUCCESS" ] && cmp -s <(cat "$T"/grep.out/part-*) <(grep -F needle "$T/big.txt"); then
  pass grep_50mb
else
  fail grep_50mb "rc=$rc $(cat "$T/grep.err")"
fi
[ "$(ls "$T/grep.out" | grep -c '^part-')" -eq 8 ] && pass grep_parts || fail grep_parts "$(ls "$T/grep.out")"
[ ! -e "$T/grep.out/_temporary" ] && pass grep_no_temporary || fail grep_no_temporary "left _temporary"

# ---- count vs wc -l ----------------------------------------------------------
want=$(($(wc -l < "$T/big.txt") + 1)) # + the last line without a newline
got=$("$KILN" submit "$EX/linecount.so" "$T/big.txt" 7 2>"$T/lc.err")
[ "$got" = "$want" ] && pass count_vs_wc || fail count_vs_wc "got '$got' want '$want' $(cat "$T/lc.err")"
got=$("$KILN" submit "$EX/grep.so" --count needle "$T/big.txt" 2>&1)
[ "$got" = "$(grep -cF needle "$T/big.txt")" ] && pass grep_count || fail grep_count "got '$got'"

# ---- a directory and a glob ----------------------------------------------------
mkdir -p "$T/dir"
split -l 5000 "$T/small.txt" "$T/dir/chunk-"
: > "$T/dir/empty"
# a progress line on stderr when it is a terminal (script(1) gives it one), none otherwise
script -qec "timeout 120 $B/kiln submit --master $MASTER $EX/linecount.so $T/big.txt 16" "$T/tty.out" > /dev/null 2>&1
if grep -q "job 1: stage 1 of 1: [0-9]*/16 tasks" "$T/tty.out" && grep -q "job 1 done: 16 tasks" "$T/tty.out"; then
  pass progress_line_on_terminal
else
  fail progress_line_on_terminal "$(tr '\r' '\n' < "$T/tty.out" | tail -5)"
fi
check no_progress_line_off_terminal test ! -s "$T/lc.err"
got=$("$KILN" submit "$EX/linecount.so" "$T/dir" 5 2>&1)
[ "$got" = "$(cat "$T"/dir/chunk-* | wc -l)" ] && pass count_directory || fail count_directory "got '$got'"
got=$("$KILN" submit "$EX/linecount.so" "$T/dir/chunk-a*" 3 2>&1)
[ "$got" = "$(cat "$T"/dir/chunk-a* | wc -l)" ] && pass count_glob || fail count_glob "got '$got'"

# ---- collect / take of parallelize ---------------------------------------------
for parts in 1 3 17; do
  "$KILN" submit "$APPS/api.so" collect 20000 $parts > "$T/collect.out" 2>"$T/collect.err"
  if cmp -s "$T/collect.out" <(mawk 'BEGIN { for (i = 0; i < 20000; i++) printf "k%d\tv%d\n", i, i }'); then
    pass "collect_parallelize_$parts"
  else
    fail "collect_parallelize_$parts" "$(head -c 300 "$T/collect.err")"
  fi
done
"$KILN" submit "$APPS/api.so" take 1000 4 333 > "$T/take.out" 2>&1
cmp -s "$T/take.out" <(mawk 'BEGIN { for (i = 0; i < 333; i++) printf "k%d\tv%d\n", i, i }') && pass take || fail take "$(head -3 "$T/take.out")"
# partition 0 has 250 records, so take(333) runs it, then 1.5 * 333 / 250 - 1 = 1 more: two tasks, not four
app=$(grep 'application registered' "$T/driver/driver.log" | tail -1 | sed 's/.*app=\([^ ]*\).*/\1/')
got=$(grep -c "task started app=$app " "$T/driver/driver.log")
[ "$got" = 2 ] && pass take_runs_only_needed_partitions || fail take_runs_only_needed_partitions "$got tasks"
"$KILN" submit "$APPS/api.so" collect 0 3 > "$T/empty.out" 2>&1
[ ! -s "$T/empty.out" ] && pass collect_empty || fail collect_empty "$(cat "$T/empty.out")"

# ---- range + reduce --------------------------------------------------------------
got=$("$KILN" submit "$APPS/api.so" range -1000 123457 5 2>&1)
want=$(mawk 'BEGIN { s = 0; for (i = -1000; i < 123457; i++) s += i; printf "%.0f %d\n", s, 123457 + 1000 }')
[ "$got" = "$want" ] && pass range_reduce || fail range_reduce "got '$got' want '$want'"

# ---- a chain: map, filter, flat_map, map_partitions --------------------------------
"$KILN" submit "$APPS/api.so" chain "$T/small.txt" 5 > "$T/chain.out" 2>"$T/chain.err"
mawk '{ u = toupper($0); if (index(u, "7")) { n = split(u, a, " "); for (i = 1; i <= n; i++) print a[i] } }' "$T/small.txt" > "$T/chain.want"
if cmp -s <(sed 's/^[0-9]*://' "$T/chain.out") "$T/chain.want" &&
   mawk -F: 'BEGIN { prev = -1 } { if ($1 != 0 && $1 != prev + 1) exit 1; prev = $1 }' "$T/chain.out" &&
   [ "$(grep -c '^0:' "$T/chain.out")" -gt 1 ]; then
  pass chain_narrow_ops
else
  fail chain_narrow_ops "$(head -c 300 "$T/chain.err")"
fi

# ---- union -------------------------------------------------------------------------
"$KILN" submit "$APPS/api.so" union "$T/small.txt" 3 > "$T/union.out" 2>&1
cmp -s "$T/union.out" <(cat "$T/small.txt"; seq 0 999) && pass union || fail union "$(head -3 "$T/union.out")"

# ---- save_text round trip ------------------------------------------------------------
"$KILN" submit "$APPS/api.so" save "$T/small.txt" "$T/saved" 6 2>"$T/save.err"
cmp -s <(cat "$T"/saved/part-*) "$T/small.txt" && [ -f "$T/saved/_SUCCESS" ] && pass save_text_roundtrip || fail save_text_roundtrip "$(cat "$T/save.err")"
out=$("$KILN" submit "$APPS/api.so" save "$T/small.txt" "$T/saved" 6 2>&1)
case "$out" in *"already exists"*) pass save_text_refuses_existing ;; *) fail save_text_refuses_existing "$out" ;; esac

# ---- counters ------------------------------------------------------------------------
got=$("$KILN" submit "$APPS/api.so" counters "$T/small.txt" 4 2>&1)
n=$(wc -l < "$T/small.txt")
want="$n $n $(grep -c '^$' "$T/small.txt")"
[ "$got" = "$want" ] && pass counters || fail counters "got '$got' want '$want'"

# ---- a 3 MiB env: serialized once, broadcast, fetched once per worker -----------------
got=$("$KILN" submit "$APPS/api.so" bigenv "$T/big.txt" needle1 3 2>"$T/bigenv.err")
want=$(grep -cF needle1 "$T/big.txt")
[ "$got" = "$want" ] && pass bigenv_answer || fail bigenv_answer "got '$got' want '$want' $(cat "$T/bigenv.err")"
app=$(grep 'application registered' "$T/driver/driver.log" | tail -1 | sed 's/.*app=\([^ ]*\).*/\1/')
line=$(grep "stage serialized app=$app " "$T/driver/driver.log")
hash=$(grep "broadcast stored app=$app " "$T/driver/driver.log" | sed 's/.*hash=\([0-9a-f]*\).*/\1/')
if [ "$(printf '%s\n' "$line" | grep -c .)" -eq 1 ] && printf '%s' "$line" | grep -q 'broadcast=yes' && [ -n "$hash" ]; then
  pass bigenv_serialized_once
else
  fail bigenv_serialized_once "serialized lines: $line"
fi
f1=$(grep -c "blob fetched hash=$hash" "$T/w1/worker.log")
f2=$(grep -c "blob fetched hash=$hash" "$T/w2/worker.log")
served=$(grep -c "blob served hash=$hash" "$T/driver/driver.log")
launched=$(grep "task started app=$app " "$T/driver/driver.log" | sed 's/.*worker=//' | sort -u | wc -l)
if [ "$f1" -eq 1 ] && [ "$f2" -eq 1 ] && [ "$served" -eq 2 ] && [ "$launched" -eq 2 ]; then
  pass bigenv_fetched_once_per_worker
else
  fail bigenv_fetched_once_per_worker "w1=$f1 w2=$f2 served=$served workers_used=$launched"
fi

# ---- kiln_broadcast ---------------------------------------------------------------------
got=$("$KILN" submit "$APPS/api.so" bcast "$T/big.txt" needle2 2>&1)
[ "$got" = "$(grep -cF needle2 "$T/big.txt")" ] && pass broadcast_value || fail broadcast_value "got '$got'"

# ---- user errors ---------------------------------------------------------------------------
out=$("$KILN" submit "$APPS/bad.so" static "$T/small.txt" 2>&1)
case "$out" in *KILN_EXPORT*static*|*static*KILN_EXPORT*) pass static_function_refused ;; *) fail static_function_refused "$out" ;; esac
printf 'a\nb\nboom here\nc\n' > "$T/boom.txt"
out=$("$KILN" submit "$APPS/bad.so" segv "$T/boom.txt" 2>&1)
case "$out" in *segv_map*"signal 11"*) pass segfault_named ;; *) fail segfault_named "$out" ;; esac
got=$("$KILN" submit "$EX/linecount.so" "$T/small.txt" 2>&1)
[ "$got" = "$(wc -l < "$T/small.txt")" ] && pass next_job_after_segfault || fail next_job_after_segfault "$got"
out=$("$KILN" submit "$APPS/bad.so" fail "$T/boom.txt" 2>&1)
case "$out" in *fail_filter*"refusing line"*) pass kiln_fail_message ;; *) fail kiln_fail_message "$out" ;; esac
grep -qs 'fail_filter was here' "$T"/w[12]/app-*/executor-*.log && pass executor_stderr_in_log || fail executor_stderr_in_log "$(ls "$T"/w1 "$T"/w2)"
out=$("$KILN" submit "$APPS/bad.so" exit "$T/boom.txt" 2>&1)
case "$out" in *exit_map*"exit called"*) pass exit_in_user_code ;; *) fail exit_in_user_code "$out" ;; esac
out=$("$KILN" submit "$APPS/bad.so" multi "$T/boom.txt" 2>&1)
case "$out" in *multi_map*"exactly one"*) pass map_must_emit_one ;; *) fail map_must_emit_one "$out" ;; esac
out=$("$KILN" submit "$APPS/bad.so" missing "$T/nope.txt" 2>&1)
case "$out" in *nope.txt*"No such file"*) pass missing_input ;; *) fail missing_input "$out" ;; esac

# ---- a library that does not load on the workers ----------------------------------------------
mkdir -p "$T/dep"
printf 'int dep_value(void) { return 7; }\n' > "$T/dep/dep.c"
cc -shared -fPIC "$T/dep/dep.c" -o "$T/dep/libkilndep.so"
cat > "$T/dep/app.c" <<'APP'
#include <stdio.h>
#include "kiln.h"
int dep_value(void);
KILN_EXPORT bool keep(kiln_rec in, kiln_slice env) { return dep_value() == 7; }
KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv) {
  int64_t n = kiln_count(kiln_filter(kiln_range(ctx, 0, 10, 2), keep, KILN_NONE));
  if (n < 0) { fprintf(stderr, "%s\n", kiln_errmsg(ctx)); return 1; }
  printf("%lld\n", (long long)n); return 0;
}
APP
cc -shared -fPIC -Iinclude "$T/dep/app.c" -L"$T/dep" -lkilndep -o "$T/dep/app.so"
out=$(LD_LIBRARY_PATH="$T/dep" "$KILN" submit "$T/dep/app.so" 2>&1)
case "$out" in *libkilndep.so*"on worker"*) pass library_does_not_load ;; *) fail library_does_not_load "$out" ;; esac

# ---- an application that goes away: its tasks stop, its executors end --------------------------------
executors() { cat "$T"/w1/worker.log "$T"/w2/worker.log | grep -c "executor $1 app=$2"; }
seq 1 2000 > "$T/slow.txt"
# start_app CMD...: runs kiln submit CMD in the background (CLIENT) and
# waits until the driver registered it and launched a task (APP)
start_app() {
  local n i
  n=$(grep -c 'application registered' "$T/driver/driver.log")
  "$B/kiln" submit "$@" > "$T/bg.out" 2>&1 &
  CLIENT=$!
  wait_until '[ "$(grep -c "application registered" "$T/driver/driver.log")" -gt "$n" ]' 0.02 || true
  APP=$(grep 'application registered' "$T/driver/driver.log" | tail -1 | sed 's/.*app=\([^ ]*\).*/\1/')
  wait_log "$T/driver/driver.log" "task started app=$APP "
  wait_until '[ "$(executors started "$APP")" -gt 0 ]' 0.02 || true
}
wait_executors_end() {
  local app=$1
  wait_until '[ "$(executors exited "$app")" -ge "$(executors started "$app")" ]' 0.05 || true
}
start_app "$APPS/bad.so" hang "$T/slow.txt"
kill -9 $CLIENT
wait $CLIENT 2>/dev/null
wait_executors_end "$APP"
if wait_log "$T/driver/driver.log" "application ended app=$APP" && [ "$(executors started "$APP")" -gt 0 ] &&
   [ "$(executors exited "$APP")" -eq "$(executors started "$APP")" ]; then
  pass client_gone_executors_end
else
  fail client_gone_executors_end "started=$(executors started "$APP") exited=$(executors exited "$APP")"
fi
start_app "$APPS/bad.so" hang "$T/slow.txt"
"$KILN" kill "$APP" > /dev/null
wait $CLIENT
rc=$?
if [ $rc -ne 0 ] && grep -q "killed" "$T/bg.out"; then pass kiln_kill; else fail kiln_kill "rc=$rc $(cat "$T/bg.out")"; fi
wait_executors_end "$APP"
[ "$(executors exited "$APP")" -eq "$(executors started "$APP")" ] && pass kill_ends_executors || fail kill_ends_executors "started=$(executors started "$APP") exited=$(executors exited "$APP")"

# the driver frees the slots of the ended applications' tasks (workers drop them unanswered)
busy_slots() { "$KILN" workers | tail -n +2 | awk '{ s += $5 } END { print s + 0 }'; }
wait_until '[ "$(busy_slots)" -eq 0 ]' 0.05 || true
busy=$(busy_slots)
[ "$busy" -eq 0 ] && pass slots_freed_after_kill || fail slots_freed_after_kill "running=$busy"

# ---- per-job settings -----------------------------------------------------------------------------
out=$("$KILN" submit --conf task.max_failures=1 "$APPS/bad.so" fail "$T/boom.txt" 2>&1)
case "$out" in *"failed 1 time;"*) pass conf_max_failures ;; *) fail conf_max_failures "$out" ;; esac
out=$("$KILN" submit --conf task.bogus=1 "$EX/linecount.so" "$T/small.txt" 2>&1)
case "$out" in *task.bogus*) pass conf_unknown_key_named ;; *) fail conf_unknown_key_named "$out" ;; esac
out=$("$KILN" submit --conf driver.max_result_size=100k "$APPS/api.so" collect 200000 4 2>&1 >/dev/null)
case "$out" in *max_result_size*) pass max_result_size ;; *) fail max_result_size "$out" ;; esac

# ---- hostile bytes close one connection, never the driver ---------------------------------------
rpc_port=${MASTER##*:}
printf '\xff\xff\xff\x7fgarbage' > /dev/tcp/127.0.0.1/$rpc_port 2>/dev/null || true
printf '\x05\x00\x00\x00\x01\x02\x03\x04\x05' > /dev/tcp/127.0.0.1/$rpc_port 2>/dev/null || true
head -c 100000 /dev/urandom > /dev/tcp/127.0.0.1/$rpc_port 2>/dev/null || true
got=$("$KILN" submit "$EX/linecount.so" "$T/small.txt" 2>&1)
[ "$got" = "$(wc -l < "$T/small.txt")" ] && kill -0 "$DRIVER_PID" && pass garbage_frames_survived || fail garbage_frames_survived "$got"
wait_log "$T/driver/driver.log" 'over the limit' && pass oversized_frame_logged || fail oversized_frame_logged "not in the log"

# ---- operator commands ------------------------------------------------------------------------------
[ "$("$KILN" workers | tail -n +2 | wc -l)" -eq 2 ] && pass kiln_workers || fail kiln_workers "$("$KILN" workers)"
"$KILN" status | grep -q 'workers 2' && pass kiln_status || fail kiln_status "$("$KILN" status)"
"$KILN" jobs | grep -q succeeded && "$KILN" jobs | grep -q failed && pass kiln_jobs || fail kiln_jobs "$("$KILN" jobs)"
out=$("$KILN" kill app-nonexistent 2>&1)
case "$out" in *"no running application"*) pass kiln_kill_unknown ;; *) fail kiln_kill_unknown "$out" ;; esac

# ---- logs reopen on SIGHUP ------------------------------------------------------------------------
mv "$T/driver/driver.log" "$T/driver/driver.log.1"
kill -HUP "$DRIVER_PID"
wait_log "$T/driver/driver.log" 'log reopened' || true
"$KILN" submit "$EX/linecount.so" "$T/small.txt" >/dev/null 2>&1
grep -q 'job succeeded' "$T/driver/driver.log" 2>/dev/null && pass log_reopen_on_sighup || fail log_reopen_on_sighup "no new log"

# ---- the driver restarts: workers reconnect and register again ------------------------------------
kill -TERM "$DRIVER_PID"
wait "$DRIVER_PID" 2>/dev/null
before=$(grep -c 'registered with driver' "$T/w1/worker.log")
"$B/kiln-driver" --listen "127.0.0.1:$rpc_port" --http 127.0.0.1:0 --state-dir "$T/driver2" \
  --log-file "$T/driver2.log" &
DRIVER_PID=$!
PIDS="$WORKER_PIDS $DRIVER_PID"
port "$T/driver2" rpc >/dev/null
wait_workers 2 && pass workers_reconnect || fail workers_reconnect "$(tail -3 "$T/w1/worker.log")"
after=$(grep -c 'registered with driver' "$T/w1/worker.log")
[ "$after" -gt "$before" ] && pass worker_registers_again || fail worker_registers_again "$before -> $after"
got=$("$KILN" submit "$EX/linecount.so" "$T/small.txt" 2>&1)
[ "$got" = "$(wc -l < "$T/small.txt")" ] && pass job_after_driver_restart || fail job_after_driver_restart "$got"

# ---- the driver and workers are still alive and stop on SIGTERM ------------------------------------
alive=1
for p in $PIDS; do kill -0 "$p" 2>/dev/null || alive=0; done
[ $alive -eq 1 ] && pass daemons_survived || fail daemons_survived "a daemon died"
stop_all
left=$(pgrep -f "$T" | wc -l)
[ "$left" -eq 0 ] && pass no_leftover_processes || fail no_leftover_processes "$(pgrep -af "$T")"

# ---- a config file, with flags winning over it ---------------------------------------------------
cat > "$T/kiln.conf" <<CONF
# test config
driver.listen = 127.0.0.1:1
driver.http = 127.0.0.1:0
driver.state_dir = $T/cfgdriver
worker.timeout = 3s
CONF
start_driver "$T/cfgdriver" --config "$T/kiln.conf"
[ -n "$MASTER" ] && [ "${MASTER##*:}" != 1 ] && pass config_file_and_flags || fail config_file_and_flags "$MASTER"
stop_all
printf 'bogus.key = 1\n' > "$T/bad.conf"
out=$("$B/kiln-driver" --config "$T/bad.conf" --state-dir "$T/x" 2>&1)
case "$out" in *bad.conf*bogus.key*|*bogus.key*bad.conf*) pass config_unknown_key ;; *) fail config_unknown_key "$out" ;; esac
out=$("$B/kiln-driver" --listen 0.0.0.0:0 --state-dir "$T/x" 2>&1)
case "$out" in *secret*) pass refuses_non_loopback_without_secret ;; *) fail refuses_non_loopback_without_secret "$out" ;; esac

# ---- local[2] -------------------------------------------------------------------------------------
got=$("$KILN" submit --master 'local[2]' "$EX/linecount.so" "$T/small.txt" 2>&1)
[ "$got" = "$(wc -l < "$T/small.txt")" ] && pass local_master || fail local_master "$got"
unset KILN_MASTER
got=$(KILN_MASTER='local[1]' "$KILN" submit "$APPS/api.so" range 0 10 2 2>&1)
[ "$got" = "45 10" ] && pass kiln_master_env || fail kiln_master_env "$got"

summary
