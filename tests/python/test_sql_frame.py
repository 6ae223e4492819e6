"""The DataFrame API on a real driver and two workers, against plain
Python and pandas oracles, for 1, 3 and 17 partitions, with nulls in keys
and values."""
import datetime
import math
import random
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from kiln.sql import AnalysisException, Row
from kiln.sql import functions as F
from kiln.sql import types as T

PARTS = [1, 3, 17]
SCHEMA = "k INT, g STRING, x DOUBLE, s STRING"


def gen(n=400, seed=7):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = None if rng.random() < 0.1 else rng.randint(-5, 20)
        g = None if rng.random() < 0.1 else rng.choice(["a", "b", "c", "dd"])
        x = None if rng.random() < 0.1 else round(rng.uniform(-100, 100), 3)
        s = None if rng.random() < 0.1 else rng.choice(["apple", "banana", "cherry", "", "Apple pie", "date"])
        rows.append((k, g, x, s))
    return rows


def frame(spark, rows, p, schema=SCHEMA):
    return spark.createDataFrame(spark.sparkContext.parallelize(rows, p), schema)


def key(v):
    """Sort key for rows holding None (None first)."""
    return tuple((0, 0) if x is None else (1, x) for x in v)


def same(got, want, ndigits=6):
    def norm(r):
        return tuple(round(v, ndigits) if isinstance(v, float) and not math.isnan(v) else v for v in r)
    assert sorted(map(norm, got), key=key) == sorted(map(norm, want), key=key)


def test_create_variants(spark, sc):
    df = spark.createDataFrame([(1, "a"), (2, None)], "id INT, name STRING")
    assert df.schema == T.StructType([T.StructField("id", T.IntegerType()), T.StructField("name", T.StringType())])
    assert df.collect() == [Row(id=1, name="a"), Row(id=2, name=None)]
    inferred = spark.createDataFrame([Row(a=1, b="x", c=1.5, d=True, e=datetime.date(2020, 1, 2))])
    assert inferred.dtypes == [("a", "bigint"), ("b", "string"), ("c", "double"), ("d", "boolean"), ("e", "date")]
    dicts = spark.createDataFrame([{"b": 1, "a": "x"}, {"a": "y", "b": None}])
    assert dicts.columns == ["a", "b"] and dicts.collect() == [("x", 1), ("y", None)]
    named = spark.createDataFrame([(1, 2.0)], ["p", "q"])
    assert named.dtypes == [("p", "bigint"), ("q", "double")]
    atomic = spark.createDataFrame([1, 2, 3], T.IntegerType())
    assert atomic.columns == ["value"] and [r.value for r in atomic.collect()] == [1, 2, 3]
    pdf = pd.DataFrame({"i": np.array([1, 2], dtype=np.int32), "f": [0.5, np.nan], "o": ["u", None]})
    fromp = spark.createDataFrame(pdf)
    assert fromp.dtypes == [("i", "int"), ("f", "double"), ("o", "string")]
    got = fromp.collect()
    assert got[0] == (1, 0.5, "u") and math.isnan(got[1][1]) and got[1][2] is None  # NaN stays NaN
    rdd = sc.parallelize([(1, "x"), (2, "y")], 2)
    assert rdd.toDF(["n", "t"]).collect() == [Row(n=1, t="x"), Row(n=2, t="y")]
    assert rdd.toDF().columns == ["_1", "_2"]
    back = df.rdd.collect()
    assert back == [Row(id=1, name="a"), Row(id=2, name=None)] and back[0].name == "a"
    fl = spark.createDataFrame([(0.1,)], "v FLOAT").collect()[0].v
    assert fl == float(np.float32(0.1)) and fl != 0.1
    assert spark.range(3).collect() == [Row(id=0), Row(id=1), Row(id=2)]
    assert spark.range(2, 11, 3, 2).toPandas()["id"].tolist() == [2, 5, 8]
    empty = spark.createDataFrame([], "a INT")
    assert empty.count() == 0 and empty.collect() == []


