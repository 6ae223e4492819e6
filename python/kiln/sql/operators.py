"""Operators over batches, as executors run them: projection, filter,
sort order, the range partition of a row, hash joins and the aggregation
steps. Each takes batches and returns batches, computed with numpy and
pandas over whole columns; physical.py wires them into stages.
"""
import numpy as np
import pandas as pd

from .aggregate import group_codes, hash_rows
from .batch import Batch, Vec, concat, concat_vecs, null_vec
from .expr import _fill


def project(batch, exprs):
    """exprs: resolved Attr/Alias entries; the output keyed by their ids."""
    cols = {}
    for e in exprs:
        aid = e.aid
        cols[aid] = e.eval(batch) if not hasattr(e, "child") else e.child.eval(batch)
    return Batch(cols, batch.n)


def filter_batch(batch, cond):
    v = cond.eval(batch)
    keep = v.values.astype(bool)
    if v.mask is not None:
        keep = keep & ~v.mask
    if keep.all():
        return batch
    return batch.take(keep)


# ---- ordering ------------------------------------------------------------------

def _rank(vec):
    """Dense ranks of the values (nulls get any rank; their flag decides)."""
    vals = vec.values
    if vals.dtype.kind == "f":
        vals = vals + 0.0
    elif vals.dtype == np.dtype(object):
        vals = _fill(vec, "")
        if len(vals) and isinstance(next((x for x in vals.tolist() if x != ""), ""), (list, tuple)):
            vals = np.array([tuple(x) for x in vals.tolist()] + [None], dtype=object)[:-1]
    _, inv = np.unique(vals, return_inverse=True)
    return inv.astype(np.int64)


def sort_keys(batch, orders):
    """np.lexsort keys (least significant first) for SortOrder entries:
    per order, its null flag outranks its value; DESC reverses the value
    only, NULLS FIRST|LAST places the nulls."""
    keys = []
    for o in reversed(orders):
        vec = o.eval(batch)
        r = _rank(vec)
        keys.append(r if o.ascending else -r)
        nulls = vec.nulls()
        keys.append(np.where(nulls, 0 if o.nulls_first else 2, 1))
    return keys


def sort_indices(batch, orders):
    if batch.n <= 1:
        return np.arange(batch.n)
    return np.lexsort(sort_keys(batch, orders))


def sort_batch(batch, orders):
    return batch.take(sort_indices(batch, orders))


def range_pids(batch, bounds, orders, keyids):
    """The range partition of each row: how many bounds (a sorted batch of
    the sort's key columns keyids) sort before or equal to it."""
    b = bounds.n
    if b == 0:
        return np.zeros(batch.n, dtype=np.int64)
    both = concat([bounds, batch.select(keyids)], keyids)
    order = sort_indices(both, orders)  # stable: a bound comes before rows equal to it
    is_bound = order < b
    before = np.cumsum(is_bound)
    pids = np.empty(batch.n, dtype=np.int64)
    data = ~is_bound
    pids[order[data] - b] = before[data]
    return pids


def hash_pids(batch, keys, n):
    if n == 1:
        return np.zeros(batch.n, dtype=np.int64)
    vecs = [k.eval(batch) for k in keys]
    return (hash_rows(vecs, batch.n) % np.uint64(n)).astype(np.int64)


# ---- joins ---------------------------------------------------------------------------

def _key_codes(lvecs, rvecs, nl, nr, null_safe):
    """Codes of left and right keys in one numbering; a row whose key holds
    a NULL gets -1 (left) or -2 (right) so it matches nothing, unless
    null_safe."""
    both = [concat_vecs([a, b]) for a, b in zip(lvecs, rvecs)]
    codes, _, _ = group_codes(both, nl + nr)
    if not null_safe:
        anynull = np.zeros(nl + nr, dtype=bool)
        for v in both:
            anynull |= v.nulls()
        codes = np.where(anynull, -1, codes)
    lc, rc = codes[:nl], codes[nl:].copy()
    if not null_safe:
        rc[rc == -1] = -2
    return lc, rc


def _pairs(lc, rc):
    """(left index, right index) of every pair with equal codes."""
    left = pd.DataFrame({"k": lc, "li": np.arange(len(lc))})
    right = pd.DataFrame({"k": rc, "ri": np.arange(len(rc))})
    m = left.merge(right, on="k", how="inner", sort=False)
    return m["li"].to_numpy(dtype=np.int64), m["ri"].to_numpy(dtype=np.int64)


def _nulls_like(batch, attrs, n):
    return {a.aid: null_vec(n, a.dtype.numpy) for a in attrs}


