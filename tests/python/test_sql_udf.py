"""Python UDFs (row and pandas, from SQL and from the API, their errors)
and the sample application (tests/python/sqlapp) run with `kiln submit`
on a real driver and two workers, checked against numpy."""
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from kiln.sql import Row
from kiln.sql import functions as F
from kiln.sql import types as T

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "sqlapp")
PARTS = [1, 3, 17]


@pytest.mark.parametrize("p", PARTS)
def test_row_udf_sql_and_api(spark, p):
    rows = [(i, None if i % 7 == 0 else i * 0.5, None if i % 5 == 0 else "s%d" % i) for i in range(200)]
    df = spark.createDataFrame(spark.sparkContext.parallelize(rows, p), "i INT, x DOUBLE, s STRING")
    df.createOrReplaceTempView("udf_t")
    twice = spark.udf.register("twice", lambda v: None if v is None else v * 2, T.DoubleType())
    spark.udf.register("tag", lambda s, i: "%s-%d" % (s, i))  # StringType by default
    got = spark.sql("SELECT i, twice(x) AS t, tag(s, i) AS g FROM udf_t").collect()
    want = [(i, None if x is None else x * 2, "%s-%d" % (s, i)) for i, x, s in rows]
    assert sorted(map(tuple, got), key=lambda r: r[0]) == want
    api = df.select(twice("x").alias("t")).collect()
    assert sorted((r.t for r in api), key=lambda v: (v is None, v)) == \
        sorted((None if x is None else x * 2 for _, x, _ in rows), key=lambda v: (v is None, v))

    @F.udf(returnType=T.IntegerType())
    def plus_one(v):
        return v + 1
    assert df.select(plus_one(df.i)).collect()[:3] == [Row(**{"plus_one(i)": k}) for k in (1, 2, 3)]
    length = F.udf(lambda s: len(s) if s else 0, "int")
    assert sum(r[0] for r in df.select(length("s")).collect()) == sum(len(s) if s else 0 for _, _, s in rows)


def test_udf_result_types(spark):
    df = spark.createDataFrame([(1,), (2,)], "a INT")
    # PySpark: a value that is not of the declared type is NULL; StringType writes any value as Spark does
    assert df.select(F.udf(lambda a: a * 1.5)("a")).collect() == [("1.5",), ("3.0",)]
    assert df.select(F.udf(lambda a: a, T.DoubleType())("a")).collect() == [(None,), (None,)]
    assert df.select(F.udf(lambda a: a > 1, "boolean")("a")).collect() == [(False,), (True,)]
    assert df.select(F.udf(lambda a: [a, a], "array<int>")("a")).collect() == [([1, 1],), ([2, 2],)]
    assert df.select(F.udf(lambda a: 1e10 * a)("a")).collect()[0][0] == "1.0E10"


@pytest.mark.parametrize("p", PARTS)
def test_pandas_udf(spark, p):
    x = [None if i % 9 == 0 else float(i) for i in range(300)]
    df = spark.createDataFrame(spark.sparkContext.parallelize([(v,) for v in x], p), "x DOUBLE")

    @F.pandas_udf("double")
    def scaled(s: pd.Series) -> pd.Series:
        return s * 3 + 1
    spark.udf.register("scaled", scaled)
    got = sorted((r[0] for r in df.select(scaled("x")).collect()), key=lambda v: (v is None, v))
    want = sorted((None if v is None else v * 3 + 1 for v in x), key=lambda v: (v is None, v))
    assert got == want
    df.createOrReplaceTempView("pu")
    assert spark.sql("SELECT sum(scaled(x)) FROM pu").collect()[0][0] == pytest.approx(
        sum(v * 3 + 1 for v in x if v is not None))
    as_int = F.pandas_udf(lambda s: (s.fillna(-1) * 2).astype("int64"), T.LongType())
    assert sorted(r[0] for r in df.select(as_int("x")).collect()) == sorted(
        -2 if v is None else int(v * 2) for v in x)
    with pytest.raises(ValueError, match="returnType can not be None"):
        F.pandas_udf(lambda s: s)


