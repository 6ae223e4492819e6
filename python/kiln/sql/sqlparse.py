"""Spark SQL text into the logical plan, through sqlglot's Spark dialect.

sqlglot (Debian's python3-sqlglot) parses; this module walks its tree:
a SELECT becomes FROM/JOIN relations, WHERE, the aggregation (GROUP BY,
HAVING, aggregates in the select list), the projection, DISTINCT, ORDER
BY and LIMIT, in SQL's order of evaluation; expressions become the same
expression nodes the Column API builds. A construct kiln does not handle
fails with AnalysisException naming it.
"""
import sqlglot
from sqlglot import exp

from . import expr as E
from . import plan as P
from . import types as T
from .aggregate import AGG_NAMES, AggCall
from .errors import AnalysisException, ParseException, suggest
from .scalar import FUNCTIONS, Func


def _parse(text):
    try:
        trees = [t for t in sqlglot.parse(text, read="spark") if t is not None]
    except sqlglot.errors.SqlglotError as e:
        raise ParseException("[PARSE_SYNTAX_ERROR] Syntax error in SQL: %s" % e) from None
    return trees


def run_sql(session, text):
    from .dataframe import DataFrame
    trees = _parse(text)
    if len(trees) != 1:
        raise ParseException("spark.sql takes one statement, got %d" % len(trees))
    tree = trees[0]
    if not isinstance(tree, (exp.Select, exp.Union, exp.Subquery)):
        raise AnalysisException("[UNSUPPORTED_FEATURE] kiln's SQL runs queries (SELECT); the statement %s is not "
                                "supported" % type(tree).__name__.upper())
    return DataFrame(Translator(session).query(tree), session)


def parse_expression(text):
    """One SQL expression (selectExpr, filter strings, functions.expr)."""
    from .session import SparkSession
    trees = _parse(text)
    if len(trees) != 1:
        raise ParseException("expected one expression, got %r" % text)
    return Translator(SparkSession._active).expr(trees[0])


def _unsupported(what):
    return AnalysisException("[UNSUPPORTED_FEATURE] %s is not supported by kiln's SQL" % what)


