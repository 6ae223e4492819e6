#!/usr/bin/env bash
# slurm.sh - kiln under Slurm: a one-node Slurm (munged, slurmctld, slurmd,
# started here on free ports with a config of their own) runs
# scripts/kiln-slurm through sbatch; the C wordcount's answer equals
# mawk's and a Python job's equals plain Python's, and nothing of kiln or
# Slurm is left running. Skipped, saying why, where the daemons cannot
# start. KILN_BUILD names the build directory.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-slurm-XXXXXX")
SPIDS=""
started_munge=""
cleanup() {
  for p in $SPIDS; do kill "$p" 2>/dev/null; done
  for p in $SPIDS; do wait "$p" 2>/dev/null; done
  [ -n "$started_munge" ] && pkill -x munged 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
skip() { log "SKIP slurm: $1"; echo "0 passed, 0 failed"; exit 0; }

command -v slurmctld > /dev/null && command -v sbatch > /dev/null && command -v munged > /dev/null ||
  skip "slurm-wlm or munge is not installed"
[ -f /etc/munge/munge.key ] || { mkdir -p /etc/munge && dd if=/dev/urandom bs=1024 count=1 of=/etc/munge/munge.key 2>/dev/null &&
  chown munge:munge /etc/munge/munge.key 2>/dev/null; chmod 400 /etc/munge/munge.key; }
if ! pgrep -x munged > /dev/null; then
  mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null
  munged --force 2> "$T/munged.err" || skip "munged does not start: $(head -c 200 "$T/munged.err")"
  started_munge=1
fi
read -r p1 p2 < <(/usr/bin/python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
host=$(hostname)
mkdir -p "$T/state" "$T/spool"
cat > "$T/slurm.conf" <<CONF
ClusterName=kilntest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$p1
SlurmdPort=$p2
AuthType=auth/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=kiln Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$T/slurm.conf
slurmctld -D -f "$SLURM_CONF" > "$T/ctld.out" 2>&1 &
SPIDS="$SPIDS $!"
slurmd -D -f "$SLURM_CONF" > "$T/d.out" 2>&1 &
SPIDS="$SPIDS $!"
ready=""
wait_until 'sinfo -h -o %t 2>/dev/null | grep -q idle' 0.1 && ready=1
[ -n "$ready" ] || skip "slurmctld/slurmd did not come up: $(tail -2 "$T/slurmctld.log" "$T/slurmd.log" 2>/dev/null | tr '\n' ' ')"
pass slurm_up

mawk 'BEGIN { srand(7); for (i = 0; i < 20000; i++) { s = ""; for (j = 0; j < 8; j++) s = s " w" int(rand() * 500); print s } }' > "$T/in.txt"
export KILN_BINDIR=$B
KILN_SLURM_DIR=$T/k1 sbatch --wait -N1 -o "$T/job1.out" scripts/kiln-slurm "$B/examples/wordcount.so" "$T/in.txt" "$T/wc" 4 > /dev/null 2>&1
got=$(cat "$T"/wc/part-* 2>/dev/null | sort)
want=$(mawk '{ for (i = 1; i <= NF; i++) c[$i]++ } END { for (w in c) print w "\t" c[w] }' "$T/in.txt" | sort)
[ -n "$got" ] && [ "$got" = "$want" ] && pass slurm_wordcount_vs_mawk || fail slurm_wordcount_vs_mawk "$(tail -5 "$T/job1.out")"
check slurm_fresh_secret sh -c "[ \"\$(stat -c %a '$T/k1/secret')\" = 600 ]"

printf 'import sys, kiln\nsc = kiln.Context()\nprint(sc.textFile(sys.argv[1]).flatMap(str.split).distinct().count())\nsc.stop()\n' > "$T/job.py"
KILN_SLURM_DIR=$T/k2 sbatch --wait -N1 -o "$T/job2.out" scripts/kiln-slurm "$T/job.py" "$T/in.txt" > /dev/null 2>&1
want=$(/usr/bin/python3 -c 'import sys; print(len({w for l in open(sys.argv[1]) for w in l.split()}))' "$T/in.txt")
got=$(grep -E '^[0-9]+$' "$T/job2.out" | tail -1)
[ "$got" = "$want" ] && pass slurm_python_job || fail slurm_python_job "got '$got' want '$want': $(tail -5 "$T/job2.out")"
wait_until '! pgrep -f "kiln-(driver|worker).*$T" > /dev/null' || true
left=$(pgrep -f "kiln-(driver|worker).*$T" || true)
[ -z "$left" ] && pass slurm_no_daemons_left || fail slurm_no_daemons_left "$left"
summary
