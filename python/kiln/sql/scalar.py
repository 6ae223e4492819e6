"""Built-in scalar functions: one registry entry per name.

An entry is a Fn: `types(args)` checks and casts the resolved argument
expressions and returns (args, result type), and `run(vecs, n)` computes
the result Vec of a whole batch. Adding a function is adding one entry
(and its name in functions.py for the DataFrame API); the SQL front end
finds it here by name.
"""
import datetime
import decimal
import re

import numpy as np
import pandas as pd

from . import types as T
from .batch import Vec, from_list
from .errors import AnalysisException
from .expr import Expr, _fill, _or_masks, _rank, common_type, implicit_cast

FUNCTIONS = {}


class Fn:
    def __init__(self, name, types, run, nargs=None, null_in_null_out=True):
        self.name, self.types, self.run, self.nargs = name, types, run, nargs
        self.null_in_null_out = null_in_null_out


def register(name, types, run, nargs=None, null_in_null_out=True):
    FUNCTIONS[name] = Fn(name, types, run, nargs, null_in_null_out)


class Func(Expr):
    """A call of a built-in scalar function."""

    def __init__(self, fname, args):
        self.fname = fname.lower()
        self.children = tuple(args)

    def with_children(self, children):
        node = Func(self.fname, children)
        return node

    def coerce(self):
        fn = FUNCTIONS[self.fname]
        if fn.nargs is not None and len(self.children) not in fn.nargs:
            raise AnalysisException(
                "[WRONG_NUM_ARGS] The `%s` requires %s parameters but the actual number is %d."
                % (self.fname, " or ".join(str(n) for n in sorted(fn.nargs)), len(self.children)))
        args, t = fn.types(list(self.children), self)
        node = Func(self.fname, args)
        node.dtype = t
        node.nullable = True
        return node

    def eval(self, batch):
        fn = FUNCTIONS[self.fname]
        vecs = [c.eval(batch) for c in self.children]
        out = fn.run(vecs, batch.n, self)
        if fn.null_in_null_out and vecs:
            m = _or_masks(out, *vecs)
            return Vec(out.values, m)
        return out

    @property
    def deterministic(self):
        return self.fname != "current_date" and all(c.deterministic for c in self.children)

    def name(self):
        return "%s(%s)" % (self.fname, ", ".join(c.name() for c in self.children))


def _mismatch(node, i, want, got):
    return AnalysisException(
        "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve \"%s\" due to data type mismatch: parameter %d "
        "requires the \"%s\" type, however \"%s\" has the type \"%s\"."
        % (node.name(), i + 1, want, node.children[i].name(), got.simpleString().upper()))


def _numeric(args, node, i=0):
    t = args[i].dtype
    if isinstance(t, (T.StringType, T.NullType)):
        return implicit_cast(args[i], T.DoubleType())
    if _rank(t) is None:
        raise _mismatch(node, i, "NUMERIC", t)
    return args[i]


def _double_args(args, node):
    return [implicit_cast(_numeric(args, node, i), T.DoubleType()) for i in range(len(args))], T.DoubleType()


def _same_numeric(args, node):
    a = _numeric(args, node)
    return [a] + args[1:], a.dtype


def _string_args(args, node, first_only=False):
    out = []
    for i, a in enumerate(args):
        if first_only and i > 0:
            out.append(a)
            continue
        if isinstance(a.dtype, (T.ArrayType, T.StructType)):
            raise _mismatch(node, i, "STRING", a.dtype)
        out.append(implicit_cast(a, T.StringType()))
    return out


def _int_args(args, node, idx):
    out = list(args)
    for i in idx:
        if i < len(out):
            if _rank(out[i].dtype) is None and not isinstance(out[i].dtype, T.NullType):
                raise _mismatch(node, i, "INT", out[i].dtype)
            out[i] = implicit_cast(out[i], T.IntegerType())
    return out


def _const(node, i, default=None):
    """The value of a literal argument (functions whose pattern or scale
    must be constant, as Spark's)."""
    if i >= len(node.children):
        return default
    c = node.children[i]
    if not c.foldable:
        raise AnalysisException("%s: argument %d must be a constant in kiln (got %s)" % (node.fname, i + 1, c.name()))
    from .batch import Batch
    return c.eval(Batch({}, 1)).to_list()[0]


def _series(vec):
    return pd.Series(_fill(vec, ""), dtype=object)


