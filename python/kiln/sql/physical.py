"""Compiling an optimized logical plan onto kiln's engine.

Every plan node becomes an RDD whose records are batches (VALUE records:
one pickled Batch each). Narrow nodes (scan, project, filter, the map
side of an exchange) are mapPartitions over their child, which the RDD
layer pipelines into one stage function; the stage's name lists its
operators (`scan local → filter → project → partial agg`), which the
driver, the UI and the logs show.

Exchanges move batches, never rows: the map side computes each row's
target partition vectorized (a hash of the keys, or its range among
sampled bounds), splits the batch, and emits (partition id, sub-batch)
pairs; the engine routes them (groupByKey on the int id for hash
exchanges, sortByKey for the range exchange of a sort, so partitions come
out in order). The reduce side concatenates what it received.

Shipped closures are built by the module-level helpers below from plain
data (expressions, batches), never from a session or a DataFrame.
"""
import numpy as np

from . import operators as ops
from . import plan as P
from .aggregate import AggCall
from .batch import BATCH_ROWS, Batch, concat, dict_encode, empty, from_list, rechunk, split
from .errors import AnalysisException
from .expr import Cmp, Logic, Attr


class Compiled:
    """An RDD of batches and the stage names it was built from."""

    def __init__(self, rdd, stages):
        self.rdd, self.stages = rdd, stages


def _chain(name, f):
    """A stage function over a partition's batch iterator."""
    def stage(split, it):
        return f(it)
    stage.__name__ = name
    return stage


def _pipe(rdd, f, name):
    return rdd._pipe(_chain(name, f), name)


# ---- shipped helpers ---------------------------------------------------------

def _map_batches(fn):
    def run(it):
        for b in it:
            out = fn(b)
            if out.n:
                yield out
    return run


def _project_fn(exprs):
    def fn(b):
        return ops.project(b, exprs)
    return fn


def _filter_fn(cond):
    def fn(b):
        return ops.filter_batch(b, cond)
    return fn


def _dict_encode_fn(aids):
    """A cached batch's string columns as codes into their distinct values
    (batch.DictVec), each where that pays (few distinct values)."""
    def fn(b):
        return Batch({k: (dict_encode(v) if k in aids else v) for k, v in b.cols.items()}, b.n)
    return fn


# Rows of one cached batch: few records per partition (little per-batch
# Python work when a query reads it back), each well under the engine's
# largest block (256 MiB).
CACHE_ROWS = 1 << 20


def _cache_chunks(aids):
    enc = _dict_encode_fn(aids)

    def run(it):
        for b in rechunk(it, CACHE_ROWS):
            yield enc(b)
    return run


def cache_batches(comp, attrs):
    """The RDD a cached DataFrame keeps: its batches cut to at most
    CACHE_ROWS rows, string columns dictionary-encoded."""
    from . import types as T
    aids = {a.aid for a in attrs if isinstance(a.dtype, T.StringType)}
    return _pipe(comp.rdd, _cache_chunks(aids), "cache")


def _rows_to_batches(conv, attrs, columns):
    """Rows of an RDD into batches (the one place rows become columns)."""
    keep = [i for i, a in enumerate(attrs) if columns is None or a.aid in columns]
    ids = [attrs[i].aid for i in keep]
    dtypes = [attrs[i].dtype.numpy for i in keep]

    def run(it):
        rows = []
        for r in it:
            rows.append(conv(r))
            if len(rows) >= BATCH_ROWS:
                yield _rows_batch(rows, keep, ids, dtypes)
                rows = []
        if rows:
            yield _rows_batch(rows, keep, ids, dtypes)
    return run


def _rows_batch(rows, keep, ids, dtypes):
    return Batch({aid: from_list([r[j] for r in rows], dt) for j, aid, dt in zip(keep, ids, dtypes)}, len(rows))


def _local_part(batches):
    def run(it):
        for i in it:
            yield from batches[i]
    return run


# Client data (createDataFrame) up to this estimated size goes inside the
# stage function; more is broadcast (a job travels in one frame, 64 MiB).
LOCAL_INLINE = 16 << 20


