#!/usr/bin/env bash
# ui.sh - the daemons' web UI, JSON API (/api/v1/) and Prometheus /metrics,
# with a real driver and two real workers: a shuffle job (16 maps, 4
# reduces), a failing job, a killed application and an application named
# with markup. Pages are fetched with curl (content, 404s, escaping) and
# loaded in headless Chromium during and after a job (what a person sees);
# /metrics of the driver and both workers is parsed with Debian's
# prometheus_client and checked against the jobs run; the counts of a
# multi-stage job agree in the CLI, `kiln jobs`, the log and the API.
# Prints "N passed, M failed"; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-ui-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
PY=/usr/bin/python3 # Debian's, with python3-prometheus-client; never the first python3 on PATH
UI=$B/tests/apps/ui.so

# ---- helpers ------------------------------------------------------------------------
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
# jget URL EXPR: evaluates the Python expression EXPR over the JSON at URL (as d)
jget() { curl -sf "$1" | $PY -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"; }
# prom URL FILE: parses URL's /metrics with prometheus_client into FILE, one
# "name{k=v,...} value" a line; fails when the text does not parse
prom() {
  curl -sf "$1/metrics" | $PY -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
n = 0
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %.17g" % (s.name, labels, s.value))
        n += 1
sys.exit(0 if n else 1)
' > "$2"
}
# metric FILE KEY: the value of KEY ("name{labels}") in a prom FILE, as an integer
metric() { awk -v k="$2" '$1 == k { printf "%d\n", $2; found = 1 } END { if (!found) print "missing" }' "$1"; }
# delta BEFORE AFTER KEY
delta() { echo $(($(metric "$2" "$3") - $(metric "$1" "$3"))); }
# until_true CMD...: retries CMD for at most 60 s
until_true() {
  local i
  for i in $(seq 1 1200); do "$@" && return 0; sleep 0.05; done
  return 1
}
CHROME=1
# dom URL: the DOM a fresh Chromium builds from URL. A page of the cluster
# is opened as a person would, through the login URL `kiln ui` prints: the
# port sets its cookie and redirects to the page without the token.
dom() {
  local url=$1
  case $url in http://*) [ -n "$TOKEN" ] && url="$url?token=$TOKEN" ;; esac
  timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$(mktemp -d "$T/chrome-XXXXXX")" --dump-dom "$url" 2>>"$T/chromium.err"
}
if [ "${KILN_SAN:-}" = 1 ]; then
  CHROME=0 # the pages are the same in both builds: the browser checks run in the normal one
  log "SKIP browser checks in the sanitizer pass (they run in the normal pass)"
elif ! command -v chromium > /dev/null; then
  CHROME=0
  log "SKIP browser checks: chromium is not installed (scripts/deps.sh installs it)"
elif ! dom 'data:text/html,<p>chromium-ok</p>' | grep -q chromium-ok; then
  CHROME=0
  log "SKIP browser checks: chromium cannot start: $(tail -3 "$T/chromium.err")"
fi
# browser NAME URL PATTERN...: the DOM Chromium built from URL holds every (grep -E) PATTERN
browser() {
  local name=$1 url=$2 p
  shift 2
  [ $CHROME = 1 ] || return 0
  dom "$url" > "$T/$name.dom"
  for p in "$@"; do
    grep -qE -- "$p" "$T/$name.dom" || { fail "$name" "no '$p' in the page Chromium shows: $(head -c 600 "$T/$name.dom")"; return 1; }
  done
  pass "$name"
}

# ---- data -----------------------------------------------------------------------------
mawk 'BEGIN { srand(7); for (i = 0; i < 20000; i++) { s = "w" int(rand() * 3000);
  for (j = 0; j < 4; j++) s = s " w" int(rand() * 3000); print s } }' > "$T/words.txt"
LINES=$(wc -l < "$T/words.txt")
WORDS=$(tr ' ' '\n' < "$T/words.txt" | sort -u | wc -l)
cp "$T/words.txt" "$T/gated.txt"
cp "$T/words.txt" "$T/killed.txt"
mawk 'BEGIN { for (i = 0; i < 100; i++) print (i == 50 ? "a boom here" : "line " i) }' > "$T/boom.txt"

