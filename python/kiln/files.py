"""SparkFiles: where files added with sc.addFile() are, in the client and
on every executor (WORK/APP/files/NAME on a worker, linked to its cache)."""
import os


class SparkFiles:
    _client_root = None

    @classmethod
    def get(cls, filename):
        """The absolute path of a file added with sc.addFile (on the driver or in
        a task).

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "files-example.txt")
        >>> with open(path, "w") as f:
        ...     _ = f.write("x")
        >>> sc.addFile(path)
        >>> os.path.basename(SparkFiles.get("files-example.txt"))
        'files-example.txt'
        >>> sc.parallelize([0]).map(lambda _: os.path.exists(SparkFiles.get("files-example.txt"))).collect()
        [True]
        """
        return os.path.join(cls.getRootDirectory(), filename)

    @classmethod
    def getRootDirectory(cls):
        """The directory the added files are in.

        >>> import os
        >>> os.path.isdir(SparkFiles.getRootDirectory())
        True
        """
        if cls._client_root is not None:
            return cls._client_root
        from . import _worker
        return os.path.join(_worker.app_dir, "files")
