"""DataFrame: PySpark's DataFrame API over a logical plan.

Every transformation resolves its expressions against its input at once
(an unknown column fails here, as in PySpark) and returns a new DataFrame
over a new plan node. Actions optimize the plan (optimizer.py), compile
it onto the engine (physical.py) and run it.
"""
import numpy as np

from . import expr as E
from . import plan as P
from .aggregate import AggCall
from .column import Column, _col_or_name, parse_name
from .errors import AnalysisException
from .row import Row
from .types import StructField, StructType


def _flatten(cols):
    if len(cols) == 1 and isinstance(cols[0], (list, tuple)):
        return list(cols[0])
    return list(cols)


def _has_agg(e):
    return bool(E.aggs_outside_windows(e))


# ---- shipped helpers ---------------------------------------------------------

def _count_batches(split, it):
    yield sum(b.n for b in it)


def _batches_to_rows(names, ids):
    def stage(split, it):
        for b in it:
            cols = [b[i].to_list() for i in ids]
            for values in zip(*cols):
                yield Row._make(names, values)
    return stage


def rows_of(batches, attrs):
    names = [a.name() for a in attrs]
    out = []
    for b in batches:
        cols = [b[a.aid].to_list() for a in attrs]
        out.extend(Row._make(names, values) for values in zip(*cols))
    return out


