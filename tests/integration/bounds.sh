#!/usr/bin/env bash
# bounds.sh - what a peer can make a daemon hold, and whom a client agrees
# to talk to (issue 9, defects 2 and 8). Against a driver and two workers
# sharing a secret: connections that never authenticate and each send most
# of a frame declared near net.max_frame are closed at its header, on the
# driver's RPC port and on a worker's data port, and the daemon's VmRSS
# stays bounded while they are open and after; authenticated connections
# may send big frames, and the driver's VmRSS returns near its start once
# they closed (not checked under ASan); a client that pipelines
# millions of requests and reads no reply is stopped before the daemon took
# them all, with its VmRSS bounded; the daemons still run a shuffle job
# after each. Then fake servers answering the hello with the wrong role:
# the CLI and a worker refuse them. RSS bounds are generous sizes, never
# timings; under the sanitizers (KILN_SAN=1) they are looser, since ASan's
# shadow memory and its quarantine of freed memory count in VmRSS. Prints
# "N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bounds-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
EX=$B/examples
PROBE=$B/tests/tools/kiln-probe
RSS_MAX_MB=200
[ "${KILN_SAN:-}" = 1 ] && RSS_MAX_MB=800

mawk 'BEGIN { srand(5); for (i = 0; i < 5000; i++) print "w" int(rand() * 700), "w" int(rand() * 90) }' > "$T/words.txt"
mawk '{ for (i = 1; i <= NF; i++) c[$i]++ } END { for (w in c) printf "%s\t%d\n", w, c[w] }' "$T/words.txt" |
  LC_ALL=C sort > "$T/wc.want"