start_driver "$T/driver"
start_worker "$T/w1" 2
start_worker "$T/w2" 2
wait_workers 2 || { fail cluster "workers did not register"; summary; exit 1; }
pass cluster_up
H=http://$DRIVER_HTTP
W1=http://127.0.0.1:$(port "$T/w1" http)
W2=http://127.0.0.1:$(port "$T/w2" http)
DLOG=$T/driver/driver.log
prom "$H" "$T/d0.prom" && pass driver_metrics_parse || fail driver_metrics_parse "$(curl -s "$H/metrics" | head -20)"
prom "$W1" "$T/w1-0.prom" && prom "$W2" "$T/w2-0.prom" && pass worker_metrics_parse ||
  fail worker_metrics_parse "$(curl -s "$W1/metrics" | head -20)"

# ---- a shuffle job: 16 maps, 4 reduces; every stage's tasks count --------------------------
script -qec "timeout 120 $B/kiln submit --master $MASTER $UI wc $T/words.txt 16 4" "$T/wc.tty" > /dev/null 2>&1
got=$(tr '\r' '\n' < "$T/wc.tty" | grep -x '[0-9][0-9]*' | tail -1)
[ "$got" = "$WORDS" ] && pass shuffle_job_result || fail shuffle_job_result "got '$got' want $WORDS: $(tail -c 300 "$T/wc.tty")"
grep -q "job 1 done: 20 tasks" "$T/wc.tty" && pass cli_counts_every_stage ||
  fail cli_counts_every_stage "$(tr '\r' '\n' < "$T/wc.tty" | grep 'job 1' | tail -2)"
APP=$(jget "$H/api/v1/applications" 'd[0]["id"]')
grep -q "job succeeded app=$APP job=1 stages=2 tasks=20 " "$DLOG" && pass log_counts_every_stage ||
  fail log_counts_every_stage "$(grep "job succeeded app=$APP" "$DLOG")"
line=$("$KILN" jobs | grep "^$APP ")
case "$line" in
  *" 20/20 "*"16/16 4/4"*) pass kiln_jobs_counts_every_stage ;;
  *) fail kiln_jobs_counts_every_stage "$line" ;;
esac
J=$H/api/v1/applications/$APP/jobs/1
[ "$(jget "$H/api/v1/applications/$APP" 'd["state"]')" = succeeded ] && pass api_app_succeeded ||
  fail api_app_succeeded "$(curl -s "$H/api/v1/applications/$APP")"
[ "$(jget "$J" '(d["tasks"], d["tasks_done"], [s["tasks"] for s in d["stages"]], [s["stage_id"] for s in d["stages"]])')" = \
  "(20, 20, [16, 4], [1, 2])" ] && pass api_job_stages || fail api_job_stages "$(curl -s "$J" | head -c 800)"
[ "$(jget "$J" 'd["stages"][0]["records_in"]')" = "$LINES" ] && pass api_map_records_match_input ||
  fail api_map_records_match_input "records_in $(jget "$J" 'd["stages"][0]["records_in"]') lines $LINES"
[ "$(jget "$J" 'd["stages"][1]["records_out"]')" = "$WORDS" ] && pass api_reduce_records_match_output ||
  fail api_reduce_records_match_output "$(jget "$J" 'd["stages"][1]')"
[ "$(jget "$J" 'd["stages"][0]["shuffle_write_bytes"] == d["stages"][1]["shuffle_read_bytes"] > 0')" = True ] &&
  pass api_shuffle_bytes_agree || fail api_shuffle_bytes_agree "$(jget "$J" 'd["stages"]')"
S=$H/api/v1/applications/$APP/stages/1
[ "$(jget "$S" 'len(d["task_list"]), all(t["state"] == "succeeded" and t["worker"] and t["duration_ms"] is not None for t in d["task_list"]), sum(t["records_in"] for t in d["task_list"])')" = \
  "(16, True, $LINES)" ] && pass api_stage_tasks || fail api_stage_tasks "$(curl -s "$S" | head -c 800)"

