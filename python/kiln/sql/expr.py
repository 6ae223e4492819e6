"""Expressions: small immutable trees, resolved against a plan's output and
evaluated vectorized over a batch.

A tree is built unresolved (Col names a column by name) by the Column API
or the SQL front end; analyze(expr, scope) resolves every Col to the Attr
of the input with that name (Spark's case-insensitive rule, the qualifier
when given), inserts the casts Spark's type coercion would, and computes
each node's type. After that, eval(batch) of a node returns one Vec for
the whole batch: numpy operations, never a Python call per row (except a
row UDF, which is one by definition).

Every node also knows its Spark name (`(a + 1)`, `sum(x)`,
`CAST(a AS INT)`), which becomes the column's name when it is not aliased.
"""
import itertools
import re

import numpy as np

from . import types as T
from .batch import Vec
from .cast import can_cast, cast
from .errors import AnalysisException, unresolved_column

_ids = itertools.count(1)


def new_id():
    """A fresh attribute id (unique within this client process)."""
    return next(_ids)


class Expr:
    children = ()
    dtype = None
    nullable = True

    def with_children(self, children):
        raise NotImplementedError(type(self).__name__)

    def coerce(self):
        """This node with its children resolved: casts inserted, dtype set."""
        return self

    def eval(self, batch):
        raise AnalysisException("%s cannot be evaluated here" % self.name())

    def name(self):
        raise NotImplementedError(type(self).__name__)

    def sql(self):
        return self.name()

    def __repr__(self):
        return self.name()

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def refs(self):
        return {e.aid for e in self.walk() if isinstance(e, Attr)}

    def transform(self, f, typed=True):
        """Bottom-up rewrite: f(node with rewritten children) -> node. A node
        whose children changed is rebuilt and, when typed (the tree is
        resolved), its type computed again."""
        kids = [c.transform(f, typed) for c in self.children]
        if all(a is b for a, b in zip(kids, self.children)):
            node = self
        else:
            node = self.with_children(kids)
            if typed:
                node = node.coerce()
        return f(node)

    @property
    def deterministic(self):
        return all(c.deterministic for c in self.children)

    @property
    def foldable(self):
        return bool(self.children) and all(c.foldable for c in self.children) and self.deterministic


class Attr(Expr):
    """A resolved reference to an input column, by id."""

    def __init__(self, name, dtype, nullable=True, aid=None, qualifier=None):
        self._name, self.dtype, self.nullable = name, dtype, nullable
        self.aid = aid if aid is not None else new_id()
        self.qualifier = qualifier

    def with_children(self, children):
        return self

    def with_name(self, name):
        return Attr(name, self.dtype, self.nullable, self.aid, self.qualifier)

    def with_qualifier(self, q):
        return Attr(self._name, self.dtype, self.nullable, self.aid, q)

    def fresh(self):
        return Attr(self._name, self.dtype, self.nullable, None, self.qualifier)

    def eval(self, batch):
        return batch[self.aid]

    def name(self):
        return self._name

    @property
    def foldable(self):
        return False


class Col(Expr):
    """An unresolved column name (with an optional qualifier: t.a)."""

    def __init__(self, name, qualifier=None):
        self._name, self.qualifier = name, qualifier

    def with_children(self, children):
        return self

    def name(self):
        return self._name

    def full(self):
        return "%s.%s" % (self.qualifier, self._name) if self.qualifier else self._name


class Star(Expr):
    """* or t.* in a select list; expanded by the select, never evaluated."""

    def __init__(self, qualifier=None):
        self.qualifier = qualifier

    def with_children(self, children):
        return self

    def name(self):
        return "%s.*" % self.qualifier if self.qualifier else "*"


def _lit_type(v):
    if v is None:
        return T.NullType()
    if isinstance(v, (bool, np.bool_)):
        return T.BooleanType()
    if isinstance(v, (int, np.integer)):
        return T.IntegerType() if -(1 << 31) <= int(v) < (1 << 31) else T.LongType()
    if isinstance(v, (float, np.floating)):
        return T.DoubleType()
    return T.infer_type(v)


