#!/usr/bin/env bash
# history.sh - the driver's event logs (STATE/history/APP-ID.jsonl) and
# what it shows of earlier runs after a restart, with a real driver and two
# real workers: applications that succeed, fail, are killed and are named
# with markup; the driver restarted on the same state dir and ports, then
# `kiln apps`, `kiln jobs`, the UI (curl, escaping) and /api/v1/ list them
# with their outcomes and jobs; a driver killed with -9 under a running job
# (that application reads failed: the driver stopped); a truncated last
# line (skipped with a warning); history.max_apps=2 (only the newest two
# logs stay, on disk and in every listing).
# Prints "N passed, M failed"; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-hist-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
PY=/usr/bin/python3
UI=$B/tests/apps/ui.so
SD=$T/driver
HD=$SD/history

# ---- helpers ------------------------------------------------------------------------
# jget URL EXPR: evaluates the Python expression EXPR over the JSON at URL (as d)
jget() { curl -sf "$1" | $PY -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"; }
until_true() {
  local i
  for i in $(seq 1 1200); do "$@" && return 0; sleep 0.05; done
  return 1
}
newest_app() { jget "$H/api/v1/applications" 'd[0]["id"]'; }
# app_line ID: ID's line of `kiln apps`
app_line() { "$KILN" apps | grep "^$1 "; }
# app_state ID: the STATE column of ID in `kiln apps` (the name may hold spaces: the
# columns after it are counted from the end of the line)
app_state() { app_line "$1" | awk '{ print $(NF - 5) }'; }
# restart [FLAGS...]: stops the driver (SIGTERM) and starts it again on the
# same state dir and ports; waits for both workers to be back
stop_driver() {
  kill -TERM "$DRIVER_PID" 2>/dev/null
  wait "$DRIVER_PID" 2>/dev/null
}
start_again() {
  rm -f "$SD/ports"
  "$B/kiln-driver" --listen "127.0.0.1:$RPC_PORT" --http "127.0.0.1:$HTTP_PORT" --state-dir "$SD" \
    --log-file "$SD/driver.log" "$@" &
  DRIVER_PID=$!
  PIDS="$WORKER_PIDS $DRIVER_PID"
  port "$SD" rpc > /dev/null
  wait_workers 2 || log "the workers did not come back: $(tail -3 "$T/w1/worker.log")"
}
restart() {
  stop_driver
  start_again "$@"
}
# logs: the application ids with a log in STATE/history, sorted
logs() { ls "$HD" | sed -n 's/\.jsonl$//p' | sort | tr '\n' ' '; }

# ---- data -----------------------------------------------------------------------------
mawk 'BEGIN { srand(7); for (i = 0; i < 4000; i++) { s = "w" int(rand() * 500);
  for (j = 0; j < 4; j++) s = s " w" int(rand() * 500); print s } }' > "$T/words.txt"
WORDS=$(tr ' ' '\n' < "$T/words.txt" | sort -u | wc -l)
cp "$T/words.txt" "$T/killed.txt"
cp "$T/words.txt" "$T/crash.txt"
mawk 'BEGIN { for (i = 0; i < 100; i++) print (i == 50 ? "a boom here" : "line " i) }' > "$T/boom.txt"

