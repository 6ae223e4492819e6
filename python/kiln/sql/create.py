"""createDataFrame: local data (tuples, Rows, dicts, plain values, a
pandas DataFrame) or an RDD, with a schema given (StructType, DDL string,
an atomic type, a list of names) or inferred as PySpark infers it.

Local data is checked and turned into batches in the client; an RDD's
rows are turned into batches inside the executors (physical.py), by the
converter made here.
"""
import numpy as np
import pandas as pd

from ..rdd import RDD
from . import plan as P
from . import types as T
from .batch import BATCH_ROWS, Batch, Vec, from_list
from .expr import Attr
from .row import Row


def _names_of(row, n):
    if isinstance(row, dict):
        return sorted(row)
    if isinstance(row, Row) and hasattr(row, "__fields__"):
        return list(row.__fields__)
    if hasattr(row, "_fields"):  # namedtuple
        return list(row._fields)
    return ["_%d" % (i + 1) for i in range(n)]


def _values_of(row):
    if isinstance(row, dict):
        return [row[k] for k in sorted(row)]
    if isinstance(row, (tuple, list)):
        return list(row)
    raise TypeError("Can not infer schema for type: %s" % type(row))


def infer_schema(rows, names=None):
    if not rows:
        raise ValueError("can not infer schema from empty dataset")
    first = rows[0]
    if not isinstance(first, (dict, tuple, list)):
        raise TypeError("Can not infer schema for type: %s" % type(first))
    fnames = _names_of(first, len(_values_of(first)))
    types = [T.NullType()] * len(fnames)
    for r in rows:
        vals = _values_of(r)
        if len(vals) != len(types):
            raise ValueError("Length of object (%d) does not match with length of fields (%d)"
                             % (len(vals), len(types)))
        types = [T.merge_types(t, T.infer_type(v)) for t, v in zip(types, vals)]
    if names:
        fnames = list(names) + fnames[len(names):]
    for n, t in zip(fnames, types):
        if isinstance(t, T.NullType):
            raise ValueError("Some of types cannot be determined after inferring (column %s is all None)" % n)
    return T.StructType([T.StructField(n, t, True) for n, t in zip(fnames, types)])


def _normalize_schema(schema):
    """(StructType or None, names or None, atomic: one value per row)."""
    if schema is None:
        return None, None, False
    if isinstance(schema, str):
        schema = T._parse_datatype_string(schema)
    if isinstance(schema, (list, tuple)) and all(isinstance(x, str) for x in schema):
        return None, list(schema), False
    if isinstance(schema, T.StructType):
        return schema, None, False
    if isinstance(schema, T.DataType):
        return T.StructType([T.StructField("value", schema, True)]), None, True
    raise TypeError("schema should be StructType, a DDL string or a list of column names, got %r" % (schema,))


def _to_column_value(v, t):
    """A Python value as its column holds it."""
    if v is None:
        return None
    if isinstance(t, T.FloatType):
        return float(np.float32(v))
    if isinstance(t, T.ArrayType):
        return list(v)
    return v


def row_converter(schema, atomic, verify):
    """A function: one input row (tuple, Row, dict, or a value when atomic)
    -> a list of column values, verified against the schema as PySpark
    does (a wrong type is a TypeError naming the field)."""
    names = schema.names
    types = [f.dataType for f in schema.fields]
    nullable = [f.nullable for f in schema.fields]
    n = len(names)

    def conv(row):
        if atomic:
            vals = [row]
        elif isinstance(row, dict):
            vals = [row.get(k) for k in names]
        elif isinstance(row, (tuple, list)):
            vals = list(row)
            if len(vals) != n:
                raise ValueError("Length of object (%d) does not match with length of fields (%d)"
                                 % (len(vals), n))
        else:
            raise TypeError("StructType can not accept object %r in type %s" % (row, type(row)))
        if verify:
            for name, v, t, nb in zip(names, vals, types, nullable):
                if v is None and not nb:
                    raise ValueError("field %s: This field is not nullable, but got None" % name)
                T.verify(v, t, name)
        return [_to_column_value(v, t) for v, t in zip(vals, types)]
    return conv


def _attrs(schema):
    return [Attr(f.name, f.dataType, f.nullable) for f in schema.fields]


