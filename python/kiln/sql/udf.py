"""Python UDFs: a row UDF calls the user's function once per row of a
batch; a pandas UDF once per batch, with a pandas Series per argument.

The function travels inside the stage function (cloudpickle, the user's
modules shipped as for RDD functions). Its results become a column of the
declared type with PySpark's rules: a row UDF's value that is not of the
type (an int for DoubleType, a str for IntegerType) is NULL, and for
StringType any value is written as Spark writes it (str(1.5) is '1.5',
True is 'true'); a pandas UDF's NaN and None are NULL.
"""
import datetime
import functools
import traceback

import numpy as np

from . import types as T
from .batch import Vec, from_list
from .cast import value_str
from .errors import PythonException
from .expr import Expr

SQL_BATCHED_UDF = 100
SQL_SCALAR_PANDAS_UDF = 200


def _return_type(t):
    if t is None:
        return T.StringType()
    if isinstance(t, str):
        return T._parse_datatype_string(t)
    if isinstance(t, T.DataType):
        return t
    raise TypeError("Invalid return type: returnType should be DataType or str but is %r" % (t,))


def _convert(v, t):
    """One UDF result as a value of type t (None where PySpark gives NULL)."""
    if v is None:
        return None
    if isinstance(t, T.StringType):
        if isinstance(v, str):
            return v
        if isinstance(v, (bool, int, float, np.generic, datetime.date, list, tuple)):
            return value_str(v.item() if isinstance(v, np.generic) else v, None)
        raise TypeError("a UDF of StringType returned %s, which kiln cannot write as Spark would"
                        % type(v).__name__)
    if isinstance(t, T.BooleanType):
        return bool(v) if isinstance(v, (bool, np.bool_)) else None
    if isinstance(t, T.IntegralType):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            return None
        bits = t.bits
        v = int(v) & ((1 << bits) - 1)
        return v - (1 << bits) if v >= 1 << (bits - 1) else v
    if isinstance(t, T.FractionalType):
        if isinstance(v, (float, np.floating)):
            return float(v)
        return None
    if isinstance(t, T.DateType):
        return v if isinstance(v, datetime.date) and not isinstance(v, datetime.datetime) else None
    if isinstance(t, T.TimestampType):
        return v if isinstance(v, datetime.datetime) else None
    if isinstance(t, T.ArrayType):
        if not isinstance(v, (list, tuple, np.ndarray)):
            return None
        return [_convert(x, t.elementType) for x in v]
    return v


def _fast_vec(out, t):
    """The Vec of a row UDF's results when every result is already what
    _convert would keep (all float for a fractional type, all int within
    int64 for an integral one: wrapped to its width as _convert does),
    built in one numpy call; else None."""
    if not out:
        return None
    kinds = set(map(type, out))
    if isinstance(t, T.FractionalType) and kinds == {float}:
        with np.errstate(over="ignore"):  # a double past FloatType's range is infinity, as Java's cast
            return Vec(np.array(out, dtype=t.numpy))
    if isinstance(t, T.IntegralType) and kinds == {int}:
        try:
            wide = np.array(out, dtype=np.int64)
        except OverflowError:
            return None
        return Vec(wide.astype(t.numpy))
    return None


def _where(f):
    code = getattr(f, "__code__", None)
    if code is None:
        return ""
    return " (%s:%d)" % (code.co_filename.rsplit("/", 1)[-1], code.co_firstlineno)


def _failed(name, f):
    tb = traceback.format_exc()
    return PythonException("An exception was thrown from the Python UDF %s%s:\n%s" % (name, _where(f), tb))


