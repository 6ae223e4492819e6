#!/usr/bin/env bash
# local.sh - local[N] leaves nothing however its client ends: `kiln submit
# --master local[2]` of a C application and of a Python job, and a Python
# script run as `python3 job.py`, each ended by SIGTERM, SIGINT, SIGKILL or
# a crash in user code (and once normally): afterwards no kiln daemon or
# executor of that cluster runs and its kiln-local-* directory is gone.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-localtest-XXXXXX")
trap 'pkill -f "$T/" 2>/dev/null; rm -rf "$T"' EXIT
seq 1 2000 > "$T/in.txt" # bad.so hang: runs until it is killed
cat > "$T/slow.py" <<'PY'
import sys, time, kiln
sc = kiln.Context()
sc.addFile(sys.argv[1])
print("running", flush=True)
sc.parallelize(range(4), 2).map(lambda x: time.sleep(60) or x).collect()
PY
export PYTHONPATH=$B/python KILN_BINDIR=$B

# ends_clean NAME: waits (bounded) until nothing of the clusters under
# $T/NAME runs and no kiln-local-* is left there
ends_clean() {
  local d=$T/$1
  if wait_until '! pgrep -f "$d/kiln-local" > /dev/null && [ -z "$(ls -d "$d"/kiln-local-* 2>/dev/null)" ]' 0.1; then
    pass "$1"
    return
  fi
  fail "$1" "left: $(pgrep -af "$d/kiln-local" | head -3) $(ls -d "$d"/kiln-local-* 2>/dev/null)"
}

# started NAME: waits until the cluster under $T/NAME runs its job
started() {
  local dir=$T/$1
  wait_until '[ -n "$(ls "$dir"/kiln-local-*/worker/*/executor-*.log 2>/dev/null)" ]' 0.05 && return 0
  log "the job under $T/$1 did not start"
  return 1
}

run() { # NAME SIGNAL COMMAND...
  local name=$1 sig=$2 i
  shift 2
  mkdir -p "$T/$name"
  # a background job of a script starts with SIGINT ignored: give it back
  TMPDIR=$T/$name env --default-signal=INT "$@" > "$T/$name.out" 2>&1 &
  local pid=$!
  started "$name" && kill "-$sig" "$pid"
  # the job sleeps for a minute: a client that ignored the signal is still here
  for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    fail "$name" "still running after SIG$sig"
    kill -9 "$pid"
  else
    ends_clean "$name"
  fi
  wait "$pid" 2>/dev/null
}

for sig in TERM INT KILL; do
  run "c_$sig" "$sig" "$B/kiln" submit --master 'local[2]' "$B/tests/apps/bad.so" hang "$T/in.txt"
  run "py_submit_$sig" "$sig" "$B/kiln" submit --master 'local[2]' "$T/slow.py" "$T/in.txt"
  run "python3_$sig" "$sig" /usr/bin/python3 "$T/slow.py" "$T/in.txt"
done

# a crash in kiln_main, with the cluster already up
mkdir -p "$T/crash"
TMPDIR=$T/crash "$B/kiln" submit --master 'local[2]' "$B/tests/apps/bad.so" crash-in-main x > "$T/crash.out" 2>&1
ends_clean crash

# and the ordinary end
mkdir -p "$T/normal"
got=$(TMPDIR=$T/normal "$B/kiln" submit --master 'local[2]' "$B/examples/linecount.so" "$T/in.txt" 2>&1)
[ -n "$got" ] && pass normal_ran || fail normal_ran "$got"
ends_clean normal
summary
