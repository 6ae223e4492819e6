#!/usr/bin/env bash
# tamper.sh - frames after the handshake are protected (issue 9, defect 7):
# a relay (tests/tools/kiln-relay) sits between a worker and the driver,
# or between the executors of one worker and another worker's data port
# (which advertises the relay's port), and breaks one frame once in the
# middle of a shuffle job: flips one byte, or sends a frame twice. Each
# time the receiving side detects it (a frame failing its integrity
# check), closes the connection and logs it with the peer's address; the
# broken frame is never acted on; the worker reconnects, or the fetch
# fails and the lost map outputs are made again; the job still gives the
# right answer. Prints "N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-tamper-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
EX=$B/examples
RELAY=$B/tests/tools/kiln-relay

mawk 'BEGIN { srand(17); for (i = 0; i < 40000; i++) { n = 1 + int(rand() * 8); s = "";
  for (j = 0; j < n; j++) s = s (j ? " " : "") "w" int(rand() * rand() * 3000); print s } }' > "$T/words.txt"
mawk '{ for (i = 1; i <= NF; i++) c[$i]++ } END { for (w in c) printf "%s\t%d\n", w, c[w] }' "$T/words.txt" |
  LC_ALL=C sort > "$T/wc.want"
(umask 077; head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/secret"; echo >> "$T/secret")
export KILN_SECRET_FILE=$T/secret
S="--secret-file $T/secret"

# start_relay NAME TARGET DIR ACTION MSG: sets RELAY_PORT; stderr in $T/NAME.relay
start_relay() {
  "$RELAY" 127.0.0.1:0 "$2" "$3" "$4" "$5" > "$T/$1.port" 2> "$T/$1.relay" &
  PIDS="$PIDS $!"
  local portfile=$T/$1.port
  wait_until 'grep -q "^port " "$portfile" 2>/dev/null' 0.02 || true
  RELAY_PORT=$(awk '{ print $2 }' "$T/$1.port")
}

# wordcount NAME: a shuffle job of 16 map and 16 reduce tasks, against the oracle
wordcount() {
  rm -rf "$T/wc.out"
  if "$KILN" submit "$EX/wordcount.so" "$T/words.txt" "$T/wc.out" 16 2> "$T/$1.err" &&
    cat "$T"/wc.out/part-* 2>/dev/null | LC_ALL=C sort | cmp -s - "$T/wc.want"; then
    pass "$1_right_answer"
  else
    fail "$1_right_answer" "$(head -c 400 "$T/$1.err")"
  fi
}

# broken NAME: the relay broke a frame
broken() {
  grep -q '^relay: ' "$T/$1.relay" && pass "$1_frame_broken" || fail "$1_frame_broken" "the relay saw no such frame"
}

INTEGRITY='fails its integrity check'

# rejoined DIR: the worker registered a second time (bounded wait)
rejoined() {
  local dir=$1
  wait_until '[ "$(grep -c "registered with driver" "$dir/worker.log")" -ge 2 ]' 0.02
}

# ---- worker <-> driver -----------------------------------------------------------------
# link NAME DIR ACTION MSG: worker w1 joins through the relay, w2 directly
link() {
  local name=$1
  start_driver "$T/$name/driver" $S
  start_relay "$name" "$MASTER" "$2" "$3" "$4"
  start_worker "$T/$name/w1" 2 $S --driver "127.0.0.1:$RELAY_PORT"
  start_worker "$T/$name/w2" 2 $S
  wait_workers 2 || fail "$name" "workers did not register"
  wordcount "$name"
  broken "$name"
}

link flip_task_done up flip task_done
# the driver found it and closed the worker's connection, naming the peer (the relay's side)
grep -q "connection closed on a protocol error peer=127.0.0.1:[0-9]* error=\"frame [0-9]* $INTEGRITY" \
  "$T/flip_task_done/driver/driver.log" && pass flip_task_done_detected_by_driver ||
  fail flip_task_done_detected_by_driver "$(grep -i 'protocol\|lost' "$T/flip_task_done/driver/driver.log" | head -3)"
grep -q 'worker lost' "$T/flip_task_done/driver/driver.log" && pass flip_task_done_worker_dropped ||
  fail flip_task_done_worker_dropped "$(grep -i lost "$T/flip_task_done/driver/driver.log" | head -3)"
rejoined "$T/flip_task_done/w1" && pass flip_task_done_worker_rejoined ||
  fail flip_task_done_worker_rejoined "$(grep -c 'registered with driver' "$T/flip_task_done/w1/worker.log") registrations"
stop_all

link replay_task_launch down replay task_launch
# the worker found it: it drops the link (and the executors the driver gave it) and joins again
grep -q "lost the driver peer=127.0.0.1:$RELAY_PORT: frame [0-9]* $INTEGRITY" "$T/replay_task_launch/w1/worker.log" &&
  pass replay_task_launch_detected_by_worker ||
  fail replay_task_launch_detected_by_worker "$(grep 'lost the driver' "$T/replay_task_launch/w1/worker.log" | head -3)"
rejoined "$T/replay_task_launch/w1" && pass replay_task_launch_worker_rejoined ||
  fail replay_task_launch_worker_rejoined "$(grep -c 'registered with driver' "$T/replay_task_launch/w1/worker.log") registrations"
stop_all

# ---- an executor <-> another worker's data port ----------------------------------------------
# data NAME DIR ACTION MSG: w2 advertises the relay as its data port, so
# w1's reduce tasks fetch w2's map outputs through it
data() {
  local name=$1
  start_driver "$T/$name/driver" $S
  start_relay "$name" "@$T/$name/w2/ports:data" "$2" "$3" "$4"
  start_worker "$T/$name/w1" 2 $S
  start_worker "$T/$name/w2" 2 $S --advertise "127.0.0.1:$RELAY_PORT"
  wait_workers 2 || fail "$name" "workers did not register"
  wordcount "$name"
  broken "$name"
  # the fetcher found it: the fetch failed naming the worker (through the relay) and was retried
  grep -q "task fetch failed .*error=\".*worker 127.0.0.1:$RELAY_PORT: map [0-9]* of shuffle [0-9]* (partition [0-9]*): frame [0-9]* $INTEGRITY" \
    "$T/$name/driver/driver.log" && pass "${name}_detected_by_fetcher" ||
    fail "${name}_detected_by_fetcher" "$(grep 'fetch failed' "$T/$name/driver/driver.log" | head -3)"
  stop_all
}

data flip_fetch_data down flip fetch_data
data replay_fetch_data down replay fetch_data

# ---- a request to the data port -------------------------------------------------------------
start_driver "$T/req/driver" $S
start_relay req "@$T/req/w2/ports:data" up flip fetch_request
start_worker "$T/req/w1" 2 $S
start_worker "$T/req/w2" 2 $S --advertise "127.0.0.1:$RELAY_PORT"
wait_workers 2 || fail req "workers did not register"
wordcount flip_fetch_request
broken req
# the data port found it and closed the connection, naming the peer; it served nothing for it
grep -q "data connection closed peer=127.0.0.1:[0-9]* reason=\"frame [0-9]* $INTEGRITY" "$T/req/w2/worker.log" &&
  pass flip_fetch_request_detected_by_data_port ||
  fail flip_fetch_request_detected_by_data_port "$(grep 'data connection' "$T/req/w2/worker.log" | head -3)"

summary
