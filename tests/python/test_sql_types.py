"""kiln.sql's types, Row, casts and number formatting, checked against
PySpark's documented reprs and Java's formatting, without a cluster."""
import json
import math
import struct

import numpy as np
import pytest

from kiln.sql import Row
from kiln.sql import types as T
from kiln.sql.batch import Batch, from_list
from kiln.sql.cast import cast, java_double_str
from kiln.sql.errors import ParseException


def test_reprs_and_strings():
    s = T.StructType([T.StructField("name", T.StringType(), True), T.StructField("age", T.IntegerType(), False)])
    assert repr(s) == "StructType([StructField('name', StringType(), True), StructField('age', IntegerType(), False)])"
    assert s.simpleString() == "struct<name:string,age:int>"
    assert json.loads(s.json()) == {"type": "struct", "fields": [
        {"name": "name", "type": "string", "nullable": True, "metadata": {}},
        {"name": "age", "type": "integer", "nullable": False, "metadata": {}}]}
    assert T.LongType().simpleString() == "bigint" and T.LongType().typeName() == "long"
    assert T.FloatType().typeName() == "float" and T.ArrayType(T.IntegerType()).simpleString() == "array<int>"
    assert s.names == ["name", "age"] and s["age"].dataType == T.IntegerType()
    assert s.treeString() == ("root\n |-- name: string (nullable = true)\n |-- age: integer (nullable = false)\n")
    assert T.IntegerType() == T.IntegerType() and T.IntegerType() != T.LongType()


@pytest.mark.parametrize("ddl", ["name STRING, age INT", "name: string, age: int", "struct<name:string,age:int>",
                                 "`name` string,  age  INTEGER"])
def test_ddl(ddl):
    s = T._parse_datatype_string(ddl)
    assert s == T.StructType([T.StructField("name", T.StringType()), T.StructField("age", T.IntegerType())])


def test_ddl_types_and_errors():
    assert T._parse_datatype_string("double") == T.DoubleType()
    assert T._parse_datatype_string("a bigint not null").fields[0].nullable is False
    assert T._parse_datatype_string("a array<string>")["a"].dataType == T.ArrayType(T.StringType())
    with pytest.raises(ParseException):
        T._parse_datatype_string("a nosuchtype")


def test_row():
    r = Row(name="Alice", age=11)
    assert r == ("Alice", 11) and r.name == "Alice" and r["age"] == 11 and r[0] == "Alice"
    assert repr(r) == "Row(name='Alice', age=11)"
    assert r.asDict() == {"name": "Alice", "age": 11}
    assert "name" in r and "x" not in r
    Person = Row("name", "age")
    p = Person("Bob", 3)
    assert p.name == "Bob" and p.asDict() == {"name": "Bob", "age": 3}
    assert Row(1, 2) == (1, 2)
    with pytest.raises(AttributeError):
        r.nope
    nested = Row(a=Row(b=1), c=[Row(d=2)])
    assert nested.asDict(recursive=True) == {"a": {"b": 1}, "c": [{"d": 2}]}
    import pickle
    assert pickle.loads(pickle.dumps(r)).asDict() == r.asDict()


def test_verify_and_infer():
    T.verify(1, T.IntegerType(), "a")
    with pytest.raises(TypeError, match="IntegerType"):
        T.verify(1.5, T.IntegerType(), "a")
    with pytest.raises(TypeError, match="DoubleType"):
        T.verify(1, T.DoubleType(), "a")
    with pytest.raises(ValueError, match="out of range"):
        T.verify(1 << 40, T.IntegerType(), "a")
    assert T.infer_type(1) == T.LongType() and T.infer_type(1.0) == T.DoubleType()
    assert T.infer_type(True) == T.BooleanType() and T.infer_type([1, None]) == T.ArrayType(T.LongType())


# Java's Double.toString and Float.toString, as Spark writes numbers
@pytest.mark.parametrize("x,want", [
    (1.0, "1.0"), (0.1, "0.1"), (123.456, "123.456"), (1e7, "1.0E7"), (1.5e10, "1.5E10"), (0.001, "0.001"),
    (0.0001, "1.0E-4"), (-2.5e-5, "-2.5E-5"), (9999999.0, "9999999.0"), (float("nan"), "NaN"),
    (float("inf"), "Infinity"), (-0.0, "-0.0"), (100.0, "100.0"), (1234567.125, "1234567.125")])
def test_java_double(x, want):
    assert java_double_str(x) == want


def test_java_float():
    f = struct.unpack("f", struct.pack("f", 0.1))[0]  # 0.1 as float32
    assert java_double_str(f, single=True) == "0.1"
    assert java_double_str(f) == "0.10000000149011612"


