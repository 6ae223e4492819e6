"""No silent wrong answer: PySpark's results, or PySpark's errors, where
kiln used to return something else (user exceptions that truncated a
partition, histogram and StatCounter corners, accumulator sums, zip).
Oracles: plain Python on the same data."""
import math
import os
import statistics

import pytest

import kiln


def _stop_at(n):
    def f(x):
        if x == n:
            raise StopIteration("user's stop at %d" % n)
        return x
    return f


def _fails(fn, *words):
    with pytest.raises(Exception) as e:
        fn()
    for w in words:
        assert w in str(e.value), str(e.value)
    return str(e.value)


STOP = "Caught StopIteration thrown from user's code; failing the task"


def test_stop_iteration_in_user_functions_fails_the_task(sc):
    conf_one = sc.parallelize(range(10), 2)
    stop = _stop_at(7)
    msg = _fails(lambda: conf_one.map(stop).collect(), STOP, "user's stop at 7", "in f")
    assert "StopIteration" in msg
    _fails(lambda: conf_one.map(stop).count(), STOP)
    _fails(lambda: conf_one.filter(lambda x: stop(x) >= 0).collect(), STOP)
    _fails(lambda: conf_one.flatMap(lambda x: [stop(x)]).collect(), STOP)
    _fails(lambda: conf_one.map(lambda x: (x % 3, x)).mapValues(stop).collect(), STOP)
    _fails(lambda: conf_one.map(lambda x: (x % 3, x)).flatMapValues(lambda v: [stop(v)]).collect(), STOP)
    _fails(lambda: conf_one.keyBy(stop).collect(), STOP)
    _fails(lambda: conf_one.sortBy(stop).collect(), STOP)
    _fails(lambda: conf_one.reduce(lambda a, b: stop(b) + a), STOP)
    _fails(lambda: conf_one.fold(0, lambda a, b: stop(b) + a), STOP)
    _fails(lambda: conf_one.aggregate(0, lambda a, b: stop(b) + a, lambda a, b: a + b), STOP)
    _fails(lambda: conf_one.map(lambda x: (x % 2, x)).reduceByKey(lambda a, b: stop(b) + a).collect(), STOP)
    _fails(lambda: conf_one.map(lambda x: (x % 2, x)).combineByKey(int, lambda a, b: stop(b) + a,
                                                                    lambda a, b: a + b).collect(), STOP)
    _fails(lambda: conf_one.foreach(stop), STOP)
    _fails(lambda: conf_one.top(3, key=stop), STOP)

    def parts(it):  # a generator: PEP 479 already fails it; the words are PySpark's too
        for x in it:
            yield stop(x)
    _fails(lambda: conf_one.mapPartitions(parts).collect(), STOP)

    def eager(it):
        raise StopIteration
    _fails(lambda: conf_one.mapPartitions(eager).collect(), STOP)


def test_stop_iteration_in_the_clients_merge(sc):
    # the final merge of reduce, fold and aggregate runs in the client
    calls = []

    def merge(a, b):
        calls.append(1)
        if len(calls) > 2:  # the executors' merges pass, the client's fails
            raise StopIteration
        return a + b
    r = sc.parallelize([1, 2, 3, 4], 4)
    with pytest.raises(RuntimeError, match="Caught StopIteration"):
        r.aggregate(0, lambda a, b: a + b, merge)


@pytest.mark.parametrize("raise_", ["raise KeyboardInterrupt", "raise GeneratorExit", "sys.exit(3)",
                                    "os._exit(0)"])
def test_every_user_exit_fails_the_task(cluster, raise_):
    ctx = kiln.Context(cluster.master, "exits", conf={"task.max_failures": "1"})
    try:
        src = "import os, sys\ndef f(x):\n    if x == 5:\n        %s\n    return x\n" % raise_
        ns = {}
        exec(compile(src, "user_job.py", "exec"), ns)
        r = ctx.parallelize(range(10), 2).map(ns["f"])
        with pytest.raises(kiln.KilnError):
            r.collect()
        with pytest.raises(kiln.KilnError):
            r.count()
    finally:
        ctx.stop()