(umask 077; head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/secret"; echo >> "$T/secret")
export KILN_SECRET_FILE=$T/secret

# shuffle_job NAME: a wordcount over both workers (their data ports serve
# each other), compared with the oracle
shuffle_job() {
  rm -rf "$T/wc.out"
  if "$KILN" submit "$EX/wordcount.so" "$T/words.txt" "$T/wc.out" 4 2>"$T/wc.err" &&
    cat "$T"/wc.out/part-* 2>/dev/null | LC_ALL=C sort | cmp -s - "$T/wc.want"; then
    pass "$1"
  else
    fail "$1" "$(head -c 400 "$T/wc.err")"
  fi
}

# rss_mb PID: the process's resident set in MiB
rss_mb() { awk '$1 == "VmRSS:" { print int($2 / 1024) }' "/proc/$1/status"; }

# rss_settles NAME PID [MAX_MB]: passes when PID's RSS is (or comes) under
# MAX_MB (default the bound) once the probe's connections are gone; the
# wait only lets the daemon see them close
rss_settles() {
  local mb max=${3:-$RSS_MAX_MB} pid=$2
  wait_until '[ "$(rss_mb "$pid")" -lt "$max" ]' 0.1 || true
  mb=$(rss_mb "$pid")
  [ "$mb" -lt "$max" ] && pass "$1" || fail "$1" "VmRSS ${mb} MB, the bound is ${max} MB"
}

# probe_rss NAME PID PROBE-ARGS...: runs the probe, which prints the daemon's
# VmRSS while its connections are open; passes when it exits 0, and
# NAME_rss when that VmRSS is under the bound
probe_rss() {
  local name=$1 pid=$2 out rc kb
  shift 2
  out=$(timeout 600 "$PROBE" "$@" 2>&1)
  rc=$?
  log "$out"
  [ $rc -eq 0 ] && pass "$name" || fail "$name" "rc=$rc $out"
  kb=$(printf '%s\n' "$out" | sed -n 's/.*VmRSS \([0-9]*\) kB.*/\1/p')
  if [ -n "$kb" ] && [ "$kb" -lt $((RSS_MAX_MB * 1024)) ]; then pass "${name}_rss"; else
    fail "${name}_rss" "VmRSS ${kb:-?} kB, the bound is ${RSS_MAX_MB} MB"; fi
}

start_driver "$T/driver" --secret-file "$T/secret"
start_worker "$T/w1" 2 --secret-file "$T/secret"
W1_PID=${WORKER_PIDS##* }
start_worker "$T/w2" 2 --secret-file "$T/secret"
wait_workers 2 || { fail cluster "workers did not register"; summary; exit 1; }
shuffle_job job_before
log "driver VmRSS $(rss_mb "$DRIVER_PID") MB, worker $(rss_mb "$W1_PID") MB before the probes"

# ---- unauthenticated connections declaring huge frames ---------------------------------
probe_rss driver_closes_big_frames_at_header "$DRIVER_PID" "$MASTER" "$T/secret" big-frames 30 "$DRIVER_PID"
grep -q 'connection closed on a protocol error peer=127.0.0.1:[0-9]* error="frame of [0-9]* bytes before authentication is over the limit of' \
  "$T/driver/driver.log" && pass driver_logs_big_frame || fail driver_logs_big_frame "$(grep 'protocol error' "$T/driver/driver.log" | tail -2)"
rss_settles driver_rss_after_big_frames "$DRIVER_PID"
shuffle_job job_after_big_frames

DATA1=127.0.0.1:$(awk '$1 == "data" { print $2 }' "$T/w1/ports")
probe_rss data_port_closes_big_frames_at_header "$W1_PID" "$DATA1" "$T/secret" big-frames 30 "$W1_PID" peer
grep -q 'data connection closed peer=127.0.0.1:[0-9]* reason="frame of [0-9]* bytes before authentication is over the limit of' \
  "$T/w1/worker.log" && pass data_port_logs_big_frame || fail data_port_logs_big_frame "$(grep 'data connection' "$T/w1/worker.log" | tail -2)"
rss_settles worker_rss_after_big_frames "$W1_PID"
shuffle_job job_after_data_port_big_frames

# ---- authenticated connections may send big frames; the memory returns after ------------
# (each held ~60 MB while open; after, the driver is back near its start.
# Not under ASan, whose quarantine keeps freed memory on purpose.)
probe_rss authenticated_big_frames_read "$DRIVER_PID" "$MASTER" "$T/secret" big-frames 2 "$DRIVER_PID" auth
[ "${KILN_SAN:-}" = 1 ] || rss_settles driver_rss_returns_after_big_frames "$DRIVER_PID" 48

# ---- a client that pipelines requests and never reads the replies ------------------------
probe_rss pipelining_client_stopped "$DRIVER_PID" "$MASTER" "$T/secret" pipeline 3000000 "$DRIVER_PID"
rss_settles driver_rss_after_pipeline "$DRIVER_PID"
"$KILN" status >/dev/null 2>&1 && pass status_after_pipeline || fail status_after_pipeline "no answer"
shuffle_job job_after_pipeline

# ---- servers that answer the hello with the wrong role -----------------------------------
# fake_server ROLE: starts a fake server answering one hello as ROLE; sets
# FAKE (its address) and FAKE_PID; its output goes to $T/fake.out
fake_server() {
  rm -f "$T/fake.out"
  "$PROBE" 127.0.0.1:0 "$T/secret" fake-server "$1" 1 > "$T/fake.out" 2>&1 &
  FAKE_PID=$!
  local i
  wait_until 'grep -q "^port " "$T/fake.out" 2>/dev/null' 0.02 || true
  FAKE=127.0.0.1:$(awk '$1 == "port" { print $2 }' "$T/fake.out")
}
fake_server worker
out=$("$KILN" status --master "$FAKE" 2>&1)
rc=$?
case "$out" in
  *"a worker, not the driver"*) [ $rc -ne 0 ] && pass cli_refuses_wrong_role || fail cli_refuses_wrong_role "rc=$rc" ;;
  *) fail cli_refuses_wrong_role "rc=$rc $out" ;;
esac
wait "$FAKE_PID" && pass cli_sent_no_auth_to_wrong_role || fail cli_sent_no_auth_to_wrong_role "$(cat "$T/fake.out")"

fake_server client
MASTER_SAVED=$MASTER
MASTER=$FAKE
start_worker "$T/w3" 1 --secret-file "$T/secret"
W3=${WORKER_PIDS##* }
MASTER=$MASTER_SAVED
wait "$FAKE_PID" && pass worker_sent_no_auth_to_wrong_role || fail worker_sent_no_auth_to_wrong_role "$(cat "$T/fake.out")"
wait_log "$T/w3/worker.log" 'cannot join the driver'
grep -q 'cannot join the driver.*a client, not the driver' "$T/w3/worker.log" && pass worker_refuses_wrong_role ||
  fail worker_refuses_wrong_role "$(tail -3 "$T/w3/worker.log")"
kill "$W3"
wait "$W3" 2>/dev/null

summary
