"""sc.accumulator(0): tasks add to it with +=, the client reads .value.

Each task's additions travel back as a kiln counter (int64) named after
the accumulator and are summed over the tasks that succeeded, so a retried
task does not count twice in one job (a rerun after a lost worker may, as
in Spark)."""
_seq = [0]


class Accumulator:
    def __init__(self, ctx=None, value=0, _name=None):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("kiln accumulators add ints (got %s)" % type(value).__name__)
        self._ctx = ctx
        self._zero = value
        if _name is None:
            _seq[0] += 1
            _name = "py.acc.%d" % _seq[0]
        self._name = _name

    @property
    def value(self):
        if self._ctx is None:
            raise RuntimeError("an accumulator's value can be read only in the client")
        return self._zero + self._ctx._session.counter(self._name)

    @value.setter
    def value(self, v):
        if self._ctx is None:
            raise RuntimeError("an accumulator can be set only in the client")
        self._zero = v - self._ctx._session.counter(self._name)

    def add(self, term):
        if not isinstance(term, int) or isinstance(term, bool):
            raise TypeError("kiln accumulators add ints (got %s)" % type(term).__name__)
        if self._ctx is not None:
            self._zero += term
        else:
            import _kiln_exec  # built into the executor (executor/python.c)
            _kiln_exec.counter_add(self._name, term)

    def __iadd__(self, term):
        self.add(term)
        return self

    def __reduce__(self):
        return Accumulator, (None, 0, self._name)

    def __repr__(self):
        return "Accumulator<%s>" % self._name
