"""The broadcast rule from the logs: a Python stage over 1 MiB is
serialized once and travels as a blob fetched once per worker; a 20 MB
sc.broadcast is fetched once per worker however many tasks read it."""
import os
import re

import kiln


def _worker_logs(cluster):
    return [open(os.path.join(d, "worker.log")).read() for _, d in cluster.workers]


def test_large_stage_is_broadcast_once(cluster):
    ctx = kiln.Context(cluster.master, "bigstage")
    try:
        big = list(range(300_000))  # the closure pickles to ~1.5 MB
        got = ctx.parallelize(range(40), 8).map(lambda x: x + big[x]).collect()
        assert got == [2 * x for x in range(40)]
        app = ctx.applicationId
        drv = open(os.path.join(cluster.root, "driver", "driver.log")).read()
    finally:
        ctx.stop()
    lines = [l for l in drv.splitlines() if "stage serialized app=%s " % app in l]
    assert len(lines) == 1 and "broadcast=yes" in lines[0], lines
    size = int(re.search(r"bytes=(\d+)", lines[0]).group(1))
    assert size > 1 << 20
    h = re.search(r"hash=([0-9a-f]+)", lines[0]).group(1)
    fetched = [sum(1 for l in log.splitlines() if "blob fetched hash=" + h in l) for log in _worker_logs(cluster)]
    assert fetched == [1, 1], fetched


def test_broadcast_value_fetched_once_per_worker(cluster):
    ctx = kiln.Context(cluster.master, "bigbcast")
    try:
        value = bytes(range(256)) * (20_000_000 // 256)
        b = ctx.broadcast(value)
        n = ctx.parallelize(range(32), 16).map(lambda x: len(b.value) + b.value[x]).collect()
        assert n == [len(value) + x for x in range(32)]
        bid = b._id
    finally:
        ctx.stop()
    fetched = [sum(1 for l in log.splitlines() if "blob fetched hash=" + bid in l) for log in _worker_logs(cluster)]
    assert fetched == [1, 1], fetched
