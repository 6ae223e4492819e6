"""spark.read and df.write on a real cluster: CSV and JSON round trips
(checked with pandas and the json module as oracles), the read modes on
malformed rows, and the save modes."""
import csv
import glob
import json
import os
import random

import pandas as pd
import pytest

from kiln.sql import AnalysisException, Row


def rows(n=500, seed=5):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append((i, None if rng.random() < 0.1 else rng.randint(-1000, 1000),
                    None if rng.random() < 0.1 else round(rng.uniform(-10, 10), 4),
                    None if rng.random() < 0.1 else rng.choice(["plain", "with, comma", 'a "quote"', "x"]),
                    None if rng.random() < 0.1 else rng.random() < 0.5))
    return out


SCHEMA = "id INT, n INT, x DOUBLE, s STRING, b BOOLEAN"


def parts(path):
    return sorted(glob.glob(os.path.join(path, "part-*")))


@pytest.mark.parametrize("p", [1, 3, 17])
def test_csv_round_trip(spark, tmp_path, p):
    data = rows()
    df = spark.createDataFrame(spark.sparkContext.parallelize(data, p), SCHEMA)
    out = str(tmp_path / "csv")
    df.write.csv(out, header=True)
    assert os.path.exists(os.path.join(out, "_SUCCESS")) and parts(out)
    # the oracle: pandas reads what kiln wrote (Spark's escape is a backslash)
    frames = [pd.read_csv(f, escapechar="\\", keep_default_na=False, na_values=[""], dtype=str) for f in parts(out)
              if os.path.getsize(f)]
    pdf = pd.concat(frames)
    assert len(pdf) == len(data) and list(pdf.columns) == ["id", "n", "x", "s", "b"]
    by_id = {int(r["id"]): r for _, r in pdf.iterrows()}
    for i, n, x, s, b in data:
        r = by_id[i]
        assert (pd.isna(r["s"]) and s is None) or r["s"] == s
        assert (pd.isna(r["n"]) and n is None) or int(r["n"]) == n
        assert (pd.isna(r["b"]) and b is None) or r["b"] == str(b).lower()
    back = spark.read.csv(out, header=True, schema=SCHEMA)
    assert sorted(map(tuple, back.collect()), key=lambda r: r[0]) == data
    inferred = spark.read.option("header", "true").option("inferSchema", "true").csv(out)
    assert inferred.dtypes == [("id", "int"), ("n", "int"), ("x", "double"), ("s", "string"), ("b", "boolean")]
    assert inferred.count() == len(data)
    plain = spark.read.csv(out)  # no header: _c0.. strings, the header lines are rows
    assert plain.columns == ["_c0", "_c1", "_c2", "_c3", "_c4"] and plain.count() == len(data) + len(
        [f for f in parts(out) if os.path.getsize(f)])


def test_csv_modes(spark, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("a,b,c\n1,2,x\n3,notanumber,y\n4,5\n6,7,z,extra\n8,9,w\n")
    schema = "a INT, b INT, c STRING"
    perm = spark.read.csv(str(f), header=True, schema=schema).collect()
    assert sorted(perm, key=lambda r: r.a) == [(1, 2, "x"), (3, None, "y"), (4, 5, None), (6, 7, "z"), (8, 9, "w")]
    drop = spark.read.csv(str(f), header=True, schema=schema, mode="DROPMALFORMED").collect()
    assert sorted(drop) == [(1, 2, "x"), (8, 9, "w")]
    with pytest.raises(Exception, match="Malformed records are detected.*FAILFAST"):
        spark.read.csv(str(f), header=True, schema=schema, mode="FAILFAST").collect()
    with pytest.raises(AnalysisException, match="mode"):
        spark.read.csv(str(f), mode="LENIENT")
    g = tmp_path / "semi.csv"
    g.write_text("k;v\n1;NA\n2;3.5\n")
    got = spark.read.csv(str(g), sep=";", header=True, nullValue="NA", inferSchema=True).collect()
    assert got == [Row(k=1, v=None), Row(k=2, v=3.5)]
    with pytest.raises(AnalysisException, match="PATH_NOT_FOUND"):
        spark.read.csv(str(tmp_path / "missing.csv"))


def test_csv_read_from_python_writer(spark, tmp_path):
    f = tmp_path / "py.csv"
    data = [(1, "plain"), (2, "with, comma"), (3, "")]
    with open(f, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "s"])
        w.writerows(data)
    got = spark.read.csv(str(f), header=True, inferSchema=True).collect()
    assert got == [Row(id=1, s="plain"), Row(id=2, s="with, comma"), Row(id=3, s=None)]  # "" is NULL by default


def test_json_round_trip_and_modes(spark, tmp_path):
    data = rows(200)
    df = spark.createDataFrame(data, SCHEMA)
    out = str(tmp_path / "json")
    df.write.json(out)
    objs = [json.loads(l) for f in parts(out) for l in open(f)]
    assert len(objs) == len(data)
    for o, (i, n, x, s, b) in zip(sorted(objs, key=lambda o: o["id"]), data):
        want = {k: v for k, v in dict(id=i, n=n, x=x, s=s, b=b).items() if v is not None}
        assert o == want   # nulls are left out, as Spark's ignoreNullFields
    back = spark.read.json(out)
    assert back.columns == ["b", "id", "n", "s", "x"]  # inferred, keys sorted
    assert back.dtypes[1] == ("id", "bigint") and back.dtypes[4] == ("x", "double")
    assert sorted((r.id, r.n, r.x, r.s, r.b) for r in back.collect()) == sorted(data)
    f = tmp_path / "bad.json"
    f.write_text('{"a": 1, "b": "x"}\nnot json\n{"a": "two", "b": "y"}\n{"a": 3}\n')
    assert sorted(spark.read.json(str(f), schema="a INT, b STRING").collect(), key=lambda r: (r.a is None, r.a or 0)) \
        == [(1, "x"), (3, None), (None, None), (None, "y")]
    assert spark.read.json(str(f), schema="a INT, b STRING", mode="DROPMALFORMED").collect() == [(1, "x"), (3, None)]
    with pytest.raises(Exception, match="FAILFAST"):
        spark.read.json(str(f), schema="a INT, b STRING", mode="FAILFAST").collect()


def test_text_and_save_modes(spark, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("alpha\nbeta\n\ngamma\n")
    t = spark.read.text(str(src))
    assert t.columns == ["value"] and t.collect() == [("alpha",), ("beta",), ("",), ("gamma",)]
    out = str(tmp_path / "out")
    t.write.text(out)
    assert sorted(l for f in parts(out) for l in open(f).read().splitlines()) == ["", "alpha", "beta", "gamma"]
    with pytest.raises(AnalysisException, match="PATH_ALREADY_EXISTS"):
        t.write.text(out)
    t.write.mode("ignore").text(out)
    t.write.mode("append").text(out)
    assert spark.read.text(out).count() == 8
    t.filter(t.value == "beta").write.mode("overwrite").format("text").save(out)
    assert spark.read.format("text").load(out).collect() == [("beta",)]
    with pytest.raises(AnalysisException, match="single column"):
        spark.createDataFrame([(1, "a")], "a INT, b STRING").write.text(str(tmp_path / "x"))
    with pytest.raises(ValueError, match="Unknown save mode"):
        t.write.mode("sometimes")
    with pytest.raises(AnalysisException, match="UNSUPPORTED_DATASOURCE"):
        t.write.format("parquet").save(str(tmp_path / "p"))

