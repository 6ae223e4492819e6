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

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def _link(name, hexid, sub):
    d = os.path.join(app_dir, sub)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    if not os.path.lexists(path):
        tmp = "%s.%d.tmp" % (path, os.getpid())
        os.symlink(os.path.join(cache_dir, hexid), tmp)
        os.replace(tmp, path)
    return path


def _deps(deps):
    for kind, name, hexid in deps:
        if (kind, name, hexid) in _added:
            continue
        if kind == "file":
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
        raise ModuleNotFoundError(
            "module '%s' is not on worker %s (Python %s): install it there, or ship it with sc.addPyFile() "
            "or kiln submit --py-files" % (e.name, socket.gethostname(), sys.executable), name=e.name) from None
    if h.get("props") or h.get("barrier"):  # what TaskContext.get() tells the task
        fn = _with_context(fn, h.get("props") or {}, bool(h.get("barrier")))
    return fn


def _with_context(fn, props, barrier):
    def staged(split, it):
        return fn(split, it)
    staged._kiln_props = props
    staged._kiln_barrier = barrier
    return staged


def run(fn, split, batches, task=(0, 0, 0)):
    """Runs fn over the records of batches; yields its output in lists.
    task is (stage id, attempt from 1, task id), for TaskContext.get()."""
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
    finally:
        TaskContext._current = None


def _ours(frame_summary):
    f = frame_summary.filename
    return f.startswith(_PKG_DIR) or "/cloudpickle/" in f


def format_exception(exc):
    """The user's traceback: kiln's own frames left out."""
    tb = traceback.extract_tb(exc.__traceback__)
    user = [f for f in tb if not _ours(f)]
    lines = []
    if user:
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(user))
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines).rstrip("\n")