def _vec(items, t):
    return from_list(items, t.numpy)


def test_casts():
    s = _vec(["1", " 2 ", "x", None, "1.7", "-3"], T.StringType())
    assert cast(s, T.StringType(), T.IntegerType()).to_list() == [1, 2, None, None, 1, -3]
    assert cast(_vec([2 ** 31, -1], T.LongType()), T.LongType(), T.IntegerType()).to_list() == [-2 ** 31, -1]
    d = cast(_vec([1.9, -1.9, float("nan"), 1e20], T.DoubleType()), T.DoubleType(), T.IntegerType()).to_list()
    assert d == [1, -1, 0, 2 ** 31 - 1]
    assert cast(_vec(["true", "no", "maybe"], T.StringType()), T.StringType(), T.BooleanType()).to_list() == \
        [True, False, None]
    assert cast(_vec([1.0, 1e10, None], T.DoubleType()), T.DoubleType(), T.StringType()).to_list() == \
        ["1.0", "1.0E10", None]
    assert cast(_vec([True], T.BooleanType()), T.BooleanType(), T.StringType()).to_list() == ["true"]
    import datetime
    assert cast(_vec(["2020-02-03", "bad"], T.StringType()), T.StringType(), T.DateType()).to_list() == \
        [datetime.date(2020, 2, 3), None]


def test_int_arithmetic_wraps_and_division():
    from kiln.sql import expr as E
    a = E.Attr("a", T.IntegerType())
    b = Batch({a.aid: Vec32([2 ** 31 - 1, 7, -7])}, 3)
    plus = E.Arith("+", a, E.Lit(1)).coerce()
    assert plus.dtype == T.IntegerType() and plus.eval(b).to_list() == [-2 ** 31, 8, -6]
    div = E.Arith("/", a, E.Lit(0)).coerce()
    assert div.dtype == T.DoubleType() and div.eval(b).to_list() == [None, None, None]
    mod = E.Arith("%", a, E.Lit(3)).coerce()
    assert mod.eval(b).to_list() == [(2 ** 31 - 1) % 3, 1, -1]  # Java's sign: of the dividend


def Vec32(values):
    from kiln.sql.batch import Vec
    return Vec(np.array(values, dtype=np.int32))


def test_three_valued_logic():
    from kiln.sql import expr as E
    a = E.Attr("a", T.BooleanType())
    c = E.Attr("c", T.BooleanType())
    vals = [True, False, None]
    rows = [(x, y) for x in vals for y in vals]
    b = Batch({a.aid: from_list([r[0] for r in rows], np.dtype(bool)),
               c.aid: from_list([r[1] for r in rows], np.dtype(bool))}, len(rows))

    def sql_and(x, y):
        if x is False or y is False:
            return False
        if x is None or y is None:
            return None
        return True

    def sql_or(x, y):
        if x is True or y is True:
            return True
        if x is None or y is None:
            return None
        return False
    assert E.Logic("AND", a, c).coerce().eval(b).to_list() == [sql_and(*r) for r in rows]
    assert E.Logic("OR", a, c).coerce().eval(b).to_list() == [sql_or(*r) for r in rows]
    assert E.Not(a).coerce().eval(b).to_list() == [None if r[0] is None else not r[0] for r in rows]


def test_round_half_up():
    from kiln.sql.scalar import _round_half_up
    got = _round_half_up(np.array([2.675, 0.5, 1.5, 2.5, -2.5, 0.125, 1.005]), 2)
    assert got.tolist() == [2.68, 0.5, 1.5, 2.5, -2.5, 0.13, 1.01]
    assert _round_half_up(np.array([0.5, 1.5, 2.5, -0.5]), 0).tolist() == [1.0, 2.0, 3.0, -1.0]
    assert math.isnan(_round_half_up(np.array([float("nan")]), 1)[0])


def test_string_number_comparison_takes_the_numbers_type():
    from kiln.sql import expr as E
    s = E.Attr("s", T.StringType())
    b = Batch({s.aid: from_list(["1.5", "1", "x", None], np.dtype(object))}, 4)
    eq = E.Cmp("=", s, E.Lit(1)).coerce()
    assert eq.eval(b).to_list() == [True, True, None, None]  # '1.5' cast to INT is 1, as Spark's
    isin = E.In(s, [E.Lit(1), E.Lit(2)]).coerce()
    assert isin.eval(b).to_list() == [True, True, None, None]
    gt = E.Cmp(">", s, E.Lit(1.2)).coerce()
    assert gt.eval(b).to_list() == [True, False, None, None]