def join_batches(L, R, how, lkeys, rkeys, residual, lattrs, rattrs, null_safe=False):
    """Joins two batches: lkeys/rkeys are the equi-join key expressions,
    residual the rest of the condition (evaluated on candidate pairs)."""
    nl, nr = L.n, R.n
    if lkeys:
        lc, rc = _key_codes([k.eval(L) for k in lkeys], [k.eval(R) for k in rkeys], nl, nr, null_safe)
        li, ri = _pairs(lc, rc)
    else:
        li = np.repeat(np.arange(nl, dtype=np.int64), nr)
        ri = np.tile(np.arange(nr, dtype=np.int64), nl)
    if residual is not None and len(li):
        pair = Batch({**L.take(li).cols, **R.take(ri).cols}, len(li))
        ok = residual.eval(pair)
        keep = ok.values.astype(bool) & ~ok.nulls()
        li, ri = li[keep], ri[keep]
    if how == "left_semi":
        return L.take(np.unique(li))
    if how == "left_anti":
        hit = np.zeros(nl, dtype=bool)
        hit[li] = True
        return L.take(~hit)
    parts = [Batch({**L.take(li).cols, **R.take(ri).cols}, len(li))]
    if how in ("left", "full"):
        hit = np.zeros(nl, dtype=bool)
        hit[li] = True
        miss = np.flatnonzero(~hit)
        if len(miss):
            parts.append(Batch({**L.take(miss).cols, **_nulls_like(R, rattrs, len(miss))}, len(miss)))
    if how in ("right", "full"):
        hit = np.zeros(nr, dtype=bool)
        hit[ri] = True
        miss = np.flatnonzero(~hit)
        if len(miss):
            parts.append(Batch({**_nulls_like(L, lattrs, len(miss)), **R.take(miss).cols}, len(miss)))
    ids = [a.aid for a in lattrs] + [a.aid for a in rattrs]
    return concat(parts, ids) if len(parts) > 1 else parts[0]


# ---- aggregation -------------------------------------------------------------------------

def agg_partial(batch, keys, aggs, fns):
    """One row per group of batch: the keys' values, then each aggregate's
    partial states (ids: the key ids, then (agg id, i))."""
    kvecs = [k.eval(batch) for k in keys]
    codes, ng, first = group_codes(kvecs, batch.n)
    cols = {}
    for k, v in zip(keys, kvecs):
        cols[k.aid] = v.take(first)
    for a, fn in zip(aggs, fns):
        args = [c.eval(batch) for c in a.child.children] or [Vec(np.ones(batch.n, dtype=bool))]
        for i, s in enumerate(fn.partial(args, codes, ng)):
            cols[(a.aid, i)] = s
    return Batch(cols, ng)


def agg_merge(batch, keys, aggs, fns):
    """Partial rows of the same groups merged into one row per group."""
    kvecs = [batch[k.aid] for k in keys]
    codes, ng, first = group_codes(kvecs, batch.n)
    cols = {k.aid: v.take(first) for k, v in zip(keys, kvecs)}
    for a, fn in zip(aggs, fns):
        nstates = sum(1 for c in batch.cols if isinstance(c, tuple) and c[0] == a.aid)
        states = [batch[(a.aid, i)] for i in range(nstates)]
        for i, s in enumerate(fn.merge(states, codes, ng)):
            cols[(a.aid, i)] = s
    return Batch(cols, ng)


def agg_final(batch, keys, aggs, fns):
    cols = {k.aid: batch[k.aid] for k in keys}
    for a, fn in zip(aggs, fns):
        nstates = sum(1 for c in batch.cols if isinstance(c, tuple) and c[0] == a.aid)
        out = fn.final([batch[(a.aid, i)] for i in range(nstates)])
        if out.values.dtype != a.dtype.numpy and a.dtype.numpy != np.dtype(object):
            out = Vec(out.values.astype(a.dtype.numpy), out.mask)
        cols[a.aid] = out
    return Batch(cols, batch.n)


def partial_ids(keys, aggs, fns):
    """The column ids a partial batch has (for concatenating partials):
    each aggregate's state count, found by running its partial step on no
    rows."""
    ids = [k.aid for k in keys]
    for a, fn in zip(aggs, fns):
        args = [Vec(np.zeros(0, dtype=c.dtype.numpy)) for c in a.child.children] or [Vec(np.zeros(0, dtype=bool))]
        n = len(fn.partial(args, np.zeros(0, dtype=np.int64), 0))
        ids += [(a.aid, i) for i in range(n)]
    return ids