def _broadcast_part(bcasts):
    def run(it):
        for i in it:
            yield from bcasts[i].value
    return run


def _range_part(start, step, length, n, aid):
    def run(it):
        for i in it:
            lo, hi = i * length // n, (i + 1) * length // n
            for a in range(lo, hi, BATCH_ROWS):
                b = min(hi, a + BATCH_ROWS)
                yield Batch({aid: from_list_range(start + a * step, start + b * step, step)}, b - a)
    return run


def from_list_range(lo, hi, step):
    from .batch import Vec
    return Vec(np.arange(lo, hi, step, dtype=np.int64))


def _hash_split(keys, n):
    def run(it):
        for b in it:
            for pid, sub in split(b, ops.hash_pids(b, keys, n), n):
                yield pid, sub
    return run


def _tagged(tag, keys, n):
    def run(it):
        for b in it:
            for pid, sub in split(b, ops.hash_pids(b, keys, n), n):
                yield pid, (tag, sub)
    return run


def _partial_agg(keys, aggs, n, final_keys):
    """Map side of an aggregation: each batch's groups as partial states,
    merged over the partition, split by the hash of the group keys. A
    key's column keeps its id, so final_keys (Attrs of those ids) read it."""
    fns = [a.child.fn() for a in aggs]
    ids = ops.partial_ids(final_keys, aggs, fns)

    def run(it):
        parts = [ops.agg_partial(b, keys, aggs, fns) for b in it]
        if not parts:
            if keys:
                return
            parts = [ops.agg_partial(empty_batch_for(aggs), keys, aggs, fns)]
        merged = ops.agg_merge(concat(parts, ids), final_keys, aggs, fns) if len(parts) > 1 else parts[0]
        if merged.n:
            yield from split(merged, ops.hash_pids(merged, final_keys, n), n)
    return run


def empty_batch_for(aggs):
    """A batch of no rows with the columns the aggregates read."""
    cols = {}
    for a in aggs:
        for attr in a.child.walk():
            if isinstance(attr, Attr):
                cols[attr.aid] = empty([attr.aid], {attr.aid: attr.dtype.numpy}).cols[attr.aid]
    return Batch(cols, 0)


def _final_agg(final_keys, aggs, has_keys):
    fns = [a.child.fn() for a in aggs]
    ids = ops.partial_ids(final_keys, aggs, fns)

    def run(it):
        parts = [b for _, bs in it for b in bs]
        if not parts:
            if has_keys:
                return
            parts = [ops.agg_partial(empty_batch_for(aggs), [], aggs, fns)]
        merged = ops.agg_merge(concat(parts, ids), final_keys, aggs, fns)
        out = ops.agg_final(merged, final_keys, aggs, fns)
        yield from rechunk([out])
    return run


def _join_part(how, lkeys, rkeys, residual, lattrs, rattrs, null_safe):
    lids, rids = [a.aid for a in lattrs], [a.aid for a in rattrs]
    ldt = {a.aid: a.dtype.numpy for a in lattrs}
    rdt = {a.aid: a.dtype.numpy for a in rattrs}

    def run(it):
        ls, rs = [], []
        for _, tagged in it:
            for tag, b in tagged:
                (ls if tag == 0 else rs).append(b)
        L = concat(ls, lids) if ls else empty(lids, ldt)
        R = concat(rs, rids) if rs else empty(rids, rdt)
        if L.n == 0 and how in ("inner", "cross", "left", "left_semi", "left_anti"):
            return
        if R.n == 0 and how in ("inner", "cross", "right", "left_semi"):
            return
        out = ops.join_batches(L, R, how, lkeys, rkeys, residual, lattrs, rattrs, null_safe)
        yield from rechunk([out])
    return run


