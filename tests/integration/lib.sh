# lib.sh - helpers for kiln's integration tests: real daemons on loopback
# ports chosen by the kernel (port 0 + the ports file), a result tally that
# ends in "N passed, M failed", and cleanup that leaves no process behind.
# Sourced by run.sh; KILN_BUILD names the build directory.

B=${KILN_BUILD:-build}
B=$(cd "$B" && pwd)
# Daemons and clients started without a secret flag use this user's
# default secret, $XDG_CONFIG_HOME/kiln/secret (docs/architecture.md): the
# tests keep theirs in the build directory, not in the real home. Every
# script of one build shares it, as one user's programs do.
export XDG_CONFIG_HOME=$B/test-home/.config
unset XDG_RUNTIME_DIR
# Every kiln command a test runs is bounded: a hang fails the test, never CI.
kiln_cmd() { timeout "${KILN_TIMEOUT:-300}" "$B/kiln" "$@"; }
KILN=kiln_cmd
PASS=0
FAIL=0
FAILED_NAMES=""
PIDS=""
# Under the sanitizers a user function's segfault must stay a real signal
# (the executor's death is what the tests check), so ASan leaves SIGSEGV,
# SIGBUS and SIGFPE alone; leaks and everything else are still reported.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:abort_on_error=0"

log() { printf '%s\n' "$*" >&2; }

pass() { PASS=$((PASS + 1)); log "PASS $1"; }
fail() {
  FAIL=$((FAIL + 1))
  FAILED_NAMES="$FAILED_NAMES $1"
  log "FAIL $1: $2"
}

# check NAME CONDITION-COMMAND... : passes when the command succeeds
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

# KILN_WAIT_S: how long any wait for a daemon's state may take before the
# test fails. Waits are on wall-clock time, not on a number of tries, and
# generous: a loaded or instrumented machine is slower, never wrong, and a
# wait that succeeds returns at once.
KILN_WAIT_S=${KILN_WAIT_S:-120}

# wait_until CONDITION [INTERVAL]: evaluates the shell text CONDITION (in
# single quotes, so that it is expanded afresh each time) every INTERVAL
# seconds (0.05) until it is true, or until KILN_WAIT_S have passed (1).
# CONDITION sees the caller's variables, but not its positional parameters.
wait_until() {
  local _wait_end=$((SECONDS + KILN_WAIT_S))
  until eval "$1"; do
    [ "$SECONDS" -ge "$_wait_end" ] && return 1
    sleep "${2:-0.05}"
  done
}

# port DIR NAME: waits for DIR/ports and prints the port called NAME
port() {
  local dir=$1
  if ! wait_until '[ -f "$dir/ports" ]' 0.02; then
    log "no ports file in $1"
    return 1
  fi
  awk -v n="$2" '$1 == n { print $2 }' "$1/ports"
}

# http_auth [SECRET_FILE]: TOKEN is the HTTP ports' bearer token for that
# secret (the default secret without one), and curl sends it from now on
# (a .curlrc under CURL_HOME; `curl -q` sends none).
http_auth() {
  TOKEN=$("$B/kiln" token ${1:+--secret-file "$1"})
  export CURL_HOME=${CURL_HOME:-$(mktemp -d "${TMPDIR:-/tmp}/kiln-curl-XXXXXX")}
  mkdir -p "$CURL_HOME"
  printf 'header = "Authorization: Bearer %s"\n' "$TOKEN" > "$CURL_HOME/.curlrc"
}

