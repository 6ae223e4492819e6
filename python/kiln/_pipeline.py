"""The functions that become stages: everything the RDD API ships to
executors (pipelined narrow transformations, the map side of shuffles,
actions' per-partition steps, sampling, pipe, partitionBy's partition
numbers, checkpoint and pickle files), and the few client-side helpers
that go with them (portable_hash, the input file listing, takeSample's
fraction).

Each builder takes only the user's functions and plain values and returns
a function of (split, iterator) or (iterator): nothing here captures an
RDD or a Context. cloudpickle ships a builder's closure by value, with the
globals it names (COMBINE_KEYS); the module-level functions it names go
by reference, so an executor imports this module and none of the
client's API modules.
"""
import base64
import copy
import functools
import heapq
import math
import os
import pickle
import random
import sys
from collections import defaultdict, deque
from itertools import chain, count, islice

from . import _stage
from .stats import StatCounter


# ---- the functions that become stages (no RDD captured) ----------------

def _compose(f, g):
    def composed(split, it):
        return g(split, f(split, it))
    composed._kiln_step = ("compose", f, g)  # what kiln._worker.word_pairs recognises
    return composed


def _identity(split, it):
    return it


# A StopIteration that a user function raises must fail the task, never
# end the partition early as the end of the input would: the user's
# functions run under the executor's user_map and user_filter (map() and
# filter() in C that turn it into PySpark's error), or inside generators,
# where PEP 479 makes it a RuntimeError that kiln._worker.run rewords.

def _calls(f, it):
    for x in it:
        yield f(x)


def _kept(f, it):
    for x in it:
        if f(x):
            yield x


def _user_map(f, it):
    try:
        from _kiln_exec import user_map  # in an executor
    except ImportError:
        return _calls(f, it)
    return user_map(f, it)


def _user_filter(f, it):
    try:
        from _kiln_exec import user_filter
    except ImportError:
        return _kept(f, it)
    return user_filter(f, it)


def _map(f):
    def stage(split, it):
        return _user_map(f, it)
    stage._kiln_step = ("map", f)
    return stage


def _flat_map(f):
    def stage(split, it):
        return chain.from_iterable(_user_map(f, it))
    stage._kiln_step = ("flatMap", f)
    return stage


def _filter(f):
    def stage(split, it):
        return _user_filter(f, it)
    return stage


def _partitions(f):
    def stage(split, it):
        return f(it)
    return stage


def _map_values(f):
    def stage(split, it):
        return ((k, f(v)) for k, v in it)
    return stage


def _flat_map_values(f):
    def stage(split, it):
        return ((k, x) for k, v in it for x in f(v))
    return stage


def _range_parts(r, n):
    start, step, length = r.start, r.step, len(r)

    def part(i):
        lo, hi = i * length // n, (i + 1) * length // n
        return range(start + lo * step, start + hi * step, step)

    def parts(it):  # chained in C: no generator frame per number
        return chain.from_iterable(map(part, it))
    return parts


# Keys a map-side combine holds before it lets its partial combiners go on
# to the shuffle (the reduce side merges them again, spilling in C), so a
# partition with many distinct keys does not hold them all in Python.
COMBINE_KEYS = 1 << 16


def _combine_locally(create, merge_value):
    """Map side of combineByKey: one combiner per key, at most COMBINE_KEYS
    held at once."""
    def stage(it):
        d = {}
        for k, v in it:
            if k in d:
                d[k] = merge_value(d[k], v)
            else:
                if len(d) >= COMBINE_KEYS:
                    yield from d.items()
                    d = {}
                d[k] = create(v)
        yield from d.items()
    return stage


def _merge_groups(merge):
    def stage(it):
        for k, cs in it:
            yield k, functools.reduce(merge, cs)
    return stage


def _tag(i):
    def f(v):
        return (i, v)
    return f


def _cogroup_lists(n):
    def f(tagged):
        out = tuple([] for _ in range(n))
        for i, v in tagged:
            out[i].append(v)
        return out
    return f


def _outer(kind):
    def f(lists):
        left, right = lists
        if kind in ("right", "full") and not left:
            left = [None]
        if kind in ("left", "full") and not right:
            right = [None]
        return [(a, b) for a in left for b in right]
    return f


def _mp_fold(zero, op):
    def stage(it):
        acc = copy.deepcopy(zero)
        for x in it:
            acc = op(acc, x)
        yield acc
    return stage


def _mp_reduce(f):
    def stage(it):
        it = iter(it)
        for first in it:
            yield functools.reduce(f, it, first)
            return
    return stage


def _count_part(it):
    n = count()
    deque(zip(it, n), maxlen=0)  # consumed in C: no Python bytecode per record
    yield next(n)


def _count_values(it):
    d = defaultdict(int)
    for x in it:
        d[x] += 1
    yield dict(d)


def _stats_part(it):
    yield StatCounter(it)


def _foreach(f):
    def stage(it):
        for x in it:
            f(x)
        return iter(())
    return stage


