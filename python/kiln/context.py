"""Context (alias SparkContext): an application on a kiln cluster."""
import os
import shutil
import sys
import tempfile

from . import _build, _kiln, _stage
from ._ship import Shipper
from .accumulators import Accumulator
from .broadcast import Broadcast
from .files import SparkFiles


class SparkConf:
    """Settings for a Context: kiln's per-job keys (task.*, broadcast.*,
    driver.max_result_size), plus the master and application name."""

    def __init__(self, loadDefaults=True):
        self._conf = {}

    def set(self, key, value):
        self._conf[key] = str(value)
        return self

    def setMaster(self, value):
        return self.set("spark.master", value)

    def setAppName(self, value):
        return self.set("spark.app.name", value)

    def setAll(self, pairs):
        for k, v in pairs:
            self.set(k, v)
        return self

    def get(self, key, defaultValue=None):
        return self._conf.get(key, defaultValue)

    def getAll(self):
        return list(self._conf.items())

    def contains(self, key):
        return key in self._conf


def _slots(master):
    inside = master[len("local"):]
    if inside in ("", "[*]"):
        return os.cpu_count() or 1
    if inside.startswith("[") and inside.endswith("]") and inside[1:-1].isdigit() and int(inside[1:-1]) > 0:
        return int(inside[1:-1])
    raise ValueError("master %r: expected local, local[N] or local[*]" % master)


