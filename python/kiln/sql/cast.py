"""CAST between types, vectorized, with Spark's (non-ANSI) rules: a value
that does not convert becomes NULL; integral narrowing wraps as Java's
does; a fractional value cast to an integral type truncates toward zero
and saturates; NaN becomes 0. A number cast to a string is written as
Java writes it (1.0E10, 1.0E-4, Infinity), as Spark shows it.
"""
import datetime

import numpy as np

from . import types as T
from .batch import Vec, from_list
from .errors import AnalysisException


def java_double_str(x, single=False):
    """Java's Double.toString (Float.toString when single) of a float."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if np.signbit(x) else "0.0"
    v = np.float32(x) if single else float(x)
    sci = np.format_float_scientific(v, unique=True, trim="-", exp_digits=1)
    mant, exp = sci.split("e")
    exp = int(exp)
    neg = mant.startswith("-")
    digits = mant.lstrip("-").replace(".", "")
    ax = abs(float(v))
    if 1e-3 <= ax < 1e7:
        point = exp + 1
        if point <= 0:
            s = "0." + "0" * (-point) + digits
        elif point >= len(digits):
            s = digits + "0" * (point - len(digits)) + ".0"
        else:
            s = digits[:point] + "." + digits[point:]
    else:
        s = digits[0] + "." + (digits[1:] or "0") + "E" + str(exp)
    return "-" + s if neg else s


def value_str(v, t):
    """One Python value as Spark's CAST(... AS STRING) writes it."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return java_double_str(v, isinstance(t, T.FloatType))
    if isinstance(v, datetime.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        et = t.elementType if isinstance(t, T.ArrayType) else None
        return "[" + ", ".join("null" if x is None else value_str(x, et) for x in v) + "]"
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def _wrap_int(values, bits):
    return values.astype(np.int64).astype({8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}[bits])


def _float_to_int(values, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    f = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=hi, neginf=lo)
    if bits == 64:  # int64's bounds are not exact doubles: clip below them first
        out = np.where(f >= 9.2233720368547758e18, hi, np.where(f <= -9.2233720368547758e18, lo, 0))
        inside = (f < 9.2233720368547758e18) & (f > -9.2233720368547758e18)
        out = out.astype(np.int64)
        out[inside] = np.trunc(f[inside]).astype(np.int64)
        return out
    return np.clip(np.trunc(f), lo, hi).astype(np.int64).astype({8: np.int8, 16: np.int16, 32: np.int32}[bits])


_TRUE = {"t", "true", "y", "yes", "1"}
_FALSE = {"f", "false", "n", "no", "0"}


def _parse_each(vec, parse, dtype):
    out = []
    for s in vec.to_list():
        if s is None:
            out.append(None)
            continue
        try:
            out.append(parse(s))
        except (ValueError, TypeError, OverflowError):
            out.append(None)
    return from_list(out, dtype)


def _parse_numbers(vec, dst):
    """Strings to numbers in one numpy call (which parses each as int() or
    float() would), when that gives what _parse_int / _parse_float give:
    no character those treat apart (underscores, hex, inf, nan, the d/f
    suffixes) and every value parses and fits; else None."""
    values = vec.values
    keep = ~vec.nulls()
    texts = values[keep].tolist() if vec.mask is not None else values.tolist()
    try:
        joined = "".join(texts)
    except TypeError:
        return None
    if any(c in joined for c in "_xXiInNdDfF"):
        return None
    try:
        if isinstance(dst, T.FractionalType):
            parsed = np.array(texts, dtype=np.float64)
        else:
            parsed = np.array(texts, dtype=np.int64)
            lim = 1 << (dst.bits - 1)
            if len(parsed) and (int(parsed.min()) < -lim or int(parsed.max()) >= lim):
                return None
    except (ValueError, TypeError, OverflowError):
        return None
    if vec.mask is None:
        return Vec(parsed.astype(dst.numpy))
    out = np.zeros(len(values), dtype=dst.numpy)
    out[keep] = parsed
    return Vec(out, vec.mask)


def _parse_int(bits):
    lim = 1 << (bits - 1)

    def parse(s):
        s = s.strip()
        try:
            v = int(s)
        except ValueError:
            f = float(s)  # '1.5' casts to 1, as Spark's
            if f != f or f in (float("inf"), float("-inf")):
                raise
            v = int(f)
        if not -lim <= v < lim:
            raise ValueError(s)
        return v
    return parse


def _parse_float(s):
    s = s.strip()
    low = s.lower()
    if low in ("nan",):
        return float("nan")
    if low in ("infinity", "+infinity", "inf", "+inf"):
        return float("inf")
    if low in ("-infinity", "-inf"):
        return float("-inf")
    if "_" in s or low.startswith(("0x", "-0x")):
        raise ValueError(s)
    return float(s.rstrip("dDfF"))


def _parse_bool(s):
    s = s.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(s)


def _parse_date(s):
    s = s.strip()
    if len(s) >= 10 and (len(s) == 10 or s[10] in " T"):
        return datetime.date.fromisoformat(s[:10])
    parts = s.split("-")
    if len(parts) in (1, 2, 3) and all(p.isdigit() for p in parts):
        nums = [int(p) for p in parts] + [1, 1][:3 - len(parts)]
        return datetime.date(*nums)
    raise ValueError(s)


def _parse_timestamp(s):
    s = s.strip()
    if len(s) == 10:
        d = datetime.date.fromisoformat(s)
        return datetime.datetime(d.year, d.month, d.day)
    return datetime.datetime.fromisoformat(s.replace("T", " ").rstrip("Z"))


def cast(vec, src, dst):
    """vec (of type src) as type dst."""
    if src == dst:
        return vec
    if isinstance(src, T.NullType):
        return Vec(np.zeros(len(vec), dtype=dst.numpy) if dst.numpy != np.dtype(object)
                   else np.full(len(vec), None, dtype=object), np.ones(len(vec), dtype=bool))
    mask = vec.mask
    if isinstance(dst, T.StringType):
        return from_list([None if x is None else value_str(x, src) for x in vec.to_list()], np.dtype(object))
    if isinstance(dst, (T.IntegralType, T.FractionalType, T.BooleanType)):
        if isinstance(src, T.StringType):
            parse = _parse_bool if isinstance(dst, T.BooleanType) else \
                _parse_float if isinstance(dst, T.FractionalType) else _parse_int(dst.bits)
            fast = None if isinstance(dst, T.BooleanType) else _parse_numbers(vec, dst)
            return fast if fast is not None else _parse_each(vec, parse, dst.numpy)
        if isinstance(src, T.BooleanType) or isinstance(src, T.IntegralType):
            if isinstance(dst, T.IntegralType):
                return Vec(_wrap_int(vec.values, dst.bits), mask)
            if isinstance(dst, T.BooleanType):
                return Vec(vec.values != 0, mask)
            return Vec(vec.values.astype(dst.numpy), mask)
        if isinstance(src, T.FractionalType):
            if isinstance(dst, T.IntegralType):
                return Vec(_float_to_int(vec.values, dst.bits), mask)
            if isinstance(dst, T.BooleanType):
                return Vec(vec.values != 0, mask)
            return Vec(vec.values.astype(dst.numpy), mask)
        if isinstance(src, T.TimestampType) and isinstance(dst, (T.IntegralType, T.FractionalType)):
            secs = [None if x is None else x.timestamp() for x in vec.to_list()]
            out = from_list(secs, np.dtype(np.float64))
            return cast(out, T.DoubleType(), dst)
    if isinstance(dst, T.DateType):
        if isinstance(src, T.StringType):
            return _parse_each(vec, _parse_date, np.dtype(object))
        if isinstance(src, T.TimestampType):
            return from_list([None if x is None else x.date() for x in vec.to_list()], np.dtype(object))
    if isinstance(dst, T.TimestampType):
        if isinstance(src, T.StringType):
            return _parse_each(vec, _parse_timestamp, np.dtype(object))
        if isinstance(src, T.DateType):
            return from_list([None if x is None else datetime.datetime(x.year, x.month, x.day)
                              for x in vec.to_list()], np.dtype(object))
    if isinstance(dst, T.ArrayType) and isinstance(src, T.ArrayType):
        return vec
    raise AnalysisException("[DATATYPE_MISMATCH.CAST_WITHOUT_SUGGESTION] cannot cast \"%s\" to \"%s\"."
                            % (src.simpleString().upper(), dst.simpleString().upper()))


def can_cast(src, dst):
    if src == dst or isinstance(src, T.NullType) or isinstance(dst, T.StringType):
        return True
    atomic = (T.IntegralType, T.FractionalType, T.BooleanType)
    if isinstance(dst, atomic):
        return isinstance(src, atomic + (T.StringType,)) or \
            (isinstance(src, T.TimestampType) and not isinstance(dst, T.BooleanType))
    if isinstance(dst, T.DateType):
        return isinstance(src, (T.StringType, T.TimestampType))
    if isinstance(dst, T.TimestampType):
        return isinstance(src, (T.StringType, T.DateType))
    return isinstance(src, T.ArrayType) and isinstance(dst, T.ArrayType)
