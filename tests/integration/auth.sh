#!/usr/bin/env bash
# auth.sh - authentication and hostile input against real daemons: a driver
# and two workers sharing a secret file run a shuffle job right (so the
# workers' data ports authenticate too); a client or worker with a wrong or
# missing secret is refused and the driver logs its address; replayed
# proofs, messages before authentication or out of order, out-of-range
# fields, names with "../", over-limit and garbage frames, silent
# connections and too many connections each close one connection, and the
# daemons still run a job after each. Prints "N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-auth-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
EX=$B/examples
PROBE=$B/tests/tools/kiln-probe

# ---- data and secrets ----------------------------------------------------------
mawk 'BEGIN { srand(11); for (i = 0; i < 20000; i++) { n = 1 + int(rand() * 8); s = "";
  for (j = 0; j < n; j++) s = s (j ? " " : "") "w" int(rand() * rand() * 3000); print s } }' > "$T/words.txt"
mawk '{ for (i = 1; i <= NF; i++) c[$i]++ } END { for (w in c) printf "%s\t%d\n", w, c[w] }' "$T/words.txt" |
  LC_ALL=C sort > "$T/wc.want"
(umask 077; head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/secret"; echo >> "$T/secret")
(umask 077; echo "not-the-secret" > "$T/wrong")
cp "$T/secret" "$T/open-secret"; chmod 644 "$T/open-secret"
(umask 077; : > "$T/empty-secret")

# a test config: short handshake timeout so silent connections end soon
printf 'net.handshake_timeout = 1s\n' > "$T/kiln.conf"

# wordcount NAME [KILN FLAGS...]: runs wordcount and compares with the oracle
wordcount() {
  local name=$1
  shift
  rm -rf "$T/wc.out"
  if "$KILN" submit "$@" "$EX/wordcount.so" "$T/words.txt" "$T/wc.out" 4 2>"$T/wc.err" &&
    cat "$T"/wc.out/part-* 2>/dev/null | LC_ALL=C sort | cmp -s - "$T/wc.want"; then
    pass "$name"
  else
    fail "$name" "$(head -c 400 "$T/wc.err")"
  fi
}
export KILN_SECRET_FILE=$T/secret

start_driver "$T/driver" --secret-file "$T/secret" --config "$T/kiln.conf"
start_worker "$T/w1" 2 --secret-file "$T/secret"
start_worker "$T/w2" 2 --secret-file "$T/secret"
wait_workers 2 || { fail cluster "workers did not register"; summary; exit 1; }
pass cluster_up_with_secret
grep -q 'auth=shared-secret' "$T/driver/driver.log" && pass driver_says_auth || fail driver_says_auth "not in the log"

# ---- a shuffle job, with the workers fetching from each other ----------------------
wordcount wordcount_with_secret
served=0
for w in w1 w2; do
  hp=$(awk '$1 == "http" { print $2 }' "$T/$w/ports")
  exec 3<>"/dev/tcp/127.0.0.1/$hp"
  printf 'GET /status HTTP/1.0\r\nAuthorization: Bearer %s\r\n\r\n' "$TOKEN" >&3
  n=$(grep -o '"shuffle_requests_served": *[0-9]*' <&3 | grep -o '[0-9]*$')
  exec 3<&-
  served=$((served + ${n:-0}))
done
[ "$served" -gt 0 ] && pass shuffle_between_workers_authenticated || fail shuffle_between_workers_authenticated "served=$served"

# ---- a client with a wrong secret, without one -----------------------------------------
napps() { "$KILN" jobs | tail -n +2 | wc -l; }
before=$(napps)
out=$("$KILN" submit --secret-file "$T/wrong" "$EX/linecount.so" "$T/words.txt" 2>&1)
rc=$?
case "$out" in
  *"authentication failed"*"--secret-file"*) [ $rc -ne 0 ] && pass wrong_secret_refused || fail wrong_secret_refused "rc=$rc" ;;
  *) fail wrong_secret_refused "rc=$rc $out" ;;
