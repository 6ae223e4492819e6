"""Every docstring example in the kiln package, run as doctests against a
real cluster: one test per module, with a shared `sc` (a Context on the
test cluster) and the package's public names in the globals. A second
test holds the rule that every public method and property of the API
classes carries a runnable example."""
import doctest
import importlib
import inspect
import os
import pkgutil
import sys

import pytest

import kiln

PKG_DIR = os.path.dirname(kiln.__file__)
# The modules that hold no user-facing API and are never imported on the
# client: the executor's entry point.
SKIP = {"kiln._worker", "kiln.__main__"}


def _modules():
    names = ["kiln"]
    for info in pkgutil.walk_packages([PKG_DIR], "kiln."):
        if info.name not in SKIP:
            names.append(info.name)
    return sorted(names)


def _globs(mod, sc):
    g = dict(vars(mod))
    for name in kiln.__all__:
        g.setdefault(name, getattr(kiln, name))
    g["sc"] = sc
    return g


@pytest.mark.parametrize("name", _modules())
def test_module_examples(sc, name):
    mod = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    globs = _globs(mod, sc)
    tests = [t for t in finder.find(mod, name, globs=globs) if t.examples]
    # The finder skips methods a class of this module takes from functions
    # made elsewhere (a factory's refusers): their examples run here too.
    for cname, cls in vars(mod).items():
        if inspect.isclass(cls) and cls.__module__ == name:
            for attr, fn in vars(cls).items():
                if inspect.isfunction(fn) and fn.__globals__ is not vars(mod) and fn.__doc__:
                    tests += [t for t in finder.find(fn, "%s.%s.%s" % (name, cname, attr), globs=globs) if t.examples]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for t in sorted(tests, key=lambda t: t.name):
        kiln.Context._active = sc  # an example that makes and stops its own context leaves sc active
        runner.run(t)
    res = runner.summarize(verbose=False)
    assert res.failed == 0, "%d of %d examples failed in %s" % (res.failed, res.attempted, name)


def _api_classes():
    from kiln import (accumulators, broadcast, conf, context, files, rdd, stats, status, storagelevel,
                      taskcontext)
    return [rdd.RDD, rdd.RDDBarrier, context.Context, conf.SparkConf, stats.StatCounter, broadcast.Broadcast,
            accumulators.Accumulator, accumulators.AccumulatorParam, files.SparkFiles, storagelevel.StorageLevel,
            taskcontext.TaskContext, taskcontext.BarrierTaskContext, status.StatusTracker]


def _public_members(cls):
    """(name, function) for each public method and property cls has, its
    own and its kiln bases' (mixins); constants are left out."""
    seen = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("kiln"):
            continue
        for name, v in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(v, (staticmethod, classmethod)):
                v = v.__func__
            elif isinstance(v, property):
                v = v.fget
            if inspect.isfunction(v):
                seen[name] = v
    return sorted(seen.items())


def test_every_public_method_has_an_example():
    missing = []
    for cls in _api_classes():
        for name, fn in _public_members(cls):
            if not any(ex for t in doctest.DocTestFinder(recurse=False).find(fn, name, globs={})
                       for ex in t.examples):
                missing.append("%s.%s" % (cls.__name__, name))
    assert not missing, "public methods with no >>> example in their docstring: " + ", ".join(missing)


def test_the_rule_sees_a_missing_example():
    class Bare:
        __module__ = "kiln.fake"

        def documented(self):
            """>>> 1
            1
            """

        def bare(self):
            """No example."""

    names = [n for n, fn in _public_members(Bare)
             if not any(t.examples for t in doctest.DocTestFinder(recurse=False).find(fn, n, globs={}))]
    assert names == ["bare"]
