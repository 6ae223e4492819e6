"""TaskContext: what a running task knows about itself (PySpark's
pyspark.taskcontext). Set by kiln._worker around each task in an
executor; TaskContext.get() is None in the client. BarrierTaskContext is
the context of a task of a barrier stage (rdd.barrier()), whose barrier()
and allGather() meet the stage's other tasks through the driver.
"""


class TaskContext:
    """The running task's partition, stage, attempt and local properties.

    >>> TaskContext.get() is None      # in the client
    True
    >>> sc.parallelize(range(4), 2).map(lambda x: TaskContext.get().partitionId()).collect()
    [0, 0, 1, 1]
    """

    _current = None

    def __init__(self, partition, stage, attempt, task_id, props):
        self._partition = partition
        self._stage = stage
        self._attempt = attempt
        self._task_id = task_id
        self._props = props

    @classmethod
    def get(cls):
        """The running task's context, or None outside a task.

        >>> TaskContext.get() is None
        True
        """
        return cls._current

    def partitionId(self):
        """The partition this task computes.

        >>> sc.parallelize(range(3), 3).map(lambda x: TaskContext.get().partitionId()).collect()
        [0, 1, 2]
        """
        return self._partition

    def stageId(self):
        """The stage's number, unique within the application.

        >>> len(set(sc.parallelize(range(4), 2).map(lambda x: TaskContext.get().stageId()).collect()))
        1
        """
        return self._stage

    def attemptNumber(self):
        """0 for the first attempt, then 1, 2, … on retries.

        >>> sc.parallelize([1], 1).map(lambda x: TaskContext.get().attemptNumber()).collect()
        [0]
        """
        return self._attempt

    def taskAttemptId(self):
        """A number unique to this attempt among every task the driver launched.

        >>> len(set(sc.parallelize(range(4), 4).map(lambda x: TaskContext.get().taskAttemptId()).collect()))
        4
        """
        return self._task_id

    def getLocalProperty(self, key):
        """A local property of the client's thread when the stage was built
        (sc.setLocalProperty), or None.

        >>> sc.parallelize([1], 1).map(lambda x: TaskContext.get().getLocalProperty("nothing")).collect()
        [None]
        """
        return self._props.get(key)

    def resources(self):
        """Resources assigned to the task: kiln assigns none (no GPUs or other resource profiles).

        >>> sc.parallelize([1], 1).map(lambda x: TaskContext.get().resources()).collect()
        [{}]
        """
        return {}

    def cpus(self):
        """Cores per task: one slot is one core.

        >>> sc.parallelize([1], 1).map(lambda x: TaskContext.get().cpus()).collect()
        [1]
        """
        return 1


class BarrierTaskContext(TaskContext):
    """The context of a barrier stage's task: every task of the stage runs
    at once, and barrier() and allGather() wait for all of them.

    >>> def f(it):
    ...     ctx = BarrierTaskContext.get()
    ...     ctx.barrier()
    ...     return [ctx.allGather(str(sum(it)))]
    >>> sc.parallelize(range(6), 2).barrier().mapPartitions(f).collect()
    [['3', '12'], ['3', '12']]
    """

    @classmethod
    def get(cls):
        """The running barrier task's context; RuntimeError elsewhere.

        >>> BarrierTaskContext.get()
        Traceback (most recent call last):
            ...
        RuntimeError: It is not in a barrier stage
        """
        tc = TaskContext._current
        if not isinstance(tc, BarrierTaskContext):
            raise RuntimeError("It is not in a barrier stage")
        return tc

    def barrier(self):
        """Waits until every task of the stage has called barrier() (as
        often as this one).

        >>> def f(it):
        ...     BarrierTaskContext.get().barrier()
        ...     return [len(list(it))]
        >>> sc.parallelize(range(5), 2).barrier().mapPartitions(f).collect()
        [2, 3]
        """
        self._sync(b"")

    def allGather(self, message=""):
        """Every task's message (str), in partition order, once all have
        called allGather.

        >>> def f(it):
        ...     ctx = BarrierTaskContext.get()
        ...     return [ctx.allGather("from %d" % ctx.partitionId())]
        >>> sc.parallelize(range(2), 2).barrier().mapPartitions(f).collect()
        [['from 0', 'from 1'], ['from 0', 'from 1']]
        """
        if not isinstance(message, str):
            raise TypeError("Argument `message` must be of type `str`")
        return [m.decode("utf-8") for m in self._sync(message.encode("utf-8"))]

    def _sync(self, message):
        import _kiln_exec
        return _kiln_exec.barrier_sync(message)
