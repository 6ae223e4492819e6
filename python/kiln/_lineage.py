"""What toDebugString shows: the lineage of engine nodes, as the client
built them.

Recorder wraps a Context's _kiln.Session and notes, for every node a
method makes, the operation, its parents and whether it is a shuffle
(where the driver cuts a stage), and for every job a call submits (the
session numbers them: job_seq) the job group of the thread that ran it,
for statusTracker().getJobIdsForGroup; everything else passes straight
through. debug_string renders one RDD's lineage in Spark's layout: one
line per node, " |  " under a node of the same stage, " +-" where a
shuffle starts the stage that feeds it, each stage block headed by its
partition count.
"""

# method -> (what it is called, index of the parents, shuffle?)
_MAKERS = {
    "text_file": ("textFile", (), False),
    "range": ("range", (), False),
    "parallelize": ("parallelize", (), False),
    "py_stage": ("python", (0,), False),
    "union": ("union", (0, 1), False),
    "reduce_add": ("reduceByKey(add)", (0,), True),
    "group_by_key": ("groupByKey", (0,), True),
    "distinct": ("distinct", (0,), True),
    "repartition": ("repartition", (0,), True),
    "sort_by_key": ("sortByKey", (0,), True),
    "join": ("join", (0, 1), True),
}


class Recorder:
    """A Session that remembers the nodes it made (borrows the session)."""

    def __init__(self, session, group_of=None):
        self._s = session
        self.nodes = {}     # node -> (label, parents, shuffle)
        self.kept = set()   # nodes marked to be cached
        self.groups = {}    # job id -> the job group it ran in (None: none)
        self._group_of = group_of or (lambda: None)

    def __getattr__(self, name):
        attr = getattr(self._s, name)
        spec = _MAKERS.get(name)
        if spec is None:
            if name == "cache":
                return self._cache
            if callable(attr) and name != "close":
                return self._jobs_of(attr)
            return attr
        label, parents, shuffle = spec

        def make(*args):
            node = attr(*args)
            what = label
            if name == "py_stage" and len(args) > 2 and args[2]:
                what = str(args[2])
            elif name == "text_file":
                what = "textFile(%s)" % args[0]
            self.nodes[node] = (what, tuple(args[i] for i in parents), shuffle)
            return node
        return make

    def _jobs_of(self, method):
        """method, noting the jobs a call of it submitted."""
        def call(*args):
            before = self._s.job_seq
            group = self._group_of()
            self.groups[before + 1] = group  # the job it may start, known while it runs
            try:
                return method(*args)
            finally:
                after = self._s.job_seq
                for j in range(before + 1, after + 1):
                    self.groups[j] = group
                if after == before:
                    self.groups.pop(before + 1, None)
        return call

    def _cache(self, node, on):
        (self.kept.add if on else self.kept.discard)(node)
        return self._s.cache(node, on)


def debug_string(rec, node, pending=None, level=None):
    """The lineage of node (with a pending Python pipeline over it, named
    by pending) as text, in Spark's layout."""
    lines = []

    def parts(n):
        try:
            return rec.partitions(n)
        except Exception:
            return "?"

    def desc(n):
        what, _, shuffle = rec.nodes.get(n, ("engine node", (), False))
        kept = " [cached]" if n in rec.kept else " []"
        return "%s [%s]%s%s" % (what, n, " (shuffle)" if shuffle else "", kept)

    def block(n, col, lead, head):
        lines.append(" " * col + lead + "(%s) %s" % (parts(n), head))
        below(n, col + len(lead))

    def below(cur, inner):
        while True:
            _, parents, shuffle = rec.nodes.get(cur, ("", (), False))
            if shuffle:  # the stage that feeds this one
                for p in parents:
                    block(p, inner + 1, "+-", desc(p))
                return
            if len(parents) != 1:  # a source, or a union: each input's lineage below it
                for p in parents:
                    block(p, inner + 1, "| ", desc(p))
                return
            cur = parents[0]
            lines.append(" " * inner + " |  " + desc(cur))

    if pending is not None:
        lines.append("(%s) %s [pipeline] [%s]" % (parts(node), pending, level or ""))
        lines.append(" |  " + desc(node))
        below(node, 0)
    else:
        block(node, 0, "", desc(node))
    return "\n".join(lines)
