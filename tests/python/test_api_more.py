"""PySpark's RDD and SparkContext methods added on top of the core API,
each against plain Python on generated data, on a real cluster."""
import collections
import os
import random
import threading
import time
from operator import add

import pytest

import kiln
from kiln import StorageLevel
from kiln.rdd import BoundedFloat


def test_storage_levels_are_pysparks(sc):
    want = {"NONE": (False, False, False, False, 1), "DISK_ONLY": (True, False, False, False, 1),
            "DISK_ONLY_2": (True, False, False, False, 2), "DISK_ONLY_3": (True, False, False, False, 3),
            "MEMORY_ONLY": (False, True, False, False, 1), "MEMORY_ONLY_2": (False, True, False, False, 2),
            "MEMORY_AND_DISK": (True, True, False, False, 1), "MEMORY_AND_DISK_2": (True, True, False, False, 2),
            "OFF_HEAP": (True, True, True, False, 1), "MEMORY_AND_DISK_DESER": (True, True, False, True, 1)}
    for name, t in want.items():
        lv = getattr(StorageLevel, name)
        assert (lv.useDisk, lv.useMemory, lv.useOffHeap, lv.deserialized, lv.replication) == t, name
    data = list(range(50))
    for name in want:
        if name == "NONE":
            continue
        rdd = sc.parallelize(data, 3).map(lambda x: x * 2)
        assert rdd.getStorageLevel() == StorageLevel.NONE
        rdd.persist(getattr(StorageLevel, name))
        assert rdd.getStorageLevel() == getattr(StorageLevel, name)
        assert rdd.collect() == [x * 2 for x in data] and rdd.sum() == sum(x * 2 for x in data)
        with pytest.raises(ValueError, match="Cannot change storage level"):
            rdd.persist(StorageLevel.DISK_ONLY_3 if name != "DISK_ONLY_3" else StorageLevel.DISK_ONLY)
        rdd.unpersist()
        assert rdd.getStorageLevel() == StorageLevel.NONE
    assert sc.parallelize([1]).cache().getStorageLevel() == StorageLevel.MEMORY_ONLY
    with pytest.raises(TypeError):
        sc.parallelize([1]).persist("MEMORY_ONLY")
    assert not hasattr(StorageLevel, "MEMORY_ONLY_SER")  # gone from PySpark 3


def test_name_context_id(sc):
    a, b = sc.parallelize([1]), sc.parallelize([2])
    assert a.context is sc and a.name() is None and a.id() != b.id()
    assert a.setName("ones") is a and a.name() == "ones"
    assert a.toDebugString().startswith(b"ones: (")


def test_group_by(sc):
    rng = random.Random(1)
    data = [rng.randrange(1000) for _ in range(3000)]
    want = collections.defaultdict(list)
    for x in data:
        want[x % 7].append(x)
    got = sc.parallelize(data, 4).groupBy(lambda x: x % 7, 3).collect()
    assert {k: sorted(v) for k, v in got} == {k: sorted(v) for k, v in want.items()}
    assert sc.parallelize(data, 4).groupBy(lambda x: x % 7, 3).getNumPartitions() == 3


def test_random_split(sc):
    data = list(range(4000))
    rdd = sc.parallelize(data, 4)
    splits = [s.collect() for s in rdd.randomSplit([1, 2, 1], seed=11)]
    again = [s.collect() for s in rdd.randomSplit([1, 2, 1], seed=11)]
    assert splits == again  # deterministic for a seed
    assert sorted(x for s in splits for x in s) == data  # disjoint and covering
    sizes = [len(s) for s in splits]
    for size, share in zip(sizes, [0.25, 0.5, 0.25]):
        assert abs(size / len(data) - share) < 0.04, sizes
    assert [s.collect() for s in rdd.randomSplit([1, 2, 1], seed=12)] != splits
    with pytest.raises(ValueError, match="nonnegative"):
        rdd.randomSplit([1, -1])
    with pytest.raises(ValueError, match="positive"):
        rdd.randomSplit([0, 0])


