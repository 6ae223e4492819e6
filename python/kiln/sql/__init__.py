"""kiln.sql: PySpark's DataFrame and SQL API on kiln's engine.

    from kiln.sql import SparkSession          # was: from pyspark.sql import SparkSession
    spark = SparkSession.builder.appName("app").getOrCreate()
    df = spark.createDataFrame([(1, "a")], "id INT, name STRING")
    df.filter(df.id > 0).show()

A DataFrame is a logical plan (plan.py) built and resolved in the client,
optimized by small rules (optimizer.py) and compiled onto kiln's engine
(physical.py); inside executors partitions flow as columnar batches
(batch.py) evaluated with numpy. See docs/sql.md in kiln's source tree.
"""
from .column import Column
from .dataframe import DataFrame
from .errors import AnalysisException, ParseException, PythonException
from .grouping import DataFrameNaFunctions, GroupedData
from .row import Row
from .session import SparkSession
from .udf import UDFRegistration, UserDefinedFunction
from .window import Window, WindowSpec


__all__ = ["SparkSession", "DataFrame", "Column", "Row", "GroupedData", "DataFrameNaFunctions",
           "AnalysisException", "ParseException", "PythonException", "UDFRegistration", "UserDefinedFunction", "Window", "WindowSpec"]
