"""Window functions: Window specs, the OVER expression, planning a select
list that holds them, and computing them over a sorted partition.

A Window plan node (one per distinct PARTITION BY / ORDER BY) hashes rows
to partitions by the PARTITION BY keys (all to one partition without
them), sorts each partition by the keys then the ORDER BY, and computes
every function of the node over the sorted batch with numpy: ranks from
the group and peer boundaries, lag/lead by shifted indices, aggregates
over a frame by prefix sums (count, sum, avg), by the aggregate's own
group steps (a frame that is the whole partition), or, for min, max and
the rest over a sliding frame, one slice per row.
"""
import numpy as np

from . import expr as E
from . import plan as P
from . import types as T
from .aggregate import AggCall
from .batch import Batch, Vec, concat, from_list, rechunk
from .errors import AnalysisException

UNBOUNDED_PRECEDING = -(1 << 63)
UNBOUNDED_FOLLOWING = (1 << 63) - 1
CURRENT_ROW = 0

RANKING = {"row_number", "rank", "dense_rank", "percent_rank", "lag", "lead"}


class WindowSpec:
    def __init__(self, partition=(), order=(), frame=None):
        self._partition, self._order, self._frame = list(partition), list(order), frame

    def partitionBy(self, *cols):
        from .dataframe import _flatten
        return WindowSpec(_flatten(cols), self._order, self._frame)

    def orderBy(self, *cols):
        from .dataframe import _flatten
        return WindowSpec(self._partition, _flatten(cols), self._frame)

    def rowsBetween(self, start, end):
        return WindowSpec(self._partition, self._order, ("rows", _bound(start), _bound(end)))

    def rangeBetween(self, start, end):
        return WindowSpec(self._partition, self._order, ("range", _bound(start), _bound(end)))


def _bound(v):
    """A frame boundary: None for unbounded (PySpark takes anything beyond
    +-2**62 as unbounded), else the row or value offset."""
    if v <= -(1 << 62) or v >= (1 << 62):
        return None
    return int(v)


class Window:
    unboundedPreceding = UNBOUNDED_PRECEDING
    unboundedFollowing = UNBOUNDED_FOLLOWING
    currentRow = CURRENT_ROW

    @staticmethod
    def partitionBy(*cols):
        return WindowSpec().partitionBy(*cols)

    @staticmethod
    def orderBy(*cols):
        return WindowSpec().orderBy(*cols)

    @staticmethod
    def rowsBetween(start, end):
        return WindowSpec().rowsBetween(start, end)

    @staticmethod
    def rangeBetween(start, end):
        return WindowSpec().rangeBetween(start, end)


class RankFn(E.Expr):
    """row_number, rank, dense_rank, percent_rank, lag, lead: meaningful only
    inside OVER."""

    def __init__(self, fname, args=(), offset=1):
        self.fname = fname
        self.children = tuple(args)
        self.offset = offset

    def with_children(self, children):
        return RankFn(self.fname, children, self.offset)

    def coerce(self):
        node = RankFn(self.fname, self.children, self.offset)
        if self.fname in ("lag", "lead"):
            t = self.children[0].dtype
            if len(self.children) > 1:
                t = E.common_type(t, self.children[1].dtype, self.name())
                node.children = (E.implicit_cast(self.children[0], t), E.implicit_cast(self.children[1], t))
            node.dtype = t
        else:
            node.dtype = T.DoubleType() if self.fname == "percent_rank" else T.IntegerType()
        node.nullable = self.fname in ("lag", "lead")
        return node

    @property
    def foldable(self):
        return False

    def name(self):
        if self.fname in ("lag", "lead"):
            args = [self.children[0].name(), str(self.offset)] + [c.name() for c in self.children[1:]]
            if len(self.children) == 1:
                args.append("NULL")
            return "%s(%s)" % (self.fname, ", ".join(args))
        return "%s()" % self.fname


class WindowExpr(E.Expr):
    def __init__(self, func, partition, orders, frame):
        self.func = func
        self.npart = len(partition)
        self.frame = frame
        self.children = (func,) + tuple(partition) + tuple(orders)

    @property
    def partition(self):
        return list(self.children[1:1 + self.npart])

    @property
    def orders(self):
        return list(self.children[1 + self.npart:])

    def with_children(self, children):
        return WindowExpr(children[0], children[1:1 + self.npart], children[1 + self.npart:], self.frame)

    def coerce(self):
        orders = [o if isinstance(o, E.SortOrder) else E.SortOrder(o, True).coerce() for o in self.orders]
        f = self.children[0]
        if isinstance(f, RankFn) and not orders:
            raise AnalysisException("Window function %s requires window to be ordered, please add ORDER BY "
                                    "clause." % f.name())
        if not isinstance(f, (RankFn, AggCall)):
            raise AnalysisException("%s is not a window function: use an aggregate or row_number, rank, "
                                    "dense_rank, percent_rank, lag, lead" % f.name())
        node = WindowExpr(f, self.partition, orders, self.frame)
        node.dtype, node.nullable = f.dtype, True
        return node

    @property
    def foldable(self):
        return False

    def frame_of(self):
        if self.frame is not None:
            return self.frame
        return ("range", None, 0) if self.orders else ("rows", None, None)

    def name(self):
        parts = []
        if self.partition:
            parts.append("PARTITION BY " + ", ".join(p.name() for p in self.partition))
        if self.orders:
            parts.append("ORDER BY " + ", ".join(o.name() for o in self.orders))
        kind, lo, hi = self.frame_of()

        def b(v, side):
            if v is None:
                return "UNBOUNDED " + side
            if v == 0:
                return "CURRENT ROW"
            return "%d %s" % (abs(v), "PRECEDING" if v < 0 else "FOLLOWING")
        parts.append("%s BETWEEN %s AND %s" % (kind.upper(), b(lo, "PRECEDING"), b(hi, "FOLLOWING")))
        return "%s OVER (%s)" % (self.children[0].name(), " ".join(parts))