def _str_result(series, n):
    values = np.empty(n, dtype=object)
    values[:] = series.to_numpy(dtype=object)
    return Vec(values)


# ---- math --------------------------------------------------------------------

def _ufunc(f, result=T.DoubleType(), domain=None):
    def run(vecs, n, node):
        x = vecs[0].values
        with np.errstate(all="ignore"):
            v = f(x)
        mask = None if domain is None else ~domain(x)
        return Vec(np.asarray(v, dtype=result.numpy), mask)
    return run


def _abs_run(vecs, n, node):
    with np.errstate(all="ignore"):
        return Vec(np.abs(vecs[0].values))


def _floor_types(args, node):
    a = _numeric(args, node)
    return [a], T.LongType()


def _floor_ceil(f):
    def run(vecs, n, node):
        x = vecs[0].values
        if x.dtype.kind == "f":
            from .cast import _float_to_int
            with np.errstate(all="ignore"):
                return Vec(_float_to_int(f(x.astype(np.float64)), 64))
        return Vec(x.astype(np.int64))
    return run


def _round_types(args, node):
    a = _numeric(args, node)
    return _int_args([a] + args[1:], node, [1]), a.dtype


def _round_half_up(x, d):
    """Spark's round: HALF_UP on the value's decimal (shortest) form."""
    scale = 10.0 ** d
    with np.errstate(all="ignore"):
        s = x * scale
        r = np.sign(s) * np.floor(np.abs(s) + 0.5) / scale
        frac = np.abs(s) - np.floor(np.abs(s))
    near = np.flatnonzero(np.isfinite(s) & (np.abs(frac - 0.5) < 1e-6))
    for i in near.tolist():  # the few values near a half: decide on their decimal digits
        q = decimal.Decimal(repr(float(x[i]))).quantize(decimal.Decimal(1).scaleb(-d), rounding=decimal.ROUND_HALF_UP)
        r[i] = float(q)
    bad = ~np.isfinite(s)
    if bad.any():
        r[bad] = x[bad]
    return r