def test_udf_errors(spark):
    import kiln
    df = spark.createDataFrame([(1,), (0,)], "a INT")

    def inverse(a):
        return 1 / a
    bad = F.udf(inverse, "double")
    with pytest.raises(kiln.KilnError) as e:
        df.select(bad("a")).collect()
    msg = str(e.value)
    assert "Python UDF inverse" in msg and "ZeroDivisionError" in msg and "return 1 / a" in msg
    import threading
    lock = threading.Lock()
    with pytest.raises(Exception, match="cannot ship.*lock"):
        df.select(F.udf(lambda a: str(lock) + str(a))("a")).collect()
    with pytest.raises(TypeError, match="not a function"):
        F.udf(3)


def test_sample_application(cluster, tmp_path):
    """The sample project with `kiln submit`, from its folder, no --py-files,
    on its own driver and two workers. Its UDF lives in data/data_source.py,
    a module of a namespace package (data/ has no __init__.py): kiln ships
    the script's folder, so the workers find it with nothing set for them."""
    from conftest import Cluster
    c = Cluster(str(tmp_path / "cluster"))
    try:
        out = tmp_path / "out.csv"
        kiln_bin = os.path.join(os.environ.get("KILN_BUILD", "build"), "kiln")
        r = subprocess.run([os.path.abspath(kiln_bin), "submit", "--master", c.master, "project.py", str(out)],
                           cwd=APP, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "[100000 rows x 1 columns]" in r.stdout and "squared" in r.stdout
    finally:
        c.stop()
    got = pd.read_csv(out, dtype={"squared": str})["squared"]
    sys.path.insert(0, APP)
    try:
        from data.data_source import values
        vals = values()
    finally:
        sys.path.remove(APP)
    # FloatType stores float32; the UDF squares the double it holds; StringType writes it as Java does
    want = np.float32(np.array(vals)).astype(np.float64) ** 2
    assert len(got) == len(want) == 100000
    assert np.array_equal(got.astype(np.float64).to_numpy(), want)  # in the RDD's order, as PySpark's


def test_worker_killed_mid_group_by(cluster, tmp_path):
    """A SQL group-by whose map tasks are slow (a UDF that sleeps) loses a
    worker while it runs: the driver reruns what was lost from lineage and
    the answer is still right."""
    import signal
    import threading
    import time

    import kiln
    from conftest import Cluster
    from kiln.sql import SparkSession
    c = Cluster(str(tmp_path / "cluster"), workers=3, slots=1)
    try:
        sc = kiln.Context(c.master, "sql-fault")
        spark = SparkSession(sc)
        data = [(i % 13, i) for i in range(6000)]
        df = spark.createDataFrame(sc.parallelize(data, 12), "k INT, v INT")

        def slow(v):
            time.sleep(0.001)
            return v
        spark.udf.register("slow", slow, T.IntegerType())
        df.createOrReplaceTempView("f")
        result = {}

        def run():
            result["rows"] = spark.sql("SELECT k, sum(slow(v)) s, count(*) n FROM f GROUP BY k").collect()
        th = threading.Thread(target=run)
        th.start()
        time.sleep(1.0)
        victim, _ = c.workers[0]
        victim.send_signal(signal.SIGKILL)
        th.join(300)
        assert not th.is_alive()
        want = {}
        for k, v in data:
            s, n = want.get(k, (0, 0))
            want[k] = (s + v, n + 1)
        assert {r.k: (r.s, r.n) for r in result["rows"]} == want
        sc.stop()
    finally:
        SparkSession._active = None
        c.stop()


def test_sql_wordcount_example(cluster, tmp_path):
    """examples/wordcount_sql.py (make demo's SQL part) through kiln submit,
    against a Counter over the same words."""
    import collections
    import random
    rng = random.Random(11)
    vocab = ["alpha", "beta", "Gamma", "delta", "ok", "epsilon", "zeta", "Über"]
    lines = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 9))) for _ in range(3000)]
    src = tmp_path / "words.txt"
    src.write_text("\n".join(lines) + "\n")
    kiln_bin = os.path.abspath(os.path.join(os.environ.get("KILN_BUILD", "build"), "kiln"))
    example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "wordcount_sql.py")
    r = subprocess.run([kiln_bin, "submit", "--master", cluster.master, example, str(src), "5"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    c = collections.Counter(w.lower() for l in lines for w in l.split() if len(w) > 3)
    want = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    rows = [line.strip("|").split("|") for line in r.stdout.splitlines() if line.startswith("|")][1:]
    got = [(w.strip(), int(n)) for w, _, n in rows]
    assert got == want
    assert all(i.strip() == w.strip()[0].upper() for w, i, _ in rows)
