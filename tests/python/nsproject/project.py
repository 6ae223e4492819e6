"""The usual PySpark layout, with no __init__.py anywhere: project.py next
to data/data_source.py (a namespace package), and jobs/steps/late.py,
which only a function running on the executors imports. Prints one result
per line."""
import sys

import kiln
from data.data_source import parse


def late_step(x):
    from jobs.steps import late  # imported on the executor only
    return late.weigh(x)


def main():
    sc = kiln.Context(app_name="nsproject")
    lines = sc.parallelize(["a,1", "b,2", "a,3", "c,4"], 2)
    print("parsed", sorted(lines.map(parse).reduceByKey(lambda a, b: a + b).collect()))
    print("late", sc.parallelize(range(10), 3).map(late_step).sum())
    sc.stop()


if __name__ == "__main__":
    main()
    sys.exit(0)