start_driver "$SD"
RPC_PORT=${MASTER##*:}
HTTP_PORT=${DRIVER_HTTP##*:}
H=http://$DRIVER_HTTP
start_worker "$T/w1" 2
start_worker "$T/w2" 2
wait_workers 2 || { fail cluster "workers did not register"; summary; exit 1; }
pass cluster_up
[ -d "$HD" ] && [ -z "$(logs)" ] && pass history_dir_made_empty || fail history_dir_made_empty "$(ls -la "$HD" 2>&1)"

# ---- applications that succeed, fail, are killed, and one named with markup ------------------
got=$("$KILN" submit "$UI" wc "$T/words.txt" 4 2 2>&1)
[ "$got" = "$WORDS" ] && pass app_succeeds || fail app_succeeds "$got"
A_OK=$(newest_app)
"$KILN" submit "$UI" fail "$T/boom.txt" > "$T/fail.out" 2>&1 && fail app_fails "it succeeded" || pass app_fails
A_FAIL=$(newest_app)
"$KILN" submit "$UI" gated "$T/killed.txt" 4 2 > "$T/killed.out" 2>&1 &
KILLED=$!
inflight() { [ "$(jget "$H/api/v1/workers" 'sum(w["running"] + w["queued"] for w in d)')" -gt 0 ]; }
until_true inflight || fail killed_job_started "$(curl -s "$H/api/v1/workers")"
A_KILL=$(newest_app)
"$KILN" kill "$A_KILL" > /dev/null 2>&1 || fail kill_app "kiln kill failed"
wait "$KILLED" && fail killed_client_fails "exit 0" || pass killed_client_fails
touch "$T/killed.txt.go"
XSS='<img src=x onerror=alert(1)>'
cp "$UI" "$T/$XSS.so"
got=$("$KILN" submit "$T/$XSS.so" wc "$T/words.txt" 2 2 2>&1)
[ "$got" = "$WORDS" ] && pass markup_named_app_runs || fail markup_named_app_runs "$got"
A_XSS=$(newest_app)
[ "$(echo "$A_OK $A_FAIL $A_KILL $A_XSS" | tr ' ' '\n' | sort -u | wc -l)" = 4 ] && pass four_applications ||
  fail four_applications "$A_OK $A_FAIL $A_KILL $A_XSS"

# ---- the event logs on disk: one JSON object a line, registered first, ended last ----------
[ "$(logs)" = "$(echo "$A_OK $A_FAIL $A_KILL $A_XSS" | tr ' ' '\n' | sort | tr '\n' ' ')" ] && pass a_log_per_application ||
  fail a_log_per_application "$(logs)"
evcheck() {
  $PY - "$HD/$1.jsonl" "$2" << 'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ev = [l["event"] for l in lines]
ok = ev[0] == "app_registered" and ev[-1] == "app_ended" and lines[-1]["outcome"] == sys.argv[2]
jobs = [l for l in lines if l["event"] == "job_ended"]
ok = ok and len(jobs) >= 1 and all(j["stages"] and "tasks" in j and j["ended_ms"] >= j["submitted_ms"] for j in jobs)
sys.exit(0 if ok else 1)
EOF
}
evcheck "$A_OK" succeeded && pass log_of_succeeded_app || fail log_of_succeeded_app "$(cat "$HD/$A_OK.jsonl")"
evcheck "$A_FAIL" failed && grep -q 'a line says boom' "$HD/$A_FAIL.jsonl" && pass log_of_failed_app ||
  fail log_of_failed_app "$(cat "$HD/$A_FAIL.jsonl")"
evcheck "$A_KILL" killed && pass log_of_killed_app || fail log_of_killed_app "$(cat "$HD/$A_KILL.jsonl")"
grep -q "\"user\": *\"$(id -un)\"" "$HD/$A_OK.jsonl" && pass log_names_user || fail log_names_user "$(head -1 "$HD/$A_OK.jsonl")"

# the failed attempts of the failed application's failed stage, as the API lists them now
failed_rows() {
  local sid
  sid=$(jget "$H/api/v1/applications/$A_FAIL/stages" '[s["stage_id"] for s in d if s["state"] == "failed"][0]') || return 1
  jget "$H/api/v1/applications/$A_FAIL/stages/$sid" \
    'sorted((t["task_id"], t["partition"], t["attempt"], t["worker"], t["state"], t["error"]) for t in d["task_list"] if t["state"] in ("failed", "fetch_failed", "lost"))'
}
FAILED_BEFORE=$(failed_rows)
case "$FAILED_BEFORE" in
  *"a line says boom"*) pass failed_attempts_listed ;;
  *) fail failed_attempts_listed "$FAILED_BEFORE" ;;
