#!/usr/bin/env bash
# errors.sh - errors that name the next step. A refused connection names
# kiln-driver and local[2]; a file that is not an ELF object is said to be
# one; an executor that closed its own socket is not reported as killed
# by a signal; a result record too large to return names its size and
# driver.max_result_size; the user is the account, also without USER; a
# normal end reads as one; both daemons' /metrics carry kiln_build_info and
# process_start_time_seconds; the README says how to run a Python job from
# the tree. (The group hint for an ordinary user against the service's
# secret, and a dpkg -i without warnings, are in package.sh, which
# installs the .deb.) Prints "N passed, M failed"; exits non-zero on any
# failure. KILN_SAN=1 marks the sanitizer build.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-errors-XXXXXX")
trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
python_env

# ---- no driver there -------------------------------------------------------------------
# a port nothing listens on: bind one, note it, close it
FREE=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for cmd in status submit logs; do
  case $cmd in
    status) out=$($KILN status --master "127.0.0.1:$FREE" 2>&1) ;;
    submit) out=$($KILN submit --master "127.0.0.1:$FREE" "$B/examples/wordcount.so" x y 1 2>&1) ;;
    logs) out=$($KILN logs app-x --master "127.0.0.1:$FREE" 2>&1) ;;
  esac
  echo "$out" | grep -qF "Connection refused (is kiln-driver running at 127.0.0.1:$FREE? start it (systemctl start kiln-driver) or use --master local[2])" &&
    pass "refused_names_next_step_$cmd" || fail "refused_names_next_step_$cmd" "$out"
done

# ---- not a shared object -----------------------------------------------------------------
printf 'int kiln_main;\n' > "$T/app.so"
out=$($KILN submit --master "127.0.0.1:$FREE" "$T/app.so" 2>&1)
echo "$out" | grep -q "app.so is not a shared object: it is text (source code?), not a compiled library; .*cc -shared -fPIC" &&
  ! echo "$out" | grep -q "invalid ELF header" && pass not_elf_said_plainly || fail not_elf_said_plainly "$out"
head -c 200 /dev/zero > "$T/zero.so"
out=$($KILN submit --master "127.0.0.1:$FREE" "$T/zero.so" 2>&1)
echo "$out" | grep -q "zero.so is not a shared object: it does not start with the ELF magic bytes" &&
  pass binary_not_elf_said_plainly || fail binary_not_elf_said_plainly "$out"

# ---- a cluster -----------------------------------------------------------------------------
start_driver "$T/driver"
start_worker "$T/w1" 2
wait_workers 1 || { fail cluster "no worker"; summary; exit 1; }
for d in "$DRIVER_HTTP:kiln" "127.0.0.1:$(port "$T/w1" http):kiln-worker"; do
  h=${d%:*}
  curl -s "http://$h/metrics" > "$T/m.prom"
  now=$(date +%s)
  st=$(awk '$1 == "process_start_time_seconds" { printf "%d", $2 }' "$T/m.prom")
  grep -qE "^kiln_build_info\{version=\"[0-9.]+\",commit=\"[0-9a-f]+|unknown\"\} 1$" "$T/m.prom" &&
    [ -n "$st" ] && [ "$st" -le "$now" ] && [ "$st" -ge $((now - 600)) ] && pass "build_info_and_start_time_${d##*:}" ||
    fail "build_info_and_start_time_${d##*:}" "$(grep -E 'build_info|start_time' "$T/m.prom")"
done

cat > "$T/closer.py" <<'PY'
import os
import kiln

sc = kiln.Context(conf={"task.max_failures": "1"})


def close_all(x):
    os.closerange(3, 65536)  # the executor's own socket to its worker goes too
    return x


try:
    sc.parallelize(range(4), 1).map(close_all).collect()
except kiln.KilnError as e:
    print("job failed:", e)
PY
out=$("${pyenv[@]}" timeout 300 "$B/kiln" submit --master "$MASTER" "$T/closer.py" 2>&1)
echo "$out" | grep -q "the executor lost its connection to the worker in .*: its socket was closed under it" && ! echo "$out" | grep -q "signal 9" &&
  pass closed_socket_not_signal_9 || fail closed_socket_not_signal_9 "$out"

cat > "$T/big.py" <<'PY'
import kiln

sc = kiln.Context(conf={"task.max_failures": "1"})
try:
    sc.parallelize([0], 1).map(lambda x: b"x" * 300_000_000).collect()
except kiln.KilnError as e:
    print("job failed:", e)
PY
out=$("${pyenv[@]}" timeout 300 "$B/kiln" submit --master "$MASTER" "$T/big.py" 2>&1)
echo "$out" | grep -q "a result record of 286.* is over the 256.* one record may take back to the driver (driver.max_result_size" &&
  pass big_record_names_size_and_limit || fail big_record_names_size_and_limit "$(echo "$out" | tail -c 800)"

# the user is the account that submitted, also where USER is unset (root's services, sudo)
printf 'import kiln\nkiln.Context().parallelize(range(3)).count()\n' > "$T/tiny.py"
env -u USER "${pyenv[@]}" timeout 300 "$B/kiln" submit --master "$MASTER" "$T/tiny.py" > "$T/tiny.out" 2>&1
u=$($KILN apps | awk '$2 == "tiny.py" { print $3 }')
[ "$u" = "$(id -un)" ] && pass user_recorded_without_USER || fail user_recorded_without_USER "user '$u' $(cat "$T/tiny.out")"
# a program that ended normally ended because it did, not because "connection closed by peer"
id_tiny=$($KILN apps | awk '$2 == "tiny.py" { print $1 }')
"$KILN" submit --master "$MASTER" "$B/examples/wordcount.so" "$T/tiny.py" "$T/wc.out" 1 > /dev/null 2>&1
id_wc=$($KILN apps | awk '$2 == "wordcount.so" { print $1 }')
for id in "$id_tiny" "$id_wc"; do
  r=$(curl -s "http://$DRIVER_HTTP/api/v1/applications/$id" | /usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["state"], d["end_reason"])')
  [ "$r" = "succeeded the application stopped: its program ended" ] && pass "end_reason_of_normal_end_$id" ||
    fail "end_reason_of_normal_end_$id" "$r"
done

# ---- the README on Python jobs from the tree ------------------------------------------------
grep -q "PYTHONPATH=build/python /usr/bin/python3" README.md && grep -q "build/kiln submit" README.md &&
  grep -q "No module named 'kiln'" README.md && pass readme_python_from_tree || fail readme_python_from_tree "README"
stop_all
summary
