#!/usr/bin/env bash
# netns.sh - the multi-host test: the driver and three workers each in
# their own network namespace (ip netns, veth pairs on a bridge), with
# their own addresses and a shared secret, as on separate machines. A job
# runs right; then one worker's link is cut in the middle of a shuffle and
# the job still finishes with the answer mawk gives. Needs root and
# network namespaces: where they cannot be made it prints why and skips.
# Prints "N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

skip() {
  echo "SKIP netns.sh: $1"
  echo "0 passed, 0 failed"
  exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root to make network namespaces"
command -v ip > /dev/null || skip "no ip command (iproute2)"

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-netns-XXXXXX")
chmod 755 "$T"
TAG=k$$ # names stay unique and short (interface names have 15 characters)
NET=10.$((20 + $$ % 200)).0 # and so does the subnet
NS_D=${TAG}d
BR=${TAG}br
cleanup() {
  stop_all
  local n
  for n in d 1 2 3; do ip netns del "${TAG}$n" 2>/dev/null; done
  ip link del "$BR" 2>/dev/null
  if [ -n "${KILN_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
sanitizer_logs "$T/sanitizer"
APPS=$B/tests/apps

# ---- the network: a bridge in the test's namespace, one veth per host ---------
ip link add "$BR" type bridge 2> "$T/ip.err" || skip "cannot make a bridge: $(cat "$T/ip.err")"
ip addr add $NET.254/24 dev "$BR" && ip link set "$BR" up
# host NAME LAST-OCTET: a namespace with one interface at $NET.LAST
host() {
  local ns=${TAG}$1
  ip netns add "$ns" 2> "$T/ip.err" || skip "cannot make a network namespace: $(cat "$T/ip.err")"
  ip link add "${TAG}v$1" type veth peer name "${TAG}p$1" || skip "cannot make a veth pair"
  ip link set "${TAG}p$1" netns "$ns"
  ip link set "${TAG}v$1" master "$BR" up
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip addr add "$NET.$2/24" dev "${TAG}p$1"
  ip netns exec "$ns" ip link set "${TAG}p$1" up
}
host d 1
host 1 11
host 2 12
host 3 13

# ---- the secret and the daemons ------------------------------------------------
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/secret"
chmod 600 "$T/secret"
mkdir -p "$T/driver"
printf 'worker.timeout = 2s\n' > "$T/kiln.conf"
ip netns exec "$NS_D" "$B/kiln-driver" --listen $NET.1:0 --http $NET.1:0 --state-dir "$T/driver" \
  --log-file "$T/driver/driver.log" --secret-file "$T/secret" --config "$T/kiln.conf" --log-level debug &
PIDS="$PIDS $!"
RPC=$(port "$T/driver" rpc) || { fail driver_up "no ports file"; summary; exit 1; }
MASTER=$NET.1:$RPC
export KILN_MASTER=$MASTER
declare -A WP
for n in 1 2 3; do
  mkdir -p "$T/w$n"
  ip netns exec "${TAG}$n" "$B/kiln-worker" --driver "$MASTER" --listen "$NET.1$n:0" --http "$NET.1$n:0" \
    --slots 2 --work-dir "$T/w$n" --log-file "$T/w$n/worker.log" --secret-file "$T/secret" &
  WP[$n]=$!
  PIDS="$PIDS $!"
done
KILN_CMD_SECRET=(--secret-file "$T/secret")
ok=0
wait_until '[ "$("$KILN" workers "${KILN_CMD_SECRET[@]}" 2>/dev/null | tail -n +2 | wc -l)" -ge 3 ]' 0.02 && ok=1
[ $ok -eq 1 ] && pass three_hosts_up || { fail three_hosts_up "$(tail -5 "$T"/w1/worker.log)"; summary; exit 1; }
check workers_have_own_addresses grep -q "$NET.13" <("$KILN" workers "${KILN_CMD_SECRET[@]}")

# ---- data and the oracle ---------------------------------------------------------
mawk 'BEGIN { srand(11); for (i = 0; i < 300000; i++) printf "k%d\t%d\n", int(rand() * 2500), int(rand() * 1000) }' \
  > "$T/kv.txt"
mawk -F'\t' '{ s[$1] += $2 } END { for (k in s) printf "%s\t%d\n", k, s[k] }' "$T/kv.txt" | LC_ALL=C sort > "$T/kv.want"

"$KILN" submit "${KILN_CMD_SECRET[@]}" "$APPS/shuf.so" sum "$T/kv.txt" 6 2> "$T/sum.err" | LC_ALL=C sort > "$T/sum.out"
if cmp -s "$T/sum.out" "$T/kv.want"; then pass shuffle_across_hosts
else fail shuffle_across_hosts "$(head -c 300 "$T/sum.err")"; fi

# ---- one worker's link cut in the middle of the reduce stage ----------------------
DLOG=$T/driver/driver.log
"$KILN" submit "${KILN_CMD_SECRET[@]}" "$APPS/shuf.so" slowsum "$T/kv.txt" 12 > "$T/cut.out" 2> "$T/cut.err" &
CLIENT=$!
for i in $(seq 1 1500); do
  grep -q "functions=\"[^\"]*slow_fmt" "$DLOG" && break
  sleep 0.02
done
stage=$(grep "functions=\"[^\"]*slow_fmt" "$DLOG" | tail -1 | sed 's/.*stage=\([0-9]*\).*/\1/')
for i in $(seq 1 1500); do
  grep -q "task started .*stage=$stage " "$DLOG" && break
  sleep 0.02
done
ip link set "${TAG}v3" down # the cable is pulled: no FIN, no RST, nothing
wait "$CLIENT"
rc=$?
LC_ALL=C sort "$T/cut.out" > "$T/cut.sorted"
if [ $rc -eq 0 ] && cmp -s "$T/cut.sorted" "$T/kv.want"; then pass link_cut_mid_shuffle_right_answer
else fail link_cut_mid_shuffle_right_answer "rc=$rc $(head -c 400 "$T/cut.err")"; fi
cut_id=$(grep "worker registered .*addr=$NET.13:" "$DLOG" | head -1 | sed 's/.*id=\([0-9]*\) .*/\1/')
check link_cut_worker_lost grep -q "worker lost id=$cut_id .*no heartbeat" "$DLOG"

# the remaining hosts still serve
"$KILN" submit "${KILN_CMD_SECRET[@]}" "$APPS/shuf.so" sum "$T/kv.txt" 4 2> "$T/after.err" | LC_ALL=C sort > "$T/after.out"
check after_cut_next_job_right cmp -s "$T/after.out" "$T/kv.want"

# the driver's host vanishes (its link goes down, no FIN or RST) while a
# client waits on a job: the client fails with a message (TCP keepalive)
"$KILN" submit "${KILN_CMD_SECRET[@]}" "$APPS/shuf.so" slowsum "$T/kv.txt" 12 > /dev/null 2> "$T/gone.err" &
CLIENT=$!
n=$(grep -c "functions=\"[^\"]*slow_fmt" "$DLOG")
for i in $(seq 1 1500); do
  [ "$(grep -c "functions=\"[^\"]*slow_fmt" "$DLOG")" -gt "$n" ] && break
  sleep 0.02
done
ip link set "${TAG}vd" down
wait "$CLIENT"
rc=$?
if [ $rc -ne 0 ] && grep -q "lost the connection to the driver" "$T/gone.err"; then pass driver_host_gone_client_fails
else fail driver_host_gone_client_fails "rc=$rc $(head -c 300 "$T/gone.err")"; fi

stop_all
summary
