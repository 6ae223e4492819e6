"""kiln.sql's fast paths give the answers of the plain ones: a cached
DataFrame's dictionary-encoded string columns (grouped, joined, filtered,
collected, with nulls, against a frame that is not cached), integer sums
through bincount and past its exact range, a pandas frame of strings
loaded without a per-value check, and client data large enough to travel
as broadcasts. Oracles: plain Python and pandas."""
import pickle
import random
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from kiln.sql import functions as F
from kiln.sql import physical
from kiln.sql.aggregate import _gsum, group_codes, hash_rows
from kiln.sql.batch import DictVec, Vec, dict_encode


def strings(n, k, seed, nulls=0.1):
    rng = random.Random(seed)
    return [None if rng.random() < nulls else "s%03d" % rng.randrange(k) for _ in range(n)]


def test_dict_vec_keeps_values_nulls_hashes_and_groups():
    vals = strings(5000, 40, 1)
    mask = np.array([v is None for v in vals])
    plain = Vec(np.array(vals, dtype=object), mask)
    d = dict_encode(plain)
    assert isinstance(d, DictVec) and d.codes.dtype == np.int32
    assert d.to_list() == vals
    back = pickle.loads(pickle.dumps(d, protocol=5))
    assert isinstance(back, DictVec) and back.to_list() == vals
    # the same hash per row as the plain column's, so both meet in one shuffle partition
    assert (hash_rows([d], len(vals)) == hash_rows([plain], len(vals))).all()
    c1, n1, f1 = group_codes([d], len(vals))
    c2, n2, f2 = group_codes([plain], len(vals))
    assert n1 == n2 and (c1 == c2).all() and (f1 == f2).all()
    idx = np.arange(0, 5000, 7)
    assert d.take(idx).to_list() == [vals[i] for i in idx]
    few = d.take(np.arange(3))
    assert type(few) is Vec and few.to_list() == vals[:3]  # a few rows do not carry every distinct value
    # many distinct values: left plain
    uniq = Vec(np.array(["u%d" % i for i in range(100)], dtype=object))
    assert dict_encode(uniq) is uniq


def test_integer_sum_exact_in_and_past_bincounts_range():
    codes = np.array([0, 1, 0, 1, 2], dtype=np.int64)
    small = np.array([1, 2, 3, 4, 5], dtype=np.int64)
    assert _gsum(small, codes, 3).tolist() == [4, 6, 5]
    big = np.array([2 ** 62, 1, 2 ** 62, 3, -7], dtype=np.int64) // 2
    want = [int(big[0]) + int(big[2]), int(big[1]) + int(big[3]), int(big[4])]
    got = _gsum(big, codes, 3)
    assert got.dtype == np.int64 and got.tolist() == want
    assert _gsum(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 2).tolist() == [0, 0]


@pytest.mark.parametrize("p", [1, 3, 17])
def test_cached_strings_group_join_filter(spark, p):
    n = 3000
    rng = random.Random(p)
    g = strings(n, 30, p)
    h = strings(n, 5, p + 100)
    x = [rng.randint(-1000, 1000) for _ in range(n)]
    rows = list(zip(g, h, x))
    df = spark.createDataFrame(spark.sparkContext.parallelize(rows, p), "g STRING, h STRING, x BIGINT").cache()
    assert df.count() == n
    sums = defaultdict(int)
    counts = defaultdict(int)
    for gi, hi, xi in rows:
        sums[(gi, hi)] += xi
        counts[gi] += 1
    got = {(r["g"], r["h"]): r["s"] for r in df.groupBy("g", "h").agg(F.sum("x").alias("s")).collect()}
    assert got == dict(sums)
    got = {r["g"]: r["c"] for r in df.groupBy("g").agg(F.count("*").alias("c")).collect()}
    assert got == dict(counts)
    # a join of the cached (encoded) side with a frame that is not cached, on the string key
    other = spark.createDataFrame(spark.sparkContext.parallelize([("s%03d" % i, i) for i in range(0, 30, 2)], 2),
                                  "g STRING, i INT")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")  # a shuffle join: both sides hashed
    try:
        got = sorted(((r["g"], r["h"], r["x"], r["i"]) for r in df.join(other, "g").collect()), key=repr)
    finally:
        spark.conf.unset("spark.sql.autoBroadcastJoinThreshold")
    want = sorted(((gi, hi, xi, int(gi[1:])) for gi, hi, xi in rows if gi is not None and int(gi[1:]) % 2 == 0),
                  key=repr)
    assert got == want
    got = sorted((tuple(r) for r in df.filter(F.col("h") == "s001").collect()), key=repr)
    assert got == sorted((r for r in rows if r[1] == "s001"), key=repr)
    assert sorted(map(tuple, df.collect()), key=repr) == sorted(rows, key=repr)
    df.unpersist()