def test_sample_by_key(sc):
    data = [(k, i) for k in ("a", "b", "c") for i in range(3000)]
    rdd = sc.parallelize(data, 3)
    s = rdd.sampleByKey(False, {"a": 0.0, "b": 1.0, "c": 0.3}, seed=5)
    got = s.collect()
    assert got == rdd.sampleByKey(False, {"a": 0.0, "b": 1.0, "c": 0.3}, seed=5).collect()
    n = collections.Counter(k for k, _ in got)
    assert n["a"] == 0 and n["b"] == 3000 and 800 < n["c"] < 1000
    assert set(got) <= set(data) and len(set(got)) == len(got)
    w = collections.Counter(k for k, _ in rdd.sampleByKey(True, {"a": 2.0, "b": 0.5, "c": 0.0}, seed=3).collect())
    assert 5600 < w["a"] < 6400 and 1300 < w["b"] < 1700 and w["c"] == 0
    with pytest.raises(AssertionError, match="Negative fraction value"):
        rdd.sampleByKey(False, {"a": -0.1})
    with pytest.raises(kiln.KilnError, match="KeyError"):
        rdd.sampleByKey(False, {"a": 0.5}).collect()


def test_reduce_by_key_locally(sc):
    rng = random.Random(2)
    pairs = [("k%d" % rng.randrange(50), rng.randrange(100)) for _ in range(5000)]
    want = collections.defaultdict(int)
    for k, v in pairs:
        want[k] += v
    got = sc.parallelize(pairs, 4).reduceByKeyLocally(add)
    assert isinstance(got, dict) and got == dict(want)
    assert sc.parallelize([], 2).reduceByKeyLocally(add) == {}


def test_repartition_and_sort_within_partitions(sc):
    rng = random.Random(3)
    pairs = [(rng.randrange(200), i) for i in range(2000)]
    rdd = sc.parallelize(pairs, 3)
    for ascending in (True, False):
        parts = rdd.repartitionAndSortWithinPartitions(4, ascending=ascending).glom().collect()
        assert len(parts) == 4
        for p in parts:
            keys = [k for k, _ in p]
            assert keys == sorted(keys, reverse=not ascending)
        assert sorted(kv for p in parts for kv in p) == sorted(pairs)
        keys_in = [{k for k, _ in p} for p in parts]  # a key lives in one partition
        assert sum(len(s) for s in keys_in) == len({k for k, _ in pairs})
    by_mod = rdd.repartitionAndSortWithinPartitions(2, keyfunc=lambda k: -k).glom().collect()
    for p in by_mod:
        assert [k for k, _ in p] == sorted((k for k, _ in p), reverse=True)

    def mod2(k):
        return k % 2
    try:
        custom = rdd.repartitionAndSortWithinPartitions(2, mod2).glom().collect()
    except NotImplementedError as e:  # custom partitioners need the engine's support
        assert "partitionFunc" in str(e)
    else:
        for i, p in enumerate(custom):
            assert all(k % 2 == i for k, _ in p) and [k for k, _ in p] == sorted(k for k, _ in p)


def test_approximate_actions_are_exact_and_typed(sc):
    data = [random.Random(4).random() for _ in range(3000)]
    rdd = sc.parallelize(data, 5)
    c = rdd.countApprox(1000, 0.9)
    assert type(c) is int and c == len(data)
    s = rdd.sumApprox(1000)
    assert isinstance(s, BoundedFloat) and s == pytest.approx(sum(data)) and s.low == s.high == float(s)
    assert s.confidence == 1.0
    m = rdd.meanApprox(1000)
    assert isinstance(m, BoundedFloat) and m == pytest.approx(sum(data) / len(data))
    assert sc.parallelize(range(10), 2).sumApprox(10) == 45.0


