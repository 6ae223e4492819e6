"""Code that travels: every callable kind, the project's own module without
--py-files, a config file through addFile, numpy on the workers."""
import os
import subprocess
import sys

from conftest import BUILD

HERE = os.path.dirname(os.path.abspath(__file__))


def test_project_runs_with_kiln_submit(cluster):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    out = subprocess.run([os.path.join(BUILD, "kiln"), "submit", "--master", cluster.master,
                          os.path.join(HERE, "project", "project.py")], capture_output=True, text=True, env=env,
                         cwd="/", timeout=300)
    assert out.returncode == 0, out.stderr
    got = dict(line.split() for line in out.stdout.splitlines())
    r = range(10)
    assert got["ini"] == str(sum(x * 7 for x in r))
    assert got["numpy"] == "10"
    expect = {"main": sum(x + 1 for x in r), "module": sum(x * 3 for x in r), "method": sum(x + 100 for x in r),
              "classmethod": sum(2 * x for x in r), "staticmethod": sum(-x for x in r),
              "lambda": sum(x * x for x in r), "closure": sum(x + 5 for x in r), "partial": sum(1000 + x for x in r)}
    assert got == {**{k: str(v) for k, v in expect.items()}, "ini": got["ini"], "numpy": "10"}


def test_wrong_interpreter_is_refused():
    # the first python3 on PATH may be another build: importing kiln there names both versions
    other = "/usr/bin/python3"
    out = subprocess.run([other, "-c", "import sys; sys.version_info = (3, 0, 0, 'final', 0); "
                          "sys.path.insert(0, %r); import kiln" % os.path.join(BUILD, "python")],
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "kiln was built for Python 3." in out.stderr and "this is Python 3.0.0" in out.stderr
