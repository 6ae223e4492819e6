"""Row: PySpark's row, a tuple whose fields have names.

Row(name="Alice", age=11) keeps the keywords' order; Row("name", "age")
is a row class that is called with values. A row equals any tuple of the
same values (it is one), and reads its fields as attributes or by name.
"""


class Row(tuple):
    def __new__(cls, *args, **kwargs):
        if args and kwargs:
            raise ValueError("Can not use both args and kwargs to create Row")
        if kwargs:
            row = tuple.__new__(cls, list(kwargs.values()))
            row.__fields__ = list(kwargs)
            return row
        return tuple.__new__(cls, args)

    @classmethod
    def _make(cls, fields, values):
        row = tuple.__new__(cls, values)
        row.__fields__ = list(fields)
        return row

    def asDict(self, recursive=False):
        if not hasattr(self, "__fields__"):
            raise TypeError("Cannot convert a Row class into dict")

        def conv(v):
            if not recursive:
                return v
            if isinstance(v, Row):
                return v.asDict(True)
            if isinstance(v, list):
                return [conv(x) for x in v]
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            return v
        return {k: conv(v) for k, v in zip(self.__fields__, self)}

    def __contains__(self, item):
        if hasattr(self, "__fields__"):
            return item in self.__fields__
        return super().__contains__(item)

    def __call__(self, *args):
        """A row class (Row("a", "b")) makes a row of its fields."""
        if len(args) > len(self):
            raise ValueError("Can not create Row with fields %s, expected %d values but got %s"
                             % (self, len(self), args))
        return Row._make(list(self), args)

    def __getitem__(self, item):
        if isinstance(item, (int, slice)):
            return super().__getitem__(item)
        try:
            idx = self.__fields__.index(item)
        except (AttributeError, ValueError):
            raise ValueError(item) from None
        return super().__getitem__(idx)

    def __getattr__(self, item):
        if item.startswith("__"):
            raise AttributeError(item)
        try:
            idx = self.__fields__.index(item)
        except (AttributeError, ValueError):
            raise AttributeError(item) from None
        return self[idx]

    def __setattr__(self, key, value):
        if key != "__fields__":
            raise RuntimeError("Row is read-only")
        self.__dict__[key] = value

    def __reduce__(self):
        if hasattr(self, "__fields__"):
            return (Row._make, (self.__fields__, tuple(self)))
        return (Row, tuple(self))

    def __repr__(self):
        if hasattr(self, "__fields__"):
            return "Row(%s)" % ", ".join("%s=%r" % (k, v) for k, v in zip(self.__fields__, self))
        return "<Row(%s)>" % ", ".join(repr(f) for f in self)