class Lit(Expr):
    def __init__(self, value, dtype=None):
        if isinstance(value, np.generic):
            value = value.item()
        self.value = value
        self.dtype = dtype or _lit_type(value)
        self.nullable = value is None

    def with_children(self, children):
        return self

    @property
    def foldable(self):
        return True

    def eval(self, batch):
        n = batch.n
        if self.value is None:
            if self.dtype.numpy == np.dtype(object):
                return Vec(np.full(n, None, dtype=object), np.ones(n, dtype=bool))
            return Vec(np.zeros(n, dtype=self.dtype.numpy), np.ones(n, dtype=bool))
        if self.dtype.numpy == np.dtype(object):
            values = np.empty(n, dtype=object)
            values[:] = [self.value] * n if isinstance(self.value, (list, tuple)) else self.value
            return Vec(values)
        return Vec(np.full(n, self.value, dtype=self.dtype.numpy))

    def name(self):
        from .cast import value_str
        if self.value is None:
            return "NULL"
        return value_str(self.value, self.dtype)

    def sql(self):
        if isinstance(self.value, str):
            return "'%s'" % self.value.replace("'", "\\'")
        return self.name()


class Alias(Expr):
    def __init__(self, child, alias, aid=None):
        self.children = (child,)
        self.alias = alias
        self.aid = aid if aid is not None else new_id()

    @property
    def child(self):
        return self.children[0]

    def with_children(self, children):
        return Alias(children[0], self.alias, self.aid)

    def coerce(self):
        self.dtype, self.nullable = self.child.dtype, self.child.nullable
        return self

    def eval(self, batch):
        return self.child.eval(batch)

    def name(self):
        return self.alias

    def sql(self):
        return "%s AS %s" % (self.child.sql(), self.alias)

    def to_attr(self):
        return Attr(self.alias, self.dtype, self.nullable, self.aid)


class Cast(Expr):
    def __init__(self, child, to, implicit=False):
        self.children = (child,)
        self.to = to
        self.implicit = implicit

    def with_children(self, children):
        return Cast(children[0], self.to, self.implicit)

    def coerce(self):
        src = self.children[0].dtype
        if not can_cast(src, self.to):
            raise AnalysisException(
                "[DATATYPE_MISMATCH.CAST_WITHOUT_SUGGESTION] Cannot resolve \"%s\" due to data type mismatch: "
                "cannot cast \"%s\" to \"%s\"." % (self.name(), src.simpleString().upper(),
                                                   self.to.simpleString().upper()))
        self.dtype = self.to
        self.nullable = True
        return self

    def eval(self, batch):
        return cast(self.children[0].eval(batch), self.children[0].dtype, self.to)

    def name(self):
        if self.implicit:
            return self.children[0].name()
        return "CAST(%s AS %s)" % (self.children[0].name(), self.to.simpleString().upper())


def implicit_cast(e, to):
    return e if e.dtype == to else Cast(e, to, implicit=True).coerce()


# ---- type coercion -------------------------------------------------------

_NUMERIC_ORDER = [T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType]


def _rank(t):
    for i, c in enumerate(_NUMERIC_ORDER):
        if isinstance(t, c):
            return i
    return None


def wider_numeric(a, b):
    if isinstance(a, T.NullType):
        return b
    if isinstance(b, T.NullType):
        return a
    ra, rb = _rank(a), _rank(b)
    if ra is None or rb is None:
        return None
    return a if ra >= rb else b


