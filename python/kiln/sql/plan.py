"""The logical plan: small immutable nodes, each knowing its children and
its output attributes (resolved expressions hold Attr ids, so names can
repeat, as after a join).

The DataFrame API and the SQL front end build these already resolved;
optimizer.py rewrites them; physical.py compiles them onto the engine.
Nodes never change after construction: a rewrite builds new nodes
(`with_children`).
"""
import copy

from .expr import Attr, to_attr


class Plan:
    children = ()

    def output(self):
        raise NotImplementedError

    def with_children(self, children):
        """This node over other children (a shallow copy: its own fields are
        immutable and shared)."""
        node = copy.copy(self)
        node.children = tuple(children)
        return node

    def describe(self):
        return type(self).__name__

    def tree(self, indent=0):
        lines = [("   " * (indent - 1) + "+- " if indent else "") + self.describe()]
        for c in self.children:
            lines.append(c.tree(indent + 1))
        return "\n".join(lines)

    def transform_up(self, f):
        kids = [c.transform_up(f) for c in self.children]
        node = self if all(a is b for a, b in zip(kids, self.children)) else self.with_children(kids)
        return f(node)

    def size_estimate(self):
        """Bytes this node's output may hold, or None when unknown."""
        return None


class Unary(Plan):
    """A node over one child, with the child's output unless it says
    otherwise."""

    def __init__(self, child):
        self.children = (child,)

    @property
    def child(self):
        return self.children[0]

    def output(self):
        return self.child.output()

    def size_estimate(self):
        return self.child.size_estimate()


def _attrs(attrs):
    return ", ".join("%s#%d" % (a.name(), a.aid) for a in attrs)


def _exprs(es):
    return ", ".join(e.sql() for e in es)


class LocalScan(Plan):
    """Data that lives in the client: batches made by createDataFrame."""

    def __init__(self, batches, attrs, partitions, columns=None):
        self.batches, self.attrs, self.partitions = batches, attrs, partitions
        self.columns = columns  # the attr ids kept (pruning), or None for all

    def output(self):
        if self.columns is None:
            return list(self.attrs)
        return [a for a in self.attrs if a.aid in self.columns]

    def with_columns(self, ids):
        return LocalScan(self.batches, self.attrs, self.partitions, ids)

    def describe(self):
        return "LocalScan [%s]" % _attrs(self.output())

    def size_estimate(self):
        total = 0
        for b in self.batches:
            for aid, v in b.cols.items():
                if self.columns is None or aid in self.columns:
                    total += v.values.nbytes * (8 if v.values.dtype == object else 1)
        return total


class RDDScan(Plan):
    """Rows of an RDD (tuples, Rows, dicts or plain values), turned into
    batches inside the executor; conv says how one row becomes a tuple."""

    def __init__(self, rdd, attrs, conv, columns=None):
        self.rdd, self.attrs, self.conv, self.columns = rdd, attrs, conv, columns

    def output(self):
        if self.columns is None:
            return list(self.attrs)
        return [a for a in self.attrs if a.aid in self.columns]

    def with_columns(self, ids):
        return RDDScan(self.rdd, self.attrs, self.conv, ids)

    def describe(self):
        return "RDDScan [%s]" % _attrs(self.output())


class BatchScan(Plan):
    """An RDD whose records are already batches of these attrs: a cached
    DataFrame, a file reader's output."""

    def __init__(self, rdd, attrs, label):
        self.rdd, self.attrs, self.label = rdd, attrs, label

    def output(self):
        return list(self.attrs)

    def describe(self):
        return "%s [%s]" % (self.label, _attrs(self.attrs))


class Range(Plan):
    def __init__(self, start, end, step, partitions, attr):
        self.start, self.end, self.step, self.partitions, self.attr = start, end, step, partitions, attr

    def output(self):
        return [self.attr]

    def describe(self):
        return "Range (%d, %d, step=%d, splits=%d)" % (self.start, self.end, self.step, self.partitions)

    def size_estimate(self):
        return 8 * max(0, len(range(self.start, self.end, self.step)))


class Project(Unary):
    def __init__(self, child, exprs):
        super().__init__(child)
        self.exprs = list(exprs)  # Attr or Alias

    def output(self):
        return [to_attr(e) for e in self.exprs]

    def describe(self):
        return "Project [%s]" % _exprs(self.exprs)


