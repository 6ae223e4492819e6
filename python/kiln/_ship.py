"""Finding and shipping the user's own Python files.

Two sources make one zip. First, every module the script imported from
outside the interpreter's standard library and site/dist-packages, laid
out by the sys.path entry it was imported through (a py-file's folder, a
PYTHONPATH entry). Second, the project itself: every .py file under the
script's folder and its subfolders, imported yet or not, so a module
imported only inside a function, or a package without __init__.py
(data/data_source.py next to project.py), is found on the worker (a
script right in /tmp, the home folder or / ships only its imports). The
walk leaves out hidden folders, virtual environments (a folder holding
pyvenv.cfg), __pycache__, site/dist-packages and files over MAX_FILE,
and stops after MAX_FILES files or MAX_NAMES names seen; what it leaves
out is noted once on stderr. The zip holds a directory entry for every folder, which
zipimport needs to see a namespace package.

The zip's bytes are deterministic, so the same sources give the same
content hash and are uploaded and fetched once. Executors put the zip on
sys.path.
"""
import io
import os
import site
import sys
import sysconfig
import zipfile

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))

# A project file larger than this is left out (generated tables, data
# saved as .py); an imported module is shipped whatever its size.
MAX_FILE = 1 << 20
# The walk ships at most this many files, and looks at most at this many
# names (a script in a home folder, or in /tmp, does not walk the disk).
MAX_FILES = 2000
MAX_NAMES = 50000


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


# What user_modules learnt of each module, by (module, its __file__), for
# one sys.path and working folder: the realpath of a system module's file
# is looked up once per process rather than once per stage.
_seen = {"where": None, "system": {}}


def user_modules():
    """{archive name: file path} of the user's imported modules."""
    where = (tuple(p for p in sys.path if isinstance(p, str)), os.getcwd())
    if _seen["where"] != where:
        _seen["where"], _seen["system"] = where, {}
    system = _seen["system"]  # (id(module), __file__) -> True (a system module) or its realpath
    dirs = None
    roots = sorted({os.path.realpath(p or os.getcwd()) for p in sys.path if isinstance(p, str)},
                   key=len, reverse=True)
    files = {}
    for name, mod in list(sys.modules.items()):
        if name == "__main__" or mod is None or getattr(mod, "__kiln__", False):
            continue  # (kiln's pyspark package: executors make their own)
        f = getattr(mod, "__file__", None)
        if not f or not f.endswith(".py"):
            continue
        key = (id(mod), f)
        known = system.get(key)
        if known is True:
            continue
        if known is None:
            if dirs is None:
                dirs = _system_dirs()
            known = os.path.realpath(f)
            if _is_system(known, dirs):
                system[key] = True
                continue
            system[key] = known
        f = known
        if not os.path.isfile(f):
            continue
        if dirs is None:
            dirs = _system_dirs()
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


def _shared_dirs():
    """Folders that hold many people's or programs' files rather than one
    project: a script right in one of them ships only what it imported."""
    dirs = {os.sep, "/tmp", "/var/tmp", "/dev/shm", os.path.expanduser("~")}
    return {os.path.realpath(d) for d in dirs}


def project_root():
    """The script's folder, or None (an interactive session, python -c, a
    script inside the interpreter's own folders, or right in a shared
    folder: the root, /tmp, the home folder)."""
    main = sys.modules.get("__main__")
    f = getattr(main, "__file__", None)
    if not f:
        return None
    root = os.path.dirname(os.path.realpath(f))
    if root in _shared_dirs() or _is_system(root, _system_dirs()):
        return None
    return root


def _skip_dir(path, name):
    return (name.startswith(".") or name == "__pycache__" or name in ("site-packages", "dist-packages")
            or os.path.isfile(os.path.join(path, "pyvenv.cfg")))


def project_files(root, dirs=None):
    """({archive name: file path}, [what was left out, and why]) of the
    .py files under root; dirs, when given, gets {folder walked: its
    mtime}, which changes when a name in it comes or goes."""
    files, left, seen = {}, [], 0
    for d, subdirs, names in os.walk(root):
        if dirs is not None:
            try:
                dirs[d] = os.stat(d).st_mtime_ns
            except OSError:
                pass
        seen += len(subdirs) + len(names)
        if seen > MAX_NAMES:
            left.append("%s and the rest (the walk stops after %d names)" % (os.path.relpath(d, root), MAX_NAMES))
            return files, left
        kept = []
        for s in sorted(subdirs):
            p = os.path.join(d, s)
            if os.path.islink(p):
                continue
            if _skip_dir(p, s):
                if not s.startswith(".") and s != "__pycache__":
                    left.append("%s (a virtual environment or installed packages)" % os.path.relpath(p, root))
                continue
            kept.append(s)
        subdirs[:] = kept
        for n in sorted(names):
            if not n.endswith(".py"):
                continue
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            try:
                size = os.path.getsize(p)
            except OSError:
                continue
            if size > MAX_FILE:
                left.append("%s (%d bytes, over %d)" % (rel, size, MAX_FILE))
            elif len(files) >= MAX_FILES:
                left.append("%s and the rest (over %d files)" % (rel, MAX_FILES))
                return files, left
            else:
                files[rel] = p
    return files, left


def _dirs_of(names):
    out = set()
    for n in names:
        d = os.path.dirname(n)
        while d:
            out.add(d + "/")
            d = os.path.dirname(d)
    return out


def zip_files(files):
    """Deterministic zip bytes of {archive name: path}, with a directory
    entry for every folder (zipimport finds namespace packages by them)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for d in sorted(_dirs_of(files)):
            info = zipfile.ZipInfo(d, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o40755 << 16) | 0x10
            z.writestr(info, b"")
        for rel in sorted(files):
            info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with open(files[rel], "rb") as f:
                z.writestr(info, f.read(), zipfile.ZIP_DEFLATED)
    return buf.getvalue()


class Shipper:
    """Zips the user's files when they changed since the last action."""

    def __init__(self, err=None):
        self._key = None
        self._zip = None
        self._noted = set()
        self._err = err or sys.stderr
        self.root = project_root()
        self._walk = None  # ({folder: mtime}, files, left) of the last walk

    def _project(self):
        """The walk of the script's folder, done again only when a folder
        it walked changed (a file's own changes are in archive's key)."""
        if self._walk is not None:
            dirs, files, left = self._walk
            try:
                if all(os.stat(d).st_mtime_ns == m for d, m in dirs.items()):
                    return files, left
            except OSError:
                pass
        dirs = {}
        files, left = project_files(self.root, dirs)
        self._walk = (dirs, files, left)
        return files, left

    def files(self):
        files = user_modules()
        if self.root is not None:
            mine, left = self._project()
            for rel, p in mine.items():
                files.setdefault(rel, p)
            new = [x for x in left if x not in self._noted]
            if new:
                self._noted.update(new)
                self._err.write("kiln: not shipping from %s: %s; ship what the job needs with sc.addPyFile "
                                "or --py-files\n" % (self.root, ", ".join(new)))
        return files

    def archive(self):
        files = self.files()
        if not files:
            return None
        key = tuple(sorted((rel, os.stat(p).st_mtime_ns, os.stat(p).st_size) for rel, p in files.items()))
        if key != self._key:
            self._key, self._zip = key, zip_files(files)
        return self._zip
