"""More of PySpark's SparkContext API: getOrCreate, the thread's local
properties and job group, what the application is (startTime, version,
uiWebUrl, defaultMinPartitions), the log level, and addFile of a
directory.

Context (context.py) takes these methods from MoreContext.
"""
import os
import threading
import time

from . import pyspark_compat
from ._rddmore import _HADOOP_IN, _needs_jvm

_LOG_LEVELS = ("ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN")


class MoreContext:
    """Mixed into Context."""

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
        d = getattr(MoreContext._props, "d", None)
        if d is None:
            d = MoreContext._props.d = {}
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
        from .status import StatusTracker
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
        import tempfile
        from .files import SparkFiles
        if self._files_dir is None:  # inside a local cluster's directory, which goes with it however we end
            self._files_dir = tempfile.mkdtemp(prefix="kiln-files-", dir=self._local.dir if self._local else None)
            SparkFiles._client_root = self._files_dir
        link = os.path.join(self._files_dir, name)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(path, link)


def _master_host(master):
    """The host of a master HOST:PORT, [V6]:PORT or SCHEME://HOST:PORT."""
    if "://" in master:
        master = master.split("://", 1)[1]
    if master.startswith("["):
        return master[:master.index("]") + 1]
    return master.rsplit(":", 1)[0] if ":" in master else master


def start_ms():
    return int(time.time() * 1000)