esac
FAIL_SID=$(jget "$H/api/v1/applications/$A_FAIL/stages" '[s["stage_id"] for s in d if s["state"] == "failed"][0]')

# ---- restart: the same state dir and ports ---------------------------------------------------
restart
"$KILN" status > "$T/status.txt" && pass restarted_driver_serves || fail restarted_driver_serves "$(cat "$T/status.txt")"
grep -q "history: applications loaded count=4 " "$SD/driver.log" && pass restart_loads_four ||
  fail restart_loads_four "$(grep history: "$SD/driver.log")"
"$KILN" apps > "$T/apps.txt"
log "$(cat "$T/apps.txt")"
[ "$(tail -n +2 "$T/apps.txt" | wc -l)" = 4 ] && pass kiln_apps_lists_all || fail kiln_apps_lists_all "$(cat "$T/apps.txt")"
head -1 "$T/apps.txt" | grep -q "APPLICATION.*NAME.*USER.*STATE.*JOBS.*STARTED.*DURATION" && pass kiln_apps_header ||
  fail kiln_apps_header "$(head -1 "$T/apps.txt")"
[ "$(app_state "$A_OK") $(app_state "$A_FAIL") $(app_state "$A_KILL") $(app_state "$A_XSS")" = \
  "succeeded failed killed succeeded" ] && pass kiln_apps_outcomes || fail kiln_apps_outcomes "$(cat "$T/apps.txt")"
app_line "$A_OK" | grep -q " ui.so .* succeeded  *1 " && pass kiln_apps_name_jobs || fail kiln_apps_name_jobs "$(app_line "$A_OK")"
app_line "$A_XSS" | grep -qF "$XSS.so" && pass kiln_apps_markup_name || fail kiln_apps_markup_name "$(app_line "$A_XSS")"
"$KILN" jobs > "$T/jobs.txt"
grep -q "^$A_OK  *1  *count  *succeeded  *6/6  *4/4 2/2" "$T/jobs.txt" && pass kiln_jobs_succeeded_job ||
  fail kiln_jobs_succeeded_job "$(cat "$T/jobs.txt")"
grep -q "^$A_FAIL  *1  *count  *failed " "$T/jobs.txt" && grep -q "^$A_KILL  *1  *count  *failed " "$T/jobs.txt" &&
  pass kiln_jobs_failed_jobs || fail kiln_jobs_failed_jobs "$(cat "$T/jobs.txt")"

# the API, marked as from history
A=$H/api/v1/applications
[ "$(jget "$A" 'sorted((a["id"], a["state"], a["from_history"]) for a in d)')" = \
  "$($PY -c 'import sys; print(sorted([(sys.argv[1], "succeeded", True), (sys.argv[2], "failed", True), (sys.argv[3], "killed", True), (sys.argv[4], "succeeded", True)]))' "$A_OK" "$A_FAIL" "$A_KILL" "$A_XSS")" ] &&
  pass api_applications_from_history || fail api_applications_from_history "$(curl -s "$A")"
[ "$(jget "$A/$A_OK/jobs/1" '(d["state"], d["tasks"], d["tasks_done"], [s["tasks"] for s in d["stages"]], d["stage_progress"])')" = \
  "('succeeded', 6, 6, [4, 2], '4/4 2/2')" ] && pass api_job_from_history || fail api_job_from_history "$(curl -s "$A/$A_OK/jobs/1")"
jget "$A/$A_FAIL/jobs/1" 'd["error"]' | grep -q "a line says boom" && pass api_job_error_from_history ||
  fail api_job_error_from_history "$(curl -s "$A/$A_FAIL/jobs/1")"
