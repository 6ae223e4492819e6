"""Word count in SQL: the words of the input files as a DataFrame, a temp
view, a Python UDF registered for SQL, a GROUP BY and ORDER BY, show().

    kiln submit --master local[2] examples/wordcount_sql.py FILES [N]
"""
import sys

from kiln.sql import SparkSession
from kiln.sql.types import StringType


def main(path, n):
    spark = SparkSession.builder.appName("wordcount_sql").getOrCreate()
    words = spark.sparkContext.textFile(path).flatMap(str.split).map(lambda w: (w.lower(),))
    spark.createDataFrame(words, "word STRING").createOrReplaceTempView("words")
    spark.udf.register("initial", lambda w: w[:1].upper(), StringType())
    spark.sql("SELECT word, initial(word) AS initial, count(*) AS n FROM words "
              "WHERE length(word) > 3 GROUP BY word ORDER BY n DESC, word LIMIT %d" % n).show()
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)
