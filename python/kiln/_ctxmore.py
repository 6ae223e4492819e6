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

_LOG_LEVELS = ("ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN")


class MoreContext:
    """Mixed into Context."""

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

        >>> sc.setLocalProperty("team", "ops")
        >>> sc.getLocalProperty("team")
        'ops'
        >>> sc.setLocalProperty("team", None)
        >>> sc.getLocalProperty("team") is None
        True
        """
        if value is None:
            self._local_props().pop(key, None)
        else:
            self._local_props()[key] = str(value)

    def getLocalProperty(self, key):
        """The thread's local property key, or None."""
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
        """Takes this thread's later jobs out of their group."""
        for k in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
            self.setLocalProperty(k, None)

    def setJobDescription(self, value):
        """Describes the jobs this thread starts."""
        self.setLocalProperty("spark.job.description", value)

    def cancelJobGroup(self, groupId):
        raise NotImplementedError("kiln's driver cancels whole applications, not single jobs: sc.stop() or "
                                  "`kiln kill %s` ends this one" % self.applicationId)

    def cancelAllJobs(self):
        raise NotImplementedError("kiln's driver cancels whole applications, not single jobs: sc.stop() or "
                                  "`kiln kill %s` ends this one" % self.applicationId)

    # ---- what the application is ------------------------------------------

    @property
    def startTime(self):
        """When this context started, in milliseconds since the epoch."""
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
        """The driver's web UI for a local[N] cluster of this script; None
        for another cluster, whose HTTP address the client is not told
        (it is the driver's --http, 127.0.0.1:8077 by default)."""
        if self._local is None:
            return None
        ports = os.path.join(self._local.dir, "driver", "ports")
        try:
            with open(ports) as f:
                for line in f:
                    k, v = line.split()
                    if k == "http":
                        return "http://127.0.0.1:%s" % v
        except OSError:
            pass
        return None

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


def start_ms():
    return int(time.time() * 1000)
