#!/usr/bin/env bash
# shuffle.sh - kiln's shuffle tests on a real driver and three real workers:
# wordcount, sort, join, group_by_key, distinct, repartition, union of
# shuffles, pagerank and cache, for 1, 3 and 17 partitions, each compared
# with an independent oracle (mawk, LC_ALL=C sort, sqlite3) on generated
# data; edge cases; and spilling with task.memory at 4 MiB.
# Prints "N passed, M failed"; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-shuffle-XXXXXX")
trap 'stop_all; rm -rf "$T"' EXIT
sanitizer_logs "$T/sanitizer"
APPS=$B/tests/apps
EX=$B/examples
SPILL_MB=${KILN_SPILL_MB:-200}

# ---- data ------------------------------------------------------------------------
# Zipf-like words: rank r drawn log-uniformly from 1..VOCAB, so the rank-r
# word appears about 1/r of the time
zipf() { # zipf LINES SEED VOCAB
  mawk -v lines="$1" -v seed="$2" -v vocab="$3" 'BEGIN {
    srand(seed); L = log(vocab + 1);
    for (i = 0; i < lines; i++) {
      w = 3 + int(rand() * 10); s = "";
      for (j = 0; j < w; j++) s = s (j ? " " : "") "w" int(exp(rand() * L));
      print s
    }
  }'
}
zipf 30000 1 20000 > "$T/zipf.txt"
# 100-byte records: a 10-byte key from a small alphabet (many equal keys) and a payload
mawk 'BEGIN { srand(2); for (i = 0; i < 40000; i++) {
  k = ""; for (j = 0; j < 10; j++) k = k sprintf("%c", 65 + int(rand() * rand() * 6));
  printf "%s%089d\n", k, int(rand() * 1e9) } }' > "$T/recs.txt"
# join inputs with duplicate keys on both sides
mawk 'BEGIN { srand(3); for (i = 0; i < 6000; i++) printf "k%d\tL%d\n", int(rand() * 900), i }' > "$T/left.txt"
mawk 'BEGIN { srand(4); for (i = 0; i < 4000; i++) printf "k%d\tR%d\n", int(rand() * 1200), i }' > "$T/right.txt"
# key/value lines, skewed: half of them on one key
mawk 'BEGIN { srand(5); for (i = 0; i < 30000; i++) {
  k = rand() < 0.5 ? "hot" : "k" int(rand() * 2000); printf "%s\t%d\n", k, int(rand() * 1000) } }' > "$T/kv.txt"
: > "$T/empty.txt"

start_driver "$T/driver"
start_worker "$T/w1" 2
start_worker "$T/w2" 2
start_worker "$T/w3" 2
wait_workers 3 || { fail cluster "workers did not register"; summary; exit 1; }
pass cluster_of_three

wc_oracle() { mawk '{ for (i = 1; i <= NF; i++) c[$i]++ } END { for (w in c) printf "%s\t%d\n", w, c[w] }' "$1" | LC_ALL=C sort; }
wc_oracle "$T/zipf.txt" > "$T/wc.want"
LC_ALL=C sort "$T/recs.txt" > "$T/sort.want"
LC_ALL=C sort -r "$T/recs.txt" > "$T/sortdesc.want"
sqlite3 -separator $'\t' :memory: "create table l(k, v); create table r(k, v);" ".import $T/left.txt l" \
  ".import $T/right.txt r" "select l.k, l.v, r.v from l join r on l.k = r.k;" | LC_ALL=C sort > "$T/join.want"
sqlite3 -separator $'\t' :memory: "create table t(k, v);" ".import $T/kv.txt t" \
  "select k, count(*), sum(length(v)) from t group by k;" | LC_ALL=C sort > "$T/group.want"
LC_ALL=C sort -u "$T/kv.txt" > "$T/distinct.want"

