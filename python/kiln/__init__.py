"""kiln: PySpark's RDD API on kiln's C engine.

A PySpark RDD program ports by changing its import::

    from kiln import SparkContext          # was: from pyspark import SparkContext
    sc = SparkContext(appName="wordcount")
    counts = (sc.textFile("in.txt").flatMap(str.split)
                .map(lambda w: (w, 1)).reduceByKey(operator.add))

Functions and closures travel with cloudpickle; the script's own modules
are found and shipped automatically; stages run in Python embedded in
kiln's executors. See docs/python.md in kiln's source tree.
"""
import sys

from . import _build


def _check_interpreter():
    built = _build.python_version
    have = "%d.%d.%d" % sys.version_info[:3]
    if have != built:
        raise ImportError(
            "kiln was built for Python %s (%s), but this is Python %s (%s): run the script with %s, "
            "or with `kiln submit job.py`" % (built, _build.python, have, sys.executable, _build.python))


_check_interpreter()

# The public names load on first use (PEP 562), so an executor, which
# imports only kiln._worker, does not pay for the client's modules.
_LAZY = {
    "KilnError": "._kiln", "Context": ".context", "SparkConf": ".context", "SparkContext": ".context",
    "RDD": ".rdd", "StorageLevel": ".storagelevel", "Broadcast": ".broadcast", "Accumulator": ".accumulators",
    "AccumulatorParam": ".accumulators",
    "SparkFiles": ".files", "StatCounter": ".stats", "TaskContext": ".taskcontext",
    "BarrierTaskContext": ".taskcontext",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError("module 'kiln' has no attribute %r" % name)
    import importlib
    value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
