"""The docstring examples of the engine-level API (lazy actions, pipe,
partitionBy, checkpoints, barrier stages, TaskContext, whole files), run
against the real cluster."""
import doctest
import sys

import pytest

import kiln.context as C
import kiln.rdd as R
import kiln.taskcontext as T

NAMES = [R.RDD.toLocalIterator, R.RDD.take, R.RDD.first, R.RDD.isEmpty, R.RDD.takeSample, R.RDD.pipe,
         R.RDD.partitionBy, R.RDD.checkpoint, R.RDD.isCheckpointed, R.RDD.getCheckpointFile, R.RDD.localCheckpoint,
         R.RDD.isLocallyCheckpointed, R.RDD.barrier, R.RDDBarrier.mapPartitions, R.RDDBarrier.mapPartitionsWithIndex,
         R.portable_hash, C.Context.wholeTextFiles, C.Context.binaryFiles, C.Context.setLocalProperty,
         C.Context.getLocalProperty, C.Context.setCheckpointDir, T.TaskContext, T.BarrierTaskContext] + \
    [getattr(T.TaskContext, m) for m in ("get", "partitionId", "stageId", "attemptNumber", "taskAttemptId",
                                         "getLocalProperty", "resources", "cpus")] + \
    [getattr(T.BarrierTaskContext, m) for m in ("get", "barrier", "allGather")]


@pytest.mark.parametrize("obj", NAMES, ids=lambda o: o.__qualname__)
def test_docstring_examples(sc, obj):
    globs = dict(vars(sys.modules[obj.__module__]))
    globs["sc"] = sc
    tests = doctest.DocTestFinder(recurse=False).find(obj, obj.__qualname__, globs=globs)
    assert tests and tests[0].examples, "%s has no example" % obj.__qualname__
    for t in tests:
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(t)
        assert runner.failures == 0, "%s: %d of %d examples failed" % (obj.__qualname__, runner.failures, runner.tries)
