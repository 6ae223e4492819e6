"""Sampling an RDD: sample (Bernoulli or Poisson per element),
takeSample (an exact number, drawn on the executors) and randomSplit
(disjoint splits from one draw per element). RDD (rdd.py) takes them from
SamplingFunctions; sampleByKey is with the pair operations.
"""
import math
import random
import sys

from ._pipeline import _fraction_for_sample_size, _range_sampler, _sample


class SamplingFunctions:
    """Mixed into RDD: the sampling operations."""

    def sample(self, withReplacement, fraction, seed=None):
        """A sampled subset: each element kept with probability fraction (without
        replacement), or taken a Poisson(fraction) number of times (with
        replacement); the same seed draws the same sample.

        >>> s = sc.parallelize(range(1000), 4).sample(False, 0.5, 7)
        >>> s.collect() == s.collect(), set(s.collect()) <= set(range(1000)), 350 < s.count() < 650
        (True, True, True)
        """
        if fraction < 0:
            raise ValueError("fraction must be >= 0")
        seed = random.randrange(1 << 31) if seed is None else seed
        return self._pipe(_sample(withReplacement, fraction, seed), "sample")

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
