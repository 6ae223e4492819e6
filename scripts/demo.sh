#!/usr/bin/env bash
# demo.sh - the README's first command: on an embedded local[2] cluster (a
# private driver and worker that `kiln submit --master local[2]` starts and
# removes), counts the words of the text shipped in docs/ and prints the
# most frequent ones (in C, then in Python, then in SQL), then greps and sorts
# the same text.
set -eu
B=${1:-build}
out=$(mktemp -d "${TMPDIR:-/tmp}/kiln-demo-XXXXXX")
trap 'rm -rf "$out"' EXIT
input="docs/*.md"
echo "== the 15 most frequent words of $input, by kiln's wordcount (flat_map, reduce_by_key) on local[2]:"
"$B/kiln" submit --master 'local[2]' "$B/examples/wordcount.so" --top 15 "$input" 4
echo
echo "== the same in Python (examples/wordcount.py: textFile, flatMap, map, reduceByKey), via kiln submit:"
"$B/kiln" submit --master 'local[2]' examples/wordcount.py "$input" 10
echo
echo "== the same in SQL (examples/wordcount_sql.py: a DataFrame, a temp view, a Python UDF, GROUP BY), via kiln submit:"
"$B/kiln" submit --master 'local[2]' examples/wordcount_sql.py "$input" 10
echo
echo "== lines of $input mentioning 'shuffle', by kiln's grep example:"
"$B/kiln" submit --master 'local[2]' "$B/examples/grep.so" shuffle "$input" "$out/grep" 4
cat "$out"/grep/part-* | head -n 5
echo "   ... $(cat "$out"/grep/part-* | wc -l) lines in $(ls "$out/grep" | grep -c part-) parts (grep -F finds $(cat $input | grep -cF shuffle))"
echo
echo "== the same lines sorted by their first 10 bytes (sort_by_key), first 3:"
"$B/kiln" submit --master 'local[2]' "$B/examples/sort.so" "$out/grep" "$out/sorted" 3
cat "$out"/sorted/part-* | head -n 3