def _round_run(vecs, n, node):
    d = _const(node, 1, 0)
    x = vecs[0].values
    if d is None:
        return Vec(x, np.ones(n, dtype=bool))
    if x.dtype.kind == "f":
        return Vec(_round_half_up(x.astype(np.float64), d).astype(x.dtype))
    if d >= 0:
        return Vec(x)
    p = 10 ** (-d)
    with np.errstate(all="ignore"):
        q = (np.abs(x.astype(np.int64)) + p // 2) // p * p * np.sign(x)
    return Vec(q.astype(x.dtype))


def _log_types(args, node):
    return _double_args(args, node)


def _log_run(vecs, n, node):
    if len(vecs) == 1:
        x = vecs[0].values
        with np.errstate(all="ignore"):
            return Vec(np.log(np.where(x > 0, x, 1.0)), ~(x > 0))
    b, x = vecs[0].values, vecs[1].values
    ok = (x > 0) & (b > 0)
    with np.errstate(all="ignore"):
        return Vec(np.log(np.where(ok, x, 1.0)) / np.log(np.where(ok, b, 2.0)), ~ok)


def _pow_run(vecs, n, node):
    with np.errstate(all="ignore"):
        return Vec(np.power(vecs[0].values, vecs[1].values))


register("abs", _same_numeric, _abs_run, {1})
register("sqrt", _double_args, _ufunc(np.sqrt), {1})
register("exp", _double_args, _ufunc(np.exp), {1})
register("log", _log_types, _log_run, {1, 2})
register("ln", _log_types, _log_run, {1})
register("log10", _double_args, _ufunc(lambda x: np.log10(np.where(x > 0, x, 1.0)), domain=lambda x: x > 0), {1})
register("log2", _double_args, _ufunc(lambda x: np.log2(np.where(x > 0, x, 1.0)), domain=lambda x: x > 0), {1})
register("pow", _double_args, _pow_run, {2})
register("power", _double_args, _pow_run, {2})
register("floor", _floor_types, _floor_ceil(np.floor), {1})
register("ceil", _floor_types, _floor_ceil(np.ceil), {1})
register("ceiling", _floor_types, _floor_ceil(np.ceil), {1})
register("round", _round_types, _round_run, {1, 2})


# ---- null handling -----------------------------------------------------------

def _coalesce_types(args, node):
    t = T.NullType()
    for a in args:
        t = common_type(t, a.dtype, node.name())
    return [implicit_cast(a, t) for a in args], t


def _coalesce_run(vecs, n, node):
    values, mask = vecs[-1].values.copy(), vecs[-1].nulls().copy()
    for v in reversed(vecs[:-1]):
        have = ~v.nulls()
        values[have] = v.values[have]
        mask[have] = False
    return Vec(values, mask)


register("coalesce", _coalesce_types, _coalesce_run, null_in_null_out=False)
register("nvl", _coalesce_types, _coalesce_run, {2}, null_in_null_out=False)
register("ifnull", _coalesce_types, _coalesce_run, {2}, null_in_null_out=False)


def _isnan_types(args, node):
    return [implicit_cast(_numeric(args, node), T.DoubleType())], T.BooleanType()


def _isnan_run(vecs, n, node):
    return Vec(np.isnan(vecs[0].values) & ~vecs[0].nulls())


register("isnan", _isnan_types, _isnan_run, {1}, null_in_null_out=False)


# ---- strings -------------------------------------------------------------------

def _str_fn(f, result=T.StringType()):
    def types(args, node):
        return _string_args(args, node, first_only=True), result

    def run(vecs, n, node):
        r = f(_series(vecs[0]), node)
        if isinstance(result, T.StringType):
            return _str_result(r, n)
        return Vec(r.to_numpy(dtype=result.numpy))
    return types, run


for _name, _f, _t in [
        ("upper", lambda s, node: s.str.upper(), T.StringType()),
        ("ucase", lambda s, node: s.str.upper(), T.StringType()),
        ("lower", lambda s, node: s.str.lower(), T.StringType()),
        ("lcase", lambda s, node: s.str.lower(), T.StringType()),
        ("trim", lambda s, node: s.str.strip(" "), T.StringType()),
        ("ltrim", lambda s, node: s.str.lstrip(" "), T.StringType()),
        ("rtrim", lambda s, node: s.str.rstrip(" "), T.StringType()),
        ("reverse", lambda s, node: s.str[::-1], T.StringType()),
        ("length", lambda s, node: s.str.len(), T.IntegerType()),
        ("char_length", lambda s, node: s.str.len(), T.IntegerType())]:
    register(_name, *_str_fn(_f, _t), nargs={1})


def _substring_types(args, node):
    args = _string_args(args[:1], node) + args[1:]
    return _int_args(args, node, [1, 2]), T.StringType()


def _substring_run(vecs, n, node):
    pos = _const(node, 1)
    length = _const(node, 2, 1 << 31 - 1)
    s = _series(vecs[0])
    if pos is None or length is None:
        return Vec(np.full(n, None, dtype=object), np.ones(n, dtype=bool))
    if length <= 0:
        return _str_result(pd.Series([""] * n, dtype=object), n)
    if pos > 0:
        r = s.str.slice(pos - 1, pos - 1 + length)
    elif pos == 0:
        r = s.str.slice(0, length)
    else:
        r = s.str.slice(pos, pos + length if pos + length < 0 else None)
    return _str_result(r, n)


register("substring", _substring_types, _substring_run, {2, 3})
register("substr", _substring_types, _substring_run, {2, 3})


def _concat_types(args, node):
    return _string_args(args, node), T.StringType()


def _concat_run(vecs, n, node):
    if not vecs:
        return _str_result(pd.Series([""] * n, dtype=object), n)
    acc = _series(vecs[0])
    for v in vecs[1:]:
        acc = acc + _series(v)
    return _str_result(acc, n)


register("concat", _concat_types, _concat_run)


def _concat_ws_run(vecs, n, node):
    sep = _const(node, 0)
    parts = [pd.Series(v.values, dtype=object).where(~pd.Series(v.nulls()), None) for v in vecs[1:]]
    frame = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=range(n))
    joined = frame.apply(lambda r: sep.join(x for x in r if x is not None), axis=1) if parts else \
        pd.Series([""] * n, dtype=object)
    return _str_result(joined, n)


register("concat_ws", _concat_types, _concat_ws_run, null_in_null_out=False)


def java_regex(p):
    """A Java regex as Python's (the common subset is the same; possessive
    and other Java-only forms are refused)."""
    if re.search(r"(\*|\+|\?|\})\+", p) or "\\p{" in p:
        raise AnalysisException("regular expression %r uses Java-only syntax kiln does not translate" % p)
    return p


def _split_types(args, node):
    args = _string_args(args[:2], node) + args[2:]
    return _int_args(args, node, [2]), T.ArrayType(T.StringType(), True)