def test_create_errors(spark):
    with pytest.raises(TypeError, match="IntegerType"):
        spark.createDataFrame([(1.5,)], "a INT")
    with pytest.raises(TypeError, match="infer schema"):
        spark.createDataFrame([1, 2])
    with pytest.raises(ValueError, match="not nullable"):
        spark.createDataFrame([(None,)], T.StructType([T.StructField("a", T.LongType(), False)]))


def _py_expr_rows(rows):
    out = []
    for k, g, x, s in rows:
        out.append((
            None if k is None or x is None else x * 2 + k,
            None if k is None else int(math.fmod(k, 3)),  # Java's sign
            None if s is None else s.upper(),
            None if s is None else len(s),
            0 if k is None else k,
            "pos" if x is not None and x > 0 else "neg",  # a NULL condition takes the ELSE
            None if k is None else k in (1, 2, 3),
            None if x is None else -10 <= x <= 10,
            None if s is None else s.startswith("ap"),
            k is None,
            None if k is None else k / 4,
            None if x is None else x > 0 and True,
        ))
    return out


@pytest.mark.parametrize("p", PARTS)
def test_select_expressions(spark, p):
    rows = gen()
    df = frame(spark, rows, p)
    got = df.select((df.x * 2 + df.k).alias("e1"), F.col("k") % 3, F.upper("s"), F.length(df["s"]),
                    F.coalesce("k", F.lit(0)), F.when(df.x > 0, "pos").otherwise("neg"), df.k.isin(1, 2, 3),
                    df.x.between(-10, 10), df.s.startswith("ap"), df.k.isNull(), df.k / 4,
                    (df.x > 0) & F.lit(True)).collect()
    same(got, _py_expr_rows(rows))


@pytest.mark.parametrize("p", PARTS)
def test_filter_withcolumn_drop(spark, p):
    rows = gen()
    df = frame(spark, rows, p)
    got = df.filter((df.k > 3) | df.s.like("%an%")).where("x IS NOT NULL").collect()
    want = [r for r in rows if ((r[0] is not None and r[0] > 3) or (r[3] is not None and "an" in r[3]))
            and r[2] is not None]
    same(got, want)
    df2 = df.withColumn("k", df.k + 1).withColumn("y", F.lit(1)).withColumnRenamed("g", "grp").drop("s")
    assert df2.columns == ["k", "grp", "x", "y"]
    same(df2.collect(), [(None if k is None else k + 1, g, x, 1) for k, g, x, s in rows])
    assert df.filter(~(df.k == 3)).count() == sum(1 for r in rows if r[0] is not None and r[0] != 3)
    sel = df.selectExpr("k * 2 AS kk", "upper(s)", "CASE WHEN x > 0 THEN 1 ELSE 0 END AS pos")
    assert sel.columns == ["kk", "upper(s)", "pos"]
    same(sel.collect(), [(None if k is None else k * 2, None if s is None else s.upper(),
                          1 if x is not None and x > 0 else 0) for k, g, x, s in rows])


@pytest.mark.parametrize("p", PARTS)
def test_group_by(spark, p):
    rows = gen()
    df = frame(spark, rows, p)
    got = df.groupBy("g").agg(F.count("*"), F.count("k"), F.sum("k"), F.avg("x"), F.min("s"), F.max("x"),
                              F.countDistinct("k"), F.stddev("x"), F.first("g")).collect()
    groups = defaultdict(list)
    for r in rows:
        groups[r[1]].append(r)
    want = []
    for g, rs in groups.items():
        ks = [r[0] for r in rs if r[0] is not None]
        xs = [r[2] for r in rs if r[2] is not None]
        ss = [r[3] for r in rs if r[3] is not None]
        sd = float(np.std(xs, ddof=1)) if len(xs) > 1 else None
        want.append((g, len(rs), len(ks), sum(ks) if ks else None, sum(xs) / len(xs) if xs else None,
                     min(ss) if ss else None, max(xs) if xs else None, len(set(ks)), sd, g))
    same(got, want)
    # the pandas oracle for the shortcuts
    pdf = pd.DataFrame(rows, columns=["k", "g", "x", "s"])
    exp = pdf.groupby("g", dropna=False)["x"].sum(min_count=1)
    got = {r[0]: r[1] for r in df.groupBy("g").sum("x").collect()}
    for g, v in exp.items():
        g = None if isinstance(g, float) and math.isnan(g) else g
        assert (got[g] is None and math.isnan(v)) or abs(got[g] - v) < 1e-6
    assert dict(df.groupBy("g").count().collect()) == {g: len(rs) for g, rs in groups.items()}
    lists = dict(df.groupBy("g").agg(F.collect_list("k")).collect())
    for g, rs in groups.items():
        assert sorted(lists[g]) == sorted(r[0] for r in rs if r[0] is not None)


