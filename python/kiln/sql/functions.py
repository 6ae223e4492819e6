"""kiln.sql.functions: PySpark's column functions. Each builds an
expression (scalar functions are looked up in scalar.FUNCTIONS by name,
aggregates are aggregate.AggCall), so the DataFrame API and SQL share one
implementation."""
import builtins

from . import expr as E
from .aggregate import AggCall
from .column import Column, _col_or_name, _expr, parse_name
from .scalar import Func
from .udf import pandas_udf, udf  # noqa: F401  (part of the module's API)


def col(name):
    return Column(parse_name(name))


column = col


def lit(value):
    if isinstance(value, Column):
        return value
    if isinstance(value, (list, tuple)):
        raise TypeError("kiln does not support array literals in lit(); got %r" % (value,))
    return Column(E.Lit(value))


def expr(text):
    from .sqlparse import parse_expression
    return Column(parse_expression(text))


def _fn(name, *cols):
    return Column(Func(name, [_col_or_name(c) for c in cols]))


def _fn_lits(name, c, *values):
    return Column(Func(name, [_col_or_name(c)] + [_expr(v) for v in values]))


def _agg(name, c, distinct=False):
    if isinstance(c, str) and c == "*":
        return Column(AggCall("count", [E.Lit(1)], star=True))
    return Column(AggCall(name, [_col_or_name(c)], distinct))


def when(condition, value):
    return Column(E.CaseWhen([(_expr(condition), _expr(value))]))


def coalesce(*cols):
    return _fn("coalesce", *cols)


def isnull(c):
    return Column(E.IsNull(_col_or_name(c)))


def isnan(c):
    return _fn("isnan", c)


def broadcast(df):
    """Marks df to be broadcast to every task of a join (as Spark's hint)."""
    from .plan import BroadcastHint
    return df._with(BroadcastHint(df._plan))


def asc(c):
    return col(c).asc() if isinstance(c, str) else c.asc()


def desc(c):
    return col(c).desc() if isinstance(c, str) else c.desc()


# ---- aggregates --------------------------------------------------------------

def count(c):
    return _agg("count", c)


def sum(c):
    return _agg("sum", c)


def sum_distinct(c):
    return _agg("sum", c, True)


sumDistinct = sum_distinct


def avg(c):
    return _agg("avg", c)


def mean(c):
    return _agg("mean", c)


def min(c):
    return _agg("min", c)


def max(c):
    return _agg("max", c)


def first(c, ignorenulls=False):
    return Column(AggCall("first", [_col_or_name(c)], ignorenulls=ignorenulls))


def last(c, ignorenulls=False):
    return Column(AggCall("last", [_col_or_name(c)], ignorenulls=ignorenulls))


def stddev(c):
    return _agg("stddev", c)


def stddev_samp(c):
    return _agg("stddev_samp", c)


def stddev_pop(c):
    return _agg("stddev_pop", c)


def variance(c):
    return _agg("variance", c)


def var_samp(c):
    return _agg("var_samp", c)


def var_pop(c):
    return _agg("var_pop", c)


def collect_list(c):
    return _agg("collect_list", c)


def collect_set(c):
    return _agg("collect_set", c)


def count_distinct(c, *cols):
    return Column(AggCall("count", [_col_or_name(x) for x in (c,) + cols], distinct=True))


countDistinct = count_distinct


# ---- scalar functions ----------------------------------------------------------

def abs(c):
    return _fn("abs", c)


def sqrt(c):
    return _fn("sqrt", c)


def exp(c):
    return _fn("exp", c)


def log(arg1, arg2=None):
    """log(col) is the natural logarithm; log(base, col) as PySpark."""
    if arg2 is None:
        return _fn("log", arg1)
    return Column(Func("log", [_expr(float(arg1)), _col_or_name(arg2)]))


def log10(c):
    return _fn("log10", c)


def log2(c):
    return _fn("log2", c)


def pow(c1, c2):
    a = _col_or_name(c1) if isinstance(c1, (str, Column)) else E.Lit(c1)
    b = _col_or_name(c2) if isinstance(c2, (str, Column)) else E.Lit(c2)
    return Column(Func("pow", [a, b]))


def round(c, scale=0):
    return _fn_lits("round", c, scale)


def floor(c):
    return _fn("floor", c)


def ceil(c):
    return _fn("ceil", c)


def upper(c):
    return _fn("upper", c)


def lower(c):
    return _fn("lower", c)


def length(c):
    return _fn("length", c)


def trim(c):
    return _fn("trim", c)


def ltrim(c):
    return _fn("ltrim", c)


def rtrim(c):
    return _fn("rtrim", c)


def reverse(c):
    return _fn("reverse", c)


def substring(c, pos, len):
    return _fn_lits("substring", c, pos, len)


def concat(*cols):
    return _fn("concat", *cols)


def concat_ws(sep, *cols):
    return Column(Func("concat_ws", [E.Lit(sep)] + [_col_or_name(c) for c in cols]))


def split(c, pattern, limit=-1):
    return _fn_lits("split", c, pattern, limit)


def regexp_replace(c, pattern, replacement):
    return _fn_lits("regexp_replace", c, pattern, replacement)


def current_date():
    return Column(Func("current_date", []))


def to_date(c, format=None):
    if format is None:
        return _fn("to_date", c)
    return _fn_lits("to_date", c, format)


def year(c):
    return _fn("year", c)


def month(c):
    return _fn("month", c)


def dayofmonth(c):
    return _fn("dayofmonth", c)


def greatest(*cols):
    return _fn("greatest", *cols)


def least(*cols):
    return _fn("least", *cols)


# ---- window functions -------------------------------------------------------------

def row_number():
    from .window import RankFn
    return Column(RankFn("row_number"))


def rank():
    from .window import RankFn
    return Column(RankFn("rank"))


def dense_rank():
    from .window import RankFn
    return Column(RankFn("dense_rank"))


def percent_rank():
    from .window import RankFn
    return Column(RankFn("percent_rank"))


def lag(c, offset=1, default=None):
    from .window import RankFn
    args = [_col_or_name(c)] + ([E.Lit(default)] if default is not None else [])
    return Column(RankFn("lag", args, int(offset)))


def lead(c, offset=1, default=None):
    from .window import RankFn
    args = [_col_or_name(c)] + ([E.Lit(default)] if default is not None else [])
    return Column(RankFn("lead", args, int(offset)))


_ = builtins  # the builtins this module shadows (sum, min, max, abs, round, pow) stay reachable
