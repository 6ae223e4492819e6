"""spark.read and df.write: CSV, JSON lines and text files.

Reading: the engine's textFile splits the input into line-aligned byte
ranges; each partition's lines are parsed into batches inside the
executor (the csv module and json.loads per line, then each column's text
converted by the vectorized casts). A malformed row (a wrong number of
fields, a value that does not convert, a line that is not a JSON object)
follows the mode: PERMISSIVE keeps it with NULLs where it is malformed,
DROPMALFORMED drops it, FAILFAST fails the query naming the line.

Writing: each batch becomes lines and the engine's saveAsTextFile writes
them with its commit (part files appear with _SUCCESS last; a failed job
leaves no _SUCCESS). The save mode decides what an existing path means.
"""
import csv
import json
import os
import shutil
import uuid

import numpy as np

from . import plan as P
from . import types as T
from .batch import BATCH_ROWS, Batch, Vec, from_list
from .cast import cast, value_str
from .errors import AnalysisException
from .expr import Attr

MODES = ("PERMISSIVE", "DROPMALFORMED", "FAILFAST")


class MalformedError(ValueError):
    pass


def _bool_opt(v, default=False):
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    return str(v).lower() == "true"


# ---- parsing in executors -----------------------------------------------------

def _columns(records, n, malformed):
    """Columns of text values from records (lists of strings, None for a
    missing field)."""
    cols = [[] for _ in range(n)]
    for r in records:
        for j in range(n):
            cols[j].append(r[j] if j < len(r) else None)
    return [from_list(c, np.dtype(object)) for c in cols]


def _typed(textcols, attrs, bad, mode, lines):
    """The text columns cast to the attrs' types; a value that does not
    convert marks its row malformed."""
    out = {}
    for v, a in zip(textcols, attrs):
        if isinstance(a.dtype, T.StringType):
            out[a.aid] = v
            continue
        c = cast(v, T.StringType(), a.dtype)
        failed = ~v.nulls() & c.nulls()
        if failed.any():
            if mode == "FAILFAST":
                i = int(np.flatnonzero(failed)[0])
                raise MalformedError("Malformed records are detected in record parsing: %r cannot be %s "
                                     "(column %s, line %r). Parse Mode: FAILFAST."
                                     % (v.values[i], a.dtype.simpleString(), a.name(), lines[i]))
            bad |= failed
        out[a.aid] = c
    return out


def _finish(cols, bad, n, mode):
    b = Batch(cols, n)
    if mode == "DROPMALFORMED" and bad.any():
        return b.take(~bad)
    return b


def _plain_csv_columns(lines, n, sep, quote, escape, null_value):
    """The text columns of lines in one pass of pandas' C parser, when that
    reads them exactly as the csv module does: a one-character separator,
    no quote, escape or carriage-return character anywhere, and every line
    with exactly n fields (the separators add up, and the parser refuses a
    line with more). Else None, and the caller takes the csv module."""
    if len(sep) != 1 or sep in "\r\n":
        return None
    text = "\n".join(lines)
    if (quote and quote in text) or (escape and escape in text) or "\r" in text:
        return None
    if text.count(sep) != len(lines) * (n - 1):
        return None
    import io
    import pandas as pd
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str, na_filter=False,
                            quoting=csv.QUOTE_NONE, skip_blank_lines=False, engine="c")
    except (pd.errors.ParserError, ValueError):
        return None
    if frame.shape != (len(lines), n):
        return None
    out = []
    for j in range(n):
        v = frame[j].to_numpy(dtype=object)
        isnull = v == null_value
        if isnull.any():
            v = v.copy()
            v[isnull] = None
        out.append(Vec(v, isnull))
    return out


