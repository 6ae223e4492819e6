"""RDD: PySpark's resilient distributed dataset, on kiln's engine.

An RDD is either a node of the engine's lineage graph (a source, a
shuffle's output, a cached dataset) in one of the record formats of
_stage.py, or a pipeline: Python functions waiting to run over such a
node. Narrow transformations compose into the pipeline (PySpark's
PipelinedRDD), so the engine sees one operation per Python stage; the
pipeline becomes a node (_node) when a shuffle, an action or a cache
needs one, in the record format that consumer reads. Shuffles, sorts,
joins and grouping run in C on encoded keys.

The functions shipped are built by the module-level helpers below from
the user's functions only: nothing here captures an RDD or a Context
into a closure.
"""
import copy
import functools
import heapq
import math
import operator
import os
import random
import sys
from collections import defaultdict, deque
from itertools import chain, count, islice

from . import _buckets, _stage
from ._engine_ops import (_append, _extend, _fraction_for_sample_size, _merge_combiners, _name_partitions, _one_list,
                          _pipe_through, _read_checkpoint_part, portable_hash)
from ._stage import GROUP, JOIN, KEY, PAIR, TEXT, VALUE
from ._rddmore import BoundedFloat, MoreRDD  # noqa: F401 (pyspark.rdd's names)
from .stats import StatCounter
from .storagelevel import StorageLevel


# ---- the functions that become stages (no RDD captured) ----------------

def _compose(f, g):
    def composed(split, it):
        return g(split, f(split, it))
    composed._kiln_step = ("compose", f, g)  # what kiln._worker.word_pairs recognises
    return composed


def _identity(split, it):
    return it


# A StopIteration that a user function raises must fail the task, never
# end the partition early as the end of the input would: the user's
# functions run under the executor's user_map and user_filter (map() and
# filter() in C that turn it into PySpark's error), or inside generators,
# where PEP 479 makes it a RuntimeError that kiln._worker.run rewords.

def _calls(f, it):
    for x in it:
        yield f(x)


def _kept(f, it):
    for x in it:
        if f(x):
            yield x


def _user_map(f, it):
    try:
        from _kiln_exec import user_map  # in an executor
    except ImportError:
        return _calls(f, it)
    return user_map(f, it)


def _user_filter(f, it):
    try:
        from _kiln_exec import user_filter
    except ImportError:
        return _kept(f, it)
    return user_filter(f, it)


def _map(f):
    def stage(split, it):
        return _user_map(f, it)
    stage._kiln_step = ("map", f)
    return stage


def _flat_map(f):
    def stage(split, it):
        return chain.from_iterable(_user_map(f, it))
    stage._kiln_step = ("flatMap", f)
    return stage


def _filter(f):
    def stage(split, it):
        return _user_filter(f, it)
    return stage


def _partitions(f):
    def stage(split, it):
        return f(it)
    return stage


def _map_values(f):
    def stage(split, it):
        return ((k, f(v)) for k, v in it)
    return stage


def _flat_map_values(f):
    def stage(split, it):
        return ((k, x) for k, v in it for x in f(v))
    return stage


def _range_parts(r, n):
    start, step, length = r.start, r.step, len(r)

    def part(i):
        lo, hi = i * length // n, (i + 1) * length // n
        return range(start + lo * step, start + hi * step, step)

    def parts(it):  # chained in C: no generator frame per number
        return chain.from_iterable(map(part, it))
    return parts


# Keys a map-side combine holds before it lets its partial combiners go on
# to the shuffle (the reduce side merges them again, spilling in C), so a
# partition with many distinct keys does not hold them all in Python.
COMBINE_KEYS = 1 << 16


def _combine_locally(create, merge_value):
    """Map side of combineByKey: one combiner per key, at most COMBINE_KEYS
    held at once."""
    def stage(it):
        d = {}
        for k, v in it:
            if k in d:
                d[k] = merge_value(d[k], v)
            else:
                if len(d) >= COMBINE_KEYS:
                    yield from d.items()
                    d = {}
                d[k] = create(v)
        yield from d.items()
    return stage


def _merge_groups(merge):
    def stage(it):
        for k, cs in it:
            yield k, functools.reduce(merge, cs)
    return stage


def _tag(i):
    def f(v):
        return (i, v)
    return f


def _cogroup_lists(n):
    def f(tagged):
        out = tuple([] for _ in range(n))
        for i, v in tagged:
            out[i].append(v)
        return out
    return f


def _outer(kind):
    def f(lists):
        left, right = lists
        if kind in ("right", "full") and not left:
            left = [None]
        if kind in ("left", "full") and not right:
            right = [None]
        return [(a, b) for a in left for b in right]
    return f