[ "$(jget "$A/$A_XSS" 'd["name"]')" = "$XSS.so" ] && pass api_name_as_is || fail api_name_as_is "$(curl -s "$A/$A_XSS")"
[ "$(jget "$A/$A_OK" 'd["user"]')" = "$(id -un)" ] && pass api_user || fail api_user "$(curl -s "$A/$A_OK")"

# the failed attempts, from the event log: the same rows, the error on the stage page
[ -n "$FAILED_BEFORE" ] && [ "$(failed_rows)" = "$FAILED_BEFORE" ] && pass failed_attempts_from_history ||
  fail failed_attempts_from_history "before: $FAILED_BEFORE after: $(failed_rows)"
curl -s "$H/app/$A_FAIL/stage/$FAIL_SID" | grep -q 'a line says boom' && pass stage_page_failures_from_history ||
  fail stage_page_failures_from_history "$(curl -s "$H/app/$A_FAIL/stage/$FAIL_SID" | head -c 2000)"

# the UI
curl -s "$H/" > "$T/index.html"
for a in "$A_OK" "$A_FAIL" "$A_KILL" "$A_XSS"; do grep -q "href=\"/app/$a\"" "$T/index.html" || fail "index_lists_$a" "missing"; done
grep -q 'class="killed">killed<' "$T/index.html" && grep -q 'class="failed">failed<' "$T/index.html" &&
  grep -q 'class="succeeded">succeeded<' "$T/index.html" && grep -q '(from its event log)' "$T/index.html" &&
  pass index_shows_history || fail index_shows_history "$(head -c 2000 "$T/index.html")"
curl -s "$H/app/$A_FAIL" > "$T/fail.html"
grep -q 'id="app-state">failed<' "$T/fail.html" && grep -q 'id="from-history"' "$T/fail.html" &&
  grep -q 'a line says boom' "$T/fail.html" && pass app_page_from_history || fail app_page_from_history "$(head -c 2000 "$T/fail.html")"
curl -s "$H/app/$A_OK/job/1" > "$T/job.html"
grep -q '<svg class="dag"' "$T/job.html" && grep -q 'class="succeeded">succeeded<' "$T/job.html" && pass job_page_from_history ||
  fail job_page_from_history "$(head -c 2000 "$T/job.html")"
for p in / "/app/$A_XSS"; do
  curl -s "$H$p" > "$T/x.html"
  grep -qF '&lt;img src=x onerror=alert(1)&gt;.so' "$T/x.html" && ! grep -qF '<img' "$T/x.html" && pass "escaped_name_$p" ||
    fail "escaped_name_$p" "$(grep -i img "$T/x.html" | head -c 400)"
done

# a new application after the restart: a fresh id, listed with the others
got=$("$KILN" submit "$UI" wc "$T/words.txt" 2 2 2>&1)
[ "$got" = "$WORDS" ] && pass app_after_restart || fail app_after_restart "$got"
A_NEW=$(newest_app)
case " $A_OK $A_FAIL $A_KILL $A_XSS " in
  *" $A_NEW "*) fail new_id_is_new "$A_NEW" ;;
  *) pass new_id_is_new ;;
esac
[ "$(jget "$A/$A_NEW" '(d["state"], d["from_history"])')" = "('succeeded', False)" ] && pass new_app_not_from_history ||
  fail new_app_not_from_history "$(curl -s "$A/$A_NEW")"

# ---- kill -9 of the driver under a running job: that application failed ----------------------
"$KILN" submit "$UI" gated "$T/crash.txt" 4 2 > "$T/crash.out" 2>&1 &
CRASH=$!
until_true inflight || fail crash_job_started "$(curl -s "$H/api/v1/workers")"
A_CRASH=$(newest_app)
kill -9 "$DRIVER_PID"
wait "$DRIVER_PID" 2> /dev/null
wait "$CRASH" && fail crash_client_fails "exit 0" || pass crash_client_fails
touch "$T/crash.txt.go"
! grep -q app_ended "$HD/$A_CRASH.jsonl" && pass crash_log_has_no_end || fail crash_log_has_no_end "$(cat "$HD/$A_CRASH.jsonl")"
start_again
[ "$(app_state "$A_CRASH")" = failed ] && pass crashed_app_reads_failed || fail crashed_app_reads_failed "$("$KILN" apps)"
[ "$(jget "$A/$A_CRASH" '(d["state"], d["end_reason"], d["from_history"])')" = "('failed', 'the driver stopped', True)" ] &&
  pass crashed_app_the_driver_stopped || fail crashed_app_the_driver_stopped "$(curl -s "$A/$A_CRASH")"