def _csv_parser(attrs, sep, quote, escape, header_line, null_value, mode, comment):
    n = len(attrs)

    def parse(lines):
        lines = [l for l in lines if l != header_line and not (comment and l.startswith(comment)) and l != ""]
        if not lines:
            return None
        fast = _plain_csv_columns(lines, n, sep, quote, escape, null_value)
        if fast is not None:
            bad = np.zeros(len(lines), dtype=bool)
            return _finish(_typed(fast, attrs, bad, mode, lines), bad, len(lines), mode)
        rows = list(csv.reader(lines, delimiter=sep, quotechar=quote, escapechar=escape,
                               doublequote=escape == quote))
        bad = np.array([len(r) != n for r in rows], dtype=bool)
        if mode == "FAILFAST" and bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise MalformedError("Malformed records are detected in record parsing: line %r has %d fields, "
                                 "expected %d. Parse Mode: FAILFAST." % (lines[i], len(rows[i]), n))
        recs = [[None if x == null_value else x for x in r] for r in rows]
        cols = _typed(_columns(recs, n, bad), attrs, bad, mode, lines)
        return _finish(cols, bad, len(rows), mode)
    return parse


def _json_parser(attrs, mode):
    names = [a.name() for a in attrs]

    def parse(lines):
        lines = [l for l in lines if l.strip()]
        if not lines:
            return None
        recs, bad = [], []
        for l in lines:
            try:
                obj = json.loads(l)
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
            except ValueError:
                if mode == "FAILFAST":
                    raise MalformedError("Malformed records are detected in record parsing: %r. Parse Mode: "
                                         "FAILFAST." % l) from None
                recs.append({})
                bad.append(True)
                continue
            recs.append(obj)
            bad.append(False)
        bad = np.array(bad, dtype=bool)
        cols = {}
        for a, name in zip(attrs, names):
            vals = [r.get(name) for r in recs]
            t = a.dtype
            if isinstance(t, T.StringType):
                vals = [v if v is None or isinstance(v, str) else json.dumps(v) for v in vals]
                cols[a.aid] = from_list(vals, np.dtype(object))
                continue
            conv = []
            for i, v in enumerate(vals):
                ok = v is None or _json_fits(v, t)
                if not ok:
                    if mode == "FAILFAST":
                        raise MalformedError("Malformed records are detected in record parsing: field %s of %r "
                                             "is not %s. Parse Mode: FAILFAST." % (name, lines[i], t.simpleString()))
                    bad[i] = True
                    v = None
                conv.append(_json_value(v, t))
            cols[a.aid] = from_list(conv, t.numpy)
        return _finish(cols, bad, len(recs), mode)
    return parse


def _json_fits(v, t):
    if isinstance(t, T.BooleanType):
        return isinstance(v, bool)
    if isinstance(t, T.IntegralType):
        return isinstance(v, int) and not isinstance(v, bool) and t.accepts(v)
    if isinstance(t, T.FractionalType):
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if isinstance(t, T.ArrayType):
        return isinstance(v, list)
    if isinstance(t, (T.DateType, T.TimestampType)):
        return isinstance(v, str)
    return True


def _json_value(v, t):
    if v is None:
        return None
    if isinstance(t, T.FractionalType):
        return float(np.float32(v)) if isinstance(t, T.FloatType) else float(v)
    if isinstance(t, (T.DateType, T.TimestampType)):
        return cast(from_list([v], np.dtype(object)), T.StringType(), t).to_list()[0]
    return v


def _text_parser(attr):
    def parse(lines):
        if not lines:
            return None
        return Batch({attr.aid: from_list(list(lines), np.dtype(object))}, len(lines))
    return parse


def _parse_lines(parse):
    def run(it):
        chunk = []
        for line in it:
            chunk.append(line)
            if len(chunk) >= BATCH_ROWS:
                b = parse(chunk)
                if b is not None and b.n:
                    yield b
                chunk = []
        if chunk:
            b = parse(chunk)
            if b is not None and b.n:
                yield b
    return run


# ---- schema inference -----------------------------------------------------------

def _infer_text(values):
    """The narrowest of int, bigint, double, boolean, string holding every
    non-null text value, or None when there is none."""
    order = ["int", "bigint", "double", "boolean", "string"]
    best = None
    for v in values:
        if v is None:
            continue
        best = best or 0
        while best < 4 and not _fits(v, order[best]):
            best += 1
    return None if best is None else order[best]


def _fits(v, t):
    try:
        if t in ("int", "bigint"):
            x = int(v.strip())
            return -(1 << 31) <= x < (1 << 31) if t == "int" else -(1 << 63) <= x < (1 << 63)
        if t == "double":
            float(v)
            return True
        if t == "boolean":
            return v.strip().lower() in ("true", "false")
    except ValueError:
        return False
    return True


