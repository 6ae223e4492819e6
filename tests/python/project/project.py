"""The everyday PySpark project: a module of its own (data/data_source.py),
a config file read on executors through addFile/SparkFiles, numpy through
a module-level import. Prints one result per line."""
import functools
import os
import sys

import numpy as np

import kiln
from data.data_source import Scaler, scale

HERE = os.path.dirname(os.path.abspath(__file__))


def in_main(x):
    return x + 1


class Holder:
    def __init__(self, k):
        self.k = k

    def add(self, x):
        return x + self.k

    @classmethod
    def twice(cls, x):
        return 2 * x

    @staticmethod
    def neg(x):
        return -x


def main():
    sc = kiln.Context(app_name="project")
    sc.addFile(os.path.join(HERE, "data", "data_source.ini"))
    r = sc.parallelize(range(10), 3)
    print("ini", sum(r.map(lambda x: scale(x, kiln.SparkFiles.get("data_source.ini"))).collect()))
    print("numpy", len(r.map(lambda x: float(np.random.default_rng(x).random())).collect()))
    local = 5
    h = Holder(100)
    kinds = {
        "main": in_main, "module": Scaler(3).apply, "method": h.add, "classmethod": Holder.twice,
        "staticmethod": Holder.neg, "lambda": lambda x: x * x, "closure": lambda x: x + local,
        "partial": functools.partial(operator_add, 1000),
    }
    for name, f in kinds.items():
        print(name, r.map(f).reduce(lambda a, b: a + b))
    sc.stop()


def operator_add(a, b):
    return a + b


if __name__ == "__main__":
    main()
    sys.exit(0)