prom "$H" "$T/d1.prom" && prom "$W1" "$T/w1-1.prom" && prom "$W2" "$T/w2-1.prom" || fail metrics_parse_after_job "unparsable"
check metrics_tasks_succeeded test "$(delta "$T/d0.prom" "$T/d1.prom" 'kiln_tasks_total{outcome=succeeded}')" = 20
check metrics_jobs_succeeded test "$(delta "$T/d0.prom" "$T/d1.prom" 'kiln_jobs_total{outcome=succeeded}')" = 1
check metrics_stages_succeeded test "$(delta "$T/d0.prom" "$T/d1.prom" 'kiln_stages_total{outcome=succeeded}')" = 2
check metrics_apps_succeeded test "$(delta "$T/d0.prom" "$T/d1.prom" 'kiln_applications_total{outcome=succeeded}')" = 1
check metrics_duration_histogram test "$(delta "$T/d0.prom" "$T/d1.prom" 'kiln_task_duration_seconds_count{}')" = 20
check metrics_histogram_inf_is_count test "$(metric "$T/d1.prom" 'kiln_task_duration_seconds_bucket{le=+Inf}')" = \
  "$(metric "$T/d1.prom" 'kiln_task_duration_seconds_count{}')"
rin=$(jget "$J" 'sum(s["records_in"] for s in d["stages"])')
check metrics_records_read test "$(delta "$T/d0.prom" "$T/d1.prom" 'kiln_records_read_total{}')" = "$rin"
sw=$(jget "$J" 'd["stages"][0]["shuffle_write_bytes"]')
check metrics_shuffle_write test "$(delta "$T/d0.prom" "$T/d1.prom" 'kiln_shuffle_write_bytes_total{}')" = "$sw"
check metrics_shuffle_read test "$(delta "$T/d0.prom" "$T/d1.prom" 'kiln_shuffle_read_bytes_total{}')" = "$sw"
check metrics_memory test "$(metric "$T/d1.prom" 'process_resident_memory_bytes{}')" -gt 0
check metrics_workers test "$(metric "$T/d1.prom" 'kiln_workers{}')" = 2
check metrics_connections test "$(metric "$T/d1.prom" 'kiln_connections_total{}')" -ge 3
# the workers agree with the driver
wsum() { echo $(($(delta "$T/w1-0.prom" "$T/w1-1.prom" "$1") + $(delta "$T/w2-0.prom" "$T/w2-1.prom" "$1"))); }
check worker_metrics_tasks test "$(wsum 'kiln_worker_tasks_total{outcome=succeeded}')" = 20
check worker_metrics_records test "$(wsum 'kiln_worker_records_read_total{}')" = "$rin"
check worker_metrics_shuffle_write test "$(wsum 'kiln_worker_shuffle_write_bytes_total{}')" = "$sw"
check worker_metrics_duration test "$(wsum 'kiln_worker_task_duration_seconds_count{}')" = 20
check worker_metrics_slots test "$(metric "$T/w1-1.prom" 'kiln_worker_slots{}')" = 2
check worker_metrics_memory test "$(metric "$T/w1-1.prom" 'kiln_worker_memory_bytes{}')" -gt 0
check worker_metrics_executors test "$(metric "$T/w1-1.prom" 'kiln_worker_executors_alive{}')" != missing
# stage numbers count within an application: a second one starts again at 1
"$KILN" submit "$UI" wc "$T/words.txt" 4 2 > /dev/null 2>&1
APP2=$(jget "$H/api/v1/applications" 'd[0]["id"]')
[ "$APP2" != "$APP" ] && [ "$(jget "$H/api/v1/applications/$APP2/jobs/1" '[s["stage_id"] for s in d["stages"]]')" = "[1, 2]" ] &&
  pass stage_numbers_per_application || fail stage_numbers_per_application "$(grep "stage submitted app=$APP2" "$DLOG")"

# ---- pages: content, escaping, 404 ------------------------------------------------------
curl -s "$H/" > "$T/index.html"
grep -q "href=\"/app/$APP\"" "$T/index.html" && grep -q 'class="succeeded">succeeded<' "$T/index.html" &&
  pass index_lists_outcome || fail index_lists_outcome "$(head -c 1500 "$T/index.html")"
curl -s "$H/app/$APP/job/1" > "$T/job.html"
grep -q '<svg class="dag"' "$T/job.html" && grep -q "href=\"/app/$APP/stage/1\"" "$T/job.html" &&
  pass job_page_graph || fail job_page_graph "$(head -c 1500 "$T/job.html")"
