"""Every transformation and action against a plain-Python oracle, for 1, 3
and 17 partitions, on a real driver and two workers."""
import operator
import random
from collections import Counter, defaultdict

import pytest

PARTS = [1, 3, 17]


def words(n=3000, seed=1):
    rng = random.Random(seed)
    vocab = ["w%d" % i for i in range(200)] + ["ünï", "日本", "a b"[0:1], "Zed"]
    return [rng.choice(vocab) for _ in range(n)]


@pytest.mark.parametrize("p", PARTS)
def test_wordcount(sc, tmp_path, p):
    lines = [" ".join(words(20, seed=i)) for i in range(300)]
    path = tmp_path / "in.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = dict(sc.textFile(str(path), p).flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(operator.add).collect())
    assert got == Counter(w for l in lines for w in l.split())
    got2 = dict(sc.textFile(str(path), p).flatMap(str.split).map(lambda w: (w, 1))
                .reduceByKey(lambda a, b: a + b, p).collect())
    assert got2 == got


@pytest.mark.parametrize("p", PARTS)
def test_narrow_and_numeric_actions(sc, p):
    data = list(range(-50, 1000))
    r = sc.parallelize(data, p)
    assert r.getNumPartitions() == p
    assert r.map(lambda x: x * 3).filter(lambda x: x % 2).collect() == [x * 3 for x in data if (x * 3) % 2]
    assert r.flatMap(lambda x: [x] * (x % 3)).count() == sum(x % 3 for x in data)
    assert r.count() == len(data)
    assert r.sum() == sum(data)
    assert r.reduce(operator.add) == sum(data)
    assert r.fold(0, operator.add) == sum(data)
    assert r.max() == max(data) and r.min() == min(data)
    assert r.mean() == pytest.approx(sum(data) / len(data))
    assert r.stats().count() == len(data)
    assert r.top(5) == sorted(data, reverse=True)[:5]
    assert r.takeOrdered(4, key=lambda x: -x) == sorted(data, reverse=True)[:4]
    assert r.take(7) == data[:7]
    assert r.first() == data[0]
    assert r.aggregate((0, 0), lambda a, x: (a[0] + x, a[1] + 1), lambda a, b: (a[0] + b[0], a[1] + b[1])) == \
        (sum(data), len(data))
    assert sum(r.glom().map(len).collect()) == len(data)
    assert r.mapPartitionsWithIndex(lambda i, it: [(i, sum(1 for _ in it))]).map(lambda t: t[1]).sum() == len(data)
    assert sorted(r.zipWithIndex().collect()) == sorted(zip(data, range(len(data))))
    assert r.histogram([-50, 0, 500, 999]) == ([-50, 0, 500, 999], [50, 500, 500])


@pytest.mark.parametrize("p", PARTS)
def test_sorts(sc, p):
    rng = random.Random(p)
    pairs = [(rng.randrange(-10**6, 10**6), i) for i in range(2000)]
    r = sc.parallelize(pairs, p)
    assert [k for k, _ in r.sortByKey().collect()] == sorted(k for k, _ in pairs)
    assert [k for k, _ in r.sortByKey(False, p).collect()] == sorted((k for k, _ in pairs), reverse=True)
    strs = ["%x-é" % rng.randrange(10**9) for _ in range(1000)]
    assert sc.parallelize(strs, p).sortBy(lambda s: s).collect() == sorted(strs)
    assert sc.parallelize(strs, p).sortBy(lambda s: s, ascending=False).collect() == sorted(strs, reverse=True)


@pytest.mark.parametrize("p", PARTS)
def test_joins_with_duplicate_keys(sc, p):
    rng = random.Random(7)
    left = [(rng.randrange(40), "l%d" % i) for i in range(300)]
    right = [(rng.randrange(60), "r%d" % i) for i in range(200)]
    a, b = sc.parallelize(left, p), sc.parallelize(right, 3)
    rmap = defaultdict(list)
    for k, v in right:
        rmap[k].append(v)
    inner = sorted((k, (v, w)) for k, v in left for w in rmap.get(k, []))
    assert sorted(a.join(b, p).collect()) == inner
    louter = sorted((k, (v, w)) for k, v in left for w in (rmap.get(k) or [None]))
    assert sorted(a.leftOuterJoin(b).collect(), key=repr) == sorted(louter, key=repr)
    lkeys = {k for k, _ in left}
    assert sorted(a.subtractByKey(b).collect()) == sorted((k, v) for k, v in left if k not in rmap)
    assert sorted(b.rightOuterJoin(a).keys().distinct().collect()) == sorted(lkeys)