def _split(items, parts):
    n = len(items)
    return [items[i * n // parts:(i + 1) * n // parts] for i in range(parts)]


def _local_batches(rows, attrs, parts):
    out = []
    for chunk in _split(rows, parts):
        for lo in range(0, max(len(chunk), 1), BATCH_ROWS):
            piece = chunk[lo:lo + BATCH_ROWS]
            if piece:
                out.append(Batch({a.aid: from_list([r[j] for r in piece], a.dtype.numpy)
                                  for j, a in enumerate(attrs)}, len(piece)))
    return out


def _pandas_type(series):
    k = series.dtype.kind
    if k == "b":
        return T.BooleanType()
    if k in "iu":
        return {1: T.ByteType(), 2: T.ShortType(), 4: T.IntegerType()}.get(series.dtype.itemsize, T.LongType())
    if k == "f":
        return T.FloatType() if series.dtype.itemsize == 4 else T.DoubleType()
    if k == "M":
        return T.TimestampType()
    if pd.api.types.infer_dtype(series, skipna=True) == "string":  # all str: no per-value inference
        return T.StringType()
    t = T.NullType()
    for v in series.tolist():
        if v is None or (isinstance(v, float) and v != v):
            continue
        t = T.merge_types(t, T.infer_type(v))
    return t if not isinstance(t, T.NullType) else T.StringType()


def _from_pandas(session, pdf, schema, names):
    if schema is None:
        cols = [str(c) for c in pdf.columns]
        if names:
            cols = list(names) + cols[len(names):]
        schema = T.StructType([T.StructField(c, _pandas_type(pdf[orig]), True)
                               for c, orig in zip(cols, pdf.columns)])
    attrs = _attrs(schema)
    n = len(pdf)
    parts = session._sc.defaultParallelism
    batches = []
    arrays = []
    for a, orig in zip(attrs, pdf.columns):
        s = pdf[orig]
        t = a.dtype
        if s.dtype.kind in "biuf" and isinstance(t, (T.NumericType, T.BooleanType)):
            # numbers stay as they are (NaN stays NaN, as PySpark keeps it)
            arrays.append(Vec(s.to_numpy().astype(t.numpy)))
        elif s.dtype.kind == "M":
            vals = [None if v is None or v != v else v.to_pydatetime() for v in s.tolist()]
            arrays.append(from_list(vals, t.numpy))
        elif isinstance(t, T.StringType) and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
            # a column of str (and nulls): its values as they are, no per-value check
            arrays.append(Vec(s.to_numpy(dtype=object, na_value=None), s.isna().to_numpy()))
        else:
            vals = [None if (v is None or (isinstance(v, float) and v != v)) else v for v in s.tolist()]
            for v in vals:
                T.verify(v, t, a.name())
            arrays.append(from_list([_to_column_value(v, t) for v in vals], t.numpy))
    for i in range(parts):
        lo, hi = i * n // parts, (i + 1) * n // parts
        if hi > lo:
            idx = np.arange(lo, hi)
            batches.append(Batch({a.aid: v.take(idx) for a, v in zip(attrs, arrays)}, hi - lo))
    return P.LocalScan(batches, attrs, parts)


def create_plan(session, data, schema, samplingRatio, verify):
    struct, names, atomic = _normalize_schema(schema)
    try:
        import pandas as pd
        if isinstance(data, pd.DataFrame):
            return _from_pandas(session, data, struct, names)
    except ImportError:
        pass
    if isinstance(data, RDD):
        if struct is None:
            sample = data.take(100)
            struct = infer_schema(sample, names)
        conv = row_converter(struct, atomic, verify)
        return P.RDDScan(data, _attrs(struct), conv)
    if isinstance(data, np.ndarray):
        data = data.tolist()
    rows = list(data)
    if struct is None:
        if rows and not isinstance(rows[0], (dict, tuple, list)):
            raise TypeError("Can not infer schema for type: %s" % type(rows[0]))
        if not rows:
            if names:
                raise ValueError("can not infer schema from empty dataset")
            struct = T.StructType([])
        else:
            struct = infer_schema(rows, names)
    conv = row_converter(struct, atomic, verify)
    converted = [conv(r) for r in rows]
    attrs = _attrs(struct)
    parts = session._sc.defaultParallelism
    return P.LocalScan(_local_batches(converted, attrs, parts), attrs, parts)

