"""The actions on an RDD of numbers (Spark's DoubleRDDFunctions): sum,
the StatCounter statistics in one pass, histogram, and the approximate
actions (countApprox and friends, and a HyperLogLog++ for
countApproxDistinct). RDD (rdd.py) takes them from NumericFunctions.
"""
import functools
import operator

from . import _buckets, _hll
from ._pipeline import _count_float, _partial_sum, _stats_part
from .stats import StatCounter


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


class NumericFunctions:
    """Mixed into RDD: the actions on numbers."""

    def sum(self):
        """The sum of the elements.

        >>> sc.parallelize([1.0, 2.0, 3.0]).sum(), sc.parallelize([]).sum()
        (6.0, 0)
        """
        return self.mapPartitions(_partial_sum).fold(0, operator.add)

    def stats(self):
        """A StatCounter of the elements, in one job.

        >>> sc.parallelize([1, 2, 3]).stats()
        (count: 3, mean: 2.0, stdev: 0.816496580927726, max: 3.0, min: 1.0)
        """
        parts = self._partials(_stats_part)
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        return functools.reduce(StatCounter.mergeStats, parts)

    def mean(self):
        """The mean of the elements.

        >>> sc.parallelize([1, 2, 3]).mean()
        2.0
        """
        return self.stats().mean()

    def variance(self):
        """The population variance of the elements (divided by n).

        >>> sc.parallelize([1, 2, 3]).variance()
        0.6666666666666666
        """
        return self.stats().variance()

    def stdev(self):
        """The population standard deviation of the elements.

        >>> sc.parallelize([1, 2, 3]).stdev()
        0.816496580927726
        """
        return self.stats().stdev()

    def sampleStdev(self):
        """The sample standard deviation (divided by n - 1).

        >>> sc.parallelize([1, 2, 3]).sampleStdev()
        1.0
        """
        return self.stats().sampleStdev()

    def sampleVariance(self):
        """The sample variance (divided by n - 1).

        >>> sc.parallelize([1, 2, 3]).sampleVariance()
        1.0
        """
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