def common_type(a, b, what):
    """The type two values meet at (coalesce, CASE, IN, UNION): the wider
    number, a string beside another atomic type, timestamp over date."""
    if a == b:
        return a
    w = wider_numeric(a, b)
    if w is not None:
        return w
    if isinstance(a, T.NullType):
        return b
    if isinstance(b, T.NullType):
        return a
    dt = (T.DateType, T.TimestampType)
    if isinstance(a, dt) and isinstance(b, dt):
        return T.TimestampType()
    if isinstance(a, T.StringType) or isinstance(b, T.StringType):
        other = b if isinstance(a, T.StringType) else a
        if not isinstance(other, (T.ArrayType, T.StructType, T.BinaryType)):
            return T.StringType()
    raise AnalysisException("[DATATYPE_MISMATCH.DATA_DIFF_TYPES] Cannot resolve \"%s\" due to data type "
                            "mismatch: the types %s and %s differ." % (what, a.simpleString().upper(),
                                                                       b.simpleString().upper()))


def _numeric_operand(e, op_name):
    t = e.dtype
    if isinstance(t, T.StringType):
        return implicit_cast(e, T.DoubleType())
    if isinstance(t, T.NullType):
        return implicit_cast(e, T.DoubleType())
    if _rank(t) is None:
        raise AnalysisException("[DATATYPE_MISMATCH.BINARY_OP_WRONG_TYPE] Cannot resolve \"%s\" due to data type "
                                "mismatch: %s is not a numeric type." % (op_name, t.simpleString().upper()))
    return e


def _fill(vec, fill):
    """The values with a harmless value under the nulls (object columns)."""
    if vec.mask is None or vec.values.dtype != np.dtype(object):
        return vec.values
    v = vec.values.copy()
    v[vec.mask] = fill
    return v


def _or_masks(*vecs):
    masks = [v.mask for v in vecs if v.mask is not None]
    if not masks:
        return None
    out = masks[0]
    for m in masks[1:]:
        out = out | m
    return out


class Arith(Expr):
    """+ - * / % and pmod: integral arithmetic wraps at the type's width;
    / is always double; / and % by zero are NULL."""

    def __init__(self, op, left, right):
        self.op = op
        self.children = (left, right)

    def with_children(self, children):
        return Arith(self.op, children[0], children[1])

    def coerce(self):
        l, r = (_numeric_operand(c, self.name()) for c in self.children)
        if self.op == "/":
            l, r = implicit_cast(l, T.DoubleType()), implicit_cast(r, T.DoubleType())
            t = T.DoubleType()
        else:
            t = wider_numeric(l.dtype, r.dtype)
            l, r = implicit_cast(l, t), implicit_cast(r, t)
        node = Arith(self.op, l, r)
        node.dtype = t
        node.nullable = l.nullable or r.nullable or self.op in ("/", "%")
        return node

    def eval(self, batch):
        a, b = (c.eval(batch) for c in self.children)
        x, y = a.values, b.values
        mask = _or_masks(a, b)
        with np.errstate(all="ignore"):
            if self.op == "+":
                v = x + y
            elif self.op == "-":
                v = x - y
            elif self.op == "*":
                v = x * y
            elif self.op == "/":
                zero = y == 0
                v = x / np.where(zero, 1, y)
                mask = zero if mask is None else (mask | zero)
            else:  # % with Java's sign (of the dividend)
                zero = y == 0
                safe = np.where(zero, 1, y)
                v = _java_mod(x, safe)
                mask = zero if mask is None else (mask | zero)
        return Vec(v.astype(self.dtype.numpy, copy=False), mask)

    def name(self):
        return "(%s %s %s)" % (self.children[0].name(), self.op, self.children[1].name())


def _java_mod(x, y):
    if x.dtype.kind == "f":
        return np.fmod(x, y)
    r = np.remainder(x, y)
    # numpy's remainder takes the divisor's sign; Java's takes the dividend's
    fix = (r != 0) & ((r < 0) != (x < 0))
    return np.where(fix, r - y, r)


class Neg(Expr):
    def __init__(self, child):
        self.children = (child,)

    def with_children(self, children):
        return Neg(children[0])

    def coerce(self):
        c = _numeric_operand(self.children[0], self.name())
        node = Neg(c)
        node.dtype, node.nullable = c.dtype, c.nullable
        return node

    def eval(self, batch):
        a = self.children[0].eval(batch)
        with np.errstate(all="ignore"):
            return Vec(-a.values, a.mask)

    def name(self):
        return "(- %s)" % self.children[0].name()


