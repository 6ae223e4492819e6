"""The pyspark compat package: an unchanged PySpark script through kiln
submit on a real cluster, PySpark's module names in any launcher, and
pyspark.sql's extension point."""
import collections
import os
import random
import subprocess
import sys

from conftest import BUILD

HERE = os.path.dirname(os.path.abspath(__file__))


def _env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def test_unchanged_pyspark_wordcount_with_kiln_submit(cluster, tmp_path):
    rng = random.Random(17)
    words = ["w%d" % i for i in range(300)]
    text = "\n".join(" ".join(rng.choice(words) for _ in range(rng.randrange(0, 12))) for _ in range(5000)) + "\n"
    (tmp_path / "in.txt").write_text(text)
    out = subprocess.run([os.path.join(BUILD, "kiln"), "submit", "--master", cluster.master,
                          os.path.join(HERE, "pyspark_scripts", "wordcount.py"), cluster.master,
                          str(tmp_path / "in.txt")], capture_output=True, text=True, env=_env(), cwd=str(tmp_path),
                         timeout=300)
    assert out.returncode == 0, out.stderr
    oracle = collections.Counter(w for line in text.splitlines() for w in line.split(" ") if w)
    expect = ["%s: %i" % kv for kv in sorted(oracle.items())] + ["replication [2]"]
    assert out.stdout.splitlines() == expect


def _py(code, **env):
    e = _env()
    e["PYTHONPATH"] = os.path.join(BUILD, "python")
    e.update(env)
    return subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, env=e, timeout=120)


def test_plain_python_has_no_pyspark_until_install():
    out = _py("import importlib.util, sys\n"
              "import kiln\n"
              "print(importlib.util.find_spec('pyspark') is None or 'real')\n"
              "from kiln import pyspark_compat\n"
              "pyspark_compat.install()\n"
              "import pyspark, pyspark.rdd, pyspark.conf, pyspark.context, pyspark.storagelevel\n"
              "import pyspark.accumulators, pyspark.broadcast, pyspark.files, pyspark.statcounter\n"
              "import kiln.rdd, kiln.context\n"
              "print(pyspark.rdd is kiln.rdd, pyspark.SparkContext is kiln.context.SparkContext,\n"
              "      pyspark.conf.SparkConf is kiln.SparkConf, pyspark.StatCounter is pyspark.statcounter.StatCounter,\n"
              "      kiln.rdd.__spec__.name, pyspark.__version__)\n")
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert first == "True"  # nothing was installed into the system
    assert second == "True True True True kiln.rdd 3.5.0"


def test_unknown_module_and_missing_sql_say_why():
    out = _py("from kiln import pyspark_compat as c\n"
              "c.install()\n"
              "import importlib.util\n"
              "for name in ('pyspark.mllib', 'pyspark.sql', 'pyspark.sql.functions'):\n"
              "    try:\n"
              "        __import__(name)\n"
              "        print(name, 'ok')\n"
              "    except ImportError as e:\n"
              "        print(name, e)\n")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("pyspark.mllib kiln does not offer pyspark.mllib")
    import importlib.util
    sys.path.insert(0, os.path.join(BUILD, "python"))
    if importlib.util.find_spec("kiln.sql") is None:
        assert lines[1] == "pyspark.sql pyspark.sql: kiln's SQL layer (kiln.sql) is not available in this build of kiln"
    else:  # kiln.sql is there: pyspark.sql is it
        assert lines[1:] == ["pyspark.sql ok", "pyspark.sql.functions ok"]


def test_sql_maps_to_kiln_sql_when_present(tmp_path):
    # a stand-in kiln.sql package next to the real kiln (a copy of it)
    import shutil
    root = tmp_path / "py"
    shutil.copytree(os.path.join(BUILD, "python", "kiln"), root / "kiln")
    if not (root / "kiln" / "sql").exists():
        (root / "kiln" / "sql").mkdir()
        (root / "kiln" / "sql" / "__init__.py").write_text("SparkSession = 'kiln-sql-session'\n")
        (root / "kiln" / "sql" / "functions.py").write_text("def col(name):\n    return name\n")
    e = _env()
    e["PYTHONPATH"] = str(root)
    out = subprocess.run(["/usr/bin/python3", "-c",
                          "from kiln import pyspark_compat as c; c.install()\n"
                          "import kiln.sql, kiln.sql.functions\n"
                          "from pyspark.sql import SparkSession\n"
                          "import pyspark.sql.functions as F\n"
                          "print(SparkSession is kiln.sql.SparkSession, F is kiln.sql.functions)\n"],
                         capture_output=True, text=True, env=e, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]


def test_install_refuses_a_real_pyspark_already_imported(tmp_path):
    fake = tmp_path / "pyspark"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    out = _py("import pyspark\nfrom kiln import pyspark_compat\npyspark_compat.install()\n",
              PYTHONPATH="%s:%s" % (os.path.join(BUILD, "python"), tmp_path))
    assert out.returncode != 0 and "a real PySpark" in out.stderr