for P in 1 3 17; do
  # wordcount
  rm -rf "$T/wc.out"
  "$KILN" submit "$EX/wordcount.so" "$T/zipf.txt" "$T/wc.out" $P 2>"$T/err"
  if cat "$T"/wc.out/part-* 2>/dev/null | LC_ALL=C sort | cmp -s - "$T/wc.want"; then pass "wordcount_$P"; else fail "wordcount_$P" "$(head -c 300 "$T/err")"; fi
  # sort: byte-identical to LC_ALL=C sort, ascending and descending
  rm -rf "$T/sort.out" "$T/sortd.out"
  "$KILN" submit "$EX/sort.so" "$T/recs.txt" "$T/sort.out" $P 2>"$T/err"
  if cat "$T"/sort.out/part-* 2>/dev/null | cmp -s - "$T/sort.want"; then pass "sort_$P"; else fail "sort_$P" "$(head -c 300 "$T/err")"; fi
  "$KILN" submit "$EX/sort.so" "$T/recs.txt" "$T/sortd.out" $P desc 2>"$T/err"
  if cat "$T"/sortd.out/part-* 2>/dev/null | cmp -s - "$T/sortdesc.want"; then pass "sort_desc_$P"; else fail "sort_desc_$P" "$(head -c 300 "$T/err")"; fi
  if [ $P -gt 1 ]; then
    # many equal keys must not all land in one partition
    biggest=$(wc -l "$T"/sort.out/part-* | grep -v total | sort -n | tail -1 | awk '{print $1}')
    [ "$biggest" -lt 30000 ] && pass "sort_balanced_$P" || fail "sort_balanced_$P" "largest partition $biggest of 40000"
  fi
  # join: the same multiset of rows as sqlite3
  rm -rf "$T/join.out"
  "$KILN" submit "$EX/join.so" "$T/left.txt" "$T/right.txt" "$T/join.out" $P 2>"$T/err"
  if cat "$T"/join.out/part-* 2>/dev/null | LC_ALL=C sort | cmp -s - "$T/join.want"; then pass "join_$P"; else fail "join_$P" "$(head -c 300 "$T/err")"; fi
  # group_by_key sizes vs GROUP BY
  "$KILN" submit "$APPS/shuf.so" group "$T/kv.txt" $P 2>"$T/err" | LC_ALL=C sort > "$T/group.got"
  cmp -s "$T/group.got" "$T/group.want" && pass "group_by_key_$P" || fail "group_by_key_$P" "$(head -c 300 "$T/err")"
  # distinct vs sort -u
  "$KILN" submit "$APPS/shuf.so" distinct "$T/kv.txt" $P 2>"$T/err" | LC_ALL=C sort > "$T/distinct.got"
  cmp -s "$T/distinct.got" "$T/distinct.want" && pass "distinct_$P" || fail "distinct_$P" "$(head -c 300 "$T/err")"
  # repartition keeps every record
  "$KILN" submit "$APPS/shuf.so" repartition "$T/kv.txt" $P 2>"$T/err" | LC_ALL=C sort > "$T/rep.got"
  LC_ALL=C sort "$T/kv.txt" | cmp -s - "$T/rep.got" && pass "repartition_$P" || fail "repartition_$P" "$(head -c 300 "$T/err")"
  # union of two shuffled datasets, reduced again
  "$KILN" submit "$APPS/shuf.so" union "$T/kv.txt" $P 2>"$T/err" | LC_ALL=C sort > "$T/union.got"
  mawk -F'\t' '{ c[$1] += 2 } END { for (k in c) printf "%s\t%d\n", k, c[k] }' "$T/kv.txt" | LC_ALL=C sort |
    cmp -s - "$T/union.got" && pass "union_of_shuffles_$P" || fail "union_of_shuffles_$P" "$(head -c 300 "$T/err")"
done

# ---- pagerank vs a reference computed by mawk -------------------------------------------
mawk 'BEGIN { srand(9); for (i = 0; i < 400; i++) { n = 1 + int(rand() * 6);
  for (j = 0; j < n; j++) printf "p%d p%d\n", i, int(rand() * rand() * 400) } }' > "$T/edges.txt"
