"""StorageLevel: PySpark's persistence flags, and how kiln honours them.

kiln keeps a persisted partition once, as a block file on the worker that
computed it; the kernel's page cache holds recently used blocks in
memory. So every level is honoured as "kept, read back instead of
recomputed": the memory/disk/off-heap flags say nothing kiln can choose
between, and a replication above 1 keeps one copy (a lost copy is
recomputed from lineage, which gives the same records). The level given
is kept as given and getStorageLevel() returns it.
"""


class StorageLevel:
    """How an RDD is kept: StorageLevel(useDisk, useMemory, useOffHeap,
    deserialized, replication=1).

    >>> StorageLevel.MEMORY_AND_DISK_2
    StorageLevel(True, True, False, False, 2)
    >>> str(StorageLevel.DISK_ONLY)
    'Disk Serialized 1x Replicated'
    >>> StorageLevel(False, True, False, False) == StorageLevel.MEMORY_ONLY
    True
    """

    def __init__(self, useDisk, useMemory, useOffHeap, deserialized, replication=1):
        self.useDisk = useDisk
        self.useMemory = useMemory
        self.useOffHeap = useOffHeap
        self.deserialized = deserialized
        self.replication = replication

    def _tuple(self):
        return (self.useDisk, self.useMemory, self.useOffHeap, self.deserialized, self.replication)

    def __repr__(self):
        return "StorageLevel(%s, %s, %s, %s, %s)" % self._tuple()

    def __str__(self):
        words = [w for on, w in ((self.useDisk, "Disk"), (self.useMemory, "Memory"), (self.useOffHeap, "OffHeap"))
                 if on]
        words.append("Deserialized" if self.deserialized else "Serialized")
        return "%s %dx Replicated" % (" ".join(words), self.replication)

    def __eq__(self, other):
        return isinstance(other, StorageLevel) and self._tuple() == other._tuple()

    def __hash__(self):
        return hash(self._tuple())


StorageLevel.NONE = StorageLevel(False, False, False, False)
StorageLevel.DISK_ONLY = StorageLevel(True, False, False, False)
StorageLevel.DISK_ONLY_2 = StorageLevel(True, False, False, False, 2)
StorageLevel.DISK_ONLY_3 = StorageLevel(True, False, False, False, 3)
StorageLevel.MEMORY_ONLY = StorageLevel(False, True, False, False)
StorageLevel.MEMORY_ONLY_2 = StorageLevel(False, True, False, False, 2)
StorageLevel.MEMORY_AND_DISK = StorageLevel(True, True, False, False)
StorageLevel.MEMORY_AND_DISK_2 = StorageLevel(True, True, False, False, 2)
StorageLevel.OFF_HEAP = StorageLevel(True, True, True, False, 1)
StorageLevel.MEMORY_AND_DISK_DESER = StorageLevel(True, True, False, True)
