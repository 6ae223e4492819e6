"""The executor's side: a crash in a C extension is named, a broadcast is
unpickled at most once per executor, take(n) stops early, and a worker
killed mid-shuffle of a Python wordcount leaves the answer right."""
import operator
import os
import random
import signal
import threading
import time
from collections import Counter

import pytest

import kiln


def test_segfault_in_an_extension_names_the_function(cluster):
    ctx = kiln.Context(cluster.master, "segv", conf={"task.max_failures": "1"})
    try:
        def crash(x):
            import ctypes
            return ctypes.string_at(0)
        with pytest.raises(kiln.KilnError) as e:
            ctx.parallelize([1], 1).map(crash).collect()
        msg = str(e.value)
        assert "signal 11" in msg and "crash at test_executor.py" in msg, msg
    finally:
        ctx.stop()


class _Counted:
    """Unpickling one adds 1 to the accumulator it carries."""

    def __init__(self, acc):
        self.acc = acc

    def __reduce__(self):
        return _Counted._load, (self.acc,)

    @staticmethod
    def _load(acc):
        acc.add(1)
        return _Counted(acc)


def test_broadcast_unpickled_once_per_executor(sc):
    loads = sc.accumulator(0)
    b = sc.broadcast(_Counted(loads))
    n = sc.parallelize(range(64), 32).map(lambda x: x if b.value else -1).sum()
    assert n == sum(range(64))
    # two workers x two slots: at most four executors, each unpickles once
    assert 1 <= loads.value <= 4, loads.value


def test_take_stops_early(sc):
    seen = sc.accumulator(0)

    def count(x):
        seen.add(1)
        return x
    assert sc.range(0, 10_000_000, numSlices=2).map(count).take(5) == [0, 1, 2, 3, 4]
    assert seen.value < 100_000, seen.value


def test_worker_killed_mid_shuffle(cluster, tmp_path):
    rng = random.Random(5)
    vocab = ["w%d" % i for i in range(5000)]
    lines = [" ".join(rng.choice(vocab) for _ in range(12)) for _ in range(40000)]
    path = tmp_path / "words.txt"
    path.write_text("\n".join(lines) + "\n")
    victim = cluster.start_worker(9, 2)
    cluster.wait_workers(3)
    wdir = cluster.workers[-1][1]
    ctx = kiln.Context(cluster.master, "kill")
    result = {}

    def slow(w):
        time.sleep(0.00002)
        return (w, 1)

    def run():
        try:
            result["v"] = dict(ctx.textFile(str(path), 12).flatMap(str.split).map(slow)
                               .reduceByKey(operator.add, 6).collect())
        except Exception as e:  # noqa: BLE001 - reported below
            result["e"] = e
    t = threading.Thread(target=run)
    t.start()
    log = os.path.join(wdir, "worker.log")
    started = "executor started app=%s " % ctx.applicationId
    for _ in range(3000):  # until the victim runs a map task of the job
        if os.path.exists(log) and started in open(log).read():
            break
        time.sleep(0.01)
    assert started in open(log).read()
    victim.send_signal(signal.SIGKILL)
    t.join(300)
    ctx.stop()
    assert "e" not in result, result.get("e")
    assert result["v"] == Counter(w for l in lines for w in l.split())


def test_record_formats_match_the_extension():
    """kiln._stage.Fmt and python/records.h's KR_* name the same numbers."""
    import re
    from kiln._stage import Fmt
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "python", "records.h")) as f:
        c = {m.group(1): int(m.group(2)) for m in re.finditer(r"\bKR_([A-Z0-9]+) = (\d+)", f.read())}
    assert c and c == {m.name: m.value for m in Fmt}
