"""Column: PySpark's column expression, a thin wrapper of an unresolved
expression tree (expr.py). Operators build new trees; nothing is
resolved or evaluated until a DataFrame uses the column."""
from . import expr as E
from .types import DataType, _parse_datatype_string


def _expr(x):
    """A Column, or a Python value as a literal, as an expression."""
    if isinstance(x, Column):
        return x._e
    return E.Lit(x)


def _col_or_name(x):
    if isinstance(x, Column):
        return x._e
    if isinstance(x, str):
        return parse_name(x)
    raise TypeError("expected a Column or a column name, got %s" % type(x).__name__)


def parse_name(name):
    """'a', 't.a', '*', 't.*' or `a.b` (backquoted: one name) as an expression."""
    if name == "*":
        return E.Star()
    if name.startswith("`") and name.endswith("`"):
        return E.Col(name[1:-1])
    if "." in name:
        q, n = name.rsplit(".", 1)
        if n == "*":
            return E.Star(q.strip("`"))
        return E.Col(n.strip("`"), q.strip("`"))
    return E.Col(name)


def _binary(op, cls=E.Arith, reverse=False):
    def f(self, other):
        a, b = self._e, _expr(other)
        if reverse:
            a, b = b, a
        return Column(cls(op, a, b))
    return f


class Column:
    def __init__(self, e):
        self._e = e

    # arithmetic
    __add__ = _binary("+")
    __sub__ = _binary("-")
    __mul__ = _binary("*")
    __truediv__ = _binary("/")
    __div__ = __truediv__
    __mod__ = _binary("%")
    __radd__ = _binary("+", reverse=True)
    __rsub__ = _binary("-", reverse=True)
    __rmul__ = _binary("*", reverse=True)
    __rtruediv__ = _binary("/", reverse=True)
    __rmod__ = _binary("%", reverse=True)

    def __pow__(self, other):
        from .scalar import Func
        return Column(Func("pow", [self._e, _expr(other)]))

    def __rpow__(self, other):
        from .scalar import Func
        return Column(Func("pow", [_expr(other), self._e]))

    def __neg__(self):
        return Column(E.Neg(self._e))

    # comparisons
    __eq__ = _binary("=", E.Cmp)
    __ne__ = _binary("!=", E.Cmp)
    __lt__ = _binary("<", E.Cmp)
    __le__ = _binary("<=", E.Cmp)
    __gt__ = _binary(">", E.Cmp)
    __ge__ = _binary(">=", E.Cmp)

    def eqNullSafe(self, other):
        return Column(E.Cmp("<=>", self._e, _expr(other)))

    # logic
    __and__ = _binary("AND", E.Logic)
    __or__ = _binary("OR", E.Logic)
    __rand__ = _binary("AND", E.Logic, reverse=True)
    __ror__ = _binary("OR", E.Logic, reverse=True)

    def __invert__(self):
        return Column(E.Not(self._e))

    def __bool__(self):
        raise ValueError("Cannot convert column into bool: please use '&' for 'and', '|' for 'or', '~' for 'not' "
                         "when building DataFrame boolean expressions.")

    __nonzero__ = __bool__

    def __hash__(self):
        return id(self)

    def __contains__(self, item):
        raise ValueError("Cannot apply 'in' operator against a column: please use 'contains' in a string column "
                         "or 'array_contains' function for an array column.")

    def __iter__(self):
        raise TypeError("Column is not iterable")

    # predicates
    def isNull(self):
        return Column(E.IsNull(self._e))

    def isNotNull(self):
        return Column(E.IsNull(self._e, negated=True))

    def isin(self, *cols):
        if len(cols) == 1 and isinstance(cols[0], (list, set, tuple)):
            cols = tuple(cols[0])
        return Column(E.In(self._e, [_expr(c) for c in cols]))

    def between(self, lowerBound, upperBound):
        return (self >= lowerBound) & (self <= upperBound)

    def like(self, other):
        return Column(E.StrMatch("LIKE", self._e, _expr(other)))

    def rlike(self, other):
        return Column(E.StrMatch("RLIKE", self._e, _expr(other)))

    def startswith(self, other):
        return Column(E.StrMatch("startswith", self._e, _expr(other)))

    def endswith(self, other):
        return Column(E.StrMatch("endswith", self._e, _expr(other)))

    def contains(self, other):
        return Column(E.StrMatch("contains", self._e, _expr(other)))

    def substr(self, startPos, length):
        from .scalar import Func
        return Column(Func("substring", [self._e, _expr(startPos), _expr(length)]))

    # naming and types
    def alias(self, *alias, **kwargs):
        if len(alias) != 1:
            raise ValueError("kiln supports one alias per column (got %d)" % len(alias))
        return Column(E.Alias(self._e, alias[0]))

    name = alias

    def cast(self, dataType):
        if isinstance(dataType, str):
            dataType = _parse_datatype_string(dataType)
        if not isinstance(dataType, DataType):
            raise TypeError("unexpected type: %s" % type(dataType))
        return Column(E.Cast(self._e, dataType))

    astype = cast

    # ordering
    def asc(self):
        return Column(E.SortOrder(self._e, True))

    def desc(self):
        return Column(E.SortOrder(self._e, False))

    def asc_nulls_first(self):
        return Column(E.SortOrder(self._e, True, True))

    def asc_nulls_last(self):
        return Column(E.SortOrder(self._e, True, False))

    def desc_nulls_first(self):
        return Column(E.SortOrder(self._e, False, True))

    def desc_nulls_last(self):
        return Column(E.SortOrder(self._e, False, False))

    # CASE WHEN built by functions.when
    def when(self, condition, value):
        e = self._e
        if not isinstance(e, E.CaseWhen) or e.otherwise is not None:
            raise TypeError("when() can only be applied on a Column previously generated by when() function")
        return Column(E.CaseWhen(e.branches + [(_expr(condition), _expr(value))]))

    def otherwise(self, value):
        e = self._e
        if not isinstance(e, E.CaseWhen) or e.otherwise is not None:
            raise TypeError("otherwise() can only be applied on a Column previously generated by when()")
        return Column(E.CaseWhen(e.branches, _expr(value)))

    def over(self, window):
        from .window import over
        return over(self, window)

    def __repr__(self):
        return "Column<'%s'>" % self._e.name()