@pytest.mark.parametrize("p", PARTS)
def test_group_distinct_repartition_union(sc, p):
    rng = random.Random(3)
    pairs = [(rng.choice("abcdefg"), rng.randrange(100)) for _ in range(1000)]
    r = sc.parallelize(pairs, p)
    oracle = defaultdict(list)
    for k, v in pairs:
        oracle[k].append(v)
    got = {k: sorted(vs) for k, vs in r.groupByKey(p).collect()}
    assert got == {k: sorted(v) for k, v in oracle.items()}
    assert sorted(r.values().distinct().collect()) == sorted({v for _, v in pairs})
    assert sorted(r.repartition(5).collect()) == sorted(pairs)
    assert r.repartition(5).getNumPartitions() == 5
    assert sorted(r.union(r).collect()) == sorted(pairs + pairs)
    assert r.countByKey() == Counter(k for k, _ in pairs)
    assert r.countByValue() == Counter(pairs)
    assert dict(r.combineByKey(lambda v: [v], lambda c, v: c + [v], lambda a, b: a + b)
                .mapValues(sorted).collect()) == {k: sorted(v) for k, v in oracle.items()}
    assert dict(r.foldByKey(0, operator.add).collect()) == {k: sum(v) for k, v in oracle.items()}
    assert dict(r.aggregateByKey(0, lambda a, v: a + 1, operator.add).collect()) == \
        {k: len(v) for k, v in oracle.items()}
    assert sorted(r.lookup("a")) == sorted(oracle["a"])


def test_keys_of_every_kind(sc):
    pairs = [(1, "int"), (1.0, "float"), (True, "bool"), (2 ** 100, "big"), (-2 ** 80, "neg"), ((1, "x"), "t"),
             ((1.0, "x"), "t2"), ("ü日", "u"), (b"\x00b", "bytes"), (None, "none"), (0.5, "half")]
    got = {k: sorted(v) for k, v in sc.parallelize(pairs, 3).groupByKey().collect()}
    oracle = defaultdict(list)
    for k, v in pairs:
        oracle[k].append(v)
    assert got == {k: sorted(v) for k, v in oracle.items()}
    assert got[1] == ["bool", "float", "int"]
    nums = [(k, 0) for k in [5, -3, 2 ** 70, -2 ** 70, 0, 7, 1, -1]]
    assert [k for k, _ in sc.parallelize(nums, 3).sortByKey().collect()] == sorted(k for k, _ in nums)
    with pytest.raises(Exception, match="groupByKey: a key of type 'list'"):
        sc.parallelize([([1], 2)]).map(lambda kv: kv).groupByKey().collect()
    with pytest.raises(Exception, match="sortByKey: a key of type 'dict'"):
        sc.parallelize([({}, 2)]).map(lambda kv: kv).sortByKey().collect()


def test_cache_is_not_recomputed(sc):
    acc = sc.accumulator(0)

    def touch(x):
        acc.add(1)
        return x * 2
    r = sc.parallelize(range(100), 4).map(touch).cache()
    assert r.count() == 100
    assert r.sum() == 2 * sum(range(100))
    assert acc.value == 100


def test_save_and_read_text(sc, tmp_path):
    out = tmp_path / "out"
    sc.parallelize([1, "two", (3, 4)], 2).saveAsTextFile(str(out))
    lines = sorted(open(p).read() for p in out.glob("part-*"))
    assert sorted("".join(lines).splitlines()) == sorted(["1", "two", "(3, 4)"])
    assert (out / "_SUCCESS").exists()
    pk = tmp_path / "pk"
    sc.parallelize([{"a": 1}, [2], 3.5], 2).saveAsPickleFile(str(pk))
    assert sorted(sc.pickleFile(str(pk)).collect(), key=repr) == sorted([{"a": 1}, [2], 3.5], key=repr)


