"""Aggregate functions in three steps, so an aggregation combines on the
map side before its shuffle:

    partial(arg vecs, codes, ngroups) -> state vecs   one row per group
    merge(state vecs, codes, ngroups) -> state vecs   partials of one group into one
    final(state vecs) -> the result Vec

`codes` numbers each row's group 0..ngroups-1 (group_codes: nulls are one
group, NaN is one group, -0.0 is 0.0). Every step is a numpy/pandas group
operation over the whole batch; only countDistinct and collect_list hold
Python sets and lists per group.
"""
import numpy as np
import pandas as pd

from . import types as T
from .batch import DictVec, Vec, from_list
from .errors import AnalysisException
from .expr import Expr, _fill, _rank, implicit_cast

AGGREGATES = {}


# ---- grouping -------------------------------------------------------------------

def _codes_of(vec):
    if isinstance(vec, DictVec):  # the column's own codes: no hashing of strings
        codes, ng = vec.codes.astype(np.int64), len(vec.uniques)
        if vec.mask is not None:
            return np.where(vec.mask, ng, codes), ng + 1
        return codes, ng
    v = vec.values
    if v.dtype.kind == "f":
        v = v + 0.0  # -0.0 groups with 0.0
    elif v.dtype == np.dtype(object):
        v = _fill(vec, "")
    codes, uniques = pd.factorize(v, use_na_sentinel=False) if v.dtype != np.dtype(object) else \
        pd.factorize(v, use_na_sentinel=False)
    codes = codes.astype(np.int64)
    if vec.mask is not None:
        codes = np.where(vec.mask, len(uniques), codes)
        return codes, len(uniques) + 1
    return codes, max(len(uniques), 1)


def group_codes(vecs, n):
    """(codes, ngroups, first row index of each group) of rows keyed by vecs."""
    if not vecs:
        return np.zeros(n, dtype=np.int64), 1, np.zeros(1 if n else 0, dtype=np.int64)
    codes, ng = _codes_of(vecs[0])
    for v in vecs[1:]:
        c, m = _codes_of(v)
        codes, uniq = pd.factorize(codes * m + c)
        ng = len(uniq)
    codes, uniq = pd.factorize(codes)  # dense 0..ng-1 in order of first appearance
    ng = len(uniq)
    first = np.full(ng, -1, dtype=np.int64)
    if n:
        order = np.arange(n, dtype=np.int64)[::-1]
        first[codes[::-1]] = order  # the last write for each code is its first row
    return codes.astype(np.int64), ng, first


def hash_rows(vecs, n):
    """A uint64 hash of each row's key (equal keys, equal hashes, in every
    process: pandas' hash has a fixed key)."""
    h = np.zeros(n, dtype=np.uint64)
    for v in vecs:
        if isinstance(v, DictVec):  # each distinct string hashed once; the same hash as its plain Vec's
            u = v.uniques.copy()
            u[-1] = ""
            hv = pd.util.hash_array(u)[v.codes]
        else:
            vals = v.values
            if vals.dtype.kind == "f":
                vals = vals.astype(np.float64) + 0.0
            elif vals.dtype.kind in "iub":
                vals = vals.astype(np.int64)
            else:
                vals = _fill(v, "")
            hv = pd.util.hash_array(vals)
        if v.mask is not None:
            hv = np.where(v.mask, np.uint64(0x9E3779B97F4A7C15), hv)
        h = h * np.uint64(1000003) ^ hv
    return h


# Integer sums run through bincount's float64 weights when no partial sum
# can pass 2**53, where every float64 is an exact integer.
_EXACT = float(1 << 53)


def _gsum(values, codes, ng):
    if values.dtype.kind == "f":
        return np.bincount(codes, weights=values, minlength=ng)
    if len(values):
        lo, hi = int(values.min()), int(values.max())
        if max(abs(lo), abs(hi)) * float(len(values)) < _EXACT:
            return np.bincount(codes, weights=values, minlength=ng).astype(np.int64)
    else:
        return np.zeros(ng, dtype=np.int64)
    return pd.Series(values.astype(np.int64)).groupby(codes).sum().reindex(range(ng), fill_value=0).to_numpy()


