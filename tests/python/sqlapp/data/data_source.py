"""Where the sample application's data comes from (data/ has no
__init__.py, as its authors wrote it)."""
import configparser
import os
import random

from kiln.sql.types import FloatType, StructField, StructType

HERE = os.path.dirname(os.path.abspath(__file__))


def settings():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(HERE, "data_source.ini"))
    return cfg["source"]


def squared(s):
    return s * s


def values():
    cfg = settings()
    rng = random.Random(int(cfg["seed"]))
    return [rng.uniform(-1000, 1000) for _ in range(int(cfg["rows"]))]


def squared_values(spark):
    cfg = settings()
    rdd = spark.sparkContext.parallelize(values(), int(cfg["partitions"])).map(lambda x: (x,))
    schema = StructType([StructField("value", FloatType(), True)])
    df = spark.createDataFrame(rdd, schema)
    df.createOrReplaceTempView("test")
    spark.udf.register("squared", squared)
    return spark.sql("SELECT squared(value) squared FROM test").toPandas()
