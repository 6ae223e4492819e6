#!/usr/bin/env bash
# plan.sh - the driver's planner against hostile lineage graphs, and the
# status page against hostile names (issue 9, defects 1 and 5), on a real
# driver and workers:
#   - count(cache(u)) of 40 self-unions of a range is refused with the real
#     numbers, and another application's job runs meanwhile and after;
#   - a job of 100,001 nodes is refused with "job refused: 100,001 nodes",
#     and the same application's next job runs (before: "lost the
#     connection to the driver");
#   - a chain of 65 maps is refused at the driver (before: failed on the
#     workers with "stage has more than 64 functions"); 64 maps run;
#   - an application whose library file name is markup, and a worker whose
#     name is markup, appear escaped on the driver's HTML page.
# No timing is asserted; every command is bounded by lib.sh's timeout.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-plan-XXXXXX")
PROBE_PID=""
trap '[ -n "$PROBE_PID" ] && kill "$PROBE_PID" 2>/dev/null; stop_all; rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
APP=$B/tests/apps/plan.so

start_driver "$T/driver"
start_worker "$T/w1" 2
start_worker "$T/w2" 2
wait_workers 2 || { fail cluster "workers did not register"; summary; exit 1; }
pass cluster_up

# ---- 40 self-unions, cached, counted: refused, the driver stays responsive ----
"$KILN" submit "$APP" union 40 > "$T/u40.out" 2> "$T/u40.err" &
U40=$!
got=$("$KILN" submit "$APP" maps 3 2>&1)
[ "$got" = "$(printf '100\nthen 100')" ] && pass other_app_runs_beside_self_unions || fail other_app_runs_beside_self_unions "$got"
wait $U40
rc=$?
if [ $rc -eq 0 ] && grep -q "^refused: .*job refused: 1,099,511,627,776 pipelines in one stage, the limit is 65,536" "$T/u40.out" &&
   grep -qx "then 100" "$T/u40.out"; then
  pass self_unions_40_refused
else
  fail self_unions_40_refused "rc=$rc $(cat "$T/u40.out" "$T/u40.err" | head -c 600)"
fi
got=$("$KILN" submit "$APP" maps 3 2>&1)
[ "$got" = "$(printf '100\nthen 100')" ] && pass other_app_runs_after_self_unions || fail other_app_runs_after_self_unions "$got"
# a few self-unions are fine: 2^5 pipelines of range(0, 10, 1), cached
got=$("$KILN" submit "$APP" union 5 2>&1)
[ "$got" = "$(printf '320\nthen 100')" ] && pass self_unions_5_counted || fail self_unions_5_counted "$got"

# ---- over the node limit: a message, and the application goes on ------------
got=$("$KILN" submit "$APP" nodes 50001 2>&1) # 50,001 ranges + 50,000 unions
rc=$?
case "$got" in
*"refused: job 1 failed: job refused: 100,001 nodes, the limit is 100,000"*"then 100") pass node_limit_refused ;;
*) fail node_limit_refused "rc=$rc $(printf '%s' "$got" | head -c 600)" ;;
esac

# ---- more than 64 narrow functions in a stage --------------------------------
got=$("$KILN" submit "$APP" maps 65 2>&1)
rc=$?
case "$got" in
*"refused: job 1 failed: job refused: 65 operations in one pipeline, the limit is 64"*"then 100") pass maps_65_refused_at_driver ;;
*) fail maps_65_refused_at_driver "rc=$rc $(printf '%s' "$got" | head -c 600)" ;;
esac
check maps_65_never_reached_a_worker bash -c "! grep -q 'more than 64 functions' '$T'/w1/*.log '$T'/w2/*.log '$T'/w*/*/*.log 2>/dev/null"
got=$("$KILN" submit "$APP" maps 64 2>&1)
[ "$got" = "$(printf '100\nthen 100')" ] && pass maps_64_run || fail maps_64_run "$got"

# ---- names made of markup on the status page ---------------------------------
XSS='<img src=x onerror=alert(1)>'
cp "$APP" "$T/$XSS.so"
got=$("$KILN" submit "$T/$XSS.so" maps 1 2>&1)
[ "$got" = "$(printf '100\nthen 100')" ] && pass markup_named_app_runs || fail markup_named_app_runs "$got"
"$B/tests/tools/kiln-probe" "$MASTER" "$XDG_CONFIG_HOME/kiln/secret" worker-named "<script>alert('w')</script>" > "$T/probe.out" 2>&1 &
PROBE_PID=$!
wait_log "$T/probe.out" registered || fail probe_registered "$(cat "$T/probe.out")"
curl -s "http://$DRIVER_HTTP/" > "$T/status.html"
if grep -qF '&lt;img src=x onerror=alert(1)&gt;.so' "$T/status.html" && ! grep -qF '<img' "$T/status.html"; then
  pass app_name_escaped
else
  fail app_name_escaped "$(grep -i 'img' "$T/status.html" | head -c 400)"
fi
if grep -qF '&lt;script&gt;alert(&#39;w&#39;)&lt;/script&gt;' "$T/status.html" && ! grep -qiF '<script' "$T/status.html"; then
  pass worker_name_escaped
else
  fail worker_name_escaped "$(grep -i 'script' "$T/status.html" | head -c 400)"
fi
# the JSON page still carries the names as they are (JSON-escaped by jansson)
curl -s "http://$DRIVER_HTTP/status" > "$T/status.json"
check json_keeps_names grep -qF "\"<script>alert('w')</script>\"" "$T/status.json"
kill "$PROBE_PID" 2>/dev/null
wait "$PROBE_PID" 2>/dev/null
PROBE_PID=""

summary