esac
# without a secret named, the client uses this user's default secret: not this cluster's
out=$(KILN_SECRET_FILE= "$KILN" submit "$EX/linecount.so" "$T/words.txt" 2>&1)
rc=$?
case "$out" in
  *"authentication failed"*) [ $rc -ne 0 ] && pass no_secret_refused || fail no_secret_refused "rc=$rc" ;;
  *) fail no_secret_refused "rc=$rc $out" ;;
esac
out=$(KILN_SECRET_FILE= "$KILN" status 2>&1) && fail status_without_secret "$out" || pass status_without_secret
# a peer with no secret at all (kiln's own programs always have one)
if out=$(timeout 300 "$PROBE" "$MASTER" - fake-worker 2>&1); then pass no_secret_worker_refused; else
  fail no_secret_worker_refused "$out"; fi
[ "$(napps)" = "$before" ] && pass refused_clients_ran_nothing || fail refused_clients_ran_nothing "$("$KILN" jobs)"
grep -q 'connection refused peer=127.0.0.1:[0-9]* error="the client refused us: authentication failed' "$T/driver/driver.log" &&
  pass wrong_secret_logged_with_peer || fail wrong_secret_logged_with_peer "$(grep refused "$T/driver/driver.log" | head -3)"
grep -q 'connection refused peer=127.0.0.1:[0-9]* error="authentication failed: this cluster requires' "$T/driver/driver.log" &&
  pass missing_secret_logged_with_peer || fail missing_secret_logged_with_peer "not in the log"

# ---- secret files that must be refused at start-up ------------------------------------------
out=$("$B/kiln-driver" --listen 127.0.0.1:0 --http 127.0.0.1:0 --state-dir "$T/x" --secret-file "$T/open-secret" 2>&1)
rc=$?
case "$out" in *"group or others"*) [ $rc -ne 0 ] && pass driver_refuses_open_secret || fail driver_refuses_open_secret "rc=$rc" ;;
  *) fail driver_refuses_open_secret "rc=$rc $out" ;; esac
out=$("$B/kiln-worker" --driver "$MASTER" --listen 127.0.0.1:0 --http 127.0.0.1:0 --work-dir "$T/y" \
  --secret-file "$T/open-secret" 2>&1)
rc=$?
case "$out" in *"group or others"*) [ $rc -ne 0 ] && pass worker_refuses_open_secret || fail worker_refuses_open_secret "rc=$rc" ;;
  *) fail worker_refuses_open_secret "rc=$rc $out" ;; esac
out=$("$KILN" status --secret-file "$T/open-secret" 2>&1)
case "$out" in *"group or others"*) pass cli_refuses_open_secret ;; *) fail cli_refuses_open_secret "$out" ;; esac
out=$("$B/kiln-driver" --listen 127.0.0.1:0 --http 127.0.0.1:0 --state-dir "$T/x" --secret-file "$T/empty-secret" 2>&1)
case "$out" in *empty*) pass driver_refuses_empty_secret ;; *) fail driver_refuses_empty_secret "$out" ;; esac

# ---- a worker with a wrong secret does not register ---------------------------------------------
start_worker "$T/w3" 1 --secret-file "$T/wrong"
W3=$!
wait_until 'grep -q "cannot join the driver" "$T/w3/worker.log" 2>/dev/null' 0.02 || true
grep -q 'cannot join the driver.*authentication failed' "$T/w3/worker.log" && pass bad_worker_says_why ||
  fail bad_worker_says_why "$(tail -3 "$T/w3/worker.log")"
[ "$("$KILN" workers | tail -n +2 | wc -l)" -eq 2 ] && pass bad_worker_not_registered || fail bad_worker_not_registered "$("$KILN" workers)"
kill "$W3"; wait "$W3" 2>/dev/null
start_worker "$T/w4" 1
W4=$!
wait_until 'grep -q "cannot join the driver" "$T/w4/worker.log" 2>/dev/null' 0.02 || true
grep -q 'cannot join the driver.*authentication failed' "$T/w4/worker.log" && pass worker_without_secret_refused ||
  fail worker_without_secret_refused "$(tail -3 "$T/w4/worker.log")"
