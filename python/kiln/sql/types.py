"""Spark SQL's data types, under PySpark's names and with PySpark's
reprs, simple strings, JSON and DDL strings.

Each atomic type also says how a column of it lives in a batch
(`numpy`: the dtype of the column's values array) and how one Python
value is checked against it (`accepts`), as createDataFrame's schema
verification does in PySpark.
"""
import datetime
import json
import re

import numpy as np

from .errors import ParseException


class DataType:
    """The base of every type; types compare by value."""

    numpy = np.dtype(object)

    def __repr__(self):
        return self.__class__.__name__ + "()"

    def __eq__(self, other):
        return isinstance(other, self.__class__) and self.__dict__ == other.__dict__

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(str(self))

    @classmethod
    def typeName(cls):
        return cls.__name__[:-4].lower()

    def simpleString(self):
        return self.typeName()

    def jsonValue(self):
        return self.typeName()

    def json(self):
        return json.dumps(self.jsonValue(), separators=(",", ":"), sort_keys=True)

    def needConversion(self):
        return False

    def accepts(self, v):
        return True


class NullType(DataType):
    def simpleString(self):
        return "void"

    def accepts(self, v):
        return v is None


class StringType(DataType):
    def accepts(self, v):
        return isinstance(v, str)


class BinaryType(DataType):
    def accepts(self, v):
        return isinstance(v, (bytes, bytearray))


class BooleanType(DataType):
    numpy = np.dtype(np.bool_)

    def accepts(self, v):
        return isinstance(v, (bool, np.bool_))


class DateType(DataType):
    def accepts(self, v):
        return isinstance(v, datetime.date) and not isinstance(v, datetime.datetime)


class TimestampType(DataType):
    def accepts(self, v):
        return isinstance(v, datetime.datetime)


class NumericType(DataType):
    pass


class IntegralType(NumericType):
    bits = 64

    def accepts(self, v):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            return False
        lim = 1 << (self.bits - 1)
        return -lim <= int(v) < lim


class ByteType(IntegralType):
    numpy, bits = np.dtype(np.int8), 8

    def simpleString(self):
        return "tinyint"


class ShortType(IntegralType):
    numpy, bits = np.dtype(np.int16), 16

    def simpleString(self):
        return "smallint"


class IntegerType(IntegralType):
    """32-bit: arithmetic wraps as Spark's (and Java's) int does."""
    numpy, bits = np.dtype(np.int32), 32

    def simpleString(self):
        return "int"


class LongType(IntegralType):
    numpy, bits = np.dtype(np.int64), 64

    def simpleString(self):
        return "bigint"


class FractionalType(NumericType):
    def accepts(self, v):
        return isinstance(v, (float, np.floating))


class FloatType(FractionalType):
    """32-bit: values are rounded to float32 when they enter a column."""
    numpy = np.dtype(np.float32)


class DoubleType(FractionalType):
    numpy = np.dtype(np.float64)


class ArrayType(DataType):
    def __init__(self, elementType, containsNull=True):
        self.elementType = elementType
        self.containsNull = containsNull

    def __repr__(self):
        return "ArrayType(%r, %s)" % (self.elementType, self.containsNull)

    def simpleString(self):
        return "array<%s>" % self.elementType.simpleString()

    def jsonValue(self):
        return {"type": "array", "elementType": self.elementType.jsonValue(), "containsNull": self.containsNull}

    def accepts(self, v):
        return isinstance(v, (list, tuple))


class StructField(DataType):
    def __init__(self, name, dataType, nullable=True, metadata=None):
        if not isinstance(name, str):
            raise TypeError("field name %r should be a string" % (name,))
        if not isinstance(dataType, DataType):
            raise TypeError("dataType %r should be an instance of DataType" % (dataType,))
        self.name = name
        self.dataType = dataType
        self.nullable = nullable
        self.metadata = metadata or {}

    def __repr__(self):
        return "StructField(%r, %r, %s)" % (self.name, self.dataType, self.nullable)

    def simpleString(self):
        return "%s:%s" % (self.name, self.dataType.simpleString())

    def jsonValue(self):
        return {"name": self.name, "type": self.dataType.jsonValue(), "nullable": self.nullable,
                "metadata": self.metadata}


