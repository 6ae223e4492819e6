"""Python benchmarks, each beside its peers in the same run (bench/python.sh
runs it). Prints one figure per line.

  wordcount FILE [RUNS] kiln (textFile/flatMap/map/reduceByKey(add), local[2]),
                        Dask bag (2 worker processes), collections.Counter:
                        RUNS rounds (3), the medians
  wordcount-kiln FILE [RUNS]  kiln alone
  records N             range(N, 4 partitions).map(x+1).filter(x%3).count()
                        against the same loop in one process
  tasks                 10,000 one-record tasks; one-task job latency;
                        the first task of a fresh executor
"""
import contextlib
import operator
import os
import statistics
import sys
import time
from collections import Counter

import kiln


def timed(f):
    t = time.perf_counter()
    r = f()
    return time.perf_counter() - t, r


def _kiln_wordcount(sc, path):
    return dict(sc.textFile(path, 8).flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(operator.add).collect())


def _counter_wordcount(path):
    c = Counter()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            c.update(line.split())
    return dict(c)


def wordcount(path, runs):
    """runs rounds of kiln, the Counter loop and Dask bag, one after the
    other in each round (so a shared machine's load falls on all three);
    the medians and their ratios."""
    import logging
    try:
        import dask.bag as db
        from dask.distributed import Client, LocalCluster
    except ImportError as e:
        db = None
        print("wordcount Dask bag: not installed (%s)" % e)
    times = {"kiln": [], "Counter": [], "Dask": []}
    answers = {}
    with kiln.Context("local[2]") as sc, contextlib.ExitStack() as stack:
        if db is not None:
            lc = stack.enter_context(LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                  dashboard_address=None, silence_logs=logging.ERROR))
            stack.enter_context(Client(lc))
        for i in range(runs):
            t, answers["kiln"] = timed(lambda: _kiln_wordcount(sc, path))
            times["kiln"].append(t)
            t, answers["Counter"] = timed(lambda: _counter_wordcount(path))
            times["Counter"].append(t)
            if db is not None:
                t, answers["Dask"] = timed(lambda: dict(db.read_text(path, blocksize="64MiB").str.split().flatten()
                                                        .frequencies().compute()))
                times["Dask"].append(t)
            print("wordcount run %d: " % (i + 1) + ", ".join("%s %.2f s" % (k, v[-1]) for k, v in times.items() if v))
    med = {k: statistics.median(v) for k, v in times.items() if v}
    size = os.path.getsize(path) / 2 ** 20
    print("wordcount %.0f MiB kiln local[2]        %7.2f s median of %d" % (size, med["kiln"], runs))
    print("wordcount %.0f MiB Counter, 1 process   %7.2f s" % (size, med["Counter"]))
    if "Dask" in med:
        print("wordcount %.0f MiB Dask bag, 2 procs    %7.2f s" % (size, med["Dask"]))
    print("wordcount answers kiln vs Counter%s: %s" % (
        ", Dask" if "Dask" in med else "",
        "identical" if all(a == answers["kiln"] for a in answers.values()) else "DIFFERENT"))
    print("wordcount %.0f MiB ratios: %.2fx Counter%s" % (size, med["Counter"] / med["kiln"],
                                                          ", %.2fx Dask bag" % (med["Dask"] / med["kiln"])
                                                          if "Dask" in med else ""))


def wordcount_kiln(path, runs):
    """kiln alone, for comparing two builds in one session."""
    with kiln.Context("local[2]") as sc:
        ts = [timed(lambda: _kiln_wordcount(sc, path))[0] for _ in range(runs)]
    print("wordcount kiln alone: " + ", ".join("%.2f s" % t for t in ts) + "; median %.2f s" % statistics.median(ts))


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
        wordcount(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 3)
    elif what == "wordcount-kiln":
        wordcount_kiln(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 3)
    elif what == "records":
        records(int(sys.argv[2]))
    else:
        tasks()