def _mp_fold(zero, op):
    def stage(it):
        acc = copy.deepcopy(zero)
        for x in it:
            acc = op(acc, x)
        yield acc
    return stage


def _mp_reduce(f):
    def stage(it):
        it = iter(it)
        for first in it:
            yield functools.reduce(f, it, first)
            return
    return stage


def _count_part(it):
    n = count()
    deque(zip(it, n), maxlen=0)  # consumed in C: no Python bytecode per record
    yield next(n)


def _count_values(it):
    d = defaultdict(int)
    for x in it:
        d[x] += 1
    yield dict(d)


def _stats_part(it):
    yield StatCounter(it)


def _foreach(f):
    def stage(it):
        for x in it:
            f(x)
        return iter(())
    return stage


def _foreach_partition(f):
    def stage(it):
        f(it)
        return iter(())
    return stage


def _nlargest(n, key):
    def stage(it):
        yield heapq.nlargest(n, it, key=key)
    return stage


def _nsmallest(n, key):
    def stage(it):
        yield heapq.nsmallest(n, it, key=key)
    return stage


def _glom(it):
    yield list(it)


def _sample(with_replacement, fraction, seed):
    def stage(split, it):
        rng = random.Random(seed ^ (split * 0x9E3779B1))
        if with_replacement:
            import math
            for x in it:
                # Poisson(fraction) copies of each element (Knuth)
                limit, k, p = math.exp(-fraction), 0, 1.0
                while True:
                    p *= rng.random()
                    if p <= limit:
                        break
                    k += 1
                for _ in range(k):
                    yield x
        else:
            for x in it:
                if rng.random() < fraction:
                    yield x
    return stage


def _with_index(offsets):
    def stage(split, it):
        for i, x in enumerate(it, offsets[split]):
            yield x, i
    return stage


def _to_pickled_lines(batch):
    import base64
    import pickle

    def stage(it):
        it = iter(it)
        while True:
            b = list(islice(it, batch))
            if not b:
                return
            yield base64.b64encode(pickle.dumps(b, protocol=5)).decode("ascii")
    return stage


def _from_pickled_lines(line):
    import base64
    import pickle
    return pickle.loads(base64.b64decode(line))


# ---- the RDD -------------------------------------------------------------