# start_driver DIR [FLAGS...]: sets DRIVER_PID, MASTER, DRIVER_HTTP, TOKEN
start_driver() {
  mkdir -p "$1"
  # shellcheck disable=SC2086 # DRIVER_WRAP: a command to run it under (prlimit ...)
  ${DRIVER_WRAP:-} "$B/kiln-driver" --listen 127.0.0.1:0 --http 127.0.0.1:0 --state-dir "$1" \
    --log-file "$1/driver.log" "${@:2}" &
  DRIVER_PID=$!
  PIDS="$PIDS $DRIVER_PID"
  MASTER=127.0.0.1:$(port "$1" rpc)
  DRIVER_HTTP=127.0.0.1:$(port "$1" http)
  export KILN_MASTER=$MASTER
  local a sf="" prev=""
  for a in "${@:2}"; do
    [ "$prev" = --secret-file ] && sf=$a
    case $a in --secret-file=*) sf=${a#--secret-file=} ;; esac
    prev=$a
  done
  http_auth "$sf"
}

# start_worker DIR SLOTS [FLAGS...]: prints nothing, appends to WORKER_PIDS
start_worker() {
  mkdir -p "$1"
  "$B/kiln-worker" --driver "$MASTER" --listen 127.0.0.1:0 --http 127.0.0.1:0 --slots "$2" \
    --work-dir "$1" --log-file "$1/worker.log" "${@:3}" &
  local pid=$!
  PIDS="$PIDS $pid"
  WORKER_PIDS="${WORKER_PIDS:-} $pid"
  port "$1" data >/dev/null
}

# wait_workers N: until the driver lists N workers
wait_workers() {
  local n=$1
  wait_until '[ "$("$KILN" workers 2>/dev/null | tail -n +2 | wc -l)" -ge "$n" ]' 0.02 && return 0
  log "the driver never listed $1 workers"
  return 1
}

# wait_log FILE PATTERN: until PATTERN (grep) appears in FILE (bounded)
wait_log() {
  local file=$1 pattern=$2
  wait_until 'grep -q -- "$pattern" "$file" 2>/dev/null' 0.02
}

stop_all() {
  local p
  for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
  for p in $PIDS; do wait "$p" 2>/dev/null; done
  PIDS=""
  case ${CURL_HOME:-} in "${TMPDIR:-/tmp}"/kiln-curl-*) rm -rf "$CURL_HOME" && unset CURL_HOME ;; esac
}

# sanitizer_logs DIR: every ASan/UBSan/LSan report of any kiln process
# (daemons, executors, clients) goes to a file in DIR, and summary fails
# when one exists.
sanitizer_logs() {
  SANLOG=$1
  mkdir -p "$SANLOG"
  export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$SANLOG/asan"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:print_stacktrace=1:log_path=$SANLOG/ubsan"
}

# sanitizer_noise FILE: true when FILE holds nothing but LeakSanitizer's
# "Unable to get registers from thread" lines, which a process SIGKILLed
# in the middle of its exit-time leak check leaves (the tests kill
# processes on purpose); every real report has an ERROR or SUMMARY line.
sanitizer_noise() {
  ! grep -qv -e '^==[0-9]*==Unable to get registers from thread [0-9]*\.$' -e '^$' "$1"
}

# python_env: sets pyenv, the command prefix a Python job runs under: in
# the sanitizer build (KILN_SAN=1) the package's extension is
# instrumented, so the interpreter needs the runtime preloaded. Call it
# after sanitizer_logs (it keeps ASAN_OPTIONS' log path).
python_env() {
  pyenv=()
  if [ "${KILN_SAN:-}" = 1 ]; then
    pyenv=(env LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
      ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0")
  fi
}

summary() {
  if [ -n "${SANLOG:-}" ]; then
    local f reports=""
    for f in "$SANLOG"/*; do
      [ -e "$f" ] || continue
      if sanitizer_noise "$f"; then log "sanitizer noise (a process killed during its leak check): $(head -c 200 "$f")"
      else reports="$reports $f"; fi
    done
    if [ -n "$reports" ]; then
      fail sanitizer_reports "$(cat $reports | head -c 4000)"
    else
      pass no_sanitizer_reports
    fi
  fi
  echo "$PASS passed, $FAIL failed"
  [ -n "$FAILED_NAMES" ] && log "failed:$FAILED_NAMES"
  [ "$FAIL" -eq 0 ]
}