@pytest.mark.parametrize("p", PARTS)
def test_global_agg_and_empty(spark, p):
    rows = gen()
    df = frame(spark, rows, p)
    r = df.agg(F.sum("k").alias("sk"), F.count("x"), F.max("s")).collect()
    ks = [x[0] for x in rows if x[0] is not None]
    assert r == [Row(sk=sum(ks), **{"count(x)": sum(1 for x in rows if x[2] is not None)},
                     **{"max(s)": max(x[3] for x in rows if x[3] is not None)})]
    empty = df.filter(F.lit(False))
    assert empty.agg(F.count("*"), F.sum("k")).collect() == [(0, None)]
    assert empty.groupBy("g").count().collect() == []
    assert df.select(F.sum("x") / F.count("x")).collect()[0][0] == pytest.approx(
        sum(x[2] for x in rows if x[2] is not None) / sum(1 for x in rows if x[2] is not None))


@pytest.mark.parametrize("p", PARTS)
def test_order_by(spark, p):
    rows = gen()
    df = frame(spark, rows, p)
    got = df.orderBy(F.col("g").asc_nulls_last(), df.k.desc(), "x").collect()

    def k(r):
        g, kk, x = r[1], r[0], r[2]
        return ((1, "") if g is None else (0, g), (1, 0) if kk is None else (0, -kk),
                (0, 0) if x is None else (1, x))
    want = sorted(rows, key=k)
    assert [tuple(r)[:3] for r in got] == [r[:3] for r in want]
    got2 = df.sort("k", ascending=False).select("k").collect()
    assert [r.k for r in got2] == sorted([r[0] for r in rows], key=lambda v: (v is None, -(v or 0)))
    top = df.orderBy(df.x.desc_nulls_last()).limit(5).collect()
    assert [r.x for r in top] == sorted([r[2] for r in rows if r[2] is not None], reverse=True)[:5]


@pytest.mark.parametrize("p", PARTS)
def test_distinct_and_set_ops(spark, p):
    rows = gen(200)
    df = frame(spark, rows, p)
    assert sorted(df.select("g", "k").distinct().collect(), key=key) == sorted(set((r[1], r[0]) for r in rows),
                                                                              key=key)
    dd = df.dropDuplicates(["g"]).collect()
    assert sorted(r.g for r in dd if r.g) == sorted(set(r[1] for r in rows if r[1]))
    a = df.select("g", "k")
    b = frame(spark, gen(200, seed=9), p).select("g", "k")
    ra, rb = [(r[1], r[0]) for r in rows], [(r[1], r[0]) for r in gen(200, seed=9)]
    same(a.union(b).collect(), ra + rb)
    same(a.intersect(b).collect(), list(set(ra) & set(rb)))   # NULLs are equal here, as in Spark
    same(a.subtract(b).collect(), list(set(ra) - set(rb)))
    by_name = b.select("k", "g")
    same(a.unionByName(by_name).collect(), ra + rb)
    with pytest.raises(AnalysisException, match="NUM_COLUMNS_MISMATCH"):
        a.union(df)


