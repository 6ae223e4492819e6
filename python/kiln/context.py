"""Context (alias SparkContext): an application on a kiln cluster: the
session with the driver, the sources (textFile, parallelize, range, whole
files, pickle files), shared variables (broadcast, accumulator), files
and modules shipped to executors, checkpoints, and the rest of PySpark's
SparkContext (the active context, the thread's local properties and job
group, what the application is, the log level).
"""
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid

from . import _build, _kiln, _lineage, _stage, pyspark_compat
from ._nojvm import _HADOOP_IN, _needs_jvm
from ._pipeline import _from_pickled_lines, _list_input_files, _partitions, _range_parts, _read_whole
from ._ship import Shipper
from .accumulators import Accumulator, ParamAccumulator
from .broadcast import Broadcast
from .conf import SparkConf, resolve, warn_unused
from .files import SparkFiles
from .rdd import RDD
from .status import StatusTracker


def _parse_master(master):
    """("local", slots) for local, local[N], local[*]; ("cluster",
    "HOST:PORT") for HOST:PORT, kiln://HOST:PORT and spark://HOST:PORT (the
    scheme dropped: Context notes it for spark://, whose daemons kiln's are not)."""
    if master == "local" or master.startswith("local["):
        inside = master[len("local"):]
        if inside in ("", "[*]"):
            return "local", os.cpu_count() or 1
        n = inside[1:-1]
        if inside.endswith("]") and n.isdigit() and 0 < int(n) <= 1024:
            return "local", int(n)
        raise ValueError("master %r: expected local, local[N] (N from 1 to 1024) or local[*]" % master)
    scheme, sep, rest = master.partition("://")
    if sep:
        if scheme not in ("kiln", "spark"):
            raise ValueError("master %r: kiln runs on local, local[N], local[*], HOST:PORT, kiln://HOST:PORT or "
                             "spark://HOST:PORT" % master)
        master = rest
    host, colon, port = master.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise ValueError("master %r: expected HOST:PORT, kiln://HOST:PORT, spark://HOST:PORT, local, local[N] or "
                         "local[*]" % master)
    return "cluster", master


def _on_executor():
    return "_kiln_exec" in sys.builtin_module_names  # built into kiln's executors only


_LOG_LEVELS = ("ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN")


def _master_host(master):
    """The host of a master HOST:PORT, [V6]:PORT or SCHEME://HOST:PORT."""
    if "://" in master:
        master = master.split("://", 1)[1]
    if master.startswith("["):
        return master[:master.index("]") + 1]
    return master.rsplit(":", 1)[0] if ":" in master else master


def start_ms():
    return int(time.time() * 1000)