def test_count_approx_distinct_is_within_relative_sd(sc):
    rng = random.Random(5)
    for rsd in (0.05, 0.01):
        errors = []
        for n in (50, 1000, 20000, 60000):
            data = [rng.randrange(1 << 40) for _ in range(n)] + ["s%d" % i for i in range(n // 3)]
            data += data[: n // 2]  # duplicates
            true = len(set(data))
            est = sc.parallelize(data, 4).countApproxDistinct(rsd)
            assert type(est) is int
            errors.append(abs(est - true) / true)
            assert errors[-1] < 3 * rsd, (rsd, n, est, true)
        assert sum(errors) / len(errors) < rsd, errors
    # PySpark's portable_hash makes 1, 1.0 and True one element
    assert sc.parallelize([1, 1.0, True, "1", b"1", None, (1, "a"), (1, "a")], 3).countApproxDistinct() == 5
    assert sc.parallelize([], 2).countApproxDistinct() == 0
    with pytest.raises(ValueError, match="relativeSD should be greater than 0.000017"):
        sc.parallelize([1]).countApproxDistinct(0.00001)


def test_to_debug_string_shows_stages(sc):
    rdd = (sc.parallelize([(i % 5, i) for i in range(100)], 4).map(lambda kv: kv).groupByKey(3)
           .join(sc.parallelize([(1, "x")], 2)))
    text = rdd.toDebugString()
    assert isinstance(text, bytes)
    lines = text.decode().splitlines()
    assert lines[0].startswith("(3) join")
    assert sum(" +-(" in ln for ln in lines) == 3  # two join inputs, and the groupByKey's
    assert any("groupByKey" in ln for ln in lines) and sum("parallelize" in ln for ln in lines) == 2
    assert any(ln.lstrip().startswith("+-(4)") for ln in lines)  # the map side of groupByKey: 4 partitions


def test_context_properties(sc, cluster):
    assert kiln.SparkContext.getOrCreate() is sc
    assert abs(sc.startTime / 1000 - time.time()) < 3600 and sc.applicationId
    assert sc.version == "3.5.0" and sc.defaultMinPartitions == min(sc.defaultParallelism, 2)
    import urllib.request
    http = [int(line.split()[1]) for line in open(os.path.join(cluster.root, "driver", "ports"))
            if line.startswith("http ")][0]
    assert sc.uiWebUrl == "http://127.0.0.1:%d" % http  # the driver reports its HTTP port
    req = urllib.request.Request(sc.uiWebUrl + "/api/v1/applications",
                                 headers={"Authorization": "Bearer " + sc._session.http_token})
    assert sc.applicationId in urllib.request.urlopen(req, timeout=10).read().decode()
    sc.setJobGroup("g1", "first group")
    seen = {}
    t = threading.Thread(target=lambda: seen.update(v=sc.getLocalProperty("spark.jobGroup.id")))
    t.start()
    t.join()
    assert sc.getLocalProperty("spark.jobGroup.id") == "g1" and seen["v"] is None  # per thread
    sc.setJobDescription("d")
    assert sc.getLocalProperty("spark.job.description") == "d"
    sc.clearJobGroup()
    assert sc.getLocalProperty("spark.jobGroup.id") is None
    sc.cancelJobGroup("no-such-group")  # nothing runs in it: nothing happens
    sc.setLogLevel("error")
    with pytest.raises(ValueError):
        sc.setLogLevel("CHATTY")


def test_local_context_ui_url():
    with kiln.SparkContext("local[1]", "ui") as lc:
        import urllib.request
        url = lc.uiWebUrl
        assert url.startswith("http://127.0.0.1:")
        req = urllib.request.Request(url + "/api/v1/applications",
                                     headers={"Authorization": "Bearer " + lc._session.http_token})
        body = urllib.request.urlopen(req, timeout=10).read().decode()
        assert lc.applicationId in body


def test_add_file_directory(sc, tmp_path):
    d = tmp_path / "conf.d"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("alpha")
    (d / "sub" / "b.txt").write_text("beta")
    with pytest.raises(ValueError, match="recursive is not turned on"):
        sc.addFile(str(d))
    sc.addFile(str(d), recursive=True)

    def read(_):
        root = kiln.SparkFiles.get("conf.d")
        return (open(os.path.join(root, "a.txt")).read(), open(os.path.join(root, "sub", "b.txt")).read())
    assert sc.parallelize([0, 1], 2).map(read).collect() == [("alpha", "beta")] * 2
    assert open(os.path.join(kiln.SparkFiles.get("conf.d"), "sub", "b.txt")).read() == "beta"


def test_sources_and_union_of_many(sc):
    assert sc.emptyRDD().collect() == [] and sc.emptyRDD().count() == 0
    assert sc.range(3, 40, 4, 3).collect() == list(range(3, 40, 4))
    parts = [sc.parallelize(range(i * 10, i * 10 + 10), 2) for i in range(6)]
    u = sc.union(parts)
    assert u.collect() == list(range(60)) and u.getNumPartitions() == 12


class _VectorParam(kiln.AccumulatorParam):
    def zero(self, value):
        return [0] * len(value)

    def addInPlace(self, a, b):
        for i in range(len(a)):
            a[i] += b[i]
        return a


class _SetParam(kiln.AccumulatorParam):
    def zero(self, value):
        return set()

    def addInPlace(self, a, b):
        a |= b if isinstance(b, set) else {b}
        return a


def test_custom_accumulator_param(sc, tmp_path):
    rng = random.Random(6)
    vecs = [[rng.randrange(100) for _ in range(3)] for _ in range(500)]
    acc = sc.accumulator([1, 1, 1], _VectorParam())
    sc.parallelize(vecs, 5).foreach(lambda v: acc.add(v))
    want = [1 + sum(v[i] for v in vecs) for i in range(3)]
    assert acc.value == want
    sc.parallelize(vecs, 3).foreach(lambda v: acc.add(v))  # a second job adds again
    assert acc.value == [w + sum(v[i] for v in vecs) for i, w in enumerate(want)]
    acc.value = [0, 0, 0]
    acc += [5, 5, 5]
    assert acc.value == [5, 5, 5]

    words = sc.accumulator(set(), _SetParam())
    sc.parallelize(["a", "b", "a", "c"] * 50, 4).foreach(lambda w: words.add(w))
    assert words.value == {"a", "b", "c"}

    # exact Python ints: no 64-bit counter behind INT_ACCUMULATOR_PARAM
    from kiln.accumulators import INT_ACCUMULATOR_PARAM
    big = sc.accumulator(0, INT_ACCUMULATOR_PARAM)
    sc.parallelize([3 * 10 ** 18] * 4, 2).foreach(lambda x: big.add(x))
    assert big.value == 12 * 10 ** 18
    c = sc.accumulator(1j)  # complex: PySpark's default param
    sc.parallelize([1 + 1j, 2j], 2).foreach(lambda x: c.add(x))
    assert c.value == 1 + 4j

    # a task that fails once and is retried counts once
    marker = tmp_path / "failed-once"
    once = sc.accumulator([0], _VectorParam())

    def add_then_fail_once(x):
        once.add([x])
        if x == 3 and not marker.exists():
            marker.write_text("")
            raise RuntimeError("first attempt fails")
    sc.parallelize(range(10), 2).foreach(add_then_fail_once)
    assert marker.exists() and once.value == [sum(range(10))]

    def read_in_task(x):
        return acc.value
    with pytest.raises(kiln.KilnError, match="cannot be accessed inside tasks"):
        sc.parallelize([1]).map(read_in_task).collect()


def test_status_tracker_sees_a_running_job(sc, tmp_path):
    st = sc.statusTracker()
    t, result, go = _blocking_job(sc, tmp_path, "background")
    try:
        for _ in range(6000):
            if st.getActiveJobsIds():
                break
            time.sleep(0.01)
        [job] = st.getActiveJobsIds()
        assert st.getJobIdsForGroup("background") == [job]
        assert job not in st.getJobIdsForGroup()
        info = st.getJobInfo(job)
        assert info.status == "RUNNING" and info.jobId == job
        active = st.getActiveStageIds()
        assert active and set(active) <= set(info.stageIds)
        stage = st.getStageInfo(active[0])
        assert stage.numTasks == 2 and stage.numActiveTasks >= 1 and stage.numFailedTasks == 0
    finally:
        go.write_text("")
        t.join(120)
    assert result["n"] == 4
    assert st.getJobInfo(job).status == "SUCCEEDED" and st.getActiveJobsIds() == []
    assert st.getJobInfo(10 ** 6) is None and st.getStageInfo(10 ** 6) is None
    ungrouped = st.getJobIdsForGroup()
    assert ungrouped and job not in ungrouped and all(j < job for j in ungrouped)


def _blocking_job(sc, tmp_path, group):
    """Starts, in a thread, a job of group whose tasks wait (at most a
    minute) for a file; returns (thread, result dict, the go file)."""
    go, started = tmp_path / "go", tmp_path / "started"

    def wait_for_go(x):
        started.write_text("")
        for _ in range(6000):
            if go.exists():
                break
            time.sleep(0.01)
        return x
    result = {}

    def run():
        if group:
            sc.setJobGroup(group, "blocks")
        try:
            result["n"] = sc.parallelize(range(4), 2).map(wait_for_go).count()
        except Exception as e:
            result["error"] = e
    t = threading.Thread(target=run)
    t.start()
    for _ in range(6000):
        if started.exists():
            break
        time.sleep(0.01)
    return t, result, go


@pytest.mark.parametrize("how", ["group", "all"])
def test_cancel_running_jobs(sc, tmp_path, how):
    t, result, go = _blocking_job(sc, tmp_path, "nightly")
    try:
        if how == "group":
            sc.cancelJobGroup("other")  # another group: the job goes on
            assert t.is_alive()
            sc.cancelJobGroup("nightly")
        else:
            sc.cancelAllJobs()
        t.join(120)
    finally:
        go.write_text("")
        t.join(120)
    assert "n" not in result
    want = "cancelled part of cancelled job group nightly" if how == "group" else \
        "cancelled as part of cancellation of all jobs"
    assert isinstance(result["error"], kiln.KilnError) and want in str(result["error"]), result
    st = sc.statusTracker()
    assert st.getActiveJobsIds() == []
    assert sc.parallelize(range(5)).sum() == 10  # the context goes on


def test_what_needs_the_jvm_says_so(sc):
    rdd = sc.parallelize([(1, 2)])
    for call in (lambda: rdd.saveAsSequenceFile("/tmp/x"), lambda: rdd.saveAsHadoopFile("/tmp/x", "F"),
                 lambda: rdd.saveAsNewAPIHadoopFile("/tmp/x", "F"), lambda: sc.sequenceFile("/tmp/x"),
                 lambda: sc.newAPIHadoopFile("/tmp/x", "F", "K", "V"), lambda: sc.hadoopRDD("F", "K", "V")):
        with pytest.raises(NotImplementedError, match="kiln has no JVM"):
            call()
    with pytest.raises(AttributeError, match="Py4J"):
        sc._jvm


def test_portable_hash_is_pysparks(monkeypatch, sc):
    import subprocess
    import sys
    from kiln.rdd import portable_hash
    # PySpark's values (by its formula, worked by hand for the small ones:
    # () is 0x345678; (None,) is (0x345678 ^ 0) * 1000003 ^ 1)
    assert portable_hash(None) == 0 and portable_hash(()) == 3430008 and portable_hash((None,)) == 3430018290025
    assert portable_hash((1, 2)) == 3430029580082870073 and portable_hash((1, (2, None))) == 6170047192090124139
    assert portable_hash(1) == portable_hash(1.0) == portable_hash(True) == 1
    # str and bytes: the same in every process, whatever PYTHONHASHSEED is
    # (PySpark needs the seed set alike everywhere; kiln hashes their bytes)
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    code = "import sys; sys.path.insert(0, %r); from kiln.rdd import portable_hash; print(portable_hash('a'))" % (
        os.path.join(os.environ.get("KILN_BUILD", "build"), "python"))
    other = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env=dict(os.environ, PYTHONHASHSEED=seed)).stdout.strip() for seed in ("1", "2")]
    assert other == [str(portable_hash("a"))] * 2
    # the default partitioner under its PySpark name is kiln's own
    pairs = [(i, i) for i in range(20)]
    assert sorted(sc.parallelize(pairs, 2).partitionBy(3, portable_hash).collect()) == pairs