class Filter(Unary):
    def __init__(self, child, cond):
        super().__init__(child)
        self.cond = cond

    def describe(self):
        return "Filter %s" % self.cond.sql()


class Aggregate(Unary):
    """Groups by keys (Attr or Alias) and computes aggs (Alias of AggCall).
    Its output is the keys' attributes, then the aggregates'."""

    def __init__(self, child, keys, aggs):
        super().__init__(child)
        self.keys, self.aggs = list(keys), list(aggs)

    def output(self):
        return [to_attr(e) for e in self.keys] + [to_attr(a) for a in self.aggs]

    def describe(self):
        return "Aggregate [%s], [%s]" % (_exprs(self.keys), _exprs(self.aggs))


class Sort(Unary):
    def __init__(self, child, orders):
        super().__init__(child)
        self.orders = list(orders)  # SortOrder

    def describe(self):
        return "Sort [%s]" % _exprs(self.orders)


class Limit(Unary):
    def __init__(self, child, n):
        super().__init__(child)
        self.n = n

    def describe(self):
        return "Limit %d" % self.n


JOIN_TYPES = {
    "inner": "inner", "cross": "cross", "outer": "full", "full": "full", "fullouter": "full",
    "full_outer": "full", "left": "left", "leftouter": "left", "left_outer": "left", "right": "right",
    "rightouter": "right", "right_outer": "right", "semi": "left_semi", "leftsemi": "left_semi",
    "left_semi": "left_semi", "anti": "left_anti", "leftanti": "left_anti", "left_anti": "left_anti",
}


class Join(Plan):
    """how is one of inner, cross, left, right, full, left_semi, left_anti;
    cond is a resolved boolean over both sides' attributes (or None).
    null_safe makes equal keys match when both are NULL (INTERSECT,
    EXCEPT)."""

    def __init__(self, left, right, how, cond, null_safe=False):
        self.children = (left, right)
        self.how, self.cond, self.null_safe = how, cond, null_safe

    @property
    def left(self):
        return self.children[0]

    @property
    def right(self):
        return self.children[1]

    def output(self):
        lo, ro = self.left.output(), self.right.output()
        if self.how in ("left_semi", "left_anti"):
            return lo
        if self.how in ("right", "full"):
            lo = [_nullable(a) for a in lo]
        if self.how in ("left", "full"):
            ro = [_nullable(a) for a in ro]
        return lo + ro

    def describe(self):
        return "Join %s%s%s" % (self.how, ", " + self.cond.sql() if self.cond is not None else "",
                                " (null-safe)" if self.null_safe else "")


def _nullable(a):
    return Attr(a.name(), a.dtype, True, a.aid, a.qualifier)


class BroadcastHint(Unary):
    def __init__(self, child):
        super().__init__(child)

    def describe(self):
        return "ResolvedHint (broadcast)"


class Union(Plan):
    """UNION ALL by position; attrs are the output (fresh ids, the left's
    names, each column's common type)."""

    def __init__(self, left, right, attrs):
        self.children = (left, right)
        self.attrs = attrs

    def output(self):
        return list(self.attrs)

    def describe(self):
        return "Union [%s]" % _attrs(self.attrs)


class SubqueryAlias(Unary):
    """A name for a relation (a view, `FROM t AS x`, df.alias): its output
    attributes take it as their qualifier."""

    def __init__(self, child, alias):
        super().__init__(child)
        self.alias = alias

    def output(self):
        return [a.with_qualifier(self.alias) for a in self.children[0].output()]

    def describe(self):
        return "SubqueryAlias %s" % self.alias


class Repartition(Unary):
    def __init__(self, child, n, keys=()):
        super().__init__(child)
        self.n, self.keys = n, list(keys)

    def describe(self):
        return "Repartition %d%s" % (self.n, " [%s]" % _exprs(self.keys) if self.keys else "")


class Sample(Unary):
    def __init__(self, child, fraction, with_replacement, seed):
        super().__init__(child)
        self.fraction, self.with_replacement, self.seed = fraction, with_replacement, seed

    def describe(self):
        return "Sample %s, %s, %d" % (self.fraction, self.with_replacement, self.seed)


__all__ = ["Plan", "LocalScan", "RDDScan", "BatchScan", "Range", "Project", "Filter", "Aggregate", "Sort", "Limit",
           "Join", "Union", "SubqueryAlias", "BroadcastHint", "Repartition", "Sample", "JOIN_TYPES"]
