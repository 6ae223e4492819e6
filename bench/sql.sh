#!/usr/bin/env bash
# sql.sh - kiln.sql's db-benchmark groupby q1-q5 beside pandas and Dask
# DataFrame (2 worker processes), answers compared. Usage: bench/sql.sh [BUILD]
# SQL_ROWS sets the table's rows (default 10,000,000).
set -eu
cd "$(dirname "$0")/.."
B=$(cd "${1:-build}" && pwd)
PY=/usr/bin/python3
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); $($PY --version)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); load: $(cut -d" " -f1-3 /proc/loadavg)"
export PYTHONPATH=$B/python KILN_BINDIR=$B
$PY bench/sqlbench.py "${SQL_ROWS:-10000000}"
