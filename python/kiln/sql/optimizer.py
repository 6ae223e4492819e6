"""The optimizer: small pure rules, each a function from a plan node to a
plan node, applied bottom-up until nothing changes, then column pruning
top-down.

    fold_constants        an expression of literals becomes its value
    combine_filters       Filter(Filter(x, a), b) -> Filter(x, a AND b)
    push_filters          a filter moves below a project (its aliases
                          substituted), a sort, an alias, a repartition,
                          an aggregate (conditions on plain group keys) and
                          a join (each side's conjuncts to that side where
                          the join type allows; conditions over both sides
                          of an inner join join its condition)
    collapse_projects     Project(Project(x, a), b) -> one Project
    remove_noop_projects  a project that returns its input unchanged goes
    eliminate_subquery_aliases  names of relations only served resolution
    prune_columns         scans read only the columns something above uses

A rule never changes what a query returns: filters stay above outer
joins' null-extended sides, non-deterministic expressions and UDFs are
not duplicated or moved.
"""
from . import expr as E
from . import plan as P
from .batch import Batch
from .physical import and_all, split_conjuncts
from .udf import UDFCall


def optimize(plan):
    for _ in range(20):
        new = plan.transform_up(_rules)
        if new is plan:
            break
        plan = new
    return prune_columns(plan, None)


def _rules(node):
    for rule in (eliminate_subquery_aliases, fold_constants, combine_filters, push_filters, collapse_projects, remove_noop_projects):
        node = rule(node)
    return node


def eliminate_subquery_aliases(node):
    """A relation's name only served resolution, which is done."""
    if isinstance(node, P.SubqueryAlias):
        return node.children[0]
    return node


# ---- expressions -----------------------------------------------------------------

def _fold(e):
    def f(x):
        if isinstance(x, (E.Lit, E.Alias, E.SortOrder)) or not x.foldable:
            return x
        try:
            value = x.eval(Batch({}, 1)).to_list()[0]
        except Exception:  # left to fail (or not) where it runs, as unfolded
            return x
        return E.Lit(value, x.dtype)
    return e.transform(f)


def _changed(old, new):
    return any(a is not b for a, b in zip(old, new))


def fold_constants(node):
    if isinstance(node, P.Project):
        exprs = [_fold(e) for e in node.exprs]
        return P.Project(node.child, exprs) if _changed(node.exprs, exprs) else node
    if isinstance(node, P.Filter):
        cond = _fold(node.cond)
        if isinstance(cond, E.Lit) and cond.value is True:
            return node.child
        return P.Filter(node.child, cond) if cond is not node.cond else node
    if isinstance(node, P.Join) and node.cond is not None:
        cond = _fold(node.cond)
        return P.Join(node.left, node.right, node.how, cond, node.null_safe) if cond is not node.cond else node
    return node


def _deterministic(e):
    return e.deterministic and not any(isinstance(x, UDFCall) for x in e.walk())


def combine_filters(node):
    if isinstance(node, P.Filter) and isinstance(node.child, P.Filter) and _deterministic(node.cond) \
            and _deterministic(node.child.cond):
        return P.Filter(node.child.child, and_all([node.child.cond, node.cond]))
    return node


def _substitute(e, defs):
    """e with attributes defined by aliases replaced by their expressions."""
    def f(x):
        if isinstance(x, E.Attr) and x.aid in defs:
            return defs[x.aid]
        return x
    return e.transform(f)


def push_filters(node):
    if not isinstance(node, P.Filter) or not _deterministic(node.cond):
        return node
    child, cond = node.child, node.cond
    if isinstance(child, P.Project):
        defs = {e.aid: e.child for e in child.exprs if isinstance(e, E.Alias)}
        if all(_deterministic(d) for d in defs.values()):
            return P.Project(P.Filter(child.child, _substitute(cond, defs)), child.exprs)
        return node
    if isinstance(child, (P.Sort, P.SubqueryAlias, P.Repartition, P.BroadcastHint)):
        return child.with_children([P.Filter(child.children[0], cond)])
    if isinstance(child, P.Aggregate):
        plain = {k.aid for k in child.keys if isinstance(k, E.Attr)}
        down, up = [], []
        for c in split_conjuncts(cond):
            (down if c.refs() and c.refs() <= plain else up).append(c)
        if not down:
            return node
        agg = P.Aggregate(P.Filter(child.child, and_all(down)), child.keys, child.aggs)
        return P.Filter(agg, and_all(up)) if up else agg
    if isinstance(child, P.Join):
        return _push_into_join(node, child)
    return node


