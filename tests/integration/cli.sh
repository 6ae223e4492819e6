#!/usr/bin/env bash
# cli.sh - the command line follows Unix conventions: --help/-h and
# --version on every binary and subcommand, unknown flags rejected as
# unknown, bad masters and --conf keys refused before anything runs (with
# the valid keys or a did-you-mean), a daemon that cannot start says why on
# stderr, a worker without a driver refuses to start, a worker that cannot
# reach its driver logs each attempt with its back-off, bash completion.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-cli-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT

# expect NAME STATUS PATTERN COMMAND...: the command exits STATUS and its
# output (stdout and stderr) matches PATTERN (grep -E)
expect() {
  local name=$1 want=$2 pat=$3 out rc
  shift 3
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" = "$want" ] && printf '%s' "$out" | grep -Eq -- "$pat"; then pass "$name"
  else fail "$name" "exit $rc, output: $(printf '%s' "$out" | head -3)"; fi
}

for b in kiln kiln-driver kiln-worker; do
  expect "${b}_help" 0 "usage: $b" "$B/$b" --help
  expect "${b}_h" 0 "usage: $b" "$B/$b" -h
  expect "${b}_version" 0 "^$b [0-9]+\.[0-9]+\.[0-9]+$" "$B/$b" --version
done
for c in submit status workers jobs apps kill logs; do
  expect "kiln_${c}_help" 0 "usage: kiln" "$B/kiln" "$c" --help
  expect "kiln_${c}_version" 0 "^kiln [0-9]+\." "$B/kiln" "$c" --version
done
expect driver_unknown_flag 2 "unknown option --bogus" "$B/kiln-driver" --bogus
expect worker_unknown_flag 2 "unknown option --bogus" "$B/kiln-worker" --bogus --driver 127.0.0.1:1
expect kiln_workers_unknown_flag 2 "unknown option --bogus" "$B/kiln" workers --bogus
expect submit_unknown_flag 2 "unknown option --bogus" "$B/kiln" submit --bogus "$B/examples/linecount.so"
expect submit_bad_local 2 "local\[abc\]: expected HOST:PORT, local, local\[N\]" "$B/kiln" submit --master 'local[abc]' "$B/examples/linecount.so" x
mkdir -p "$T/tmp"
expect submit_conf_did_you_mean 2 "did you mean 'task.memory'" env TMPDIR="$T/tmp" "$B/kiln" submit --master 'local[1]' --conf task.memry=1g "$B/examples/linecount.so" x
expect submit_conf_daemon_key 2 "not a per-job one.*task.timeout" "$B/kiln" submit --master 'local[1]' --conf worker.slots=3 "$B/examples/linecount.so" x
expect submit_conf_bad_value 2 "task.memory: bad size 'lots'" "$B/kiln" submit --master 'local[1]' --conf task.memory=lots "$B/examples/linecount.so" x
# the --conf check comes before the job: no local cluster was even started
[ -z "$(ls "$T/tmp")" ] && pass conf_checked_before_running || fail conf_checked_before_running "$(ls "$T/tmp")"
expect worker_needs_driver 2 "no driver to join: pass --driver" "$B/kiln-worker" --work-dir "$T/w0"

start_driver "$T/driver"
port=$(port "$T/driver" rpc)
expect driver_port_in_use_on_stderr 1 "cannot bind 127.0.0.1:$port: Address already in use" \
  "$B/kiln-driver" --listen "127.0.0.1:$port" --http 127.0.0.1:0 --state-dir "$T/d2" --log-file "$T/d2.log"
grep -q "Address already in use" "$T/d2.log" && pass driver_port_in_use_logged || fail driver_port_in_use_logged "$(tail -2 "$T/d2.log")"

# a worker whose driver is not there: every attempt logged with its back-off
dead=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$B/kiln-worker" --driver "127.0.0.1:$dead" --listen 127.0.0.1:0 --http 127.0.0.1:0 --work-dir "$T/w1" \
  --log-file "$T/w1.log" &
wpid=$!
PIDS="$PIDS $wpid"
wait_until '[ "$(grep -c "trying again in" "$T/w1.log" 2>/dev/null)" -ge 3 ]' 0.1 || true
ms=$(grep -o 'trying again in [0-9]*' "$T/w1.log" | awk '{ print $4 }' | head -3 | tr '\n' ' ')
set -- $ms
[ $# -ge 3 ] && [ "$2" -gt "$1" ] && [ "$3" -gt "$2" ] && pass worker_backoff_logged || fail worker_backoff_logged "got '$ms'"
kill "$wpid" 2>/dev/null

got=$(bash -c '. scripts/kiln.bash-completion; COMP_WORDS=(kiln su); COMP_CWORD=1; _kiln; echo "${COMPREPLY[*]}"')
[ "$got" = submit ] && pass completion_subcommand || fail completion_subcommand "got '$got'"
got=$(bash -c '. scripts/kiln.bash-completion; COMP_WORDS=(kiln logs --f); COMP_CWORD=2; _kiln; echo "${COMPREPLY[*]}"')
[ "$got" = --follow ] && pass completion_option || fail completion_option "got '$got'"
summary
