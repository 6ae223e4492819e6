#!/usr/bin/env bash
# users.sh - a second local user against a cluster started with no secret
# flag (issue 9, defect 6). Root starts a driver and two workers with no
# --secret-file, HOME in a temporary directory; they and root's `kiln`
# find each other through root's default secret. Then `nobody` (through
# runuser), with no secret and with one of its own, tries what loopback
# used to allow: `kiln workers`, `kiln submit`, `kiln kill` of root's
# running application, registering a fake worker, a data-port handshake.
# Each is refused and logged, and nothing of nobody's runs; root's jobs
# still run without any secret flag, and local[2] makes a fresh secret of
# its own. Prints "N passed, M failed"; skips (with the reason) only when
# runuser cannot run a command as nobody.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

if ! command -v runuser > /dev/null 2>&1; then
  echo "users.sh: skipped: runuser is not installed"
  exit 0
fi
if ! runuser -u nobody -- true 2> /dev/null; then
  echo "users.sh: skipped: runuser -u nobody cannot run a command (are the tests running as root?)"
  exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-users-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT
chmod 711 "$T" # nobody may reach its own directory inside, nothing else
sanitizer_logs "$T/sanitizer"
chmod 1777 "$T/sanitizer" # nobody's processes report there too under the sanitizers
EX=$B/examples
APPS=$B/tests/apps
PROBE=$B/tests/tools/kiln-probe

# root's environment: no secret anywhere, a home of its own
mkdir -m 700 "$T/home"
export HOME=$T/home
unset XDG_CONFIG_HOME XDG_RUNTIME_DIR KILN_SECRET_FILE
SECRET=$HOME/.config/kiln/secret

# nobody's: its own home (so it can make a default secret of its own)
mkdir -m 700 "$T/nobody"
chown nobody "$T/nobody"
as_nobody() {
  runuser -u nobody -- env -u XDG_CONFIG_HOME -u XDG_RUNTIME_DIR -u KILN_SECRET_FILE HOME="$T/nobody" \
    KILN_MASTER="$MASTER" timeout 300 "$@"
}

mawk 'BEGIN { srand(5); for (i = 0; i < 5000; i++) { n = 1 + int(rand() * 6); s = "";
  for (j = 0; j < n; j++) s = s (j ? " " : "") "w" int(rand() * 400); print s } }' > "$T/words.txt"
mawk '{ for (i = 1; i <= NF; i++) c[$i]++ } END { for (w in c) printf "%s\t%d\n", w, c[w] }' "$T/words.txt" |
  LC_ALL=C sort > "$T/wc.want"
cp "$T/words.txt" "$T/nobody/words.txt"
chown nobody "$T/nobody/words.txt"
seq 1 4000 > "$T/slow.txt"

# wordcount NAME [KILN FLAGS...]: runs wordcount (as root) and compares with the oracle
wordcount() {
  local name=$1
  shift
  rm -rf "$T/wc.out"
  if "$KILN" submit "$@" "$EX/wordcount.so" "$T/words.txt" "$T/wc.out" 4 > "$T/wc.log" 2>&1 &&
    cat "$T"/wc.out/part-* 2> /dev/null | LC_ALL=C sort | cmp -s - "$T/wc.want"; then
    pass "$name"
  else
    fail "$name" "$(head -c 400 "$T/wc.log")"
  fi
}
napps() { "$KILN" jobs | tail -n +2 | wc -l; }

# ---- the same user, no secret flag anywhere ------------------------------------------
start_driver "$T/driver"
start_worker "$T/w1" 2
start_worker "$T/w2" 2
wait_workers 2 || { fail cluster "workers did not register"; summary; exit 1; }
pass cluster_up_without_secret_flag
if [ -f "$SECRET" ] && [ "$(stat -c '%a %U' "$SECRET")" = "600 root" ]; then
  pass default_secret_made_0600
else
  fail default_secret_made_0600 "$(ls -l "$SECRET" 2>&1)"
fi
grep -q "auth=shared-secret" "$T/driver/driver.log" && pass driver_uses_a_secret ||
  fail driver_uses_a_secret "$(grep 'driver started' "$T/driver/driver.log")"
wordcount own_job_runs_without_secret_flag

# a running application of root's, for nobody to try to kill
"$B/kiln" submit "$APPS/bad.so" hang "$T/slow.txt" > "$T/slow.out" 2>&1 &
SLOW=$!
wait_log "$T/driver/driver.log" "application registered app=.* name=bad.so" || fail slow_app "did not register"
APP=$(grep 'application registered app=.* name=bad.so' "$T/driver/driver.log" | tail -1 | sed 's/.*app=\([^ ]*\).*/\1/')
wait_log "$T/driver/driver.log" "task started app=$APP "
before=$(napps)
refused_before=$(grep -c 'connection refused' "$T/driver/driver.log")