def _push_into_join(node, j):
    lids = {a.aid for a in j.left.output()}
    rids = {a.aid for a in j.right.output()}
    to_left, to_right, into, up = [], [], [], []
    for c in split_conjuncts(node.cond):
        refs = c.refs()
        if refs and refs <= lids and j.how in ("inner", "cross", "left", "left_semi", "left_anti"):
            to_left.append(c)
        elif refs and refs <= rids and j.how in ("inner", "cross", "right"):
            to_right.append(c)
        elif j.how in ("inner", "cross") and refs <= lids | rids and not j.null_safe:
            into.append(c)
        else:
            up.append(c)
    if not (to_left or to_right or into):
        return node
    left = P.Filter(j.left, and_all(to_left)) if to_left else j.left
    right = P.Filter(j.right, and_all(to_right)) if to_right else j.right
    cond = j.cond
    how = j.how
    if into:
        cond = and_all(([cond] if cond is not None else []) + into)
        how = "inner"
    out = P.Join(left, right, how, cond, j.null_safe)
    return P.Filter(out, and_all(up)) if up else out


def collapse_projects(node):
    if not (isinstance(node, P.Project) and isinstance(node.child, P.Project)):
        return node
    inner = node.child
    defs = {e.aid: e for e in inner.exprs if isinstance(e, E.Alias)}
    uses = {}
    for e in node.exprs:
        for x in e.walk():
            if isinstance(x, E.Attr) and x.aid in defs:
                uses[x.aid] = uses.get(x.aid, 0) + 1
    for aid, n in uses.items():
        d = defs[aid].child
        if not _deterministic(d) and (n > 1 or not d.deterministic):
            return node
        if n > 1 and not isinstance(d, (E.Attr, E.Lit)) and any(isinstance(x, UDFCall) for x in d.walk()):
            return node
    out = []
    for e in node.exprs:
        if isinstance(e, E.Attr) and e.aid in defs:
            d = defs[e.aid]
            out.append(E.Alias(d.child, e.name(), d.aid).coerce())
        elif isinstance(e, E.Alias):
            out.append(E.Alias(_substitute(e.child, {k: v.child for k, v in defs.items()}), e.alias, e.aid).coerce())
        else:
            out.append(e)
    return P.Project(inner.child, out)


def remove_noop_projects(node):
    if isinstance(node, P.Project):
        out = node.child.output()
        if len(out) == len(node.exprs) and all(
                isinstance(e, E.Attr) and e.aid == a.aid and e.name() == a.name()
                for e, a in zip(node.exprs, out)):
            return node.child
    return node


# ---- column pruning ------------------------------------------------------------------

def _refs(es):
    out = set()
    for e in es:
        out |= e.refs()
    return out


def prune_columns(node, required):
    """node reading only what is required (a set of attr ids, None: all)."""
    if isinstance(node, P.Project):
        exprs = node.exprs if required is None else [e for e in node.exprs if e.aid in required] or node.exprs[:0]
        return P.Project(prune_columns(node.child, _refs(exprs)), exprs)
    if isinstance(node, P.Filter):
        need = None if required is None else required | node.cond.refs()
        return P.Filter(prune_columns(node.child, need), node.cond)
    if isinstance(node, P.Aggregate):
        aggs = node.aggs if required is None else [a for a in node.aggs if a.aid in required]
        return P.Aggregate(prune_columns(node.child, _refs(node.keys) | _refs(aggs)), node.keys, aggs)
    if isinstance(node, P.Sort):
        need = None if required is None else required | _refs(node.orders)
        return P.Sort(prune_columns(node.child, need), node.orders)
    if isinstance(node, P.Join):
        if required is None:
            need = None
        else:
            need = required | (node.cond.refs() if node.cond is not None else set())
        lids = {a.aid for a in node.left.output()}
        rids = {a.aid for a in node.right.output()}
        ln = None if need is None else need & lids
        rn = None if need is None else need & rids
        return P.Join(prune_columns(node.left, ln), prune_columns(node.right, rn), node.how, node.cond,
                      node.null_safe)
    if isinstance(node, P.Repartition):
        need = None if required is None else required | _refs(node.keys)
        return node.with_children([prune_columns(node.children[0], need)])
    if isinstance(node, (P.Limit, P.SubqueryAlias, P.BroadcastHint, P.Sample)):
        return node.with_children([prune_columns(node.children[0], required)])
    if isinstance(node, (P.LocalScan, P.RDDScan)) and required is not None:
        keep = {a.aid for a in node.attrs} & required
        if node.columns is not None:
            keep &= node.columns
        return node.with_columns(keep)
    if isinstance(node, P.Union):
        return node.with_children([prune_columns(c, None) for c in node.children])
    from .window import WindowNode
    if isinstance(node, WindowNode):
        own = {w.aid for w in node.wexprs}
        need = None if required is None else (required - own) | _refs(node.wexprs)
        return node.with_children([prune_columns(node.child, need)])
    return node
