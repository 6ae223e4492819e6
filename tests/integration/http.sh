#!/usr/bin/env bash
# http.sh - the HTTP status ports can neither stall a daemon nor show
# anything without the cluster's credentials. A real driver under
# `prlimit --nofile=256` and a worker on loopback:
#   - 300 idle HTTP connections: most are refused at once (503), the
#     driver's CPU stays near idle and its log small, `kiln status`
#     answers and a worker registers; with descriptors nearly gone (a
#     driver under --nofile=20 and floods on both ports) accept() backs
#     off instead of spinning;
#   - a 32 MiB header line is refused (431) and a 300 MB POST body (405,
#     before any of the body) with the daemon's CPU and memory bounded;
#   - anonymous and wrong-token requests are refused (401) on every page,
#     the JSON API, log pages and /metrics of both daemons; the token of
#     `kiln token`, and the login URL of `kiln ui` (a cookie, HttpOnly and
#     SameSite=Strict, then a redirect without the token) work, and the
#     driver's cookie opens the worker's pages; http.public and
#     http.metrics_public open them on purpose.
# The bounds are on resources (CPU ticks from /proc/PID/stat, RSS, log
# bytes), generous so that load cannot make them flake. Prints
# "N passed, M failed"; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-http-XXXXXX")
trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
PY=/usr/bin/python3
FLOOD="$PY tests/tools/http-flood.py"
# ticks PID: CPU time (user + system) the process used, in clock ticks
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# rss_kb PID
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
TPS=$(getconf CLK_TCK)
# code [CURL ARGS...]: the HTTP status of a request without the test's token
code() { curl -q -s -o /dev/null -w '%{http_code}' "$@"; }

