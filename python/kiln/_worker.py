"""The executor's side of the kiln package: run by the Python that
executor/python.c embeds in each executor, never by the user's script.

load() checks where a stage comes from, puts what it needs on sys.path and
unpickles it; run() drives it over the task's input batches; the
executor's C code decodes and encodes records.
"""
import os
import pickle
import socket
import sys
import traceback
from itertools import chain, islice

import cloudpickle

from . import _stage

BATCH = 1024

# Where the running executor keeps the application's files; set by load().
app_dir = ""
cache_dir = ""
_added = set()
# The client's script folder, whose .py files the modules zip carries
# (named in the error for a module the worker still cannot import).
project = None

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def _link(name, hexid, sub):
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError("refusing the shipped file name %r" % name)
    d = os.path.join(app_dir, sub)
    path = os.path.join(d, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.lexists(path):
        tmp = "%s.%d.tmp" % (path, os.getpid())
        os.symlink(os.path.join(cache_dir, hexid), tmp)
        os.replace(tmp, path)
    return path


def _deps(deps):
    for kind, name, hexid in deps:
        if (kind, name, hexid) in _added:
            continue
        if kind == "env":  # SparkContext(environment=...), spark.executorEnv.*: hexid is the value
            os.environ[name] = hexid
        elif kind == "file":
            _link(name, hexid, "files")
        elif kind == "pyfile":
            path = _link(name, hexid, "pyfiles")
            entry = os.path.dirname(path) if name.endswith(".py") else path
            if entry not in sys.path:
                sys.path.insert(0, entry)
        elif kind == "modules":
            path = _link(hexid + ".zip", hexid, "modules")
            if path not in sys.path:
                sys.path.insert(0, path)
        elif kind == "project":
            global project
            project = name
        elif kind == "pyspark":
            from . import pyspark_compat
            pyspark_compat.install()
        _added.add((kind, name, hexid))


def load(header, body, app, cache):
    """The stage function in body, after checking header (versions, deps)."""
    global app_dir, cache_dir
    app_dir, cache_dir = app, cache
    h = pickle.loads(header)
    mine = (_stage.PYTHON, cloudpickle.__version__)
    theirs = (h.get("python"), h.get("cloudpickle"))
    if mine != theirs:
        raise RuntimeError(
            "the client runs Python %s with cloudpickle %s, this executor (%s on %s) Python %s with cloudpickle %s: "
            "kiln needs the same on both sides" % (theirs[0], theirs[1], sys.executable, socket.gethostname(),
                                                  mine[0], mine[1]))
    _deps(h.get("deps", ()))
    try:
        fn = cloudpickle.loads(body)
    except ModuleNotFoundError as e:
        raise missing_module(e) from None
    if h.get("props") or h.get("barrier"):  # what TaskContext.get() tells the task
        fn = _with_context(fn, h.get("props") or {}, bool(h.get("barrier")))
    return fn


def missing_module(e):
    """The error for a module the worker cannot import, with the fix.
    executor/python.c fails the job at once on it: every attempt would
    fail the same way."""
    if project:
        where = "it is not among the files kiln ships from the script's folder (%s)" % project
    else:
        where = "kiln ships a script's folder only when the job runs from a script file"
    return ModuleNotFoundError(
        "module '%s' is not on the worker %s (Python %s): %s; install it on the workers, or ship it with "
        "sc.addPyFile() or kiln submit --py-files" % (e.name, socket.gethostname(), sys.executable, where),
        name=e.name)


def _with_context(fn, props, barrier):
    def staged(split, it):
        return fn(split, it)
    staged._kiln_props = props
    staged._kiln_barrier = barrier
    return staged


def _steps(fn):
    """The map and flatMap steps a stage function is composed of, in order,
    or None when any part of it is something else."""
    step = getattr(fn, "_kiln_step", None)
    if not isinstance(step, tuple) or not step:
        return None
    if step[0] == "compose" and len(step) == 3:
        a, b = _steps(step[1]), _steps(step[2])
        return a + b if a is not None and b is not None else None
    if step[0] in ("map", "flatMap") and len(step) == 2:
        return [step]
    return None


def _pair_with(w):
    return (w, 1)


_PAIR_CODE = _pair_with.__code__
_CO_NESTED = 0x10


def _pair_constant(f):
    """C when f is `lambda w: (w, C)` for an int constant C (any name, def
    or lambda), else None: the function's code is checked, so any other
    function (a default, a closure, a global, another constant) is not it."""
    code = getattr(f, "__code__", None)
    if type(f) is not type(_pair_with) or code is None or f.__closure__ or f.__kwdefaults__:
        return None
    if (code.co_code != _PAIR_CODE.co_code or code.co_argcount != 1 or code.co_posonlyargcount
            or code.co_kwonlyargcount or code.co_freevars or code.co_cellvars
            or (code.co_flags | _CO_NESTED) != (_PAIR_CODE.co_flags | _CO_NESTED)
            or len(code.co_consts) != len(_PAIR_CODE.co_consts)):
        return None
    c = code.co_consts[_PAIR_CODE.co_consts.index(1)]
    return c if type(c) is int and -(1 << 63) <= c < (1 << 63) else None


def word_pairs(fn):
    """C when the stage fn is exactly flatMap(str.split) then
    map(lambda w: (w, C)): executor/python.c then splits text lines and
    emits the pairs in C, with the answers of the general path. Else None."""
    steps = _steps(fn)
    if not steps or len(steps) != 2 or steps[0][0] != "flatMap" or steps[0][1] is not str.split \
            or steps[1][0] != "map":  # `is`: a user's callable may define __eq__
        return None
    return _pair_constant(steps[1][1])


def run(fn, split, batches, task=(0, 0, 0)):
    """Runs fn over the records of batches; yields its output in lists.
    task is (stage id, attempt from 1, task id), for TaskContext.get().

    A StopIteration that a user function raised reaches here as the
    RuntimeError of PEP 479 (the stage's functions all run inside
    generators, never under map() or filter(), where it would end the
    partition early): it fails the task, with PySpark's words and the
    user's traceback."""
    from .taskcontext import BarrierTaskContext, TaskContext
    props = getattr(fn, "_kiln_props", None) or {}
    cls = BarrierTaskContext if getattr(fn, "_kiln_barrier", False) else TaskContext
    TaskContext._current = cls(split, task[0], max(task[1] - 1, 0), task[2], props)
    try:
        it = iter(fn(split, chain.from_iterable(batches)))
        while True:
            b = list(islice(it, BATCH))
            if not b:
                return
            yield b
    except StopIteration as stop:  # raised by a mapPartitions function when called
        raise RuntimeError(_stage.STOP_ITERATION) from stop
    except RuntimeError as e:
        stop = _stop_iteration(e)
        if stop is None:
            raise
        raise RuntimeError(_stage.STOP_ITERATION) from stop
    finally:
        TaskContext._current = None


def _stop_iteration(e):
    """The user's StopIteration behind PEP 479's RuntimeError e, else None."""
    if isinstance(e.__cause__, StopIteration) and str(e) == "generator raised StopIteration":
        return e.__cause__
    return None


def _ours(frame_summary):
    f = frame_summary.filename
    return f.startswith(_PKG_DIR) or "/cloudpickle/" in f


def format_exception(exc):
    """The user's traceback: kiln's own frames left out. An exception
    raised from another (a StopIteration turned into the task's failure)
    shows the cause's traceback first, as Python prints it."""
    lines = []
    if exc.__cause__ is not None:
        lines.append(format_exception(exc.__cause__) + "\n\nThe above exception was the direct cause of the "
                     "following exception:\n\n")
    tb = traceback.extract_tb(exc.__traceback__)
    user = [f for f in tb if not _ours(f)]
    if user:
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(user))
    if type(exc) is ModuleNotFoundError and exc.name and "is not on the worker" not in str(exc):
        # an import inside the user's function: the same fix as at load
        exc = missing_module(exc)
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines).rstrip("\n")