curl -s "$H/app/$APP/stage/2" > "$T/stage.html"
[ "$(grep -c 'class="succeeded">succeeded</td>' "$T/stage.html")" = 4 ] && pass stage_page_tasks ||
  fail stage_page_tasks "$(head -c 1500 "$T/stage.html")"
curl -s "$H/workers" > "$T/workers.html"
grep -q '<table class="workers">' "$T/workers.html" && [ "$(grep -c '<tr><td class=n>' "$T/workers.html")" = 2 ] &&
  pass workers_page || fail workers_page "$(head -c 1500 "$T/workers.html")"
[ "$(jget "$H/api/v1/workers" 'sorted((w["slots"], w["running"] <= w["slots"], w["memory_bytes"] > 0 or w["heartbeat_age_ms"] < 1000) for w in d)')" = \
  "[(2, True, True), (2, True, True)]" ] && pass api_workers || fail api_workers "$(curl -s "$H/api/v1/workers")"
check status_json_kept test "$(jget "$H/status" "len(d[\"workers\"]) > 0 and len(d[\"applications\"]) > 0")" = True
nf=""
for p in /nope /app/nope "/app/$APP/job/99" "/app/$APP/stage/99" "/app/$APP/job/x" /api/v1/nope /api/v1/applications/nope \
  "/api/v1/applications/$APP/jobs/9" "/api/v1/applications/$APP/stages/0" /metrics/x /workers/x "/app/$APP/x/y/z/w/v/u/t/s"; do
  [ "$(code "$H$p")" = 404 ] || nf="$nf $p=$(code "$H$p")"
done
for p in /nope /logs /logs/nope/ "/logs/$APP/worker.log" "/logs/$APP/executor-1.logx" /logs/..%2F..%2Fetc/passwd; do
  [ "$(code "$W1$p")" = 404 ] || nf="$nf w1:$p=$(code "$W1$p")"
done
[ "$(code --path-as-is "$W1/logs/../../../etc/passwd")" = 404 ] || nf="$nf w1:dotdot"
[ -z "$nf" ] && pass unknown_paths_404 || fail unknown_paths_404 "$nf"
check post_405 test "$(code -X POST "$H/")" = 405

# executor logs: linked from the application's page, served by the workers, path-validated
curl -s "$H/app/$APP" > "$T/app.html"
links=$(grep -o 'class="logs" href="[^"]*"' "$T/app.html" | sed 's/.*href="//; s/"$//')
nlogs=0
for l in $links; do
  for f in $(curl -sf "$l" | grep -o 'href="executor-[0-9]*\.log"' | sed 's/href="//; s/"$//'); do
    [ "$(code "$l$f")" = 200 ] && nlogs=$((nlogs + 1))
  done
done
[ "$(echo "$links" | wc -w)" = 2 ] && [ "$nlogs" -ge 2 ] && pass executor_logs_linked || fail executor_logs_linked "links=$links logs=$nlogs"
wdir=$(ls -d "$T"/w1/app-* | head -1)
ln -s /etc/passwd "$wdir/executor-999.log"
check log_symlink_refused test "$(code "$W1/logs/$(basename "$wdir")/executor-999.log")" = 404
check worker_status_page grep -q "Executors" <(curl -s "$W1/")
# a worker's pages wear the driver's style and lead back to the driver's UI
curl -s "$W1/logs/$APP/" > "$T/wlogs.html"
grep -q "href=\"http://127.0.0.1:${DRIVER_HTTP##*:}/\">&larr; Driver</a>" "$T/wlogs.html" && grep -q 'progress{width:8em}' "$T/wlogs.html" &&
  pass worker_pages_styled_link_to_driver || fail worker_pages_styled_link_to_driver "$(head -c 600 "$T/wlogs.html")"

# ---- a failing job: the application failed, the stage shows why ----------------------------
"$KILN" submit "$UI" fail "$T/boom.txt" > "$T/fail.out" 2>&1 && fail failing_job_fails "it succeeded" || pass failing_job_fails
APPF=$(jget "$H/api/v1/applications" 'd[0]["id"]')
[ "$(jget "$H/api/v1/applications/$APPF" 'd["state"]')" = failed ] && pass api_app_failed ||
  fail api_app_failed "$(curl -s "$H/api/v1/applications/$APPF")"
jget "$H/api/v1/applications/$APPF/jobs/1" 'd["error"]' | grep -q "a line says boom" && pass api_job_error || fail api_job_error "$(curl -s "$H/api/v1/applications/$APPF/jobs/1")"
sid=$(jget "$H/api/v1/applications/$APPF/jobs/1" '[s["stage_id"] for s in d["stages"] if s["state"] == "failed"][0]')
curl -s "$H/app/$APPF/stage/$sid" > "$T/failstage.html"
grep -q 'class="failed">failed</td>' "$T/failstage.html" && grep -q 'ui_boom: a line says boom' "$T/failstage.html" &&
  pass stage_page_failure_reason || fail stage_page_failure_reason "$(head -c 2000 "$T/failstage.html")"
browser browser_failed_app "$H/app/$APPF" 'id="app-state">failed<' 'a line says boom'
browser browser_failed_stage "$H/app/$APPF/stage/$sid" '<table class="tasks">' 'ui_boom: a line says boom'
prom "$H" "$T/d2.prom"
check metrics_jobs_failed test "$(delta "$T/d1.prom" "$T/d2.prom" 'kiln_jobs_total{outcome=failed}')" = 1
check metrics_tasks_failed test "$(delta "$T/d1.prom" "$T/d2.prom" 'kiln_tasks_total{outcome=failed}')" -ge 1
check metrics_apps_failed test "$(delta "$T/d1.prom" "$T/d2.prom" 'kiln_applications_total{outcome=failed}')" = 1

# ---- a job seen while it runs: counts, slots, refresh, the browser ------------------------------
"$KILN" submit "$UI" gated "$T/gated.txt" 16 4 > "$T/gated.out" 2>&1 &
GATED=$!
inflight() { [ "$(jget "$H/api/v1/workers" 'sum(w["running"] + w["queued"] for w in d)')" = 8 ]; }
until_true inflight || fail gated_job_started "$(curl -s "$H/api/v1/workers")"
APPG=$(jget "$H/api/v1/applications" 'd[0]["id"]')
line=$("$KILN" jobs | grep "^$APPG ")
case "$line" in
  *" running "*" 0/20 "*"0/16 0/4"*) pass kiln_jobs_while_map_stage_runs ;;
  *) fail kiln_jobs_while_map_stage_runs "$line" ;;
