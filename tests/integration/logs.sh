#!/usr/bin/env bash
# logs.sh - `kiln logs`: executor logs of every worker through the driver.
# A real driver and two one-slot workers on loopback. Jobs whose tasks
# print: both workers' output, one task's section (--task, checked against
# the header lines), one job's (--job), --follow of a running job that
# waits for the test, a log of many MiB (several bounded answers); a C
# function that segfaults: the job's error names the kiln logs command
# and that shows the backtrace; a Python job whose C extension segfaults:
# faulthandler's Python stack is in the log; unknown applications and bad
# arguments refused. Prints "N passed, M failed"; exits non-zero on any
# failure. KILN_SAN=1 marks the sanitizer build.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-logs-XXXXXX")
trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
CHATTY=$B/tests/apps/chatty.so
BAD=$B/tests/apps/bad.so

newest_app() { grep 'application registered' "$DLOG" | tail -1 | sed 's/.*app=\([^ ]*\).*/\1/'; }
# headers FILE: the section header lines in a kiln logs output
headers() { grep '^=== kiln task ' "$1"; }
# section FILE TASK: task TASK's section as the full output FILE has it
# (from its header to the next header in the same file; the blank line
# before a file's "==>" line is kiln logs' separator, not the section's)
section() {
  awk -v t="$2" '/^==> / { src = $0; pend = 0; next }
    pend { print ""; pend = 0 }
    /^$/ && on[src] { pend = 1; next }
    /^=== kiln task / { on[src] = ($4 == t) }
    on[src]' "$1"
}

start_driver "$T/driver"
DLOG=$T/driver/driver.log
start_worker "$T/w1" 1
start_worker "$T/w2" 1
wait_workers 2 || { fail cluster "workers did not register"; summary; exit 1; }
pass cluster_up

# ---- both workers' output, sections by task and by job ------------------------------
# (read after the application ended: its logs stay)
seq 1 40 > "$T/in.txt"
out=$("$KILN" submit "$CHATTY" say "$T/in.txt" 4 2>&1)
APP=$(newest_app)
[ "$out" = "40 40" ] && pass chatty_job_ran || fail chatty_job_ran "$out"
"$KILN" logs "$APP" > "$T/all.out" 2> "$T/all.err"
rc=$?
[ $rc -eq 0 ] && pass logs_exit_0 || fail logs_exit_0 "rc=$rc $(cat "$T/all.err")"
nworkers=$(grep '^==> executor-[0-9]*\.log on worker ' "$T/all.out" | sed 's/.* on worker //; s/ <==$//' | sort -u | wc -l)
[ "$nworkers" -eq 2 ] && pass logs_from_both_workers || fail logs_from_both_workers "$nworkers workers: $(grep '^==>' "$T/all.out")"
says=$(grep -c '^say [0-9]*$' "$T/all.out")
agains=$(grep -c '^again [0-9]*$' "$T/all.out")
if [ "$says" -eq 40 ] && [ "$agains" -eq 40 ] && [ "$(grep '^say ' "$T/all.out" | sort -u | wc -l)" -eq 40 ]; then
  pass logs_every_line_once
else
  fail logs_every_line_once "say=$says again=$agains"
fi
# every task of the two jobs has one section with its header
nh=$(headers "$T/all.out" | wc -l)
[ "$nh" -eq 8 ] && pass logs_a_header_per_task || fail logs_a_header_per_task "$nh headers: $(headers "$T/all.out")"
if headers "$T/all.out" | grep -qvE '^=== kiln task [0-9]+ job [12] stage [0-9]+ partition [0-3] attempt 1 at [0-9T:.-]+Z ===$'; then
  fail logs_header_names_all "$(headers "$T/all.out" | head -3)"
else
  pass logs_header_names_all
fi

# --task T: exactly T's section, for a task on each worker
ok=1
checked=0
for w in $(grep '^==> ' "$T/all.out" | sed 's/.* on worker //; s/ <==$//' | sort -u); do
  t=$(awk -v w="$w" '/^==> / { on = (index($0, " on worker " w " <==") > 0) } on && /^=== kiln task / { print $4; exit }' "$T/all.out")
  "$KILN" logs "$APP" --task "$t" > "$T/task.out" 2>&1 || ok=0
  [ "$(headers "$T/task.out" | wc -l)" -eq 1 ] && headers "$T/task.out" | grep -q "^=== kiln task $t job " || ok=0
  [ "$(grep -c '^==> ' "$T/task.out")" -eq 1 ] && grep -q "^==> .* on worker $w <==" "$T/task.out" || ok=0
  cmp -s <(grep -v '^==> ' "$T/task.out") <(section "$T/all.out" "$t") || ok=0
  [ "$(grep -c '^say \|^again ' "$T/task.out")" -ge 1 ] || ok=0
  [ $ok -eq 1 ] || { fail logs_task_section "task $t on $w: $(cat "$T/task.out")"; break; }
  checked=$((checked + 1))
done
if [ $ok -eq 1 ]; then [ $checked -eq 2 ] && pass logs_task_section || fail logs_task_section "$checked workers"; fi
out=$("$KILN" logs "$APP" --task 999999 2>&1)
[ -z "$out" ] && pass logs_task_unknown_empty || fail logs_task_unknown_empty "$out"