class RDD(MoreRDD):
    """A dataset: lazy transformations, actions that run jobs."""

    def __init__(self, ctx, base, fmt, func=None, name=None):
        self.ctx = ctx
        self._base = base      # an engine node, or None for a pipeline over prev
        self._fmt = fmt        # the base node's record format
        self._func = func      # pending Python functions over the base, or None
        self._name = name      # what the functions are, for errors and blame
        self._nodes = {}       # format -> node made of this RDD
        self._cached = False
        self._checkpoint = None  # None, "pending" (checkpoint() called), or the RDD reading the written files
        self._checkpoint_file = None
        self._local_checkpoint = False
        self._barrier = False  # its pipeline runs as a barrier stage (rdd.barrier().mapPartitions)
        self._id = ctx._next_rdd_id()

    @classmethod
    def _of(cls, ctx, node, fmt):
        return cls(ctx, node, fmt)

    # ---- plumbing -------------------------------------------------------

    def _pipe(self, stage, name):
        """A new RDD running stage(split, iterator) after this one."""
        if self._checkpoint is not None:  # its lineage ends at the checkpoint files
            return self._checkpointed()._pipe(stage, name)
        if self._func is not None and not self._cached:
            out = RDD(self.ctx, self._base, self._fmt, _compose(self._func, stage), "%s | %s" % (self._name, name))
            out._barrier = self._barrier
            return out
        if self._cached:  # read the kept node: a cached dataset is not pipelined into
            fmt = next(iter(self._nodes)) if self._nodes else self._own_fmt()
            return RDD(self.ctx, self._node(fmt), fmt, stage, name)
        return RDD(self.ctx, self._base, self._fmt, stage, name)

    def _own_fmt(self):
        """The format this RDD's records are in without converting them."""
        return self._fmt if self._func is None else VALUE

    def _node(self, fmt, op=None):
        """This RDD as an engine node in record format fmt (built once); op
        names the operation that needs it, for errors (a key of the wrong
        type)."""
        if self._checkpoint is not None:
            return self._checkpointed()._node(fmt, op)
        if fmt in self._nodes:
            return self._nodes[fmt]
        if self._cached and self._nodes:  # convert the kept node: it is never computed twice
            have_fmt, have = next(iter(self._nodes.items()))
            node = self._stage(have, have_fmt, _identity, fmt, "convert", op)
        else:
            if self._func is None and fmt == self._fmt:
                node = self._base
            else:
                node = self._stage(self._base, self._fmt, self._func or _identity, fmt, self._name or "convert", op)
            if self._cached:
                self.ctx._session.cache(node, True)
        self._nodes[fmt] = node
        return node

    def _stage(self, base, in_fmt, func, out_fmt, name, op=None):
        op = op or {PAIR: "a keyed operation", KEY: "distinct"}.get(out_fmt, "a Python stage")
        env = _stage.env(func, in_fmt, out_fmt, op, name, self.ctx._stage_deps(), dict(self.ctx._local_props()),
                         self._barrier)
        node = self.ctx._session.py_stage(base, env, name)
        if self._barrier:
            self.ctx._session.barrier(node)
        return node

    def _keyed(self, op):
        return self._node(PAIR, op)

    def _parts(self, n):
        return int(n) if n else 0

    # ---- about the dataset ---------------------------------------------

    def id(self):
        return self._id

    def getNumPartitions(self):
        if self._base in self.ctx._empty_nodes:  # emptyRDD(): no partitions, as PySpark's
            return 0
        return self.ctx._session.partitions(self._base)

    def cache(self):
        return self.persist(StorageLevel.MEMORY_ONLY)

    def persist(self, storageLevel=StorageLevel.MEMORY_ONLY):
        """Keeps the partitions once computed; storagelevel.py says how
        kiln honours each level."""
        if not isinstance(storageLevel, StorageLevel):
            raise TypeError("storageLevel should be a StorageLevel, got %s" % type(storageLevel).__name__)
        if self._cached and storageLevel != self.getStorageLevel():
            raise ValueError("Cannot change storage level of an RDD after it was already assigned a level")
        self._level = storageLevel
        self._cached = True
        return self

    def unpersist(self, blocking=False):
        """Later jobs compute it again (its kept files go when the application ends)."""
        for node in self._nodes.values():
            self.ctx._session.cache(node, False)
        self._cached = False
        self._nodes = {}
        return self

    @property
    def is_cached(self):
        return self._cached

    # ---- checkpoints ----------------------------------------------------

    def checkpoint(self):
        """Marks the RDD to be written to the context's checkpoint directory
        (sc.setCheckpointDir) by the first job that needs it; from then on
        every job reads those files instead of computing its lineage.

        >>> import tempfile
        >>> sc.setCheckpointDir(tempfile.mkdtemp())
        >>> rdd = sc.parallelize(range(5), 2).map(lambda x: x * x)
        >>> rdd.checkpoint()
        >>> rdd.isCheckpointed()
        False
        >>> rdd.sum()
        30
        >>> rdd.isCheckpointed(), rdd.getCheckpointFile().startswith("file:/")
        (True, True)
        """
        if self.ctx._checkpoint_dir is None:
            raise RuntimeError("Checkpoint directory has not been set in the SparkContext")
        if self._checkpoint is None and not self._local_checkpoint:
            self._checkpoint = "pending"

    def isCheckpointed(self):
        """Whether the RDD has been checkpointed (its files written, or for a
        local checkpoint, its partitions kept by a job); see checkpoint().

        >>> sc.parallelize([1]).isCheckpointed()
        False
        """
        return isinstance(self._checkpoint, RDD) or (self._local_checkpoint and bool(self._nodes))

    def getCheckpointFile(self):
        """The directory the checkpoint was written to (a file: URI), or None;
        see checkpoint().

        >>> print(sc.parallelize([1]).getCheckpointFile())
        None
        """
        return self._checkpoint_file

    def localCheckpoint(self):
        """Keeps the RDD's partitions on the executors' disks, as cache() does,
        and truncates its lineage there: later jobs read the kept partitions.
        kiln still remembers the lineage, so a partition lost with its
        worker is computed again rather than failing the job.

        >>> rdd = sc.parallelize(range(4), 2)
        >>> rdd.localCheckpoint()
        >>> rdd.isLocallyCheckpointed(), rdd.collect()
        (True, [0, 1, 2, 3])
        """
        if self._checkpoint is None:
            self._local_checkpoint = True
            self.cache()

    def isLocallyCheckpointed(self):
        """Whether localCheckpoint() was called (see localCheckpoint).

        >>> sc.parallelize([1]).isLocallyCheckpointed()
        False
        """
        return self._local_checkpoint

    def _checkpointed(self):
        """The RDD over this one's checkpoint files, written first when they
        are not yet: a job saves every partition as a part file (pickled
        batches, saveAsPickleFile's layout), then each partition of the new
        RDD reads its own part, so partitioning is kept."""
        if self._checkpoint == "pending":
            path = os.path.join(self.ctx._checkpoint_dir, "rdd-%d" % self._id)
            self._checkpoint = None  # computed from its lineage this once
            n = self.getNumPartitions()
            try:
                self.mapPartitions(_to_pickled_lines(10)).saveAsTextFile(path)
            except BaseException:
                self._checkpoint = "pending"  # the next job tries again
                raise
            parts = [os.path.join(path, "part-%05d" % i) for i in range(n)]
            missing = [p for p in parts if not os.path.exists(p)]
            if missing:
                raise RuntimeError("checkpoint of RDD[%d] wrote no %s: is %s shared by the workers and the client?"
                                   % (self._id, missing[0], self.ctx._checkpoint_dir))
            reader = self.ctx.parallelize(parts, n)._pipe(_flat_map(_read_checkpoint_part),
                                                          "checkpoint(rdd-%d)" % self._id)
            self._checkpoint, self._checkpoint_file = reader, "file:" + path
        return self._checkpoint

    def __repr__(self):
        return "RDD[%d]" % self._id

    # ---- narrow transformations ---------------------------------------

    def map(self, f, preservesPartitioning=False):
        return self._pipe(_map(f), "map(%s)" % _stage.describe(f))

    def flatMap(self, f, preservesPartitioning=False):
        return self._pipe(_flat_map(f), "flatMap(%s)" % _stage.describe(f))

    def filter(self, f):
        return self._pipe(_filter(f), "filter(%s)" % _stage.describe(f))

    def mapPartitions(self, f, preservesPartitioning=False):
        return self._pipe(_partitions(f), "mapPartitions(%s)" % _stage.describe(f))

    def mapPartitionsWithIndex(self, f, preservesPartitioning=False):
        return self._pipe(f, "mapPartitionsWithIndex(%s)" % _stage.describe(f))

    mapPartitionsWithSplit = mapPartitionsWithIndex

    def keys(self):
        return self.map(operator.itemgetter(0))

    def values(self):
        return self.map(operator.itemgetter(1))

    def mapValues(self, f):
        return self._pipe(_map_values(f), "mapValues(%s)" % _stage.describe(f))

    def flatMapValues(self, f):
        return self._pipe(_flat_map_values(f), "flatMapValues(%s)" % _stage.describe(f))

    def keyBy(self, f):
        return self.map(_key_by(f))

    def glom(self):
        return self.mapPartitions(_glom)

    def barrier(self):
        """The RDD in barrier mode: the stage of the next mapPartitions runs
        all its tasks at once (or waits until it can), and they may meet in
        BarrierTaskContext.barrier() and allGather(); if one fails, the whole
        stage runs again. Needs as many free slots as partitions.

        >>> from kiln.taskcontext import BarrierTaskContext
        >>> def f(it):
        ...     BarrierTaskContext.get().barrier()
        ...     yield sum(it)
        >>> sc.parallelize(range(10), 2).barrier().mapPartitions(f).collect()
        [10, 35]
        """
        return RDDBarrier(self)

    def pipe(self, command, env=None, checkCode=False):
        """Each partition through command, run by /bin/sh -c with exactly
        the environment env (PySpark's: nothing else is inherited): every
        element is written as a line (str(x), a final newline removed, then
        one added) to its stdin, every line it prints is an element. With
        checkCode a non-zero exit fails the task.

        >>> sc.parallelize(['1', '2', '', '3']).pipe('cat').collect()
        ['1', '2', '', '3']
        >>> sc.parallelize([1, 2, 3], 1).pipe('sed "s/^/$P/"', env={'P': 'n='}).collect()
        ['n=1', 'n=2', 'n=3']
        """
        return self.mapPartitions(_pipe_through(command, dict(env or {}), bool(checkCode)))

    def sample(self, withReplacement, fraction, seed=None):
        if fraction < 0:
            raise ValueError("fraction must be >= 0")
        seed = random.randrange(1 << 31) if seed is None else seed
        return self._pipe(_sample(withReplacement, fraction, seed), "sample")

    def union(self, other):
        fmt = self._own_fmt() if self._own_fmt() == other._own_fmt() else VALUE
        a, b = self._node(fmt), other._node(fmt)
        return RDD._of(self.ctx, self.ctx._session.union(a, b), fmt)

    def __add__(self, other):
        return self.union(other)

    # ---- wide transformations -------------------------------------------

    def reduceByKey(self, func, numPartitions=None, partitionFunc=None):
        if partitionFunc is not None:  # the user's partitioning: partitionBy, then merge per partition
            return self.combineByKey(_ident1, func, func, numPartitions, partitionFunc)
        if func is operator.add:  # in C on the encoded values, ints and floats without Python
            node = self.ctx._session.reduce_add(self._keyed("reduceByKey"), self._parts(numPartitions))
            return RDD._of(self.ctx, node, PAIR)
        return self.combineByKey(_ident1, func, func, numPartitions)

    def combineByKey(self, createCombiner, mergeValue, mergeCombiners, numPartitions=None, partitionFunc=None):
        local = self.mapPartitions(_combine_locally(createCombiner, mergeValue))
        if partitionFunc is not None:  # records go where partitionFunc says (partitionBy), merged there
            n = self._parts(numPartitions) or self.getNumPartitions()
            return local.partitionBy(n, partitionFunc).mapPartitions(_merge_combiners(mergeCombiners))
        grouped = self.ctx._session.group_by_key(local._keyed("combineByKey"), self._parts(numPartitions))
        return RDD._of(self.ctx, grouped, GROUP).mapPartitions(_merge_groups(mergeCombiners))

    def aggregateByKey(self, zeroValue, seqFunc, combFunc, numPartitions=None, partitionFunc=None):
        return self.combineByKey(_zero_then(zeroValue, seqFunc), seqFunc, combFunc, numPartitions, partitionFunc)

    def foldByKey(self, zeroValue, func, numPartitions=None, partitionFunc=None):
        return self.combineByKey(_zero_then(zeroValue, func), func, func, numPartitions, partitionFunc)

    def groupByKey(self, numPartitions=None, partitionFunc=None):
        if partitionFunc is not None:
            return self.combineByKey(_one_list, _append, _extend, numPartitions, partitionFunc)
        node = self.ctx._session.group_by_key(self._keyed("groupByKey"), self._parts(numPartitions))
        return RDD._of(self.ctx, node, GROUP)

    def partitionBy(self, numPartitions, partitionFunc=None):
        """Pairs moved to partition partitionFunc(key) % numPartitions: the
        function runs in the executors and the engine's shuffle sends each
        record where it names. The default, portable_hash, puts equal keys
        together.

        >>> pairs = sc.parallelize([(1, "a"), (2, "b"), (3, "c"), (4, "d")], 2)
        >>> sorted(map(sorted, pairs.partitionBy(2, lambda k: k % 2).glom().collect()))
        [[(1, 'a'), (3, 'c')], [(2, 'b'), (4, 'd')]]
        >>> [len(p) for p in pairs.partitionBy(3, lambda k: 0).glom().collect()]
        [4, 0, 0]
        """
        if partitionFunc is None:
            partitionFunc = portable_hash
        n = int(numPartitions)
        if n <= 0:
            raise ValueError("Number of partitions must be positive.")
        named = self.mapPartitions(_name_partitions(partitionFunc, n))
        node = self.ctx._session.partition_by(named._node(_stage.PART, "partitionBy"), n)
        return RDD._of(self.ctx, node, PAIR)

    def join(self, other, numPartitions=None):
        node = self.ctx._session.join(self._keyed("join"), other._keyed("join"), self._parts(numPartitions))
        return RDD._of(self.ctx, node, JOIN)

    def cogroup(self, other, numPartitions=None):
        return self._cogroup([other], numPartitions)

    def groupWith(self, other, *others):
        return self._cogroup([other] + list(others), None)

    def _cogroup(self, others, numPartitions):
        rdds = [self] + others
        tagged = rdds[0].mapValues(_tag(0))
        for i, r in enumerate(rdds[1:], 1):
            tagged = tagged.union(r.mapValues(_tag(i)))
        return tagged.groupByKey(numPartitions).mapValues(_cogroup_lists(len(rdds)))

    def leftOuterJoin(self, other, numPartitions=None):
        return self.cogroup(other, numPartitions).flatMapValues(_outer("left"))

    def rightOuterJoin(self, other, numPartitions=None):
        return self.cogroup(other, numPartitions).flatMapValues(_outer("right"))

    def fullOuterJoin(self, other, numPartitions=None):
        return self.cogroup(other, numPartitions).flatMapValues(_outer("full"))

    def subtractByKey(self, other, numPartitions=None):
        return self.cogroup(other, numPartitions).filter(_only_left).flatMapValues(operator.itemgetter(0))

    def subtract(self, other, numPartitions=None):
        return self.map(_with_true).subtractByKey(other.map(_with_true), numPartitions).keys()

    def intersection(self, other):
        return self.map(_with_true).cogroup(other.map(_with_true)).filter(_in_both).keys()

    def distinct(self, numPartitions=None):
        node = self.ctx._session.distinct(self._node(KEY), self._parts(numPartitions))
        return RDD._of(self.ctx, node, KEY)

    def sortByKey(self, ascending=True, numPartitions=None, keyfunc=None):
        if keyfunc is not None:
            return self.map(_key_by_key(keyfunc)).sortByKey(ascending, numPartitions).values()
        node = self.ctx._session.sort_by_key(self._keyed("sortByKey"), bool(ascending), self._parts(numPartitions))
        return RDD._of(self.ctx, node, PAIR)

    def sortBy(self, keyfunc, ascending=True, numPartitions=None):
        return self.keyBy(keyfunc).sortByKey(ascending, numPartitions).values()

    def repartition(self, numPartitions):
        fmt = self._own_fmt()
        return RDD._of(self.ctx, self.ctx._session.repartition(self._node(fmt), int(numPartitions)), fmt)

    def coalesce(self, numPartitions, shuffle=False):
        """Always a shuffle in kiln (repartition)."""
        return self.repartition(numPartitions)

    def cartesian(self, other):
        """Every pair (a, b); the other dataset is collected and shipped with the stage."""
        rows = other.collect()
        return self.flatMap(_pairs_with(rows))

    def zipWithIndex(self):
        return self._with_index(self.mapPartitions(_count_part).collect())

    def _with_index(self, counts):
        offsets, at = [], 0
        for c in counts:
            offsets.append(at)
            at += c
        return self.mapPartitionsWithIndex(_with_index(offsets))

    def zipWithUniqueId(self):
        return self.zipWithIndex()

    def zip(self, other):
        """Pairs the i-th element of each partition with the other's i-th
        of the same partition; both must have the same partitions with the
        same numbers of elements (PySpark's errors otherwise). kiln counts
        the partitions here, so a mismatch raises at zip(), not later."""
        if self.getNumPartitions() != other.getNumPartitions():
            raise ValueError("Can only zip with RDD which has the same number of partitions")
        mine = self.mapPartitions(_count_part).collect()
        theirs = other.mapPartitions(_count_part).collect()
        if mine != theirs:
            raise ValueError("Can only zip RDDs with same number of elements in each partition")
        a = self._with_index(mine).map(_swap)
        b = other._with_index(theirs).map(_swap)
        return a.join(b).sortByKey().values()

    # ---- actions ------------------------------------------------------

    def collect(self):
        fmt = self._own_fmt()
        return self.ctx._session.collect(self._node(fmt), fmt)

    def _run_parts(self, parts, limit=-1):
        """The records of result partitions parts (ascending), at most limit
        of them (-1: all), in partition order: one job over just those."""
        fmt = self._own_fmt()
        return self.ctx._session.collect(self._node(fmt), fmt, limit, list(parts))

    def toLocalIterator(self, prefetchPartitions=False):
        """An iterator over every element, one job per partition: the client
        holds one partition at a time (prefetchPartitions is accepted; kiln
        always waits until the next partition is needed).

        >>> rdd = sc.parallelize(range(10), 3)
        >>> [x for x in rdd.toLocalIterator()]
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        """
        return self._local_iterator()

    def _local_iterator(self):
        for p in range(self.getNumPartitions()):
            yield from self._run_parts([p])

    def take(self, num):
        """The first num elements: runs the first partition, then more at a
        time (PySpark's rule: up to 4 times the partitions scanned so far,
        estimated from the elements found), until it has num.

        >>> sc.parallelize([2, 3, 4, 5, 6]).cache().take(2)
        [2, 3]
        >>> sc.parallelize([2, 3, 4, 5, 6]).take(10)
        [2, 3, 4, 5, 6]
        >>> sc.parallelize(range(100), 100).filter(lambda x: x > 90).take(3)
        [91, 92, 93]
        """
        items = []
        total = self.getNumPartitions()
        scanned = 0
        while len(items) < num and scanned < total:
            n = 1
            if scanned > 0:
                if not items:
                    n = scanned * 4
                else:
                    n = int(1.5 * num * scanned / len(items)) - scanned
                    n = min(max(n, 1), scanned * 4)
            items += self._run_parts(range(scanned, min(scanned + n, total)), num - len(items))
            scanned += n
        return items[:num]

    def first(self):
        """The first element; ValueError on an empty RDD.

        >>> sc.parallelize([2, 3, 4]).first()
        2
        >>> sc.parallelize([]).first()
        Traceback (most recent call last):
            ...
        ValueError: RDD is empty
        """
        rs = self.take(1)
        if rs:
            return rs[0]
        raise ValueError("RDD is empty")

    def isEmpty(self):
        """True when the RDD has no element (stops at the first one found).

        >>> sc.parallelize([]).isEmpty()
        True
        >>> sc.parallelize([1]).isEmpty()
        False
        """
        return self.getNumPartitions() == 0 or len(self.take(1)) == 0

    def count(self):
        if self._func is None:
            return self.ctx._session.count(self._node(self._fmt))  # in C: one record per element
        return sum(self.mapPartitions(_count_part).collect())

    def reduce(self, f):
        vals = self.mapPartitions(_mp_reduce(f)).collect()
        if not vals:
            raise ValueError("Can not reduce() empty RDD")
        return functools.reduce(_in_client(f), vals)

    def treeReduce(self, f, depth=2):
        return self.reduce(f)

    def fold(self, zeroValue, op):
        vals = self.mapPartitions(_mp_fold(zeroValue, op)).collect()
        return functools.reduce(_in_client(op), vals, zeroValue)

    def aggregate(self, zeroValue, seqOp, combOp):
        vals = self.mapPartitions(_mp_fold(zeroValue, seqOp)).collect()
        return functools.reduce(_in_client(combOp), vals, zeroValue)

    def treeAggregate(self, zeroValue, seqOp, combOp, depth=2):
        return self.aggregate(zeroValue, seqOp, combOp)

    def sum(self):
        return self.mapPartitions(_partial_sum).fold(0, operator.add)

    def max(self, key=None):
        return self.reduce(_pick(max, key))

    def min(self, key=None):
        return self.reduce(_pick(min, key))

    def stats(self):
        parts = self._partials(_stats_part)
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        return functools.reduce(StatCounter.mergeStats, parts)

    def mean(self):
        return self.stats().mean()

    def variance(self):
        return self.stats().variance()

    def stdev(self):
        return self.stats().stdev()

    def sampleStdev(self):
        return self.stats().sampleStdev()

    def sampleVariance(self):
        return self.stats().sampleVariance()

    def histogram(self, buckets):
        """Counts in buckets: an int n makes n even buckets between the
        minimum and the maximum, a sorted list or tuple gives the bounds;
        each bucket is [lo, hi) but the last, [lo, hi]; None and NaN are
        not counted.

        >>> sc.parallelize(range(51)).histogram(2)
        ([0, 25, 50], [25, 26])
        >>> sc.parallelize(["ab", "ac", "b", "bd", "ef"]).histogram(("a", "b", "c"))
        (('a', 'b', 'c'), [2, 2])
        """
        if isinstance(buckets, int):
            if buckets < 1:
                raise ValueError("number of buckets must be >= 1")
            ranges = self._partials(_buckets.min_max_part)
            if not ranges:
                raise ValueError("Can not reduce() empty RDD")
            lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
            if lo == hi or buckets == 1:
                return [lo, hi], [self.filter(_buckets.comparable).count()]
            buckets, inc = _buckets.even_buckets(lo, hi, buckets)
        elif isinstance(buckets, (list, tuple)):
            inc = _buckets.given_buckets(buckets)
            lo, hi = buckets[0], buckets[-1]
        else:
            raise TypeError("buckets should be a list or tuple or number(int or long)")
        parts = self._partials(_buckets.histogram_part(list(buckets), lo, hi, inc))
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        return buckets, [sum(c) for c in zip(*parts)]

    def _partials(self, part):
        """part(iterator) of every partition, collected (none of an RDD of
        no partitions, where PySpark's reduce of them raises)."""
        if self.getNumPartitions() == 0:
            return []
        return self.mapPartitions(part).collect()

    def top(self, num, key=None):
        parts = self._partials(_nlargest(num, key))
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        return heapq.nlargest(num, chain.from_iterable(parts), key=key and _in_client(key))

    def takeOrdered(self, num, key=None):
        if num < 0:
            raise ValueError("top N cannot be negative.")
        if num == 0:
            return []
        parts = self._partials(_nsmallest(num, key))
        return heapq.nsmallest(num, chain.from_iterable(parts), key=key and _in_client(key))

    def takeSample(self, withReplacement, num, seed=None):
        """A fixed-size sample: counts, then samples on the executors with
        a fraction that makes num elements very likely (PySpark's), again
        with a new seed while short, and shuffles what came back.

        >>> rdd = sc.parallelize(range(0, 10))
        >>> len(rdd.takeSample(True, 20, 1))
        20
        >>> len(rdd.takeSample(False, 5, 2))
        5
        >>> len(rdd.takeSample(False, 15, 3))
        10
        """
        num_stdev = 10.0
        max_size = sys.maxsize - int(num_stdev * math.sqrt(sys.maxsize))
        if num < 0:
            raise ValueError("Sample size cannot be negative.")
        if num > max_size:
            raise ValueError("Sample size cannot be greater than %d." % max_size)
        if num == 0 or self.getNumPartitions() == 0:
            return []
        initial = self.count()
        if initial == 0:
            return []
        rng = random.Random(seed)
        if not withReplacement and num >= initial:
            samples = self.collect()
            rng.shuffle(samples)
            return samples
        fraction = _fraction_for_sample_size(num, initial, withReplacement)
        seed = rng.randint(0, sys.maxsize) if seed is None else seed
        samples = self.sample(withReplacement, fraction, seed).collect()
        while len(samples) < num:  # short: rare, by the fraction's margin
            seed = rng.randint(0, sys.maxsize)
            samples = self.sample(withReplacement, fraction, seed).collect()
        rng.shuffle(samples)
        return samples[0:num]

    def countByKey(self):
        return self.map(operator.itemgetter(0)).countByValue()

    def countByValue(self):
        total = defaultdict(int)
        parts = self._partials(_count_values)
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        for d in parts:
            for k, v in d.items():
                total[k] += v
        return total

    def collectAsMap(self):
        return dict(self.collect())

    def lookup(self, key):
        return self.filter(_key_is(key)).values().collect()

    def foreach(self, f):
        self.mapPartitions(_foreach(f)).count()

    def foreachPartition(self, f):
        self.mapPartitions(_foreach_partition(f)).count()

    def saveAsTextFile(self, path, compressionCodecClass=None):
        """One part per partition, DIR/part-NNNNN, then DIR/_SUCCESS; with
        compressionCodecClass="org.apache.hadoop.io.compress.GzipCodec" the
        parts are gzip files, DIR/part-NNNNN.gz, which textFile reads back."""
        codec = None
        if compressionCodecClass is not None:
            codec = _CODECS.get(compressionCodecClass)
            if codec is None:
                raise ValueError("compressionCodecClass %r: kiln writes %s" % (
                    compressionCodecClass, " or ".join(sorted(_CODECS))))
        self.ctx._session.save_text(self._node(TEXT), os.path.abspath(path), codec)

    def saveAsPickleFile(self, path, batchSize=10):
        """kiln's own layout: text parts of base64-encoded pickled batches."""
        self.mapPartitions(_to_pickled_lines(batchSize or 10)).saveAsTextFile(path)


