"""SparkConf, and what a Context makes of its keys.

kiln's own per-job keys (task.*, broadcast.*, driver.max_result_size) go
to the driver as they are. Any spark.* key is accepted and kept, so
sc.getConf().get(key) reads it back; those in SPARK_KEYS have a kiln
meaning and take effect, the rest are named once on stderr as unused (a
warning, never an error). docs/python.md has the same table."""
import os
import re
import sys


class SparkConf:
    """Settings for a Context, as PySpark's SparkConf: spark.* keys and
    kiln's own per-job keys. With loadDefaults (the default) it starts with
    what `kiln submit --conf` passed, as PySpark's starts with
    spark-submit's."""

    def __init__(self, loadDefaults=True, _jvm=None, _jconf=None):
        self._conf = {}
        if loadDefaults:
            for line in os.environ.get("KILN_CONF", "").split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    self._conf[k] = v

    def set(self, key, value):
        """Sets key to value (kept as a string); returns the conf.

        >>> SparkConf(False).set("spark.executor.memory", "1g").set("spark.cores.max", 4).get("spark.cores.max")
        '4'
        """
        self._conf[key] = str(value)
        return self

    def setIfMissing(self, key, value):
        """Sets key to value only when it has no value yet.

        >>> conf = SparkConf(False).set("spark.app.name", "kept")
        >>> conf.setIfMissing("spark.app.name", "lost").setIfMissing("spark.x", "y").getAll()
        [('spark.app.name', 'kept'), ('spark.x', 'y')]
        """
        if key not in self._conf:
            self.set(key, value)
        return self

    def setMaster(self, value):
        """Sets spark.master.

        >>> SparkConf(False).setMaster("local[2]").get("spark.master")
        'local[2]'
        """
        return self.set("spark.master", value)

    def setAppName(self, value):
        """Sets spark.app.name.

        >>> SparkConf(False).setAppName("report").get("spark.app.name")
        'report'
        """
        return self.set("spark.app.name", value)

    def setSparkHome(self, value):
        """Sets spark.home.

        >>> SparkConf(False).setSparkHome("/opt/spark").get("spark.home")
        '/opt/spark'
        """
        return self.set("spark.home", value)

    def setExecutorEnv(self, key=None, value=None, pairs=None):
        """Sets spark.executorEnv.KEY for one key and value, or for each pair.

        >>> conf = SparkConf(False).setExecutorEnv("TZ", "UTC").setExecutorEnv(pairs=[("LANG", "C")])
        >>> conf.get("spark.executorEnv.TZ"), conf.get("spark.executorEnv.LANG")
        ('UTC', 'C')
        """
        if (key is not None and pairs is not None) or (key is None and pairs is None):
            raise RuntimeError("Either pass one key-value pair or a list of pairs")
        for k, v in [(key, value)] if key is not None else pairs:
            self.set("spark.executorEnv." + k, v)
        return self

    def setAll(self, pairs):
        """Sets every (key, value) pair.

        >>> SparkConf(False).setAll([("spark.a", "1"), ("spark.b", "2")]).getAll()
        [('spark.a', '1'), ('spark.b', '2')]
        """
        for k, v in pairs:
            self.set(k, v)
        return self

    def get(self, key, defaultValue=None):
        """The value of key, or defaultValue when it has none.

        >>> conf = SparkConf(False).set("spark.a", "1")
        >>> conf.get("spark.a"), conf.get("spark.b"), conf.get("spark.b", "none")
        ('1', None, 'none')
        """
        return self._conf.get(key, defaultValue)

    def getAll(self):
        """Every (key, value) pair set, as a list.

        >>> SparkConf(False).set("spark.a", "1").getAll()
        [('spark.a', '1')]
        """
        return list(self._conf.items())

    def contains(self, key):
        """Whether key has a value.

        >>> conf = SparkConf(False).set("spark.a", "1")
        >>> conf.contains("spark.a"), conf.contains("spark.b")
        (True, False)
        """
        return key in self._conf

    def toDebugString(self):
        """The settings as key=value lines.

        >>> print(SparkConf(False).set("spark.a", "1").set("spark.b", "2").toDebugString())
        spark.a=1
        spark.b=2
        """
        return "\n".join("%s=%s" % kv for kv in self._conf.items())

    def __repr__(self):
        return "<kiln.conf.SparkConf %r>" % self._conf