def _gcount(keep, codes, ng):
    return np.bincount(codes[keep], minlength=ng).astype(np.int64)


def _gpick(values, keep, codes, ng, how):
    """min / max / first of the kept rows per group, and whether a group had one."""
    has = _gcount(keep, codes, ng) > 0
    out = np.zeros(ng, dtype=values.dtype) if values.dtype != np.dtype(object) else np.full(ng, None, dtype=object)
    if keep.any():
        s = pd.Series(values[keep]).groupby(codes[keep])
        r = getattr(s, how)()
        out[r.index.to_numpy()] = r.to_numpy()
    return out, has


class AggFn:
    """One aggregate: its result type and its three steps."""
    name = None

    def result_type(self, args):
        raise NotImplementedError

    def arg_types(self, args, node):
        return args


def _null_if(values, empty):
    return Vec(values, empty)


class Count(AggFn):
    def result_type(self, args):
        return T.LongType()

    def partial(self, vecs, codes, ng):
        keep = np.ones(len(codes), dtype=bool)
        for v in vecs:
            keep &= ~v.nulls()
        return [Vec(_gcount(keep, codes, ng))]

    def merge(self, states, codes, ng):
        return [Vec(_gsum(states[0].values, codes, ng).astype(np.int64))]

    def final(self, states):
        return states[0]


class Sum(AggFn):
    def result_type(self, args):
        return T.LongType() if isinstance(args[0].dtype, (T.IntegralType, T.BooleanType)) else T.DoubleType()

    def arg_types(self, args, node):
        a = args[0]
        if isinstance(a.dtype, (T.StringType, T.NullType)):
            a = implicit_cast(a, T.DoubleType())
        elif _rank(a.dtype) is None:
            raise _agg_mismatch(node, a)
        return [a]

    def partial(self, vecs, codes, ng):
        v = vecs[0]
        keep = ~v.nulls()
        vals = np.where(keep, v.values, 0)
        vals = vals.astype(np.float64 if vals.dtype.kind == "f" else np.int64)
        return [Vec(_gsum(vals, codes, ng)), Vec(_gcount(keep, codes, ng))]

    def merge(self, states, codes, ng):
        return [Vec(_gsum(states[0].values, codes, ng)), Vec(_gsum(states[1].values, codes, ng).astype(np.int64))]

    def final(self, states):
        return Vec(states[0].values, states[1].values == 0)


class Avg(Sum):
    def result_type(self, args):
        return T.DoubleType()

    def final(self, states):
        n = states[1].values
        with np.errstate(all="ignore"):
            return Vec(states[0].values.astype(np.float64) / np.where(n == 0, 1, n), n == 0)


class MinMax(AggFn):
    def __init__(self, how):
        self.how = how

    def result_type(self, args):
        return args[0].dtype

    def partial(self, vecs, codes, ng):
        v = vecs[0]
        vals, has = _gpick(v.values, ~v.nulls(), codes, ng, self.how)
        return [Vec(vals), Vec(has)]

    def merge(self, states, codes, ng):
        vals, has = _gpick(states[0].values, states[1].values, codes, ng, self.how)
        return [Vec(vals), Vec(has)]

    def final(self, states):
        return Vec(states[0].values, ~states[1].values)


class First(AggFn):
    def __init__(self, ignorenulls=False, last=False):
        self.ignorenulls, self.last = ignorenulls, last

    def result_type(self, args):
        return args[0].dtype

    def _pick(self, values, isnull, seen, codes, ng):
        keep = seen & (~isnull if self.ignorenulls else np.ones(len(codes), dtype=bool))
        idx = np.flatnonzero(keep)
        out_v = np.zeros(ng, dtype=values.dtype) if values.dtype != np.dtype(object) else \
            np.full(ng, None, dtype=object)
        out_null = np.ones(ng, dtype=bool)
        out_seen = np.zeros(ng, dtype=bool)
        if len(idx):
            g = codes[idx]
            order = idx[::-1] if not self.last else idx  # the last write wins
            g = codes[order]
            out_v[g] = values[order]
            out_null[g] = isnull[order]
            out_seen[g] = True
        return [Vec(out_v), Vec(out_null), Vec(out_seen)]

    def partial(self, vecs, codes, ng):
        v = vecs[0]
        return self._pick(v.values, v.nulls(), np.ones(len(codes), dtype=bool), codes, ng)

    def merge(self, states, codes, ng):
        return self._pick(states[0].values, states[1].values, states[2].values, codes, ng)

    def final(self, states):
        return Vec(states[0].values, states[1].values | ~states[2].values)


