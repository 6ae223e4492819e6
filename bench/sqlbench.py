"""kiln.sql's db-benchmark groupby questions q1-q5 beside pandas (one
process) and Dask DataFrame (2 worker processes), answers compared.

The table has h2oai's G1_<N>_1e2_0_0 layout: id1, id2 (K=100 strings
"id001".."id100"), id3 (N/K strings "id0000000001".."), id4, id5 (K ints),
id6 (N/K ints), v1 (1..5), v2 (1..15), v3 (uniform 0..100, 6 decimals),
generated with numpy (seed 1). kiln loads it with createDataFrame from
pandas, caches it (columnar) and counts it before timing; each question
runs through spark.sql over the cached view.

    python3 bench/sqlbench.py [N]        (default 10,000,000 rows)
"""
import os
import sys
import time

import numpy as np
import pandas as pd

K = 100
QUESTIONS = {
    "q1": ("SELECT id1, sum(v1) AS v1 FROM x GROUP BY id1", ["id1"], {"v1": "sum"}),
    "q2": ("SELECT id1, id2, sum(v1) AS v1 FROM x GROUP BY id1, id2", ["id1", "id2"], {"v1": "sum"}),
    "q3": ("SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM x GROUP BY id3", ["id3"], {"v1": "sum", "v3": "mean"}),
    "q4": ("SELECT id4, avg(v1) AS v1, avg(v2) AS v2, avg(v3) AS v3 FROM x GROUP BY id4", ["id4"],
           {"v1": "mean", "v2": "mean", "v3": "mean"}),
    "q5": ("SELECT id6, sum(v1) AS v1, sum(v2) AS v2, sum(v3) AS v3 FROM x GROUP BY id6", ["id6"],
           {"v1": "sum", "v2": "sum", "v3": "sum"}),
}


def table(n):
    rng = np.random.default_rng(1)
    nk = max(1, n // K)
    ids_k = np.array(["id%03d" % i for i in range(1, K + 1)], dtype=object)
    ids_nk = np.array(["id%010d" % i for i in range(1, nk + 1)], dtype=object)
    return pd.DataFrame({
        "id1": ids_k[rng.integers(0, K, n)], "id2": ids_k[rng.integers(0, K, n)],
        "id3": ids_nk[rng.integers(0, nk, n)], "id4": rng.integers(1, K + 1, n).astype(np.int32),
        "id5": rng.integers(1, K + 1, n).astype(np.int32), "id6": rng.integers(1, nk + 1, n).astype(np.int32),
        "v1": rng.integers(1, 6, n).astype(np.int32), "v2": rng.integers(1, 16, n).astype(np.int32),
        "v3": np.round(rng.uniform(0, 100, n), 6)})


def timed(f):
    t = time.perf_counter()
    r = f()
    return time.perf_counter() - t, r


def canon(frame, keys):
    frame = frame.sort_values(keys).reset_index(drop=True)
    return frame[sorted(frame.columns)]


def same(a, b, keys):
    a, b = canon(a, keys), canon(b, keys)
    assert len(a) == len(b), (len(a), len(b))
    for c in a.columns:
        if a[c].dtype.kind == "f" or b[c].dtype.kind == "f":
            assert np.allclose(a[c].astype(float), b[c].astype(float), rtol=1e-9), c
        else:
            assert (a[c].astype(str).to_numpy() == b[c].astype(str).to_numpy()).all(), c


def main():
    n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10_000_000
    print("rows: %d  (G1_%s_1e2_0_0 layout)" % (n, "%.0e" % n))
    t, pdf = timed(lambda: table(n))
    print("generate: %.1f s" % t)

    from kiln.sql import SparkSession
    spark = SparkSession.builder.appName("sqlbench").master(os.environ.get("KILN_MASTER", "local[2]")).getOrCreate()
    t, df = timed(lambda: spark.createDataFrame(pdf).cache())
    t2, cnt = timed(df.count)
    assert cnt == n
    df.createOrReplaceTempView("x")
    print("kiln load + cache + count: %.1f s" % (t + t2))

    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    ddf = dd.from_pandas(pdf, npartitions=2).persist()
    len(ddf)

    totals = {"kiln": 0.0, "pandas": 0.0, "dask": 0.0}
    print("%-4s %10s %10s %10s" % ("q", "kiln s", "pandas s", "dask s"))
    for q, (sql, keys, aggs) in QUESTIONS.items():
        tk, got = timed(lambda: spark.sql(sql).toPandas())
        tp, want = timed(lambda: pdf.groupby(keys, sort=False).agg(aggs).reset_index())
        td, dres = timed(lambda: ddf.groupby(keys).agg(aggs).compute().reset_index())
        same(got, want, keys)
        same(dres, want, keys)
        totals["kiln"] += tk
        totals["pandas"] += tp
        totals["dask"] += td
        print("%-4s %10.2f %10.2f %10.2f" % (q, tk, tp, td))
    print("%-4s %10.2f %10.2f %10.2f" % ("sum", totals["kiln"], totals["pandas"], totals["dask"]))
    print("kiln vs pandas: %.2fx   kiln vs dask: %.2fx" % (totals["pandas"] / totals["kiln"],
                                                           totals["dask"] / totals["kiln"]))
    client.close()
    cluster.close()
    spark.stop()


if __name__ == "__main__":
    main()
