"""How a Python stage function travels: the env of the executor's
kiln_py_stage built-in (executor/python.c reads the fixed part).

    "KPY1" u8 in_fmt u8 out_fmt
    u16 n, op name          u16 n, description (for errors and blame)
    u32 n, header: pickle (protocol 4) of a dict of plain types (python,
                   cloudpickle, deps; props when the client set local properties;
                   barrier in a barrier stage's function)
    the rest: cloudpickle of f(split, iterator) -> iterator

The header says which Python and cloudpickle made it, and what the stage
needs on the worker (shipped modules, py-files, files), so the executor
can refuse a mismatch and set up sys.path before it unpickles anything.
"""
import enum
import pickle
import struct
import sys

import cloudpickle



class Fmt(enum.IntEnum):
    """The record formats the extension reads and writes (an engine node's
    records, a stage's input and output): python/records.h's KR_* have the
    same numbers and say what each holds."""
    TEXT = 0    # a line as str
    VALUE = 1   # one encoded value
    PAIR = 2    # (key, value)
    GROUP = 3   # (key, [values]) from group_by_key (read only)
    JOIN = 4    # (key, (v, w)) from join (read only)
    KEY = 5     # an encoded key alone (distinct)
    I64 = 6     # an 8-byte integer from kiln_range (read only)
    BYTES = 7   # a line as bytes
    PART = 8    # (partition number, (key, value)): partitionBy's map side (write only)


TEXT, VALUE, PAIR, GROUP, JOIN, KEY, I64, BYTES, PART = Fmt

PYTHON = "%d.%d" % sys.version_info[:2]

# PySpark's words for a StopIteration raised in a user's function
STOP_ITERATION = "Caught StopIteration thrown from user's code; failing the task"


def _short(s, n):
    b = s.encode("utf-8", "replace")[:n]
    return b.decode("utf-8", "ignore").encode("utf-8")


def describe(f):
    """A short name of a user function: '<lambda> at job.py:12'."""
    f = getattr(f, "func", f)  # functools.partial
    code = getattr(f, "__code__", None)
    name = getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or type(f).__name__
    if "<locals>." in name:  # a nested function: its own name says enough
        name = name.rsplit(".", 1)[-1]
    if (getattr(f, "__module__", None) or "").startswith("kiln."):  # kiln's own step (count, sum, ...)
        return name.lstrip("_")
    if code is not None:
        return "%s at %s:%d" % (name, code.co_filename.rsplit("/", 1)[-1], code.co_firstlineno)
    return str(name)


def env(fn, in_fmt, out_fmt, op, name, deps, props=None, barrier=False):
    h = {"python": PYTHON, "cloudpickle": cloudpickle.__version__, "deps": deps}
    if props:
        h["props"] = dict(props)  # local properties, for TaskContext.getLocalProperty
    if barrier:
        h["barrier"] = True  # a barrier stage's: BarrierTaskContext.get() works
    header = pickle.dumps(h, protocol=4)
    body = dumps_function(fn, name)
    opb, nameb = _short(op, 60), _short(name, 95)
    return b"".join([b"KPY1", bytes([in_fmt, out_fmt]), struct.pack("<H", len(opb)), opb,
                     struct.pack("<H", len(nameb)), nameb, struct.pack("<I", len(header)), header, body])


def dumps_function(fn, name):
    try:
        return cloudpickle.dumps(fn, protocol=5)
    except Exception as e:
        path = find_unpicklable(fn, name.split(" at ")[0])
        raise pickle.PicklingError(
            "cannot ship %s: %s cannot be pickled (%s: %s); create it inside the function (for example in "
            "mapPartitions, once per partition), or broadcast its data with sc.broadcast"
            % (name, path, type(e).__name__, e)) from None


def _picklable(obj):
    try:
        cloudpickle.dumps(obj, protocol=5)
        return True
    except Exception:
        return False


def _children(obj):
    """(label, child) pairs that pickling obj pickles too."""
    import types
    if isinstance(obj, types.MethodType):
        yield "self", obj.__self__
        yield obj.__func__.__name__, obj.__func__
        return
    if hasattr(obj, "func") and hasattr(obj, "args") and hasattr(obj, "keywords"):  # partial
        yield "func", obj.func
        for i, a in enumerate(obj.args):
            yield "args[%d]" % i, a
        for k, v in (obj.keywords or {}).items():
            yield k, v
        return
    if isinstance(obj, types.FunctionType):
        code = obj.__code__
        for var, cell in zip(code.co_freevars, obj.__closure__ or ()):
            try:
                yield var, cell.cell_contents
            except ValueError:
                pass
        g = obj.__globals__
        for n in code.co_names:
            if n in g and not isinstance(g[n], types.ModuleType):
                yield n, g[n]
        for i, d in enumerate(obj.__defaults__ or ()):
            yield "default[%d]" % i, d
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield repr(k), v
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        for i, v in enumerate(obj):
            yield "[%d]" % i, v
        return
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        for k, v in d.items():
            yield k, v


def find_unpicklable(obj, label, depth=0, seen=None):
    """The path to the innermost object that will not pickle:
    'myfun → self.conn → socket'."""
    seen = seen if seen is not None else set()
    if depth < 12 and id(obj) not in seen:
        seen.add(id(obj))
        for child_label, child in _children(obj):
            if not _picklable(child):
                sub = find_unpicklable(child, child_label, depth + 1, seen)
                return "%s → %s" % (label, sub) if sub else label
    return "%s → %s" % (label, type(obj).__name__)
