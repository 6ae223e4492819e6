#!/usr/bin/env bash
# python.sh - kiln's Python benchmarks beside their peers, in one run:
# wordcount over 512 MiB and 75 MB of Zipf-like text (kiln, Dask bag with 2
# worker processes, a single-process collections.Counter loop; BENCH_RUNS
# rounds, 3 by default, the medians), per-record
# overhead against a plain loop, task overhead. Usage: bench/python.sh [BUILD]
# BENCH_ONLY=wordcount|records|tasks runs one. Inputs as bench/shuffle.sh.
set -eu
cd "$(dirname "$0")/.."
B=$(cd "${1:-build}" && pwd)
PY=/usr/bin/python3
for p in python3-dask python3-distributed; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    { SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q python3-dask python3-distributed >&2; break; }
done
D=${BENCH_DIR:-/tmp/kiln-bench}
mkdir -p "$D"
# Zipf-like text: 512 MiB (the 2-slot figure) and 75 MB (the small one)
gen() {
  [ -f "$1" ] && return 0
  echo "generating $1 ..." >&2
  mawk -v T="$2" 'BEGIN { srand(1); L = log(1000001); total = 0;
    while (total < T) { w = 3 + int(rand() * 10); s = "";
      for (j = 0; j < w; j++) s = s (j ? " " : "") "w" int(exp(rand() * L));
      print s; total += length(s) + 1 } }' > "$1.tmp" && mv "$1.tmp" "$1"
}
TXT=$D/zipf-512m.txt SMALL=$D/zipf-75m.txt
gen "$TXT" 536870912
gen "$SMALL" 75000000
cat "$TXT" "$SMALL" > /dev/null
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); $($PY --version)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); load average $(cut -d" " -f1-3 /proc/loadavg)"
export PYTHONPATH=$B/python KILN_BINDIR=$B
only=${BENCH_ONLY:-}
[ -z "$only" ] || [ "$only" = wordcount ] && $PY bench/pybench.py wordcount "$TXT" "${BENCH_RUNS:-3}"
[ -z "$only" ] || [ "$only" = wordcount ] && $PY bench/pybench.py wordcount "$SMALL" "${BENCH_RUNS:-3}"
[ -z "$only" ] || [ "$only" = records ] && $PY bench/pybench.py records 50000000
[ -z "$only" ] || [ "$only" = tasks ] && $PY bench/pybench.py tasks
exit 0
