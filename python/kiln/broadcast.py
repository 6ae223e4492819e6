"""sc.broadcast(value): pickled once in the client, uploaded once, fetched
once per worker (the worker's blob cache), unpickled at most once per
executor."""
import os
import pickle

import cloudpickle

_loaded = {}  # executor side: id -> value


class Broadcast:
    """A read-only value shared with every task: use .value in functions."""

    def __init__(self, ctx=None, value=None, _id=None):
        self._ctx = ctx
        self._id = _id
        self._value = value
        self._destroyed = False
        if ctx is not None:
            data = cloudpickle.dumps(value, protocol=5)
            self._id = ctx._session.broadcast(data)

    @property
    def value(self):
        """The broadcast value (read on the driver or in a task).

        >>> b = sc.broadcast({"a": 1})
        >>> b.value["a"], sc.parallelize(["a"]).map(lambda k: b.value[k]).collect()
        (1, [1])
        """
        if self._destroyed:
            raise RuntimeError("broadcast %s was destroyed" % self._id[:12])
        if self._ctx is not None:
            return self._value
        v = _loaded.get(self._id, _loaded)
        if v is _loaded:
            from . import _worker
            with open(os.path.join(_worker.cache_dir, self._id), "rb") as f:
                v = pickle.load(f)
            _loaded[self._id] = v
        return v

    def unpersist(self, blocking=False):
        """Later jobs no longer send it to workers (a task that uses it then fails).

        >>> b = sc.broadcast(7)
        >>> b.unpersist()
        >>> b.value
        7
        """
        if self._ctx is not None:
            self._ctx._session.unbroadcast(self._id)

    def destroy(self, blocking=False):
        """Removes the value everywhere; the broadcast cannot be used again.

        >>> b = sc.broadcast(7)
        >>> b.destroy()
        >>> sc.parallelize([1]).map(lambda x: b.value).collect()
        Traceback (most recent call last):
            ...
        _pickle.PicklingError: cannot ship ... (PicklingError: broadcast ... was destroyed); ...
        """
        self.unpersist()
        self._destroyed = True
        self._value = None

    def __reduce__(self):
        if self._destroyed:
            raise pickle.PicklingError("broadcast %s was destroyed" % self._id[:12])
        return _from_id, (self._id,)

    def __repr__(self):
        return "<Broadcast %s>" % self._id[:12]


def _from_id(bid):
    return Broadcast(_id=bid)