class Stddev(AggFn):
    """Sample (or population) standard deviation and variance from
    (count, mean, M2), merged with Chan's formula."""

    def __init__(self, kind):
        self.kind = kind  # stddev_samp, stddev_pop, var_samp, var_pop

    def result_type(self, args):
        return T.DoubleType()

    arg_types = Sum.arg_types

    def partial(self, vecs, codes, ng):
        v = vecs[0]
        keep = ~v.nulls()
        x = np.where(keep, v.values, 0).astype(np.float64)
        n = _gcount(keep, codes, ng).astype(np.float64)
        s = np.bincount(codes, weights=x, minlength=ng)
        with np.errstate(all="ignore"):
            mean = np.where(n > 0, s / np.where(n > 0, n, 1), 0.0)
            d = np.where(keep, x - mean[codes], 0.0)
        m2 = np.bincount(codes, weights=d * d, minlength=ng)
        return [Vec(n), Vec(mean), Vec(m2)]

    def merge(self, states, codes, ng):
        n, mean, m2 = (s.values for s in states)
        total = np.bincount(codes, weights=n, minlength=ng)
        with np.errstate(all="ignore"):
            gmean = np.bincount(codes, weights=n * mean, minlength=ng) / np.where(total > 0, total, 1)
            dev = mean - gmean[codes]
        gm2 = np.bincount(codes, weights=m2 + n * dev * dev, minlength=ng)
        return [Vec(total), Vec(gmean), Vec(gm2)]

    def final(self, states):
        n, _, m2 = (s.values for s in states)
        samp = self.kind.endswith("samp")
        denom = n - 1 if samp else n
        with np.errstate(all="ignore"):
            var = m2 / np.where(denom > 0, denom, 1)
        out = np.sqrt(var) if self.kind.startswith("stddev") else var
        return Vec(out, denom <= 0)


class CollectList(AggFn):
    """collect_list (and collect_set): nulls are skipped."""

    def __init__(self, as_set=False):
        self.as_set = as_set

    def result_type(self, args):
        return T.ArrayType(args[0].dtype, False)

    def partial(self, vecs, codes, ng):
        v = vecs[0]
        keep = ~v.nulls()
        out = np.empty(ng, dtype=object)
        out[:] = [[] for _ in range(ng)]
        if keep.any():
            for g, items in pd.Series(v.values[keep]).groupby(codes[keep]):
                out[g] = items.tolist()
        return [Vec(out)]

    def merge(self, states, codes, ng):
        out = np.empty(ng, dtype=object)
        out[:] = [[] for _ in range(ng)]
        for g, lst in zip(codes.tolist(), states[0].values.tolist()):
            out[g].extend(lst)
        return [Vec(out)]

    def final(self, states):
        if not self.as_set:
            return states[0]
        out = np.empty(len(states[0]), dtype=object)
        out[:] = [list(dict.fromkeys(x)) for x in states[0].values.tolist()]
        return Vec(out)


