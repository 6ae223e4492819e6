"""The optimizer's rules on plans built by hand (no cluster): what each
rule moves, and what it must leave alone."""
from kiln.sql import expr as E
from kiln.sql import plan as P
from kiln.sql import types as T
from kiln.sql.batch import Batch
from kiln.sql.optimizer import optimize
from kiln.sql.udf import UDFCall, UserDefinedFunction


def scan(*names):
    attrs = [E.Attr(n, T.IntegerType()) for n in names]
    return P.LocalScan([Batch({}, 0)], attrs, 1), attrs


def gt(a, v):
    return E.Cmp(">", a, E.Lit(v)).coerce()


def nodes(plan, cls):
    out = []

    def walk(p):
        if isinstance(p, cls):
            out.append(p)
        for c in p.children:
            walk(c)
    walk(plan)
    return out


def test_filter_pushdown_and_folding():
    l, (a, b) = scan("a", "b")
    r, (c, d) = scan("c", "d")
    j = P.Join(l, r, "inner", E.Cmp("=", a, c).coerce())
    cond = E.Logic("AND", gt(a, 1), E.Cmp(">", d, E.Arith("+", E.Lit(1), E.Lit(1)).coerce()).coerce()).coerce()
    opt = optimize(P.Project(P.Filter(j, cond), [b]))
    join = nodes(opt, P.Join)[0]
    assert isinstance(join.left, P.Filter) and join.left.cond.sql() == "(a > 1)"
    assert isinstance(join.right, P.Filter) and join.right.cond.sql() == "(d > 2)"  # 1 + 1 folded
    # pruning: the left scan reads a and b, the right one c and d
    scans = nodes(opt, P.LocalScan)
    assert [sorted(x.name() for x in s.output()) for s in scans] == [["a", "b"], ["c", "d"]]


def test_where_over_a_cross_join_becomes_its_condition():
    l, (a, b) = scan("a", "b")
    r, (c, d) = scan("c", "d")
    opt = optimize(P.Filter(P.Join(l, r, "cross", None), E.Cmp("=", a, c).coerce()))
    join = nodes(opt, P.Join)[0]
    assert join.how == "inner" and join.cond.sql() == "(a = c)" and not nodes(opt, P.Filter)


def test_outer_join_sides_are_respected():
    l, (a, b) = scan("a", "b")
    r, (c, d) = scan("c", "d")
    left = P.Join(l, r, "left", E.Cmp("=", a, c).coerce())
    opt = optimize(P.Filter(left, E.Logic("AND", gt(a, 1), gt(d, 5)).coerce()))
    join = nodes(opt, P.Join)[0]
    # a's filter may go to the preserved (left) side; d's must stay above (d is NULL for unmatched rows)
    assert isinstance(join.left, P.Filter) and not isinstance(join.right, P.Filter)
    assert isinstance(opt, P.Filter) and opt.cond.sql() == "(d > 5)"
    full = P.Join(l, r, "full", E.Cmp("=", a, c).coerce())
    opt = optimize(P.Filter(full, gt(a, 1)))
    assert isinstance(opt, P.Filter) and not nodes(opt.children[0], P.Filter)


def test_filters_and_projects_combine_but_udfs_are_not_duplicated():
    s, (a, b) = scan("a", "b")
    inner = P.Project(s, [E.Alias(E.Arith("+", a, E.Lit(1)).coerce(), "x").coerce(), b])
    x = inner.output()[0]
    outer = P.Project(inner, [E.Alias(E.Arith("*", x, x).coerce(), "y").coerce()])
    opt = optimize(outer)
    assert len(nodes(opt, P.Project)) == 1 and opt.exprs[0].child.sql() == "((a + 1) * (a + 1))"
    u = UserDefinedFunction(lambda v: v, T.IntegerType(), "f")
    inner = P.Project(s, [E.Alias(UDFCall(u, [a]).coerce(), "x").coerce()])
    x = inner.output()[0]
    opt = optimize(P.Project(inner, [E.Alias(E.Arith("*", x, x).coerce(), "y").coerce()]))
    assert len(nodes(opt, P.Project)) == 2  # collapsing would call the UDF twice per row
    f = optimize(P.Filter(P.Filter(s, gt(a, 1)), gt(b, 2)))
    assert len(nodes(f, P.Filter)) == 1 and f.cond.sql() == "((a > 1) AND (b > 2))"


def test_filter_goes_below_an_aggregate_only_on_its_keys():
    from kiln.sql.aggregate import AggCall
    s, (a, b) = scan("a", "b")
    total = E.Alias(AggCall("sum", [b]).coerce(), "s").coerce()
    agg = P.Aggregate(s, [a], [total])
    opt = optimize(P.Filter(agg, E.Logic("AND", gt(a, 1), gt(total.to_attr(), 10)).coerce()))
    assert isinstance(opt, P.Filter) and opt.cond.sql() == "(s > 10)"
    below = nodes(opt, P.Aggregate)[0].child
    assert isinstance(below, P.Filter) and below.cond.sql() == "(a > 1)"