esac
[ "$(jget "$H/api/v1/workers" '[(w["running"], w["queued"]) for w in d]')" = "[(2, 2), (2, 2)]" ] &&
  pass workers_run_at_most_their_slots || fail workers_run_at_most_their_slots "$(curl -s "$H/api/v1/workers")"
"$KILN" workers | tail -n +2 | awk '$5 > $4 { bad = 1 } END { exit bad }' && pass kiln_workers_running_within_slots ||
  fail kiln_workers_running_within_slots "$("$KILN" workers)"
grep -q 'http-equiv="refresh"' <(curl -s "$H/app/$APPG") && pass page_refreshes_while_running || fail page_refreshes_while_running "no refresh"
browser browser_running_app "$H/app/$APPG" 'id="app-state">running<' '<td class="running">running</td>' '0/20'
browser browser_running_job "$H/app/$APPG/job/1" '<svg' 'stage 1' '0/16 tasks' '0/4 tasks'
browser browser_running_stage "$H/app/$APPG/stage/1" '<table class="tasks">' '<td class="running">running</td>'
touch "$T/gated.txt.go"
wait "$GATED"
[ "$(cat "$T/gated.out")" = "$WORDS" ] && pass gated_job_result || fail gated_job_result "$(cat "$T/gated.out")"
! grep -q 'http-equiv="refresh"' <(curl -s "$H/app/$APPG") && pass page_stops_refreshing || fail page_stops_refreshing "still refreshes"
browser browser_finished_app "$H/app/$APPG" 'id="app-state">succeeded<' '20/20' '16/16 4/4'
browser browser_finished_stage "$H/app/$APPG/stage/2" '<table class="tasks">' '<td class="succeeded">succeeded</td>' '[A-Za-z0-9.-]+:[0-9]+</td>'

