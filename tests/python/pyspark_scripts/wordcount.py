"""A classic PySpark RDD wordcount, exactly as written for PySpark: run by
kiln submit with no edit. argv: MASTER INPUT."""
import sys
from operator import add

import pyspark
from pyspark import SparkConf, SparkContext
from pyspark.storagelevel import StorageLevel

if __name__ == "__main__":
    conf = SparkConf().setAppName("PythonWordCount").setMaster(sys.argv[1])
    sc = SparkContext(conf=conf)
    lines = sc.textFile(sys.argv[2], 4)
    counts = lines.flatMap(lambda x: x.split(" ")).filter(lambda w: w).map(lambda x: (x, 1)).reduceByKey(add)
    counts.persist(StorageLevel.MEMORY_AND_DISK)
    for word, count in sorted(counts.collect()):
        print("%s: %i" % (word, count))
    # the module pyspark itself, pickled by reference, on the executors
    print("replication", counts.map(lambda kv: pyspark.StorageLevel.DISK_ONLY_2.replication).distinct().collect())
    sc.stop()