# --job 2: the sections of job 2's tasks and nothing else
"$KILN" logs "$APP" --job 2 > "$T/job.out" 2>&1
if [ "$(headers "$T/job.out" | wc -l)" -eq "$(headers "$T/all.out" | grep -c ' job 2 ')" ] &&
   ! headers "$T/job.out" | grep -qv ' job 2 ' && [ "$(grep -c '^again ' "$T/job.out")" -eq 40 ] &&
   ! grep -q '^say ' "$T/job.out"; then
  pass logs_job_sections
else
  fail logs_job_sections "$(head -20 "$T/job.out")"
fi

# ---- refusals: unknown application, bad arguments ---------------------------------------
out=$("$KILN" logs app-20000101000000-9999 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "no application app-20000101000000-9999" && pass logs_unknown_app_refused ||
  fail logs_unknown_app_refused "rc=$rc $out"
out=$("$KILN" logs --help 2>&1)
[ $? -eq 0 ] && echo "$out" | grep -q '^usage: kiln logs APP-ID' && pass logs_help || fail logs_help "$out"
"$KILN" logs > /dev/null 2>&1
[ $? -eq 2 ] && pass logs_needs_app || fail logs_needs_app "rc=$?"
out=$("$KILN" logs "$APP" --bogus 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "unknown option --bogus" && pass logs_unknown_flag || fail logs_unknown_flag "$out"
out=$("$KILN" logs "$APP" --task x 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q -- "--task needs a number" && pass logs_bad_task || fail logs_bad_task "$out"
out=$("$KILN" logs ../etc 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "not an application id" && pass logs_bad_app_id || fail logs_bad_app_id "$out"

# ---- a log of many MiB: several bounded answers, every line once ------------------------
seq 1 1000000 > "$T/big.txt"
out=$("$KILN" submit "$CHATTY" loud "$T/big.txt" 2 2>&1)
APP=$(newest_app)
"$KILN" logs "$APP" > "$T/big.out" 2>&1
n=$(grep -c '^loud [0-9]*$' "$T/big.out")
size=$(stat -c %s "$T/big.out")
# each file's bytes in one run: a "==>" line per executor log
nfiles=$(grep -c '^==> ' "$T/big.out")
nlogs=$(ls "$T"/w[12]/"$APP"/executor-*.log | wc -l)
if [ "$out" = 1000000 ] && [ "$n" -eq 1000000 ] && [ "$size" -gt $((8 << 20)) ] && [ "$nfiles" -eq "$nlogs" ] &&
   [ "$(grep '^loud ' "$T/big.out" | sort -u | wc -l)" -eq 1000000 ]; then
  pass logs_big_log_whole
else
  fail logs_big_log_whole "out=$out lines=$n bytes=$size files=$nfiles of $nlogs"
fi
t=$(headers "$T/big.out" | head -1 | awk '{ print $4 }')
"$KILN" logs "$APP" --task "$t" > "$T/bigtask.out" 2>&1
cmp -s <(grep -v '^==> ' "$T/bigtask.out") <(section "$T/big.out" "$t") && pass logs_big_task_section ||
  fail logs_big_task_section "$(wc -l < "$T/bigtask.out") lines"

# ---- --follow: lines appear while the job runs; it ends with the application ------------
{ seq 1 5; echo go; seq 6 10; } > "$T/wait.txt"
n=$(grep -c 'application registered' "$DLOG")
"$KILN" submit "$CHATTY" wait "$T/wait.txt" > "$T/wait.out" 2>&1 &
client=$!
wait_until '[ "$(grep -c "application registered" "$DLOG")" -gt "$n" ]' 0.02 || true
APP=$(newest_app)
timeout 120 "$B/kiln" logs "$APP" --follow > "$T/follow.out" 2> "$T/follow.err" &
follower=$!
seen=0
wait_until 'grep -q "^tick 5$" "$T/follow.out"' 0.02 && seen=1
# the job waits for the go file: what the follower saw was printed while it ran
if [ $seen -eq 1 ] && kill -0 $client 2>/dev/null && ! grep -q '^tick go$' "$T/follow.out"; then
  pass follow_sees_lines_while_running
else
  fail follow_sees_lines_while_running "seen=$seen $(cat "$T/follow.out" "$T/follow.err")"
fi
touch "$T/wait.txt.go"
wait $client
rc=$?
[ $rc -eq 0 ] && [ "$(cat "$T/wait.out")" = 11 ] && pass follow_job_ran || fail follow_job_ran "rc=$rc $(cat "$T/wait.out")"
wait $follower
rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c '^tick ' "$T/follow.out")" -eq 11 ] && grep -q '^tick 10$' "$T/follow.out" &&
   [ "$(headers "$T/follow.out" | wc -l)" -eq 1 ]; then
  pass follow_ends_with_application
else
  fail follow_ends_with_application "rc=$rc $(cat "$T/follow.out" "$T/follow.err")"
fi

# ---- a C function's segfault: the error names the command that shows the backtrace -----
{ seq 1 30000; echo boom; seq 1 100; } > "$T/boom.txt"
out=$("$KILN" submit --conf task.max_failures=1 "$BAD" segv "$T/boom.txt" 2>&1)
APP=$(newest_app)
cmd=$(echo "$out" | grep -o "(backtrace: kiln logs [^ ]* --task [0-9]*)" | sed 's/^(backtrace: kiln //; s/)$//')
if echo "$out" | grep -q "signal 11 (Segmentation fault) in function 'segv_map' (backtrace: kiln logs $APP --task [0-9]*)"; then
  pass segv_error_names_logs_command
else
  fail segv_error_names_logs_command "$out"
fi
# shellcheck disable=SC2086
"$KILN" $cmd > "$T/segv.out" 2>&1
t=${cmd##* }
if [ -n "$cmd" ] && grep -q "^kiln executor: fatal signal 11 (SIGSEGV) in task $t, function 'segv_map'; backtrace" "$T/segv.out" &&
   grep -q '(segv_map+0x[0-9a-f]*)' "$T/segv.out" && grep -q '(task_run+0x' "$T/segv.out" &&
   grep -q '^kiln executor: end of backtrace$' "$T/segv.out" && [ "$(headers "$T/segv.out" | wc -l)" -eq 1 ] &&
   headers "$T/segv.out" | grep -q "^=== kiln task $t job 1 "; then
  pass segv_backtrace_in_task_section
else
  fail segv_backtrace_in_task_section "cmd=$cmd $(head -30 "$T/segv.out")"
fi

# ---- a Python job whose C extension segfaults: faulthandler's stack is in the log ------
cat > "$T/crash.py" <<'EOF'
import ctypes
import sys

import kiln


def crash_in_c(x):
    if x == 3:
        ctypes.string_at(0)  # a C extension that reads address 0
    return x


sc = kiln.Context(conf={"task.max_failures": "1"})
try:
    sc.parallelize(range(4), 2).map(crash_in_c).collect()
except kiln.KilnError as e:
    print("job failed:", e, file=sys.stderr)
    sys.exit(1)
EOF
pyenv=()
if [ "${KILN_SAN:-}" = 1 ]; then # the package's extension is instrumented: the interpreter needs the runtime
  pyenv=(env LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
    ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0")
fi
out=$("${pyenv[@]}" timeout "${KILN_TIMEOUT:-300}" "$B/kiln" submit --master "$MASTER" "$T/crash.py" 2>&1)
rc=$?
APP=$(newest_app)
cmd=$(echo "$out" | grep -o "(backtrace: kiln logs [^ ]* --task [0-9]*)" | sed 's/^(backtrace: kiln //; s/)$//')
[ $rc -ne 0 ] && echo "$out" | grep -q "signal 11 (Segmentation fault) in function .*crash_in_c.* (backtrace: kiln logs $APP --task " &&
  pass python_segv_error_names_logs_command || fail python_segv_error_names_logs_command "rc=$rc $out"
# shellcheck disable=SC2086
"$KILN" $cmd > "$T/pyseg.out" 2>&1
if [ -n "$cmd" ] && grep -q '^Fatal Python error: Segmentation fault' "$T/pyseg.out" &&
   grep -q "File \"$T/crash.py\", line 9 in crash_in_c" "$T/pyseg.out" && grep -q ' in string_at$' "$T/pyseg.out" &&
   grep -q '^kiln executor: fatal signal 11 (SIGSEGV)' "$T/pyseg.out"; then
  pass python_faulthandler_stack_in_log
else
  fail python_faulthandler_stack_in_log "cmd=$cmd $(head -20 "$T/pyseg.out")"
fi

# a Python task that raises: its section of the log holds the traceback too
cat > "$T/raise.py" <<'EOF'
import kiln

sc = kiln.Context(conf={"task.max_failures": "1"})


def bad(x):
    raise ValueError("no such thing as %d" % x)


try:
    sc.parallelize(range(2), 1).map(bad).collect()
except kiln.KilnError as e:
    print("job failed:", e)
EOF
"${pyenv[@]}" timeout "${KILN_TIMEOUT:-300}" "$B/kiln" submit --master "$MASTER" "$T/raise.py" > "$T/raise.out" 2>&1
APP=$(newest_app)
TASK=$(curl -s "http://$DRIVER_HTTP/api/v1/applications/$APP/stages/1" |
  /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["task_list"][0]["task_id"])')
"$KILN" logs "$APP" --task "$TASK" > "$T/raise.log" 2>&1
grep -q "^=== kiln task $TASK " "$T/raise.log" && grep -q 'Traceback (most recent call last):' "$T/raise.log" &&
  grep -q 'ValueError: no such thing as 0' "$T/raise.log" && pass python_traceback_in_task_log ||
  fail python_traceback_in_task_log "task=$TASK $(head -c 800 "$T/raise.log") $(cat "$T/raise.out")"

alive=1
for p in $PIDS; do kill -0 "$p" 2>/dev/null || alive=0; done
[ $alive -eq 1 ] && pass daemons_alive || fail daemons_alive "a daemon died"
summary
