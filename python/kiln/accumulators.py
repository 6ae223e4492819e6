"""sc.accumulator(0), sc.accumulator(0.0) or sc.accumulator(0j): tasks add
ints, floats or complex numbers with +=, the client reads .value, which is
Python's sum as PySpark's AddingAccumulatorParam gives it: ints never wrap
(3·10¹⁸ four times is 12·10¹⁸), and an int accumulator that was given a
float term is a float.

Each task's additions travel back as kiln counters named after the
accumulator, summed over the tasks that succeeded, so a retried task does
not count twice in one job (a rerun after a lost worker may, as in Spark):

    NAME, NAME#1 … NAME#15   int terms, cut into signed 16-bit limbs
                             (limb k weighs 2^(16k)); a sum of 16-bit
                             limbs stays exact in the int64 counter for
                             2^47 terms, so no addition wraps
    NAME (its double)        float terms, and complex terms' real parts
    NAME#im (its double)     complex terms' imaginary parts
    NAME#f, NAME#c           how many float and complex terms came

so an int term of up to 256 bits adds exactly, and a larger one fails the
task rather than being cut."""
_seq = [0]

_LIMB_BITS = 16
_LIMBS = 16
_LIMB = 1 << _LIMB_BITS


def _number(v, what):
    if not isinstance(v, (int, float, complex)):
        raise TypeError("kiln accumulators add ints, floats or complex numbers (%s is a %s)"
                        % (what, type(v).__name__))
    return v


def _limb_name(name, k):
    return name if k == 0 else "%s#%d" % (name, k)


class Accumulator:
    def __init__(self, ctx=None, value=0, _name=None):
        self._ctx = ctx
        self._zero = _number(value, "the initial value")
        if _name is None:
            _seq[0] += 1
            _name = "py.acc.%d" % _seq[0]
        self._name = _name

    def _added(self):
        """What the tasks added, as Python sums it (int, float or complex)."""
        s, name = self._ctx._session, self._name
        total = 0
        for k in range(_LIMBS):
            total += s.counter(_limb_name(name, k)) << (_LIMB_BITS * k)
        if s.counter(name + "#c") or isinstance(self._zero, complex):
            return complex(total + s.real_counter(name), s.real_counter(name + "#im"))
        if s.counter(name + "#f") or isinstance(self._zero, float):
            return total + s.real_counter(name)
        return total

    @property
    def value(self):
        """The accumulated value; on the driver it can also be set.

        >>> acc = sc.accumulator(1)
        >>> sc.parallelize([1, 2]).foreach(lambda x: acc.add(x))
        >>> acc.value
        4
        >>> acc.value = 0
        >>> acc.value
        0
        """
        if self._ctx is None:
            raise RuntimeError("an accumulator's value can be read only in the client")
        return self._zero + self._added()

    @value.setter
    def value(self, v):
        if self._ctx is None:
            raise RuntimeError("an accumulator can be set only in the client")
        self._zero = _number(v, "the value") - self._added()

    def add(self, term):
        """Adds term to the value (also acc += term).

        >>> acc = sc.accumulator(0)
        >>> acc.add(3)
        >>> acc += 2
        >>> acc.value
        5
        """
        _number(term, "the term")
        if self._ctx is not None:
            self._zero += term
            return
        import _kiln_exec  # built into the executor (executor/python.c)
        if isinstance(term, int):
            if -_LIMB < term < _LIMB:  # the usual add(1): one counter
                _kiln_exec.counter_add(self._name, int(term))
                return
            sign, rest = (-1, -term) if term < 0 else (1, int(term))
            if rest.bit_length() > _LIMB_BITS * _LIMBS:
                raise OverflowError("an accumulator term of %d bits: kiln's accumulators add ints of up to %d bits"
                                    % (rest.bit_length(), _LIMB_BITS * _LIMBS))
            k = 0
            while rest:
                if rest & (_LIMB - 1):
                    _kiln_exec.counter_add(_limb_name(self._name, k), sign * (rest & (_LIMB - 1)))
                rest >>= _LIMB_BITS
                k += 1
        elif isinstance(term, float):
            _kiln_exec.counter_add_real(self._name, term)
            _kiln_exec.counter_add(self._name + "#f", 1)
        else:
            _kiln_exec.counter_add_real(self._name, term.real)
            _kiln_exec.counter_add_real(self._name + "#im", term.imag)
            _kiln_exec.counter_add(self._name + "#c", 1)

    def __iadd__(self, term):
        self.add(term)
        return self

    def __reduce__(self):
        return _in_task, (self._name,)

    def __repr__(self):
        return "Accumulator<%s>" % self._name


