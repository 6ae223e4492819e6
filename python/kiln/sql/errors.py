"""The exceptions kiln.sql raises, under PySpark's names, and the
did-you-mean suggestion that an unknown name carries."""
import difflib


class AnalysisException(Exception):
    """A query that cannot be resolved: an unknown column, view or
    function, a type mismatch, or SQL kiln does not support."""


class ParseException(AnalysisException):
    """SQL text (or a DDL string) that does not parse."""


class PythonException(Exception):
    """A Python UDF failed inside an executor."""


def suggest(name, candidates):
    """' Did you mean `x`?' (the closest candidates), or ''. A qualified
    candidate (t.k) is compared by its own name (k)."""
    by_name = {}
    for c in candidates:
        by_name.setdefault(str(c).rsplit(".", 1)[-1].lower(), []).append(str(c))
    near = difflib.get_close_matches(str(name).rsplit(".", 1)[-1].lower(), list(by_name), n=3, cutoff=0.5)
    close = [c for n in near for c in by_name[n]][:3]
    if not close:
        return ""
    return " Did you mean one of the following? [%s]." % ", ".join("`%s`" % c for c in close)


def unresolved_column(name, candidates):
    return AnalysisException(
        "[UNRESOLVED_COLUMN] A column or function parameter with name `%s` cannot be resolved.%s Available "
        "columns: [%s]." % (name, suggest(name, candidates), ", ".join("`%s`" % c for c in candidates)))
