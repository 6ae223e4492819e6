"""The functions the engine-level RDD API ships to executors, and its
helpers in the client: partitionBy's partition numbers and portable_hash,
pipe's subprocess, wholeTextFiles' and binaryFiles' listing and reading,
checkpoint files read back, combineByKey's merge after a user's
partitioning, takeSample's fraction. Like the helpers in rdd.py they are
built from the user's functions only: no RDD or Context is captured.
"""
import math
import os
import sys
from itertools import islice


def portable_hash(x):
    """A hash of x that is the same in every process (PySpark's, without its
    need for PYTHONHASHSEED): None is 0, tuples combine their items' hashes
    as PySpark does, str and bytes hash their bytes with BLAKE2b (Python's
    own hash of them changes with each interpreter), other objects use
    hash().

    >>> portable_hash(None), portable_hash(1), portable_hash((1, 2)) == portable_hash((1, 2))
    (0, 1, True)
    """
    if x is None:
        return 0
    if isinstance(x, tuple):
        h = 0x345678
        for i in x:
            h ^= portable_hash(i)
            h *= 1000003
            h &= sys.maxsize
        h ^= len(x)
        if h == -1:
            h = -2
        return int(h)
    if isinstance(x, (str, bytes, bytearray)):
        import hashlib
        b = x.encode("utf-8", "surrogatepass") if isinstance(x, str) else bytes(x)
        return int.from_bytes(hashlib.blake2b(b, digest_size=8).digest(), "little") & sys.maxsize
    return hash(x)


def _name_partitions(func, n):
    """partitionBy's map side: each pair with the partition it goes to."""
    def stage(it):
        for kv in it:
            yield func(kv[0]) % n, kv
    return stage


def _pipe_through(command, env, check_code):
    """The partition's elements through a shell command, its stdout's lines
    out. Writing and reading interleave in this one thread (a selector over
    both pipes), so neither side can block the other and the engine's
    input is read only by the thread that runs the task."""
    def stage(it):
        import selectors
        import subprocess
        proc = subprocess.Popen(["/bin/sh", "-c", command], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        win, rout = proc.stdin.fileno(), proc.stdout.fileno()
        os.set_blocking(win, False)
        sel = selectors.DefaultSelector()
        sel.register(win, selectors.EVENT_WRITE)
        sel.register(rout, selectors.EVENT_READ)
        src, pending, partial, ended = iter(it), b"", b"", False
        try:
            while sel.get_map():
                for key, _ in sel.select():
                    if key.fd == win:
                        if not pending:
                            chunk = list(islice(src, 256))
                            ended = not chunk
                            pending = "".join(str(x).rstrip("\n") + "\n" for x in chunk).encode("utf-8")
                        try:
                            if pending:
                                pending = pending[os.write(win, pending):]
                        except BrokenPipeError:  # the command stopped reading: what it printed is the answer
                            pending, ended = b"", True
                        if ended and not pending:
                            sel.unregister(win)
                            proc.stdin.close()
                    else:
                        data = os.read(rout, 1 << 16)
                        if not data:
                            sel.unregister(rout)
                            continue
                        lines = (partial + data).split(b"\n")
                        partial = lines.pop()
                        for line in lines:
                            yield line.decode("utf-8")
            if partial:
                yield partial.decode("utf-8")
        finally:
            sel.close()
            if not proc.stdin.closed:
                proc.stdin.close()
            proc.stdout.close()
            proc.wait()
        if check_code and proc.returncode:
            raise RuntimeError("Pipe function `%s' exited with error code %d" % (command, proc.returncode))
    return stage


def _list_input_files(path):
    """The files a Hadoop-style input path names, sorted: each of its
    comma-separated parts is a file, a directory (its files, leaving out
    names that start with '.' or '_', as Hadoop's hidden-file filter) or a
    glob; a part that names nothing is an error, as in Spark."""
    import glob
    files = []
    for part in str(path).split(","):
        p = part[len("file:"):] if part.startswith("file:") else part
        p = os.path.abspath(p)
        matches = sorted(glob.glob(p)) if glob.has_magic(p) else ([p] if os.path.exists(p) else [])
        if not matches:
            raise FileNotFoundError("Input path does not exist: file:%s" % p)
        for m in matches:
            if os.path.isdir(m):
                files += [os.path.join(m, n) for n in sorted(os.listdir(m))
                          if not n.startswith((".", "_")) and os.path.isfile(os.path.join(m, n))]
            else:
                files.append(m)
    return files


def _read_whole(text, use_unicode):
    def read(p):
        with open(p, "rb") as f:
            data = f.read()
        uri = "file:" + p
        if not text:
            return uri, data
        if use_unicode:
            return uri, data.decode("utf-8")
        return uri.encode("utf-8"), data
    return read


def _read_checkpoint_part(path):
    import base64
    import pickle
    import sys as _sys
    print("kiln: reading checkpoint %s" % path, file=_sys.stderr, flush=True)
    with open(path, "rb") as f:
        for line in f:
            yield from pickle.loads(base64.b64decode(line))


def _fraction_for_sample_size(lower_bound, total, with_replacement):
    """A sampling fraction whose sample has at least lower_bound of total
    elements with high probability (PySpark's bounds: a Poisson margin of 5
    or 9 standard deviations with replacement, a binomial one with a failure
    rate of 5e-5 without)."""
    fraction = float(lower_bound) / total
    if with_replacement:
        num_stdev = 9 if lower_bound < 12 else 5
        return fraction + num_stdev * math.sqrt(fraction / total)
    delta = 0.00005
    gamma = -math.log(delta) / total
    return min(1, fraction + gamma + math.sqrt(gamma * gamma + 2 * gamma * fraction))


def _merge_combiners(merge):
    """The reduce side of combineByKey with a partitionFunc: each key's
    combiners, which partitionBy brought to this partition, merged (held in
    a dict: one entry per key of the partition)."""
    def stage(it):
        d = {}
        for k, c in it:
            d[k] = merge(d[k], c) if k in d else c
        return iter(d.items())
    return stage


def _one_list(v):
    return [v]


def _append(acc, v):
    acc.append(v)
    return acc


def _extend(a, b):
    a.extend(b)
    return a


# pickleFile lives on the context, as in PySpark