def _in_task(name):
    return Accumulator(None, 0, name)


# ---- accumulators with an AccumulatorParam ---------------------------------

class AccumulatorParam:
    """How to add values of one type: zero(value) gives the identity for
    values like value, addInPlace(a, b) adds b to a (may change a) and
    returns the sum.

    >>> class VectorParam(AccumulatorParam):
    ...     def zero(self, value):
    ...         return [0.0] * len(value)
    ...     def addInPlace(self, a, b):
    ...         for i in range(len(a)):
    ...             a[i] += b[i]
    ...         return a
    >>> acc = sc.accumulator([0.0, 0.0], VectorParam())
    >>> sc.parallelize([[1.0, 2.0], [3.0, 4.0]], 2).foreach(lambda v: acc.add(v))
    >>> acc.value
    [4.0, 6.0]
    """

    def zero(self, value):
        """The identity for addInPlace of a value like value (what each task
        starts from).

        >>> class ListParam(AccumulatorParam):
        ...     def zero(self, value):
        ...         return [0] * len(value)
        ...     def addInPlace(self, a, b):
        ...         return [x + y for x, y in zip(a, b)]
        >>> ListParam().zero([5, 6])
        [0, 0]
        """
        raise NotImplementedError

    def addInPlace(self, value1, value2):
        """Adds value2 into value1 and returns the result.

        >>> class ListParam(AccumulatorParam):
        ...     def zero(self, value):
        ...         return [0] * len(value)
        ...     def addInPlace(self, a, b):
        ...         return [x + y for x, y in zip(a, b)]
        >>> acc = sc.accumulator([0, 0], ListParam())
        >>> sc.parallelize([[1, 2], [3, 4]], 2).foreach(lambda v: acc.add(v))
        >>> acc.value
        [4, 6]
        """
        raise NotImplementedError


class _AddingParam(AccumulatorParam):
    def __init__(self, zero_value):
        self.zero_value = zero_value

    def zero(self, value):
        return self.zero_value

    def addInPlace(self, value1, value2):
        value1 += value2
        return value1


INT_ACCUMULATOR_PARAM = _AddingParam(0)
FLOAT_ACCUMULATOR_PARAM = _AddingParam(0.0)
COMPLEX_ACCUMULATOR_PARAM = _AddingParam(0.0j)


class ParamAccumulator(Accumulator):
    """An accumulator whose values any AccumulatorParam adds.

    A task starts from param.zero(value) (the value when the stage was
    pickled), adds its terms with addInPlace, and leaves its own sum,
    pickled, in a kiln counter's terms (the executor keeps the last one
    per task). The driver hands the successful tasks' sums to the client
    with the job's end; reading .value merges them in with addInPlace."""

    def __init__(self, ctx, value, accum_param, _name=None):
        Accumulator.__init__(self, ctx, 0, _name)
        self.accum_param = accum_param
        self._value = value

    def _merge_terms(self):
        import pickle
        for t in self._ctx._session.take_terms(self._name):
            self._value = self.accum_param.addInPlace(self._value, pickle.loads(t))

    @property
    def value(self):
        if self._ctx is None:
            raise RuntimeError("Accumulator.value cannot be accessed inside tasks")
        self._merge_terms()
        return self._value

    @value.setter
    def value(self, v):
        if self._ctx is None:
            raise RuntimeError("Accumulator.value cannot be accessed inside tasks")
        self._merge_terms()
        self._value = v

    def add(self, term):
        if self._ctx is not None:
            self._merge_terms()
            self._value = self.accum_param.addInPlace(self._value, term)
            return
        import copy
        import pickle
        import _kiln_exec  # built into the executor (executor/python.c)
        if not _kiln_exec.counter_has_term(self._name):  # this task's first term: start from zero
            self._value = copy.deepcopy(self._zero_in_task)
        self._value = self.accum_param.addInPlace(self._value, term)
        _kiln_exec.counter_set_term(self._name, pickle.dumps(self._value, protocol=5))

    def __reduce__(self):
        return _param_in_task, (self._name, self.accum_param.zero(self.value), self.accum_param)

    def __str__(self):
        return str(self._value)

    def __repr__(self):
        return "Accumulator<id=%s, value=%s>" % (self._name, self._value)


def _param_in_task(name, zero, param):
    acc = ParamAccumulator(None, zero, param, name)
    acc._zero_in_task = zero
    return acc