[ "$(app_state "$A_NEW")" = succeeded ] && [ "$(app_state "$A_OK")" = succeeded ] && pass earlier_apps_survive_crash ||
  fail earlier_apps_survive_crash "$("$KILN" apps)"

# ---- a truncated last line: skipped with a warning ----------------------------------------------
printf '{"event":"job_ended","app":"%s","job":7,"action":"co' "$A_CRASH" >> "$HD/$A_CRASH.jsonl"
printf 'not json\n' >> "$HD/$A_NEW.jsonl"
restart
grep -q "history: line skipped file=$HD/$A_CRASH.jsonl line=[0-9]* truncated=yes" "$SD/driver.log" &&
  pass truncated_line_warned || fail truncated_line_warned "$(grep history: "$SD/driver.log" | tail -5)"
grep -q "history: line skipped file=$HD/$A_NEW.jsonl " "$SD/driver.log" && pass malformed_line_warned ||
  fail malformed_line_warned "$(grep history: "$SD/driver.log" | tail -5)"
[ "$(app_state "$A_CRASH")" = failed ] && [ "$(app_state "$A_NEW")" = succeeded ] && pass apps_with_bad_lines_listed ||
  fail apps_with_bad_lines_listed "$("$KILN" apps)"
[ "$(tail -n +2 <("$KILN" apps) | wc -l)" = 6 ] && pass six_apps_listed || fail six_apps_listed "$("$KILN" apps)"

# ---- history.max_apps = 2: only the newest two, on disk and in every listing ------------------------
printf 'history.max_apps = 2\n' > "$T/max2.conf"
restart --config "$T/max2.conf"
newest2=$(echo "$A_NEW $A_CRASH" | tr ' ' '\n' | sort | tr '\n' ' ')
[ "$(logs)" = "$newest2" ] && pass max_apps_files_at_startup || fail max_apps_files_at_startup "$(logs) want $newest2"
[ "$(tail -n +2 <("$KILN" apps) | awk '{ print $1 }' | sort | tr '\n' ' ')" = "$newest2" ] && pass max_apps_kiln_apps ||
  fail max_apps_kiln_apps "$("$KILN" apps)"
[ "$(jget "$A" 'len(d)')" = 2 ] && pass max_apps_api || fail max_apps_api "$(curl -s "$A")"
! grep -q "$A_OK" <("$KILN" jobs) && pass max_apps_kiln_jobs || fail max_apps_kiln_jobs "$("$KILN" jobs)"
got=$("$KILN" submit "$UI" wc "$T/words.txt" 2 2 2>&1)
[ "$got" = "$WORDS" ] && pass app_with_max_apps_2 || fail app_with_max_apps_2 "$got"
A_LAST=$(newest_app)
newest2=$(echo "$A_CRASH $A_LAST" | tr ' ' '\n' | sort | tr '\n' ' ')
[ "$(logs)" = "$newest2" ] && pass max_apps_files_at_app_end || fail max_apps_files_at_app_end "$(logs) want $newest2"
[ "$(jget "$A" 'sorted(a["id"] for a in d)')" = "$($PY -c 'import sys; print(sorted(sys.argv[1:]))' $A_CRASH $A_LAST)" ] &&
  pass max_apps_listing_at_app_end || fail max_apps_listing_at_app_end "$(curl -s "$A")"

stop_all
summary