def test_histogram_as_pyspark(sc):
    r = sc.parallelize(range(51))
    assert r.histogram(2) == ([0, 25, 50], [25, 26])
    b, c = r.histogram(2)
    assert all(type(x) is int for x in b)
    assert r.histogram([0, 5, 25, 50]) == ([0, 5, 25, 50], [5, 20, 26])
    assert r.histogram([0, 15, 30, 45, 60]) == ([0, 15, 30, 45, 60], [15, 15, 15, 6])
    assert r.histogram((0, 25, 50)) == ((0, 25, 50), [25, 26])
    assert sc.parallelize(range(10)).histogram(3)[0] == [0, 3.0, 6.0, 9]
    s = sc.parallelize(["ab", "ac", "b", "bd", "ef"])
    assert s.histogram(("a", "b", "c")) == (("a", "b", "c"), [2, 2])
    _fails(lambda: s.histogram(2), "Can not generate buckets with non-number in RDD")
    inf, nan = float("inf"), float("nan")
    _fails(lambda: sc.parallelize([1, inf]).histogram(2), "Can not generate buckets with infinite value")
    assert sc.parallelize([1.0, nan, None, 2.0, 3.0]).histogram(2) == ([1.0, 2.0, 3.0], [1, 2])
    assert sc.parallelize([1, inf]).histogram([0, 10, inf]) == ([0, 10, inf], [1, 1])
    assert sc.parallelize([7, 7, None]).histogram(3) == ([7, 7], [2])
    assert sc.parallelize([1, 2, 3]).histogram(1) == ([1, 3], [3])
    _fails(lambda: r.histogram(0), "number of buckets must be >= 1")
    _fails(lambda: r.histogram([1]), "buckets should have more than one value")
    _fails(lambda: r.histogram([0, nan]), "can not have None or NaN in buckets")
    _fails(lambda: r.histogram([3, 1]), "buckets should be sorted")
    _fails(lambda: r.histogram([1, 1, 2]), "buckets should not contain duplicated values")
    _fails(lambda: r.histogram("ab"), "buckets should be a list or tuple")
    _fails(lambda: sc.parallelize([None, nan]).histogram(2), "Can not reduce() empty RDD")
    _fails(lambda: sc.emptyRDD().histogram([0, 1]), "Can not reduce() empty RDD")
    assert sc.parallelize([], 2).histogram([0, 1]) == ([0, 1], [0])
    # against an oracle on generated data: the last bucket closed, the others half open
    import random
    rng = random.Random(7)
    data = [rng.uniform(-5, 5) for _ in range(2000)] + [5.0, -5.0, 1.0]
    bounds = [-5, -1, 0, 1, 2.5, 5]
    want = [sum(1 for x in data if lo <= x < hi or (hi == 5 and x == 5)) for lo, hi in zip(bounds, bounds[1:])]
    assert sc.parallelize(data, 3).histogram(bounds) == (bounds, want)


def test_stats_as_pyspark(sc):
    data = [1.0, 2.0, 3.0, 4.0, 10.5]
    st = sc.parallelize(data, 3).stats()
    d = st.asDict()
    assert d["count"] == 5 and d["sum"] == sum(data) and d["min"] == 1.0 and d["max"] == 10.5
    assert d["stdev"] == pytest.approx(statistics.stdev(data))      # sample, as PySpark
    assert d["variance"] == pytest.approx(statistics.variance(data))
    p = st.asDict(sample=True)
    assert p["stdev"] == pytest.approx(statistics.pstdev(data)) and p["variance"] == pytest.approx(
        statistics.pvariance(data))
    assert st.sampleStdev() == pytest.approx(statistics.stdev(data))
    assert st.stdev() == pytest.approx(statistics.pstdev(data))
    ints = sc.parallelize([1, 2, 3]).stats()
    assert (ints.min(), ints.max()) == (1.0, 3.0) and type(ints.max()) is float
    assert sc.parallelize([1, 2, 3]).mean() == 2.0
    assert sc.parallelize([1, 2, 3]).sampleStdev() == 1.0
    empty = sc.parallelize([], 2)
    assert empty.stats().count() == 0 and empty.mean() == 0.0 and math.isnan(empty.stdev())
    assert empty.sum() == 0
    for action in (lambda r: r.mean(), lambda r: r.stdev(), lambda r: r.max(), lambda r: r.min(),
                   lambda r: r.stats(), lambda r: r.top(2), lambda r: r.countByValue(), lambda r: r.variance()):
        _fails(lambda: action(sc.emptyRDD()), "Can not reduce() empty RDD")
    _fails(lambda: empty.max(), "Can not reduce() empty RDD")
    assert sc.emptyRDD().getNumPartitions() == 0
    assert sc.emptyRDD().count() == 0 and sc.emptyRDD().sum() == 0 and sc.emptyRDD().collect() == []
    assert sc.emptyRDD().takeOrdered(3) == [] and empty.top(2) == []
    assert math.isnan(sc.parallelize([1.0, float("nan"), 3.0], 2).stats().max())
    s = kiln.StatCounter([1, 2])
    s.mergeStats(s)
    assert s.count() == 4 and s.mean() == 1.5
    with pytest.raises(TypeError):
        s.mergeStats(3)


def test_accumulators_are_python_sums(sc):
    big = sc.accumulator(0)
    r = sc.parallelize(range(4), 2)

    def add_big(x):
        big.add(3 * 10 ** 18)
    r.foreach(add_big)
    assert big.value == 12 * 10 ** 18 and type(big.value) is int

    neg = sc.accumulator(0)

    def add_neg(x):
        neg.add(-(2 ** 70) + x)
    r.foreach(add_neg)
    assert neg.value == 4 * -(2 ** 70) + 6

    mixed = sc.accumulator(0)

    def add_point_four(x):
        mixed.add(0.4)
    r.foreach(add_point_four)
    assert type(mixed.value) is float and mixed.value == pytest.approx(1.6)

    zero_float = sc.accumulator(0)

    def add_zero_float(x):
        zero_float.add(0.0)
    r.foreach(add_zero_float)
    assert zero_float.value == 0 and type(zero_float.value) is float

    cx = sc.accumulator(0)

    def add_complex(x):
        cx.add(complex(x, 1))
    r.foreach(add_complex)
    assert cx.value == complex(6, 4)

    count = sc.accumulator(0)

    def add_one(x):
        count.add(1)
    sc.parallelize(range(10000), 4).foreach(add_one)
    assert count.value == 10000 and type(count.value) is int

    huge = sc.accumulator(0)

    def add_huge(x):
        huge.add(2 ** 300)
    with pytest.raises(kiln.KilnError, match="up to 256 bits"):
        r.foreach(add_huge)