def _py_join(L, R, how):
    out = []
    rhit = set()
    for l in L:
        m = [j for j, r in enumerate(R) if l[0] is not None and r[0] == l[0]]
        if how == "left_semi":
            if m:
                out.append(l)
            continue
        if how == "left_anti":
            if not m:
                out.append(l)
            continue
        for j in m:
            out.append(l + R[j])
            rhit.add(j)
        if not m and how in ("left", "full"):
            out.append(l + (None, None))
    if how in ("right", "full"):
        for j, r in enumerate(R):
            if j not in rhit:
                out.append((None, None) + r)
    return out


@pytest.mark.parametrize("p", PARTS)
@pytest.mark.parametrize("how", ["inner", "left", "right", "full", "left_semi", "left_anti"])
def test_joins(spark, p, how):
    rng = random.Random(3)
    L = [(rng.choice([None, 1, 2, 2, 3, 4]), "l%d" % i) for i in range(60)]
    R = [(rng.choice([None, 2, 3, 3, 5]), "r%d" % i) for i in range(40)]
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    try:
        lf = frame(spark, L, p, "k INT, lv STRING")
        rf = frame(spark, R, p, "k2 INT, rv STRING")
        got = lf.join(rf, lf.k == rf.k2, how).collect()
        same(got, _py_join(L, R, how))
    finally:
        spark.conf.unset("spark.sql.autoBroadcastJoinThreshold")
    # the same with a broadcast of the small side (local data is small)
    lf = spark.createDataFrame(L, "k INT, lv STRING")
    rf = spark.createDataFrame(R, "k2 INT, rv STRING")
    same(lf.join(F.broadcast(rf), lf.k == rf.k2, how).collect(), _py_join(L, R, how))


def test_join_on_names_and_cross(spark):
    a = spark.createDataFrame([(1, "x"), (2, "y"), (None, "z")], "id INT, v STRING")
    b = spark.createDataFrame([(1, 10), (3, 30), (None, 0)], "id INT, w INT")
    assert a.join(b, "id").collect() == [Row(id=1, v="x", w=10)]
    assert a.join(b, ["id"], "left").columns == ["id", "v", "w"]
    full = a.join(b, "id", "full").collect()
    same(full, [(1, "x", 10), (2, "y", None), (None, "z", None), (3, None, 30), (None, None, 0)])
    assert a.crossJoin(b).count() == 9
    with pytest.raises(AnalysisException, match="AMBIGUOUS"):
        a.join(b, a.id == b.id).select("id")
    with pytest.raises(ValueError, match="Unsupported join type"):
        a.join(b, "id", "sideways")
    self_join = a.alias("l").join(a.alias("r"), F.col("l.id") == F.col("r.id")).select("l.v", "r.v").collect()
    assert sorted(self_join) == [("x", "x"), ("y", "y")]


def test_show_text(spark, capsys):
    df = spark.createDataFrame([(1, "Alice", 2.5), (None, "a string that is much longer than twenty", None)],
                               "age INT, name STRING, v DOUBLE")
    df.show()
    assert capsys.readouterr().out == (
        "+----+--------------------+----+\n"
        "| age|                name|   v|\n"
        "+----+--------------------+----+\n"
        "|   1|               Alice| 2.5|\n"
        "|null|a string that is ...|null|\n"
        "+----+--------------------+----+\n")
    df.show(1, truncate=False)
    assert capsys.readouterr().out == (
        "+---+-----+---+\n"
        "|age|name |v  |\n"
        "+---+-----+---+\n"
        "|1  |Alice|2.5|\n"
        "+---+-----+---+\n"
        "only showing top 1 row\n")
    spark.range(25).show()
    out = capsys.readouterr().out
    assert out.endswith("| 19|\n+---+\nonly showing top 20 rows\n") and out.startswith("+---+\n| id|\n+---+\n|  0|")
    spark.createDataFrame([(1e10, True, datetime.date(2021, 3, 4))], "a DOUBLE, b BOOLEAN, c DATE").show()
    assert capsys.readouterr().out.splitlines()[3] == "|1.0E10|true|2021-03-04|"
    df.show(vertical=True)
    assert capsys.readouterr().out.splitlines()[:4] == [
        "-RECORD 0--------------------", " age  | 1                    ", " name | Alice                ",
        " v    | 2.5                  "]