def _foreach_partition(f):
    def stage(it):
        f(it)
        return iter(())
    return stage


def _nlargest(n, key):
    def stage(it):
        yield heapq.nlargest(n, it, key=key)
    return stage


def _nsmallest(n, key):
    def stage(it):
        yield heapq.nsmallest(n, it, key=key)
    return stage


def _glom(it):
    yield list(it)


def _sample(with_replacement, fraction, seed):
    def stage(split, it):
        rng = random.Random(seed ^ (split * 0x9E3779B1))
        if with_replacement:
            for x in it:
                for _ in range(_poisson(rng, fraction)):  # Poisson(fraction) copies of each element
                    yield x
        else:
            for x in it:
                if rng.random() < fraction:
                    yield x
    return stage


def _with_index(offsets):
    def stage(split, it):
        for i, x in enumerate(it, offsets[split]):
            yield x, i
    return stage


def _to_pickled_lines(batch):
    def stage(it):
        it = iter(it)
        while True:
            b = list(islice(it, batch))
            if not b:
                return
            yield base64.b64encode(pickle.dumps(b, protocol=5)).decode("ascii")
    return stage


def _from_pickled_lines(line):
    return pickle.loads(base64.b64decode(line))


# ---- what coalesce and zipWithUniqueId ship -------------------------------

def _same_partition(it):
    return it


def _tag_positions(split, it):
    """Each element keyed by (its partition, its position there)."""
    for i, v in enumerate(it):
        yield (split, i), v


def _merge_neighbours(have, n):
    """The partitioner of coalesce: partition k of have goes to k * n // have,
    so each of the n partitions takes a run of neighbours."""
    def target(key):
        return key[0] * n // have
    return target


def _in_tagged_order(it):
    for _, v in sorted(it, key=lambda kv: kv[0]):
        yield v


def _unique_ids(n):
    """PySpark's ids: the i-th element of partition k of n gets i * n + k."""
    def ids(k, it):
        for i, v in enumerate(it):
            yield v, i * n + k
    return ids


# ---- partitionBy, pipe, whole files, checkpoints, takeSample ---------------

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


# ---- sampling, splits, local reductions ------------------------------------

def _range_sampler(lb, ub, seed):
    """The elements whose draw lands in [lb, ub): every split of one
    randomSplit draws the same numbers, so the splits are disjoint and
    cover the dataset."""
    def stage(split, it):
        rng = random.Random(seed ^ split)
        for x in it:
            r = rng.random()
            if lb <= r < ub:
                yield x
    return stage


def _poisson(rng, mean):
    """A Poisson(mean) draw (Knuth's method; fractions are small)."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _stratified(with_replacement, fractions, seed):
    def stage(split, it):
        rng = random.Random(seed ^ (split * 0x9E3779B1))
        for kv in it:
            f = fractions[kv[0]]
            if with_replacement:
                for _ in range(_poisson(rng, f)):
                    yield kv
            elif rng.random() < f:
                yield kv
    return stage


def _reduce_locally(func):
    def stage(it):
        d = {}
        for k, v in it:
            d[k] = func(d[k], v) if k in d else v
        yield d
    return stage


def _sort_partition(ascending, keyfunc):
    def stage(it):
        return iter(sorted(it, key=lambda kv: keyfunc(kv[0]), reverse=not ascending))
    return stage


def _ident(x):
    return x


def _count_float(it):
    n = 0
    for _ in it:
        n += 1
    yield float(n)


def _merge_dicts(func):
    def merge(a, b):
        for k, v in b.items():
            a[k] = func(a[k], v) if k in a else v
        return a
    return merge


def _is_default_hash(f):
    return f is None or getattr(f, "__name__", "") == "portable_hash"


# ---- small shipped helpers -----------------------------------------------

def _ident1(v):
    return v


def _with_true(x):
    return (x, True)


def _only_left(kv):
    return bool(kv[1][0]) and not kv[1][1]


def _in_both(kv):
    return bool(kv[1][0]) and bool(kv[1][1])


def _swap(xi):
    return (xi[1], xi[0])


def _key_by(f):
    def g(x):
        return (f(x), x)
    return g


def _key_by_key(keyfunc):
    def g(kv):
        return (keyfunc(kv[0]), kv)
    return g


def _key_is(key):
    def g(kv):
        return kv[0] == key
    return g


def _pairs_with(rows):
    def g(a):
        return [(a, b) for b in rows]
    return g


def _zero_then(zero, func):
    def create(v):
        return func(copy.deepcopy(zero), v)
    return create


def _in_client(f):
    """f for the merges that run in the client: a StopIteration it raises
    fails the action with the words a task uses, rather than escaping as
    the end of some iteration of the caller's."""
    def g(*args):
        try:
            return f(*args)
        except StopIteration as e:
            raise RuntimeError(_stage.STOP_ITERATION) from e
    return g


def _partial_sum(it):
    yield sum(it)


def _pick(which, key):
    def f(a, b):
        return which(a, b, key=key) if key else which(a, b)
    return f