def over(column, spec):
    from .column import Column, _col_or_name
    part = [_col_or_name(c) for c in spec._partition]
    orders = [_col_or_name(c) for c in spec._order]
    return Column(WindowExpr(column._e, part, orders, spec._frame))


def has_window(e):
    return any(isinstance(x, WindowExpr) for x in e.walk())


# ---- planning -------------------------------------------------------------------------

class WindowNode(P.Unary):
    """Computes window expressions (Alias of WindowExpr) of one PARTITION BY
    and ORDER BY; output: the child's columns, then theirs."""

    def __init__(self, child, wexprs):
        super().__init__(child)
        self.wexprs = list(wexprs)

    def output(self):
        return self.child.output() + [E.to_attr(w) for w in self.wexprs]

    def describe(self):
        return "Window [%s]" % ", ".join(w.sql() for w in self.wexprs)


def plan_windows(child, exprs):
    """A select list holding window expressions: Window nodes under a Project."""
    found = {}
    for e in exprs:
        for x in e.walk():
            if isinstance(x, WindowExpr):
                found.setdefault(E.fingerprint(x), x)
    by_spec = {}
    for fp, w in found.items():
        spec = (E.fingerprint_list(w.partition), E.fingerprint_list(w.orders))
        by_spec.setdefault(spec, []).append((fp, E.Alias(w, w.name()).coerce()))
    node = child
    attr_of = {}
    for group in by_spec.values():
        node = WindowNode(node, [a for _, a in group])
        for fp, a in group:
            attr_of[fp] = a.to_attr()

    def rewrite(x):
        fp = E.fingerprint(x)
        if isinstance(x, WindowExpr):
            return attr_of[fp]
        if not x.children:
            return x
        return x.with_children([rewrite(c) for c in x.children]).coerce()
    out = []
    for e in exprs:
        if isinstance(e, E.Alias):
            out.append(E.Alias(rewrite(e.child), e.alias, e.aid).coerce())
        else:
            out.append(rewrite(e))
    return P.Project(node, out)


# ---- computing --------------------------------------------------------------------------

def _boundaries(flags):
    """For sorted rows and a bool array marking each run's first row: each
    row's run start and run end (exclusive)."""
    n = len(flags)
    idx = np.arange(n)
    starts = np.maximum.accumulate(np.where(flags, idx, 0))
    ends_rev = np.minimum.accumulate(np.where(np.concatenate([flags[1:], [True]]), idx + 1, n)[::-1])[::-1]
    return starts, ends_rev


def _changes(vecs, n):
    """True where a row's values differ from the previous row's (and at 0)."""
    from .operators import _rank
    flags = np.zeros(n, dtype=bool)
    if n:
        flags[0] = True
    for v in vecs:
        r = _rank(v)
        nl = v.nulls()
        flags[1:] |= (r[1:] != r[:-1]) | (nl[1:] != nl[:-1])
    return flags


def _frame(kind, lo, hi, idx, gs, ge, ps, pe, order_vec, ascending):
    if kind == "rows":
        flo = gs if lo is None else np.clip(idx + lo, gs, ge)
        fhi = ge if hi is None else np.clip(idx + hi + 1, gs, ge)
        return flo, fhi
    if lo in (None, 0) and hi in (None, 0):
        flo = gs if lo is None else ps
        fhi = ge if hi is None else pe
        return flo, fhi
    if order_vec is None:
        raise AnalysisException("a RANGE frame with offsets needs exactly one ORDER BY expression")
    key = order_vec.values.astype(np.float64)
    if not ascending:
        key = -key
    flo, fhi = np.empty_like(idx), np.empty_like(idx)
    for s in np.unique(gs).tolist():  # one searchsorted per partition group
        e = int(ge[s])
        k = key[s:e]
        rows = np.arange(s, e)
        flo[rows] = s if lo is None else (ps[rows] if lo == 0 else s + np.searchsorted(k, k + lo, "left"))
        fhi[rows] = e if hi is None else (pe[rows] if hi == 0 else s + np.searchsorted(k, k + hi, "right"))
    return flo, fhi


