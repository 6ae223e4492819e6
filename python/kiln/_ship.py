"""Finding and shipping the user's own modules.

A module the script imported from outside the interpreter's standard
library and site/dist-packages (data/data_source.py next to project.py)
is the user's: cloudpickle pickles functions from it by reference, so the
workers need its source. Every such module's file goes into one zip, laid
out by the sys.path entry it was imported through; the zip's bytes are
deterministic, so the same sources give the same content hash and are
uploaded and fetched once. Executors put the zip on sys.path.
"""
import io
import os
import site
import sys
import sysconfig
import zipfile

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def _system_dirs():
    dirs = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            dirs.add(os.path.realpath(p))
    try:
        dirs.update(os.path.realpath(p) for p in site.getsitepackages())
    except AttributeError:
        pass
    user = getattr(site, "getusersitepackages", lambda: None)()
    if user:
        dirs.add(os.path.realpath(user))
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix):
        dirs.add(os.path.realpath(os.path.join(p, "lib")))
    dirs.add(_PKG_DIR)
    return dirs


def _is_system(path, dirs):
    if "/site-packages/" in path or "/dist-packages/" in path:
        return True
    return any(path == d or path.startswith(d + os.sep) for d in dirs)


def user_modules():
    """{archive name: file path} of the user's imported modules."""
    dirs = _system_dirs()
    roots = sorted({os.path.realpath(p or os.getcwd()) for p in sys.path if isinstance(p, str)},
                   key=len, reverse=True)
    files = {}
    for name, mod in list(sys.modules.items()):
        if name == "__main__" or mod is None:
            continue
        f = getattr(mod, "__file__", None)
        if not f or not f.endswith(".py"):
            continue
        f = os.path.realpath(f)
        if _is_system(f, dirs) or not os.path.isfile(f):
            continue
        for r in roots:
            if f.startswith(r + os.sep) and not _is_system(r, dirs):
                rel = os.path.relpath(f, r)
                files[rel] = f
                # the packages above it (data/__init__.py), when they have one
                d = os.path.dirname(rel)
                while d:
                    init = os.path.join(r, d, "__init__.py")
                    if os.path.isfile(init):
                        files.setdefault(os.path.join(d, "__init__.py"), init)
                    d = os.path.dirname(d)
                break
    return files


class Shipper:
    """Zips the user's modules when they changed since the last action."""

    def __init__(self):
        self._key = None
        self._zip = None

    def archive(self):
        files = user_modules()
        if not files:
            return None
        key = tuple(sorted((rel, os.stat(p).st_mtime_ns, os.stat(p).st_size) for rel, p in files.items()))
        if key != self._key:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for rel in sorted(files):
                    info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
                    info.external_attr = 0o644 << 16
                    with open(files[rel], "rb") as f:
                        z.writestr(info, f.read(), zipfile.ZIP_DEFLATED)
            self._key, self._zip = key, buf.getvalue()
        return self._zip
