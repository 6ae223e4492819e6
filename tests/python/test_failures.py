"""Failures that say what to fix: the user's traceback, the object that
would not pickle, a module missing on the workers, limits."""
import os
import socket
import subprocess
import sys
import threading

import pytest

import kiln

from conftest import BUILD


def test_exception_shows_the_users_traceback(sc):
    def explode(x):
        if x == 7:
            raise ZeroDivisionError("seven is too many")
        return x
    with pytest.raises(kiln.KilnError) as e:
        sc.parallelize(range(10), 2).map(explode).collect()
    msg = str(e.value)
    assert "ZeroDivisionError: seven is too many" in msg
    assert "test_failures.py" in msg and "in explode" in msg
    assert "_worker.py" not in msg
    assert "map(explode at test_failures.py:" in msg and "kiln_py_stage" not in msg, msg
    # the context still works
    assert sc.parallelize([1, 2]).count() == 2


def test_unpicklable_closure_names_the_path(sc):
    class Conn:
        def __init__(self):
            self.conn = socket.socket()

        def f(self, x):
            return x
    c = Conn()
    with pytest.raises(Exception) as e:
        sc.parallelize([1]).map(c.f).collect()
    msg = str(e.value)
    assert "self → conn → socket" in msg, msg
    assert "mapPartitions" in msg and "broadcast" in msg
    lock = threading.Lock()
    with pytest.raises(Exception, match="lock"):
        sc.parallelize([1]).map(lambda x: (lock, x)[1]).collect()
    c.conn.close()


def test_missing_module_is_named(sc, tmp_path):
    mod = tmp_path / "kiln_only_here.py"
    mod.write_text("def f(x):\n    return x\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import kiln_only_here
        # installed-looking: pretend it lives in site-packages so it is not shipped
        kiln_only_here.__file__ = "/usr/lib/python3/dist-packages/kiln_only_here.py"
        with pytest.raises(kiln.KilnError) as e:
            sc.parallelize([1]).map(kiln_only_here.f).collect()
    finally:
        sys.path.remove(str(tmp_path))
    msg = str(e.value)
    assert "kiln_only_here" in msg and "install it on the workers" in msg and "addPyFile" in msg


def test_infinite_loop_hits_task_timeout(cluster):
    ctx = kiln.Context(cluster.master, "timeout", conf={"task.timeout": "2s", "task.max_failures": "1"})
    try:
        with pytest.raises(kiln.KilnError, match="task.timeout"):
            ctx.parallelize([1], 1).map(lambda x: [None for _ in iter(int, 1)]).collect()
    finally:
        ctx.stop()


def test_memory_limit(cluster):
    ctx = kiln.Context(cluster.master, "memory", conf={"task.memory_limit": "64m", "task.max_failures": "1"})
    try:
        with pytest.raises(kiln.KilnError) as e:
            ctx.parallelize([1], 1).map(lambda x: len(bytearray(512 << 20))).collect()
        # Python caught the refused allocation itself: the error still says why
        assert "MemoryError (the task reached task.memory_limit of 64 MiB)" in str(e.value), str(e.value)
    finally:
        ctx.stop()


def test_failed_task_is_retried(sc, tmp_path):
    marker = str(tmp_path / "failed-once")

    def flaky(x):
        if x == 3 and not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("first attempt fails")
        return x
    assert sc.parallelize(range(8), 4).map(flaky).collect() == list(range(8))
    assert os.path.exists(marker)


def test_version_mismatch_is_refused_before_running(sc, monkeypatch):
    from kiln import _stage
    ran = sc.accumulator(0)
    monkeypatch.setattr(_stage, "PYTHON", "3.99")

    def f(x):
        ran.add(1)
        return x
    with pytest.raises(kiln.KilnError) as e:
        sc.parallelize([1, 2], 2).map(f).collect()
    msg = str(e.value)
    assert "Python 3.99" in msg and "Python 3.11" in msg and "cloudpickle" in msg, msg
    assert ran.value == 0
