"""What kiln refuses because it has no JVM: the Hadoop input and output
formats of PySpark's API. Each refused method raises NotImplementedError
saying why and what to use instead.
"""


def _needs_jvm(name, why, example_on="sc.parallelize([(1, 2)])"):
    """A method that raises NotImplementedError saying why kiln refuses it;
    its docstring's example (on example_on) shows the refusal."""
    def refuse(self, *args, **kwargs):
        raise NotImplementedError("%s %s; kiln has no JVM. %s" % (name, why, _JVM_ALTERNATIVES))
    refuse.__name__ = name
    refuse.__doc__ = ("Refused: %s %s (kiln has no JVM).\n\n"
                      ">>> %s.%s('out')\n"
                      "Traceback (most recent call last):\n    ...\n"
                      "NotImplementedError: %s %s; kiln has no JVM. ...\n" % (name, why, example_on, name, name, why))
    return refuse


_JVM_ALTERNATIVES = "Use textFile/saveAsTextFile (gzip too) or pickleFile/saveAsPickleFile"
_HADOOP_OUT = "writes through Hadoop's Java OutputFormat classes"
_HADOOP_IN = "reads through Hadoop's Java InputFormat classes"
