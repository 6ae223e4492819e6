"""More of PySpark's RDD API, built on the RDD's own operations: the
storage level, names, groupBy, random and stratified splits, local
reductions, sorted repartitioning, the approximate actions (a real
HyperLogLog++ for countApproxDistinct) and toDebugString.

RDD (rdd.py) takes these methods from MoreRDD. Like rdd.py, the
functions shipped are built by module-level helpers from the user's
functions only: no RDD or Context is captured.
"""
import random

from . import _hll, _lineage
from ._pipeline import (_count_float, _ident, _is_default_hash, _key_by, _merge_dicts, _range_sampler,
                        _reduce_locally, _sort_partition, _stratified)
from .storagelevel import StorageLevel


class BoundedFloat(float):
    """An approximate result: a float (the estimate) with the confidence
    and the interval [low, high] it holds with.

    >>> b = BoundedFloat(10.0, 0.95, 9.0, 11.0)
    >>> b, b.confidence, b.low, b.high
    (10.0, 0.95, 9.0, 11.0)
    """

    def __new__(cls, mean, confidence, low, high):
        obj = float.__new__(cls, mean)
        obj.confidence = confidence
        obj.low = low
        obj.high = high
        return obj


def _needs_jvm(name, why, example_on="sc.parallelize([(1, 2)])"):
    """A method that raises NotImplementedError saying why kiln refuses it;
    its docstring's example (on example_on) shows the refusal."""
    def refuse(self, *args, **kwargs):
        raise NotImplementedError("%s %s; kiln has no JVM. %s" % (name, why, _JVM_ALTERNATIVES))
    refuse.__name__ = name
    refuse.__doc__ = ("Refused: %s %s (kiln has no JVM).\n\n"
                      ">>> %s.%s('out')\n"
                      "Traceback (most recent call last):\n    ...\n"
                      "NotImplementedError: %s %s; kiln has no JVM. ...\n" % (name, why, example_on, name, name, why))
    return refuse


_JVM_ALTERNATIVES = "Use textFile/saveAsTextFile (gzip too) or pickleFile/saveAsPickleFile"
_HADOOP_OUT = "writes through Hadoop's Java OutputFormat classes"
_HADOOP_IN = "reads through Hadoop's Java InputFormat classes"


