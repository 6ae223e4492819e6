"""HyperLogLog++ for countApproxDistinct, computed per partition on the
executors and merged in the client.

The sketch is Spark's (HyperLogLog++ of Heule, Nunkesser and Hall, dense
form, as Spark's RDD.countApproxDistinct builds it): a 64-bit hash of
each element, precision p = ceil(2 log2(1.054 / relativeSD)), 2^p
registers each holding the largest "leading zeros + 1" seen among the
hashes whose first p bits name it. Two sketches merge by the maximum of
each register, so partitions are sketched where they are and only 2^p
bytes per partition travel.

The estimate from the registers is Ertl's improved estimator ("New
cardinality estimation algorithms for HyperLogLog sketches", 2017),
which is unbiased over the whole range from a few elements to 2^64
without HLL++'s tables of empirical bias corrections; its relative
standard error is 1.04 / sqrt(2^p), as HLL++'s.

The element hash is stable across processes (no PYTHONHASHSEED): str
and bytes through BLAKE2b, numbers through Python's hash (not seeded, and
equal for 1, 1.0 and True, as PySpark's portable_hash), tuples combined
from their items; then a 64-bit finalizer spreads the bits.
"""
import hashlib
import math

MIN_RELATIVE_SD = 0.000017
# 2^P_MAX one-byte registers per partition at most
P_MAX = 24
_M64 = (1 << 64) - 1


def precision(relativeSD):
    """p for relativeSD, as Spark computes it; ValueError where Spark
    (or kiln's register budget) refuses."""
    if relativeSD < MIN_RELATIVE_SD:
        raise ValueError("relativeSD should be greater than 0.000017")
    p = int(math.ceil(2.0 * math.log(1.054 / relativeSD) / math.log(2)))
    if p < 4:
        raise ValueError("p (%d) must be >= 4: relativeSD=%s is too large (use at most 0.37)" % (p, relativeSD))
    if p > P_MAX:
        raise ValueError("relativeSD=%s needs 2^%d registers per partition; kiln keeps at most 2^%d "
                         "(relativeSD >= %.6f)" % (relativeSD, p, P_MAX, 1.054 / 2 ** (P_MAX / 2)))
    return p


def _mix(h):
    """splitmix64's finalizer: every input bit reaches every output bit."""
    h &= _M64
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _M64
    return h ^ (h >> 31)


def stable_hash(x):
    """A 64-bit hash of x that every process computes alike."""
    if isinstance(x, str):
        return int.from_bytes(hashlib.blake2b(x.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
    if isinstance(x, (bytes, bytearray)):
        return int.from_bytes(hashlib.blake2b(bytes(x), digest_size=8, person=b"bytes").digest(), "little")
    if x is None:
        return 0x6E6F6E65
    if isinstance(x, tuple):
        h = 0x345678 + len(x)
        for item in x:
            h = _mix(h * 1000003 ^ stable_hash(item))
        return h
    if isinstance(x, frozenset):
        return _mix(sum(stable_hash(i) for i in x) + len(x))
    return _mix(hash(x))  # numbers: not seeded; other objects: their own __hash__, as PySpark's


def sketch(p):
    """A function over a partition's elements yielding its registers."""
    m, q = 1 << p, 64 - p
    low = (1 << q) - 1

    def stage(it):
        reg = bytearray(m)
        for x in it:
            h = _mix(stable_hash(x))
            i, w = h >> q, h & low
            r = q - w.bit_length() + 1
            if r > reg[i]:
                reg[i] = r
        yield bytes(reg)
    return stage


def merge(a, b):
    return bytes(map(max, a, b))


def estimate(reg, p):
    """Ertl's improved estimate of the number of distinct hashes."""
    m, q = 1 << p, 64 - p
    c = [0] * (q + 2)
    for r in reg:
        c[r] += 1
    z = m * _tau(1 - c[q + 1] / m)
    for k in range(q, 0, -1):
        z = 0.5 * (z + c[k])
    z += m * _sigma(c[0] / m)
    return m * m / (2 * math.log(2)) / z


def _sigma(x):
    if x == 1:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        z_old = z
        z += x * y
        y += y
        if z == z_old:
            return z


def _tau(x):
    if x == 0 or x == 1:
        return 0.0
    y, z = 1.0, 1 - x
    while True:
        x = math.sqrt(x)
        z_old = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if z == z_old:
            return z / 3