# ---- a killed application -----------------------------------------------------------------
prom "$H" "$T/d3.prom"
"$KILN" submit "$UI" gated "$T/killed.txt" 16 4 > "$T/killed.out" 2>&1 &
KILLED=$!
until_true inflight || fail killed_job_started "$(curl -s "$H/api/v1/workers")"
APPK=$(jget "$H/api/v1/applications" 'd[0]["id"]')
"$KILN" kill "$APPK" > /dev/null 2>&1 || fail kill_app "kiln kill failed"
wait "$KILLED" && fail killed_client_fails "exit 0" || pass killed_client_fails
[ "$(jget "$H/api/v1/applications/$APPK" 'd["state"]')" = killed ] && pass api_app_killed ||
  fail api_app_killed "$(curl -s "$H/api/v1/applications/$APPK")"
grep -q 'class="killed">killed<' <(curl -s "$H/") && pass index_shows_killed || fail index_shows_killed "$(curl -s "$H/" | head -c 1500)"
browser browser_killed_app "$H/" '<td class="killed">killed</td>' '<td class="failed">failed</td>' '<td class="succeeded">succeeded</td>'
# without the login the browser is shown the refusal and the way in, not the page
if [ $CHROME = 1 ]; then
  TOKEN='' dom "$H/app/$APPK" > "$T/anon.dom"
  grep -q "needs the cluster's credentials" "$T/anon.dom" && ! grep -q "$APPK" "$T/anon.dom" &&
    pass browser_without_login_refused || fail browser_without_login_refused "$(head -c 600 "$T/anon.dom")"
fi
prom "$H" "$T/d4.prom"
check metrics_apps_killed test "$(delta "$T/d3.prom" "$T/d4.prom" 'kiln_applications_total{outcome=killed}')" = 1
check metrics_tasks_killed test "$(delta "$T/d3.prom" "$T/d4.prom" 'kiln_tasks_total{outcome=killed}')" -ge 1
check metrics_jobs_running_zero test "$(metric "$T/d4.prom" 'kiln_jobs_running{}')" = 0
touch "$T/killed.txt.go"

# ---- a name made of markup stays text -----------------------------------------------------------
XSS='<img src=x onerror=alert(1)>'
cp "$UI" "$T/$XSS.so"
got=$("$KILN" submit "$T/$XSS.so" wc "$T/words.txt" 2 2 2>&1)
[ "$got" = "$WORDS" ] && pass markup_named_app_runs || fail markup_named_app_runs "$got"
APPX=$(jget "$H/api/v1/applications" 'd[0]["id"]')
for p in / "/app/$APPX"; do
  curl -s "$H$p" > "$T/x.html"
  grep -qF '&lt;img src=x onerror=alert(1)&gt;.so' "$T/x.html" && ! grep -qF '<img' "$T/x.html" && pass "escaped_name_$p" ||
    fail "escaped_name_$p" "$(grep -i img "$T/x.html" | head -c 400)"
done
[ "$(jget "$H/api/v1/applications/$APPX" 'd["name"]')" = "$XSS.so" ] && pass api_name_as_is || fail api_name_as_is "$(curl -s "$H/api/v1/applications/$APPX")"
if [ $CHROME = 1 ]; then
  dom "$H/app/$APPX" > "$T/xss.dom"
  grep -qF '&lt;img src=x onerror=alert(1)&gt;.so' "$T/xss.dom" && ! grep -qi '<img' "$T/xss.dom" && pass browser_name_is_text ||
    fail browser_name_is_text "$(grep -i img "$T/xss.dom" | head -c 400)"
fi

# a text file read by a Python stage (a map_partitions in the engine) counts its lines as records in
printf 'import sys, kiln\nprint(kiln.Context().textFile(sys.argv[1], 4).map(len).count())\n' > "$T/lines.py"
python_env
got=$("${pyenv[@]}" timeout 300 "$B/kiln" submit --master "$MASTER" "$T/lines.py" "$T/words.txt" 2>&1)
APPL=$(grep 'application registered' "$T/driver/driver.log" | tail -1 | sed 's/.*app=\([^ ]*\).*/\1/')
[ "$got" = "$LINES" ] && [ "$(jget "$H/api/v1/applications/$APPL/jobs/1" 'sum(s["records_in"] for s in d["stages"])')" = "$LINES" ] &&
  pass python_text_source_records_in || fail python_text_source_records_in "$got $(curl -s "$H/api/v1/applications/$APPL/jobs/1" | head -c 600)"
summary