class Context:
    """The entry point: Context(master=None, app_name=None, conf=None).

    The master defaults to what `kiln submit --master` passed, else
    $KILN_MASTER, else local[2] (a private driver and worker for this
    script)."""

    _active = None

    def __init__(self, master=None, app_name=None, conf=None, appName=None, **unused):
        conf_pairs = []
        if isinstance(conf, SparkConf):
            conf_pairs = conf.getAll()
        elif isinstance(conf, dict):
            conf_pairs = list(conf.items())
        elif conf:
            conf_pairs = [tuple(c.split("=", 1)) for c in conf]
        settings = dict(conf_pairs)
        master = master or settings.pop("spark.master", None) or os.environ.get("KILN_MASTER") or "local[2]"
        app_name = app_name or appName or settings.pop("spark.app.name", None) or \
            os.path.basename(sys.argv[0] or "python") or "python"
        for line in os.environ.get("KILN_CONF", "").split("\n"):
            if "=" in line:
                k, v = line.split("=", 1)
                settings.setdefault(k, v)
        self.master = master
        self.appName = app_name
        self._conf = settings
        # the secret named, else (None) the default one, as `kiln` uses;
        # local[N] makes a fresh one for its private cluster instead
        secret = os.environ.get("KILN_SECRET_FILE") or None
        self._local = None
        if master.startswith("local"):
            self._local = _kiln.LocalCluster(os.environ.get("KILN_BINDIR") or _build.bindir, _slots(master), secret)
            master = self._local.master
            secret = self._local.secret_file
            self.defaultParallelism = _slots(self.master)
        else:
            self.defaultParallelism = int(settings.get("spark.default.parallelism", 2))
        self._session = _kiln.Session(master, secret, app_name, ["%s=%s" % kv for kv in settings.items()])
        self._deps = []  # (kind, name, hex) every stage needs
        self._shipper = Shipper()
        self._modules_hex = None
        self._files_dir = None  # made by the first addFile
        self._rdd_seq = 0
        self._local_props = {}  # setLocalProperty; travels in each stage's header
        self._checkpoint_dir = None  # setCheckpointDir
        Context._active = self
        for p in filter(None, os.environ.get("KILN_PY_FILES", "").split(",")):
            self.addPyFile(p)
        for p in filter(None, os.environ.get("KILN_FILES", "").split(",")):
            self.addFile(p)

    # ---- lifecycle ---------------------------------------------------

    @property
    def applicationId(self):
        return self._session.app_id

    def stop(self):
        """Ends the application (and a local[N] cluster of this script)."""
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
        return deps

    def _next_rdd_id(self):
        self._rdd_seq += 1
        return self._rdd_seq

    # ---- sources ------------------------------------------------------

    def textFile(self, name, minPartitions=None, use_unicode=True):
        from .rdd import RDD
        n = minPartitions or min(self.defaultParallelism, 2)
        return RDD._of(self, self._session.text_file(os.path.abspath(name), n), _stage.TEXT)

    def parallelize(self, c, numSlices=None):
        from .rdd import RDD
        n = numSlices or self.defaultParallelism
        if isinstance(c, range):
            return self._range(c, n)
        return RDD._of(self, self._session.parallelize(list(c), n, _stage.VALUE), _stage.VALUE)

    def range(self, start, end=None, step=1, numSlices=None):
        if end is None:
            start, end = 0, start
        return self._range(range(start, end, step), numSlices or self.defaultParallelism)

    def _range(self, r, n):
        from .rdd import RDD, _partitions, _range_parts
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
        from ._engine_ops import _read_whole
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
        from ._engine_ops import _read_whole
        return self._whole_files(path, minPartitions, _read_whole(False, False))

    def _whole_files(self, path, minPartitions, read):
        from ._engine_ops import _list_input_files
        files = _list_input_files(path)
        n = max(1, min(len(files), minPartitions or min(self.defaultParallelism, 2)))
        return self.parallelize(files, n).map(read)

    def emptyRDD(self):
        from .rdd import RDD
        return RDD._of(self, self._session.parallelize([], 1, _stage.VALUE), _stage.VALUE)

    def union(self, rdds):
        rdds = list(rdds)
        out = rdds[0]
        for r in rdds[1:]:
            out = out.union(r)
        return out

    # ---- shared values and files ---------------------------------------

    def broadcast(self, value):
        return Broadcast(self, value)

    def accumulator(self, value, accum_param=None):
        return Accumulator(self, value)

    def addFile(self, path, recursive=False):
        path = os.path.abspath(path)
        name = os.path.basename(path)
        with open(path, "rb") as f:
            hexid = self._session.broadcast(f.read())
        self._deps = [d for d in self._deps if not (d[0] == "file" and d[1] == name)]
        self._deps.append(("file", name, hexid))
        if self._files_dir is None:  # inside a local cluster's directory, which goes with it however we end
            self._files_dir = tempfile.mkdtemp(prefix="kiln-files-", dir=self._local.dir if self._local else None)
            SparkFiles._client_root = self._files_dir
        link = os.path.join(self._files_dir, name)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(path, link)

    def addPyFile(self, path):
        path = os.path.abspath(path)
        name = os.path.basename(path)
        with open(path, "rb") as f:
            hexid = self._session.broadcast(f.read())
        self._deps.append(("pyfile", name, hexid))
        entry = os.path.dirname(path) if name.endswith(".py") else path
        if entry not in sys.path:
            sys.path.insert(0, entry)

    def setLogLevel(self, level):
        pass

    # ---- local properties and checkpoints ------------------------------

    def setLocalProperty(self, key, value):
        """Sets (value None: removes) a property that tasks read with
        TaskContext.getLocalProperty: a stage carries the properties set when
        it was built, at the first action over its RDD.

        >>> from kiln import TaskContext
        >>> sc.setLocalProperty("team", "blue")
        >>> sc.parallelize([1], 1).map(lambda x: TaskContext.get().getLocalProperty("team")).collect()
        ['blue']
        >>> sc.setLocalProperty("team", None)
        """
        if value is None:
            self._local_props.pop(key, None)
        else:
            self._local_props[key] = str(value)

    def getLocalProperty(self, key):
        """A property set with setLocalProperty, or None.

        >>> sc.setLocalProperty("k", 3)
        >>> sc.getLocalProperty("k"), sc.getLocalProperty("missing")
        ('3', None)
        >>> sc.setLocalProperty("k", None)
        """
        return self._local_props.get(key)

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
        import uuid
        d = os.path.join(os.path.abspath(dirName[len("file:"):] if dirName.startswith("file:") else dirName),
                         str(uuid.uuid4()))
        os.makedirs(d)
        self._checkpoint_dir = d

    def getCheckpointDir(self):
        """The directory setCheckpointDir made (a file: URI), or None
        (see setCheckpointDir)."""
        return "file:" + self._checkpoint_dir if self._checkpoint_dir else None


SparkContext = Context
