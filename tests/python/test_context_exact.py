"""SparkContext's arguments in PySpark's order, SparkConf's spark.* keys,
masters, a context inside a task, and addFile's rules, on a real cluster."""
import os

import pytest

import kiln


def _env_of(name):
    def f(_):
        return os.environ.get(name)
    return f


def test_positional_arguments_are_pysparks(cluster, tmp_path):
    mod = tmp_path / "fid_shipped_mod.py"
    mod.write_text("WORD = 'shipped'\n")
    ctx = kiln.SparkContext(cluster.master, "positional", None, [str(mod)], {"FID_ENV": "from-environment"})
    try:
        assert ctx.appName == "positional"
        assert ctx.parallelize([0], 1).map(_env_of("FID_ENV")).collect() == ["from-environment"]

        def word(_):
            import fid_shipped_mod
            return fid_shipped_mod.WORD
        assert ctx.parallelize([0], 1).map(word).collect() == ["shipped"]
    finally:
        ctx.stop()
    with pytest.raises(TypeError):
        kiln.SparkContext(cluster.master, "x", no_such_argument=1)
    with pytest.raises(ValueError, match="no JVM"):
        kiln.SparkContext(cluster.master, "x", jsc=object())


def test_spark_keys_are_accepted_kept_and_used(cluster, capfd):
    conf = (kiln.SparkConf().setAppName("conf-app").set("spark.default.parallelism", "3")
            .set("spark.executor.memory", "2g").set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
            .set("spark.sql.shuffle.partitions", "7").set("spark.task.maxFailures", "1")
            .set("spark.python.worker.reuse", "true").setExecutorEnv("FID_EXEC_ENV", "yes")
            .set("spark.task.cpus", "2"))
    ctx = kiln.SparkContext(cluster.master, conf=conf)
    try:
        assert ctx.appName == "conf-app"
        got = ctx.getConf()
        assert got.get("spark.executor.memory") == "2g" and got.get("spark.sql.shuffle.partitions") == "7"
        assert got.get("spark.app.name") == "conf-app" and got.get("spark.master") == cluster.master
        assert got.get("spark.app.id") == ctx.applicationId
        assert ctx.defaultParallelism == 3 and ctx.parallelize(range(9)).getNumPartitions() == 3
        assert ctx.parallelize([0], 1).map(_env_of("FID_EXEC_ENV")).collect() == ["yes"]
        assert ctx.parallelize([0], 1).map(_env_of("OMP_NUM_THREADS")).collect() == ["2"]
        assert sorted(ctx.parallelize(range(100), 4).map(lambda x: x * 2).collect()) == list(range(0, 200, 2))

        def boom(x):
            raise ValueError("boom")
        with pytest.raises(kiln.KilnError, match="failed 1 time;"):  # spark.task.maxFailures took effect
            ctx.parallelize([1], 1).map(boom).collect()
    finally:
        ctx.stop()
    err = capfd.readouterr().err
    assert err.count("no kiln meaning") == 1
    assert "spark.serializer" in err and "spark.sql.shuffle.partitions" in err
    assert "spark.executor.memory" not in err and "spark.python.worker.reuse" not in err


def test_spark_executor_memory_is_the_tasks_limit(cluster):
    ctx = kiln.SparkContext(cluster.master, "mem", conf={"spark.executor.memory": "64m",
                                                         "spark.task.maxFailures": "1"})
    try:
        def hog(_):
            return len(bytearray(200 << 20))
        assert ctx.parallelize([0], 1).map(lambda x: x + 1).collect() == [1]  # the key fails no job
        with pytest.raises(kiln.KilnError, match=r"task.memory_limit of 64 MiB"):
            ctx.parallelize([0], 1).map(hog).collect()
    finally:
        ctx.stop()


def test_masters():
    from kiln.context import _parse_master
    assert _parse_master("local") [0] == "local" and _parse_master("local[3]") == ("local", 3)
    assert _parse_master("local[*]")[0] == "local"
    assert _parse_master("localhost:7077") == ("cluster", "localhost:7077")
    assert _parse_master("kiln://10.1.2.3:7077") == ("cluster", "10.1.2.3:7077")
    assert _parse_master("spark://h:7077") == ("cluster", "h:7077")
    for bad in ("local[0]", "local[x]", "yarn", "k8s://h:1", "mesos://h:5050", "h", "h:port"):
        with pytest.raises(ValueError):
            _parse_master(bad)


def test_kiln_and_spark_schemes_reach_the_cluster(cluster, capfd):
    for scheme in ("kiln://", "spark://"):
        with kiln.SparkContext(scheme + cluster.master, "scheme") as ctx:
            assert ctx.parallelize(range(10), 2).sum() == 45
    err = capfd.readouterr().err
    assert "spark:// scheme is dropped" in err and err.count("scheme is dropped") == 1


def test_a_context_inside_a_task_is_refused(sc):
    def make(_):
        return kiln.SparkContext("127.0.0.1:1", "inner").applicationId
    with pytest.raises(kiln.KilnError, match="SparkContext should only be created and accessed on the driver"):
        sc.parallelize([0], 1).map(make).collect()

    def uses_sc(x):
        return sc.applicationId
    with pytest.raises(Exception, match="only in the client script"):
        sc.parallelize([0], 1).map(uses_sc).collect()


def test_add_file_again_never_disagrees(cluster, tmp_path, capfd):
    ctx = kiln.SparkContext(cluster.master, "files")
    try:
        p = tmp_path / "settings.ini"
        p.write_text("first")

        def read(_):
            from kiln import SparkFiles
            with open(SparkFiles.get("settings.ini")) as f:
                return f.read()
        ctx.addFile(str(p))
        assert ctx.parallelize([0, 1], 2).map(read).collect() == ["first", "first"]
        p.write_text("second")
        ctx.addFile(str(p))  # ignored, as Spark does: everyone keeps the first
        assert "has been added already" in capfd.readouterr().err
        assert ctx.parallelize([0, 1], 2).map(read).collect() == ["first", "first"]
        with open(kiln.SparkFiles.get("settings.ini")) as f:
            assert f.read() == "first"
        other = tmp_path / "sub"
        other.mkdir()
        (other / "settings.ini").write_text("other")
        with pytest.raises(ValueError, match="already registered with a different path"):
            ctx.addFile(str(other / "settings.ini"))
    finally:
        ctx.stop()


def test_spark_conf_loads_submits_conf(monkeypatch):
    monkeypatch.setenv("KILN_CONF", "spark.executor.memory=3g\ntask.timeout=5s")
    c = kiln.SparkConf()
    assert c.get("spark.executor.memory") == "3g" and c.get("task.timeout") == "5s"
    assert kiln.SparkConf(loadDefaults=False).getAll() == []
    c.setIfMissing("spark.executor.memory", "1g").setIfMissing("spark.x", "y")
    assert c.get("spark.executor.memory") == "3g" and c.get("spark.x") == "y"
    with pytest.raises(RuntimeError):
        c.setExecutorEnv()
    assert kiln.SparkConf(False).setExecutorEnv(pairs=[("A", "1")]).get("spark.executorEnv.A") == "1"