_CMP = {exp.EQ: "=", exp.NEQ: "!=", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=", exp.NullSafeEQ: "<=>"}
_ARITH = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%"}

# sqlglot's function classes: (kiln's name, the argument keys in order)
_FUNCS = {
    "Upper": ("upper", ["this"]), "Lower": ("lower", ["this"]), "Length": ("length", ["this"]),
    "Trim": ("trim", ["this"]), "Substring": ("substring", ["this", "start", "length"]),
    "Concat": ("concat", ["expressions"]), "Coalesce": ("coalesce", ["this", "expressions"]),
    "Abs": ("abs", ["this"]), "Sqrt": ("sqrt", ["this"]), "Round": ("round", ["this", "decimals"]),
    "Floor": ("floor", ["this"]), "Ceil": ("ceil", ["this"]), "Exp": ("exp", ["this"]), "Ln": ("log", ["this"]),
    "Log": ("log", ["this", "expression"]), "Log10": ("log10", ["this"]), "Log2": ("log2", ["this"]),
    "RegexpSplit": ("split", ["this", "expression", "limit"]), "CurrentDate": ("current_date", []),
    "TsOrDsToDate": ("to_date", ["this", "format"]), "Year": ("year", ["this"]), "Month": ("month", ["this"]),
    "DayOfMonth": ("dayofmonth", ["this"]), "Day": ("dayofmonth", ["this"]), "IfNull": ("coalesce", ["this", "expression"]),
    "Greatest": ("greatest", ["this", "expressions"]), "Least": ("least", ["this", "expressions"]),
    "Pow": ("pow", ["this", "expression"]), "DPipe": ("concat", ["this", "expression"]),
    "ConcatWs": ("concat_ws", ["expressions"]),
}
_AGGS = {
    "Sum": "sum", "Avg": "avg", "Min": "min", "Max": "max", "Stddev": "stddev", "StddevSamp": "stddev_samp",
    "StddevPop": "stddev_pop", "Variance": "variance", "VariancePop": "var_pop", "ArrayAgg": "collect_list",
    "SetAgg": "collect_set",
}


def _args(node, keys):
    out = []
    for k in keys:
        v = node.args.get(k)
        if v is None:
            continue
        out.extend(v if isinstance(v, list) else [v])
    return out


def _datatype(node):
    text = node.sql(dialect="spark").lower()
    try:
        return T._parse_datatype_string(text)
    except AnalysisException:
        raise _unsupported("the type %s" % text.upper()) from None


class Translator:
    def __init__(self, session):
        self.session = session

    # ---- expressions ----------------------------------------------------------------

    def expr(self, e):
        t = type(e)
        if t is exp.Column:
            if isinstance(e.this, exp.Star):
                return E.Star(e.table or None)
            return E.Col(e.name, e.table or None)
        if t is exp.Star:
            return E.Star()
        if t is exp.Alias:
            return E.Alias(self.expr(e.this), e.alias)
        if t is exp.Paren:
            return self.expr(e.this)
        if t is exp.Literal:
            if e.is_string:
                return E.Lit(e.this)
            text = e.this
            if text.lower().endswith("l") and text[:-1].isdigit():
                return E.Lit(int(text[:-1]), T.LongType())
            try:
                return E.Lit(int(text))
            except ValueError:
                return E.Lit(float(text.rstrip("dD")))
        if t is exp.Boolean:
            return E.Lit(bool(e.this))
        if t is exp.Null:
            return E.Lit(None)
        if t in _ARITH:
            return E.Arith(_ARITH[t], self.expr(e.this), self.expr(e.expression))
        if t is exp.IntDiv:
            return E.Cast(E.Arith("/", self.expr(e.this), self.expr(e.expression)), T.LongType())
        if t is exp.Neg:
            return E.Neg(self.expr(e.this))
        if t in _CMP:
            return E.Cmp(_CMP[t], self.expr(e.this), self.expr(e.expression))
        if t is exp.And:
            return E.Logic("AND", self.expr(e.this), self.expr(e.expression))
        if t is exp.Or:
            return E.Logic("OR", self.expr(e.this), self.expr(e.expression))
        if t is exp.Not:
            inner = e.this
            if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
                return E.IsNull(self.expr(inner.this), negated=True)
            return E.Not(self.expr(inner))
        if t is exp.Is:
            if isinstance(e.expression, exp.Null):
                return E.IsNull(self.expr(e.this))
            raise _unsupported("IS %s" % e.expression.sql(dialect="spark"))
        if t is exp.In:
            if e.args.get("query") is not None:
                raise _unsupported("IN (subquery)")
            return E.In(self.expr(e.this), [self.expr(x) for x in e.expressions])
        if t is exp.Between:
            x = self.expr(e.this)
            return E.Logic("AND", E.Cmp(">=", x, self.expr(e.args["low"])),
                           E.Cmp("<=", x, self.expr(e.args["high"])))
        if t is exp.Like:
            return E.StrMatch("LIKE", self.expr(e.this), self.expr(e.expression))
        if t is exp.RegexpLike:
            return E.StrMatch("RLIKE", self.expr(e.this), self.expr(e.expression))
        if t is exp.Case:
            operand = e.this
            branches = []
            for b in e.args.get("ifs") or []:
                cond = self.expr(b.this)
                if operand is not None:
                    cond = E.Cmp("=", self.expr(operand), cond)
                branches.append((cond, self.expr(b.args["true"])))
            default = e.args.get("default")
            return E.CaseWhen(branches, self.expr(default) if default is not None else None)
        if t is exp.If:
            f = e.args.get("false")
            return E.CaseWhen([(self.expr(e.this), self.expr(e.args["true"]))],
                              self.expr(f) if f is not None else None)
        if t in (exp.Cast, exp.TryCast):
            return E.Cast(self.expr(e.this), _datatype(e.args["to"]))
        if t is exp.Count:
            inner = e.this
            if isinstance(inner, exp.Star) or inner is None:
                return AggCall("count", [E.Lit(1)], star=True)
            if isinstance(inner, exp.Distinct):
                return AggCall("count", [self.expr(x) for x in inner.expressions], distinct=True)
            return AggCall("count", [self.expr(inner)])
        if t.__name__ in _AGGS:
            inner = e.this
            if isinstance(inner, exp.Distinct):
                return AggCall(_AGGS[t.__name__], [self.expr(x) for x in inner.expressions], distinct=True)
            return AggCall(_AGGS[t.__name__], [self.expr(inner)])
        if t.__name__ in _FUNCS:
            name, keys = _FUNCS[t.__name__]
            return Func(name, [self.expr(a) for a in _args(e, keys)])
        if t is exp.Anonymous:
            return self.call(e.name, e.expressions)
        if t is exp.Window:
            return self.window(e)
        if t is exp.RowNumber:
            from .window import RankFn
            return RankFn("row_number")
        if t in (exp.Subquery, exp.Select, exp.Exists):
            raise _unsupported("subquery expressions")
        if isinstance(e, exp.Func):  # a function sqlglot knows by a class kiln does not map
            return self.call(e.sql_name() if hasattr(e, "sql_name") else t.__name__,
                             _args(e, list(e.arg_types)), what=e)
        raise _unsupported("the expression %s (%s)" % (t.__name__.upper(), e.sql(dialect="spark")))

    def window(self, e):
        from .window import WindowExpr
        func = self.expr(e.this)
        part = [self.expr(p) for p in e.args.get("partition_by") or []]
        order = e.args.get("order")
        orders = [E.SortOrder(self.expr(o.this), not o.args.get("desc"), bool(o.args.get("nulls_first")))
                  for o in (order.expressions if order is not None else [])]
        spec = e.args.get("spec")
        frame = None
        if spec is not None:
            frame = (spec.args["kind"].lower(), _frame_bound(spec.args.get("start"), spec.args.get("start_side")),
                     _frame_bound(spec.args.get("end"), spec.args.get("end_side")))
        return WindowExpr(func, part, orders, frame)

    def call(self, name, args, what=None):
        low = name.lower()
        if low in ("rank", "dense_rank", "percent_rank", "row_number", "lag", "lead"):
            from .window import RankFn
            if low in ("lag", "lead"):
                offset = 1
                if len(args) > 1:
                    if not isinstance(args[1], exp.Literal) or args[1].is_string:
                        raise _unsupported("a %s offset that is not a literal" % low)
                    offset = int(args[1].this)
                rest = [self.expr(a) for a in args[2:]]
                return RankFn(low, [self.expr(args[0])] + rest, offset)
            return RankFn(low)
        udfs = self.session._udfs if self.session is not None else {}
        if low in udfs:
            from .udf import UDFCall
            return UDFCall(udfs[low], [self.expr(a) for a in args])
        if low in AGG_NAMES:
            distinct = len(args) == 1 and isinstance(args[0], exp.Distinct)
            if distinct:
                return AggCall(low, [self.expr(x) for x in args[0].expressions], distinct=True)
            if low in ("first", "last") and len(args) == 2:
                ign = self.expr(args[1])
                return AggCall(low, [self.expr(args[0])], ignorenulls=bool(getattr(ign, "value", False)))
            return AggCall(low, [self.expr(a) for a in args])
        if low in FUNCTIONS:
            return Func(low, [self.expr(a) for a in args])
        known = list(FUNCTIONS) + sorted(AGG_NAMES) + list(udfs)
        raise AnalysisException("[UNRESOLVED_ROUTINE] Cannot resolve function `%s` on search path "
                                "[`system`.`builtin`, `system`.`session`].%s" % (name, suggest(low, known)))

    # ---- queries ------------------------------------------------------------------------

    def query(self, q):
        if isinstance(q, exp.Subquery):
            inner = self.query(q.this)
            return P.SubqueryAlias(inner, q.alias) if q.alias else inner
        if isinstance(q, exp.Union):  # Intersect and Except are Unions in sqlglot
            from .joins import union
            last = q.expression
            if isinstance(last, exp.Select) and (last.args.get("order") or last.args.get("limit")):
                # ORDER BY and LIMIT after a set operation apply to all of it
                q = q.copy()
                last = q.expression
                for k in ("order", "limit"):
                    if last.args.get(k):
                        q.set(k, last.args[k])
                        last.set(k, None)
            left, right = self.query(q.this), self.query(q.expression)
            from .dataframe import DataFrame
            if isinstance(q, (exp.Intersect, exp.Except)):
                from .joins import set_op
                if not q.args.get("distinct"):
                    raise _unsupported("%s ALL" % type(q).__name__.upper())
                return set_op(DataFrame(left, self.session), DataFrame(right, self.session),
                              "left_semi" if isinstance(q, exp.Intersect) else "left_anti")
            node = union(left, right)
            if q.args.get("distinct"):
                from .grouping import aggregate
                node = aggregate(node, node.output(), node.output())
            return self._order_limit(node, q, None)
        if not isinstance(q, exp.Select):
            raise _unsupported(type(q).__name__.upper())
        for key in ("with", "laterals", "windows", "qualify", "cluster", "distribute", "sort", "pivots"):
            if q.args.get(key):
                raise _unsupported({"with": "WITH (common table expressions)", "sort": "SORT BY",
                                    "distribute": "DISTRIBUTE BY", "cluster": "CLUSTER BY"}.get(key, key.upper()))
        rel = self.from_(q)
        where = q.args.get("where")
        if where is not None:
            cond = E._boolean(E.analyze(self.expr(where.this), rel.output()), "WHERE")
            rel = P.Filter(rel, cond)
        return self.select(rel, q)

    def relation(self, r):
        if isinstance(r, exp.Table):
            if r.args.get("db") and r.args.get("catalog"):
                raise _unsupported("catalog-qualified tables")
            name = r.name if not r.args.get("db") else "%s.%s" % (r.args["db"].name, r.name)
            rel = self.session.catalog._relation(name)
            if r.alias:
                rel = P.SubqueryAlias(rel.children[0], r.alias)
            return rel
        if isinstance(r, exp.Subquery):
            return self.query(r)
        raise _unsupported("the relation %s" % type(r).__name__.upper())

    def from_(self, q):
        f = q.args.get("from")
        if f is None:  # SELECT without FROM: one row of no columns
            from .batch import Batch
            return P.LocalScan([Batch({}, 1)], [], 1)
        from .joins import dedupe, join_type, using_join
        rels = f.expressions
        rel = self.relation(rels[0])
        for r in rels[1:]:
            rel = P.Join(rel, dedupe(rel, self.relation(r)), "cross", None)
        for j in q.args.get("joins") or []:
            right = dedupe(rel, self.relation(j.this))
            side, kind = (j.side or "").lower(), (j.kind or "").lower()
            if kind == "cross":
                how = "cross"
            elif kind in ("semi", "anti"):
                how = "left_" + kind
            elif side:
                how = join_type(side)
            else:
                how = "inner"
            using = j.args.get("using")
            on = j.args.get("on")
            if using:
                rel = using_join(rel, right, [u.name for u in using], how)
            elif on is not None:
                scope = rel.output() + right.output()
                cond = E._boolean(E.analyze(self.expr(on), scope), "JOIN ON")
                rel = P.Join(rel, right, how, cond)
            else:
                rel = P.Join(rel, right, "cross" if how == "inner" else how, None)
        return rel

    def select(self, rel, q):
        from .grouping import aggregate
        scope = rel.output()
        items = []
        for e in q.expressions:
            x = self.expr(e)
            if isinstance(x, E.Star):
                from .dataframe import _star
                items.extend(_star(x, scope))
            else:
                items.append(x)
        group = q.args.get("group")
        having = q.args.get("having")
        resolved = [E.named(E.analyze(x, scope, allow_agg=True)) for x in items]
        has_agg = any(E.aggs_outside_windows(r) for r in resolved)
        from .window import has_window, plan_windows
        if any(has_window(r) for r in resolved):
            if group is not None or having is not None or has_agg:
                raise _unsupported("window functions beside GROUP BY or aggregates in one SELECT (aggregate in "
                                   "a subquery first)")
            hidden = self._hidden_orders(q, resolved, scope)
            node = plan_windows(rel, resolved + hidden)
            if q.args.get("distinct"):
                node = aggregate(node, node.output(), node.output())
            return self._order_limit(node, q, len(resolved))
        if group is not None or having is not None or has_agg:
            keys = []
            for g in (group.expressions if group is not None else []):
                keys.append(self._group_key(g, resolved, scope))
            cond = None
            if having is not None:
                cond = self._having(having.this, resolved, scope)
            hidden = self._hidden_orders(q, resolved, scope)
            node = aggregate(rel, keys, resolved + [h for h in hidden], cond)
        else:
            hidden = self._hidden_orders(q, resolved, scope)
            node = P.Project(rel, resolved + hidden)
        if q.args.get("distinct"):
            if hidden:
                raise _unsupported("ORDER BY a column not in the select list of a SELECT DISTINCT")
            node = aggregate(node, node.output(), node.output())
        return self._order_limit(node, q, len(resolved))

    def _group_key(self, g, resolved, scope):
        if isinstance(g, exp.Literal) and not g.is_string:
            i = int(g.this)
            if not 1 <= i <= len(resolved):
                raise AnalysisException("GROUP BY position %d is not in select list (valid range is [1, %d])"
                                        % (i, len(resolved)))
            r = resolved[i - 1]
            return r.child if isinstance(r, E.Alias) else r
        x = self.expr(g)
        try:
            return E.analyze(x, scope)
        except AnalysisException:
            if isinstance(x, E.Col) and x.qualifier is None:  # a select alias (spark.sql.groupByAliases)
                for r in resolved:
                    if isinstance(r, E.Alias) and r.alias.lower() == x.name().lower():
                        return r.child
            raise

    def _having(self, h, resolved, scope):
        x = self.expr(h)
        aliases = {r.alias.lower(): r.child for r in resolved if isinstance(r, E.Alias)}

        def sub(node):
            if isinstance(node, E.Col) and node.qualifier is None:
                try:
                    E.find_attr(node, scope)
                except AnalysisException:
                    if node.name().lower() in aliases:
                        return _Resolved(aliases[node.name().lower()])
                    raise
            return node
        x = x.transform(sub, typed=False)
        return E._boolean(E.analyze(x, scope, allow_agg=True), "HAVING")

    def _hidden_orders(self, q, resolved, scope):
        """ORDER BY expressions that are not in the select list: computed
        beside it, sorted on, then dropped."""
        self._orders = []
        order = q.args.get("order")
        if order is None:
            return []
        out_names = {}
        for r in resolved:
            out_names.setdefault(r.name().lower(), r)
        hidden = []
        for o in order.expressions:
            x = o.this
            if isinstance(x, exp.Literal) and not x.is_string:
                i = int(x.this)
                if not 1 <= i <= len(resolved):
                    raise AnalysisException("ORDER BY position %d is not in select list (valid range is [1, %d])"
                                            % (i, len(resolved)))
                self._orders.append((("out", i - 1), o))
                continue
            e = self.expr(x)
            if isinstance(e, E.Col) and e.qualifier is None and e.name().lower() in out_names:
                self._orders.append((("out", resolved.index(out_names[e.name().lower()])), o))
                continue
            r = E.analyze(e, scope, allow_agg=True)
            fp = E.fingerprint(r)
            match = [i for i, c in enumerate(resolved) if E.fingerprint(c) == fp]
            if match:
                self._orders.append((("out", match[0]), o))
                continue
            h = E.Alias(r, r.name()).coerce()
            hidden.append(h)
            self._orders.append((("hidden", h), o))
        return hidden

    def _order_limit(self, node, q, nvisible):
        order = q.args.get("order")
        if order is not None:
            if nvisible is None:  # ORDER BY of a UNION: names and positions of its output
                out = node.output()
                orders = []
                for o in order.expressions:
                    x = o.this
                    if isinstance(x, exp.Literal) and not x.is_string:
                        e = out[int(x.this) - 1]
                    else:
                        e = E.analyze(self.expr(x), out)
                    orders.append(E.SortOrder(e, not o.args.get("desc"), bool(o.args.get("nulls_first"))).coerce())
                node = P.Sort(node, orders)
            else:
                out = node.output()
                orders = []
                hidden_ids = []
                for (kind, ref), o in self._orders:
                    if kind == "out":
                        e = out[ref]
                    else:
                        e = next(a for a in out if a.aid == ref.aid)
                        hidden_ids.append(ref.aid)
                    orders.append(E.SortOrder(e, not o.args.get("desc"), bool(o.args.get("nulls_first"))).coerce())
                node = P.Sort(node, orders)
                if hidden_ids:
                    node = P.Project(node, [a for a in out if a.aid not in hidden_ids])
        limit = q.args.get("limit")
        if limit is not None:
            lit = limit.expression
            if not isinstance(lit, exp.Literal) or lit.is_string:
                raise _unsupported("LIMIT of a non-literal")
            node = P.Limit(node, int(lit.this))
        if q.args.get("offset") is not None:
            raise _unsupported("OFFSET")
        return node


def _frame_bound(v, side):
    if v is None:
        return None
    if isinstance(v, str):
        if v.lower() == "unbounded":
            return None
        if v.lower() == "current row":
            return 0
        raise _unsupported("the frame boundary %s" % v)
    if not isinstance(v, exp.Literal) or v.is_string:
        raise _unsupported("a frame boundary that is not a literal")
    n = int(v.this)
    return -n if (side or "").lower() == "preceding" else n


class _Resolved(E.Expr):
    """An already-resolved expression inside an unresolved tree (a select
    alias used in HAVING): resolution leaves it as it is."""

    def __init__(self, e):
        self.e = e

    def with_children(self, children):
        return self

    def coerce(self):
        return self.e

    def name(self):
        return self.e.name()