def test_to_pandas_and_schema(spark, capsys):
    df = spark.createDataFrame([(1, 2, 1.5, True, "a"), (3, None, None, None, None)],
                               "a INT, b INT, c FLOAT, d BOOLEAN, e STRING")
    pdf = df.toPandas()
    assert [str(t) for t in pdf.dtypes] == ["int32", "float64", "float32", "object", "object"]
    assert pdf["b"].isna().tolist() == [False, True] and pdf["e"].tolist() == ["a", None]
    assert df.dtypes == [("a", "int"), ("b", "int"), ("c", "float"), ("d", "boolean"), ("e", "string")]
    df.printSchema()
    assert capsys.readouterr().out.splitlines()[1] == " |-- a: integer (nullable = true)"
    assert df.limit(1).toPandas().shape == (1, 5)
    assert list(df.filter(F.lit(False)).toPandas().columns) == ["a", "b", "c", "d", "e"]


def test_actions(spark):
    df = spark.range(0, 100, 1, 7)
    assert df.count() == 100
    assert df.first() == Row(id=0) and df.head() == Row(id=0) and df.head(3) == [Row(id=i) for i in range(3)]
    assert df.take(2) == [Row(id=0), Row(id=1)]
    assert df.limit(10).count() == 10
    assert df.filter(df.id > 1000).first() is None
    assert df.select((F.col("id") * 2).alias("d")).limit(3).collect() == [Row(d=0), Row(d=2), Row(d=4)]
    assert df.repartition(3).count() == 100 and df.repartition(4, "id").count() == 100
    s = df.sample(fraction=0.5, seed=3)
    assert 20 < s.count() < 80 and s.count() == s.count()
    c = df.withColumn("sq", F.col("id") * F.col("id")).cache()
    assert c.filter(c.sq > 50).count() == 92 and c.is_cached
    assert "cached" in c._plan.describe()


def test_errors(spark):
    df = spark.createDataFrame([(1, "a")], "amount INT, name STRING")
    with pytest.raises(AnalysisException, match=r"`amout` cannot be resolved. Did you mean .*`amount`"):
        df.select("amout")
    with pytest.raises(AnalysisException, match="UNRESOLVED_COLUMN"):
        df.filter(F.col("nope") > 1)
    with pytest.raises(AnalysisException, match="DATATYPE_MISMATCH"):
        df.select(df.amount + F.lit(datetime.date(2020, 1, 1)))
    with pytest.raises(AnalysisException, match="MISSING_AGGREGATION"):
        df.groupBy("name").agg(F.col("amount"))
    with pytest.raises(ValueError, match="Cannot convert column into bool"):
        bool(df.amount > 1)
    with pytest.raises(AttributeError):
        df.nosuch


def test_na_describe(spark):
    df = spark.createDataFrame([(1, None, "x"), (None, float("nan"), None), (3, 2.0, "z")], "a INT, b DOUBLE, c STRING")
    assert df.na.fill(0).collect() == [(1, 0.0, "x"), (0, 0.0, None), (3, 2.0, "z")]
    filled = df.na.fill("?").collect()  # strings only: the NaN and the NULL number stay
    assert filled[0] == (1, None, "x") and filled[1].a is None and math.isnan(filled[1].b)
    assert filled[1].c == "?" and filled[2] == (3, 2.0, "z")
    assert df.na.fill({"a": 9, "c": "-"}).collect()[1][0::2] == (9, "-")
    assert df.na.drop().collect() == [(3, 2.0, "z")]
    assert df.na.drop(how="all", subset=["a", "b"]).count() == 2
    d = {r.summary: r for r in df.describe("a").collect()}
    assert d["count"].a == "2" and d["mean"].a == "2.0" and d["min"].a == "1" and d["max"].a == "3"


