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


def test_py_files_and_files_with_kiln_submit(cluster, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "extra_helper.py").write_text("def triple(x):\n    return 3 * x\n")
    import zipfile
    with zipfile.ZipFile(tmp_path / "pkg.zip", "w") as z:
        z.writestr("zipped_mod/__init__.py", "def plus(x):\n    return x + 100\n")
    (tmp_path / "conf.ini").write_text("hello from conf\n")
    job = tmp_path / "job.py"
    job.write_text(
        "import kiln, sys\n"
        "sc = kiln.Context()\n"
        "import extra_helper, zipped_mod\n"
        "print(sc.parallelize(range(5), 2).map(lambda x: zipped_mod.plus(extra_helper.triple(x))).collect())\n"
        "print(sc.parallelize([0], 1).map(lambda _: open(kiln.SparkFiles.get('conf.ini')).read().strip()).collect())\n"
        "print(sys.argv[1:])\n"
        "sc.stop()\n")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONPATH"] = str(lib) + ":" + str(tmp_path / "pkg.zip")  # the client imports them; workers get them shipped
    out = subprocess.run([os.path.join(BUILD, "kiln"), "submit", "--master", cluster.master,
                          "--py-files", "%s,%s" % (lib / "extra_helper.py", tmp_path / "pkg.zip"),
                          "--files", str(tmp_path / "conf.ini"), str(job), "a1", "b2"],
                         capture_output=True, text=True, env=env, cwd="/", timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[100, 103, 106, 109, 112]", "['hello from conf']", "['a1', 'b2']"]


def test_plain_python3_defaults_to_local(tmp_path):
    job = tmp_path / "job.py"
    job.write_text("import kiln\nwith kiln.Context() as sc:\n    print(sc.master, sc.parallelize(range(4)).sum())\n")
    env = dict(os.environ)
    env.pop("KILN_MASTER", None)
    env["PYTHONPATH"] = os.path.join(BUILD, "python")
    out = subprocess.run(["/usr/bin/python3", str(job)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["local[2]", "6"]


def test_make_install_installs_the_package(tmp_path):
    if os.path.basename(BUILD) != "build":
        import pytest
        pytest.skip("make install is checked with the normal build only")
    top = os.path.dirname(os.path.dirname(HERE))
    dest = tmp_path / "root"
    out = subprocess.run(["make", "-s", "-C", top, "install", "DESTDIR=%s" % dest, "PREFIX=/usr/local"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    inits = list(dest.glob("**/kiln/__init__.py"))
    assert len(inits) == 1, inits
    site = str(inits[0].parent.parent)
    assert "dist-packages" in site or "site-packages" in site
    job = tmp_path / "job.py"
    job.write_text("import kiln, kiln._build as b\nprint(b.bindir)\n"
                   "with kiln.Context('local[1]') as sc:\n    print(sc.parallelize(range(5)).sum())\n")
    env = dict(os.environ, PYTHONPATH=site, KILN_BINDIR=BUILD)
    out = subprocess.run(["/usr/bin/python3", str(job)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["/usr/local/bin", "10"]
    assert (dest / "usr/local/bin/kiln").exists() and (dest / "usr/local/include/kiln.h").exists()
    # the pyspark compat bootstrap: beside kiln, never in the site directory
    assert (dest / "usr/local/lib/kiln/python-compat/pyspark/__init__.py").exists()
    assert not list(dest.glob("**/dist-packages/pyspark")) and not list(dest.glob("**/site-packages/pyspark"))
