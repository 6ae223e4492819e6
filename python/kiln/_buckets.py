"""histogram's buckets and counts, with PySpark's rules: which values count
(None and NaN do not), evenly spaced bounds from the minimum and maximum
(integers while the width is whole), given bounds checked, the last bucket
closed. RDD.histogram runs min_max_part and histogram_part per partition."""
import math


def comparable(x):
    """Whether histogram counts x: None and NaN are left out, as PySpark does."""
    return x is not None and not (type(x) is float and x != x)


def min_max_part(it):
    it = filter(comparable, it)
    for lo in it:
        hi = lo
        for x in it:
            if x < lo:
                lo = x
            if x > hi:
                hi = x
        yield lo, hi


def histogram_part(buckets, lo, hi, inc):
    """Counts per bucket; inc is the width of evenly spaced buckets, or
    None to search the bounds. The last bucket is closed: hi counts in it."""
    import bisect
    n = len(buckets) - 1

    def stage(it):
        counts = [0] * (n + 1)
        for x in it:
            if not comparable(x) or x < lo or x > hi:
                continue
            counts[int((x - lo) / inc) if inc is not None else bisect.bisect_right(buckets, x) - 1] += 1
        counts[n - 1] += counts.pop()
        yield counts
    return stage


def even_buckets(lo, hi, n):
    """n buckets from lo to hi: integer bounds while the width is a whole
    number, else floats; hi itself as the last bound (PySpark's rule)."""
    try:
        inc = (hi - lo) / n
    except TypeError:
        raise TypeError("Can not generate buckets with non-number in RDD") from None
    if math.isinf(inc):
        raise ValueError("Can not generate buckets with infinite value")
    if int(inc) * n == hi - lo:
        inc = int(inc)
    return [lo + i * inc for i in range(n)] + [hi], inc


def given_buckets(buckets):
    """Checks sorted bounds as PySpark does; the width when they are
    evenly spaced (numbers within 1e-10), else None."""
    if len(buckets) < 2:
        raise ValueError("buckets should have more than one value")
    if any(b is None or (isinstance(b, float) and math.isnan(b)) for b in buckets):
        raise ValueError("can not have None or NaN in buckets")
    if sorted(buckets) != list(buckets):
        raise ValueError("buckets should be sorted")
    if len(set(buckets)) != len(buckets):
        raise ValueError("buckets should not contain duplicated values")
    try:
        steps = [b - a for a, b in zip(buckets, buckets[1:])]
    except TypeError:  # strings, tuples: bounds searched
        return None
    if max(steps) - min(steps) < 1e-10:
        return (buckets[-1] - buckets[0]) / (len(buckets) - 1)
    return None
