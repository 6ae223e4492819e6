"""A real kiln cluster for the Python tests: one driver and two workers on
loopback ports the kernel picks (port 0 and the daemons' ports files).

KILN_BUILD names the build directory (default: build). The package under
test is the in-tree one (KILN_BUILD/python), run by Debian's interpreter.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

BUILD = os.path.abspath(os.environ.get("KILN_BUILD", "build"))
# How long a wait for a daemon's state may take before the test fails: on
# wall-clock time and generous, since a loaded or instrumented machine is
# slower, never wrong (the same bound as tests/integration/lib.sh's).
WAIT_S = float(os.environ.get("KILN_WAIT_S", "120"))
sys.path.insert(0, os.path.join(BUILD, "python"))


def _port(d, name, proc, timeout=WAIT_S):
    path = os.path.join(d, "ports")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            for line in open(path):
                k, v = line.split()
                if k == name:
                    return int(v)
        if proc.poll() is not None:
            raise RuntimeError("daemon exited: see %s" % d)
        time.sleep(0.02)
    raise RuntimeError("no %s port in %s" % (name, d))


class Cluster:
    def __init__(self, root, workers=2, slots=2, conf=()):
        self.root = root
        self.procs = []
        ddir = os.path.join(root, "driver")
        os.makedirs(ddir)
        self.driver = self._spawn([os.path.join(BUILD, "kiln-driver"), "--listen", "127.0.0.1:0", "--http",
                                   "127.0.0.1:0", "--state-dir", ddir, "--log-file", os.path.join(ddir, "driver.log")])
        self.master = "127.0.0.1:%d" % _port(ddir, "rpc", self.driver)
        self.workers = []
        for i in range(workers):
            self.start_worker(i, slots)
        self.wait_workers(workers)

    def _spawn(self, argv):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def start_worker(self, i, slots=2):
        wdir = os.path.join(self.root, "worker%d-%d" % (i, len(self.procs)))
        os.makedirs(wdir)
        p = self._spawn([os.path.join(BUILD, "kiln-worker"), "--driver", self.master, "--listen", "127.0.0.1:0",
                         "--http", "127.0.0.1:0", "--slots", str(slots), "--work-dir", wdir, "--log-file",
                         os.path.join(wdir, "worker.log")])
        _port(wdir, "data", p)
        self.workers.append((p, wdir))
        return p

    def wait_workers(self, n, timeout=WAIT_S):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            out = subprocess.run([os.path.join(BUILD, "kiln"), "workers", "--master", self.master],
                                 capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.count("127.0.0.1") >= n:
                return
            time.sleep(0.05)
        raise RuntimeError("workers did not register")

    def logs(self, pattern="*.log"):
        import glob
        text = []
        for f in sorted(glob.glob(os.path.join(self.root, "**", pattern), recursive=True)):
            with open(f, errors="replace") as fh:
                text.append(fh.read())
        return "\n".join(text)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture(scope="session")
def cluster():
    root = tempfile.mkdtemp(prefix="kiln-pytest-")
    # The daemons start with no secret flag, so they, this process's
    # Sessions and any `kiln` it runs use this user's default secret:
    # kept in the fixture's directory rather than the real home.
    saved = {k: os.environ.get(k) for k in ("XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "KILN_SECRET_FILE")}
    os.environ["XDG_CONFIG_HOME"] = os.path.join(root, "config")
    os.environ.pop("XDG_RUNTIME_DIR", None)
    os.environ.pop("KILN_SECRET_FILE", None)
    c = Cluster(root)
    yield c
    c.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def sc(cluster):
    import kiln
    ctx = kiln.Context(cluster.master, "pytest")
    yield ctx
    ctx.stop()


@pytest.fixture(scope="module")
def spark(sc):
    """A SparkSession over the module's Context (kiln.sql's tests)."""
    from kiln.sql import SparkSession
    s = SparkSession.builder.getOrCreate()
    assert s.sparkContext is sc
    yield s
    SparkSession._active = None