def test_pandas_strings_and_large_client_data(spark, monkeypatch):
    monkeypatch.setattr(physical, "LOCAL_INLINE", 1000)  # so a small frame travels as broadcasts too
    n = 20000
    rng = np.random.default_rng(3)
    pdf = pd.DataFrame({"k": np.array(["a", "b", None, "c"], dtype=object)[rng.integers(0, 4, n)],
                        "v": rng.integers(0, 100, n)})
    df = spark.createDataFrame(pdf)
    assert dict(df.dtypes)["k"] == "string"
    got = {r["k"]: r["s"] for r in df.groupBy("k").agg(F.sum("v").alias("s")).collect()}
    want = {(None if k is None or k != k else k): int(s)
            for k, s in pdf.groupby("k", dropna=False)["v"].sum().items()}
    assert got == want
    assert "scan local" in df._compiled().stages[0]


def test_plain_csv_columns_read_as_the_csv_module():
    import csv
    from kiln.sql.readwriter import _plain_csv_columns
    rng = random.Random(5)
    pool = ["", " a", "b ", "NA", "12", "-3.5e2", "x y", "\t", "é"]
    lines = [",".join(rng.choice(pool) for _ in range(4)) for _ in range(500)]
    cols = _plain_csv_columns(lines, 4, ",", '"', "\\", "NA")
    want = [[None if x == "NA" else x for x in r] for r in csv.reader(lines, delimiter=",", quotechar='"',
                                                                        escapechar="\\", doublequote=False)]
    assert [list(row) for row in zip(*[c.to_list() for c in cols])] == want
    # what the csv module reads otherwise: quotes, escapes, a line of too many or too few fields
    assert _plain_csv_columns(lines + ['"q",1,2,3'], 4, ",", '"', "\\", "NA") is None
    assert _plain_csv_columns(lines + ["a\\,b,1,2,3"], 4, ",", '"', "\\", "NA") is None
    assert _plain_csv_columns(lines[:-2] + ["1,2,3,4,5", "1,2,3"], 4, ",", '"', "\\", "NA") is None
    assert _plain_csv_columns(lines[:-1] + ["1,2,3"], 4, ",", '"', "\\", "NA") is None


@pytest.mark.parametrize("dst", ["int", "bigint", "tinyint", "double", "float"])
def test_numbers_from_strings_as_each_value_would_parse(dst):
    from kiln.sql import types as T
    from kiln.sql.cast import _parse_each, _parse_float, _parse_int, _parse_numbers, cast
    t = T._parse_datatype_string(dst)
    parse = _parse_float if isinstance(t, T.FractionalType) else _parse_int(t.bits)
    plain = ["12", " -7 ", "+3", "0", "100", "250", "-128"]
    fast_in = Vec(np.array(plain + [None], dtype=object), np.array([False] * len(plain) + [True]))
    assert _parse_numbers(fast_in, t) is not None or dst == "tinyint"  # 250 does not fit a tinyint
    odd = ["1.5", "1_000", "0x10", "inf", "NaN", "2d", "", "abc", "3000000000", "1e3"]
    for values in (plain, plain + [None], plain + odd, odd):
        mask = np.array([v is None for v in values])
        v = Vec(np.array(values, dtype=object), mask)
        got = cast(v, T.StringType(), t)
        want = _parse_each(v, parse, t.numpy)
        assert repr(got.to_list()) == repr(want.to_list()), values
        assert got.values.dtype == t.numpy


@pytest.mark.parametrize("dst,out", [
    ("double", [1.5, -2.0, 3.25]), ("double", [1, 2.0]), ("double", [1.5, None]), ("float", [0.1, 1e40]),
    ("int", [1, 2 ** 31, -2 ** 31 - 1]), ("bigint", [2 ** 63 - 1, -2 ** 63]), ("bigint", [2 ** 63]),
    ("tinyint", [127, 128, -129]), ("int", [True, 1]), ("int", [1.0, 2])])
def test_row_udf_results_in_one_call_as_value_by_value(dst, out):
    from kiln.sql import types as T
    from kiln.sql.batch import from_list
    from kiln.sql.udf import _convert, _fast_vec
    t = T._parse_datatype_string(dst)
    want = from_list([_convert(x, t) for x in out], t.numpy)
    got = _fast_vec(out, t)
    if got is not None:
        assert got.values.dtype == t.numpy
        assert repr(got.to_list()) == repr(want.to_list())
    else:
        assert not (set(map(type, out)) <= {float} and isinstance(t, T.FractionalType))