class MoreRDD:
    """Mixed into RDD."""

    saveAsHadoopFile = _needs_jvm("saveAsHadoopFile", _HADOOP_OUT)
    saveAsHadoopDataset = _needs_jvm("saveAsHadoopDataset", _HADOOP_OUT)
    saveAsNewAPIHadoopFile = _needs_jvm("saveAsNewAPIHadoopFile", _HADOOP_OUT)
    saveAsNewAPIHadoopDataset = _needs_jvm("saveAsNewAPIHadoopDataset", _HADOOP_OUT)
    saveAsSequenceFile = _needs_jvm("saveAsSequenceFile", _HADOOP_OUT)

    # ---- about the dataset ---------------------------------------------

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

    # ---- transformations ------------------------------------------------

    def groupBy(self, f, numPartitions=None, partitionFunc=None):
        """Pairs (f(x), the elements x with that key).

        >>> rdd = sc.parallelize([1, 1, 2, 3, 5, 8])
        >>> sorted((k, sorted(v)) for k, v in rdd.groupBy(lambda x: x % 2).collect())
        [(0, [2, 8]), (1, [1, 1, 3, 5])]
        """
        return self.map(_key_by(f)).groupByKey(numPartitions, partitionFunc)

    def randomSplit(self, weights, seed=None):
        """Splits the RDD in len(weights) disjoint RDDs that together hold
        every element once, each element landing in split i with
        probability weights[i] / sum(weights). The same seed gives the
        same splits of the same partitions.

        >>> rdd = sc.parallelize(range(500), 2)
        >>> a, b = rdd.randomSplit([2, 3], 17)
        >>> len(a.collect()) + len(b.collect())
        500
        >>> sorted(a.collect() + b.collect()) == list(range(500))
        True
        >>> 150 < a.count() < 250
        True
        """
        weights = [float(w) for w in weights]
        if any(w < 0.0 for w in weights):
            raise ValueError("Weights must be nonnegative")
        total = sum(weights)
        if total <= 0:
            raise ValueError("Sum of weights must be positive")
        bounds = [0.0]
        for w in weights:
            bounds.append(bounds[-1] + w / total)
        bounds[-1] = 1.0  # no element lost to rounding
        if seed is None:
            seed = random.randint(0, 2 ** 32 - 1)
        return [self.mapPartitionsWithIndex(_range_sampler(lb, ub, seed), True)
                for lb, ub in zip(bounds, bounds[1:])]

    def sampleByKey(self, withReplacement, fractions, seed=None):
        """A sample of pairs, each key kept with its own fraction
        (fractions: key -> fraction; every key must be there).

        >>> rdd = sc.parallelize([(k, i) for k in "ab" for i in range(1000)], 2)
        >>> s = rdd.sampleByKey(False, {"a": 0.1, "b": 0.6}, 2).countByKey()
        >>> 50 < s["a"] < 150 and 500 < s["b"] < 700
        True
        """
        for fraction in fractions.values():
            assert fraction >= 0.0, "Negative fraction value: %s" % fraction
        seed = random.randrange(1 << 31) if seed is None else seed
        return self.mapPartitionsWithIndex(_stratified(withReplacement, dict(fractions), seed), True)

    def repartitionAndSortWithinPartitions(self, numPartitions=None, partitionFunc=None, ascending=True,
                                           keyfunc=_ident):
        """Pairs repartitioned by key, each partition sorted by key
        (keyfunc(key), ascending or not).

        >>> rdd = sc.parallelize([(0, 5), (3, 8), (2, 6), (0, 8), (3, 8), (1, 3)])
        >>> parts = rdd.repartitionAndSortWithinPartitions(2).glom().collect()
        >>> all(p == sorted(p, key=lambda kv: kv[0]) for p in parts)
        True
        >>> sorted(kv for p in parts for kv in p) == sorted(rdd.collect())
        True
        """
        if _is_default_hash(partitionFunc):
            parted = self.partitionBy(numPartitions or self.getNumPartitions())
        else:
            parted = self.partitionBy(numPartitions or self.getNumPartitions(), partitionFunc)
        return parted.mapPartitions(_sort_partition(ascending, keyfunc), True)

    # ---- actions ------------------------------------------------------

    def reduceByKeyLocally(self, func):
        """The values of each key merged with func, as a dict in the client.

        >>> from operator import add
        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).reduceByKeyLocally(add).items())
        [('a', 2), ('b', 1)]
        """
        return self.mapPartitions(_reduce_locally(func)).reduce(_merge_dicts(func))

    def countApprox(self, timeout, confidence=0.95):
        """The count (kiln runs the job to its end: the answer is exact).

        >>> sc.parallelize(range(1000), 10).countApprox(1000, 1.0)
        1000
        """
        return int(self.mapPartitions(_count_float).sumApprox(timeout, confidence))

    def sumApprox(self, timeout, confidence=0.95):
        """The sum as a BoundedFloat (exact: kiln runs the whole job).

        >>> r = sc.parallelize([float(x) for x in range(1000)], 10).sumApprox(1000)
        >>> r, r.low, r.high
        (499500.0, 499500.0, 499500.0)
        """
        s = float(self.sum())
        return BoundedFloat(s, 1.0, s, s)  # a complete result, as Spark reports one

    def meanApprox(self, timeout, confidence=0.95):
        """The mean as a BoundedFloat (exact: kiln runs the whole job).

        >>> sc.parallelize([float(x) for x in range(1000)], 10).meanApprox(1000)
        499.5
        """
        st = self.stats()
        m = float(st.mean()) if st.count() else float("nan")
        return BoundedFloat(m, 1.0, m, m)

    def countApproxDistinct(self, relativeSD=0.05):
        """The number of distinct elements, estimated by HyperLogLog++:
        sketched per partition on the executors, merged in the client.
        relativeSD is the relative accuracy (smaller needs more memory:
        2^p bytes per partition, p = ceil(2 log2(1.054 / relativeSD))).

        >>> n = sc.parallelize(range(1000)).countApproxDistinct()
        >>> 900 < n < 1100
        True
        >>> n = sc.parallelize([i % 20 for i in range(1000)]).countApproxDistinct()
        >>> 16 < n < 24
        True
        """
        p = _hll.precision(relativeSD)
        regs = self.mapPartitions(_hll.sketch(p)).collect()
        if not regs:
            return 0
        merged = regs[0]
        for r in regs[1:]:
            merged = _hll.merge(merged, r)
        return int(round(_hll.estimate(merged, p)))

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
