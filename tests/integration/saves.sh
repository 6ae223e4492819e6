#!/usr/bin/env bash
# saves.sh - one application's save never touches another's. App A's save
# to OUT fails (its client removes OUT); app B then saves to OUT and is
# still writing when A ends, so A's AppEnd reaches every worker while B's
# attempts are under OUT/_temporary. B must still commit, with every
# record, and A's end must remove nothing of B's. A real driver and two
# workers on loopback; the oracle is seq. Prints "N passed, M failed";
# exits non-zero on any failure.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-saves-XXXXXX")
trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
python_env
submit() { "${pyenv[@]}" timeout "${KILN_TIMEOUT:-300}" "$B/kiln" submit --master "$MASTER" "$@"; }
# wait_file PATH: until PATH exists (bounded)
wait_file() {
  local i
  for i in $(seq 1 1500); do [ -e "$1" ] && return 0; sleep 0.02; done
  return 1
}

start_driver "$T/driver"
start_worker "$T/w1" 2
start_worker "$T/w2" 2
wait_workers 2 || { fail cluster "workers did not register"; summary; exit 1; }

OUT=$T/out
cat > "$T/a.py" <<'PY'
import os, sys, time
import kiln

out, flags = sys.argv[1], sys.argv[2]
sc = kiln.Context(conf={"task.max_failures": "1"})


def boom(x):
    raise ValueError("app A fails on purpose")


try:
    sc.parallelize(range(8), 4).map(boom).saveAsTextFile(out)
    sys.exit(3)
except kiln.KilnError:
    pass
open(os.path.join(flags, "a-failed"), "w").close()
# stay alive while B saves to the same path: A's end must come mid-save
while not os.path.exists(os.path.join(flags, "a-may-end")):
    time.sleep(0.05)
PY
cat > "$T/b.py" <<'PY'
import os, sys, time
import kiln

out, flags = sys.argv[1], sys.argv[2]
sc = kiln.Context()


def held(it):
    # every attempt has opened its file under OUT/_temporary by now
    while not os.path.exists(os.path.join(flags, "b-go")):
        time.sleep(0.05)
    for x in it:
        yield x


sc.parallelize(range(1000), 4).mapPartitions(held).saveAsTextFile(out)
PY

submit "$T/a.py" "$OUT" "$T" > "$T/a.out" 2>&1 &
APID=$!
wait_file "$T/a-failed" && [ ! -e "$OUT" ] && pass a_failed_save_removed_its_dir ||
  fail a_failed_save_removed_its_dir "$(cat "$T/a.out"; ls -la "$OUT" 2>&1)"
APP_A=$(grep 'application registered' "$T/driver/driver.log" | tail -1 | sed 's/.*app=\([^ ]*\).*/\1/')

submit "$T/b.py" "$OUT" "$T" > "$T/b.out" 2>&1 &
BPID=$!
# B's four attempts are writing
for i in $(seq 1 1500); do
  [ "$(find "$OUT/_temporary" -type f 2>/dev/null | wc -l)" -ge 4 ] && break
  sleep 0.02
done
[ "$(find "$OUT/_temporary" -type f 2>/dev/null | wc -l)" -ge 4 ] && pass b_attempts_writing ||
  fail b_attempts_writing "$(find "$T/out" 2>&1; cat "$T/b.out")"

# A ends now: its AppEnd names OUT, which it abandoned
touch "$T/a-may-end"
wait "$APID"
check a_exits_zero test "$?" -eq 0
wait_log "$T/w1/worker.log" "application ended app=$APP_A" && wait_log "$T/w2/worker.log" "application ended app=$APP_A" &&
  pass a_ended_on_both_workers || fail a_ended_on_both_workers "$(tail -5 "$T/w1/worker.log" "$T/w2/worker.log")"
[ "$(find "$OUT/_temporary" -type f 2>/dev/null | wc -l)" -ge 4 ] && pass a_end_left_b_attempts ||
  fail a_end_left_b_attempts "$(find "$T/out" 2>&1)"

touch "$T/b-go"
wait "$BPID"
rc=$?
[ $rc -eq 0 ] && pass b_save_succeeds || fail b_save_succeeds "rc=$rc $(cat "$T/b.out")"
[ -f "$OUT/_SUCCESS" ] && [ ! -e "$OUT/_temporary" ] && pass b_committed || fail b_committed "$(ls -la "$OUT" 2>&1)"
seq 0 999 > "$T/want"
cat "$OUT"/part-* 2>/dev/null | sort -n > "$T/got"
cmp -s "$T/want" "$T/got" && pass b_every_record_once || fail b_every_record_once "$(diff "$T/want" "$T/got" | head)"
# no worker removed anything in B's name
! grep -q "abandoned output removed app=$APP_A" "$T/w1/worker.log" "$T/w2/worker.log" &&
  pass a_end_removed_nothing || fail a_end_removed_nothing "$(grep abandoned "$T"/w*/worker.log)"

stop_all
summary