class Distinct(AggFn):
    """count(DISTINCT ...), sum(DISTINCT x), avg(DISTINCT x): a set of the
    (non-null) values per group, reduced at the end."""

    def __init__(self, inner):
        self.inner = inner

    def result_type(self, args):
        return self.inner.result_type(args)

    def arg_types(self, args, node):
        return self.inner.arg_types(args, node)

    def partial(self, vecs, codes, ng):
        keep = np.ones(len(codes), dtype=bool)
        for v in vecs:
            keep &= ~v.nulls()
        out = np.empty(ng, dtype=object)
        out[:] = [set() for _ in range(ng)]
        cols = [v.values[keep].tolist() for v in vecs]
        rows = zip(*cols) if len(cols) > 1 else cols[0]
        for g, x in zip(codes[keep].tolist(), rows):
            out[g].add(x + 0.0 if isinstance(x, float) else x)
        return [Vec(out)]

    def merge(self, states, codes, ng):
        out = np.empty(ng, dtype=object)
        out[:] = [set() for _ in range(ng)]
        for g, s in zip(codes.tolist(), states[0].values.tolist()):
            out[g] |= s
        return [Vec(out)]

    def final(self, states):
        sets = states[0].values.tolist()
        if isinstance(self.inner, Count):
            return Vec(np.array([len(s) for s in sets], dtype=np.int64))
        if isinstance(self.inner, Avg):
            return from_list([sum(s) / len(s) if s else None for s in sets], np.dtype(np.float64))
        if isinstance(self.inner, Sum):
            sample = next((x for s in sets for x in s), 0)
            dt = np.dtype(np.float64) if isinstance(sample, float) else np.dtype(np.int64)
            return from_list([sum(s) if s else None for s in sets], dt)
        raise AnalysisException("%s(DISTINCT ...) is not supported by kiln" % self.inner.name)


def _agg_mismatch(node, a):
    return AnalysisException(
        "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve \"%s\" due to data type mismatch: parameter 1 "
        "requires the \"NUMERIC\" type, however \"%s\" has the type \"%s\"."
        % (node.name(), a.name(), a.dtype.simpleString().upper()))


def _make(fname, distinct, ignorenulls):
    f = {
        "count": Count, "sum": Sum, "avg": Avg, "mean": Avg,
        "min": lambda: MinMax("min"), "max": lambda: MinMax("max"),
        "first": lambda: First(ignorenulls), "first_value": lambda: First(ignorenulls),
        "last": lambda: First(ignorenulls, last=True), "last_value": lambda: First(ignorenulls, last=True),
        "stddev": lambda: Stddev("stddev_samp"), "stddev_samp": lambda: Stddev("stddev_samp"),
        "std": lambda: Stddev("stddev_samp"), "stddev_pop": lambda: Stddev("stddev_pop"),
        "variance": lambda: Stddev("var_samp"), "var_samp": lambda: Stddev("var_samp"),
        "var_pop": lambda: Stddev("var_pop"),
        "collect_list": CollectList, "collect_set": lambda: CollectList(True),
    }[fname]()
    f.name = fname
    if distinct and fname not in ("min", "max", "collect_set"):
        d = Distinct(f)
        d.name = fname
        return d
    return f


AGG_NAMES = {"count", "sum", "avg", "mean", "min", "max", "first", "first_value", "last", "last_value", "stddev",
             "stddev_samp", "std", "stddev_pop", "variance", "var_samp", "var_pop", "collect_list", "collect_set"}


class AggCall(Expr):
    """An aggregate function call inside a select of an aggregation."""

    def __init__(self, fname, args, distinct=False, ignorenulls=False, star=False):
        self.fname = fname.lower()
        self.children = tuple(args)
        self.distinct, self.ignorenulls, self.star = distinct, ignorenulls, star

    def with_children(self, children):
        return AggCall(self.fname, children, self.distinct, self.ignorenulls, self.star)

    def fn(self):
        return _make(self.fname, self.distinct, self.ignorenulls)

    def coerce(self):
        fn = self.fn()
        if self.fname != "count" and len(self.children) != 1:
            raise AnalysisException("[WRONG_NUM_ARGS] The `%s` requires 1 parameters but the actual number is %d."
                                    % (self.fname, len(self.children)))
        node = AggCall(self.fname, fn.arg_types(list(self.children), self), self.distinct, self.ignorenulls,
                       self.star)
        node.dtype = fn.result_type(node.children)
        node.nullable = self.fname not in ("count", "collect_list", "collect_set")
        return node

    @property
    def foldable(self):
        return False

    def name(self):
        if self.star:
            return "count(1)"
        inner = ", ".join(c.name() for c in self.children)
        if self.distinct:
            inner = "DISTINCT " + inner
        if self.fname in ("first", "last") :
            return "%s(%s)" % (self.fname, inner)
        alias = {"mean": "avg", "std": "stddev", "stddev_samp": "stddev_samp"}.get(self.fname, self.fname)
        return "%s(%s)" % (alias, inner)
