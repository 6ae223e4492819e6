"""Python benchmarks, each beside its peers in the same run (bench/python.sh
runs it). Prints one figure per line.

  wordcount FILE        kiln (textFile/flatMap/map/reduceByKey(add), local[2]),
                        Dask bag (2 worker processes), collections.Counter
  records N             range(N, 4 partitions).map(x+1).filter(x%3).count()
                        against the same loop in one process
  tasks                 10,000 one-record tasks; one-task job latency;
                        the first task of a fresh executor
"""
import operator
import statistics
import sys
import time
from collections import Counter

import kiln


def timed(f):
    t = time.perf_counter()
    r = f()
    return time.perf_counter() - t, r


def wordcount(path):
    with kiln.Context("local[2]") as sc:
        tk, kc = timed(lambda: dict(sc.textFile(path, 8).flatMap(str.split).map(lambda w: (w, 1))
                                    .reduceByKey(operator.add).collect()))
    print("wordcount kiln local[2]        %7.2f s" % tk)

    def counter():
        c = Counter()
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                c.update(line.split())
        return c
    tc, cc = timed(counter)
    print("wordcount Counter, 1 process   %7.2f s" % tc)
    same = "identical" if dict(cc) == kc else "DIFFERENT"
    td = None
    try:
        import dask.bag as db
        from dask.distributed import Client, LocalCluster
        import logging
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR) as lc, \
                Client(lc):
            td, dc = timed(lambda: dict(db.read_text(path, blocksize="64MiB").str.split().flatten()
                                        .frequencies().compute()))
        same_d = "identical" if dc == kc else "DIFFERENT"
        print("wordcount Dask bag, 2 procs    %7.2f s  (answer %s)" % (td, same_d))
    except ImportError as e:
        print("wordcount Dask bag: not installed (%s)" % e)
    print("wordcount answers kiln vs Counter: %s" % same)
    print("wordcount ratios: %.2fx Counter%s" % (tc / tk, ", %.2fx Dask bag" % (td / tk) if td else ""))


def records(n):
    with kiln.Context("local[2]") as sc:
        sc.range(0, 1000, numSlices=4).map(lambda x: x).count()  # executors started
        tk, c = timed(lambda: sc.range(0, n, numSlices=4).map(lambda x: x + 1).filter(lambda x: x % 3).count())

    def plain():
        f, g, k = (lambda x: x + 1), (lambda x: x % 3), 0
        for _ in filter(g, map(f, range(n))):
            k += 1
        return k
    tp, p = timed(plain)
    assert c == p, (c, p)
    per_slot = n / tk / 2
    print("records kiln, per slot          %7.2f M/s (%.2f s for %d, 2 slots)" % (per_slot / 1e6, tk, n))
    print("records plain loop, 1 process   %7.2f M/s (%.2f s)" % (n / tp / 1e6, tp))
    print("records ratio per slot: %.2f" % (per_slot / (n / tp)))


def tasks():
    with kiln.Context("local[2]") as sc:
        t0, _ = timed(lambda: sc.parallelize([1], 1).map(lambda x: x).collect())
        t1, _ = timed(lambda: sc.parallelize([1], 1).map(lambda x: x).collect())
        tt, n = timed(lambda: sc.parallelize(range(10000), 10000).map(lambda x: x).count())
        lat = [timed(lambda: sc.parallelize([i], 1).map(lambda x: x + 1).collect())[0] for i in range(300)]
    print("tasks 10,000 one-record tasks   %7.0f tasks/s (%.2f s)" % (n / tt, tt))
    print("tasks one-task job latency      %7.2f ms median of 300 (warm)" % (statistics.median(lat) * 1e3))
    print("tasks fresh executor's first task %5.1f ms more than a warm one (%.1f vs %.1f ms)"
          % ((t0 - t1) * 1e3, t0 * 1e3, t1 * 1e3))


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "wordcount":
        wordcount(sys.argv[2])
    elif what == "records":
        records(int(sys.argv[2]))
    else:
        tasks()