def _broadcast_join(small, how, lkeys, rkeys, residual, lattrs, rattrs, null_safe, small_is_left):
    def run(it):
        for b in it:
            if small_is_left:
                out = ops.join_batches(small, b, how, lkeys, rkeys, residual, lattrs, rattrs, null_safe)
            else:
                out = ops.join_batches(b, small, how, lkeys, rkeys, residual, lattrs, rattrs, null_safe)
            if out.n:
                yield out
    return run


def _sample_keys(orders, per_part):
    ids = sorted({r for o in orders for r in o.refs()})

    def run(it):
        bs = list(it)
        b = concat(bs, ids) if bs else None
        if b is None or b.n == 0:
            return
        idx = np.linspace(0, b.n - 1, num=min(per_part, b.n)).astype(np.int64)
        yield b.select(ids).take(idx)
    return run


def _range_split(bounds, orders, keyids):
    def run(it):
        for b in it:
            for pid, sub in split(b, ops.range_pids(b, bounds, orders, keyids), bounds.n + 1):
                yield pid, sub
    return run


def _sort_groups(orders, ids):
    """Each range's batches, sorted: one record per range id."""
    def run(it):
        for pid, bs in it:
            yield pid, ops.sort_batch(concat(bs, ids), orders)
    return run


def _sorted_values(it):
    for _, b in it:
        yield from rechunk([b])


def _local_limit(n):
    def run(it):
        left = n
        for b in it:
            if left <= 0:
                return
            if b.n > left:
                b = b.slice(0, left)
            left -= b.n
            yield b
    return run


def _top_n(orders, n, ids):
    """A partition's first n rows in sort order, as one record for the
    single reduce partition (only n rows per batch are ever kept)."""
    def run(it):
        best = None
        for b in it:
            b = concat([best, b], ids) if best is not None else b
            best = ops.sort_batch(b, orders).slice(0, n)
        if best is not None and best.n:
            yield 0, best
    return run


def _top_n_final(orders, n, ids):
    def run(it):
        bs = [b for _, lst in it for b in lst]
        if bs:
            yield from rechunk([ops.sort_batch(concat(bs, ids), orders).slice(0, n)])
    return run


def _with_split(split_index, it):
    for b in it:
        yield 0, (split_index, b)


def _global_limit(n, ids):
    def run(it):
        parts = sorted((s, i, b) for _, lst in it for i, (s, b) in enumerate(lst))
        out, left = [], n
        for _, _, b in parts:
            if left <= 0:
                break
            b = b.slice(0, left) if b.n > left else b
            left -= b.n
            out.append(b)
        if out:
            yield from rechunk([concat(out, ids)])
    return run


def _values(it):
    for _, bs in it:
        yield from bs


def _sample_fn(fraction, with_replacement, seed):
    def stage(split_index, it):
        rng = np.random.default_rng([seed, split_index])
        for b in it:
            if with_replacement:
                k = rng.poisson(fraction, b.n)
                out = b.take(np.repeat(np.arange(b.n), k))
            else:
                out = b.take(rng.random(b.n) < fraction)
            if out.n:
                yield out
    return stage


def _union_map(src, dst, casts):
    def fn(b):
        cols = {}
        for s, d, c in zip(src, dst, casts):
            v = b[s.aid]
            cols[d.aid] = c(v) if c else v
        return Batch(cols, b.n)
    return fn


def _caster(src_t, dst_t):
    from .cast import cast

    def c(v):
        return cast(v, src_t, dst_t)
    return c if src_t != dst_t else None


# ---- the compiler ----------------------------------------------------------------

def split_conjuncts(e):
    if isinstance(e, Logic) and e.op == "AND":
        return split_conjuncts(e.children[0]) + split_conjuncts(e.children[1])
    return [e]


def and_all(es):
    out = None
    for e in es:
        out = e if out is None else Logic("AND", out, e).coerce()
    return out


def equi_keys(cond, lids, rids):
    """(left keys, right keys, residual) of a join condition."""
    lk, rk, rest = [], [], []
    for c in split_conjuncts(cond) if cond is not None else []:
        if isinstance(c, Cmp) and c.op == "=":
            a, b = c.children
            ar, br = a.refs(), b.refs()
            if ar and br and ar <= lids and br <= rids:
                lk.append(a)
                rk.append(b)
                continue
            if ar and br and ar <= rids and br <= lids:
                lk.append(b)
                rk.append(a)
                continue
        rest.append(c)
    return lk, rk, and_all(rest)


