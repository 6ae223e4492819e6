"""SparkFiles: where files added with sc.addFile() are, in the client and
on every executor (WORK/APP/files/NAME on a worker, linked to its cache)."""
import os


class SparkFiles:
    _client_root = None

    @classmethod
    def get(cls, filename):
        return os.path.join(cls.getRootDirectory(), filename)

    @classmethod
    def getRootDirectory(cls):
        if cls._client_root is not None:
            return cls._client_root
        from . import _worker
        return os.path.join(_worker.app_dir, "files")
