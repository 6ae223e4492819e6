"""Word count in Python, as a PySpark user writes it (only the import
changed): kiln submit --master local[2] examples/wordcount.py FILES [TOP]"""
import operator
import sys

from kiln import SparkContext

if __name__ == "__main__":
    path, top = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with SparkContext(appName="wordcount.py") as sc:
        counts = (sc.textFile(path, 4)
                  .flatMap(str.split)
                  .map(lambda w: (w, 1))
                  .reduceByKey(operator.add))
        for word, n in counts.takeOrdered(top, key=lambda kv: (-kv[1], kv[0])):
            print("%7d %s" % (n, word))