def _split_run(vecs, n, node):
    rx = re.compile(java_regex(_const(node, 1)))
    limit = _const(node, 2, -1)
    out = np.empty(n, dtype=object)
    s = _fill(vecs[0], "")
    maxsplit = limit - 1 if limit and limit > 0 else 0
    out[:] = [rx.split(x, maxsplit) if x else [""] for x in s.tolist()]
    return Vec(out)


register("split", _split_types, _split_run, {2, 3})


def _replace_types(args, node):
    return _string_args(args, node), T.StringType()


def _regexp_replace_run(vecs, n, node):
    pat = java_regex(_const(node, 1))
    rep = re.sub(r"\$(\d+)", r"\\g<\1>", _const(node, 2).replace("\\", "\\\\"))
    return _str_result(_series(vecs[0]).str.replace(pat, rep, regex=True), n)


register("regexp_replace", _replace_types, _regexp_replace_run, {3})


# ---- dates -----------------------------------------------------------------------

def _current_date_run(vecs, n, node):
    out = np.empty(n, dtype=object)
    out[:] = datetime.date.today()
    return Vec(out)


register("current_date", lambda args, node: (args, T.DateType()), _current_date_run, {0})

_JAVA_FMT = [("yyyy", "%Y"), ("yy", "%y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"),
             ("ss", "%S"), ("M", "%m"), ("d", "%d")]


def java_date_format(fmt):
    out, i = [], 0
    while i < len(fmt):
        for j, p in _JAVA_FMT:
            if fmt.startswith(j, i):
                out.append(p)
                i += len(j)
                break
        else:
            ch = fmt[i]
            if ch.isalpha():
                raise AnalysisException("date pattern letter %r in %r is not supported by kiln" % (ch, fmt))
            out.append(ch.replace("%", "%%"))
            i += 1
    return "".join(out)


def _to_date_types(args, node):
    a = args[0]
    if isinstance(a.dtype, (T.DateType,)):
        return args, T.DateType()
    if not isinstance(a.dtype, (T.StringType, T.TimestampType, T.NullType)):
        raise _mismatch(node, 0, "STRING", a.dtype)
    return _string_args(args, node, first_only=not isinstance(a.dtype, T.NullType)) if not isinstance(
        a.dtype, T.TimestampType) else args, T.DateType()


def _to_date_run(vecs, n, node):
    from .cast import cast as do_cast
    src = node.children[0].dtype
    if len(vecs) == 1 or isinstance(src, (T.DateType, T.TimestampType)):
        return do_cast(vecs[0], src, T.DateType())
    fmt = java_date_format(_const(node, 1))
    out = []
    for s in vecs[0].to_list():
        try:
            out.append(None if s is None else datetime.datetime.strptime(s, fmt).date())
        except ValueError:
            out.append(None)
    return from_list(out, np.dtype(object))


register("to_date", _to_date_types, _to_date_run, {1, 2})


def _part(attr):
    def types(args, node):
        a = args[0]
        if isinstance(a.dtype, T.StringType):
            a = implicit_cast(a, T.DateType())
        elif not isinstance(a.dtype, (T.DateType, T.TimestampType, T.NullType)):
            raise _mismatch(node, 0, "DATE", a.dtype)
        return [a], T.IntegerType()

    def run(vecs, n, node):
        vals = _fill(vecs[0], datetime.date(1970, 1, 1))
        return Vec(np.fromiter((getattr(d, attr) for d in vals.tolist()), dtype=np.int32, count=n))
    return types, run


for _name, _attr in [("year", "year"), ("month", "month"), ("dayofmonth", "day"), ("day", "day")]:
    register(_name, *_part(_attr), nargs={1})


def _greatest_least(pick):
    def types(args, node):
        if len(args) < 2:
            raise AnalysisException("[WRONG_NUM_ARGS] The `%s` requires > 1 parameters" % node.fname)
        return _coalesce_types(args, node)

    def run(vecs, n, node):
        values = None
        mask = np.ones(n, dtype=bool)
        for v in vecs:
            have = ~v.nulls()
            if values is None:
                values = v.values.copy()
            better = have & (mask | pick(np.where(have, v.values, values), values))
            values = np.where(better, v.values, values)
            mask = mask & ~have
        return Vec(values, mask)
    return types, run


register("greatest", *_greatest_least(np.greater), null_in_null_out=False)
register("least", *_greatest_least(np.less), null_in_null_out=False)