# Hadoop's codec classes kiln writes, and the executor's name for each
_CODECS = {"org.apache.hadoop.io.compress.GzipCodec": "gzip"}


class RDDBarrier:
    """An RDD in barrier mode (rdd.barrier()): its mapPartitions runs as a
    barrier stage."""

    def __init__(self, rdd):
        self.rdd = rdd

    def mapPartitions(self, f, preservesPartitioning=False):
        """f over each partition, in a barrier stage.

        >>> sc.parallelize(range(4), 2).barrier().mapPartitions(lambda it: [sum(it)]).collect()
        [1, 5]
        """
        out = self.rdd.mapPartitions(f, preservesPartitioning)
        out._barrier = True
        return out

    def mapPartitionsWithIndex(self, f, preservesPartitioning=False):
        """f(index, iterator) over each partition, in a barrier stage.

        >>> sc.parallelize(range(4), 2).barrier().mapPartitionsWithIndex(lambda i, it: [(i, list(it))]).collect()
        [(0, [0, 1]), (1, [2, 3])]
        """
        out = self.rdd.mapPartitionsWithIndex(f, preservesPartitioning)
        out._barrier = True
        return out


def _pickle_file(ctx, name, minPartitions=None):
    return ctx.textFile(name, minPartitions).flatMap(_from_pickled_lines)


