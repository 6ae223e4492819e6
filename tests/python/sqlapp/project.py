"""The sample application kiln's users deploy, with its imports renamed
from pyspark to kiln: a SparkSession, an RDD of floats turned into a
DataFrame with a StructType schema, a temporary view, a Python UDF
registered for SQL, and the answer brought back with toPandas().

    kiln submit project.py [OUT.csv]      (from this folder)
"""
import sys

from kiln.sql import SparkSession

from data.data_source import squared_values


def main():
    spark = SparkSession.builder.appName("sample").getOrCreate()
    pdf = squared_values(spark)
    print(pdf)
    if len(sys.argv) > 1:
        pdf.to_csv(sys.argv[1], index=False)
    spark.stop()


if __name__ == "__main__":
    main()