# ---- descriptor exhaustion ------------------------------------------------------------
DRIVER_WRAP="prlimit --nofile=256:256" start_driver "$T/driver"
DPID=$DRIVER_PID
H=127.0.0.1:${DRIVER_HTTP##*:}
DLOG=$T/driver/driver.log
log0=$(stat -c %s "$DLOG")
t0=$(ticks "$DPID")
timeout 60 $FLOOD idle 127.0.0.1 "${H##*:}" 300 4 > "$T/idle.out" 2>&1 &
FPID=$!
sleep 1
# the RPC port still takes a client and a worker while HTTP is full
timeout 20 "$B/kiln" status > "$T/status.out" 2>&1 && grep -q '^driver ' "$T/status.out" &&
  pass status_answers_during_http_flood || fail status_answers_during_http_flood "$(cat "$T/status.out")"
start_worker "$T/w1" 1
wait_workers 1 && pass worker_registers_during_http_flood || fail worker_registers_during_http_flood "$(tail -3 "$T/w1/worker.log")"
wait "$FPID"
t1=$(ticks "$DPID")
log1=$(stat -c %s "$DLOG")
read -r refused opened < <(sed 's/refused=\([0-9]*\) open=\([0-9]*\)/\1 \2/' "$T/idle.out")
[ "${refused:-0}" -ge 200 ] && [ "${opened:-0}" -ge 1 ] && pass http_connections_capped ||
  fail http_connections_capped "$(cat "$T/idle.out")"
log "figures: 300 idle connections: $(cat "$T/idle.out"), driver CPU $((t1 - t0)) ticks of $TPS/s, log +$((log1 - log0)) bytes"
# a spinning accept loop burns a core: over ~5 s that is ~5 s of CPU
[ $((t1 - t0)) -lt $((TPS * 3 / 2)) ] && pass driver_cpu_near_idle_under_flood ||
  fail driver_cpu_near_idle_under_flood "$((t1 - t0)) ticks"
[ $((log1 - log0)) -lt 20000 ] && pass driver_log_bounded_under_flood ||
  fail driver_log_bounded_under_flood "$((log1 - log0)) bytes: $(tail -c 600 "$DLOG")"
grep -q 'http: too many connections' "$DLOG" && pass refusals_logged || fail refusals_logged "$(tail -5 "$DLOG")"
W1=127.0.0.1:$(port "$T/w1" http)

# ---- heads and bodies ---------------------------------------------------------------------
t0=$(ticks "$DPID")
m0=$(rss_kb "$DPID")
timeout 120 $FLOOD header 127.0.0.1 "${H##*:}" 32 > "$T/header.out" 2>&1
t1=$(ticks "$DPID")
log "figures: 32 MiB header: $(cat "$T/header.out"), driver CPU $((t1 - t0)) ticks, RSS $m0 -> $(rss_kb "$DPID") kB"
grep -q '^HTTP/1.1 431' "$T/header.out" && pass long_header_refused || fail long_header_refused "$(cat "$T/header.out")"
[ $((t1 - t0)) -lt "$TPS" ] && pass long_header_cpu_bounded || fail long_header_cpu_bounded "$((t1 - t0)) ticks"
[ $(($(rss_kb "$DPID") - m0)) -lt 49152 ] && pass long_header_memory_bounded || fail long_header_memory_bounded "$m0 -> $(rss_kb "$DPID") kB"
WPID=${WORKER_PIDS##* }
t0=$(ticks "$WPID")
m0=$(rss_kb "$WPID")
timeout 120 $FLOOD body 127.0.0.1 "${W1##*:}" 300 / > "$T/body.out" 2>&1
t1=$(ticks "$WPID")
log "figures: 300 MB body: $(cat "$T/body.out"), worker CPU $((t1 - t0)) ticks, RSS $m0 -> $(rss_kb "$WPID") kB"
grep -q '^HTTP/1.1 405' "$T/body.out" && pass big_body_refused_at_once || fail big_body_refused_at_once "$(cat "$T/body.out")"
[ $((t1 - t0)) -lt "$TPS" ] && pass big_body_cpu_bounded || fail big_body_cpu_bounded "$((t1 - t0)) ticks"
[ $(($(rss_kb "$WPID") - m0)) -lt 49152 ] && pass big_body_memory_bounded || fail big_body_memory_bounded "$m0 -> $(rss_kb "$WPID") kB"
timeout 120 $FLOOD body 127.0.0.1 "${H##*:}" 300 /metrics > "$T/body2.out" 2>&1
grep -q '^HTTP/1.1 405' "$T/body2.out" && pass driver_body_refused || fail driver_body_refused "$(cat "$T/body2.out")"
# a GET that announces a body
[ "$(curl -s -o /dev/null -w '%{http_code}' -X GET --data-binary 'x=1' "http://$H/")" = 413 ] &&
  pass get_with_body_refused || fail get_with_body_refused "not 413"
# a request line that never ends
$PY -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"GET /" + b"x" * 20000)
print(s.recv(100).split(b"\r\n")[0].decode())' "${H##*:}" > "$T/line.out" 2>&1
grep -q '^HTTP/1.1 431' "$T/line.out" && pass long_request_line_refused || fail long_request_line_refused "$(cat "$T/line.out")"
# a slow client that never finishes its head is closed after http.timeout (10 s)
$PY -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"GET / HTTP/1.1\r\n")
t = time.monotonic()
print("closed" if s.recv(100) == b"" else "answered")' "${H##*:}" > "$T/slow.out" 2>&1
grep -q '^closed' "$T/slow.out" && pass slow_head_closed || fail slow_head_closed "$(cat "$T/slow.out")"
stop_all

# ---- accept() out of descriptors backs off ------------------------------------------------
DRIVER_WRAP="prlimit --nofile=20:20" start_driver "$T/driver2"
DPID=$DRIVER_PID
DLOG=$T/driver2/driver.log
t0=$(ticks "$DPID")
R=${MASTER##*:}
timeout 60 $FLOOD idle 127.0.0.1 "${DRIVER_HTTP##*:}" 100 3 > /dev/null 2>&1 &
F1=$!
timeout 60 $FLOOD idle 127.0.0.1 "$R" 100 3 > /dev/null 2>&1 &
F2=$!
wait "$F1" "$F2"
t1=$(ticks "$DPID")
log "figures: descriptors exhausted (--nofile=20): driver CPU $((t1 - t0)) ticks, log $(stat -c %s "$DLOG") bytes"
[ $((t1 - t0)) -lt $((TPS * 3 / 2)) ] && pass emfile_no_spin || fail emfile_no_spin "$((t1 - t0)) ticks"
[ "$(stat -c %s "$DLOG")" -lt 20000 ] && pass emfile_log_bounded || fail emfile_log_bounded "$(stat -c %s "$DLOG") bytes"
n=$(grep -c 'cannot accept connections' "$DLOG")
[ "$n" -ge 1 ] && [ "$n" -le 4 ] && pass emfile_logged_once_per_interval ||
  fail emfile_logged_once_per_interval "$n lines: $(grep 'cannot accept' "$DLOG" | head -3)"
# once the flood is over (what it left in the listen backlogs drains first)
for i in $(seq 1 100); do timeout 20 "$B/kiln" status > "$T/status2.out" 2>&1 && break; sleep 0.2; done
grep -q '^driver ' "$T/status2.out" && pass status_after_emfile || fail status_after_emfile "$(cat "$T/status2.out")"
stop_all

# ---- credentials --------------------------------------------------------------------------
start_driver "$T/driver3"
start_worker "$T/w3" 1
wait_workers 1 || fail cluster "no worker"
H=127.0.0.1:${DRIVER_HTTP##*:}
W=127.0.0.1:$(port "$T/w3" http)
mkdir -p "$T/w3/app-x-0001"
echo "hello from an executor" > "$T/w3/app-x-0001/executor-0.log"
DPATHS="/ /workers /metrics /status /json /api/v1/applications /api/v1/workers /app/x /nonexistent"
WPATHS="/ /metrics /status /api/v1/worker /logs/app-x-0001/ /logs/app-x-0001/executor-0.log /nonexistent"
bad=""
for p in $DPATHS; do
  for h in "" "Authorization: Bearer 0000000000000000000000000000000000000000000000000000000000000000" \
    "Cookie: kiln_token=wrong" "Authorization: Basic a2lsbjp4"; do
    c=$(code ${h:+-H "$h"} "http://$H$p")
    [ "$c" = 401 ] || bad="$bad driver$p[$h]=$c"
  done
done
for p in $WPATHS; do
  for h in "" "Authorization: Bearer 0000000000000000000000000000000000000000000000000000000000000000"; do
    c=$(code ${h:+-H "$h"} "http://$W$p")
    [ "$c" = 401 ] || bad="$bad worker$p[$h]=$c"
  done
done
[ -z "$bad" ] && pass anonymous_and_wrong_token_refused_everywhere || fail anonymous_and_wrong_token_refused_everywhere "$bad"
curl -q -s "http://$H/api/v1/applications" | grep -q "kiln token" && pass refusal_names_kiln_token ||
  fail refusal_names_kiln_token "$(curl -q -s "http://$H/api/v1/applications")"
[ "$(code "http://$H/health")" = 200 ] && pass health_is_public || fail health_is_public "not 200"
# what the refused requests would have shown stays unsent
! curl -q -s "http://$W/logs/app-x-0001/executor-0.log" | grep -q hello && pass log_not_leaked || fail log_not_leaked "leaked"
good=""
for p in / /workers /metrics /status /api/v1/applications; do
  c=$(code -H "Authorization: Bearer $TOKEN" "http://$H$p")
  [ "$c" = 200 ] || good="$good driver$p=$c"
done
for p in / /metrics /api/v1/worker /logs/app-x-0001/ /logs/app-x-0001/executor-0.log; do
  c=$(code -H "Authorization: Bearer $TOKEN" "http://$W$p")
  [ "$c" = 200 ] || good="$good worker$p=$c"
done
[ -z "$good" ] && pass bearer_token_works || fail bearer_token_works "$good"
# the login URL kiln ui prints
URL=$("$B/kiln" ui | head -1)
[ "$URL" = "http://$H/?token=$TOKEN" ] && pass kiln_ui_prints_login_url || fail kiln_ui_prints_login_url "$URL"
curl -q -s -D "$T/login.h" -o /dev/null -c "$T/jar" "http://$H/workers?token=$TOKEN"
grep -q '^HTTP/1.1 303' "$T/login.h" && grep -qi '^Location: /workers' "$T/login.h" &&
  grep -qi "^Set-Cookie: kiln_token=$TOKEN; Path=/; HttpOnly; SameSite=Strict" "$T/login.h" &&
  ! grep -i '^Location' "$T/login.h" | grep -q token && pass login_sets_cookie_and_drops_token || fail login_sets_cookie_and_drops_token "$(cat "$T/login.h")"
[ "$(code -b "$T/jar" "http://$H/api/v1/applications")" = 200 ] && pass cookie_opens_driver || fail cookie_opens_driver "refused"
# one host, one cookie: the driver's login opens the worker's log pages
[ "$(code -b "$T/jar" "http://$W/logs/app-x-0001/executor-0.log")" = 200 ] && pass cookie_opens_worker_logs ||
  fail cookie_opens_worker_logs "refused"
[ "$(code "http://$H/?token=$(printf '%064d' 7)")" = 401 ] && pass wrong_login_token_refused || fail wrong_login_token_refused "not 401"
stop_all

# http.public and http.metrics_public open what they say, nothing more
printf 'http.metrics_public = true\n' > "$T/metrics.conf"
start_driver "$T/driver4" --config "$T/metrics.conf"
H=127.0.0.1:${DRIVER_HTTP##*:}
[ "$(code "http://$H/metrics")" = 200 ] && [ "$(code "http://$H/api/v1/applications")" = 401 ] &&
  pass metrics_public_opens_only_metrics || fail metrics_public_opens_only_metrics "$(code "http://$H/metrics")"
stop_all
printf 'http.public = true\n' > "$T/public.conf"
start_driver "$T/driver5" --config "$T/public.conf"
H=127.0.0.1:${DRIVER_HTTP##*:}
[ "$(code "http://$H/api/v1/applications")" = 200 ] && [ "$(code "http://$H/")" = 200 ] &&
  pass http_public_opens_everything || fail http_public_opens_everything "$(code "http://$H/")"
stop_all
summary