class DataFrame:
    def __init__(self, plan, session):
        self._plan = plan
        self.sparkSession = session
        self._cached = None

    def _with(self, plan):
        return DataFrame(plan, self.sparkSession)

    @property
    def sql_ctx(self):
        return self.sparkSession

    # ---- resolution ------------------------------------------------------

    def _scope(self):
        return self._plan.output()

    def _resolve(self, c, allow_agg=False):
        e = c._e if isinstance(c, Column) else _col_or_name(c)
        return E.analyze(e, self._scope(), allow_agg)

    def _select_list(self, cols):
        out = []
        scope = self._scope()
        for c in cols:
            e = c._e if isinstance(c, Column) else parse_name(c) if isinstance(c, str) else None
            if e is None:
                raise TypeError("select takes column names or Columns, got %s" % type(c).__name__)
            if isinstance(e, E.Star):
                out.extend(_star(e, scope))
                continue
            out.append(E.named(E.analyze(e, scope, allow_agg=True)))
        return out

    # ---- schema ------------------------------------------------------------

    @property
    def schema(self):
        return StructType([StructField(a.name(), a.dtype, a.nullable) for a in self._scope()])

    @property
    def columns(self):
        return [a.name() for a in self._scope()]

    @property
    def dtypes(self):
        return [(a.name(), a.dtype.simpleString()) for a in self._scope()]

    def printSchema(self, level=None):
        print(self.schema.treeString(), end="")

    def __getitem__(self, item):
        if isinstance(item, str):
            return Column(E.find_attr(E.Col(item), self._scope()))
        if isinstance(item, Column):
            return self.filter(item)
        if isinstance(item, (list, tuple)):
            return self.select(*item)
        if isinstance(item, int):
            return Column(self._scope()[item])
        raise TypeError("unexpected item type: %s" % type(item))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in [c for c in self.columns]:
            raise AttributeError("'DataFrame' object has no attribute '%s'" % name)
        return self[name]

    def __repr__(self):
        return "DataFrame[%s]" % ", ".join("%s: %s" % kv for kv in self.dtypes)

    # ---- transformations -----------------------------------------------------

    def select(self, *cols):
        exprs = self._select_list(_flatten(cols))
        from .window import has_window, plan_windows
        if any(has_window(e) for e in exprs):
            if any(_has_agg(e) for e in exprs):
                raise AnalysisException("kiln does not mix aggregates and window functions in one select; "
                                        "aggregate first, then select the window over the result")
            return self._with(plan_windows(self._plan, exprs))
        if any(_has_agg(e) for e in exprs):
            from .grouping import aggregate
            return self._with(aggregate(self._plan, [], exprs))
        return self._with(P.Project(self._plan, exprs))

    def selectExpr(self, *exprs):
        from .sqlparse import parse_expression
        return self.select(*[Column(parse_expression(x)) for x in _flatten(exprs)])

    def filter(self, condition):
        if isinstance(condition, str):
            from .sqlparse import parse_expression
            condition = Column(parse_expression(condition))
        if not isinstance(condition, Column):
            raise TypeError("condition should be string or Column")
        cond = self._resolve(condition)
        E._boolean(cond, "filter")
        return self._with(P.Filter(self._plan, cond))

    where = filter

    def withColumn(self, colName, col):
        if not isinstance(col, Column):
            raise TypeError("col should be Column")
        from .window import has_window
        if has_window(col._e):
            keep = [Column(a) for a in self._scope() if a.name().lower() != colName.lower()]
            return self.select(*keep, col.alias(colName))
        new = E.Alias(self._resolve(col), colName).coerce()
        exprs, done = [], False
        for a in self._scope():
            if a.name().lower() == colName.lower() and not done:
                exprs.append(new)
                done = True
            elif a.name().lower() != colName.lower():
                exprs.append(a)
        if not done:
            exprs.append(new)
        return self._with(P.Project(self._plan, exprs))

    def withColumns(self, *colsMap):
        df = self
        for k, v in colsMap[0].items():
            df = df.withColumn(k, v)
        return df

    def withColumnRenamed(self, existing, new):
        exprs = []
        for a in self._scope():
            exprs.append(E.Alias(a, new).coerce() if a.name().lower() == existing.lower() else a)
        return self._with(P.Project(self._plan, exprs))

    def toDF(self, *cols):
        scope = self._scope()
        if len(cols) != len(scope):
            raise ValueError("Number of column names (%d) does not match the number of columns (%d)"
                             % (len(cols), len(scope)))
        return self._with(P.Project(self._plan, [E.Alias(a, n).coerce() for a, n in zip(scope, cols)]))

    def drop(self, *cols):
        drop_ids, drop_names = set(), set()
        for c in cols:
            if isinstance(c, Column):
                e = c._e
                if isinstance(e, E.Col):
                    drop_names.add(e.name().lower())
                else:
                    drop_ids.add(self._resolve(c).aid if isinstance(self._resolve(c), E.Attr) else None)
            else:
                drop_names.add(c.lower())
        keep = [a for a in self._scope() if a.aid not in drop_ids and a.name().lower() not in drop_names]
        return self._with(P.Project(self._plan, keep))

    def limit(self, num):
        return self._with(P.Limit(self._plan, int(num)))

    def alias(self, alias):
        return self._with(P.SubqueryAlias(self._plan, alias))

    def distinct(self):
        from .grouping import aggregate
        return self._with(aggregate(self._plan, list(self._scope()), list(self._scope())))

    def dropDuplicates(self, subset=None):
        if subset is None:
            return self.distinct()
        from .grouping import aggregate
        keys = [self._resolve(c) for c in subset]
        kid = {k.aid for k in keys}
        exprs = []
        for a in self._scope():
            if a.aid in kid:
                exprs.append(a)
            else:
                exprs.append(E.Alias(E.analyze(AggCall("first", [a]), self._scope(), True), a.name()).coerce())
        return self._with(aggregate(self._plan, keys, exprs))

    drop_duplicates = dropDuplicates

    def orderBy(self, *cols, **kwargs):
        cols = _flatten(cols)
        ascending = kwargs.get("ascending", True)
        if isinstance(ascending, (bool, int)):
            ascending = [bool(ascending)] * len(cols)
        orders = []
        for c, asc in zip(cols, list(ascending) + [True] * (len(cols) - len(ascending))):
            e = self._resolve(c)
            if not isinstance(e, E.SortOrder):
                e = E.SortOrder(e, asc).coerce()
            elif not asc:
                e = E.SortOrder(e.children[0], not e.ascending, None).coerce()
            orders.append(e)
        return self._with(P.Sort(self._plan, orders))

    sort = orderBy

    def sortWithinPartitions(self, *cols, **kwargs):
        raise NotImplementedError("sortWithinPartitions is not supported by kiln yet; use orderBy")

    def groupBy(self, *cols):
        from .grouping import GroupedData
        return GroupedData(self, [self._resolve(c) for c in _flatten(cols)])

    groupby = groupBy

    def agg(self, *exprs):
        return self.groupBy().agg(*exprs)

    def join(self, other, on=None, how=None):
        from .joins import join
        return self._with(join(self, other, on, how))

    def crossJoin(self, other):
        return self.join(other, how="cross")

    def union(self, other):
        from .joins import union
        return self._with(union(self._plan, other._plan))

    unionAll = union

    def unionByName(self, other, allowMissingColumns=False):
        from .joins import union_by_name
        return self._with(union_by_name(self, other, allowMissingColumns))

    def intersect(self, other):
        from .joins import set_op
        return self._with(set_op(self, other, "left_semi"))

    def subtract(self, other):
        from .joins import set_op
        return self._with(set_op(self, other, "left_anti"))

    def repartition(self, numPartitions, *cols):
        if isinstance(numPartitions, (str, Column)):
            cols, numPartitions = (numPartitions,) + cols, None
        n = numPartitions or int(self.sparkSession.conf.get("spark.sql.shuffle.partitions", 0) or 0) or \
            self.sparkSession.sparkContext.defaultParallelism
        return self._with(P.Repartition(self._plan, int(n), [self._resolve(c) for c in cols]))

    def coalesce(self, numPartitions):
        """A shuffle into numPartitions in kiln (Spark merges partitions without one)."""
        return self._with(P.Repartition(self._plan, int(numPartitions)))

    def sample(self, withReplacement=None, fraction=None, seed=None):
        if isinstance(withReplacement, float) and fraction is None:
            withReplacement, fraction = False, withReplacement
        elif isinstance(withReplacement, float) and isinstance(fraction, int):
            withReplacement, fraction, seed = False, withReplacement, fraction
        if fraction is None or fraction < 0:
            raise ValueError("fraction must be given and >= 0")
        if seed is None:
            seed = int(np.random.randint(1 << 31))
        return self._with(P.Sample(self._plan, float(fraction), bool(withReplacement), int(seed)))

    # ---- caching and views ------------------------------------------------------

    def cache(self):
        """Keeps the computed batches (columnar) on the workers; later
        queries over this DataFrame read them."""
        if self._cached is None:
            from .physical import cache_batches
            comp = self._compiled()
            rdd = cache_batches(comp, self._scope()).cache()
            self._cached = self._plan
            self._plan = P.BatchScan(rdd, self._scope(), "cached")
        return self

    def persist(self, storageLevel=None):
        return self.cache()

    def unpersist(self, blocking=False):
        if self._cached is not None:
            self._plan.rdd.unpersist()
            self._plan, self._cached = self._cached, None
        return self

    @property
    def is_cached(self):
        return self._cached is not None

    def createOrReplaceTempView(self, name):
        self.sparkSession.catalog._views[name.lower()] = (name, self._plan)

    def createTempView(self, name):
        if name.lower() in self.sparkSession.catalog._views:
            raise AnalysisException("[TEMP_TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create the temporary view `%s` "
                                    "because it already exists." % name)
        self.createOrReplaceTempView(name)

    registerTempTable = createOrReplaceTempView

    # ---- running -------------------------------------------------------------------

    def _optimized(self):
        from .optimizer import optimize
        return optimize(self._plan)

    def _compiled(self, plan=None):
        from .physical import Compiler
        return Compiler(self.sparkSession).compile(plan if plan is not None else self._optimized())

    def _batches(self, limit=None):
        plan = self._optimized()
        from .physical import Compiler
        comp = Compiler(self.sparkSession)
        if limit is not None:
            c = comp.local_limit(P.Limit(plan, limit))
        elif isinstance(plan, P.Limit):
            c, limit = comp.local_limit(plan), plan.n
        else:
            c = comp.compile(plan)
        batches = c.rdd.collect()
        if limit is not None:
            out, left = [], limit
            for b in batches:
                if left <= 0:
                    break
                out.append(b.slice(0, left) if b.n > left else b)
                left -= min(b.n, left)
            batches = out
        return batches, plan.output()

    def collect(self):
        batches, attrs = self._batches()
        return rows_of(batches, attrs)

    def toLocalIterator(self, prefetchPartitions=False):
        return iter(self.collect())

    def take(self, num):
        batches, attrs = self._batches(max(0, int(num)))
        return rows_of(batches, attrs)

    def head(self, n=None):
        if n is None:
            rs = self.take(1)
            return rs[0] if rs else None
        return self.take(n)

    def first(self):
        return self.head()

    def tail(self, num):
        return self.collect()[-num:] if num else []

    def isEmpty(self):
        return len(self.take(1)) == 0

    def count(self):
        c = self._compiled()
        return sum(c.rdd.mapPartitionsWithIndex(_count_batches).collect())

    @property
    def rdd(self):
        c = self._compiled()
        attrs = self._optimized().output()
        return c.rdd.mapPartitionsWithIndex(_batches_to_rows([a.name() for a in attrs], [a.aid for a in attrs]))

    def foreach(self, f):
        self.rdd.foreach(f)

    def foreachPartition(self, f):
        self.rdd.foreachPartition(f)

    def toPandas(self):
        from .output import to_pandas
        batches, attrs = self._batches()
        return to_pandas(batches, attrs)

    def show(self, n=20, truncate=True, vertical=False):
        from .output import show_string
        batches, attrs = self._batches(n + 1)
        print(show_string(batches, attrs, n, truncate, vertical), end="")

    def explain(self, extended=None, mode=None):
        from .output import explain_string
        print(explain_string(self, extended, mode))

    @property
    def na(self):
        from .grouping import DataFrameNaFunctions
        return DataFrameNaFunctions(self)

    def fillna(self, value, subset=None):
        return self.na.fill(value, subset)

    def dropna(self, how="any", thresh=None, subset=None):
        return self.na.drop(how, thresh, subset)

    @property
    def write(self):
        from .readwriter import DataFrameWriter
        return DataFrameWriter(self)

    def describe(self, *cols):
        from .grouping import describe
        return describe(self, _flatten(cols))


def _star(e, scope):
    if e.qualifier is None:
        return list(scope)
    q = e.qualifier.lower()
    hits = [a for a in scope if (a.qualifier or "").lower() == q]
    if not hits:
        raise AnalysisException("[CANNOT_RESOLVE_STAR_EXPAND] Cannot resolve `%s`.* given input columns %s."
                                % (e.qualifier, ", ".join("`%s`" % a.name() for a in scope)))
    return hits