mawk '{ src[NR] = $1; dst[NR] = $2; deg[$1]++; rank[$1] = 1.0 } END {
  for (it = 0; it < 6; it++) {
    split("", c); split("", got)
    for (e = 1; e <= NR; e++) if (src[e] in rank) { c[dst[e]] += rank[src[e]] / deg[src[e]]; got[dst[e]] = 1 }
    split("", rank)
    for (p in got) rank[p] = 0.15 + 0.85 * c[p]
  }
  for (p in rank) printf "%s\t%.12f\n", p, rank[p]
}' "$T/edges.txt" | LC_ALL=C sort > "$T/pr.want"
for P in 1 3; do
  "$KILN" submit "$EX/pagerank.so" "$T/edges.txt" 6 $P > "$T/pr.got" 2>"$T/err"
  if [ "$(cut -f1 "$T/pr.got")" = "$(cut -f1 "$T/pr.want")" ] &&
     paste "$T/pr.got" "$T/pr.want" | mawk -F'\t' '{ d = $2 - $4; if (d < 0) d = -d; if (d > 1e-6) bad++ } END { exit bad > 0 }'; then
    pass "pagerank_$P"
  else
    fail "pagerank_$P" "$(head -c 300 "$T/err") $(diff <(cut -f1 "$T/pr.got") <(cut -f1 "$T/pr.want") | head -5)"
  fi
done

# ---- cache: the second action reads the kept partitions --------------------------------------
got=$("$KILN" submit "$APPS/shuf.so" cache "$T/kv.txt" 3 2>&1)
set -- $got
keys=$(cut -f1 "$T/kv.txt" | sort -u | wc -l)
if [ "${1:-}" = "$keys" ] && [ "${2:-}" = "$keys" ] && [ "${3:-}" = "$keys" ] && [ "${4:-}" = "$keys" ]; then
  pass cache_not_recomputed
else
  fail cache_not_recomputed "got '$got' want '$keys $keys $keys $keys'"
fi

# ---- edge cases ----------------------------------------------------------------------------
rm -rf "$T/e.out"
"$KILN" submit "$EX/wordcount.so" "$T/empty.txt" "$T/e.out" 3 2>"$T/err"
[ -f "$T/e.out/_SUCCESS" ] && [ -z "$(cat "$T"/e.out/part-* 2>/dev/null)" ] && pass empty_input || fail empty_input "$(cat "$T/err")"
printf 'a\tb\n' > "$T/one.txt"
got=$("$KILN" submit "$APPS/shuf.so" group "$T/one.txt" 17 2>&1)
[ "$got" = "$(printf 'a\t1\t1')" ] && pass empty_partitions || fail empty_partitions "$got"
"$KILN" submit "$APPS/shuf.so" big 1 3 > "$T/big.got" 2>"$T/err"
cat > "$T/big.want" <<'BIG'
	6	6291456
k0	2	2097152
k1	2	2097152
k2	2	2097152
	1048576	a
	1048576	c
	1048576	e
	1048576	g
	1048576	i
	1048576	k
k0	1048576	d
k0	1048576	j
k1	1048576	b
k1	1048576	h
k2	1048576	f
k2	1048576	l
BIG
# the reduce part: one record per key, with the largest value
printf '\t1048576\tk\nk0\t1048576\tj\nk1\t1048576\th\nk2\t1048576\tl\n' | LC_ALL=C sort > "$T/bigr.want"
# groups come in partition order (by hash): compared sorted; the sort part in its order
if { head -4 "$T/big.got" | LC_ALL=C sort; sed -n 5,16p "$T/big.got"; } | cmp -s - "$T/big.want" &&
   tail -n +17 "$T/big.got" | LC_ALL=C sort | cmp -s - "$T/bigr.want"; then
  pass keys_values_0_and_1mib
else
  fail keys_values_0_and_1mib "$(head -c 300 "$T/err")"
fi
got=$("$KILN" submit "$APPS/shuf.so" group "$T/kv.txt" 3 2>&1 | grep '^hot')
want=$(grep '^hot' "$T/group.want")
[ "$got" = "$want" ] && pass one_key_holds_half || fail one_key_holds_half "$got vs $want"

