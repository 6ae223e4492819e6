"""SparkSession: the entry point of kiln.sql, over the application's
kiln Context (one per process, shared with RDD code)."""
from . import plan as P
from . import types as T
from .catalog import Catalog
from .dataframe import DataFrame
from .errors import AnalysisException
from .expr import Attr
from .udf import UDFRegistration

# keys of the session itself; every other key goes to the Context (kiln's
# own keys: task.*, broadcast.*, driver.*)
_SESSION_PREFIXES = ("spark.",)


class RuntimeConfig:
    def __init__(self, values):
        self._values = values

    def get(self, key, default=None):
        return self._values.get(key, default)

    def set(self, key, value):
        self._values[key] = str(value) if not isinstance(value, bool) else str(value).lower()

    def unset(self, key):
        self._values.pop(key, None)

    def getAll(self):
        return dict(self._values)

    def isModifiable(self, key):
        return key.startswith("spark.sql.")


class SparkSession:
    _active = None

    class Builder:
        def __init__(self):
            self._options = {}

        def appName(self, name):
            return self.config("spark.app.name", name)

        def master(self, master):
            return self.config("spark.master", master)

        def config(self, key=None, value=None, conf=None, map=None):
            if conf is not None:
                for k, v in conf.getAll():
                    self._options[k] = str(v)
            if map is not None:
                for k, v in map.items():
                    self._options[k] = str(v)
            if key is not None:
                self._options[key] = str(value) if not isinstance(value, bool) else str(value).lower()
            return self

        def enableHiveSupport(self):
            """Accepted: kiln's catalog is its in-memory temporary views."""
            return self

        def getOrCreate(self):
            s = SparkSession._active
            if s is not None and s._sc._session is not None:
                for k, v in self._options.items():
                    if k.startswith(_SESSION_PREFIXES) and k not in ("spark.master", "spark.app.name"):
                        s.conf.set(k, v)
                return s
            from ..context import Context, SparkConf
            sc = Context._active
            if sc is None or sc._session is None:
                conf = SparkConf()
                for k, v in self._options.items():
                    if not k.startswith(_SESSION_PREFIXES) or k in ("spark.master", "spark.app.name"):
                        conf.set(k, v)
                sc = Context(conf=conf)
            return SparkSession(sc, {k: v for k, v in self._options.items() if k.startswith(_SESSION_PREFIXES)})

    class _BuilderDescriptor:
        def __get__(self, obj, cls):
            return cls.Builder()

    builder = _BuilderDescriptor()

    def __init__(self, sparkContext, options=None):
        self._sc = sparkContext
        self.conf = RuntimeConfig(dict(options or {}))
        self._udfs = {}
        self.catalog = Catalog(self)
        self.udf = UDFRegistration(self)
        SparkSession._active = self

    @classmethod
    def getActiveSession(cls):
        return cls._active

    @classmethod
    def active(cls):
        if cls._active is None:
            raise RuntimeError("No active SparkSession")
        return cls._active

    @property
    def sparkContext(self):
        return self._sc

    @property
    def version(self):
        return "3.5.0"

    def newSession(self):
        s = SparkSession(self._sc, self.conf.getAll())
        return s

    def stop(self):
        self._sc.stop()
        if SparkSession._active is self:
            SparkSession._active = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # ---- DataFrames ---------------------------------------------------------------

    def createDataFrame(self, data, schema=None, samplingRatio=None, verifySchema=True):
        from .create import create_plan
        return DataFrame(create_plan(self, data, schema, samplingRatio, verifySchema), self)

    def range(self, start, end=None, step=1, numPartitions=None):
        if end is None:
            start, end = 0, start
        if step == 0:
            raise ValueError("step must not be 0")
        n = numPartitions or self._sc.defaultParallelism
        return DataFrame(P.Range(int(start), int(end), int(step), int(n), Attr("id", T.LongType(), False)), self)

    def table(self, tableName):
        return DataFrame(self.catalog._relation(tableName), self)

    def sql(self, sqlQuery, args=None, **kwargs):
        if args or kwargs:
            raise AnalysisException("kiln does not support parameterized SQL (args)")
        from .sqlparse import run_sql
        return run_sql(self, sqlQuery)

    @property
    def read(self):
        from .readwriter import DataFrameReader
        return DataFrameReader(self)


def rdd_to_df(rdd, schema=None, sampleRatio=None):
    """rdd.toDF(schema, sampleRatio): the DataFrame of the RDD, on the active
    SparkSession when it is over the RDD's context, else a new one."""
    s = SparkSession._active
    if s is None or s._sc is not rdd.ctx:
        s = SparkSession(rdd.ctx)
    return s.createDataFrame(rdd, schema, sampleRatio)
