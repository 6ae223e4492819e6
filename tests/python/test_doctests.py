"""The docstring examples of kiln's API modules, run as doctests against a
real cluster (sc is a Context on it)."""
import doctest
import importlib

import pytest

MODULES = ["kiln._rddmore", "kiln._ctxmore", "kiln.storagelevel", "kiln.accumulators", "kiln.status"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(sc, name):
    import kiln
    mod = importlib.import_module(name)
    globs = dict(vars(mod), sc=sc, SparkContext=kiln.SparkContext, StorageLevel=kiln.StorageLevel)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for t in finder.find(mod, name, globs=globs) if t.examples]
    assert tests, "no examples in %s" % name
    for t in tests:
        runner.run(t)
    res = runner.summarize(verbose=False)
    assert res.failed == 0, "%d of %d examples failed in %s" % (res.failed, res.attempted, name)
