"""sc.accumulator(0) or sc.accumulator(0.0): tasks add to it with +=, the
client reads .value.

Each task's additions travel back as a kiln counter named after the
accumulator (ints in its int64 value, floats in its double) and are summed
over the tasks that succeeded, so a retried task does not count twice in
one job (a rerun after a lost worker may, as in Spark)."""
_seq = [0]


def _number(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("kiln accumulators add ints or floats (%s is a %s)" % (what, type(v).__name__))
    return v


class Accumulator:
    def __init__(self, ctx=None, value=0, _name=None):
        self._ctx = ctx
        self._zero = _number(value, "the initial value")
        self._float = isinstance(value, float)
        if _name is None:
            _seq[0] += 1
            _name = "py.acc.%d" % _seq[0]
        self._name = _name

    def _added(self):
        s = self._ctx._session
        n = s.counter(self._name)
        return n + s.real_counter(self._name) if self._float else n + int(s.real_counter(self._name))

    @property
    def value(self):
        if self._ctx is None:
            raise RuntimeError("an accumulator's value can be read only in the client")
        return self._zero + self._added()

    @value.setter
    def value(self, v):
        if self._ctx is None:
            raise RuntimeError("an accumulator can be set only in the client")
        self._zero = _number(v, "the value") - self._added()

    def add(self, term):
        _number(term, "the term")
        if self._ctx is not None:
            self._zero += term
            return
        import _kiln_exec  # built into the executor (executor/python.c)
        if isinstance(term, float):
            _kiln_exec.counter_add_real(self._name, term)
        else:
            _kiln_exec.counter_add(self._name, term)

    def __iadd__(self, term):
        self.add(term)
        return self

    def __reduce__(self):
        return _in_task, (self._name,)

    def __repr__(self):
        return "Accumulator<%s>" % self._name


def _in_task(name):
    return Accumulator(None, 0, name)