def _csv_sample(sep, quote, escape, header_line, null_value, ncols, comment):
    def run(it):
        lines = [l for l in it if l != header_line and l != "" and not (comment and l.startswith(comment))]
        rows = list(csv.reader(lines, delimiter=sep, quotechar=quote, escapechar=escape,
                               doublequote=escape == quote))
        cols = [[] for _ in range(ncols)]
        for r in rows:
            if len(r) != ncols:
                continue
            for j, x in enumerate(r):
                if x != null_value:
                    cols[j].append(x)
        yield [_infer_text(c) for c in cols]
    return run


def _json_keys(it):
    types = {}
    for l in it:
        if not l.strip():
            continue
        try:
            obj = json.loads(l)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        for k, v in obj.items():
            t = _json_type(v)
            types[k] = _merge_json(types.get(k), t)
    yield types


def _json_type(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "bigint"
    if isinstance(v, float):
        return "double"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        et = None
        for x in v:
            et = _merge_json(et, _json_type(x))
        return "array<%s>" % (et or "string")
    return "string"  # a nested object is read as its JSON text


def _merge_json(a, b):
    if a is None:
        return b
    if b is None or a == b:
        return a
    if {a, b} == {"bigint", "double"}:
        return "double"
    return "string"


# ---- the reader -------------------------------------------------------------------

def _paths(path):
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            raise AnalysisException("kiln reads one path (a file, a directory or a glob) per read; got %d"
                                    % len(path))
        path = path[0]
    return os.path.abspath(path)


def _first_line(path):
    import glob
    if not glob.glob(path):
        raise AnalysisException("[PATH_NOT_FOUND] Path does not exist: file:%s." % path)
    files = sorted(glob.glob(path)) if any(c in path for c in "*?[") else [path]
    for f in files:
        if os.path.isdir(f):
            files += sorted(os.path.join(f, x) for x in os.listdir(f) if not x.startswith(("_", ".")))
            continue
        with open(f, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                return line.rstrip("\r\n")
    raise AnalysisException("[PATH_NOT_FOUND] Path does not exist: file:%s." % path)


class _Options:
    """What a reader and a writer share: the format and the options, set
    by chained calls; option names are case-insensitive, as Spark's."""

    def format(self, source):
        self._format = source.lower()
        return self

    def option(self, key, value):
        self._options[key.lower()] = value
        return self

    def options(self, **options):
        for k, v in options.items():
            self.option(k, v)
        return self


class DataFrameReader(_Options):
    def __init__(self, session):
        self._session = session
        self._format = None
        self._options = {}
        self._schema = None

    def schema(self, schema):
        if isinstance(schema, str):
            schema = T._parse_datatype_string(schema)
        self._schema = schema
        return self

    def load(self, path=None, format=None, schema=None, **options):
        fmt = (format or self._format or "parquet").lower()
        if schema is not None:
            self.schema(schema)
        self.options(**options)
        if fmt == "csv":
            return self.csv(path)
        if fmt == "json":
            return self.json(path)
        if fmt == "text":
            return self.text(path)
        raise AnalysisException("[UNSUPPORTED_DATASOURCE] kiln reads csv, json and text; not %s" % fmt)

    def table(self, tableName):
        return self._session.table(tableName)

    def _mode(self):
        mode = str(self._options.get("mode", "PERMISSIVE")).upper()
        if mode not in MODES:
            raise AnalysisException("mode %r: expected one of %s" % (mode, ", ".join(MODES)))
        return mode

    def _lines(self, path):
        sc = self._session.sparkContext
        return sc.textFile(path, int(self._options.get("minpartitions", 0)) or None)

    def _df(self, lines, parse, attrs, label):
        from .dataframe import DataFrame
        rdd = lines._pipe(_pipe_fn(_parse_lines(parse)), label)
        return DataFrame(P.BatchScan(rdd, attrs, label), self._session)

    def csv(self, path, schema=None, sep=None, header=None, inferSchema=None, nullValue=None, mode=None,
            quote=None, escape=None, comment=None, **other):
        for k, v in dict(sep=sep, header=header, inferSchema=inferSchema, nullValue=nullValue, mode=mode,
                         quote=quote, escape=escape, comment=comment, **other).items():
            if v is not None:
                self.option(k, v)
        if schema is not None:
            self.schema(schema)
        path = _paths(path)
        o = self._options
        sep = o.get("sep", o.get("delimiter", ","))
        quote = o.get("quote", '"')
        escape = o.get("escape", "\\")
        null_value = o.get("nullvalue", "")
        comment = o.get("comment") or None
        header = _bool_opt(o.get("header"))
        mode = self._mode()
        first = _first_line(path)
        fields = next(csv.reader([first], delimiter=sep, quotechar=quote, escapechar=escape))
        header_line = first if header else None
        if self._schema is not None:
            st = self._schema
        else:
            names = fields if header else ["_c%d" % i for i in range(len(fields))]
            if _bool_opt(o.get("inferschema")):
                parts = self._lines(path).mapPartitions(
                    _csv_sample(sep, quote, escape, header_line, null_value, len(names), comment)).collect()
                types = []
                for j in range(len(names)):
                    col = [p[j] for p in parts]
                    types.append(_widest(col))
            else:
                types = [T.StringType()] * len(names)
            st = T.StructType([T.StructField(n, t, True) for n, t in zip(names, types)])
        attrs = [Attr(f.name, f.dataType, True) for f in st.fields]
        parse = _csv_parser(attrs, sep, quote, escape, header_line, null_value, mode, comment)
        return self._df(self._lines(path), parse, attrs, "scan csv")

    def json(self, path, schema=None, mode=None, **other):
        if schema is not None:
            self.schema(schema)
        if mode is not None:
            self.option("mode", mode)
        path = _paths(path)
        _first_line(path)
        mode = self._mode()
        if self._schema is not None:
            st = self._schema
        else:
            merged = {}
            for part in self._lines(path).mapPartitions(_json_keys).collect():
                for k, t in part.items():
                    merged[k] = _merge_json(merged.get(k), t)
            st = T.StructType([T.StructField(k, T._parse_datatype_string(merged[k] or "string"), True)
                               for k in sorted(merged)])
        attrs = [Attr(f.name, f.dataType, True) for f in st.fields]
        return self._df(self._lines(path), _json_parser(attrs, mode), attrs, "scan json")

    def text(self, paths, wholetext=False, lineSep=None):
        if wholetext:
            raise AnalysisException("text(wholetext=True) is not supported by kiln")
        path = _paths(paths)
        _first_line(path)
        attr = Attr("value", T.StringType(), True)
        return self._df(self._lines(path), _text_parser(attr), [attr], "scan text")


def _widest(names):
    """The type of a column over the partitions' inferred types (None: the
    partition had no value): numbers widen, a number beside a boolean is a
    string, a column of no values is a string."""
    rank = ["int", "bigint", "double", "boolean", "string"]
    best = None
    for n in names:
        if n is None:
            continue
        r = rank.index(n)
        if best is None:
            best = r
        elif (best <= 2 and r == 3) or (best == 3 and r <= 2):
            best = 4
        else:
            best = max(best, r)
    return T._parse_datatype_string(rank[4 if best is None else best])


def _pipe_fn(f):
    def stage(split, it):
        return f(it)
    return stage


# ---- writing ------------------------------------------------------------------------

def _csv_field(v, t, sep, quote, escape, null_value):
    if v is None:
        return null_value
    s = value_str(v, t) if not isinstance(v, str) else v
    if s == "" or any(c in s for c in (sep, quote, "\n", "\r", escape)) or s != s.strip():
        s = quote + s.replace(escape, escape + escape).replace(quote, escape + quote) + quote
    return s


def _csv_lines(attrs, sep, quote, escape, null_value, header):
    def run(split, it):
        first = True
        for b in it:
            if header and first:  # every part file that has rows starts with the header, as Spark's
                yield sep.join(_csv_field(a.name(), T.StringType(), sep, quote, escape, "") for a in attrs)
            first = False
            cols = [b[a.aid].to_list() for a in attrs]
            for row in zip(*cols):
                yield sep.join(_csv_field(v, a.dtype, sep, quote, escape, null_value) for v, a in zip(row, attrs))
    return run


def _json_py(v, t):
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return value_str(v, t)
        return v
    if isinstance(v, (list, tuple)):
        et = t.elementType if isinstance(t, T.ArrayType) else None
        return [None if x is None else _json_py(x, et) for x in v]
    if hasattr(v, "isoformat"):
        return value_str(v, t)
    return v


def _json_lines(attrs):
    def run(split, it):
        for b in it:
            cols = [b[a.aid].to_list() for a in attrs]
            for row in zip(*cols):
                obj = {a.name(): _json_py(v, a.dtype) for v, a in zip(row, attrs) if v is not None}
                yield json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return run


def _text_lines(attr):
    def run(split, it):
        for b in it:
            for v in b[attr.aid].to_list():
                yield "" if v is None else v
    return run


class DataFrameWriter(_Options):
    def __init__(self, df):
        self._df = df
        self._mode = "errorifexists"
        self._format = None
        self._options = {}

    def mode(self, saveMode):
        m = (saveMode or "errorifexists").lower()
        if m == "error":
            m = "errorifexists"
        if m not in ("overwrite", "append", "ignore", "errorifexists"):
            raise ValueError("Unknown save mode: %s. Accepted save modes are 'overwrite', 'append', 'ignore', "
                             "'error', 'errorifexists', 'default'." % saveMode)
        self._mode = m
        return self

    def save(self, path=None, format=None, mode=None, **options):
        if mode is not None:
            self.mode(mode)
        self.options(**options)
        fmt = (format or self._format or "parquet").lower()
        if fmt not in ("csv", "json", "text"):
            raise AnalysisException("[UNSUPPORTED_DATASOURCE] kiln writes csv, json and text; not %s" % fmt)
        return getattr(self, fmt)(path)

    def _write(self, path, lines_fn, label):
        path = os.path.abspath(path)
        exists = os.path.exists(path)
        if exists and self._mode == "errorifexists":
            raise AnalysisException("[PATH_ALREADY_EXISTS] Path file:%s already exists. Set mode as \"overwrite\" "
                                    "to overwrite the existing path." % path)
        if exists and self._mode == "ignore":
            return
        comp = self._df._compiled()
        lines = comp.rdd.mapPartitionsWithIndex(lines_fn)
        if exists and self._mode == "append":
            tmp = os.path.join(path, "_kiln-append-%s" % uuid.uuid4().hex)
            lines.saveAsTextFile(tmp)
            tag = uuid.uuid4().hex[:8]
            for name in sorted(os.listdir(tmp)):
                if name.startswith("part-"):
                    os.rename(os.path.join(tmp, name), os.path.join(path, "%s-%s" % (name, tag)))
            shutil.rmtree(tmp)
            return
        if exists:  # overwrite: the new output is written beside it, then replaces it
            tmp = path + ".kiln-overwrite-%s" % uuid.uuid4().hex
            lines.saveAsTextFile(tmp)
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
            os.rename(tmp, path)
            return
        lines.saveAsTextFile(path)

    def csv(self, path, mode=None, sep=None, header=None, nullValue=None, quote=None, escape=None, **other):
        if mode is not None:
            self.mode(mode)
        for k, v in dict(sep=sep, header=header, nullValue=nullValue, quote=quote, escape=escape, **other).items():
            if v is not None:
                self.option(k, v)
        o = self._options
        attrs = self._df._optimized().output()
        fn = _csv_lines(attrs, o.get("sep", o.get("delimiter", ",")), o.get("quote", '"'), o.get("escape", "\\"),
                        o.get("nullvalue", ""), _bool_opt(o.get("header")))
        self._write(path, fn, "write csv")

    def json(self, path, mode=None, **other):
        if mode is not None:
            self.mode(mode)
        self._write(path, _json_lines(self._df._optimized().output()), "write json")

    def text(self, path, mode=None, **other):
        if mode is not None:
            self.mode(mode)
        attrs = self._df._optimized().output()
        if len(attrs) != 1 or not isinstance(attrs[0].dtype, T.StringType):
            raise AnalysisException("Text data source supports only a single column of string type, and you have "
                                    "%d columns." % len(attrs) if len(attrs) != 1 else
                                    "Text data source does not support %s data type." % attrs[0].dtype.simpleString())
        self._write(path, _text_lines(attrs[0]), "write text")

