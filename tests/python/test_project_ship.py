"""The project travels whole: namespace packages, modules imported only on
the executors, what the walk leaves out, and a module still missing on a
worker failing the job at once with the fix."""
import os
import shutil
import subprocess
import sys
import zipfile

from conftest import BUILD

HERE = os.path.dirname(os.path.abspath(__file__))


def _submit(cluster, script, cwd="/"):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run([os.path.join(BUILD, "kiln"), "submit", "--master", cluster.master, str(script)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def _project(tmp_path):
    dst = tmp_path / "nsproject"
    shutil.copytree(os.path.join(HERE, "nsproject"), dst)
    # what the walk must leave out: a virtual environment, a hidden folder,
    # a cache and a file over the size bound
    (dst / "venv" / "lib").mkdir(parents=True)
    (dst / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (dst / "venv" / "lib" / "inside_venv.py").write_text("X = 1\n")
    (dst / ".hidden").mkdir()
    (dst / ".hidden" / "secret.py").write_text("X = 1\n")
    (dst / "__pycache__").mkdir()
    (dst / "__pycache__" / "cached.py").write_text("X = 1\n")
    (dst / "big_table.py").write_text("T = %r\n" % ("x" * (1 << 20)))
    return dst


def test_namespace_project_and_late_import_run(cluster, tmp_path):
    proj = _project(tmp_path)
    out = _submit(cluster, proj / "project.py")
    assert out.returncode == 0, out.stderr
    got = out.stdout.splitlines()
    rows = [line.split(",") for line in ["a,1", "b,2", "a,3", "c,4"]]
    sums = {}
    for k, v in rows:
        sums[k] = sums.get(k, 0) + int(v)
    assert got == ["parsed %s" % sorted(sums.items()), "late %d" % sum(7 * x + 1 for x in range(10))]
    # left out, and said so once
    assert "big_table.py" in out.stderr and "venv" in out.stderr
    assert out.stderr.count("not shipping") == 1


def test_walk_leaves_out_what_it_should(tmp_path):
    sys.path.insert(0, os.path.join(BUILD, "python"))
    from kiln import _ship
    proj = _project(tmp_path)
    files, left = _ship.project_files(str(proj))
    assert sorted(files) == ["data/data_source.py", "jobs/steps/late.py", "project.py"]
    assert any("big_table.py" in x for x in left) and any(x.startswith("venv") for x in left)
    # the zip carries directory entries, so zipimport finds the namespace packages
    z = tmp_path / "m.zip"
    z.write_bytes(_ship.zip_files(files))
    assert _ship.zip_files(files) == z.read_bytes()  # deterministic
    assert {"data/", "jobs/", "jobs/steps/"} <= set(zipfile.ZipFile(z).namelist())
    check = subprocess.run(["/usr/bin/python3", "-c", "import sys; sys.path.insert(0, %r); "
                            "import data.data_source as d, jobs.steps.late as l; print(d.parse('k,5'), l.weigh(1))"
                            % str(z)], capture_output=True, text=True, cwd="/")
    assert check.stdout.strip() == "('k', 5) 8", check.stderr


def test_walk_stops_at_the_file_count_bound(tmp_path, monkeypatch):
    sys.path.insert(0, os.path.join(BUILD, "python"))
    from kiln import _ship
    for i in range(5):
        (tmp_path / ("m%d.py" % i)).write_text("")
    monkeypatch.setattr(_ship, "MAX_FILES", 3)
    files, left = _ship.project_files(str(tmp_path))
    assert len(files) == 3 and any("over 3 files" in x for x in left)


def test_missing_module_fails_at_once_with_the_fix(cluster, tmp_path):
    job = tmp_path / "job.py"
    job.write_text(
        "import kiln\n"
        "def f(x):\n"
        "    import kiln_test_no_such_module\n"
        "    return x\n"
        "sc = kiln.Context()\n"
        "sc.parallelize(range(4), 2).map(f).collect()\n")
    out = _submit(cluster, job)
    assert out.returncode != 0
    assert "module 'kiln_test_no_such_module' is not on the worker" in out.stderr, out.stderr
    assert "not among the files kiln ships from the script's folder (%s)" % os.path.realpath(tmp_path) in out.stderr
    assert "sc.addPyFile" in out.stderr and "--py-files" in out.stderr
    assert "failed 1 time;" in out.stderr  # not retried
    assert "line 3, in f" in out.stderr  # the user's traceback is kept


def test_walk_stops_at_the_name_bound(tmp_path, monkeypatch):
    sys.path.insert(0, os.path.join(BUILD, "python"))
    from kiln import _ship
    for i in range(3):
        (tmp_path / ("d%d" % i)).mkdir()
        (tmp_path / ("d%d" % i) / "data.txt").write_text("")
    monkeypatch.setattr(_ship, "MAX_NAMES", 4)
    files, left = _ship.project_files(str(tmp_path))
    assert any("the walk stops after 4 names" in x for x in left)


def test_shipper_walks_again_only_when_a_folder_changed(tmp_path, monkeypatch):
    sys.path.insert(0, os.path.join(BUILD, "python"))
    from kiln import _ship
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("A = 1\n")
    sh = _ship.Shipper()
    sh.root = str(tmp_path)
    walks = []
    real = _ship.project_files
    monkeypatch.setattr(_ship, "project_files", lambda root, dirs=None: walks.append(root) or real(root, dirs))
    first = sh.archive()
    assert sh.archive() == first and len(walks) == 1  # nothing changed: no new walk
    (tmp_path / "pkg" / "a.py").write_text("A = 22\n")
    os.utime(tmp_path / "pkg" / "a.py", ns=(1, 10 ** 18))
    changed = sh.archive()
    assert changed != first and len(walks) == 1  # a file's content: the same walk, a new zip
    (tmp_path / "pkg" / "b.py").write_text("B = 2\n")
    os.utime(tmp_path / "pkg", ns=(1, 2 * 10 ** 18))  # the folder changed (whatever the clock's tick)
    with_b = sh.archive()
    assert len(walks) == 2 and "pkg/b.py" in zipfile.ZipFile(__import__("io").BytesIO(with_b)).namelist()


def test_a_script_right_in_tmp_ships_only_its_imports(tmp_path):
    out = subprocess.run(["/usr/bin/python3", "-c",
                          "import sys, types; sys.path.insert(0, %r)\n"
                          "from kiln import _ship\n"
                          "sys.modules['__main__'].__file__ = '/tmp/job.py'\n"
                          "print(_ship.project_root())\n"
                          "sys.modules['__main__'].__file__ = %r\n"
                          "print(_ship.project_root())\n" % (os.path.join(BUILD, "python"), str(tmp_path / "job.py"))],
                         capture_output=True, text=True)
    assert out.stdout.split() == ["None", os.path.realpath(tmp_path)], out.stderr