class Context:
    """The entry point, with PySpark's SparkContext arguments in PySpark's
    order: Context(master=None, appName=None, sparkHome=None, pyFiles=None,
    environment=None, batchSize=0, serializer=None, conf=None, ...).

    The master is the argument, else the conf's spark.master, else what
    `kiln submit --master` passed ($KILN_MASTER), else local[2] (a private
    driver and worker for this script). environment= and the conf's
    spark.executorEnv.* are set in the executors' os.environ; pyFiles= are
    shipped as by addPyFile. conf is a SparkConf, a dict, or KEY=VALUE
    strings; see kiln.conf for what spark.* keys do. batchSize, serializer
    and the profilers are accepted and change nothing (kiln's record
    formats are its own; results are the same)."""

    _active = None

    def __init__(self, master=None, appName=None, sparkHome=None, pyFiles=None, environment=None, batchSize=0,
                 serializer=None, conf=None, gateway=None, jsc=None, profiler_cls=None, udf_profiler_cls=None,
                 memory_profiler_cls=None, *, app_name=None):
        if _on_executor():
            raise RuntimeError("SparkContext should only be created and accessed on the driver: this code runs "
                               "in a kiln executor (create the context in the client script only)")
        if gateway is not None or jsc is not None:
            raise ValueError("kiln has no JVM: gateway= and jsc= cannot be used")
        if isinstance(conf, SparkConf):
            conf_pairs = conf.getAll()
        elif isinstance(conf, dict):
            conf_pairs = list(conf.items())
        elif conf:
            conf_pairs = [tuple(c.split("=", 1)) for c in conf]
        else:
            conf_pairs = []
        settings = {k: str(v) for k, v in conf_pairs}
        for line in os.environ.get("KILN_CONF", "").split("\n"):
            if "=" in line:
                k, v = line.split("=", 1)
                settings.setdefault(k, v)
        if sparkHome is not None:
            settings["spark.home"] = sparkHome
        res = resolve(settings)
        master = master or res.master or os.environ.get("KILN_MASTER") or "local[2]"
        app_name = app_name or appName or res.app or os.path.basename(sys.argv[0] or "python") or "python"
        kind, where = _parse_master(master)
        self.master = master
        self.appName = app_name
        self.sparkHome = sparkHome
        self.environment = dict(res.env)
        self.environment.update({str(k): str(v) for k, v in (environment or {}).items()})
        self._conf = settings
        self._conf["spark.master"] = master
        self._conf["spark.app.name"] = app_name
        # the secret named, else (None) the default one, as `kiln` uses;
        # local[N] makes a fresh one for its private cluster instead
        secret = os.environ.get("KILN_SECRET_FILE") or None
        self._local = None
        if kind == "local":
            self._local = _kiln.LocalCluster(os.environ.get("KILN_BINDIR") or _build.bindir, where, secret)
            where = self._local.master
            secret = self._local.secret_file
            self.defaultParallelism = res.parallelism or _parse_master(self.master)[1]
        else:
            self.defaultParallelism = res.parallelism or 2
        self._session = _lineage.Recorder(
            _kiln.Session(where, secret, app_name, ["%s=%s" % kv for kv in res.kiln.items()]),
            lambda: self.getLocalProperty("spark.jobGroup.id"))
        self._start_ms = start_ms()
        self._conf["spark.app.id"] = self._session.app_id
        banner = os.environ.pop("KILN_SUBMIT_BANNER", None)  # `kiln submit`: said first, once
        if banner is not None:
            shown = "%s (a private driver and worker)" % (banner or master) if banner or kind == "local" else \
                "the kiln driver at %s" % where
            sys.stderr.write("kiln: application %s running on %s, UI %s\n"
                             % (self._session.app_id, shown, self._session.ui or "(none)"))
        if master.startswith("spark://"):
            sys.stderr.write("kiln: master %s: the spark:// scheme is dropped; kiln's driver at %s\n" % (master, where))
        warn_unused(res.unused)
        self._deps = [("env", k, v) for k, v in sorted(self.environment.items())]  # (kind, name, hex) every stage needs
        self._shipper = Shipper()
        self._modules_hex = None
        self._files_dir = None  # made by the first addFile
        self._added_paths = {}  # file name -> the path addFile shipped under it
        self._rdd_seq = 0
        self._empty_nodes = set()  # emptyRDD()'s nodes
        self._checkpoint_dir = None  # setCheckpointDir
        Context._active = self
        for p in list(pyFiles or ()) + res.py_files + list(filter(None, os.environ.get("KILN_PY_FILES", "").split(","))):
            self.addPyFile(p)
        for p in res.files + list(filter(None, os.environ.get("KILN_FILES", "").split(","))):
            self.addFile(p)

    def getConf(self):
        """A copy of the context's settings, spark.master, spark.app.name and
        spark.app.id included.

        >>> conf = sc.getConf()
        >>> conf.get("spark.master") == sc.master, conf.get("spark.app.name") == sc.appName
        (True, True)
        """
        return SparkConf(loadDefaults=False).setAll(self._conf.items())

    def __reduce__(self):
        raise RuntimeError("a SparkContext can be used only in the client script, not inside a function that runs "
                           "on executors (a transformation, an action's function or a broadcast value)")

    # ---- lifecycle ---------------------------------------------------

    @property
    def applicationId(self):
        """The application's id given by the driver.

        >>> isinstance(sc.applicationId, str) and len(sc.applicationId) > 0
        True
        """
        return self._session.app_id

    def stop(self):
        """Ends the application (and a local[N] cluster of this script).

        >>> other = SparkContext(sc.master, "stopped-at-once")
        >>> other.parallelize([1, 2]).count()
        2
        >>> other.stop()
        """
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._local is not None:
            self._local.stop()
            self._local = None
        if self._files_dir:
            shutil.rmtree(self._files_dir, ignore_errors=True)
            self._files_dir = None
            SparkFiles._client_root = None
        if Context._active is self:
            Context._active = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def __del__(self):
        try:
            self.stop()
        except Exception:
            pass

    # ---- what stages need -------------------------------------------

    def _stage_deps(self):
        data = self._shipper.archive()
        deps = list(self._deps)
        if data is not None:
            self._modules_hex = self._session.broadcast(data)
            deps.append(("modules", "modules.zip", self._modules_hex))
        if self._shipper.root is not None:  # named by a worker that still misses a module
            deps.append(("project", self._shipper.root, ""))
        if "pyspark" in sys.modules and getattr(sys.modules["pyspark"], "__kiln__", False):
            deps.append(("pyspark", "", ""))  # functions may name pyspark.* modules
        return deps

    def _next_rdd_id(self):
        self._rdd_seq += 1
        return self._rdd_seq

    # ---- sources ------------------------------------------------------

    def textFile(self, name, minPartitions=None, use_unicode=True):
        r"""The lines of a file, a directory or a glob (.gz files
        decompressed); str, or with use_unicode=False the lines' bytes as
        they are, as PySpark's.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "lines.txt")
        >>> with open(path, "w") as f:
        ...     _ = f.write("first\nsecond\n\nlast")
        >>> sc.textFile(path).collect()
        ['first', 'second', '', 'last']
        >>> sc.textFile(path, use_unicode=False).first()
        b'first'
        """
        n = minPartitions or min(self.defaultParallelism, 2)
        return RDD._of(self, self._session.text_file(os.path.abspath(name), n), _stage.TEXT if use_unicode else
                       _stage.BYTES)

    def pickleFile(self, name, minPartitions=None):
        """The RDD of the objects saveAsPickleFile wrote to name.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "nums")
        >>> sc.parallelize(range(5), 2).saveAsPickleFile(path)
        >>> sorted(sc.pickleFile(path, 3).collect())
        [0, 1, 2, 3, 4]
        """
        return self.textFile(name, minPartitions).flatMap(_from_pickled_lines)

    def parallelize(self, c, numSlices=None):
        """A local collection as an RDD of numSlices partitions (default:
        defaultParallelism).

        >>> sc.parallelize([0, 2, 3, 4, 6], 5).glom().collect()
        [[0], [2], [3], [4], [6]]
        >>> sc.parallelize(range(0, 6, 2), 5).glom().collect()
        [[], [0], [], [2], [4]]
        """
        n = numSlices or self.defaultParallelism
        if isinstance(c, range):
            return self._range(c, n)
        return RDD._of(self, self._session.parallelize(list(c), n, _stage.VALUE), _stage.VALUE)

    def range(self, start, end=None, step=1, numSlices=None):
        """The integers of range(start, end, step), as PySpark's (end omitted:
        range(0, start)).

        >>> sc.range(5).collect()
        [0, 1, 2, 3, 4]
        >>> sc.range(2, 4).collect(), sc.range(1, 7, 2).collect()
        ([2, 3], [1, 3, 5])
        """
        if end is None:
            start, end = 0, start
        return self._range(range(start, end, step), numSlices or self.defaultParallelism)

    def _range(self, r, n):
        base = RDD._of(self, self._session.range(0, n, n), _stage.I64)
        return base._pipe(_partitions(_range_parts(r, n)), "range(%d, %d, %d)" % (r.start, r.stop, r.step))

    def wholeTextFiles(self, path, minPartitions=None, use_unicode=True):
        """(path, content) for every file named by path (a file, a directory
        of files, a glob, or several of these separated by commas), paths as
        file: URIs as Spark's; each file is read whole by one task. With
        use_unicode=False both come back as UTF-8 bytes.

        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> for n, text in [("a.txt", "one\\ntwo\\n"), ("b.txt", "three")]:
        ...     with open(os.path.join(d, n), "w") as f:
        ...         _ = f.write(text)
        >>> sorted((os.path.basename(p), t) for p, t in sc.wholeTextFiles(d).collect())
        [('a.txt', 'one\\ntwo\\n'), ('b.txt', 'three')]
        >>> sc.wholeTextFiles(d).keys().first().startswith("file:/")
        True
        """
        return self._whole_files(path, minPartitions, _read_whole(True, use_unicode))

    def binaryFiles(self, path, minPartitions=None):
        """(path, bytes) for every file named by path, as wholeTextFiles.

        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> with open(os.path.join(d, "x.bin"), "wb") as f:
        ...     _ = f.write(bytes([0, 1, 255]))
        >>> [(os.path.basename(p), b) for p, b in sc.binaryFiles(d).collect()]
        [('x.bin', b'\\x00\\x01\\xff')]
        """
        return self._whole_files(path, minPartitions, _read_whole(False, False))

    def _whole_files(self, path, minPartitions, read):
        files = _list_input_files(path)
        n = max(1, min(len(files), minPartitions or min(self.defaultParallelism, 2)))
        return self.parallelize(files, n).map(read)

    def emptyRDD(self):
        """An RDD of no partitions (the engine's node has one, empty: the
        RDD reports 0, and actions that reduce per partition raise as
        PySpark's do).

        >>> rdd = sc.emptyRDD()
        >>> rdd.getNumPartitions(), rdd.count(), rdd.collect()
        (0, 0, [])
        """
        node = self._session.parallelize([], 1, _stage.VALUE)
        self._empty_nodes.add(node)
        return RDD._of(self, node, _stage.VALUE)

    def union(self, rdds):
        """The elements of every RDD in the list, one after another.

        >>> sc.union([sc.parallelize([1]), sc.parallelize([2, 3])]).collect()
        [1, 2, 3]
        """
        rdds = list(rdds)
        out = rdds[0]
        for r in rdds[1:]:
            out = out.union(r)
        return out

    # ---- shared values and files ---------------------------------------

    def broadcast(self, value):
        """A read-only value sent once to each worker, read in tasks as .value.

        >>> b = sc.broadcast([10, 20, 30])
        >>> b.value
        [10, 20, 30]
        >>> sc.parallelize([0, 2]).map(lambda i: b.value[i]).collect()
        [10, 30]
        """
        return Broadcast(self, value)

    def accumulator(self, value, accum_param=None):
        """A shared variable tasks can only add to; the driver reads .value. The
        param is taken from the value's type (int, float, complex) when not given.

        >>> acc = sc.accumulator(0)
        >>> sc.parallelize(range(5)).foreach(acc.add)
        >>> acc.value
        10
        >>> sc.accumulator(1.5).value
        1.5
        """
        if accum_param is not None:  # any values the param adds, merged in the client
            return ParamAccumulator(self, value, accum_param)
        return Accumulator(self, value)

    def addFile(self, path, recursive=False):
        """Ships the file at path to every executor, as SparkFiles.get(its
        name). As Spark's: adding the same path again is ignored (with a
        warning: executors and SparkFiles.get in the client keep the first
        content, which the client keeps a copy of), and another path with
        the same name is refused.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "lookup-example.txt")
        >>> with open(path, "w") as f:
        ...     _ = f.write("42")
        >>> sc.addFile(path)
        >>> sc.parallelize([0]).map(lambda _: open(SparkFiles.get("lookup-example.txt")).read()).collect()
        ['42']
        """
        path = os.path.abspath(path)
        name = os.path.basename(path)
        if os.path.isdir(path):
            return self._add_dir(path, recursive)
        if not self._first_add(path, name):
            return
        with open(path, "rb") as f:
            data = f.read()
        hexid = self._session.broadcast(data)
        self._deps.append(("file", name, hexid))
        if self._files_dir is None:  # inside a local cluster's directory, which goes with it however we end
            self._files_dir = tempfile.mkdtemp(prefix="kiln-files-", dir=self._local.dir if self._local else None)
            SparkFiles._client_root = self._files_dir
        with open(os.path.join(self._files_dir, name), "wb") as f:
            f.write(data)  # the bytes the executors get, not a link to a file that may change

    def addPyFile(self, path):
        r"""Ships a .py, .zip or .egg to every executor's sys.path (and puts
        it on the client's); the same rules as addFile.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "kiln_doc_helper.py")
        >>> with open(path, "w") as f:
        ...     _ = f.write("def twice(x):\n    return 2 * x\n")
        >>> sc.addPyFile(path)
        >>> sc.parallelize([1, 2]).map(lambda x: __import__("kiln_doc_helper").twice(x)).collect()
        [2, 4]
        """
        path = os.path.abspath(path)
        name = os.path.basename(path)
        if not self._first_add(path, name):
            return
        with open(path, "rb") as f:
            hexid = self._session.broadcast(f.read())
        self._deps.append(("pyfile", name, hexid))
        entry = os.path.dirname(path) if name.endswith(".py") else path
        if entry not in sys.path:
            sys.path.insert(0, entry)

    def _first_add(self, path, name):
        """True the first time path is added; False (with Spark's warning)
        when it was added before; raises when another path had its name."""
        old = self._added_paths.get(name)
        if old is None:
            self._added_paths[name] = path
            return True
        if old != path:
            raise ValueError("File %s was already registered with a different path (old path = %s, new path = %s)"
                             % (name, old, path))
        sys.stderr.write("kiln: the path %s has been added already; overwriting added paths is not supported "
                         "(executors keep the first content)\n" % path)
        return False

    # ---- checkpoints --------------------------------------------------

    def setCheckpointDir(self, dirName):
        """Where rdd.checkpoint() writes: a new directory dirName/<uuid>
        (as Spark's), which every worker and this client must see at the
        same path (one machine, or a shared file system).

        >>> import os, tempfile
        >>> base = tempfile.mkdtemp()
        >>> sc.setCheckpointDir(base)
        >>> os.path.dirname(sc.getCheckpointDir()) == "file:" + base
        True
        """
        d = os.path.join(os.path.abspath(dirName[len("file:"):] if dirName.startswith("file:") else dirName),
                         str(uuid.uuid4()))
        os.makedirs(d)
        self._checkpoint_dir = d

    def getCheckpointDir(self):
        """The directory setCheckpointDir made (a file: URI), or None
        (see setCheckpointDir).

        >>> import tempfile
        >>> sc.setCheckpointDir(tempfile.mkdtemp())
        >>> sc.getCheckpointDir().startswith("file:/")
        True
        """
        return "file:" + self._checkpoint_dir if self._checkpoint_dir else None

    # ---- more of PySpark's SparkContext: the active context, local properties and job
    # groups, what the application is, the log level, addFile of a directory

    hadoopFile = _needs_jvm("hadoopFile", _HADOOP_IN, "sc")
    hadoopRDD = _needs_jvm("hadoopRDD", _HADOOP_IN, "sc")
    newAPIHadoopFile = _needs_jvm("newAPIHadoopFile", _HADOOP_IN, "sc")
    newAPIHadoopRDD = _needs_jvm("newAPIHadoopRDD", _HADOOP_IN, "sc")
    sequenceFile = _needs_jvm("sequenceFile", _HADOOP_IN, "sc")

    @property
    def _jvm(self):
        raise AttributeError("_jvm is PySpark's Py4J gateway to Spark's JVM; kiln's engine is C and has none")

    @property
    def _jsc(self):
        raise AttributeError("_jsc is PySpark's handle on the JVM's JavaSparkContext; kiln's engine is C and has none")

    _props = threading.local()

    @classmethod
    def getOrCreate(cls, conf=None):
        """The running SparkContext, or a new one made with conf.

        >>> SparkContext.getOrCreate() is sc
        True
        """
        return cls._active if cls._active is not None else cls(conf=conf)

    # ---- local properties (per thread, as PySpark's) ----------------------

    def _local_props(self):
        d = getattr(Context._props, "d", None)
        if d is None:
            d = Context._props.d = {}
        return d

    def setLocalProperty(self, key, value):
        """Sets a property of the jobs this thread starts (None removes it).
        Tasks read it with TaskContext.getLocalProperty: a stage carries the
        properties its thread had set when the stage was built, at the
        first action over its RDD.

        >>> sc.setLocalProperty("team", "ops")
        >>> sc.getLocalProperty("team")
        'ops'
        >>> from kiln import TaskContext
        >>> sc.parallelize([1], 1).map(lambda x: TaskContext.get().getLocalProperty("team")).collect()
        ['ops']
        >>> sc.setLocalProperty("team", None)
        >>> sc.getLocalProperty("team") is None
        True
        """
        if value is None:
            self._local_props().pop(key, None)
        else:
            self._local_props()[key] = str(value)

    def getLocalProperty(self, key):
        """The thread's local property key, or None.

        >>> sc.getLocalProperty("never.set") is None
        True
        """
        return self._local_props().get(key)

    def setJobGroup(self, groupId, description, interruptOnCancel=False):
        """Puts the jobs this thread starts in a group, with a description.

        >>> sc.setJobGroup("nightly", "the nightly report")
        >>> sc.getLocalProperty("spark.jobGroup.id"), sc.getLocalProperty("spark.job.description")
        ('nightly', 'the nightly report')
        >>> sc.clearJobGroup()
        >>> sc.getLocalProperty("spark.jobGroup.id") is None
        True
        """
        self.setLocalProperty("spark.jobGroup.id", groupId)
        self.setLocalProperty("spark.job.description", description)
        self.setLocalProperty("spark.job.interruptOnCancel", "true" if interruptOnCancel else "false")

    def clearJobGroup(self):
        """Takes this thread's later jobs out of their group.

        >>> sc.setJobGroup("g", "d"); sc.clearJobGroup()
        >>> sc.getLocalProperty("spark.job.description") is None
        True
        """
        for k in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
            self.setLocalProperty(k, None)

    def setJobDescription(self, value):
        """Describes the jobs this thread starts.

        >>> sc.setJobDescription("nightly totals")
        >>> sc.getLocalProperty("spark.job.description")
        'nightly totals'
        >>> sc.setJobDescription(None)
        """
        self.setLocalProperty("spark.job.description", value)

    def cancelJobGroup(self, groupId):
        """Cancels the running jobs of the group: each fails with "Job N
        cancelled part of cancelled job group GROUP", as Spark's, and its
        running tasks are cancelled.

        >>> sc.cancelJobGroup("nothing-runs-here")  # a group with no running job: nothing happens
        """
        ids = [j for j, g in list(self._session.groups.items()) if g == groupId]
        if ids:
            self._session.cancel_jobs(ids, "part of cancelled job group %s" % groupId)

    def cancelAllJobs(self):
        """Cancels every running job of this application.

        >>> sc.cancelAllJobs()  # nothing runs: nothing happens
        >>> sc.parallelize([1, 2]).count()
        2
        """
        ids = list(self._session.groups)
        if ids:
            self._session.cancel_jobs(ids, "as part of cancellation of all jobs")

    # ---- what the application is ------------------------------------------

    @property
    def startTime(self):
        """When this context started, in milliseconds since the epoch.

        >>> import time
        >>> 0 <= time.time() * 1000 - sc.startTime < 86400 * 1000
        True
        """
        return self._start_ms

    @property
    def version(self):
        """The PySpark API level kiln follows.

        >>> sc.version
        '3.5.0'
        """
        return pyspark_compat.PYSPARK_VERSION

    @property
    def defaultMinPartitions(self):
        """The default minPartitions of textFile: min(defaultParallelism, 2).

        >>> sc.defaultMinPartitions == min(sc.defaultParallelism, 2)
        True
        """
        return min(self.defaultParallelism, 2)

    @property
    def uiWebUrl(self):
        """The driver's web UI: its HTTP port (which the driver reports when
        the application registers) on the master's host.

        >>> sc.uiWebUrl.startswith("http://")
        True
        """
        port = self._session.http_port
        if not port:
            return None
        return "http://%s:%d" % (_master_host(self._local.master if self._local else self.master), port)

    def statusTracker(self):
        """A StatusTracker of this application's jobs and stages.

        >>> sc.statusTracker().getActiveJobsIds()
        []
        """
        return StatusTracker(self)

    def setLogLevel(self, logLevel):
        """Checks and keeps the level (kiln's client logs nothing at run
        time; the daemons log as their configuration says).

        >>> sc.setLogLevel("WARN")
        >>> sc.setLogLevel("LOUD")
        Traceback (most recent call last):
        ...
        ValueError: setLogLevel: LOUD is not one of ALL, DEBUG, ERROR, FATAL, INFO, OFF, TRACE, WARN
        """
        if str(logLevel).upper() not in _LOG_LEVELS:
            raise ValueError("setLogLevel: %s is not one of %s" % (logLevel, ", ".join(_LOG_LEVELS)))
        self._log_level = str(logLevel).upper()

    # ---- addFile of a directory --------------------------------------------

    def _add_dir(self, path, recursive):
        """Every file under the directory path, shipped under NAME/REL so
        SparkFiles.get(NAME) is the directory on executors too."""
        if not recursive:
            raise ValueError("Added file %s is a directory and recursive is not turned on." % path)
        name = os.path.basename(path)
        deps = []
        for d, subdirs, files in os.walk(path):
            subdirs.sort()
            for f in sorted(files):
                p = os.path.join(d, f)
                with open(p, "rb") as fh:
                    hexid = self._session.broadcast(fh.read())
                deps.append(("file", os.path.join(name, os.path.relpath(p, path)), hexid))
        prefix = name + os.sep
        self._deps = [x for x in self._deps if not (x[0] == "file" and (x[1] == name or x[1].startswith(prefix)))]
        self._deps.extend(deps)
        self._client_link(path, name)

    def _client_link(self, path, name):
        if self._files_dir is None:  # inside a local cluster's directory, which goes with it however we end
            self._files_dir = tempfile.mkdtemp(prefix="kiln-files-", dir=self._local.dir if self._local else None)
            SparkFiles._client_root = self._files_dir
        link = os.path.join(self._files_dir, name)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(path, link)


SparkContext = Context
