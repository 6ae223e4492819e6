#!/usr/bin/env bash
# demo.sh - the README's first command: counts and greps the text shipped in
# docs/ on an embedded local[2] cluster (a private driver and worker that
# `kiln submit --master local[2]` starts and removes).
set -eu
B=${1:-build}
out=$(mktemp -d "${TMPDIR:-/tmp}/kiln-demo-XXXXXX")
trap 'rm -rf "$out"' EXIT
input=docs/architecture.md
echo "== lines in $input, counted by kiln on local[2]:"
"$B/kiln" submit --master 'local[2]' "$B/examples/linecount.so" "$input" 4
echo "== wc -l says:"
wc -l < "$input"
echo "== lines mentioning 'driver', found by kiln's grep example:"
"$B/kiln" submit --master 'local[2]' "$B/examples/grep.so" driver "$input" "$out/grep" 4
cat "$out"/grep/part-* | head -n 10
echo "== ($(cat "$out"/grep/part-* | wc -l) lines in $(ls "$out/grep" | grep -c part-) parts; _SUCCESS: $(test -f "$out/grep/_SUCCESS" && echo yes))"