_CMP = {"=": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater,
        ">=": np.greater_equal, "<=>": np.equal}


def comparable(l, r, what):
    """l and r cast to the type they compare in."""
    a, b = l.dtype, r.dtype
    if a == b:
        return l, r
    w = wider_numeric(a, b)
    if w is not None:
        return implicit_cast(l, w), implicit_cast(r, w)
    if isinstance(a, T.NullType):
        return implicit_cast(l, b), r
    if isinstance(b, T.NullType):
        return l, implicit_cast(r, a)
    # a string compared with a number is cast to the number's type (Spark's
    # findCommonTypeForBinaryComparison: '1.5' = 1 is true, 'x' = 1 is NULL)
    if isinstance(a, T.StringType) and _rank(b) is not None:
        return implicit_cast(l, b), r
    if isinstance(b, T.StringType) and _rank(a) is not None:
        return l, implicit_cast(r, a)
    for x, y, flip in ((l, r, False), (r, l, True)):
        if isinstance(x.dtype, T.StringType) and isinstance(y.dtype, (T.DateType, T.TimestampType, T.BooleanType)):
            x = implicit_cast(x, y.dtype)
            return (y, x) if flip else (x, y)
    if isinstance(a, (T.DateType, T.TimestampType)) and isinstance(b, (T.DateType, T.TimestampType)):
        return implicit_cast(l, T.TimestampType()), implicit_cast(r, T.TimestampType())
    raise AnalysisException("[DATATYPE_MISMATCH.BINARY_OP_DIFF_TYPES] Cannot resolve \"%s\" due to data type "
                            "mismatch: the left and right operands of the binary operator have incompatible "
                            "types (\"%s\" and \"%s\")." % (what, a.simpleString().upper(), b.simpleString().upper()))


def _fill_value(t):
    if isinstance(t, T.StringType):
        return ""
    if isinstance(t, T.DateType):
        import datetime
        return datetime.date(1970, 1, 1)
    if isinstance(t, T.TimestampType):
        import datetime
        return datetime.datetime(1970, 1, 1)
    return 0


def compare_values(op, a, b, t):
    """The comparison's bool array, ignoring nulls (safe under them)."""
    fill = _fill_value(t)
    x, y = _fill(a, fill), _fill(b, fill)
    return np.asarray(_CMP[op](x, y), dtype=bool)


class Cmp(Expr):
    def __init__(self, op, left, right):
        self.op = op
        self.children = (left, right)

    def with_children(self, children):
        return Cmp(self.op, children[0], children[1])

    def coerce(self):
        l, r = comparable(self.children[0], self.children[1], self.name())
        node = Cmp(self.op, l, r)
        node.dtype = T.BooleanType()
        node.nullable = self.op != "<=>" and (l.nullable or r.nullable)
        return node

    def eval(self, batch):
        a, b = (c.eval(batch) for c in self.children)
        v = compare_values(self.op, a, b, self.children[0].dtype)
        if self.op == "<=>":  # null-safe: both null is true, one null is false
            an, bn = a.nulls(), b.nulls()
            return Vec(np.where(an | bn, an & bn, v))
        return Vec(v, _or_masks(a, b))

    def name(self):
        return "(%s %s %s)" % (self.children[0].name(), self.op, self.children[1].name())


def _boolean(e, what):
    if isinstance(e.dtype, T.NullType):
        return implicit_cast(e, T.BooleanType())
    if not isinstance(e.dtype, T.BooleanType):
        raise AnalysisException("[DATATYPE_MISMATCH.BINARY_OP_WRONG_TYPE] Cannot resolve \"%s\" due to data type "
                                "mismatch: \"%s\" is %s, not BOOLEAN." % (what, e.name(),
                                                                          e.dtype.simpleString().upper()))
    return e


