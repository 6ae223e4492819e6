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
import functools
import heapq
import operator
import os
from collections import defaultdict
from itertools import chain

from . import _lineage, _stage
from ._pipeline import (_compose, _count_part, _count_values, _filter, _flat_map, _flat_map_values, _foreach,
                        _foreach_partition, _glom, _identity, _in_both, _in_client, _in_tagged_order, _key_by, _map,
                        _map_values, _merge_neighbours, _mp_fold, _mp_reduce, _nlargest, _nsmallest, _pairs_with,
                        _partitions, _pick, _pipe_through, _read_checkpoint_part, _same_partition,
                        _swap, _tag_positions, _to_pickled_lines, _unique_ids, _with_index, _with_true)
from ._pipeline import portable_hash  # noqa: F401 (pyspark.rdd's name)
from ._stage import KEY, PAIR, TEXT, VALUE
from ._nojvm import _HADOOP_OUT, _needs_jvm
from ._numeric import BoundedFloat, NumericFunctions  # noqa: F401 (pyspark.rdd's name)
from ._pairs import PairFunctions
from ._sampling import SamplingFunctions
from .storagelevel import StorageLevel


# ---- the RDD -------------------------------------------------------------

class RDD(PairFunctions, NumericFunctions, SamplingFunctions):
    """A dataset: lazy transformations, actions that run jobs. The
    operations on (key, value) pairs, on numbers and the sampling ones
    come from the mixins of _pairs.py, _numeric.py and _sampling.py."""

    saveAsHadoopFile = _needs_jvm("saveAsHadoopFile", _HADOOP_OUT)
    saveAsHadoopDataset = _needs_jvm("saveAsHadoopDataset", _HADOOP_OUT)
    saveAsNewAPIHadoopFile = _needs_jvm("saveAsNewAPIHadoopFile", _HADOOP_OUT)
    saveAsNewAPIHadoopDataset = _needs_jvm("saveAsNewAPIHadoopDataset", _HADOOP_OUT)
    saveAsSequenceFile = _needs_jvm("saveAsSequenceFile", _HADOOP_OUT)

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
        """A unique id for this RDD within its context.

        >>> a, b = sc.parallelize([1]), sc.parallelize([1])
        >>> isinstance(a.id(), int), a.id() != b.id()
        (True, True)
        """
        return self._id

    def getNumPartitions(self):
        """The number of partitions of this RDD.

        >>> sc.parallelize([1, 2, 3, 4], 2).getNumPartitions()
        2
        """
        if self._base in self.ctx._empty_nodes:  # emptyRDD(): no partitions, as PySpark's
            return 0
        return self.ctx._session.partitions(self._base)

    def cache(self):
        """Keeps the partitions once computed, at StorageLevel.MEMORY_ONLY.

        >>> rdd = sc.parallelize([1, 2]).cache()
        >>> rdd.is_cached, rdd.getStorageLevel() == StorageLevel.MEMORY_ONLY
        (True, True)
        """
        return self.persist(StorageLevel.MEMORY_ONLY)

    def persist(self, storageLevel=StorageLevel.MEMORY_ONLY):
        """Keeps the partitions once computed; storagelevel.py says how
        kiln honours each level.

        >>> rdd = sc.parallelize(range(3)).persist(StorageLevel.DISK_ONLY)
        >>> rdd.getStorageLevel() == StorageLevel.DISK_ONLY, rdd.collect()
        (True, [0, 1, 2])
        """
        if not isinstance(storageLevel, StorageLevel):
            raise TypeError("storageLevel should be a StorageLevel, got %s" % type(storageLevel).__name__)
        if self._cached and storageLevel != self.getStorageLevel():
            raise ValueError("Cannot change storage level of an RDD after it was already assigned a level")
        self._level = storageLevel
        self._cached = True
        return self

    def unpersist(self, blocking=False):
        """Later jobs compute it again (its kept files go when the application ends).

        >>> rdd = sc.parallelize([1]).cache()
        >>> rdd.unpersist().is_cached
        False
        """
        for node in self._nodes.values():
            self.ctx._session.cache(node, False)
        self._cached = False
        self._nodes = {}
        return self

    @property
    def is_cached(self):
        """Whether cache() or persist() was called and unpersist() not since.

        >>> sc.parallelize([1]).is_cached
        False
        """
        return self._cached

    @property
    def context(self):
        """The SparkContext this RDD was made on.

        >>> rdd = sc.parallelize([1, 2])
        >>> rdd.context is sc
        True
        """
        return self.ctx

    def name(self):
        """The name given with setName, or None.

        >>> rdd = sc.parallelize([1, 2])
        >>> rdd.name() is None
        True
        >>> rdd.setName("numbers").name()
        'numbers'
        """
        return getattr(self, "_user_name", None)

    def setName(self, name):
        """Names this RDD (shown by toDebugString); returns it.

        >>> sc.parallelize([1]).setName("one").toDebugString().startswith(b"one: (")
        True
        """
        self._user_name = name
        return self

    def getStorageLevel(self):
        """How this RDD is persisted (StorageLevel.NONE when it is not).

        >>> rdd = sc.parallelize([1, 2])
        >>> rdd.getStorageLevel()
        StorageLevel(False, False, False, False, 1)
        >>> print(rdd.persist(StorageLevel.MEMORY_AND_DISK_2).getStorageLevel())
        Disk Memory Serialized 2x Replicated
        """
        if not self._cached:
            return StorageLevel.NONE
        return getattr(self, "_level", None) or StorageLevel.MEMORY_ONLY

    def toDebugString(self):
        """This RDD's lineage as kiln will run it, as bytes: one line per
        engine node, stages cut where a shuffle is (" +-"), each stage
        headed by its partition count.

        >>> rdd = sc.parallelize([("a", 1), ("b", 2)], 2).reduceByKey(lambda a, b: a + b)
        >>> print(rdd.toDebugString().decode())  # doctest: +ELLIPSIS
        (2) mapPartitions(stage) [pipeline] []
         |  groupByKey [...] (shuffle) []
         +-(2) mapPartitions(stage) [...] []
            |  parallelize [...] []
        """
        rec = self.ctx._session
        if not isinstance(rec, _lineage.Recorder):
            raise RuntimeError("this Context records no lineage")
        level = str(self.getStorageLevel()) if self._cached else ""
        if self._cached and self._nodes:
            node, pending = next(iter(self._nodes.values())), None
        else:
            node, pending = self._base, (self._name if self._func is not None else None)
        text = _lineage.debug_string(rec, node, pending, level)
        if self.name():
            text = "%s: %s" % (self.name(), text)
        return text.encode("utf-8")

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
        """A new RDD of f applied to every element.

        >>> sorted(sc.parallelize(["b", "a", "c"]).map(lambda x: (x, 1)).collect())
        [('a', 1), ('b', 1), ('c', 1)]
        """
        return self._pipe(_map(f), "map(%s)" % _stage.describe(f))

    def flatMap(self, f, preservesPartitioning=False):
        """A new RDD of the elements of the iterables f returns for every element.

        >>> sc.parallelize([2, 3, 4]).flatMap(lambda x: range(1, x)).collect()
        [1, 1, 2, 1, 2, 3]
        """
        return self._pipe(_flat_map(f), "flatMap(%s)" % _stage.describe(f))

    def filter(self, f):
        """A new RDD of the elements for which f is true.

        >>> sc.parallelize([1, 2, 3, 4, 5]).filter(lambda x: x % 2 == 0).collect()
        [2, 4]
        """
        return self._pipe(_filter(f), "filter(%s)" % _stage.describe(f))

    def mapPartitions(self, f, preservesPartitioning=False):
        """A new RDD of what f yields for the iterator of each partition.

        >>> sc.parallelize([1, 2, 3, 4], 2).mapPartitions(lambda it: [sum(it)]).collect()
        [3, 7]
        """
        return self._pipe(_partitions(f), "mapPartitions(%s)" % _stage.describe(f))

    def mapPartitionsWithIndex(self, f, preservesPartitioning=False):
        """As mapPartitions, with f also given the partition's index.

        >>> sc.parallelize([1, 2, 3, 4], 4).mapPartitionsWithIndex(lambda i, it: [(i, list(it))]).collect()
        [(0, [1]), (1, [2]), (2, [3]), (3, [4])]
        """
        return self._pipe(f, "mapPartitionsWithIndex(%s)" % _stage.describe(f))

    mapPartitionsWithSplit = mapPartitionsWithIndex

    def keys(self):
        """The key of each (key, value) pair.

        >>> sc.parallelize([(1, 2), (3, 4)]).keys().collect()
        [1, 3]
        """
        return self.map(operator.itemgetter(0))

    def values(self):
        """The value of each (key, value) pair.

        >>> sc.parallelize([(1, 2), (3, 4)]).values().collect()
        [2, 4]
        """
        return self.map(operator.itemgetter(1))

    def mapValues(self, f):
        """f applied to each pair's value, the key kept.

        >>> sc.parallelize([("a", ["x", "y"]), ("b", ["p"])]).mapValues(len).collect()
        [('a', 2), ('b', 1)]
        """
        return self._pipe(_map_values(f), "mapValues(%s)" % _stage.describe(f))

    def flatMapValues(self, f):
        """A pair (key, item) for every item of f(value), for every pair.

        >>> sc.parallelize([("a", ["x", "y"]), ("b", ["p"])]).flatMapValues(lambda v: v).collect()
        [('a', 'x'), ('a', 'y'), ('b', 'p')]
        """
        return self._pipe(_flat_map_values(f), "flatMapValues(%s)" % _stage.describe(f))

    def keyBy(self, f):
        """The pairs (f(x), x).

        >>> sc.parallelize(range(3)).keyBy(lambda x: x * x).collect()
        [(0, 0), (1, 1), (4, 2)]
        """
        return self.map(_key_by(f))

    def glom(self):
        """Each partition's elements as one list.

        >>> sc.parallelize([1, 2, 3, 4], 2).glom().collect()
        [[1, 2], [3, 4]]
        """
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

    def union(self, other):
        """The elements of this RDD, then those of other.

        >>> rdd = sc.parallelize([1, 1, 2, 3])
        >>> rdd.union(rdd).collect()
        [1, 1, 2, 3, 1, 1, 2, 3]
        """
        fmt = self._own_fmt() if self._own_fmt() == other._own_fmt() else VALUE
        a, b = self._node(fmt), other._node(fmt)
        return RDD._of(self.ctx, self.ctx._session.union(a, b), fmt)

    def __add__(self, other):
        return self.union(other)

    # ---- wide transformations -------------------------------------------

    def subtract(self, other, numPartitions=None):
        """The elements not in other.

        >>> x = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 3)])
        >>> y = sc.parallelize([("a", 3), ("c", None)])
        >>> sorted(x.subtract(y).collect())
        [('a', 1), ('b', 4), ('b', 5)]
        """
        return self.map(_with_true).subtractByKey(other.map(_with_true), numPartitions).keys()

    def intersection(self, other):
        """The distinct elements found in both RDDs.

        >>> x = sc.parallelize([1, 10, 2, 3, 4, 5, 2])
        >>> y = sc.parallelize([1, 6, 2, 3, 7, 8])
        >>> sorted(x.intersection(y).collect())
        [1, 2, 3]
        """
        return self.map(_with_true).cogroup(other.map(_with_true)).filter(_in_both).keys()

    def distinct(self, numPartitions=None):
        """The distinct elements.

        >>> sorted(sc.parallelize([1, 1, 2, 3]).distinct().collect())
        [1, 2, 3]
        """
        node = self.ctx._session.distinct(self._node(KEY), self._parts(numPartitions))
        return RDD._of(self.ctx, node, KEY)

    def sortBy(self, keyfunc, ascending=True, numPartitions=None):
        """The elements sorted by keyfunc(element).

        >>> tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
        >>> sc.parallelize(tmp).sortBy(lambda x: x[1], ascending=False).collect()
        [('2', 5), ('d', 4), ('1', 3), ('b', 2), ('a', 1)]
        """
        return self.keyBy(keyfunc).sortByKey(ascending, numPartitions).values()

    def repartition(self, numPartitions):
        """The same elements in numPartitions partitions (a shuffle).

        >>> rdd = sc.parallelize([1, 2, 3, 4, 5, 6, 7], 4)
        >>> len(rdd.repartition(2).glom().collect()), sorted(rdd.repartition(10).collect())
        (2, [1, 2, 3, 4, 5, 6, 7])
        """
        fmt = self._own_fmt()
        return RDD._of(self.ctx, self.ctx._session.repartition(self._node(fmt), int(numPartitions)), fmt)

    def coalesce(self, numPartitions, shuffle=False):
        """At most numPartitions partitions. Without shuffle, as PySpark's,
        neighbouring partitions are merged and the elements keep their
        order (so sortBy(...).coalesce(1) stays sorted), and asking for more
        partitions than there are changes nothing. kiln's engine merges them
        through its shuffle: each element travels tagged with its partition
        and position, and each merged partition is put back in that order in
        memory. With shuffle=True it is repartition (no order kept).

        >>> sc.parallelize([1, 2, 3, 4, 5], 3).coalesce(1).glom().collect()
        [[1, 2, 3, 4, 5]]
        >>> sc.parallelize(range(6), 3).coalesce(2).glom().collect()
        [[0, 1, 2, 3], [4, 5]]
        >>> sc.parallelize([1, 2], 2).coalesce(5).getNumPartitions()
        2
        """
        n = int(numPartitions)
        if n <= 0:
            raise ValueError("Number of partitions (%d) must be positive." % n)
        if shuffle:
            return self.repartition(n)
        have = self.getNumPartitions()
        if n >= have:
            return self.mapPartitions(_same_partition, True)
        tagged = self.mapPartitionsWithIndex(_tag_positions)
        return tagged.partitionBy(n, _merge_neighbours(have, n)).mapPartitions(_in_tagged_order)

    def cartesian(self, other):
        """Every pair (a, b); the other dataset is collected and shipped with the stage.

        >>> rdd = sc.parallelize([1, 2])
        >>> sorted(rdd.cartesian(rdd).collect())
        [(1, 1), (1, 2), (2, 1), (2, 2)]
        """
        rows = other.collect()
        return self.flatMap(_pairs_with(rows))

    def zipWithIndex(self):
        """Pairs each element with its index in the RDD's order (a job counts the
        partitions first when there are more than one).

        >>> sc.parallelize(["a", "b", "c", "d"], 3).zipWithIndex().collect()
        [('a', 0), ('b', 1), ('c', 2), ('d', 3)]
        """
        return self._with_index(self.mapPartitions(_count_part).collect())

    def _with_index(self, counts):
        offsets, at = [], 0
        for c in counts:
            offsets.append(at)
            at += c
        return self.mapPartitionsWithIndex(_with_index(offsets))

    def zipWithUniqueId(self):
        """Pairs each element with a unique id: the i-th element of partition k of
        n gets i * n + k (no job runs for it).

        >>> sc.parallelize(["a", "b", "c", "d", "e"], 3).zipWithUniqueId().collect()
        [('a', 0), ('b', 1), ('c', 4), ('d', 2), ('e', 5)]
        """
        n = self.getNumPartitions()
        return self.mapPartitionsWithIndex(_unique_ids(n))

    def zip(self, other):
        """Pairs the i-th element of each partition with the other's i-th
        of the same partition; both must have the same partitions with the
        same numbers of elements (PySpark's errors otherwise). kiln counts
        the partitions here, so a mismatch raises at zip(), not later.

        >>> x = sc.parallelize(range(5), 2)
        >>> y = sc.parallelize(range(1000, 1005), 2)
        >>> x.zip(y).collect()
        [(0, 1000), (1, 1001), (2, 1002), (3, 1003), (4, 1004)]
        """
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
        """All elements, in partition order, as a list.

        >>> sc.parallelize(range(3), 2).collect()
        [0, 1, 2]
        """
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
        """The number of elements.

        >>> sc.parallelize([2, 3, 4]).count()
        3
        """
        if self._func is None:
            return self.ctx._session.count(self._node(self._fmt))  # in C: one record per element
        return sum(self.mapPartitions(_count_part).collect())

    def reduce(self, f):
        """The elements reduced with the associative and commutative f; an empty
        RDD raises ValueError.

        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4, 5]).reduce(add)
        15
        >>> sc.parallelize([]).reduce(add)
        Traceback (most recent call last):
            ...
        ValueError: Can not reduce() empty RDD
        """
        vals = self.mapPartitions(_mp_reduce(f)).collect()
        if not vals:
            raise ValueError("Can not reduce() empty RDD")
        return functools.reduce(_in_client(f), vals)

    def treeReduce(self, f, depth=2):
        """reduce in a tree of depth levels (the result is the same).

        >>> from operator import add
        >>> rdd = sc.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10)
        >>> rdd.treeReduce(add), rdd.treeReduce(add, 1), rdd.treeReduce(add, 5)
        (-5, -5, -5)
        """
        return self.reduce(f)

    def fold(self, zeroValue, op):
        """Folds each partition's elements into zeroValue with op, then the
        partitions' results (zeroValue is used once per partition and once more).

        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4, 5]).fold(0, add)
        15
        """
        vals = self.mapPartitions(_mp_fold(zeroValue, op)).collect()
        return functools.reduce(_in_client(op), vals, zeroValue)

    def aggregate(self, zeroValue, seqOp, combOp):
        """Folds each partition into zeroValue with seqOp, then merges the results
        with combOp.

        >>> seq = lambda acc, v: (acc[0] + v, acc[1] + 1)
        >>> comb = lambda a, b: (a[0] + b[0], a[1] + b[1])
        >>> sc.parallelize([1, 2, 3, 4], 2).aggregate((0, 0), seq, comb)
        (10, 4)
        >>> sc.parallelize([]).aggregate((0, 0), seq, comb)
        (0, 0)
        """
        vals = self.mapPartitions(_mp_fold(zeroValue, seqOp)).collect()
        return functools.reduce(_in_client(combOp), vals, zeroValue)

    def treeAggregate(self, zeroValue, seqOp, combOp, depth=2):
        """aggregate in a tree of depth levels (the result is the same).

        >>> from operator import add
        >>> rdd = sc.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10)
        >>> rdd.treeAggregate(0, add, add), rdd.treeAggregate(0, add, add, 1)
        (-5, -5)
        """
        return self.aggregate(zeroValue, seqOp, combOp)

    def max(self, key=None):
        """The largest element (by key(element) when given).

        >>> rdd = sc.parallelize([1.0, 5.0, 43.0, 10.0])
        >>> rdd.max(), rdd.max(key=str)
        (43.0, 5.0)
        """
        return self.reduce(_pick(max, key))

    def min(self, key=None):
        """The smallest element (by key(element) when given).

        >>> rdd = sc.parallelize([2.0, 5.0, 43.0, 10.0])
        >>> rdd.min(), rdd.min(key=str)
        (2.0, 10.0)
        """
        return self.reduce(_pick(min, key))

    def top(self, num, key=None):
        """The num largest elements (by key(element) when given), largest first.

        >>> sc.parallelize([10, 4, 2, 12, 3]).top(1)
        [12]
        >>> sc.parallelize([10, 4, 2, 12, 3], 2).top(2)
        [12, 10]
        >>> sc.parallelize([10, 4, 2, 12, 3]).top(3, key=str)
        [4, 3, 2]
        """
        parts = self._partials(_nlargest(num, key))
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        return heapq.nlargest(num, chain.from_iterable(parts), key=key and _in_client(key))

    def takeOrdered(self, num, key=None):
        """The num smallest elements (by key(element) when given), smallest first.

        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7], 2).takeOrdered(6)
        [1, 2, 3, 4, 5, 6]
        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7], 2).takeOrdered(6, key=lambda x: -x)
        [10, 9, 7, 6, 5, 4]
        """
        if num < 0:
            raise ValueError("top N cannot be negative.")
        if num == 0:
            return []
        parts = self._partials(_nsmallest(num, key))
        return heapq.nsmallest(num, chain.from_iterable(parts), key=key and _in_client(key))

    def countByValue(self):
        """The number of times each element occurs, as a dict.

        >>> sorted(sc.parallelize([1, 2, 1, 2, 2], 2).countByValue().items())
        [(1, 2), (2, 3)]
        """
        total = defaultdict(int)
        parts = self._partials(_count_values)
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        for d in parts:
            for k, v in d.items():
                total[k] += v
        return total

    def foreach(self, f):
        """Runs f on every element on the executors (for its effects; returns None).

        >>> acc = sc.accumulator(0)
        >>> sc.parallelize([1, 2, 3, 4]).foreach(lambda x: acc.add(x))
        >>> acc.value
        10
        """
        self.mapPartitions(_foreach(f)).count()

    def foreachPartition(self, f):
        """Runs f on the iterator of every partition on the executors.

        >>> acc = sc.accumulator(0)
        >>> sc.parallelize([1, 2, 3, 4], 2).foreachPartition(lambda it: acc.add(len(list(it))))
        >>> acc.value
        4
        """
        self.mapPartitions(_foreach_partition(f)).count()

    def toDF(self, schema=None, sampleRatio=None):
        """This RDD of tuples or Rows as a DataFrame (column names from
        schema, a list of names or a StructType; types inferred). PySpark
        adds it once a SparkSession exists; kiln has it always.

        >>> df = sc.parallelize([(1, "a"), (2, "b")]).toDF(["n", "s"])
        >>> df.columns, df.collect()[1]
        (['n', 's'], Row(n=2, s='b'))
        """
        # kiln.sql imports this module, and loads sqlglot: imported on first use
        from .sql.session import rdd_to_df
        return rdd_to_df(self, schema, sampleRatio)

    def saveAsTextFile(self, path, compressionCodecClass=None):
        """One part per partition, DIR/part-NNNNN, then DIR/_SUCCESS; with
        compressionCodecClass="org.apache.hadoop.io.compress.GzipCodec" the
        parts are gzip files, DIR/part-NNNNN.gz, which textFile reads back.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "out")
        >>> sc.parallelize(["a", "b", 3], 2).saveAsTextFile(path)
        >>> sorted(f for f in os.listdir(path) if not f.startswith("."))
        ['_SUCCESS', 'part-00000', 'part-00001']
        >>> sc.textFile(path).collect()
        ['a', 'b', '3']
        """
        codec = None
        if compressionCodecClass is not None:
            codec = _CODECS.get(compressionCodecClass)
            if codec is None:
                raise ValueError("compressionCodecClass %r: kiln writes %s" % (
                    compressionCodecClass, " or ".join(sorted(_CODECS))))
        self.ctx._session.save_text(self._node(TEXT), os.path.abspath(path), codec)

    def saveAsPickleFile(self, path, batchSize=10):
        """kiln's own layout: text parts of base64-encoded pickled batches.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "pickled")
        >>> sc.parallelize([1, "two", (3, 4.0)], 2).saveAsPickleFile(path)
        >>> sorted(sc.pickleFile(path).collect(), key=str)
        [(3, 4.0), 1, 'two']
        """
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
