"""The API that needs the engine: lazy actions (take, first, isEmpty,
toLocalIterator, takeSample) run only the partitions they need."""
import pytest

import kiln


def _parts_take_runs(sizes, num):
    """The partitions PySpark's take(num) runs over partitions of sizes
    (element counts), by its rule written out independently."""
    got, scanned, ran = 0, 0, 0
    while got < num and scanned < len(sizes):
        n = 1
        if scanned:
            n = scanned * 4 if got == 0 else min(max(int(1.5 * num * scanned / got) - scanned, 1), scanned * 4)
        chunk = sizes[scanned:scanned + n]
        ran += len(chunk)
        got += sum(min(s, num - got) for s in chunk)
        scanned += n
    return ran


def _counting(acc):
    def f(it):
        acc.add(1)
        return it
    return f


def test_take_runs_partitions_by_pysparks_rule(sc):
    cases = [([1] * 20, 5), ([0] * 10 + [3] * 10, 4), ([0] * 30 + [1], 1), ([2] * 8, 100), ([5] * 4, 1)]
    for sizes, num in cases:
        data = [(p, i) for p, s in enumerate(sizes) for i in range(s)]
        rdd = sc.parallelize(range(len(sizes)), len(sizes)).flatMap(lambda p, s=sizes: [(p, i) for i in range(s[p])])
        acc = sc.accumulator(0)
        got = rdd.mapPartitions(_counting(acc)).take(num)
        assert got == data[:num]
        assert acc.value == _parts_take_runs(sizes, num), (sizes, num)


