"""The operations on an RDD of (key, value) pairs (Spark's
PairRDDFunctions): by-key reductions and grouping, partitionBy, joins and
cogroups, sortByKey, by-key sampling and the by-key actions. RDD (rdd.py)
takes them from PairFunctions. Shuffles, sorts and joins run in C on
encoded keys; what they ship is built by _pipeline.py.
"""
import operator
import random

from . import _stage
from ._pipeline import (_append, _cogroup_lists, _combine_locally, _extend, _ident, _ident1, _is_default_hash,
                        _key_by, _key_by_key, _key_is, _merge_combiners, _merge_dicts, _merge_groups,
                        _name_partitions, _one_list, _only_left, _outer, portable_hash, _reduce_locally,
                        _sort_partition, _stratified, _tag, _zero_then)
from ._stage import GROUP, JOIN, PAIR


class PairFunctions:
    """Mixed into RDD: the (key, value) operations."""

    def reduceByKey(self, func, numPartitions=None, partitionFunc=None):
        """Merges the values of each key with func (associative and commutative),
        combining on the map side before the shuffle.

        >>> from operator import add
        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).reduceByKey(add).collect())
        [('a', 2), ('b', 1)]
        """
        if partitionFunc is not None:  # the user's partitioning: partitionBy, then merge per partition
            return self.combineByKey(_ident1, func, func, numPartitions, partitionFunc)
        if func is operator.add:  # in C on the encoded values, ints and floats without Python
            node = self.ctx._session.reduce_add(self._keyed("reduceByKey"), self._parts(numPartitions))
            return self._of(self.ctx, node, PAIR)
        return self.combineByKey(_ident1, func, func, numPartitions)

    def combineByKey(self, createCombiner, mergeValue, mergeCombiners, numPartitions=None, partitionFunc=None):
        """Turns each key's values into one combined value: createCombiner makes
        one from a value, mergeValue adds a value, mergeCombiners merges two.

        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 2)], 2)
        >>> combined = rdd.combineByKey(lambda v: [v], lambda c, v: c + [v], lambda c, d: c + d)
        >>> sorted((k, sorted(c)) for k, c in combined.collect())
        [('a', [1, 2]), ('b', [1])]
        """
        local = self.mapPartitions(_combine_locally(createCombiner, mergeValue))
        if partitionFunc is not None:  # records go where partitionFunc says (partitionBy), merged there
            n = self._parts(numPartitions) or self.getNumPartitions()
            return local.partitionBy(n, partitionFunc).mapPartitions(_merge_combiners(mergeCombiners))
        grouped = self.ctx._session.group_by_key(local._keyed("combineByKey"), self._parts(numPartitions))
        return self._of(self.ctx, grouped, GROUP).mapPartitions(_merge_groups(mergeCombiners))

    def aggregateByKey(self, zeroValue, seqFunc, combFunc, numPartitions=None, partitionFunc=None):
        """Folds each key's values into zeroValue with seqFunc within a partition,
        and merges the partitions' results with combFunc.

        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 2)], 2)
        >>> seq = lambda acc, v: (acc[0] + v, acc[1] + 1)
        >>> comb = lambda a, b: (a[0] + b[0], a[1] + b[1])
        >>> sorted(rdd.aggregateByKey((0, 0), seq, comb).collect())
        [('a', (3, 2)), ('b', (1, 1))]
        """
        return self.combineByKey(_zero_then(zeroValue, seqFunc), seqFunc, combFunc, numPartitions, partitionFunc)

    def foldByKey(self, zeroValue, func, numPartitions=None, partitionFunc=None):
        """Merges the values of each key with func, starting from zeroValue.

        >>> from operator import add
        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).foldByKey(0, add).collect())
        [('a', 2), ('b', 1)]
        """
        return self.combineByKey(_zero_then(zeroValue, func), func, func, numPartitions, partitionFunc)

    def groupByKey(self, numPartitions=None, partitionFunc=None):
        """The values of each key as one iterable.

        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.groupByKey().mapValues(len).collect())
        [('a', 2), ('b', 1)]
        >>> sorted(rdd.groupByKey().mapValues(list).collect())
        [('a', [1, 1]), ('b', [1])]
        """
        if partitionFunc is not None:
            return self.combineByKey(_one_list, _append, _extend, numPartitions, partitionFunc)
        node = self.ctx._session.group_by_key(self._keyed("groupByKey"), self._parts(numPartitions))
        return self._of(self.ctx, node, GROUP)

    def partitionBy(self, numPartitions, partitionFunc=None):
        """Pairs moved to partition partitionFunc(key) % numPartitions: the
        function runs in the executors and the engine's shuffle sends each
        record where it names. The default, portable_hash, puts equal keys
        together.

        >>> pairs = sc.parallelize([(1, "a"), (2, "b"), (3, "c"), (4, "d")], 2)
        >>> sorted(map(sorted, pairs.partitionBy(2, lambda k: k % 2).glom().collect()))
        [[(1, 'a'), (3, 'c')], [(2, 'b'), (4, 'd')]]
        >>> [len(p) for p in pairs.partitionBy(3, lambda k: 0).glom().collect()]
        [4, 0, 0]
        """
        if partitionFunc is None:
            partitionFunc = portable_hash
        n = int(numPartitions)
        if n <= 0:
            raise ValueError("Number of partitions must be positive.")
        named = self.mapPartitions(_name_partitions(partitionFunc, n))
        node = self.ctx._session.partition_by(named._node(_stage.PART, "partitionBy"), n)
        return self._of(self.ctx, node, PAIR)

    def join(self, other, numPartitions=None):
        """The inner join: (k, (v, w)) for every v of k here and w of k in other.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2), ("a", 3)])
        >>> sorted(x.join(y).collect())
        [('a', (1, 2)), ('a', (1, 3))]
        """
        node = self.ctx._session.join(self._keyed("join"), other._keyed("join"), self._parts(numPartitions))
        return self._of(self.ctx, node, JOIN)

    def cogroup(self, other, numPartitions=None):
        """(k, (values here, values in other)) for every key of either.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> [(k, tuple(map(list, v))) for k, v in sorted(x.cogroup(y).collect())]
        [('a', ([1], [2])), ('b', ([4], []))]
        """
        return self._cogroup([other], numPartitions)

    def groupWith(self, other, *others):
        """cogroup of this RDD with any number of others.

        >>> w = sc.parallelize([("a", 5), ("b", 6)])
        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> z = sc.parallelize([("b", 42)])
        >>> [(k, tuple(map(list, v))) for k, v in sorted(w.groupWith(x, y, z).collect())]
        [('a', ([5], [1], [2], [])), ('b', ([6], [4], [], [42]))]
        """
        return self._cogroup([other] + list(others), None)

    def _cogroup(self, others, numPartitions):
        rdds = [self] + others
        tagged = rdds[0].mapValues(_tag(0))
        for i, r in enumerate(rdds[1:], 1):
            tagged = tagged.union(r.mapValues(_tag(i)))
        return tagged.groupByKey(numPartitions).mapValues(_cogroup_lists(len(rdds)))

    def leftOuterJoin(self, other, numPartitions=None):
        """As join, and (k, (v, None)) for a key not in other.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> sorted(x.leftOuterJoin(y).collect())
        [('a', (1, 2)), ('b', (4, None))]
        """
        return self.cogroup(other, numPartitions).flatMapValues(_outer("left"))

    def rightOuterJoin(self, other, numPartitions=None):
        """As join, and (k, (None, w)) for a key of other not here.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> sorted(y.rightOuterJoin(x).collect())
        [('a', (2, 1)), ('b', (None, 4))]
        """
        return self.cogroup(other, numPartitions).flatMapValues(_outer("right"))

    def fullOuterJoin(self, other, numPartitions=None):
        """As join, with None on the side a key is missing from.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2), ("c", 8)])
        >>> sorted(x.fullOuterJoin(y).collect())
        [('a', (1, 2)), ('b', (4, None)), ('c', (None, 8))]
        """
        return self.cogroup(other, numPartitions).flatMapValues(_outer("full"))

    def subtractByKey(self, other, numPartitions=None):
        """The pairs whose key is not in other.

        >>> x = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 2)])
        >>> y = sc.parallelize([("a", 3), ("c", None)])
        >>> sorted(x.subtractByKey(y).collect())
        [('b', 4), ('b', 5)]
        """
        return self.cogroup(other, numPartitions).filter(_only_left).flatMapValues(operator.itemgetter(0))

    def sortByKey(self, ascending=True, numPartitions=None, keyfunc=None):
        """The pairs sorted by key (keyfunc(key) when given) across partitions.

        >>> tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
        >>> sc.parallelize(tmp).sortByKey().first()
        ('1', 3)
        >>> sc.parallelize(tmp).sortByKey(True, 2).collect()
        [('1', 3), ('2', 5), ('a', 1), ('b', 2), ('d', 4)]
        >>> sc.parallelize([("B", 1), ("a", 2), ("C", 3)]).sortByKey(False, keyfunc=str.lower).collect()
        [('C', 3), ('B', 1), ('a', 2)]
        """
        if keyfunc is not None:
            return self.map(_key_by_key(keyfunc)).sortByKey(ascending, numPartitions).values()
        node = self.ctx._session.sort_by_key(self._keyed("sortByKey"), bool(ascending), self._parts(numPartitions))
        return self._of(self.ctx, node, PAIR)

    def countByKey(self):
        """The number of pairs of each key, as a dict.

        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).countByKey().items())
        [('a', 2), ('b', 1)]
        """
        return self.map(operator.itemgetter(0)).countByValue()

    def collectAsMap(self):
        """The pairs as a dict (a later pair of a key wins).

        >>> m = sc.parallelize([(1, 2), (3, 4)]).collectAsMap()
        >>> m[1], m[3]
        (2, 4)
        """
        return dict(self.collect())

    def lookup(self, key):
        """The values of key, as a list.

        >>> rdd = sc.parallelize([(i, i * i) for i in range(100)], 4)
        >>> rdd.lookup(7), rdd.lookup(1000)
        ([49], [])
        """
        return self.filter(_key_is(key)).values().collect()

    def groupBy(self, f, numPartitions=None, partitionFunc=None):
        """Pairs (f(x), the elements x with that key).

        >>> rdd = sc.parallelize([1, 1, 2, 3, 5, 8])
        >>> sorted((k, sorted(v)) for k, v in rdd.groupBy(lambda x: x % 2).collect())
        [(0, [2, 8]), (1, [1, 1, 3, 5])]
        """
        return self.map(_key_by(f)).groupByKey(numPartitions, partitionFunc)

    def sampleByKey(self, withReplacement, fractions, seed=None):
        """A sample of pairs, each key kept with its own fraction
        (fractions: key -> fraction; every key must be there).

        >>> rdd = sc.parallelize([(k, i) for k in "ab" for i in range(1000)], 2)
        >>> s = rdd.sampleByKey(False, {"a": 0.1, "b": 0.6}, 2).countByKey()
        >>> 50 < s["a"] < 150 and 500 < s["b"] < 700
        True
        """
        for fraction in fractions.values():
            assert fraction >= 0.0, "Negative fraction value: %s" % fraction
        seed = random.randrange(1 << 31) if seed is None else seed
        return self.mapPartitionsWithIndex(_stratified(withReplacement, dict(fractions), seed), True)

    def repartitionAndSortWithinPartitions(self, numPartitions=None, partitionFunc=None, ascending=True,
                                           keyfunc=_ident):
        """Pairs repartitioned by key, each partition sorted by key
        (keyfunc(key), ascending or not).

        >>> rdd = sc.parallelize([(0, 5), (3, 8), (2, 6), (0, 8), (3, 8), (1, 3)])
        >>> parts = rdd.repartitionAndSortWithinPartitions(2).glom().collect()
        >>> all(p == sorted(p, key=lambda kv: kv[0]) for p in parts)
        True
        >>> sorted(kv for p in parts for kv in p) == sorted(rdd.collect())
        True
        """
        if _is_default_hash(partitionFunc):
            parted = self.partitionBy(numPartitions or self.getNumPartitions())
        else:
            parted = self.partitionBy(numPartitions or self.getNumPartitions(), partitionFunc)
        return parted.mapPartitions(_sort_partition(ascending, keyfunc), True)

    def reduceByKeyLocally(self, func):
        """The values of each key merged with func, as a dict in the client.

        >>> from operator import add
        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).reduceByKeyLocally(add).items())
        [('a', 2), ('b', 1)]
        """
        return self.mapPartitions(_reduce_locally(func)).reduce(_merge_dicts(func))
