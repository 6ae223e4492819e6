#!/usr/bin/env bash
# shuffle.sh - kiln's shuffle benchmarks, each beside its peers in the same
# run, inputs in the page cache. Usage: bench/shuffle.sh [BUILD_DIR]
#   1. wordcount over 1 GiB of Zipf-like text, local[2], vs mawk and
#      tr | sort | uniq -c
#   2. sort of 1 GiB of 100-byte records, local[2], file to files, vs
#      LC_ALL=C sort --parallel=2 -S 8G
#   3. shuffle throughput between two workers on loopback (MB/s of
#      uncompressed records through a repartition)
# Inputs go to $BENCH_DIR (default /tmp/kiln-bench), generated once.
# BENCH_ONLY=shuffle runs the third alone. BENCH_SECRET=1 runs the third
# with a shared secret (every frame sealed, docs/decisions.md), to compare
# with the same run without.
set -eu
cd "$(dirname "$0")/.."
export KILN_BUILD=${1:-build}
. tests/integration/lib.sh
D=${BENCH_DIR:-/tmp/kiln-bench}
mkdir -p "$D"
TXT=$D/zipf-1g.txt
RECS=$D/recs-1g.txt
if [ ! -f "$TXT" ]; then
  echo "generating $TXT ..." >&2
  mawk 'BEGIN { srand(1); L = log(1000001); total = 0;
    while (total < 1073741824) { w = 3 + int(rand() * 10); s = "";
      for (j = 0; j < w; j++) s = s (j ? " " : "") "w" int(exp(rand() * L));
      print s; total += length(s) + 1 } }' > "$TXT"
fi
if [ ! -f "$RECS" ]; then
  echo "generating $RECS ..." >&2
  mawk 'BEGIN { srand(2); for (i = 0; i < 10737418; i++) {
    k = ""; for (j = 0; j < 10; j++) k = k sprintf("%c", 33 + int(rand() * 94));
    printf "%s%089d\n", k, i } }' > "$RECS"
fi
cat "$TXT" "$RECS" > /dev/null
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
mb() { echo "$(stat -L -c %s "$1") $2" | awk '{ printf "%.0f", $1 / 1e6 / $2 }'; }
secs() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1; }

O=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-XXXXXX")
trap 'stop_all; rm -rf "$O"' EXIT
if [ "${BENCH_ONLY:-}" != shuffle ]; then
t_kiln=$(secs "$B/kiln" submit --master 'local[2]' "$B/examples/wordcount.so" "$TXT" "$O/wc" 8)
t_mawk=$(secs mawk '{ for (i = 1; i <= NF; i++) c[$i]++ } END { for (w in c) print w, c[w] }' "$TXT")
t_tr=$(secs sh -c "tr -s ' ' '\n' < '$TXT' | LC_ALL=C sort -S 8G --parallel=2 | uniq -c > '$O/tr.out'")
echo "wordcount over $(( $(stat -L -c %s "$TXT") / 1048576 )) MiB of Zipf-like text:"
echo "  kiln local[2]            $t_kiln s  $(mb "$TXT" "$t_kiln") MB/s"
echo "  mawk                     $t_mawk s  $(mb "$TXT" "$t_mawk") MB/s"
echo "  tr | sort | uniq -c      $t_tr s  $(mb "$TXT" "$t_tr") MB/s"
rm -rf "$O/wc"

t_ksort=$(secs "$B/kiln" submit --master 'local[2]' "$B/examples/sort.so" "$RECS" "$O/sorted" 8)
t_gsort=$(secs sh -c "LC_ALL=C sort --parallel=2 -S 8G -o '$O/gsorted' '$RECS'")
same=$(cat "$O"/sorted/part-* | cmp -s - "$O/gsorted" && echo "identical" || echo "DIFFERENT")
echo "sort of $(( $(stat -L -c %s "$RECS") / 1048576 )) MiB of 100-byte records, file to files (outputs $same):"
echo "  kiln local[2]            $t_ksort s  $(mb "$RECS" "$t_ksort") MB/s"
echo "  LC_ALL=C sort --parallel=2 -S 8G   $t_gsort s  $(mb "$RECS" "$t_gsort") MB/s"
rm -rf "$O/sorted" "$O/gsorted"
fi

SECRET_FLAGS=
if [ "${BENCH_SECRET:-}" = 1 ]; then
  (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$O/secret")
  SECRET_FLAGS="--secret-file $O/secret"
  export KILN_SECRET_FILE=$O/secret
fi
echo "protection: $([ -n "$SECRET_FLAGS" ] && echo "shared secret, every frame sealed" || echo "none (no secret)")"
start_driver "$O/driver" $SECRET_FLAGS
start_worker "$O/w1" 1 $SECRET_FLAGS
start_worker "$O/w2" 1 $SECRET_FLAGS
wait_workers 2
# five runs of each, alternating; the job with the shuffle and the same job
# without it (records made and counted), so the shuffle's own cost shows
for i in 1 2 3 4 5; do
  "$KILN" submit "$B/bench/bench.so" shuffle 1000 4 | awk '{ print $2 }' >> "$O/t_shuffle"
  "$KILN" submit "$B/bench/bench.so" gen 1000 4 | awk '{ print $2 }' >> "$O/t_gen"
done
med() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ts=$(med "$O/t_shuffle")
tg=$(med "$O/t_gen")
echo "shuffle between two workers (1 slot each), 1000 MB of 100-byte records repartitioned 4 ways, median of 5:"
echo "  whole job (make records, partition, write, fetch, read, count)  $ts s  $(echo "$ts" | awk '{ printf "%.0f", 1000 / $1 }') MB/s"
echo "  the same job without the shuffle (make records, count)          $tg s  $(echo "$tg" | awk '{ printf "%.0f", 1000 / $1 }') MB/s"
echo "  the shuffle alone (1000 MB / the difference)                    $(echo "$ts $tg" | awk '{ printf "%.3f s  %.0f MB/s", $1 - $2, 1000 / ($1 - $2) }')"
echo "  all runs (s): shuffle $(tr '\n' ' ' < "$O/t_shuffle")/ gen $(tr '\n' ' ' < "$O/t_gen")"
