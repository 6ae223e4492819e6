"""What the client makes of results: toPandas' frame (PySpark's dtypes),
show()'s table text (Spark's showString) and explain()'s plans."""
import numpy as np
import pandas as pd

from . import types as T
from .cast import value_str
from .batch import concat


def to_pandas(batches, attrs):
    """PySpark's toPandas without Arrow: integral columns keep their width
    unless they hold nulls (then float64 with NaN), booleans with nulls are
    objects, dates are datetime.date objects, timestamps datetime64[ns]."""
    b = concat(batches, [a.aid for a in attrs]) if batches else None
    data = {}
    for i, a in enumerate(attrs):
        t = a.dtype
        if b is None:
            vec_values, mask = np.zeros(0, dtype=t.numpy), None
        else:
            v = b[a.aid]
            vec_values, mask = v.values, v.mask
        if isinstance(t, (T.IntegralType, T.FractionalType)):
            if mask is not None:
                col = vec_values.astype(np.float64 if isinstance(t, T.IntegralType) else vec_values.dtype)
                col = np.where(mask, np.nan, col)
            else:
                col = vec_values.astype(t.numpy, copy=False)
        elif isinstance(t, T.BooleanType):
            if mask is not None:
                col = vec_values.astype(object)
                col[mask] = None
            else:
                col = vec_values.astype(bool, copy=False)
        elif isinstance(t, T.TimestampType):
            col = pd.to_datetime(pd.Series(vec_values if mask is None else np.where(mask, None, vec_values)))
        else:
            col = vec_values.copy() if mask is not None else vec_values
            if mask is not None:
                col[mask] = None
        data[i] = col
    frame = pd.DataFrame(data)
    frame.columns = [a.name() for a in attrs]
    return frame


def _cell(v, t, truncate):
    s = "null" if v is None else value_str(v, t)
    if truncate > 0 and len(s) > truncate:
        s = s[:truncate] if truncate < 4 else s[:truncate - 3] + "..."
    return s


def show_string(batches, attrs, n, truncate=True, vertical=False):
    """Spark's Dataset.showString for at most n rows (batches hold n + 1
    when there are more)."""
    trunc = 20 if truncate is True else int(truncate) if truncate else 0
    names = [a.name() for a in attrs]
    rows = []
    for b in batches:
        cols = [b[a.aid].to_list() for a in attrs]
        rows.extend(zip(*cols))
    has_more = len(rows) > n
    rows = rows[:n]
    cells = [[_cell(v, a.dtype, trunc) for v, a in zip(r, attrs)] for r in rows]
    out = []
    if not vertical:
        header = [h[:trunc] if trunc > 0 and len(h) > trunc and trunc < 4 else
                  (h[:trunc - 3] + "..." if trunc > 0 and len(h) > trunc else h) for h in names]
        widths = [max([3, len(h)] + [len(r[j]) for r in cells]) for j, h in enumerate(header)]
        sep = "+" + "+".join("-" * w for w in widths) + "+"

        def line(vals):
            if trunc > 0:
                return "|" + "|".join(v.rjust(w) for v, w in zip(vals, widths)) + "|"
            return "|" + "|".join(v.ljust(w) for v, w in zip(vals, widths)) + "|"
        out.append(sep)
        out.append(line(header))
        out.append(sep)
        for r in cells:
            out.append(line(r))
        out.append(sep)
    else:
        name_w = max([3] + [len(h) for h in names])
        data_w = max([3] + [max([len(c) for c in r] or [0]) for r in cells])
        for i, r in enumerate(cells):
            out.append(("-RECORD %d" % i).ljust(name_w + data_w + 5, "-"))
            for h, c in zip(names, r):
                out.append(" %s | %s " % (h.ljust(name_w), c.ljust(data_w)))
        if not cells:
            out.append("(0 rows)")
    text = "\n".join(out) + "\n"
    if has_more:
        text += "only showing top %d %s\n" % (n, "row" if n == 1 else "rows")
    return text


def explain_string(df, extended=None, mode=None):
    """The optimized logical plan (with the analyzed one when extended)
    and the physical stages kiln runs."""
    from .physical import Compiler
    if isinstance(extended, str) and mode is None:
        extended, mode = None, extended
    mode = mode or ("extended" if extended else "simple")
    if mode not in ("simple", "extended", "codegen", "cost", "formatted"):
        raise ValueError("Unknown explain mode: %s. Accepted explain modes are 'simple', 'extended', 'codegen', "
                         "'cost', 'formatted'." % mode)
    optimized = df._optimized()
    stages = Compiler(df.sparkSession, dry=True).compile(optimized).stages
    parts = []
    if mode == "extended":
        parts.append("== Analyzed Logical Plan ==\n" + df._plan.tree())
        parts.append("== Optimized Logical Plan ==\n" + optimized.tree())
    elif mode != "simple":
        parts.append("== Optimized Logical Plan ==\n" + optimized.tree())
    parts.append("== Physical Plan ==\n" + "\n".join("Stage %d: %s" % (i + 1, s) for i, s in enumerate(stages)))
    return "\n\n".join(parts) + "\n"
