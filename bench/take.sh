#!/usr/bin/env bash
# take.sh - how long take(1) and first() of a 4 GiB text file take on a
# warm cluster (local[2]): they run one partition of the file's 128, not
# all of them. The file is made in /tmp from a 64 MiB piece and removed
# afterwards. Usage: bench/take.sh [BUILD]; TAKE_GIB=N for another size.
set -eu
cd "$(dirname "$0")/.."
B=$(cd "${1:-build}" && pwd)
PY=/usr/bin/python3
D=$(mktemp -d /tmp/kiln-take.XXXXXX)
trap 'rm -rf "$D"' EXIT
mawk 'BEGIN { srand(3); total = 0;
  while (total < 67108864) { s = "line " NR++ " " int(rand() * 1e9) " the quick brown fox"; print s; total += length(s) + 1 } }' > "$D/piece"
for _ in $(seq $((${TAKE_GIB:-4} * 16))); do cat "$D/piece"; done > "$D/big.txt"
rm -f "$D/piece"
echo "machine: $(nproc) cores, $(uname -r); $($PY --version); file: $(du -h "$D/big.txt" | cut -f1)"
PYTHONPATH=$B/python KILN_BINDIR=$B $PY - "$D/big.txt" <<'PYEOF'
import statistics, sys, time
import kiln
path = sys.argv[1]
with kiln.SparkContext("local[2]", "take-bench") as sc:
    rdd = sc.textFile(path)
    rdd.take(1)  # warm: executors forked, the interpreter started
    def ms(f, n=20):
        t = []
        for _ in range(n):
            t0 = time.perf_counter()
            f()
            t.append((time.perf_counter() - t0) * 1000)
        return statistics.median(t), max(t)
    for label, f in [("take(1), the RDD made once", lambda: rdd.take(1)),
                     ("textFile(path).take(1)", lambda: sc.textFile(path).take(1)),
                     ("textFile(path).first()", lambda: sc.textFile(path).first()),
                     ("textFile(path).map(str.upper).take(5)", lambda: sc.textFile(path).map(str.upper).take(5))]:
        med, worst = ms(f)
        print("%-40s median %6.1f ms  max %6.1f ms  (%d partitions)" % (label, med, worst, rdd.getNumPartitions()))
PYEOF
