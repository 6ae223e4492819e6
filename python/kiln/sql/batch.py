"""The columnar batch: how a DataFrame partition flows through executors.

A partition of a DataFrame is a sequence of Batch objects, each one engine
record (pickled, protocol 5: numpy arrays travel as raw buffers). A batch
holds its columns by attribute id (the plan's unique number for a column,
so a join of two frames with equal names keeps both), each column a Vec:

    values  a numpy array of the type's dtype (int32 for IntegerType,
            float32 for FloatType, object for strings, dates, arrays)
    mask    None, or a bool array, True where the value is SQL NULL; the
            values under a True are meaningless (zeros, or None in object
            columns) and no operator reads them

Operators build new batches; they never change one in place, so a batch
may be shared by two consumers (a cached partition, a self-join).
"""
import numpy as np
import pandas as pd

# Rows a scan puts into one batch: large enough that numpy's per-call cost
# vanishes, small enough that a partition's batches stream.
BATCH_ROWS = 1 << 16


class Vec:
    __slots__ = ("values", "mask")

    def __init__(self, values, mask=None):
        self.values = values
        self.mask = mask if (mask is not None and mask.any()) else None

    def __len__(self):
        return len(self.values)

    def nulls(self):
        """The mask as an array (all False when there are no nulls)."""
        return self.mask if self.mask is not None else np.zeros(len(self.values), dtype=bool)

    def take(self, idx):
        return Vec(self.values[idx], None if self.mask is None else self.mask[idx])

    def to_list(self):
        """Python values, None for nulls (float32 comes back as the float
        it holds exactly, as PySpark returns it)."""
        out = self.values.tolist()
        if self.mask is not None:
            for i in np.flatnonzero(self.mask).tolist():
                out[i] = None
        return out

    def __reduce__(self):
        return (Vec, (self.values, self.mask))


class DictVec(Vec):
    """A string column kept as codes into its distinct values, as a cached
    DataFrame stores its string columns: `codes` (int32, one per row) index
    `uniques` (an object array whose last entry is None, the code of a
    null row). Pickling it moves the codes as one raw buffer and each
    distinct string once, so reading a cached partition back costs no
    per-row unpickling; grouping and hashing work on the codes and the
    few uniques. `values`, the object array a plain Vec holds, is built on
    first use and kept, so every operator reads a DictVec as a Vec."""
    __slots__ = ("codes", "uniques", "_values")

    def __init__(self, codes, uniques, mask=None):
        self.codes, self.uniques, self._values = codes, uniques, None
        self.mask = mask if (mask is not None and mask.any()) else None

    @property
    def values(self):
        if self._values is None:
            self._values = self.uniques[self.codes]
        return self._values

    def __len__(self):
        return len(self.codes)

    def take(self, idx):
        codes = self.codes[idx]
        mask = None if self.mask is None else self.mask[idx]
        if len(codes) < len(self.uniques):  # a few rows (a group's first, a shuffle's part): plain strings
            return Vec(self.uniques[codes], mask)
        return DictVec(codes, self.uniques, mask)

    def __reduce__(self):
        return (DictVec, (self.codes, self.uniques, self.mask))


def dict_encode(vec):
    """vec as a DictVec when its distinct values are at most half its rows
    (else vec itself): the values under a null become the null code."""
    n = len(vec)
    if n < 2 or isinstance(vec, DictVec) or vec.values.dtype != np.dtype(object):
        return vec
    codes, uniques = pd.factorize(vec.values, use_na_sentinel=True)
    if len(uniques) > n // 2:
        return vec
    uniques = np.append(np.asarray(uniques, dtype=object), None)
    codes = codes.astype(np.int32)
    null = len(uniques) - 1
    codes[codes < 0] = null
    if vec.mask is not None:
        codes[vec.mask] = null
    return DictVec(codes, uniques, vec.mask)


def null_vec(n, dtype):
    """n nulls of dtype."""
    if dtype == np.dtype(object):
        values = np.full(n, None, dtype=object)
    else:
        values = np.zeros(n, dtype=dtype)
    return Vec(values, np.ones(n, dtype=bool))


def from_list(items, dtype):
    """A Vec of Python values (None is null) in a column of dtype."""
    n = len(items)
    mask = np.fromiter((x is None for x in items), dtype=bool, count=n)
    if dtype == np.dtype(object):
        values = np.empty(n, dtype=object)
        values[:] = items
        return Vec(values, mask)
    if mask.any():
        zero = False if dtype == np.dtype(bool) else 0
        items = [zero if x is None else x for x in items]
    with np.errstate(over="ignore"):  # a double past float32's range is infinity, as Java's cast
        values = np.array(items, dtype=dtype) if n else np.zeros(0, dtype=dtype)
    return Vec(values, mask)


class Batch:
    """Columns by attribute id, all of one length."""
    __slots__ = ("cols", "n")

    def __init__(self, cols, n):
        self.cols = cols  # {attr id: Vec}
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, aid):
        return self.cols[aid]

    def take(self, idx):
        idx = np.asarray(idx)
        if idx.dtype == bool:
            n = int(idx.sum())
        else:
            n = len(idx)
        return Batch({k: v.take(idx) for k, v in self.cols.items()}, n)

    def slice(self, lo, hi):
        return self.take(np.arange(lo, min(hi, self.n)))

    def select(self, ids):
        return Batch({i: self.cols[i] for i in ids}, self.n)

    def __reduce__(self):
        return (Batch, (self.cols, self.n))


def concat_vecs(vecs):
    if len(vecs) == 1:
        return vecs[0]
    dtypes = {v.values.dtype for v in vecs}
    if len(dtypes) > 1:
        values = np.concatenate([v.values.astype(object) for v in vecs])
    else:
        values = np.concatenate([v.values for v in vecs])
    if all(v.mask is None for v in vecs):
        return Vec(values)
    return Vec(values, np.concatenate([v.nulls() for v in vecs]))


def concat(batches, ids):
    """One batch of the given columns of batches, in order."""
    batches = [b for b in batches if b.n]
    if not batches:
        return empty(ids)
    if len(batches) == 1:
        return batches[0]
    return Batch({i: concat_vecs([b.cols[i] for b in batches]) for i in ids}, sum(b.n for b in batches))


_EMPTY_DTYPES = {}


def empty(ids, dtypes=None):
    dtypes = dtypes or {}
    return Batch({i: Vec(np.zeros(0, dtype=dtypes.get(i, object))) for i in ids}, 0)


def from_rows(rows, ids, types, names=None):
    """A batch of Python row tuples (values already in their columns'
    Python form) for columns ids of the given DataTypes."""
    cols = {}
    for j, (aid, t) in enumerate(zip(ids, types)):
        cols[aid] = from_list([r[j] for r in rows], t.numpy)
    return Batch(cols, len(rows))


def split(batch, pids, n):
    """[(pid, sub-batch)] of batch by a target partition id per row
    (vectorized: one stable argsort, one take per non-empty partition)."""
    if batch.n == 0:
        return []
    order = np.argsort(pids, kind="stable")
    sorted_p = pids[order]
    cuts = np.flatnonzero(np.diff(sorted_p)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(order)]])
    return [(int(sorted_p[s]), batch.take(order[s:e])) for s, e in zip(starts.tolist(), ends.tolist())]


def rechunk(batches, rows=BATCH_ROWS):
    """Yields the batches again, with none longer than rows."""
    for b in batches:
        if b.n <= rows:
            if b.n:
                yield b
            continue
        for lo in range(0, b.n, rows):
            yield b.slice(lo, lo + rows)