def test_take_one_does_not_run_a_failing_later_partition(sc):
    def boom(x):
        if x >= 4:
            raise RuntimeError("partition %d was computed" % (x // 4))
        return x
    rdd = sc.parallelize(range(16), 4).map(boom)
    assert rdd.take(1) == [0]
    assert rdd.first() == 0
    assert not rdd.isEmpty()
    assert rdd.take(4) == [0, 1, 2, 3]
    with pytest.raises(kiln.KilnError, match="was computed"):
        rdd.collect()


def test_first_and_is_empty(sc):
    assert sc.parallelize([], 3).isEmpty()
    assert sc.parallelize([1, 2], 3).filter(lambda x: x > 1).first() == 2
    with pytest.raises(ValueError, match="RDD is empty"):
        sc.parallelize([1, 2], 3).filter(lambda x: x > 5).first()
    # over a shuffle: the map stage runs whole, the result stage one partition first
    pairs = sc.parallelize([(i % 7, i) for i in range(100)], 4).reduceByKey(lambda a, b: a + b, 5)
    assert sorted(pairs.take(100)) == sorted({k: sum(i for i in range(100) if i % 7 == k) for k in range(7)}.items())


def test_take_of_a_text_file_reads_its_first_split(sc, tmp_path):
    p = tmp_path / "lines.txt"
    p.write_text("".join("line %d\n" % i for i in range(5000)))
    rdd = sc.textFile(str(p), 8)
    assert rdd.take(3) == ["line 0", "line 1", "line 2"]
    assert rdd.take(5000) == ["line %d" % i for i in range(5000)]


def test_to_local_iterator_runs_a_job_per_partition(sc):
    acc = sc.accumulator(0)
    it = sc.parallelize(range(40), 4).mapPartitions(_counting(acc)).toLocalIterator()
    first = [next(it) for _ in range(10)]
    assert first == list(range(10))
    assert acc.value == 1  # only the first partition so far
    rest = list(it)
    assert first + rest == list(range(40)) and acc.value == 4
    assert list(sc.parallelize([], 2).toLocalIterator()) == []


def test_take_sample_samples_on_the_executors(sc):
    data = list(range(1000))
    rdd = sc.parallelize(data, 4)
    s = rdd.takeSample(False, 50, 7)
    assert len(s) == 50 and len(set(s)) == 50 and set(s) <= set(data)
    assert rdd.takeSample(False, 50, 7) == s  # the seed decides
    w = rdd.takeSample(True, 2000, 3)
    assert len(w) == 2000 and set(w) <= set(data)
    assert sorted(rdd.takeSample(False, 5000, 1)) == data  # more than there are: all, shuffled
    assert rdd.takeSample(False, 0) == [] and sc.parallelize([], 2).takeSample(True, 5) == []
    with pytest.raises(ValueError, match="negative"):
        rdd.takeSample(False, -1)



def test_take_sample_never_collects_everything(cluster):
    # 40 MB of incompressible elements, results limited to 8 MiB: collecting them all fails
    ctx = kiln.Context(cluster.master, "sample", conf={"driver.max_result_size": "8m"})
    try:
        big = ctx.parallelize(range(400), 4).map(lambda i: (i, __import__("random").Random(i).randbytes(100000)))
        with pytest.raises(kiln.KilnError, match="max_result_size"):
            big.collect()
        got = big.takeSample(False, 3, 11)
        import random
        assert len(got) == 3 and len({i for i, _ in got}) == 3
        assert all(v == random.Random(i).randbytes(100000) for i, v in got)
        assert len(big.takeSample(True, 5, 2)) == 5
    finally:
        ctx.stop()


def _ctx_of(x):
    from kiln import TaskContext
    tc = TaskContext.get()
    return (tc.partitionId(), tc.stageId(), tc.attemptNumber(), tc.taskAttemptId(), tc.getLocalProperty("who"),
            tc.resources(), tc.cpus())


def test_task_context_in_tasks(sc):
    from kiln import TaskContext
    assert TaskContext.get() is None
    sc.setLocalProperty("who", "alice")
    got = sc.parallelize(range(6), 3).map(_ctx_of).collect()
    sc.setLocalProperty("who", None)
    assert [g[0] for g in got] == [0, 0, 1, 1, 2, 2]
    assert len({g[1] for g in got}) == 1 and all(g[2] == 0 for g in got)
    assert len({g[3] for g in got}) == 3  # one id per task
    assert all(g[4:] == ("alice", {}, 1) for g in got)
    # after a shuffle: the reduce stage is another stage
    red = sc.parallelize([(i % 40, i) for i in range(200)], 2).groupByKey(4).map(lambda kv: _ctx_of(kv)[:2]).collect()
    assert sorted({p for p, _ in red}) == [0, 1, 2, 3] and len({s for _, s in red}) == 1
    assert red[0][1] != got[0][1]
    assert TaskContext.get() is None


def test_attempt_number_counts_retries(sc, tmp_path):
    marker = str(tmp_path / "failed-once")

    def flaky(x):
        from kiln import TaskContext
        import os
        if not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("first attempt fails")
        return TaskContext.get().attemptNumber()
    assert sc.parallelize([1], 1).map(flaky).collect() == [1]


def test_pipe(sc):
    data = ["a", "b c", "", "d\n", 5, "ünï"]
    rdd = sc.parallelize(data, 2)
    assert rdd.pipe("cat").collect() == ["a", "b c", "", "d", "5", "ünï"]
    # one process per partition; its whole output is the partition
    assert rdd.pipe("wc -l").map(lambda s: int(s.strip())).collect() == [3, 3]
    # /bin/sh: pipelines, and the environment is exactly env
    assert rdd.pipe("grep -c . | tr -d ' '").collect() == ["2", "3"]
    assert sc.parallelize([1], 1).pipe('echo "[$K][$HOME]"', env={"K": "v"}).collect() == ["1"[:0] + "[v][]"]
    # a command that stops reading early: its output stands, the task ends
    assert sc.parallelize(range(200000), 1).pipe("head -n 2").collect() == ["0", "1"]
    # big input and output both ways without a deadlock
    n = 100000
    assert sc.parallelize(range(n), 2).pipe("cat").map(int).sum() == n * (n - 1) // 2
    assert sc.parallelize([1], 1).pipe("exit 3").collect() == []
    with pytest.raises(kiln.KilnError, match="Pipe function `exit 3' exited with error code 3"):
        sc.parallelize([1], 1).pipe("exit 3", checkCode=True).collect()


def test_whole_text_and_binary_files(sc, tmp_path):
    import os
    import random
    rng = random.Random(5)
    d = tmp_path / "in"
    d.mkdir()
    want = {}
    for i in range(7):
        text = "".join("%d-%d\n" % (i, rng.randrange(10 ** 6)) for _ in range(rng.randrange(0, 50)))
        (d / ("f%d.txt" % i)).write_text(text)
        want["file:%s" % (d / ("f%d.txt" % i))] = text
    (d / "_SUCCESS").write_text("")
    (d / ".hidden").write_text("no")
    rdd = sc.wholeTextFiles(str(d), 3)
    assert rdd.getNumPartitions() == 3
    assert dict(rdd.collect()) == want
    raw = dict(sc.wholeTextFiles(str(d), use_unicode=False).collect())
    assert raw == {k.encode(): v.encode() for k, v in want.items()}
    blob = bytes(rng.randrange(256) for _ in range(5000))
    (tmp_path / "b.bin").write_bytes(blob)
    got = sc.binaryFiles(str(tmp_path / "*.bin")).collect()
    assert got == [("file:%s" % (tmp_path / "b.bin"), blob)]
    both = sc.binaryFiles("%s,%s" % (d / "f1.txt", tmp_path / "b.bin")).keys().collect()
    assert [os.path.basename(p) for p in both] == ["f1.txt", "b.bin"]
    with pytest.raises(FileNotFoundError, match="Input path does not exist"):
        sc.wholeTextFiles(str(tmp_path / "nope"))


def test_checkpoint_truncates_the_lineage(sc, tmp_path):
    src = sc.accumulator(0)

    def from_source(x):
        src.add(1)
        return (x % 13, x * 3)
    with pytest.raises(RuntimeError, match="Checkpoint directory has not been set"):
        sc._checkpoint_dir, saved = None, sc._checkpoint_dir
        try:
            sc.parallelize([1]).checkpoint()
        finally:
            sc._checkpoint_dir = saved
    sc.setCheckpointDir(str(tmp_path / "ck"))
    rdd = sc.parallelize(range(1000), 5).map(from_source)
    rdd.checkpoint()
    assert not rdd.isCheckpointed() and rdd.getCheckpointFile() is None
    want = [(x % 13, x * 3) for x in range(1000)]
    assert rdd.collect() == want
    assert rdd.isCheckpointed() and rdd.getCheckpointFile().startswith("file:%s" % (tmp_path / "ck"))
    assert src.value == 1000  # computed once, to write the files
    assert rdd.glom().map(len).collect() == [200] * 5  # partitioning kept
    assert dict(rdd.reduceByKey(lambda a, b: a + b).collect()) == \
        {k: sum(v for kk, v in want if kk == k) for k in range(13)}
    assert rdd.count() == 1000 and rdd.take(2) == want[:2]
    assert src.value == 1000  # every later job read the checkpoint
    empty = sc.parallelize([], 3)
    empty.checkpoint()
    assert empty.collect() == [] and empty.getNumPartitions() == 3


def test_local_checkpoint(sc):
    src = sc.accumulator(0)

    def from_source(x):
        src.add(1)
        return x + 1
    rdd = sc.parallelize(range(100), 4).map(from_source)
    rdd.localCheckpoint()
    assert rdd.isLocallyCheckpointed() and not rdd.isCheckpointed()
    assert rdd.sum() == 5050 and rdd.count() == 100
    assert rdd.isCheckpointed() and src.value == 100


def test_lost_worker_after_checkpoint_recomputes_from_the_files(cluster, tmp_path):
    import os
    import signal
    import time
    victim = cluster.start_worker(7, 2)
    cluster.wait_workers(3)
    vdir = cluster.workers[-1][1]
    ctx = kiln.Context(cluster.master, "ckloss")
    try:
        src = ctx.accumulator(0)

        def from_source(x):
            src.add(1)
            return (x % 17, x)
        ctx.setCheckpointDir(str(tmp_path / "ck"))
        rdd = ctx.parallelize(range(3000), 6).map(from_source)
        rdd.checkpoint()
        assert rdd.count() == 3000 and src.value == 3000
        sums = rdd.reduceByKey(lambda a, b: a + b, 4)
        want = {k: sum(x for x in range(3000) if x % 17 == k) for k in range(17)}
        assert dict(sums.collect()) == want
        # the victim ran map tasks of that shuffle: its outputs go with it
        assert "executor started app=%s " % ctx.applicationId in open(os.path.join(vdir, "worker.log")).read()
        driver_log = os.path.join(cluster.root, "driver", "driver.log")
        before = open(driver_log).read().count("checkpoint(rdd-%d)" % rdd.id())
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        for _ in range(500):  # until the driver has dropped it
            if "worker lost" in open(driver_log).read():
                break
            time.sleep(0.02)
        assert dict(sums.mapValues(lambda v: v).collect()) == want
        assert src.value == 3000  # nothing was computed from the source again
        after = open(driver_log).read()
        assert "rerun=0" not in after[after.rindex("stage reuses map outputs app=%s" % ctx.applicationId):].split("\n")[0]
        assert after.count("checkpoint(rdd-%d)" % rdd.id()) > before, "the rerun did not read the checkpoint"
        assert "kiln: reading checkpoint %s" % rdd.getCheckpointFile()[len("file:"):] in cluster.logs("executor-*.log")
    finally:
        ctx.stop()


def test_partition_by_sends_records_where_the_function_says(sc):
    import random
    from kiln.rdd import portable_hash
    rng = random.Random(9)
    pairs = [(rng.choice(["a", "bb", "ccc", 7, 8.5, (1, "x"), None]) if i % 3 else rng.randrange(-50, 50), i)
             for i in range(3000)]
    rdd = sc.parallelize(pairs, 4)

    def oracle(n, f):
        parts = [[] for _ in range(n)]
        for k, v in pairs:
            parts[f(k) % n].append((k, v))
        return [sorted(p, key=repr) for p in parts]

    def by_len(k):
        return len(repr(k)) * 7 - 3

    for n, f in [(5, by_len), (3, lambda k: 2), (1, by_len), (6, lambda k: -len(repr(k)))]:
        got = rdd.partitionBy(n, f).glom().collect()
        assert [sorted(p, key=repr) for p in got] == oracle(n, f), n
    # the default and an explicit portable_hash: equal keys together, and the function's own numbers
    default = rdd.partitionBy(4).glom().collect()
    homes = {}
    for i, p in enumerate(default):
        for k, _ in p:
            assert homes.setdefault(k, i) == i
    assert sum(map(len, default)) == len(pairs)
    explicit = rdd.partitionBy(4, portable_hash).glom().collect()
    assert [sorted(p, key=repr) for p in explicit] == oracle(4, portable_hash)
    # further keyed work on the result is ordinary
    assert dict(rdd.partitionBy(3, by_len).reduceByKey(lambda a, b: a + b).collect()) == \
        {k: sum(v for kk, v in pairs if kk == k) for k, _ in pairs}
    with pytest.raises(ValueError, match="positive"):
        rdd.partitionBy(0)
    with pytest.raises(kiln.KilnError, match="not a partition number"):
        rdd.partitionBy(2, lambda k: 0.5).collect()


@pytest.fixture(scope="module")
def three_slots(tmp_path_factory):
    """A cluster of its own: one worker with 3 slots, so a barrier stage's
    slot count is known."""
    from conftest import Cluster
    c = Cluster(str(tmp_path_factory.mktemp("barrier")), workers=1, slots=3)
    ctx = kiln.Context(c.master, "barrier")
    yield c, ctx
    ctx.stop()
    c.stop()


def _gather_partition(it):
    from kiln import BarrierTaskContext
    ctx = BarrierTaskContext.get()
    items = list(it)
    ctx.barrier()
    got = ctx.allGather("p%d:%d" % (ctx.partitionId(), sum(items)))
    ctx.barrier()
    again = ctx.allGather(str(len(items)))
    return [(ctx.partitionId(), got, again)]


def test_barrier_all_gather_in_partition_order(three_slots):
    _, sc = three_slots
    data = list(range(30))
    out = sc.parallelize(data, 3).barrier().mapPartitions(_gather_partition).collect()
    sums = ["p%d:%d" % (p, sum(data[p * 10:(p + 1) * 10])) for p in range(3)]
    assert out == [(p, sums, ["10", "10", "10"]) for p in range(3)]
    # with an index, after a shuffle, and feeding one: still one barrier stage each time
    def with_index(i, it):
        from kiln import BarrierTaskContext
        return [(i, BarrierTaskContext.get().allGather(str(i)))]
    keyed = sc.parallelize([(i % 5, i) for i in range(50)], 4).reduceByKey(lambda a, b: a + b, 3)
    assert keyed.barrier().mapPartitionsWithIndex(with_index).collect() == [(i, ["0", "1", "2"]) for i in range(3)]
    fed = sc.parallelize(range(9), 3).barrier().mapPartitions(lambda it: [sum(it)]).map(lambda s: (s % 2, s))
    assert sorted(fed.groupByKey().mapValues(sorted).collect()) == [(0, [12]), (1, [3, 21])]


def test_barrier_needs_enough_slots_and_every_partition(three_slots):
    _, sc = three_slots
    with pytest.raises(kiln.KilnError, match="SPARK-24819.*needs 4 slots, the cluster has 3"):
        sc.parallelize(range(8), 4).barrier().mapPartitions(lambda it: it).collect()
    with pytest.raises(kiln.KilnError, match="Barrier execution mode does not support running a barrier stage on"):
        sc.parallelize(range(9), 3).barrier().mapPartitions(lambda it: it).take(1)
    with pytest.raises(kiln.KilnError, match="It is not in a barrier stage"):
        sc.parallelize([1], 1).map(lambda x: kiln.BarrierTaskContext.get()).collect()
    assert sc.parallelize(range(9), 3).barrier().mapPartitions(lambda it: [sum(it)]).collect() == [3, 12, 21]


def test_barrier_waits_for_free_slots(three_slots, tmp_path):
    import os
    import threading
    import time
    cluster, sc = three_slots
    busy = tmp_path / "busy"
    busy.mkdir()
    other = kiln.Context(cluster.master, "occupier")
    release = tmp_path / "release"

    def hold(i):
        import os as _os
        import time as _t
        mark = _os.path.join(str(busy), str(i))
        open(mark, "w").close()
        while not _os.path.exists(str(release)):
            _t.sleep(0.01)
        _os.unlink(mark)
        return i
    t = threading.Thread(target=lambda: other.parallelize([0, 1], 2).map(hold).collect())
    t.start()
    b = None
    try:
        for _ in range(1000):  # both slots taken
            if len(os.listdir(busy)) == 2:
                break
            time.sleep(0.01)
        assert len(os.listdir(busy)) == 2
        result = {}

        def seen(it):
            import os as _os
            from kiln import BarrierTaskContext
            BarrierTaskContext.get().barrier()
            return [sorted(_os.listdir(str(busy)))]
        driver_log = os.path.join(cluster.root, "driver", "driver.log")
        waiting, launched = ("barrier stage %s app=%s " % (w, sc.applicationId) for w in ("waiting", "launched"))
        w0, l0 = open(driver_log).read().count(waiting), open(driver_log).read().count(launched)
        b = threading.Thread(target=lambda: result.setdefault(
            "v", sc.parallelize(range(3), 3).barrier().mapPartitions(seen).collect()))
        b.start()
        for _ in range(1000):  # the barrier stage waits: 1 free slot, 3 tasks
            if open(driver_log).read().count(waiting) > w0:
                break
            time.sleep(0.01)
        log = open(driver_log).read()
        assert log.count(waiting) == w0 + 1 and log.count(launched) == l0
        release.touch()
        b.join(120)
        t.join(120)
        assert result["v"] == [[], [], []]  # every barrier task started after the slots were free
    finally:  # the threads end before their contexts do
        release.touch()
        t.join(120)
        if b is not None:
            b.join(120)
        other.stop()


def test_barrier_failure_reruns_the_whole_stage(three_slots, tmp_path):
    _, sc = three_slots
    runs = tmp_path / "runs"
    runs.mkdir()

    # partition 1 fails after the first round: the others wait in the second and are cancelled
    def flaky_all(it):
        import os as _os
        from kiln import BarrierTaskContext
        ctx = BarrierTaskContext.get()
        p = ctx.partitionId()
        open(_os.path.join(str(runs), "%d-%d" % (p, ctx.attemptNumber())), "w").close()
        ctx.barrier()
        if p == 1 and ctx.attemptNumber() == 0:
            raise RuntimeError("partition 1 fails its first attempt")
        ctx.barrier()
        return [(p, ctx.attemptNumber())]
    assert sc.parallelize(range(3), 3).barrier().mapPartitions(flaky_all).collect() == [(0, 1), (1, 1), (2, 1)]
    import os
    assert sorted(os.listdir(runs)) == ["0-0", "0-1", "1-0", "1-1", "2-0", "2-1"]
    # a task that always fails fails the job after task.max_failures attempts of the whole stage
    with pytest.raises(kiln.KilnError, match="(?s)barrier stage failed 4 times.*ValueError: always"):
        sc.parallelize(range(3), 3).barrier().mapPartitions(
            lambda it: (_ for _ in ()).throw(ValueError("always"))).collect()


def test_keyed_operations_honour_a_partition_func(sc):
    import random
    from collections import defaultdict
    rng = random.Random(4)
    pairs = [(rng.randrange(40), rng.randrange(100)) for _ in range(2000)]
    rdd = sc.parallelize(pairs, 3)

    def low(k):
        return 0 if k < 10 else k

    want_sum, want_lists = defaultdict(int), defaultdict(list)
    for k, v in pairs:
        want_sum[k] += v
        want_lists[k].append(v)

    def placed(parts, n):
        for i, p in enumerate(parts):
            for k, _ in p:
                assert low(k) % n == i, (k, i)
        return dict(kv for p in parts for kv in p)

    got = rdd.reduceByKey(lambda a, b: a + b, 4, low).glom().collect()
    assert len(got) == 4 and placed(got, 4) == want_sum
    got = rdd.groupByKey(5, low).mapValues(sorted).glom().collect()
    assert placed(got, 5) == {k: sorted(v) for k, v in want_lists.items()}
    got = rdd.aggregateByKey(0, lambda a, v: a + v, lambda a, b: a + b, 2, low).glom().collect()
    assert placed(got, 2) == want_sum
    assert dict(rdd.foldByKey(0, lambda a, b: a + b, partitionFunc=low).collect()) == want_sum
    assert rdd.reduceByKey(lambda a, b: a + b, partitionFunc=low).getNumPartitions() == 3
