"""Aggregation planning (GROUP BY, HAVING, select with aggregates),
GroupedData, and the DataFrame helpers built on aggregation or on
coalesce: na.fill, na.drop, describe.

aggregate() turns a select list over groups into plan nodes: an
Aggregate computing the group keys and each distinct aggregate call once,
a Filter for HAVING, and a Project computing the select list from those
(so `sum(x) + 1` and `k * 2` with `GROUP BY k` work as in Spark).
"""
from . import expr as E
from . import plan as P
from . import types as T
from .aggregate import AggCall
from .column import Column, _col_or_name
from .errors import AnalysisException


def aggregate(child, keys, results, having=None):
    """keys: resolved grouping expressions; results: named resolved
    expressions (Attr or Alias) that may hold AggCalls; having: a resolved
    condition over the same, or None."""
    key_named = []
    key_of = {}
    for k in keys:
        fp = E.fingerprint(k)
        if fp in key_of:
            continue
        nk = k if isinstance(k, E.Attr) else E.Alias(k.child if isinstance(k, E.Alias) else k,
                                                     k.name()).coerce()
        key_named.append(nk)
        key_of[fp] = E.to_attr(nk)
    slots, slot_of = [], {}

    def rewrite(e):
        fp = E.fingerprint(e)
        if fp in key_of and not isinstance(e, E.Lit):
            return key_of[fp]
        if isinstance(e, AggCall):
            for c in e.children:
                if any(isinstance(x, AggCall) for x in c.walk()):
                    raise AnalysisException("[NESTED_AGGREGATE_FUNCTION] It is not allowed to use an aggregate "
                                            "function in the argument of another aggregate function: %s" % e.name())
            if fp not in slot_of:
                a = E.Alias(e, e.name()).coerce()
                slots.append(a)
                slot_of[fp] = a.to_attr()
            return slot_of[fp]
        if isinstance(e, E.Attr):
            raise AnalysisException(
                "[MISSING_AGGREGATION] The non-aggregating expression \"%s\" is based on columns which are not "
                "participating in the GROUP BY clause. Add the columns or the expression to the GROUP BY, aggregate "
                "the expression, or use \"first(%s)\" if you do not care which of the values within a group is "
                "returned." % (e.name(), e.name()))
        if not e.children:
            return e
        return e.with_children([rewrite(c) for c in e.children]).coerce()

    out = []
    for r in results:
        if isinstance(r, E.Alias):
            out.append(E.Alias(rewrite(r.child), r.alias, r.aid).coerce())
        else:
            out.append(rewrite(r))
    cond = rewrite(having) if having is not None else None
    node = P.Aggregate(child, key_named, slots)
    if cond is not None:
        node = P.Filter(node, cond)
    return P.Project(node, out)


class GroupedData:
    def __init__(self, df, keys):
        self._df, self._keys = df, keys

    def agg(self, *exprs):
        df = self._df
        if len(exprs) == 1 and isinstance(exprs[0], dict):
            from . import functions as F
            cols = []
            for name, fname in exprs[0].items():
                fname = {"mean": "avg"}.get(fname, fname)
                if name == "*" and fname == "count":
                    cols.append(F.count("*"))
                else:
                    cols.append(Column(AggCall(fname, [_col_or_name(name)])))
            exprs = cols
        if not exprs:
            raise AnalysisException("agg() needs at least one aggregate expression")
        keys_named = [E.named(k) for k in self._keys]
        results = list(keys_named)
        for c in exprs:
            if not isinstance(c, Column):
                raise TypeError("agg takes Columns or a dict, got %s" % type(c).__name__)
            results.append(E.named(E.analyze(c._e, df._scope(), allow_agg=True)))
        return df._with(aggregate(df._plan, keys_named, results))

    def count(self):
        from . import functions as F
        return self.agg(F.count("*").alias("count"))

    def _numeric(self, fname, cols):
        df = self._df
        scope = df._scope()
        if not cols:
            key_ids = {k.aid for k in self._keys if isinstance(k, E.Attr)}
            cols = [a.name() for a in scope if isinstance(a.dtype, T.NumericType) and a.aid not in key_ids]
        exprs = []
        for c in cols:
            a = E.find_attr(E.Col(c), scope)
            if not isinstance(a.dtype, T.NumericType):
                raise AnalysisException("\"%s\" is not a numeric column. Aggregation function can only be applied "
                                        "on a numeric column." % c)
            exprs.append(Column(AggCall(fname, [a])))
        return self.agg(*exprs)

    def sum(self, *cols):
        return self._numeric("sum", cols)

    def avg(self, *cols):
        return self._numeric("avg", cols)

    mean = avg

    def min(self, *cols):
        return self._numeric("min", cols)

    def max(self, *cols):
        return self._numeric("max", cols)