def _agg_over(call, b, flo, fhi, gs, ge, codes, ng):
    fn = call.fn()
    n = b.n
    args = [c.eval(b) for c in call.children] or [Vec(np.ones(n, dtype=bool))]
    whole = np.array_equal(flo, gs) and np.array_equal(fhi, ge)
    if whole:  # the frame is the partition: the aggregate's own group steps
        states = fn.partial(args, codes, ng)
        res = fn.final(states)
        return res.take(codes)
    name = call.fname
    if name in ("count", "sum", "avg", "mean") and not call.distinct:
        keep = np.ones(n, dtype=bool)
        for a in args:
            keep &= ~a.nulls()
        cnt = np.concatenate([[0], np.cumsum(keep)])
        c = cnt[fhi] - cnt[flo]
        c = np.where(fhi > flo, c, 0)
        if name == "count":
            return Vec(c.astype(np.int64))
        v = np.where(keep, args[0].values, 0)
        v = v.astype(np.float64 if v.dtype.kind == "f" or name != "sum" else np.int64)
        s = np.concatenate([[0], np.cumsum(v)])
        tot = np.where(fhi > flo, s[fhi] - s[flo], 0)
        if name == "sum":
            return Vec(tot.astype(call.dtype.numpy), c == 0)
        with np.errstate(all="ignore"):
            return Vec(tot / np.where(c == 0, 1, c), c == 0)
    if name in ("first", "last") and not call.ignorenulls:
        at = flo if name == "first" else fhi - 1
        empty = fhi <= flo
        v = args[0].take(np.clip(at, 0, max(n - 1, 0)))
        return Vec(v.values, v.nulls() | empty)
    # any other aggregate over a sliding frame: one slice per row
    out_vals = []
    for i in range(n):
        lo, hi = int(flo[i]), int(fhi[i])
        if hi <= lo:
            r = fn.final(fn.partial([a.take(np.arange(0)) for a in args], np.zeros(0, dtype=np.int64), 1))
        else:
            sl = np.arange(lo, hi)
            r = fn.final(fn.partial([a.take(sl) for a in args], np.zeros(hi - lo, dtype=np.int64), 1))
        out_vals.append(r.to_list()[0])
    return from_list(out_vals, call.dtype.numpy)


def _rank_over(f, b, idx, gs, ge, ps):
    n = b.n
    if f.fname == "row_number":
        return Vec((idx - gs + 1).astype(np.int32))
    if f.fname == "rank":
        return Vec((ps - gs + 1).astype(np.int32))
    if f.fname == "dense_rank":
        starts = (ps == idx).astype(np.int64)
        cs = np.cumsum(starts)
        return Vec((cs - cs[gs] + 1).astype(np.int32))
    if f.fname == "percent_rank":
        size = ge - gs
        with np.errstate(all="ignore"):
            return Vec(np.where(size > 1, (ps - gs) / np.where(size > 1, size - 1, 1), 0.0))
    # lag / lead
    off = f.offset if f.fname == "lead" else -f.offset
    j = idx + off
    ok = (j >= gs) & (j < ge)
    v = f.children[0].eval(b).take(np.clip(j, 0, max(n - 1, 0)))
    if len(f.children) > 1:
        d = f.children[1].eval(b)
        vals = np.where(ok, v.values, d.values)
        mask = np.where(ok, v.nulls(), d.nulls())
        return Vec(vals, mask)
    if v.values.dtype == np.dtype(object):
        vals = v.values.copy()
        vals[~ok] = None
        return Vec(vals, v.nulls() | ~ok)
    return Vec(v.values, v.nulls() | ~ok)


def window_part(wexprs, ids):
    """The reduce side of a Window node: the partition's rows sorted, each
    window expression computed over them."""
    from .aggregate import group_codes
    from .operators import sort_indices

    def run(it):
        bs = [b for _, lst in it for b in lst]
        if not bs:
            return
        b = concat(bs, ids)
        w0 = wexprs[0].child
        orders = [E.SortOrder(p, True).coerce() for p in w0.partition] + w0.orders
        b = b.take(sort_indices(b, orders)) if orders else b
        n = b.n
        idx = np.arange(n)
        pvecs = [p.eval(b) for p in w0.partition]
        gflags = _changes(pvecs, n)
        gs, ge = _boundaries(gflags)
        peer_flags = gflags | _changes([o.eval(b) for o in w0.orders], n)
        ps, pe = _boundaries(peer_flags)
        codes, ng, _ = group_codes(pvecs, n)
        cols = dict(b.cols)
        for a in wexprs:
            w = a.child
            f = w.children[0]
            if isinstance(f, RankFn):
                cols[a.aid] = _rank_over(f, b, idx, gs, ge, ps)
                continue
            kind, lo, hi = w.frame_of()
            ov = w.orders[0].eval(b) if len(w.orders) == 1 else None
            asc = w.orders[0].ascending if w.orders else True
            flo, fhi = _frame(kind, lo, hi, idx, gs, ge, ps, pe, ov, asc)
            cols[a.aid] = _agg_over(f, b, flo, fhi, gs, ge, codes, ng)
        yield from rechunk([Batch(cols, n)])
    return run