def _size(default_unit):
    """A Spark size ('2g', '512m', '1gb', '3t'; a bare number in
    default_unit) as kiln writes one."""
    def convert(value):
        m = re.fullmatch(r"\s*(\d+)\s*([kmgtp]?)b?\s*", value.lower())
        if not m:
            raise ValueError("bad size %r (a number with k, m, g or t)" % value)
        n, unit = int(m.group(1)), m.group(2) or default_unit
        shift = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}[unit]
        return str(n << shift)
    return convert


def _max_result(value):
    size = _size("")(value)
    return size if size != "0" else str(1 << 50)  # Spark's 0: no limit


# spark key -> (kiln key, conversion), or a special meaning handled by
# the Context: "master", "app", "parallelism", "env", "files", "pyfiles".
SPARK_KEYS = {
    "spark.master": ("master", None),
    "spark.app.name": ("app", None),
    "spark.default.parallelism": ("parallelism", int),
    "spark.task.maxFailures": ("task.max_failures", None),
    "spark.executor.memory": ("task.memory_limit", _size("m")),
    "spark.python.worker.memory": ("task.memory", _size("m")),
    "spark.driver.maxResultSize": ("driver.max_result_size", _max_result),
    "spark.task.cpus": ("env", "OMP_NUM_THREADS"),
    "spark.files": ("files", None),
    "spark.submit.pyFiles": ("pyfiles", None),
}

# spark keys whose value kiln has anyway, so they are not reported
AS_KILN_DOES = {
    "spark.python.worker.reuse": "true",   # one interpreter per executor, for every task of the application
    "spark.submit.deployMode": "client",   # the script is the driver's client
}


class Resolved:
    """What a Context's settings come to."""

    def __init__(self):
        self.kiln = {}          # kiln's per-job keys for the driver
        self.env = {}           # the executors' environment
        self.parallelism = None
        self.master = None
        self.app = None
        self.files = []
        self.py_files = []
        self.unused = []        # "key=value (why)" for the warning


def resolve(settings):
    """settings: {key: value} from the SparkConf, the conf dict and
    `kiln submit --conf`. Returns a Resolved."""
    r = Resolved()
    for key, value in settings.items():
        if key.startswith("spark.executorEnv."):
            r.env.setdefault(key[len("spark.executorEnv."):], value)
            continue
        if not key.startswith("spark."):
            r.kiln[key] = value  # kiln's own key: the driver checks it
            continue
        if key in AS_KILN_DOES:
            if value.strip().lower() != AS_KILN_DOES[key]:
                r.unused.append("%s=%s (kiln always runs as %s)" % (key, value, AS_KILN_DOES[key]))
            continue
        what = SPARK_KEYS.get(key)
        if what is None:
            r.unused.append(key)
            continue
        target, conv = what
        try:
            if target == "master":
                r.master = value
            elif target == "app":
                r.app = value
            elif target == "parallelism":
                r.parallelism = conv(value)
            elif target == "env":
                r.env.setdefault(conv, value)
            elif target == "files":
                r.files += [p.strip() for p in value.split(",") if p.strip()]
            elif target == "pyfiles":
                r.py_files += [p.strip() for p in value.split(",") if p.strip()]
            else:
                r.kiln.setdefault(target, conv(value) if conv else value)
        except ValueError as e:
            raise ValueError("SparkConf %s=%s: %s" % (key, value, e)) from None
    return r


def warn_unused(unused):
    if unused:
        sys.stderr.write("kiln: SparkConf keys with no kiln meaning, kept in sc.getConf() and not used: %s\n"
                         % ", ".join(sorted(unused)))
