"""The word-count stage that executor/python.c runs in C
(textFile -> flatMap(str.split) -> map(lambda w: (w, C))): the same
answers as the general path and as plain Python on generated text with
every separator str.split knows, unicode, invalid UTF-8, NULs and empty
lines; the functions it must not take for it; user functions that raise."""
import operator
import random
from collections import Counter

import cloudpickle
import pytest

from kiln import _pipeline, _worker

# what str.split() splits on, ASCII and not
SEPS = [" ", "\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\xa0", "\x85", "\u2003", "\u3000", "  "]
WORDS = ["a", "b", "word", "w\x00x", "\x00", "é", "naïve", "日本", "x\u200by", "😀", "a\x7f", "Z", "1", "-"]


def _text(rng, lines):
    out = []
    for i in range(lines):
        kind = rng.random()
        if kind < 0.1:
            out.append("")
        elif kind < 0.15:
            out.append(rng.choice(SEPS) * rng.randrange(1, 4))
        elif kind < 0.6:  # ASCII only, the C splitter's lines
            ws = [rng.choice(WORDS[:5] + WORDS[10:]) for _ in range(rng.randrange(1, 12))]
            out.append("".join(w + rng.choice(SEPS[:8]) for w in ws).rstrip(" ") if rng.random() < 0.5
                       else " ".join(ws))
        else:
            ws = [rng.choice(WORDS) for _ in range(rng.randrange(1, 12))]
            out.append(rng.choice(SEPS) + "".join(w + rng.choice(SEPS) for w in ws))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(17)
    lines = _text(rng, 20000)
    p = tmp_path_factory.mktemp("words") / "text.txt"
    data = "\n".join(lines).encode("utf-8")
    # invalid UTF-8 on a few lines: both paths read it as U+FFFD
    data += b"\nbad\xff byte\xc3\n\xe6\x97 cut\n\r\nlast\r\n"
    p.write_bytes(data)
    want = Counter()
    for line in data.decode("utf-8", "replace").split("\n"):
        want.update(line.rstrip("\r").split())
    return str(p), want


def _pair1(w):
    return (w, 1)


def test_recognised_functions():
    def staged(f, g):
        return cloudpickle.loads(cloudpickle.dumps(_pipeline._compose(_pipeline._flat_map(f), _pipeline._map(g))))
    assert _worker.word_pairs(staged(str.split, lambda w: (w, 1))) == 1
    assert _worker.word_pairs(staged(str.split, _pair1)) == 1
    assert _worker.word_pairs(staged(str.split, lambda x: (x, -5))) == -5
    k = 1
    for g in (lambda w: (w, True), lambda w: (w, 1.0), lambda w: (1, w), lambda w: (w, k), lambda w, c=1: (w, c),
              lambda w: (w, 2 ** 64), lambda w: [w, 1], lambda w: (w.lower(), 1), operator.itemgetter(0)):
        assert _worker.word_pairs(staged(str.split, g)) is None, g
    for f in (lambda s: s.split(), str.lower, lambda s: s.split(" ")):
        assert _worker.word_pairs(staged(f, lambda w: (w, 1))) is None, f
    class Odd:  # a callable whose __eq__ raises: looked at by identity only
        def __call__(self, s):
            return s.split()

        def __eq__(self, other):
            raise AssertionError("compared")
        __hash__ = object.__hash__
    assert _worker.word_pairs(staged(Odd(), lambda w: (w, 1))) is None
    three = _pipeline._compose(_pipeline._compose(_pipeline._flat_map(str.split), _pipeline._map(lambda w: (w, 1))), _pipeline._map(str))
    assert _worker.word_pairs(three) is None
    assert _worker.word_pairs(_pipeline._flat_map(str.split)) is None


def test_same_answers_as_general_path_and_python(sc, corpus):
    path, want = corpus
    lines = sc.textFile(path, 5)
    fast = dict(lines.flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(operator.add).collect())
    general = dict(lines.flatMap(lambda s: s.split()).map(lambda w: (w, 1)).reduceByKey(operator.add).collect())
    assert fast == dict(want)
    assert general == fast
    # other constants, other consumers of the pairs
    assert dict(lines.flatMap(str.split).map(lambda w: (w, 3)).reduceByKey(operator.add).collect()) == \
        {w: 3 * n for w, n in want.items()}
    grouped = lines.flatMap(str.split).map(_pair1).groupByKey().mapValues(len).collect()
    assert dict(grouped) == dict(want)
    assert sorted(lines.flatMap(str.split).map(_pair1).reduceByKey(lambda a, b: a + b).collect()) == \
        sorted(want.items())


def test_empty_input(sc, tmp_path):
    p = tmp_path / "empty.txt"
    p.write_text("\n\n \t\x1c\n")
    assert sc.textFile(str(p), 2).flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(operator.add).collect() == []


def test_user_functions_that_raise_still_fail(sc, corpus):
    path, _ = corpus

    def boom(w):
        if w == "word":
            raise ValueError("no words here")
        return (w, 1)

    def stop(w):
        if w == "word":
            raise StopIteration("user's stop")
        return (w, 1)
    lines = sc.textFile(path, 3)
    with pytest.raises(Exception) as e:
        lines.flatMap(str.split).map(boom).reduceByKey(operator.add).collect()
    assert "no words here" in str(e.value)
    with pytest.raises(Exception) as e:
        lines.flatMap(str.split).map(stop).reduceByKey(operator.add).collect()
    assert "Caught StopIteration thrown from user's code; failing the task" in str(e.value)