class Logic(Expr):
    """AND / OR with SQL's three-valued logic."""

    def __init__(self, op, left, right):
        self.op = op
        self.children = (left, right)

    def with_children(self, children):
        return Logic(self.op, children[0], children[1])

    def coerce(self):
        node = Logic(self.op, *(_boolean(c, self.name()) for c in self.children))
        node.dtype = T.BooleanType()
        node.nullable = any(c.nullable for c in node.children)
        return node

    def eval(self, batch):
        a, b = (c.eval(batch) for c in self.children)
        an, bn = a.nulls(), b.nulls()
        if self.op == "AND":
            decided = (~an & ~a.values) | (~bn & ~b.values)  # a definite false decides
            return Vec(np.where(decided, False, a.values & b.values), (an | bn) & ~decided)
        decided = (~an & a.values) | (~bn & b.values)  # a definite true decides
        return Vec(decided | (a.values & b.values & ~an & ~bn), (an | bn) & ~decided)

    def name(self):
        return "(%s %s %s)" % (self.children[0].name(), self.op, self.children[1].name())


class Not(Expr):
    def __init__(self, child):
        self.children = (child,)

    def with_children(self, children):
        return Not(children[0])

    def coerce(self):
        node = Not(_boolean(self.children[0], self.name()))
        node.dtype, node.nullable = T.BooleanType(), node.children[0].nullable
        return node

    def eval(self, batch):
        a = self.children[0].eval(batch)
        return Vec(~a.values.astype(bool), a.mask)

    def name(self):
        return "(NOT %s)" % self.children[0].name()


class IsNull(Expr):
    def __init__(self, child, negated=False):
        self.children = (child,)
        self.negated = negated

    def with_children(self, children):
        return IsNull(children[0], self.negated)

    def coerce(self):
        self.dtype, self.nullable = T.BooleanType(), False
        return self

    def eval(self, batch):
        n = self.children[0].eval(batch).nulls()
        return Vec(~n if self.negated else n.copy())

    def name(self):
        return "(%s IS %sNULL)" % (self.children[0].name(), "NOT " if self.negated else "")


class In(Expr):
    """x IN (v, ...): true when equal to one, NULL when none is equal and x
    or one of the values is NULL, else false."""

    def __init__(self, child, values):
        self.children = (child,) + tuple(values)

    def with_children(self, children):
        return In(children[0], children[1:])

    def coerce(self):
        t = self.children[0].dtype
        for v in self.children[1:]:
            t = _in_type(t, v.dtype, self.name())
        node = In(implicit_cast(self.children[0], t), [implicit_cast(v, t) for v in self.children[1:]])
        node.dtype = T.BooleanType()
        node.nullable = any(c.nullable for c in node.children)
        return node

    def eval(self, batch):
        x = self.children[0].eval(batch)
        hit = np.zeros(batch.n, dtype=bool)
        any_null = np.zeros(batch.n, dtype=bool)
        t = self.children[0].dtype
        for c in self.children[1:]:
            v = c.eval(batch)
            eq = compare_values("=", x, v, t)
            vn = v.nulls()
            hit |= eq & ~vn
            any_null |= vn
        mask = x.nulls() | (~hit & any_null)
        return Vec(hit & ~mask, mask)

    def name(self):
        return "(%s IN (%s))" % (self.children[0].name(), ", ".join(c.name() for c in self.children[1:]))


def _in_type(a, b, what):
    """IN compares as = does: a string beside a number takes the number's type."""
    if isinstance(a, T.StringType) and _rank(b) is not None:
        return b
    if isinstance(b, T.StringType) and _rank(a) is not None:
        return a
    return common_type(a, b, what)


