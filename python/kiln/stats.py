"""StatCounter: count, mean, variance, min and max in one pass (Welford),
mergeable across partitions, with PySpark's results: min and max are
floats that a NaN wins (as numpy's maximum and minimum, which PySpark
uses), the mean of no values is 0.0, and asDict() reports the sample
deviation and variance unless sample=True (PySpark's naming)."""
import copy
import math


def _maximum(a, b):
    if a != a or b != b:
        return float("nan")
    return float(a if a >= b else b)


def _minimum(a, b):
    if a != a or b != b:
        return float("nan")
    return float(a if a <= b else b)


class StatCounter:
    """>>> s = StatCounter([1, 2, 3, 4])
    >>> (s.count(), s.mean(), s.sum(), s.min(), s.max())
    (4, 2.5, 10.0, 1.0, 4.0)
    >>> s.variance(), s.sampleVariance()
    (1.25, 1.6666666666666667)
    >>> s.asDict()["stdev"] == s.sampleStdev()
    True
    >>> StatCounter().mean(), StatCounter().max()
    (0.0, -inf)
    """

    def __init__(self, values=None):
        self.n = 0
        self.mu = 0.0
        self.m2 = 0.0
        self.maxValue = float("-inf")
        self.minValue = float("inf")
        for v in values if values is not None else ():
            self.merge(v)

    def merge(self, value):
        """Adds one value; returns the counter.

        >>> StatCounter([1, 2]).merge(6).mean()
        3.0
        """
        delta = value - self.mu
        self.n += 1
        self.mu += delta / self.n
        self.m2 += delta * (value - self.mu)
        self.maxValue = _maximum(self.maxValue, value)
        self.minValue = _minimum(self.minValue, value)
        return self

    def mergeStats(self, other):
        """Adds the values another counter has seen; returns this counter.

        >>> StatCounter([1, 2]).mergeStats(StatCounter([3, 4])).count()
        4
        """
        if not isinstance(other, StatCounter):
            raise TypeError("Can only merge StatCounter but got %s" % type(other))
        if other is self:
            return self.mergeStats(other.copy())
        if self.n == 0:
            self.n, self.mu, self.m2 = other.n, other.mu, other.m2
            self.maxValue, self.minValue = other.maxValue, other.minValue
        elif other.n != 0:
            # the mean as Spark computes it, so the digits agree
            delta = other.mu - self.mu
            n = self.n + other.n
            if other.n * 10 < self.n:
                self.mu = self.mu + (delta * other.n) / n
            elif self.n * 10 < other.n:
                self.mu = other.mu - (delta * self.n) / n
            else:
                self.mu = (self.mu * self.n + other.mu * other.n) / n
            self.maxValue = _maximum(self.maxValue, other.maxValue)
            self.minValue = _minimum(self.minValue, other.minValue)
            self.m2 += other.m2 + (delta * delta * self.n * other.n) / n
            self.n = n
        return self

    def copy(self):
        """An independent copy.

        >>> a = StatCounter([1, 2])
        >>> b = a.copy().merge(10)
        >>> a.count(), b.count()
        (2, 3)
        """
        return copy.deepcopy(self)

    def count(self):
        """The number of values.

        >>> StatCounter([5, 6, 7]).count()
        3
        """
        return int(self.n)

    def mean(self):
        """The mean of the values.

        >>> StatCounter([5, 6, 7]).mean()
        6.0
        """
        return self.mu

    def sum(self):
        """The sum of the values.

        >>> StatCounter([5, 6, 7]).sum()
        18.0
        """
        return self.n * self.mu

    def min(self):
        """The smallest value.

        >>> StatCounter([5, 6, 7]).min()
        5.0
        """
        return self.minValue

    def max(self):
        """The largest value.

        >>> StatCounter([5, 6, 7]).max()
        7.0
        """
        return self.maxValue

    def variance(self):
        """The population variance (divided by n); NaN of no values.

        >>> StatCounter([1, 2, 3]).variance(), StatCounter().variance()
        (0.6666666666666666, nan)
        """
        return self.m2 / self.n if self.n else float("nan")

    def sampleVariance(self):
        """The sample variance (divided by n - 1); NaN of fewer than two values.

        >>> StatCounter([1, 2, 3]).sampleVariance(), StatCounter([1]).sampleVariance()
        (1.0, nan)
        """
        return self.m2 / (self.n - 1) if self.n > 1 else float("nan")

    def stdev(self):
        """The population standard deviation.

        >>> StatCounter([2, 4, 4, 4, 5, 5, 7, 9]).stdev()
        2.0
        """
        return math.sqrt(self.variance())

    def sampleStdev(self):
        """The sample standard deviation (divided by n - 1).

        >>> StatCounter([1, 2, 3]).sampleStdev()
        1.0
        """
        return math.sqrt(self.sampleVariance())

    def asDict(self, sample=False):
        """The members as a dict. As PySpark's, "stdev" and "variance" are
        the sample ones by default and the population ones with
        sample=True.

        >>> d = StatCounter([1, 2, 3]).asDict()
        >>> sorted(d), d["count"], d["variance"]
        (['count', 'max', 'mean', 'min', 'stdev', 'sum', 'variance'], 3, 1.0)
        >>> StatCounter([1, 2, 3]).asDict(sample=True)["variance"]
        0.6666666666666666
        """
        return {"count": self.count(), "mean": self.mean(), "sum": self.sum(), "min": self.min(),
                "max": self.max(), "stdev": self.stdev() if sample else self.sampleStdev(),
                "variance": self.variance() if sample else self.sampleVariance()}

    def __repr__(self):
        return "(count: %s, mean: %s, stdev: %s, max: %s, min: %s)" % (
            self.count(), self.mean(), self.stdev(), self.max(), self.min())
