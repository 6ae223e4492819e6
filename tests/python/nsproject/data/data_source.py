"""A module of a namespace package (no data/__init__.py)."""


def parse(line):
    k, v = line.split(",")
    return k, int(v)