def test_explain_and_optimizer(spark, capsys):
    a = spark.createDataFrame([(1, "x", 1.0)], "id INT, v STRING, w DOUBLE")
    b = spark.createDataFrame([(1, 10)], "id INT, z INT")
    q = a.join(b, "id").filter((F.col("z") > 1 + 1) & (F.col("w") > 0)).select("v")
    q.explain(True)
    out = capsys.readouterr().out
    assert "== Optimized Logical Plan ==" in out and "== Physical Plan ==" in out
    opt = out.split("== Optimized Logical Plan ==")[1].split("== Physical Plan ==")[0]
    # the filters went below the join, to each side, with 1 + 1 folded
    lines = opt.strip().splitlines()
    assert "Join inner" in opt and any("Filter (z > 2)" in l for l in lines) and any("Filter (w > 0" in l for l in lines)
    assert [i for i, l in enumerate(lines) if "Join" in l][0] < [i for i, l in enumerate(lines) if "Filter" in l][0]
    # pruning: the scans keep only the columns used (no z in the result, no w after the filter)
    assert "broadcast hash join" in out.split("== Physical Plan ==")[1]
    assert q.collect() == [Row(v="x")]
    assert a.join(b, "id").filter(F.col("w") > 0).select("v", "z").collect() == [("x", 10)]


@pytest.mark.parametrize("p", PARTS)
def test_window_api(spark, p):
    from kiln.sql import Window
    rows = [(i, g, v) for i, (g, v) in enumerate(
        (random.Random(i).choice(["a", "b", None]), random.Random(i + 99).choice([1, 2, 2, 3, None]))
        for i in range(120))]
    df = frame(spark, rows, p, "i INT, g STRING, v INT")
    w = Window.partitionBy("g").orderBy("i")
    got = df.select("i", F.row_number().over(w).alias("rn"), F.lag("v", 2).over(w).alias("lg"),
                    F.sum("v").over(w.rowsBetween(Window.unboundedPreceding, Window.currentRow)).alias("run"),
                    F.count("*").over(Window.partitionBy("g")).alias("n")).collect()
    groups = defaultdict(list)
    for r in sorted(rows):
        groups[r[1]].append(r)
    want = []
    for g, rs in groups.items():
        run = None
        for j, (i, _, v) in enumerate(rs):
            run = run if v is None else (v if run is None else run + v)
            want.append((i, j + 1, rs[j - 2][2] if j >= 2 else None, run, len(rs)))
    assert sorted(map(tuple, got)) == sorted(want)
    with pytest.raises(AnalysisException, match="requires window to be ordered"):
        df.select(F.rank().over(Window.partitionBy("g")))
    ranked = df.withColumn("r", F.dense_rank().over(Window.orderBy(F.col("v").desc())))
    assert ranked.columns == ["i", "g", "v", "r"]
    distinct_desc = sorted({r[2] for r in rows if r[2] is not None}, reverse=True)
    for r in ranked.collect():
        assert r.r == (distinct_desc.index(r.v) + 1 if r.v is not None else len(distinct_desc) + 1)


def test_shuffle_partitions_and_empty_joins(spark):
    df = spark.createDataFrame(spark.sparkContext.parallelize([(i % 5, i) for i in range(100)], 3), "k INT, v INT")
    agg = df.groupBy("k").count()
    assert agg.rdd.getNumPartitions() == 3  # sized from the input, not 200
    spark.conf.set("spark.sql.shuffle.partitions", "7")
    try:
        assert df.groupBy("k").count().rdd.getNumPartitions() == 7
        assert sorted(df.groupBy("k").count().collect()) == [(k, 20) for k in range(5)]
    finally:
        spark.conf.unset("spark.sql.shuffle.partitions")
    empty = df.filter(F.lit(False)).select(F.col("k").alias("k2"), F.col("v").alias("w"))
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    try:
        for how, n in [("inner", 0), ("left", 100), ("right", 0), ("full", 100), ("left_semi", 0),
                       ("left_anti", 100)]:
            assert df.join(empty, df.k == empty.k2, how).count() == n, how
            assert empty.join(df, df.k == empty.k2, how).count() == {"right": 100, "full": 100}.get(how, 0), how
    finally:
        spark.conf.unset("spark.sql.autoBroadcastJoinThreshold")
