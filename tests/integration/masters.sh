#!/usr/bin/env bash
# masters.sh - where a job runs: HOST:PORT, localhost:PORT, kiln://HOST:PORT
# and spark://HOST:PORT (with a note that the scheme is dropped) are the
# cluster, for a C application and a Python job alike; local[N] is local;
# another scheme is refused. `kiln submit` says first, on stderr, the
# application id, where it runs and its UI page (which answers) on a
# terminal or with --verbose, and nothing off a terminal, and
# spark.* --conf keys are accepted for a Python job.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-masters-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT

start_driver "$T/driver"
start_worker "$T/w0" 2
wait_workers 1
unset KILN_MASTER
port=${MASTER#127.0.0.1:}
seq 1 1000 > "$T/in.txt"
cat > "$T/job.py" <<'PY'
import kiln
sc = kiln.SparkContext(appName="masters")
print(sc.parallelize(range(100), 4).map(lambda x: x * 2).sum())
print(sc.getConf().get("spark.executor.memory"))
PY

# first_line NAME PATTERN FILE: the file's first line matches PATTERN (grep -E)
first_line() {
  if head -1 "$3" | grep -Eq -- "$2"; then pass "$1"; else fail "$1" "first line: $(head -1 "$3")"; fi
}
# ui_answers NAME FILE: the UI address of the banner in FILE answers 200
ui_answers() {
  local url code
  url=$(head -1 "$2" | sed -n 's/.*, UI \(http[^ ]*\)$/\1/p')
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$url")
  [ "$code" = 200 ] && pass "$1" || fail "$1" "GET $url: $code"
}

for m in "$MASTER" "localhost:$port" "kiln://$MASTER" "spark://$MASTER"; do
  name=$(printf '%s' "$m" | tr -c 'a-z0-9' '_')
  out=$($KILN submit --verbose --master "$m" --conf spark.executor.memory=1g "$T/job.py" 2>"$T/$name.err")
  [ "$out" = "$(printf '9900\n1g')" ] && pass "py_$name" || fail "py_$name" "$out $(cat "$T/$name.err")"
  first_line "py_banner_$name" "^kiln: application app-[0-9]+-[0-9]+ running on the kiln driver at (127.0.0.1|localhost):$port, UI http://(127.0.0.1|localhost):[0-9]+/app/app-" "$T/$name.err"
  ui_answers "py_ui_$name" "$T/$name.err"
  got=$($KILN submit -v --master "$m" "$B/examples/linecount.so" "$T/in.txt" 3 2>"$T/c_$name.err")
  [ "$got" = 1000 ] && pass "c_$name" || fail "c_$name" "$got $(cat "$T/c_$name.err")"
  first_line "c_banner_$name" "^kiln: application app-[0-9]+-[0-9]+ running on the kiln driver at (127.0.0.1|localhost):$port, UI http://" "$T/c_$name.err"
  ui_answers "c_ui_$name" "$T/c_$name.err"
  case $m in
  spark://*)
    grep -q "the spark:// scheme is dropped" "$T/$name.err" && pass py_spark_note || fail py_spark_note "$(cat "$T/$name.err")"
    grep -q "the spark:// scheme is dropped" "$T/c_$name.err" && pass c_spark_note || fail c_spark_note "$(cat "$T/c_$name.err")"
    ;;
  esac
done

out=$($KILN submit --verbose --master 'local[1]' "$T/job.py" 2>"$T/local.err")
[ "$(printf '%s' "$out" | head -1)" = 9900 ] && pass py_local || fail py_local "$out $(cat "$T/local.err")"
first_line py_local_banner "^kiln: application app-[0-9]+-[0-9]+ running on local\[1\] \(a private driver and worker\), UI http://127.0.0.1:[0-9]+/app/" "$T/local.err"
got=$($KILN submit --verbose --master 'local[1]' "$B/examples/linecount.so" "$T/in.txt" 2 2>"$T/c_local.err")
[ "$got" = 1000 ] && pass c_local || fail c_local "$got $(cat "$T/c_local.err")"
first_line c_local_banner "^kiln: application app-[0-9]+-[0-9]+ running on local\[1\] \(a private driver and worker\), UI http://" "$T/c_local.err"

# off a terminal and without --verbose, a job that succeeds says nothing on stderr
out=$($KILN submit --master "$MASTER" "$T/job.py" 2>"$T/quiet.err")
[ -n "$out" ] && [ ! -s "$T/quiet.err" ] && pass py_quiet_off_terminal || fail py_quiet_off_terminal "$(cat "$T/quiet.err")"
$KILN submit --master "$MASTER" "$B/examples/linecount.so" "$T/in.txt" > /dev/null 2>"$T/cquiet.err"
[ ! -s "$T/cquiet.err" ] && pass c_quiet_off_terminal || fail c_quiet_off_terminal "$(cat "$T/cquiet.err")"
# on a terminal the banner comes by itself
script -qec "timeout 120 $B/kiln submit --master $MASTER $T/job.py" "$T/tty.out" > /dev/null 2>&1
grep -q "^kiln: application app-.* running on the kiln driver at $MASTER, UI http://" "$T/tty.out" && pass py_banner_on_terminal || fail py_banner_on_terminal "$(head -3 "$T/tty.out")"
script -qec "timeout 120 $B/kiln submit --master $MASTER $B/examples/linecount.so $T/in.txt" "$T/ctty.out" > /dev/null 2>&1
grep -q "^kiln: application app-.* running on the kiln driver at $MASTER, UI http://" "$T/ctty.out" && pass c_banner_on_terminal || fail c_banner_on_terminal "$(head -3 "$T/ctty.out")"

for m in yarn "k8s://h:443" "mesos://h:5050"; do
  "$B/kiln" submit --master "$m" "$T/job.py" > /dev/null 2>"$T/bad.err"
  rc=$?
  [ "$rc" = 2 ] && grep -q "kiln runs on local" "$T/bad.err" && pass "refused_$m" || fail "refused_$m" "exit $rc $(cat "$T/bad.err")"
done
"$B/kiln" submit --master "$MASTER" --conf spark.executor.memory=1g "$B/examples/linecount.so" "$T/in.txt" > /dev/null 2>"$T/cconf.err"
rc=$?
[ "$rc" = 2 ] && grep -q "spark.\* keys are for Python jobs" "$T/cconf.err" && pass c_refuses_spark_keys || fail c_refuses_spark_keys "exit $rc $(cat "$T/cconf.err")"
summary