class StructType(DataType):
    def __init__(self, fields=None):
        self.fields = list(fields or [])
        for f in self.fields:
            if not isinstance(f, StructField):
                raise TypeError("fields should be a list of StructField")

    @property
    def names(self):
        return [f.name for f in self.fields]

    def fieldNames(self):
        return self.names

    def add(self, field, data_type=None, nullable=True, metadata=None):
        if isinstance(field, StructField):
            self.fields.append(field)
        else:
            if data_type is None:
                raise ValueError("Must specify DataType if passing name of struct_field to create.")
            if isinstance(data_type, str):
                data_type = _parse_datatype_string(data_type)
            self.fields.append(StructField(field, data_type, nullable, metadata))
        return self

    def __iter__(self):
        return iter(self.fields)

    def __len__(self):
        return len(self.fields)

    def __getitem__(self, key):
        if isinstance(key, str):
            for f in self.fields:
                if f.name == key:
                    return f
            raise KeyError("No StructField named %s" % key)
        if isinstance(key, int):
            return self.fields[key]
        if isinstance(key, slice):
            return StructType(self.fields[key])
        raise TypeError("StructType keys should be strings, integers or slices")

    def __repr__(self):
        return "StructType([%s])" % ", ".join(repr(f) for f in self.fields)

    def simpleString(self):
        return "struct<%s>" % ",".join(f.simpleString() for f in self.fields)

    def jsonValue(self):
        return {"type": "struct", "fields": [f.jsonValue() for f in self.fields]}

    def treeString(self):
        lines = ["root"]
        for f in self.fields:
            lines.append(" |-- %s: %s (nullable = %s)" % (f.name, f.dataType.typeName() if not isinstance(
                f.dataType, (ArrayType, StructType)) else f.dataType.typeName(), str(f.nullable).lower()))
            if isinstance(f.dataType, ArrayType):
                lines.append(" |    |-- element: %s (containsNull = %s)"
                             % (f.dataType.elementType.typeName(), str(f.dataType.containsNull).lower()))
        return "\n".join(lines) + "\n"


# ---- DDL strings -----------------------------------------------------------

_ATOMIC = {
    "string": StringType, "varchar": StringType, "char": StringType, "binary": BinaryType,
    "boolean": BooleanType, "bool": BooleanType, "tinyint": ByteType, "byte": ByteType,
    "smallint": ShortType, "short": ShortType, "int": IntegerType, "integer": IntegerType,
    "bigint": LongType, "long": LongType, "float": FloatType, "real": FloatType, "double": DoubleType,
    "date": DateType, "timestamp": TimestampType, "void": NullType, "null": NullType,
}


def _split_top(s, sep=","):
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _parse_type(s):
    t = s.strip()
    low = t.lower()
    m = re.fullmatch(r"(varchar|char)\s*\(\s*\d+\s*\)", low)
    if m:
        return StringType()
    if low in _ATOMIC:
        return _ATOMIC[low]()
    if low.startswith("array<") and low.endswith(">"):
        return ArrayType(_parse_type(t[6:-1]))
    if low.startswith("struct<") and low.endswith(">"):
        return _parse_fields(t[7:-1], struct_syntax=True)
    raise ParseException("DataType %s is not supported." % t)


def _parse_fields(s, struct_syntax=False):
    fields = []
    for part in _split_top(s):
        if not part:
            raise ParseException("Syntax error in DDL string: %r" % s)
        m = re.fullmatch(r"`([^`]+)`\s*:?\s*(.+?)(\s+NOT\s+NULL)?", part, re.S | re.I) or \
            re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*|\s+)(.+?)(\s+NOT\s+NULL)?", part, re.S | re.I)
        if not m:
            raise ParseException("Syntax error in DDL string at %r" % part)
        fields.append(StructField(m.group(1), _parse_type(m.group(2)), m.group(3) is None))
    return StructType(fields)


def _parse_datatype_string(s):
    """A DDL string: 'a INT, b STRING', 'a: int, b: string', 'struct<a:int>'
    or one type ('double')."""
    try:
        return _parse_type(s)
    except ParseException:
        pass
    return _parse_fields(s)


# ---- inference and verification ---------------------------------------------

def infer_type(v):
    """The type PySpark infers for one Python value."""
    if v is None:
        return NullType()
    if isinstance(v, (bool, np.bool_)):
        return BooleanType()
    if isinstance(v, (int, np.integer)):
        return LongType()
    if isinstance(v, (float, np.floating)):
        return DoubleType()
    if isinstance(v, str):
        return StringType()
    if isinstance(v, (bytes, bytearray)):
        return BinaryType()
    if isinstance(v, datetime.datetime):
        return TimestampType()
    if isinstance(v, datetime.date):
        return DateType()
    if isinstance(v, (list, tuple)):
        et = NullType()
        for x in v:
            et = merge_types(et, infer_type(x))
        return ArrayType(et, True)
    raise TypeError("not supported type: %s" % type(v))


def merge_types(a, b):
    """Two inferred types of one field (None widens to the other)."""
    if isinstance(a, NullType):
        return b
    if isinstance(b, NullType):
        return a
    if a == b:
        return a
    if isinstance(a, ArrayType) and isinstance(b, ArrayType):
        return ArrayType(merge_types(a.elementType, b.elementType), True)
    raise TypeError("Can not merge type %r and %r" % (a, b))


def verify(v, t, name):
    """Raises PySpark's TypeError when value v does not fit type t."""
    if v is None:
        return
    if not t.accepts(v):
        if isinstance(t, IntegralType) and isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            raise ValueError("field %s: object of %s out of range, got: %s" % (name, t, v))
        raise TypeError("field %s: %s can not accept object %r in type %s" % (name, t, v, type(v)))