class DataFrameNaFunctions:
    def __init__(self, df):
        self.df = df

    def fill(self, value, subset=None):
        df = self.df
        if isinstance(value, dict):
            items = value.items()
        else:
            if not isinstance(value, (int, float, str, bool)):
                raise TypeError("value should be a float, int, string, bool or dict")
            names = subset if subset is not None else df.columns
            if isinstance(names, str):
                names = [names]
            items = [(n, value) for n in names]
        fills = {}
        for name, v in items:
            a = E.find_attr(E.Col(name), df._scope())
            t = a.dtype
            ok = (isinstance(v, bool) and isinstance(t, T.BooleanType)) or \
                (not isinstance(v, bool) and isinstance(v, (int, float)) and isinstance(t, T.NumericType)) or \
                (isinstance(v, str) and isinstance(t, T.StringType))
            if not ok:
                if isinstance(value, dict):
                    raise AnalysisException("Unsupported value type %s for column %s of type %s"
                                            % (type(v).__name__, name, t.simpleString()))
                continue
            fills[a.aid] = v
        exprs = []
        for a in df._scope():
            if a.aid not in fills:
                exprs.append(a)
                continue
            from .scalar import Func
            src = a
            if isinstance(a.dtype, T.FractionalType):  # NaN is filled as well, as Spark's
                src = E.CaseWhen([(Func("isnan", [a]).coerce(), E.Lit(None, a.dtype))], a).coerce()
            filled = Func("coalesce", [src, E.Cast(E.Lit(fills[a.aid]), a.dtype).coerce()]).coerce()
            exprs.append(E.Alias(filled, a.name()).coerce())
        return df._with(P.Project(df._plan, exprs))

    def drop(self, how="any", thresh=None, subset=None):
        df = self.df
        if how not in ("any", "all"):
            raise ValueError("how ('%s') should be 'any' or 'all'" % how)
        names = subset if subset is not None else df.columns
        if isinstance(names, str):
            names = [names]
        attrs = [E.find_attr(E.Col(n), df._scope()) for n in names]
        if thresh is None:
            thresh = len(attrs) if how == "any" else 1
        from .scalar import Func
        count = None
        for a in attrs:
            ok = E.IsNull(a, negated=True).coerce()
            if isinstance(a.dtype, T.FractionalType):
                ok = E.Logic("AND", ok, E.Not(Func("isnan", [a]).coerce()).coerce()).coerce()
            one = E.CaseWhen([(ok, E.Lit(1))], E.Lit(0)).coerce()
            count = one if count is None else E.Arith("+", count, one).coerce()
        if count is None:
            return df
        return df._with(P.Filter(df._plan, E.Cmp(">=", count, E.Lit(int(thresh))).coerce()))

    def replace(self, *args, **kwargs):
        raise NotImplementedError("na.replace is not supported by kiln yet")


def describe(df, cols):
    """count, mean, stddev, min, max of numeric and string columns, as strings."""
    from . import functions as F
    scope = df._scope()
    if not cols:
        attrs = [a for a in scope if isinstance(a.dtype, (T.NumericType, T.StringType))]
    else:
        attrs = [E.find_attr(E.Col(c), scope) for c in cols]
    exprs = []
    for a in attrs:
        c = Column(a)
        num = isinstance(a.dtype, T.NumericType)
        exprs += [F.count(c).cast("string"), (F.avg(c) if num else F.lit(None)).cast("string"),
                  (F.stddev(c) if num else F.lit(None)).cast("string"), F.min(c).cast("string"),
                  F.max(c).cast("string")]
    row = df.agg(*exprs).collect()[0] if exprs else ()
    stats = ["count", "mean", "stddev", "min", "max"]
    rows = []
    for i, s in enumerate(stats):
        rows.append([s] + [row[j * 5 + i] for j in range(len(attrs))])
    schema = T.StructType([T.StructField("summary", T.StringType())] +
                          [T.StructField(a.name(), T.StringType()) for a in attrs])
    return df.sparkSession.createDataFrame(rows, schema)