# ---- spilling: task.memory=4m over SPILL_MB of text gives the same answers -------------------
zipf $((SPILL_MB * 1000000 / 43)) 7 3000000 > "$T/spill.txt"
log "spill input: $(wc -c < "$T/spill.txt") bytes"
wc_oracle "$T/spill.txt" > "$T/spillwc.want"
# last_spills: the spill count of the driver's last finished job
last_spills() { grep 'job succeeded' "$T/driver/driver.log" | tail -1 | sed 's/.*spills=\([0-9]*\).*/\1/'; }
rm -rf "$T/spillwc.out"
"$KILN" submit --conf task.memory=4m "$EX/wordcount.so" "$T/spill.txt" "$T/spillwc.out" 6 2>"$T/err"
cat "$T"/spillwc.out/part-* 2>/dev/null | LC_ALL=C sort | cmp -s - "$T/spillwc.want" && pass spill_wordcount || fail spill_wordcount "$(head -c 300 "$T/err")"
n=$(last_spills); [ "${n:-0}" -gt 0 ] && pass spill_wordcount_spilled || fail spill_wordcount_spilled "spills=$n"
mawk '{ printf "%s\t%s\n", $1, $0 }' "$T/spill.txt" > "$T/spillkv.txt"
sqlite3 -separator $'\t' :memory: "create table t(k, v);" ".import $T/spillkv.txt t" \
  "select k, count(*), sum(length(v)) from t group by k;" | LC_ALL=C sort > "$T/spillg.want"
"$KILN" submit --conf task.memory=4m "$APPS/shuf.so" group "$T/spillkv.txt" 6 2>"$T/err" | LC_ALL=C sort > "$T/spillg.got"
cmp -s "$T/spillg.got" "$T/spillg.want" && pass spill_group_by_key || fail spill_group_by_key "$(head -c 300 "$T/err")"
n=$(last_spills); [ "${n:-0}" -gt 0 ] && pass spill_group_spilled || fail spill_group_spilled "spills=$n"
# a map_partitions right after the shuffle pulls the whole reduced partition:
# 2 partitions of SPILL_MB/2 each, within a 96 MiB executor (task.memory_limit;
# not under ASan, whose quarantine keeps freed memory counted)
limit="--conf task.memory_limit=96m"
[ -n "${KILN_SAN:-}" ] && limit=""
"$KILN" submit --conf task.memory=4m $limit "$APPS/shuf.so" mpgroup "$T/spillkv.txt" 2 \
  2>"$T/err" | LC_ALL=C sort > "$T/spillmp.got"
cmp -s "$T/spillmp.got" "$T/spillg.want" && pass spill_map_partitions_after_shuffle ||
  fail spill_map_partitions_after_shuffle "$(head -c 300 "$T/err")"
rm -rf "$T/spills.out"
"$KILN" submit --conf task.memory=4m "$EX/sort.so" "$T/spill.txt" "$T/spills.out" 6 2>"$T/err"
cat "$T"/spills.out/part-* 2>/dev/null | cmp -s - <(LC_ALL=C sort "$T/spill.txt") && pass spill_sort || fail spill_sort "$(head -c 300 "$T/err")"
n=$(last_spills); [ "${n:-0}" -gt 0 ] && pass spill_sort_spilled || fail spill_sort_spilled "spills=$n"
left=$(find "$T"/w[123]/app-*/tmp -type f 2>/dev/null | wc -l)
[ "$left" -eq 0 ] && pass no_spill_files_left || fail no_spill_files_left "$(find "$T"/w[123]/app-*/tmp -type f | head -3)"

# ---- an application's shuffle and cache files go when it ends ---------------------------------
# the last application's end reaches the workers
wait_until '[ -z "$(find "$T"/w[123]/app-*/shuffle "$T"/w[123]/app-*/cache -type f 2>/dev/null)" ]' || true
left=$(find "$T"/w[123]/app-*/shuffle "$T"/w[123]/app-*/cache -type f 2>/dev/null | wc -l)
[ "$left" -eq 0 ] && pass shuffle_files_removed || fail shuffle_files_removed "$(find "$T"/w[123]/app-*/shuffle "$T"/w[123]/app-*/cache -type f | head -3)"

stop_all
summary