def like_regex(pattern, escape="\\"):
    """A SQL LIKE pattern as an anchored Python regex."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return "(?s)" + "".join(out) + r"\Z"


class StrMatch(Expr):
    """LIKE, RLIKE, startswith, endswith, contains against a pattern that
    is a literal (as Spark's fast paths); pandas' string methods run it."""

    def __init__(self, kind, child, pattern):
        self.kind = kind
        self.children = (child, pattern)

    def with_children(self, children):
        return StrMatch(self.kind, children[0], children[1])

    def coerce(self):
        c, p = self.children
        c, p = implicit_cast(c, T.StringType()), implicit_cast(p, T.StringType())
        if not p.foldable:
            raise AnalysisException("%s: the pattern must be a literal string in kiln (got %s)"
                                    % (self.kind, p.name()))
        node = StrMatch(self.kind, c, p)
        node.dtype, node.nullable = T.BooleanType(), True
        return node

    def eval(self, batch):
        import pandas as pd
        x = self.children[0].eval(batch)
        pat = self.children[1].eval(batch.__class__({}, 1)).to_list()[0]
        if pat is None:
            return Vec(np.zeros(batch.n, dtype=bool), np.ones(batch.n, dtype=bool))
        s = pd.Series(_fill(x, ""), dtype=object)
        if self.kind == "LIKE":
            r = s.str.match(like_regex(pat))
        elif self.kind == "RLIKE":
            r = s.str.contains(pat, regex=True)
        elif self.kind == "startswith":
            r = s.str.startswith(pat)
        elif self.kind == "endswith":
            r = s.str.endswith(pat)
        else:
            r = s.str.contains(pat, regex=False)
        return Vec(r.to_numpy(dtype=bool, na_value=False), x.mask)

    def name(self):
        if self.kind in ("LIKE", "RLIKE"):
            return "%s %s %s" % (self.children[0].name(), self.kind, self.children[1].name())
        return "%s(%s, %s)" % (self.kind, self.children[0].name(), self.children[1].name())


class CaseWhen(Expr):
    """CASE WHEN c1 THEN v1 ... ELSE e END (a NULL condition is not true)."""

    def __init__(self, branches, otherwise=None):
        self.branches = [tuple(b) for b in branches]
        self.otherwise = otherwise
        kids = [x for b in self.branches for x in b]
        self.children = tuple(kids + ([otherwise] if otherwise is not None else []))

    def with_children(self, children):
        n = len(self.branches)
        br = [(children[2 * i], children[2 * i + 1]) for i in range(n)]
        return CaseWhen(br, children[2 * n] if len(children) > 2 * n else None)

    def coerce(self):
        t = T.NullType()
        for _, v in self.branches:
            t = common_type(t, v.dtype, self.name())
        if self.otherwise is not None:
            t = common_type(t, self.otherwise.dtype, self.name())
        br = [(_boolean(c, self.name()), implicit_cast(v, t)) for c, v in self.branches]
        other = implicit_cast(self.otherwise, t) if self.otherwise is not None else None
        node = CaseWhen(br, other)
        node.dtype = t
        node.nullable = other is None or any(c.nullable for c in node.children)
        return node

    def eval(self, batch):
        n = batch.n
        if self.otherwise is not None:
            out = self.otherwise.eval(batch)
            values, mask = out.values.copy(), out.nulls().copy()
        else:
            values = np.zeros(n, dtype=self.dtype.numpy) if self.dtype.numpy != np.dtype(object) \
                else np.full(n, None, dtype=object)
            mask = np.ones(n, dtype=bool)
        for c, v in reversed(self.branches):  # the first true branch wins: apply it last
            cv = c.eval(batch)
            take = cv.values.astype(bool) & ~cv.nulls()
            if take.any():
                vv = v.eval(batch)
                values[take] = vv.values[take]
                mask[take] = vv.nulls()[take]
        return Vec(values, mask)

    def name(self):
        s = "CASE" + "".join(" WHEN %s THEN %s" % (c.name(), v.name()) for c, v in self.branches)
        if self.otherwise is not None:
            s += " ELSE %s" % self.otherwise.name()
        return s + " END"


class SortOrder(Expr):
    def __init__(self, child, ascending=True, nulls_first=None):
        self.children = (child,)
        self.ascending = ascending
        self.nulls_first = ascending if nulls_first is None else nulls_first

    def with_children(self, children):
        return SortOrder(children[0], self.ascending, self.nulls_first)

    def coerce(self):
        self.dtype, self.nullable = self.children[0].dtype, self.children[0].nullable
        return self

    def eval(self, batch):
        return self.children[0].eval(batch)

    def name(self):
        return "%s %s NULLS %s" % (self.children[0].name(), "ASC" if self.ascending else "DESC",
                                   "FIRST" if self.nulls_first else "LAST")


# ---- analysis ---------------------------------------------------------------

def find_attr(col, scope):
    """The Attr of scope that Col col names; AnalysisException if none or
    several (Spark's default: names match case-insensitively)."""
    name = col.name().lower()
    q = col.qualifier.lower() if col.qualifier else None
    hits = [a for a in scope if a.name().lower() == name and (q is None or (a.qualifier or "").lower() == q)]
    if len({a.aid for a in hits}) > 1:
        raise AnalysisException("[AMBIGUOUS_REFERENCE] Reference `%s` is ambiguous, could be: [%s]."
                                % (col.full(), ", ".join("`%s`" % _qual(a) for a in hits)))
    if not hits:
        raise unresolved_column(col.full(), [_qual(a) for a in scope])
    return hits[0]


def _qual(a):
    return "%s.%s" % (a.qualifier, a.name()) if a.qualifier else a.name()


def analyze(expr, scope, allow_agg=False):
    """expr resolved against the attributes of scope (a list of Attr)."""
    ids = {a.aid for a in scope}

    def resolve(node):
        if isinstance(node, Col):
            return find_attr(node, scope)
        if isinstance(node, Attr):
            if node.aid not in ids:
                # the same column by name (a frame's column used on a frame derived from it)
                same = [a for a in scope if a.aid == node.aid]
                if not same:
                    raise AnalysisException(
                        "[MISSING_ATTRIBUTES.RESOLVED_ATTRIBUTE_APPEAR_IN_OPERATION] Resolved attribute(s) "
                        "\"%s\" missing from %s in operator." % (node.name(), ", ".join(_qual(a) for a in scope)))
            return next(a for a in scope if a.aid == node.aid)
        if isinstance(node, Star):
            raise AnalysisException("Invalid usage of '*' in expression")
        return node.coerce()

    out = expr.transform(resolve, typed=False)
    if not allow_agg:
        for e in aggs_outside_windows(out):
                raise AnalysisException(
                    "[UNSUPPORTED_EXPR_FOR_OPERATOR] aggregate function %s is not allowed here: use it in a "
                    "select of an aggregation (groupBy().agg, or a SELECT without GROUP BY)" % e.name())
    return out


def aggs_outside_windows(e):
    """The aggregate calls of e that are not the function of a window."""
    from .aggregate import AggCall
    from .window import WindowExpr
    if isinstance(e, AggCall):
        return [e]
    if isinstance(e, WindowExpr):
        return [x for c in e.children[1:] for x in aggs_outside_windows(c)]
    return [x for c in e.children for x in aggs_outside_windows(c)]


def to_attr(e):
    """The output attribute of a resolved select-list entry."""
    if isinstance(e, Attr):
        return e
    if isinstance(e, Alias):
        return e.to_attr()
    raise TypeError("not a named expression: %r" % e)


def named(e):
    """e as a select-list entry: an Attr or an Alias (naming an expression
    by its Spark name)."""
    if isinstance(e, (Attr, Alias)):
        return e
    return Alias(e, e.name()).coerce()


_SKIP = {"children", "dtype", "nullable", "aid", "_name", "qualifier", "implicit"}


def fingerprint(e):
    """A key equal for two resolved expressions that compute the same thing
    (columns by id, so equal names of different relations differ)."""
    if isinstance(e, Attr):
        return ("attr", e.aid)
    if isinstance(e, Alias):
        return fingerprint(e.child)
    params = tuple(sorted((k, repr(v)) for k, v in vars(e).items() if k not in _SKIP and k not in (
        "branches", "otherwise", "alias")))
    return (type(e).__name__, params, tuple(fingerprint(c) for c in e.children))


def fingerprint_list(es):
    return tuple(fingerprint(e) for e in es)