# ---- small shipped helpers -----------------------------------------------

def _ident1(v):
    return v


def _with_true(x):
    return (x, True)


def _only_left(kv):
    return bool(kv[1][0]) and not kv[1][1]


def _in_both(kv):
    return bool(kv[1][0]) and bool(kv[1][1])


def _swap(xi):
    return (xi[1], xi[0])


def _key_by(f):
    def g(x):
        return (f(x), x)
    return g


def _key_by_key(keyfunc):
    def g(kv):
        return (keyfunc(kv[0]), kv)
    return g


def _key_is(key):
    def g(kv):
        return kv[0] == key
    return g


def _pairs_with(rows):
    def g(a):
        return [(a, b) for b in rows]
    return g


def _zero_then(zero, func):
    def create(v):
        return func(copy.deepcopy(zero), v)
    return create


def _in_client(f):
    """f for the merges that run in the client: a StopIteration it raises
    fails the action with the words a task uses, rather than escaping as
    the end of some iteration of the caller's."""
    def g(*args):
        try:
            return f(*args)
        except StopIteration as e:
            raise RuntimeError(_stage.STOP_ITERATION) from e
    return g


def _partial_sum(it):
    yield sum(it)


def _pick(which, key):
    def f(a, b):
        return which(a, b, key=key) if key else which(a, b)
    return f


def _install():
    from .context import Context
    Context.pickleFile = _pickle_file


_install()
