"""The catalog: the session's temporary views (kiln keeps no metastore)."""
from collections import namedtuple

from . import plan as P
from .errors import AnalysisException, suggest

Table = namedtuple("Table", ["name", "catalog", "namespace", "description", "tableType", "isTemporary"])
Table.__new__.__defaults__ = (None, None, None, "TEMPORARY", True)


class Catalog:
    def __init__(self, session):
        self._session = session
        self._views = {}  # lower-case name -> (name as given, plan)

    def listTables(self, dbName=None):
        return [Table(name, None, [], None, "TEMPORARY", True) for name, _ in
                sorted(self._views.values(), key=lambda v: v[0].lower())]

    def tableExists(self, tableName, dbName=None):
        return tableName.lower() in self._views

    def dropTempView(self, viewName):
        return self._views.pop(viewName.lower(), None) is not None

    def dropGlobalTempView(self, viewName):
        return False

    def currentDatabase(self):
        return "default"

    def cacheTable(self, tableName):
        from .dataframe import DataFrame
        name, plan = self._lookup(tableName)
        df = DataFrame(plan, self._session).cache()
        self._views[tableName.lower()] = (name, df._plan)

    def _lookup(self, name):
        key = name.lower()
        if key.startswith("default."):
            key = key[len("default."):]
        if key not in self._views:
            raise AnalysisException(
                "[TABLE_OR_VIEW_NOT_FOUND] The table or view `%s` cannot be found.%s Verify the spelling and "
                "correctness of the schema and catalog." % (name, suggest(name, [v[0] for v in self._views.values()])))
        return self._views[key]

    def _relation(self, name):
        """The view as a relation of its own: fresh attribute ids (so a view
        read twice, as in a self-join, has two sets of columns), qualified
        by its name."""
        from . import expr as E
        given, plan = self._lookup(name)
        fresh = P.Project(plan, [E.Alias(a, a.name()).coerce() for a in plan.output()])
        return P.SubqueryAlias(fresh, name.split(".")[-1])