class Compiler:
    def __init__(self, session, dry=False):
        self.session = session
        self.sc = session.sparkContext
        # dry: only name the stages (explain), running no sampling or
        # broadcast-collecting job
        self.dry = dry

    def shuffle_partitions(self, *children):
        conf = self.session.conf.get("spark.sql.shuffle.partitions", None)
        if conf is not None:
            return int(conf)
        # sized from the inputs: as many partitions as the widest input has
        # (capped at 200, Spark's default), so a small query runs few tasks
        n = max([c.rdd.getNumPartitions() for c in children] + [1])
        return max(1, min(n, 200))

    def compile(self, plan):
        method = getattr(self, "_" + type(plan).__name__)
        return method(plan)

    def narrow(self, child, fn, name):
        c = self.compile(child)
        stages = list(c.stages)
        if stages:
            stages[-1] = stages[-1] + " → " + name
        else:
            stages = [name]
        return Compiled(_pipe(c.rdd, _map_batches(fn), name), stages)

    def _LocalScan(self, p):
        n = max(1, p.partitions)
        batches = [b if p.columns is None else b.select([a.aid for a in p.output()]) for b in p.batches]
        per = [[] for _ in range(n)]
        for i, b in enumerate(batches):
            per[i * n // max(1, len(batches))].append(b)
        rdd = self.sc.parallelize(list(range(n)), n)
        if not self.dry and p.size_estimate() > LOCAL_INLINE:
            # large client data travels as one broadcast per partition (uploaded in
            # pieces, fetched by the workers that run it), not inside the job
            per = [self.sc.broadcast(bs) for bs in per]
            return Compiled(_pipe(rdd, _broadcast_part(per), "scan local"), ["scan local"])
        return Compiled(_pipe(rdd, _local_part(per), "scan local"), ["scan local"])

    def _RDDScan(self, p):
        return Compiled(_pipe(p.rdd, _rows_to_batches(p.conv, p.attrs, p.columns), "scan rdd"), ["scan rdd"])

    def _BatchScan(self, p):
        return Compiled(p.rdd, [p.label])

    def _Range(self, p):
        n = max(1, p.partitions)
        length = len(range(p.start, p.end, p.step))
        rdd = self.sc.parallelize(list(range(n)), n)
        return Compiled(_pipe(rdd, _range_part(p.start, p.step, length, n, p.attr.aid), "range"), ["range"])

    def _Project(self, p):
        return self.narrow(p.child, _project_fn(p.exprs), "project")

    def _Filter(self, p):
        return self.narrow(p.child, _filter_fn(p.cond), "filter")

    def _SubqueryAlias(self, p):
        return self.compile(p.children[0])

    def _BroadcastHint(self, p):
        return self.compile(p.children[0])

    def _Aggregate(self, p):
        c = self.compile(p.child)
        n = self.shuffle_partitions(c) if p.keys else 1
        keys = p.keys
        final_keys = [Attr(k.name(), k.dtype, k.nullable, k.aid) for k in keys]
        mapped = _pipe(c.rdd, _partial_agg(keys, p.aggs, n, final_keys), "partial agg")
        grouped = mapped.groupByKey(n)
        out = _pipe(grouped, _final_agg(final_keys, p.aggs, bool(keys)), "final agg")
        stages = list(c.stages)
        stages[-1] += " → partial agg → exchange hash(%d)" % n
        return Compiled(out, stages + ["final agg"])

    def _Sort(self, p):
        c = self.compile(p.child)
        n = self.shuffle_partitions(c)
        ids = [a.aid for a in p.child.output()]
        sample = [] if self.dry else _pipe(c.rdd, _sample_keys(p.orders, 20 * n + 1), "sample").collect()
        bounds = None
        keyids = sorted({r for o in p.orders for r in o.refs()})
        if sample:
            allb = ops.sort_batch(concat(sample, keyids), p.orders)
            if allb.n and n > 1:
                cut = np.unique(np.linspace(0, allb.n, n + 1)[1:-1].astype(np.int64))
                bounds = allb.take(cut[cut < allb.n])
        if bounds is None:
            bounds = Batch({}, 0)
        routed = _pipe(c.rdd, _range_split(bounds, p.orders, keyids), "range split")
        # the ranges gathered (groupByKey keeps a key's records together),
        # sorted, and put in range order: sortByKey over one record per
        # range, so no range is split between two partitions
        parts = max(1, bounds.n + 1)
        ranges = _pipe(routed.groupByKey(parts), _sort_groups(p.orders, ids), "sort")
        out = _pipe(ranges.sortByKey(True, parts), _sorted_values, "order")
        stages = list(c.stages)
        stages[-1] += " → exchange range(%s)" % ("sampled" if self.dry else parts)
        return Compiled(out, stages + ["sort", "order"])

    def _Limit(self, p):
        if isinstance(p.child, P.Sort):  # ORDER BY ... LIMIT n: each partition's top n, then the top n of those
            s = p.child
            c = self.compile(s.child)
            ids = [a.aid for a in s.output()]
            mapped = _pipe(c.rdd, _top_n(s.orders, p.n, ids), "top %d" % p.n)
            out = _pipe(mapped.groupByKey(1), _top_n_final(s.orders, p.n, ids), "top %d" % p.n)
            stages = list(c.stages)
            stages[-1] += " → top %d → exchange single" % p.n
            return Compiled(out, stages + ["top %d" % p.n])
        c = self.compile(p.child)
        local = _pipe(c.rdd, _local_limit(p.n), "limit")
        tagged = local.mapPartitionsWithIndex(_with_split)
        one = tagged.groupByKey(1)
        out = _pipe(one, _global_limit(p.n, [a.aid for a in p.output()]), "global limit")
        stages = list(c.stages)
        stages[-1] += " → local limit → exchange single"
        return Compiled(out, stages + ["global limit %d" % p.n])

    def local_limit(self, p):
        """A limit at the top of a collect: each partition stops at n rows,
        the client keeps the first n in partition order."""
        if isinstance(p.child, P.Sort):
            return self._Limit(p)
        c = self.compile(p.child)
        stages = list(c.stages)
        stages[-1] += " → local limit %d" % p.n
        return Compiled(_pipe(c.rdd, _local_limit(p.n), "limit"), stages)

    def _broadcast_side(self, p):
        threshold = self.session.conf.get("spark.sql.autoBroadcastJoinThreshold", "10485760")
        threshold = _size(threshold)
        can_right = p.how in ("inner", "cross", "left", "left_semi", "left_anti")
        can_left = p.how in ("inner", "cross", "right")
        hint_r, hint_l = _has_hint(p.right), _has_hint(p.left)
        if hint_r and can_right:
            return "right"
        if hint_l and can_left:
            return "left"
        if threshold < 0:
            return None
        rs, ls = p.right.size_estimate(), p.left.size_estimate()
        if can_right and rs is not None and rs <= threshold and (not can_left or ls is None or rs <= ls):
            return "right"
        if can_left and ls is not None and ls <= threshold:
            return "left"
        return None

    def _Join(self, p):
        lattrs, rattrs = p.left.output(), p.right.output()
        lids, rids = {a.aid for a in lattrs}, {a.aid for a in rattrs}
        lk, rk, residual = equi_keys(p.cond, lids, rids)
        how = p.how
        side = self._broadcast_side(p)
        lc, rc = self.compile(p.left), self.compile(p.right)
        if side is not None:
            small_c, big_c = (rc, lc) if side == "right" else (lc, rc)
            small_attrs = rattrs if side == "right" else lattrs
            got = [] if self.dry else small_c.rdd.collect()
            sids = [a.aid for a in small_attrs]
            small = concat(got, sids) if got else empty(sids, {a.aid: a.dtype.numpy for a in small_attrs})
            fn = _broadcast_join(small, how, lk, rk, residual, lattrs, rattrs, p.null_safe, side == "left")
            out = _pipe(big_c.rdd, fn, "broadcast hash join")
            stages = list(big_c.stages)
            stages[-1] += " → broadcast hash join %s" % how
            return Compiled(out, small_c.stages + stages)
        n = self.shuffle_partitions(lc, rc)
        if not lk:  # no equi-keys: every row of one side meets every row of the other in one partition
            n = 1
        left = _pipe(lc.rdd, _tagged(0, lk, n), "exchange")
        right = _pipe(rc.rdd, _tagged(1, rk, n), "exchange")
        grouped = left.union(right).groupByKey(n)
        out = _pipe(grouped, _join_part(how, lk, rk, residual, lattrs, rattrs, p.null_safe), "hash join")
        ls, rs = list(lc.stages), list(rc.stages)
        ls[-1] += " → exchange hash(%d)" % n
        rs[-1] += " → exchange hash(%d)" % n
        return Compiled(out, ls + rs + ["shuffle hash join %s" % how])

    def _Union(self, p):
        lc, rc = self.compile(p.children[0]), self.compile(p.children[1])
        parts = []
        for child, comp in zip(p.children, (lc, rc)):
            src = child.output()
            casts = [_caster(s.dtype, d.dtype) for s, d in zip(src, p.attrs)]
            parts.append(_pipe(comp.rdd, _map_batches(_union_map(src, p.attrs, casts)), "union"))
        return Compiled(parts[0].union(parts[1]), lc.stages + rc.stages)

    def _WindowNode(self, p):
        from .window import window_part
        c = self.compile(p.child)
        w0 = p.wexprs[0].child
        n = self.shuffle_partitions(c) if w0.partition else 1
        mapped = _pipe(c.rdd, _hash_split(w0.partition, n), "exchange")
        out = _pipe(mapped.groupByKey(n), window_part(p.wexprs, [a.aid for a in p.child.output()]), "window")
        stages = list(c.stages)
        stages[-1] += " → exchange hash(%d)" % n
        return Compiled(out, stages + ["window"])

    def _Repartition(self, p):
        c = self.compile(p.children[0])
        n = p.n
        if p.keys:
            mapped = _pipe(c.rdd, _hash_split(p.keys, n), "exchange")
        else:
            mapped = _pipe(c.rdd, _round_robin(n), "exchange")
        out = _pipe(mapped.groupByKey(n), _values, "repartition")
        stages = list(c.stages)
        stages[-1] += " → exchange %s(%d)" % ("hash" if p.keys else "round robin", n)
        return Compiled(out, stages + ["repartition"])

    def _Sample(self, p):
        c = self.compile(p.children[0])
        out = c.rdd._pipe(_sample_fn(p.fraction, p.with_replacement, p.seed), "sample")
        stages = list(c.stages)
        stages[-1] += " → sample"
        return Compiled(out, stages)


def _round_robin(n):
    def run(it):
        for i, b in enumerate(it):
            pids = (np.arange(b.n) + i) % n
            yield from split(b, pids, n)
    return run


def _has_hint(plan):
    while True:
        if isinstance(plan, P.BroadcastHint):
            return True
        if isinstance(plan, (P.Project, P.Filter, P.SubqueryAlias)):
            plan = plan.children[0]
            continue
        return False


def _size(s):
    s = str(s).strip().lower()
    mult = 1
    for suf, m in (("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("k", 1 << 10), ("m", 1 << 20),
                   ("g", 1 << 30), ("b", 1)):
        if s.endswith(suf):
            s, mult = s[:-len(suf)], m
            break
    try:
        return int(float(s) * mult)
    except ValueError:
        raise AnalysisException("spark.sql.autoBroadcastJoinThreshold: %r is not a size" % s) from None


__all__ = ["Compiler", "Compiled", "AggCall", "split_conjuncts", "and_all"]
