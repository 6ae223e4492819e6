"""Planning joins and set operations: join on names (USING), on a Column
condition, cross joins; UNION ALL by position and by name; INTERSECT and
EXCEPT (distinct, with NULLs equal, as Spark's)."""
from . import expr as E
from . import plan as P
from .column import Column
from .errors import AnalysisException
from .physical import and_all


class IllegalArgumentException(ValueError):
    pass


_SUPPORTED = "'inner', 'outer', 'full', 'fullouter', 'full_outer', 'leftouter', 'left', 'left_outer', " \
             "'rightouter', 'right', 'right_outer', 'leftsemi', 'left_semi', 'semi', 'leftanti', 'left_anti', " \
             "'anti', 'cross'"


def join_type(how):
    key = (how or "inner").lower()
    if key not in P.JOIN_TYPES:
        raise IllegalArgumentException("Unsupported join type '%s'. Supported join types include: %s."
                                       % (how, _SUPPORTED))
    return P.JOIN_TYPES[key]


def _requalify(plan, like):
    """The same rows under new attribute ids (a relation joined with itself),
    keeping the qualifier its output had."""
    out = []
    for a in plan.output():
        al = E.Alias(a, a.name()).coerce()
        out.append(al)
    node = P.Project(plan, out)
    quals = {a.name(): a.qualifier for a in like.output()}
    if len(set(quals.values())) == 1 and next(iter(quals.values()), None):
        return P.SubqueryAlias(node, next(iter(quals.values())))
    return node


def dedupe(left, right):
    lids = {a.aid for a in left.output()}
    if lids & {a.aid for a in right.output()}:
        return _requalify(right, right)
    return right


def using_join(left, right, names, how):
    lo, ro = left.output(), right.output()
    conds, lkeys, rkeys = [], [], []
    for n in names:
        la = E.find_attr(E.Col(n), lo)
        ra = E.find_attr(E.Col(n), ro)
        lkeys.append(la)
        rkeys.append(ra)
        conds.append(E.Cmp("=", la, ra).coerce())
    node = P.Join(left, right, how, and_all(conds))
    if how in ("left_semi", "left_anti"):
        return node
    out_l = {a.aid for a in node.left.output()}
    keys = []
    for n, la, ra in zip(names, lkeys, rkeys):
        if how == "right":
            keys.append(ra)
        elif how == "full":
            from .scalar import Func
            keys.append(E.Alias(Func("coalesce", [la, ra]).coerce(), la.name()).coerce())
        else:
            keys.append(la)
    used = {a.aid for a in lkeys} | {a.aid for a in rkeys}
    outs = node.output()
    rest_l = [a for a in outs if a.aid in out_l and a.aid not in used]
    rest_r = [a for a in outs if a.aid not in out_l and a.aid not in used]
    # the key columns as the join's output has them (nullable on an outer side)
    by_id = {a.aid: a for a in outs}
    keys = [by_id.get(k.aid, k) if isinstance(k, E.Attr) else k for k in keys]
    return P.Project(node, keys + rest_l + rest_r)


def join(df, other, on, how):
    how = join_type(how)
    left, right = df._plan, dedupe(df._plan, other._plan)
    if on is None:
        if how not in ("inner", "cross", "left", "right", "full", "left_semi", "left_anti"):
            raise AnalysisException("join type %s needs a join condition" % how)
        return P.Join(left, right, "cross" if how == "inner" else how, None)
    if isinstance(on, str):
        on = [on]
    if isinstance(on, (list, tuple)) and on and all(isinstance(x, str) for x in on):
        return using_join(left, right, list(on), "inner" if how == "cross" else how)
    if isinstance(on, Column):
        on = [on]
    if isinstance(on, (list, tuple)) and all(isinstance(x, Column) for x in on):
        scope = left.output() + right.output()
        cond = and_all([E._boolean(E.analyze(c._e, scope), "join condition") for c in on])
        return P.Join(left, right, "inner" if how == "cross" else how, cond)
    raise TypeError("on should be a column name, a list of names, a Column or a list of Columns")


def _coerced_pair(left, right, what):
    lo, ro = left.output(), right.output()
    if len(lo) != len(ro):
        raise AnalysisException(
            "[NUM_COLUMNS_MISMATCH] %s can only be performed on inputs with the same number of columns, but the "
            "first input has %d columns and the second input has %d columns." % (what, len(lo), len(ro)))
    types = [E.common_type(a.dtype, b.dtype, what) for a, b in zip(lo, ro)]
    return lo, ro, types


def union(left, right):
    lo, ro, types = _coerced_pair(left, right, "UNION")
    attrs = [E.Attr(a.name(), t, a.nullable or b.nullable) for a, b, t in zip(lo, ro, types)]
    return P.Union(left, right, attrs)


def union_by_name(df, other, allow_missing):
    lo, ro = df._plan.output(), other._plan.output()
    rnames = {a.name().lower(): a for a in ro}
    lnames = {a.name().lower(): a for a in lo}
    right_exprs = []
    for a in lo:
        r = rnames.get(a.name().lower())
        if r is None:
            if not allow_missing:
                raise AnalysisException("[NUM_COLUMNS_MISMATCH] Cannot resolve column name \"%s\" among (%s)."
                                        % (a.name(), ", ".join(x.name() for x in ro)))
            right_exprs.append(E.Alias(E.Lit(None, a.dtype), a.name()).coerce())
        else:
            right_exprs.append(r)
    left_plan = df._plan
    extra = [r for r in ro if r.name().lower() not in lnames]
    if extra:
        if not allow_missing:
            raise AnalysisException("[NUM_COLUMNS_MISMATCH] UNION can only be performed on inputs with the same "
                                    "number of columns, but the first input has %d columns and the second input "
                                    "has %d columns." % (len(lo), len(ro)))
        left_plan = P.Project(left_plan, list(lo) + [E.Alias(E.Lit(None, r.dtype), r.name()).coerce()
                                                     for r in extra])
        right_exprs += extra
    return union(left_plan, P.Project(other._plan, right_exprs))


def set_op(df, other, how):
    from .grouping import aggregate
    left, right = df._plan, dedupe(df._plan, other._plan)
    what = "INTERSECT" if how == "left_semi" else "EXCEPT"
    lo, ro, types = _coerced_pair(left, right, what)
    conds = [E.Cmp("=", E.implicit_cast(a, t), E.implicit_cast(b, t)).coerce() for a, b, t in zip(lo, ro, types)]
    node = P.Join(left, right, how, and_all(conds), null_safe=True)
    out = node.output()
    return aggregate(node, list(out), list(out))