# ---- nobody ------------------------------------------------------------------------------
# refused NAME CMD...: CMD, run as nobody, must fail saying authentication failed
refused() {
  local name=$1 out rc
  shift
  out=$(as_nobody "$@" 2>&1)
  rc=$?
  case "$out" in
    *"authentication failed"*) [ $rc -ne 0 ] && pass "$name" || fail "$name" "rc=$rc $out" ;;
    *) fail "$name" "rc=$rc $out" ;;
  esac
}
refused other_user_workers_refused "$B/kiln" workers
refused other_user_submit_refused "$B/kiln" submit "$EX/linecount.so" "$T/nobody/words.txt"
refused other_user_kill_refused "$B/kiln" kill "$APP"
# and with no secret at all (the probe sends none for "-")
NOBODY_SECRET=$T/nobody/.config/kiln/secret
for s in none own; do
  f=-
  [ $s = own ] && f=$NOBODY_SECRET
  if out=$(as_nobody "$PROBE" "$MASTER" "$f" fake-worker 2>&1); then pass "fake_worker_refused_$s"; else
    fail "fake_worker_refused_$s" "$out"; fi
  DATA1=127.0.0.1:$(awk '$1 == "data" { print $2 }' "$T/w1/ports")
  if out=$(as_nobody "$PROBE" "$DATA1" "$f" refused-peer 2>&1); then pass "data_port_refused_$s"; else
    fail "data_port_refused_$s" "$out"; fi
done
out=$(as_nobody cat "$SECRET" 2>&1) && fail secret_unreadable_by_others "$out" || pass secret_unreadable_by_others

# nothing of nobody's ran or changed anything
[ "$("$KILN" workers | tail -n +2 | wc -l)" -eq 2 ] && pass no_fake_worker_listed || fail no_fake_worker_listed "$("$KILN" workers)"
[ "$(napps)" = "$before" ] && pass other_user_ran_nothing || fail other_user_ran_nothing "$("$KILN" jobs)"
grep -q "application killed app=$APP" "$T/driver/driver.log" && fail app_not_killed_by_other_user "killed" ||
  pass app_not_killed_by_other_user
kill -0 "$SLOW" 2> /dev/null && pass app_still_running || fail app_still_running "$(cat "$T/slow.out")"
refused_after=$(grep -c 'connection refused peer=127.0.0.1:[0-9]* error=".*authentication failed' "$T/driver/driver.log")
[ "$((refused_after - refused_before))" -ge 5 ] && pass refusals_logged ||
  fail refusals_logged "$(grep 'connection refused' "$T/driver/driver.log" | tail -5)"
grep -q 'data connection closed peer=127.0.0.1:[0-9]* reason="authentication failed' "$T/w1/worker.log" &&
  pass data_port_refusal_logged || fail data_port_refusal_logged "$(grep 'data connection' "$T/w1/worker.log" | tail -2)"
# and counted in the worker's /metrics
WHTTP1=127.0.0.1:$(awk '$1 == "http" { print $2 }' "$T/w1/ports")
n=$(curl -s "http://$WHTTP1/metrics" | awk '$1 == "kiln_worker_data_port_authentication_failures_total" { print $2 }')
[ "${n:-0}" -ge 2 ] && pass data_port_refusals_in_metrics || fail data_port_refusals_in_metrics "got '$n'"

# the owner may kill it, still without a secret flag
if "$KILN" kill "$APP" > /dev/null; then pass owner_kills_own_app; else fail owner_kills_own_app "kiln kill failed"; fi
wait "$SLOW"
grep -q killed "$T/slow.out" && pass killed_app_says_so || fail killed_app_says_so "$(cat "$T/slow.out")"
wordcount own_job_runs_after_the_other_user

# ---- local[2]: a fresh secret for the private cluster -----------------------------------------
rm -rf "$T/wc.out"
if KILN_KEEP_LOCAL=1 "$KILN" submit --master 'local[2]' "$EX/wordcount.so" "$T/words.txt" "$T/wc.out" 4 \
  > "$T/local.log" 2>&1 && cat "$T"/wc.out/part-* | LC_ALL=C sort | cmp -s - "$T/wc.want"; then
  pass local_master_runs
else
  fail local_master_runs "$(head -c 400 "$T/local.log")"
fi
LDIR=$(sed -n 's/^kiln: local cluster files kept in //p' "$T/local.log")
if [ -n "$LDIR" ] && [ -f "$LDIR/secret" ] && [ "$(stat -c %a "$LDIR/secret")" = 600 ] &&
  ! cmp -s "$LDIR/secret" "$SECRET" && grep -q "auth=shared-secret" "$LDIR/driver.log"; then
  pass local_master_fresh_secret
else
  fail local_master_fresh_secret "dir=$LDIR $(ls -l "$LDIR" 2>&1)"
fi
[ -n "$LDIR" ] && rm -rf "$LDIR"

# ---- a default secret others can read is refused --------------------------------------------------
stop_all
chmod 644 "$SECRET"
# (bounded: a driver that accepts it would run until killed)
out=$(timeout 60 "$B/kiln-driver" --listen 127.0.0.1:0 --http 127.0.0.1:0 --state-dir "$T/x" 2>&1)
rc=$?
case "$out" in *"$SECRET"*"group or others"*) [ $rc -ne 0 ] && pass open_default_secret_refused ||
  fail open_default_secret_refused "rc=$rc" ;;
  *) fail open_default_secret_refused "rc=$rc $out" ;; esac
out=$("$KILN" status 2>&1)
case "$out" in *"group or others"*) pass cli_refuses_open_default_secret ;;
  *) fail cli_refuses_open_default_secret "$out" ;; esac
chmod 600 "$SECRET"

summary
