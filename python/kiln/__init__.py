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

from ._kiln import KilnError  # noqa: E402
from .context import Context, SparkConf, SparkContext  # noqa: E402
from .rdd import RDD, StorageLevel  # noqa: E402
from .broadcast import Broadcast  # noqa: E402
from .accumulators import Accumulator  # noqa: E402
from .files import SparkFiles  # noqa: E402
from .stats import StatCounter  # noqa: E402

__all__ = ["Context", "SparkContext", "SparkConf", "RDD", "StorageLevel", "Broadcast", "Accumulator",
           "SparkFiles", "StatCounter", "KilnError"]
