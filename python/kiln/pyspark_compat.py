"""kiln under PySpark's module names, so an unchanged PySpark script runs.

install() puts a finder first on sys.meta_path that answers `pyspark` and
`pyspark.<module>` with kiln's own modules: `import pyspark.rdd` gives the
module object kiln.rdd itself (so `pyspark.rdd.RDD is kiln.rdd.RDD`), and
`pyspark` is a small package whose names (SparkContext, SparkConf, RDD,
StorageLevel, ...) are kiln's. `pyspark.sql` and everything under it map
to kiln.sql when this build has it; when it does not, importing them
raises ImportError saying so.

Nothing is installed into the system: `kiln submit job.py` puts a folder
holding a bootstrap `pyspark/__init__.py` on the script's PYTHONPATH, and
other launchers call install() before their first `import pyspark`.
Executors install the same finder when a stage comes from a client that
uses it, so a function or module pickled by reference under a `pyspark.*`
name resolves there too.
"""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

# pyspark's module -> kiln's, first that exists wins
MODULES = {
    "pyspark.rdd": ("kiln.rdd",),
    "pyspark.conf": ("kiln.conf", "kiln.context"),
    "pyspark.context": ("kiln.context",),
    "pyspark.storagelevel": ("kiln.storagelevel",),
    "pyspark.taskcontext": ("kiln.taskcontext",),
    "pyspark.accumulators": ("kiln.accumulators",),
    "pyspark.broadcast": ("kiln.broadcast",),
    "pyspark.files": ("kiln.files",),
    "pyspark.statcounter": ("kiln.stats",),
    "pyspark.status": ("kiln.status",),
}

# the top-level names of `pyspark` and the kiln modules that hold them
NAMES = {
    "SparkContext": "kiln.context", "SparkConf": "kiln.context", "RDD": "kiln.rdd",
    "StorageLevel": "kiln.storagelevel", "Broadcast": "kiln.broadcast", "Accumulator": "kiln.accumulators",
    "AccumulatorParam": "kiln.accumulators", "SparkFiles": "kiln.files", "StatCounter": "kiln.stats",
    "StatusTracker": "kiln.status", "SparkJobInfo": "kiln.status", "SparkStageInfo": "kiln.status",
    "TaskContext": "kiln.taskcontext", "BarrierTaskContext": "kiln.taskcontext",
    "BarrierTaskInfo": "kiln.taskcontext",
}

# the PySpark API level kiln follows (pyspark.__version__, sc.version)
PYSPARK_VERSION = "3.5.0"


def _exists(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def target(name):
    """The kiln module that stands for pyspark module `name`; ImportError
    with the reason when kiln has none."""
    if name == "pyspark.sql" or name.startswith("pyspark.sql."):
        if not _exists("kiln.sql"):
            raise ImportError("%s: kiln's SQL layer (kiln.sql) is not available in this build of kiln" % name,
                              name=name)
        return "kiln" + name[len("pyspark"):]
    for t in MODULES.get(name, ()):
        if _exists(t):
            return t
    if name in MODULES:
        raise ImportError("%s: this build of kiln has no %s" % (name, MODULES[name][0]), name=name)
    raise ImportError("kiln does not offer %s (it offers pyspark, %s and pyspark.sql)"
                      % (name, ", ".join(sorted(MODULES))), name=name)


def top_getattr(name):
    """Module __getattr__ of the `pyspark` package: kiln's class of that name."""
    where = NAMES.get(name)
    if where is None:
        raise AttributeError("module 'pyspark' (kiln's compat package) has no attribute %r" % name)
    try:
        mod = importlib.import_module(where)
        return getattr(mod, name)
    except (ImportError, AttributeError):
        raise AttributeError("pyspark.%s: this build of kiln has no %s.%s" % (name, where, name)) from None


def fill_package(g):
    """Makes the dict g (a module's globals) kiln's `pyspark` package."""
    g["__kiln__"] = True
    g["__version__"] = PYSPARK_VERSION
    g["__all__"] = sorted(NAMES)
    g["__getattr__"] = top_getattr
    g["__dir__"] = lambda: sorted(set(g) | set(NAMES))


class _Alias(importlib.abc.Loader):
    """Loads a pyspark.* name as an existing kiln module object."""

    def __init__(self, kiln_name):
        self.kiln_name = kiln_name
        self.spec = None

    def create_module(self, spec):
        mod = importlib.import_module(self.kiln_name)
        self.spec = mod.__spec__
        return mod

    def exec_module(self, module):
        module.__spec__ = self.spec  # the import system set the alias's; keep kiln's own


class _Package(importlib.abc.Loader):
    """Makes the top-level `pyspark` (where no bootstrap folder did)."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        fill_package(module.__dict__)


class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target_=None):
        if fullname == "pyspark":
            if "pyspark" in sys.modules:
                return None
            return importlib.machinery.ModuleSpec("pyspark", _Package(), is_package=True)
        if not fullname.startswith("pyspark."):
            return None
        t = target(fullname)
        return importlib.machinery.ModuleSpec(fullname, _Alias(t), is_package=_is_package(t))


def _is_package(name):
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.submodule_search_locations is not None


def install():
    """Makes `import pyspark` and `import pyspark.<module>` give kiln's
    modules in this interpreter, and ships that with the job's stages.
    Refuses when a real PySpark is already imported."""
    have = sys.modules.get("pyspark")
    if have is not None and not getattr(have, "__kiln__", False):
        raise ImportError("a real PySpark (%s) is already imported: kiln's pyspark names cannot replace it"
                          % getattr(have, "__file__", "pyspark"))
    if not any(isinstance(f, Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, Finder())


def installed():
    return any(isinstance(f, Finder) for f in sys.meta_path)