kill "$W4"; wait "$W4" 2>/dev/null

# ---- hostile clients: each closes one connection, the daemon keeps serving --------------------------
probe() { # probe NAME CASE [ADDR [N]]
  local out
  if out=$(timeout 300 "$PROBE" "${3:-$MASTER}" "$T/secret" "$2" ${4:-} 2>&1); then pass "$1"; else fail "$1" "$out"; fi
}
before=$(napps)
probe replayed_handshake_refused replay
grep -q "proof does not match" "$T/driver/driver.log" && pass replay_logged || fail replay_logged "not in the log"
probe submit_before_auth_refused early-submit
probe register_from_client_refused client-register
grep -q 'unexpected register_worker from a client' "$T/driver/driver.log" && pass out_of_order_logged || fail out_of_order_logged "not in the log"
probe second_hello_refused second-hello
probe out_of_range_field_refused bad-slots
grep -q 'slots 0 out of range' "$T/driver/driver.log" && pass out_of_range_logged || fail out_of_range_logged "not in the log"
probe dotdot_name_refused bad-name
grep -q 'kill: bad app id' "$T/driver/driver.log" && pass dotdot_name_logged || fail dotdot_name_logged "not in the log"
DATA1=127.0.0.1:$(awk '$1 == "data" { print $2 }' "$T/w1/ports")
probe fetch_dotdot_refused fetch-traversal "$DATA1"
grep -q 'data connection closed peer=127.0.0.1:[0-9]* reason="fetch_request: bad app id' "$T/w1/worker.log" &&
  pass fetch_dotdot_logged || fail fetch_dotdot_logged "$(grep 'data connection' "$T/w1/worker.log" | tail -2)"
for s in wrong none; do
  f=$T/wrong
  [ $s = none ] && f=-
  if out=$("$PROBE" "$DATA1" "$f" refused-peer 2>&1); then pass "data_port_refuses_$s"; else fail "data_port_refuses_$s" "$out"; fi
done
grep -q 'data connection closed peer=127.0.0.1:[0-9]* reason="authentication failed' "$T/w1/worker.log" &&
  pass data_port_refusal_logged || fail data_port_refusal_logged "not in the log"
probe silent_connection_closed silent
grep -q 'no handshake within net.handshake_timeout' "$T/driver/driver.log" && pass silent_logged || fail silent_logged "not in the log"
rpc_port=${MASTER##*:}
printf '\xff\xff\xff\x7fgarbage' > "/dev/tcp/127.0.0.1/$rpc_port" 2>/dev/null || true
printf '\x05\x00\x00\x00\x01\x02\x03\x04\x05' > "/dev/tcp/127.0.0.1/$rpc_port" 2>/dev/null || true
printf '\xff\xff\xff\x7f' > "/dev/tcp/127.0.0.1/${DATA1##*:}" 2>/dev/null || true
kill -0 "$DRIVER_PID" && pass driver_alive_after_hostile_clients || fail driver_alive_after_hostile_clients "driver died"
# no job ran on behalf of any probe
[ "$(napps)" = "$before" ] && pass probes_ran_nothing || fail probes_ran_nothing "$("$KILN" jobs)"
wordcount job_after_hostile_clients

# ---- too many connections --------------------------------------------------------------------------
stop_all
printf 'net.max_connections = 4\n' > "$T/small.conf"
start_driver "$T/driver2" --secret-file "$T/secret" --config "$T/small.conf"
start_worker "$T/w5" 2 --secret-file "$T/secret"
wait_workers 1 || fail cluster2 "worker did not register"
probe extra_connections_closed flood "$MASTER" 12
grep -q 'too many connections, closing a new one peer=127.0.0.1:[0-9]* limit=4' "$T/driver2/driver.log" &&
  pass too_many_logged || fail too_many_logged "not in the log"
ok=0
# the probe's connections go away as the driver reads their ends
wait_until '"$KILN" status >/dev/null 2>&1' 0.1 && ok=1
[ $ok = 1 ] && pass serves_after_flood || fail serves_after_flood "no answer"
wordcount job_after_flood

summary
