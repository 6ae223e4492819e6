#!/usr/bin/env bash
# run.sh - kiln's benchmarks for the foundation: prints each figure beside
# its peers measured in the same run. Usage: bench/run.sh [BUILD_DIR]
#   1. filter-and-count over a 1 GiB text file in the page cache, local[2],
#      beside `grep -F -c` and mawk
#   2. 10,000 one-record tasks in one job on two workers (2 slots each)
#   3. latency of a one-task job, median of 200 on a warm cluster
# Inputs go to $BENCH_DIR (default /tmp/kiln-bench), which is kept between
# runs so the 1 GiB file is generated once.
set -eu
cd "$(dirname "$0")/.."
export KILN_BUILD=${1:-build}
. tests/integration/lib.sh
D=${BENCH_DIR:-/tmp/kiln-bench}
mkdir -p "$D"
F=$D/text-1g.txt
if [ ! -f "$F" ]; then
  echo "generating $F ..." >&2
  mawk 'BEGIN {
    srand(7); split("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega", w, " ");
    for (i = 0; i < 100; i++) { n = 4 + int(rand() * 16); s = ""; for (j = 0; j < n; j++) s = s (j ? " " : "") w[1 + int(rand() * 24)] int(rand() * 100000); line[i] = s }
    total = 0
    while (total < 1073741824) { k = int(rand() * 100); s = line[k]; if (rand() < 0.001) s = s " needle"; print s; total += length(s) + 1 }
  }' > "$F"
fi
size=$(stat -L -c %s "$F")
cat "$F" > /dev/null # into the page cache
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"

best() { sort -n | head -1; }
# (not >/dev/null: GNU grep stops at the first match when its output is /dev/null)
t_grep=$(for i in 1 2 3; do /usr/bin/time -f %e grep -F -c needle "$F" 2>&1 >"$D/grep.out"; done | best)
t_mawk=$(for i in 1 2 3; do /usr/bin/time -f %e mawk '/needle/ { n++ } END { print n }' "$F" 2>&1 >"$D/mawk.out"; done | best)
[ "$(cat "$D/grep.out")" = "$(cat "$D/mawk.out")" ] || echo "warning: grep and mawk disagree" >&2
kiln_out=$(for i in 1 2 3; do "$KILN" submit --master 'local[2]' "$B/bench/bench.so" filter "$F" needle 2; done | sort -k2 -n -r | head -1)
[ "${kiln_out%% *}" = "$(cat "$D/grep.out")" ] || echo "warning: kiln counted ${kiln_out%% *}, grep $(cat "$D/grep.out")" >&2
echo "filter-and-count over $((size / 1048576)) MiB (best of 3):"
awk -v s="$size" -v g="$t_grep" -v m="$t_mawk" -v k="$kiln_out" 'BEGIN {
  split(k, a, " ");
  printf "  kiln local[2]   %7.0f MB/s  (%.0f MB/s per slot)\n", a[2], a[2] / 2;
  printf "  grep -F -c      %7.0f MB/s\n", s / 1e6 / g;
  printf "  mawk            %7.0f MB/s\n", s / 1e6 / m }'

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT
start_driver "$T/driver"
start_worker "$T/w1" 2
start_worker "$T/w2" 2
wait_workers 2
tasks=$(for i in 1 2 3; do "$KILN" submit "$B/bench/bench.so" tasks 10000; done | sort -n -r | head -1)
echo "10,000 one-record tasks, one job, two workers x 2 slots (best of 3): ${tasks%% *} tasks/s"
lat=$("$KILN" submit "$B/bench/bench.so" latency 200)
set -- $lat
echo "one-task job latency, action to result, 200 runs on a warm cluster: median $1 ms, p90 $2 ms, min $3 ms"