def test_zip_needs_equal_partitions_as_pyspark(sc):
    a = sc.parallelize(range(6), 2)
    assert a.zip(sc.parallelize("abcdef", 2)).collect() == list(zip(range(6), "abcdef"))
    with pytest.raises(ValueError, match="Can only zip with RDD which has the same number of partitions"):
        a.zip(sc.parallelize(range(6), 3))
    # equal totals, unequal partitions: PySpark refuses rather than pairing by position
    with pytest.raises(ValueError, match="Can only zip RDDs with same number of elements in each partition"):
        a.zip(a.mapPartitionsWithIndex(lambda i, it: list(it) + [99] if i == 0 else list(it)[1:]))
    with pytest.raises(ValueError, match="Can only zip RDDs with same number of elements in each partition"):
        a.zip(sc.parallelize(range(5), 2))


def test_text_file_line_ends_as_hadoop(sc, tmp_path):
    import re
    import random
    rng = random.Random(3)
    parts = []
    for i in range(3000):
        parts.append("line%d %s" % (i, "x" * rng.randrange(0, 40)))
        parts.append(rng.choice(["\n", "\r\n", "\r"]))
    parts.append("last\r")  # a final '\r' without '\n': no part of the line
    text = "".join(parts)
    p = tmp_path / "ends.txt"
    p.write_bytes(text.encode())
    want = re.split(r"\r\n|\r|\n", text)
    if want[-1] == "":
        want.pop()
    assert sc.textFile(str(p), 7).collect() == want
    q = tmp_path / "cr_end.txt"
    q.write_bytes(b"a\r\nb\r")
    assert sc.textFile(str(q)).collect() == ["a", "b"]


GZIP = "org.apache.hadoop.io.compress.GzipCodec"


def test_save_as_gzip_and_read_gz_back(sc, tmp_path):
    import gzip
    lines = ["row %d %s" % (i, "é" * (i % 5)) for i in range(5000)]
    out = str(tmp_path / "gz")
    sc.parallelize(lines, 3).saveAsTextFile(out, compressionCodecClass=GZIP)
    names = sorted(os.listdir(out))
    assert names == ["_SUCCESS", "part-00000.gz", "part-00001.gz", "part-00002.gz"]
    back = []
    for n in names[1:]:
        with gzip.open(os.path.join(out, n), "rt", encoding="utf-8") as f:  # the oracle: Python's gzip
            back.extend(f.read().splitlines())
    assert back == lines
    assert sc.textFile(out).collect() == lines            # a directory of .gz parts
    assert sc.textFile(out + "/part-00001.gz").count() == 2 * len(lines) // 3 - len(lines) // 3
    # a gzip file of several members (as `cat a.gz b.gz`), with Hadoop's line ends
    multi = tmp_path / "multi.txt.gz"
    multi.write_bytes(gzip.compress(b"a\r\nb\n") + gzip.compress(b"c\rd"))
    assert sc.textFile(str(multi), 4).collect() == ["a", "b", "c", "d"]
    plain = str(tmp_path / "plain")
    sc.parallelize(lines[:10], 2).saveAsTextFile(plain)
    assert sorted(os.listdir(plain)) == ["_SUCCESS", "part-00000", "part-00001"]
    with pytest.raises(ValueError, match="kiln writes org.apache.hadoop.io.compress.GzipCodec"):
        sc.parallelize([1]).saveAsTextFile(str(tmp_path / "bz"), "org.apache.hadoop.io.compress.BZip2Codec")
    import bz2
    (tmp_path / "data.txt.bz2").write_bytes(bz2.compress(b"a\nb\n"))
    with pytest.raises(kiln.KilnError, match="a .bz2 file: kiln reads plain text and gzip"):
        sc.textFile(str(tmp_path / "data.txt.bz2")).collect()
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(b"x\n" * 1000)[:-12] + b"\x00" * 12)
    with pytest.raises(kiln.KilnError, match="gzip"):
        sc.textFile(str(bad)).collect()


def test_text_file_bytes(sc, tmp_path):
    p = tmp_path / "latin.txt"
    p.write_bytes(b"caf\xe9\nplain\r\n\xff\xfe\n")
    assert sc.textFile(str(p), use_unicode=False).collect() == [b"caf\xe9", b"plain", b"\xff\xfe"]
    assert sc.textFile(str(p), use_unicode=False).map(len).collect() == [4, 5, 2]
    assert sc.textFile(str(p)).collect()[1] == "plain"