class UDFCall(Expr):
    def __init__(self, udf, args):
        self.udf = udf
        self.children = tuple(args)

    def with_children(self, children):
        return UDFCall(self.udf, children)

    def coerce(self):
        node = UDFCall(self.udf, self.children)
        node.dtype, node.nullable = self.udf.returnType, True
        return node

    @property
    def deterministic(self):
        return self.udf.deterministic and all(c.deterministic for c in self.children)

    @property
    def foldable(self):
        return False

    def eval(self, batch):
        u = self.udf
        f = u.func
        t = u.returnType
        args = [c.eval(batch) for c in self.children]
        if u.evalType == SQL_SCALAR_PANDAS_UDF:
            return self._eval_pandas(f, args, batch.n, t)
        cols = [a.to_list() for a in args]
        try:
            if not cols:
                out = [f() for _ in range(batch.n)]
            elif len(cols) == 1:
                out = list(map(f, cols[0]))
            else:
                out = list(map(f, *cols))
        except Exception:
            raise _failed(u._name, f) from None
        fast = _fast_vec(out, t)
        if fast is not None:
            return fast
        if not isinstance(t, T.StringType) or any(not isinstance(x, str) and x is not None for x in out):
            out = [_convert(x, t) for x in out]
        return from_list(out, t.numpy)

    def _eval_pandas(self, f, args, n, t):
        import pandas as pd
        series = [pd.Series(a.to_list() if a.values.dtype == object or a.mask is not None else a.values)
                  for a in args]
        try:
            out = f(*series)
        except Exception:
            raise _failed(self.udf._name, f) from None
        if not isinstance(out, pd.Series):
            raise PythonException("pandas UDF %s returned %s; a scalar pandas UDF must return a pandas.Series"
                                  % (self.udf._name, type(out).__name__))
        if len(out) != n:
            raise PythonException("Result vector from pandas_udf %s was not the required length: expected %d, "
                                  "got %d." % (self.udf._name, n, len(out)))
        mask = out.isna().to_numpy()
        if t.numpy != np.dtype(object):
            vals = out.to_numpy()
            if vals.dtype == object or vals.dtype.kind != t.numpy.kind and not (
                    vals.dtype.kind in "iu" and t.numpy.kind in "iuf"):
                if isinstance(t, T.IntegralType) and vals.dtype.kind == "f":
                    bad = ~mask & (vals != np.trunc(np.nan_to_num(vals)))
                    if bad.any():
                        raise PythonException("pandas UDF %s: value %r cannot be %s without losing it"
                                              % (self.udf._name, vals[bad][0], t))
                else:
                    vals = np.array([_convert(x, t) if not m else None for x, m in zip(vals.tolist(), mask)],
                                    dtype=object)
                    mask = mask | np.array([x is None for x in vals.tolist()], dtype=bool)
            vals = np.where(mask, 0, vals).astype(t.numpy)
            return Vec(vals, mask)
        vals = np.empty(n, dtype=object)
        vals[:] = [None if m else (x if isinstance(t, (T.StringType,)) and isinstance(x, str)
                                   else _convert(x, t)) for x, m in zip(out.tolist(), mask)]
        return Vec(vals, mask | np.array([x is None for x in vals.tolist()], dtype=bool))

    def name(self):
        return "%s(%s)" % (self.udf._name, ", ".join(c.name() for c in self.children))


class UserDefinedFunction:
    """What udf() and spark.udf.register return: called with columns, it
    makes a column."""

    def __init__(self, func, returnType=None, name=None, evalType=SQL_BATCHED_UDF, deterministic=True):
        if not callable(func):
            raise TypeError("Invalid function: not a function or callable (__call__ is not defined): %s"
                            % type(func))
        self.func = func
        self.returnType = _return_type(returnType)
        self._name = name or getattr(func, "__name__", None) or type(func).__name__
        self.evalType = evalType
        self.deterministic = deterministic
        functools.update_wrapper(self, func, updated=())

    def __call__(self, *cols):
        from .column import Column, _col_or_name
        return Column(UDFCall(self, [_col_or_name(c) for c in cols]))

    def asNondeterministic(self):
        self.deterministic = False
        return self

    def __reduce__(self):
        return (_rebuild, (self.func, self.returnType, self._name, self.evalType, self.deterministic))


def _rebuild(func, returnType, name, evalType, deterministic):
    return UserDefinedFunction(func, returnType, name, evalType, deterministic)


def udf(f=None, returnType=None):
    """functions.udf(f, returnType=StringType()), and its decorator forms
    @udf, @udf(returnType) and @udf(returnType=...)."""
    if f is None or isinstance(f, (str, T.DataType)):
        rt = f if f is not None else returnType

        def deco(g):
            return UserDefinedFunction(g, rt)
        return deco
    return UserDefinedFunction(f, returnType)


def pandas_udf(f=None, returnType=None, functionType=None):
    """A scalar pandas UDF (Series -> Series): pandas_udf(f, returnType),
    @pandas_udf(returnType), @pandas_udf(returnType=...)."""
    if functionType not in (None, SQL_SCALAR_PANDAS_UDF):
        raise NotImplementedError("kiln supports scalar pandas UDFs (Series -> Series) only; functionType %r is "
                                  "not supported" % (functionType,))
    if f is None or isinstance(f, (str, T.DataType)):
        rt = f if f is not None else returnType
        if rt is None:
            raise ValueError("Invalid return type: returnType can not be None")

        def deco(g):
            return UserDefinedFunction(g, rt, evalType=SQL_SCALAR_PANDAS_UDF)
        return deco
    if returnType is None:
        raise ValueError("Invalid return type: returnType can not be None")
    return UserDefinedFunction(f, returnType, evalType=SQL_SCALAR_PANDAS_UDF)


class UDFRegistration:
    """spark.udf: register(name, f, returnType=StringType()) makes f
    callable from SQL by name and returns it as a DataFrame function."""

    def __init__(self, session):
        self._session = session

    def register(self, name, f, returnType=None):
        if isinstance(f, UserDefinedFunction):
            if returnType is not None:
                raise TypeError("Invalid return type: data type can not be specified when f is a user-defined "
                                "function, but got %s." % returnType)
            u = UserDefinedFunction(f.func, f.returnType, name, f.evalType, f.deterministic)
        else:
            u = UserDefinedFunction(f, returnType, name)
        self._session._udfs[name.lower()] = u
        return u
