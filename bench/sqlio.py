"""kiln.sql's CSV reader and Python UDFs beside their peers, in one run.

    python3 bench/sqlio.py [N] [csv|udf|pandas_udf ...]   (default 10,000,000 rows, all three)

csv: the db-benchmark groupby table (sqlbench.table, N rows) written once
to $SQL_BENCH_DIR (default /tmp/kiln-bench) as G1_<N>_1e2_0_0.csv; then
spark.read.csv(path, header=True, schema=...) to a count, beside
pandas.read_csv of the same file with the same dtypes (one process, one
core), answers compared (row counts).

udf: a row-at-a-time Python UDF (x * 2.0 + 1.0) over N doubles, summed by
SQL so every value goes through it, against a plain Python loop calling
the same function over the same doubles (a for loop keeping each result
in a list, then summed); per slot = N / (2 slots * kiln
time) rows/s against the loop's rows/s.

pandas_udf: the same function as a pandas_udf (Series -> Series), against
calling it on one pandas Series of N/2 doubles (one slot's share).
"""
import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sqlbench import table  # noqa: E402

SCHEMA = ("id1 STRING, id2 STRING, id3 STRING, id4 INT, id5 INT, id6 INT, v1 INT, v2 INT, v3 DOUBLE")
DTYPES = {"id1": str, "id2": str, "id3": str, "id4": "int32", "id5": "int32", "id6": "int32",
          "v1": "int32", "v2": "int32", "v3": "float64"}
SLOTS = 2


def timed(f):
    t = time.perf_counter()
    r = f()
    return time.perf_counter() - t, r


def csv_file(n):
    d = os.environ.get("SQL_BENCH_DIR", "/tmp/kiln-bench")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "G1_%d_1e2_0_0.csv" % n)
    if not os.path.exists(path):
        t, _ = timed(lambda: table(n).to_csv(path + ".tmp", index=False, float_format="%.6f"))
        os.rename(path + ".tmp", path)
        print("wrote %s in %.1f s" % (path, t))
    return path


def bench_csv(spark, n):
    path = csv_file(n)
    print("csv: %s, %.0f MB" % (path, os.path.getsize(path) / 1e6))
    tk, cnt = timed(lambda: spark.read.csv(path, header=True, schema=SCHEMA).count())
    tp, pdf = timed(lambda: pd.read_csv(path, dtype=DTYPES, engine="c"))
    assert cnt == len(pdf) == n, (cnt, len(pdf), n)
    print("read.csv to a count: kiln %.2f s, pandas.read_csv %.2f s: kiln/pandas speed %.2fx (target >= 1)"
          % (tk, tp, tp / tk))


def f(x):
    return x * 2.0 + 1.0


def loop(xs):
    """The plain Python loop: f called on each value, the results kept, summed."""
    out = []
    for x in xs:
        out.append(f(x))
    return sum(out)


def bench_udf(spark, n):
    from kiln.sql import functions as F, types as T
    twice = F.udf(f, T.DoubleType())
    df = spark.range(0, n, 1, SLOTS).select((F.col("id") * 0.5).alias("x"))
    tk, got = timed(lambda: df.select(F.sum(twice(F.col("x"))).alias("s")).collect()[0]["s"])
    xs = (np.arange(n, dtype=np.int64) * 0.5).tolist()
    tl, want = timed(lambda: loop(xs))
    assert abs(got - want) <= 1e-9 * abs(want), (got, want)
    print("udf over %d doubles: kiln %.2f s on %d slots (%.0f rows/s per slot), Python loop %.2f s (%.0f rows/s): "
          "per slot %.2fx (target >= 0.7)" % (n, tk, SLOTS, n / SLOTS / tk, tl, n / tl, tl / (SLOTS * tk)))


def bench_pandas_udf(spark, n):
    from kiln.sql import functions as F, types as T
    vec = F.pandas_udf(f, T.DoubleType())
    df = spark.range(0, n, 1, SLOTS).select((F.col("id") * 0.5).alias("x"))
    tk, got = timed(lambda: df.select(F.sum(vec(F.col("x"))).alias("s")).collect()[0]["s"])
    s = pd.Series(np.arange(n // SLOTS, dtype=np.int64) * 0.5)
    tp, part = timed(lambda: f(s).sum())  # one slot's share, one Series
    want = float(f(pd.Series(np.arange(n, dtype=np.int64) * 0.5)).sum())
    assert abs(got - want) <= 1e-9 * abs(want), (got, want)
    print("pandas_udf over %d doubles: kiln %.2f s on %d slots, one Series of %d per slot %.3f s: per slot %.2fx "
          "(target >= 0.8)" % (n, tk, SLOTS, n // SLOTS, tp, tp / tk))


def main():
    n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10_000_000
    which = sys.argv[2:] or ["csv", "udf", "pandas_udf"]
    from kiln.sql import SparkSession
    spark = SparkSession.builder.appName("sqlio").master(os.environ.get("KILN_MASTER", "local[%d]" % SLOTS)) \
        .getOrCreate()
    for w in which:
        {"csv": bench_csv, "udf": bench_udf, "pandas_udf": bench_pandas_udf}[w](spark, n)
    spark.stop()


if __name__ == "__main__":
    main()