def test_undecodable_text_is_replaced(sc, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\n\xff\xfebad\n")
    assert sc.textFile(str(path)).collect() == ["ok", "\ufffd\ufffdbad"]


def test_broadcast_and_misc(sc):
    b = sc.broadcast({"x": 10})
    assert sc.parallelize([1, 2], 2).map(lambda v: v + b.value["x"]).collect() == [11, 12]
    assert sc.emptyRDD().isEmpty()
    assert sc.range(0, 20, 3, 4).collect() == list(range(0, 20, 3))
    assert sorted(sc.parallelize([1, 2]).cartesian(sc.parallelize("ab")).collect()) == \
        [(1, "a"), (1, "b"), (2, "a"), (2, "b")]
    assert sorted(sc.parallelize([1, 2, 3]).subtract(sc.parallelize([2])).collect()) == [1, 3]
    assert sorted(sc.parallelize([1, 2, 3]).intersection(sc.parallelize([2, 3, 4])).collect()) == [2, 3]
    assert sc.parallelize([1, 2, 3], 2).zip(sc.parallelize("abc", 2)).collect() == [(1, "a"), (2, "b"), (3, "c")]
    assert sc.parallelize([(1, 2)]).collectAsMap() == {1: 2}
    assert len(sc.parallelize(range(1000), 4).sample(False, 0.5, 1).collect()) in range(350, 650)


def test_the_rest_of_the_api(sc, tmp_path):
    a = sc.parallelize([(1, "a"), (2, "b"), (3, "c")], 2)
    b = sc.parallelize([(2, "x"), (4, "y")], 3)
    assert sorted(a.fullOuterJoin(b).collect(), key=repr) == sorted(
        [(1, ("a", None)), (2, ("b", "x")), (3, ("c", None)), (4, (None, "y"))], key=repr)
    assert sorted((k, (sorted(l), sorted(r))) for k, (l, r) in a.cogroup(b).collect()) == \
        [(1, (["a"], [])), (2, (["b"], ["x"])), (3, (["c"], [])), (4, ([], ["y"]))]
    p = a.partitionBy(4)
    assert p.getNumPartitions() == 4 and sorted(p.collect()) == sorted(a.collect())
    c = sc.parallelize(range(100), 10).coalesce(3)
    assert c.getNumPartitions() == 3 and sorted(c.collect()) == list(range(100))
    s = sc.parallelize(range(50), 4).takeSample(False, 10, 7)
    assert len(s) == 10 and len(set(s)) == 10 and set(s) <= set(range(50))
    assert len(sc.parallelize(range(5)).takeSample(True, 20, 1)) == 20
    assert list(sc.parallelize(range(10), 3).toLocalIterator()) == list(range(10))
    assert sc.parallelize(range(10), 3).treeAggregate(0, operator.add, operator.add) == 45
    r1, r2 = sc.parallelize([1]), sc.parallelize([1])
    assert r1.id() != r2.id()
    r = sc.parallelize(range(6), 2).map(lambda x: x * x).persist()
    assert r.is_cached and r.sum() == 55
    r.unpersist()
    assert not r.is_cached and r.count() == 6
    bc = sc.broadcast([1, 2, 3])
    assert sc.parallelize([0, 1], 2).map(lambda i: bc.value[i]).collect() == [1, 2]
    bc.unpersist()
    bc.destroy()
    with pytest.raises(Exception, match="destroyed"):
        bc.value
    assert sc.parallelize([3, 1, 2]).foreach(lambda x: None) is None
    assert sc.union([sc.parallelize([1]), sc.parallelize([2]), sc.parallelize([3])]).collect() == [1, 2, 3]
    assert sc.parallelize([1, 2]).keyBy(lambda x: x % 2).collect() == [(1, 1), (0, 2)]
    assert sc.parallelize(["a b", "c"]).flatMap(str.split).map(str.upper).collect() == ["A", "B", "C"]
    assert sc.parallelize([(1, [1, 2])]).flatMapValues(lambda v: v).collect() == [(1, 1), (1, 2)]


def test_accumulators_int_and_float(sc):
    n = sc.accumulator(0)
    f = sc.accumulator(0.0)

    def touch(x):
        n.add(x)
        f.add(x / 4)
        return x
    sc.parallelize(range(10), 3).map(touch).count()
    assert n.value == 45 and isinstance(n.value, int)
    assert f.value == pytest.approx(45 / 4) and isinstance(f.value, float)
    with pytest.raises(TypeError, match="ints, floats or complex"):
        sc.accumulator("x")


def test_map_side_combine_is_bounded(sc, monkeypatch):
    from kiln import _pipeline
    monkeypatch.setattr(_pipeline, "COMBINE_KEYS", 7)  # pickled by value with the stage: flushes every 7 keys
    pairs = [(i % 100, 1) for i in range(5000)]
    got = dict(sc.parallelize(pairs, 3).reduceByKey(lambda a, b: a + b).collect())
    assert got == {k: 50 for k in range(100)}


def test_coalesce_keeps_order_and_zip_with_unique_id_formula(sc):
    import random
    rng = random.Random(11)
    data = [rng.randrange(10 ** 6) for _ in range(3000)]
    ordered = sc.parallelize(data, 7).sortBy(lambda x: x, numPartitions=5)
    assert ordered.coalesce(1).collect() == sorted(data)          # one sorted part, as saveAsTextFile writes
    parts = sc.parallelize(data, 7).coalesce(3).glom().collect()
    assert len(parts) == 3 and [x for p in parts for x in p] == data
    assert sc.parallelize(data, 7).coalesce(9).getNumPartitions() == 7
    assert sorted(sc.parallelize(data, 7).coalesce(2, shuffle=True).collect()) == sorted(data)
    slices = sc.parallelize(data, 4).glom().collect()
    expect = [(v, i * 4 + k) for k, p in enumerate(slices) for i, v in enumerate(p)]
    assert sc.parallelize(data, 4).zipWithUniqueId().collect() == expect
