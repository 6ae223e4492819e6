#!/usr/bin/env bash
# sqlio.sh - kiln.sql's read.csv, row UDF and pandas_udf beside pandas and
# plain Python in the same run. Usage: bench/sqlio.sh [BUILD]
# SQL_ROWS sets the rows (default 10,000,000); SQL_IO picks parts (csv udf pandas_udf).
set -eu
cd "$(dirname "$0")/.."
B=$(cd "${1:-build}" && pwd)
PY=/usr/bin/python3
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); $($PY --version)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
export PYTHONPATH=$B/python KILN_BINDIR=$B
# shellcheck disable=SC2086
$PY bench/sqlio.py "${SQL_ROWS:-10000000}" ${SQL_IO:-}
