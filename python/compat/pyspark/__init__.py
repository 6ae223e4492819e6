"""kiln's `pyspark` package: what `kiln submit job.py` puts on the script's
path so `from pyspark import SparkContext, SparkConf` runs on kiln. The
names and submodules are kiln's own (kiln/pyspark_compat.py); this folder
is never installed where Python looks by itself."""
from kiln import pyspark_compat as _compat

_compat.fill_package(globals())
_compat.install()
del _compat
