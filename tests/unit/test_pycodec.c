/*
 * test_pycodec.c - unit tests of python/codec.c, the bytes Python keys and
 * values become in the engine, with CPython embedded (Debian's 3.11: each
 * test forks, then its fixture runs Py_Initialize and kc_init).
 *
 * The one idea: Python is the oracle. Keys come from Python's `random`
 * (seeded), Python's sorted() and == say what order and equality the bytes
 * must have (memcmp), and a Python `same()` says what a decoded key or value
 * must be, type included. The decoders get random and mutated bytes in
 * exactly-sized heap buffers, so the ASan build catches any over-read; a key
 * that decodes must re-encode to the very same bytes (one canonical form).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* ---- the embedded interpreter ------------------------------------------ */

static PyObject *G; /* borrowed: __main__'s dict, where the helpers live */

/* The Python side of the oracle: what a key decodes to, and exact sameness. */
static const char HELPERS[] =
    "import random, math, sys, struct, pickle, enum, collections, threading\n"
    "def norm(x):\n"
    "    if x is True or x is False: return int(x)\n"
    "    if isinstance(x, tuple): return tuple(norm(e) for e in x)\n"
    "    if isinstance(x, float):\n"
    "        return int(x) if math.isfinite(x) and x == int(x) else float(x)\n"
    "    if isinstance(x, int): return int(x)\n"
    "    if isinstance(x, str): return str(x)\n"
    "    if isinstance(x, bytes): return bytes(x)\n"
    "    return x\n"
    "def same(a, b):\n"
    "    if type(a) is not type(b): return False\n"
    "    if isinstance(a, float): return repr(a) == repr(b)\n"
    "    if isinstance(a, (tuple, list)):\n"
    "        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))\n"
    "    return a == b\n"
    "def nest(n):\n"
    "    t = ()\n"
    "    for _ in range(n - 1): t = (t,)\n"
    "    return t\n"
    /* key generators, each taking a random.Random */
    "def rint(r):\n"
    "    bits = r.choice([1, 2, 3, 7, 8, 9, 15, 16, 31, 32, 33, 52, 53, 54, 62, 63, 64, 65,\n"
    "                     100, 128, 200, 1000])\n"
    "    v = r.getrandbits(bits)\n"
    "    if r.random() < 0.3: v = (1 << bits) - r.randrange(3)\n"
    "    return -v if r.random() < 0.5 else v\n"
    "def rfloat(r):\n"
    "    k = r.random()\n"
    "    if k < 0.1:\n"
    "        return r.choice([0.0, -0.0, math.inf, -math.inf, 5e-324, -5e-324, 1e308, -1e308,\n"
    "                         sys.float_info.max, sys.float_info.min, 1.0, -1.0, 0.5, 0.1])\n"
    "    if k < 0.4: return math.ldexp(r.random(), r.randint(-1074, 1024)) * r.choice([1, -1])\n"
    "    if k < 0.6: return float(r.randint(-2**60, 2**60))\n"
    "    if k < 0.8: return r.uniform(-1e6, 1e6)\n"
    "    while True:\n"
    "        f = struct.unpack('<d', r.getrandbits(64).to_bytes(8, 'little'))[0]\n"
    "        if f == f: return f\n"
    "def rnum(r):\n"
    "    k = r.random()\n"
    "    if k < 0.3: return rint(r)\n"
    "    if k < 0.6: return rfloat(r)\n"
    "    i = rint(r)\n"
    "    f = float(i) if abs(i) < 2**1000 else 1.5\n"
    "    return r.choice([f, i + r.choice([-1, 0, 1]), f + r.choice([0.5, -0.25]), f * 2**-60])\n"
    "def rstr(r):\n"
    "    out = []\n"
    "    for _ in range(r.randrange(0, 7)):\n"
    "        k = r.random()\n"
    "        if k < 0.3: c = r.choice('\\0\\x01a\\x7f\\u00e9\\u07ff\\ud7ff\\ud800\\udfff\\ue000\\uffff"
    "\\U00010000\\U0001F600\\U0010FFFF')\n"
    "        elif k < 0.5: c = chr(r.randrange(0, 128))\n"
    "        elif k < 0.7: c = chr(r.randrange(128, 0x800))\n"
    "        elif k < 0.9: c = chr(r.randrange(0x800, 0x10000))\n"
    "        else: c = chr(r.randrange(0x10000, 0x110000))\n"
    "        out.append(c)\n"
    "    return ''.join(out)\n"
    "def rbytes(r):\n"
    "    return bytes(r.choice([0, 0, 1, 0x7f, 0xfe, 0xff, 0xff, r.randrange(256)])\n"
    "                 for _ in range(r.randrange(0, 6)))\n"
    "def rsmallint(r):\n"
    "    k = r.random()\n"
    "    if k < 0.6: return r.randrange(-3, 4)\n"
    "    if k < 0.7: return float(r.randrange(-3, 4))\n"
    "    if k < 0.8: return r.choice([True, False])\n"
    "    return rint(r)\n"
    "def rsmallstr(r):\n"
    "    return ''.join(r.choice(['a', 'b', '\\0', '\\u00e9', '\\U0001F600'])\n"
    "                   for _ in range(r.randrange(0, 3)))\n"
    "def rtuple(r):\n"
    "    return tuple(rsmallstr(r) if i % 2 == 0 else rsmallint(r) for i in range(r.randrange(0, 5)))\n"
    "def rnested(r):\n"
    "    parts = [rsmallint, rtuple, rsmallstr, lambda r: (rtuple(r), rsmallint(r))]\n"
    "    return tuple(parts[i](r) for i in range(r.randrange(0, 5)))\n"
    "def keys(gen, n, seed):\n"
    "    r = random.Random(seed)\n"
    "    return [gen(r) for _ in range(n)]\n"
    "def anykey(r):\n"
    "    return r.choice([rint, rfloat, rstr, rbytes, rtuple, rnested, lambda r: None])(r)\n"
    "class Color(enum.IntEnum):\n"
    "    RED = 3\n"
    "class MyStr(str): pass\n"
    "Pair = collections.namedtuple('Pair', 'a b')\n";

static void py_setup(void)
{
    Py_InitializeEx(0);
    PyObject *main = PyImport_AddModule("__main__"); /* borrowed */
    ck_assert_ptr_nonnull(main);
    G = PyModule_GetDict(main);                               /* borrowed */
    PyObject *r = PyRun_String(HELPERS, Py_file_input, G, G); /* new */
    if (!r) PyErr_Print();
    ck_assert_ptr_nonnull(r);
    Py_DECREF(r);
    if (kc_init() < 0) PyErr_Print();
    ck_assert_int_eq(kc_init(), 0); /* twice: the second finds the state */
}

static void py_teardown(void)
{
    ck_assert_int_eq(Py_FinalizeEx(), 0);
}

static PyObject *ev(const char *expr) /* new */
{
    PyObject *r = PyRun_String(expr, Py_eval_input, G, G); /* new */
    if (!r) {
        PyErr_Print();
        ck_abort_msg("python: %s", expr);
    }
    return r;
}

static void ex(const char *code)
{
    PyObject *r = PyRun_String(code, Py_file_input, G, G); /* new */
    if (!r) {
        PyErr_Print();
        ck_abort_msg("python: %s", code);
    }
    Py_DECREF(r);
}

/* fname(args...) for a helper in __main__; 0/1 for a bool result. */
static int call_bool(const char *fname, PyObject *a /* borrowed */, PyObject *b /* borrowed */)
{
    PyObject *f = PyDict_GetItemString(G, fname); /* borrowed */
    ck_assert_ptr_nonnull(f);
    PyObject *r = b ? PyObject_CallFunctionObjArgs(f, a, b, NULL) : PyObject_CallOneArg(f, a); /* new */
    if (!r) PyErr_Print();
    ck_assert_ptr_nonnull(r);
    int t = PyObject_IsTrue(r);
    Py_DECREF(r);
    ck_assert_int_ge(t, 0);
    return t;
}

static char *repr_of(PyObject *o /* borrowed */) /* malloc'd */
{
    PyObject *r = PyObject_Repr(o); /* new */
    const char *s = r ? PyUnicode_AsUTF8(r) : NULL;
    char *c = strdup(s ? s : "<no repr>");
    PyErr_Clear();
    Py_XDECREF(r);
    return c;
}

static kc_buf key_of(PyObject *o /* borrowed */)
{
    kc_buf b = {0};
    if (kc_key_encode(o, &b, "test") < 0) {
        PyErr_Print();
        ck_abort_msg("kc_key_encode(%s) failed", repr_of(o));
    }
    return b;
}

/* memcmp order of two encodings, shorter first on a common prefix: <0, 0, >0 */
static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int buf_cmp(const kc_buf *a, const kc_buf *b)
{
    return bytes_cmp(a->p, a->len, b->p, b->len);
}

/* Decodes an exactly-sized heap copy of p[0..n) (so ASan sees over-reads). */
static PyObject *key_decode_copy(const uint8_t *p, size_t n) /* new or NULL */
{
    uint8_t *c = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(c);
    if (n) memcpy(c, p, n);
    PyObject *r = kc_key_decode(c, n); /* new */
    free(c);
    return r;
}

/* Encodes o, decodes it, checks the result is same() as norm(o) and encodes
 * to the same bytes; returns the encoding. */
static kc_buf key_roundtrip(PyObject *o /* borrowed */)
{
    kc_buf b = key_of(o);
    PyObject *d = key_decode_copy(b.p, b.len); /* new */
    if (!d) {
        PyErr_Print();
        ck_abort_msg("kc_key_decode of %s failed", repr_of(o));
    }
    PyObject *f = PyDict_GetItemString(G, "norm"); /* borrowed */
    PyObject *want = PyObject_CallOneArg(f, o);    /* new */
    ck_assert_ptr_nonnull(want);
    if (!call_bool("same", d, want)) ck_abort_msg("key %s decoded as %s", repr_of(o), repr_of(d));
    kc_buf b2 = key_of(d);
    ck_assert_int_eq(buf_cmp(&b, &b2), 0);
    kc_buf_release(&b2);
    Py_DECREF(want);
    Py_DECREF(d);
    return b;
}

/* ---- keys: round trips and canonical equality --------------------------- */

static const char *const KEY_EXPRS[] = {
    "None",
    "''",
    "'abc'",
    "'\\0'",
    "'a\\0b\\0'",
    "'\\U0001F600'",
    "'\\ud800'",
    "'\\udfff\\ud800x'",
    "'\\ud83d\\ude00'",
    "'\\u00e9\\uffff\\U0010FFFF'",
    "b''",
    "b'\\x00'",
    "b'\\x00\\xff\\x00'",
    "b'\\xff'",
    "0",
    "1",
    "-1",
    "2",
    "3",
    "255",
    "256",
    "-256",
    "2**53+1",
    "2**63-1",
    "-2**63",
    "2**63",
    "-2**63-1",
    "2**64",
    "-2**64",
    "2**64-1",
    "2**200",
    "-2**200",
    "2**200+1",
    "-(2**200-1)",
    "3**500",
    "-(7**300)",
    "2**4000",
    "12345678901234567890123",
    "0.1",
    "-0.1",
    "1.5",
    "-1.5",
    "0.5",
    "2.0**-1000",
    "float('inf')",
    "float('-inf')",
    "1e308",
    "-1e308",
    "5e-324",
    "-5e-324",
    "2.2250738585072014e-308",
    "2.225073858507201e-308",
    "1e-300",
    "sys.float_info.max",
    "2.0",
    "-2.0",
    "float(2**60)",
    "float(2**63)",
    "True",
    "False",
    "-0.0",
    "0.0",
    "()",
    "(1,)",
    "((),)",
    "(((),),())",
    "(1, 'a', (b'x', None, (2.5, -3)), ())",
    "(True, -0.0, 2.0, 0.25, 'z')",
    "Color.RED",
    "MyStr('hi')",
    "Pair(1, 'b')",
    "nest(64)",
    "(2**70, -2**70, (0.1, '\\0'))",
};

START_TEST(test_key_roundtrip)
{
    for (size_t i = 0; i < sizeof KEY_EXPRS / sizeof *KEY_EXPRS; i++) {
        PyObject *o = ev(KEY_EXPRS[i]); /* new */
        kc_buf b = key_roundtrip(o);
        kc_buf_release(&b);
        Py_DECREF(o);
    }
}
END_TEST

/* The exact bytes of a few keys, as the format comment in codec.c says. */
START_TEST(test_key_bytes)
{
    static const struct {
        const char *expr;
        const char *hex;
    } cases[] = {
        {"None", "01"},
        {"0", "12"},
        {"1", "138180"},
        {"3", "1382c0"},
        {"-1", "117e7f"},
        {"0.5", "138080"},
        {"2**100", "13e00580"},
        {"float('-inf')", "10"},
        {"float('inf')", "14"},
        {"'a\\0'", "206100ff00"},
        {"b'\\x00\\xff'", "2100ffff00"},
        {"()", "3000"},
        {"(1, ('',))", "30138180302000"
                       "0000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        PyObject *o = ev(cases[i].expr); /* new */
        kc_buf b = key_of(o);
        char hex[256] = "";
        for (size_t j = 0; j < b.len && 2 * j + 2 < sizeof hex; j++)
            snprintf(hex + 2 * j, 3, "%02x", b.p[j]);
        ck_assert_msg(strcmp(hex, cases[i].hex) == 0, "%s: %s, not %s", cases[i].expr, hex, cases[i].hex);
        kc_buf_release(&b);
        Py_DECREF(o);
    }
}
END_TEST

/* Each line: keys that are == in Python, so one set of bytes. */
static const char *const EQUAL_GROUPS[] = {
    "[1, 1.0, True, Color(3) // 3]",
    "[0, 0.0, -0.0, False]",
    "[(1, 'a'), (1.0, 'a'), (True, 'a')]",
    "[(0,), (-0.0,), (False,), (0.0,)]",
    "[2**60, float(2**60)]",
    "[2**200, float(2**200)]",
    "[-2**1000, float(-2**1000)]",
    "[3, Color.RED]",
    "['hi', MyStr('hi')]",
    "[(1, 'b'), Pair(1, 'b'), Pair(1.0, MyStr('b'))]",
    "[b'x', type('B', (bytes,), {})(b'x')]",
    "[(((1,),),), (((1.0,),),)]",
    "[float(2**63), 2**63]",
    "[-2**63, float(-2**63)]",
};

/* Pairs that are != in Python, so different bytes. */
static const char *const UNEQUAL_PAIRS[] = {
    "(0.1, 0)",
    "(2**53+1, float(2**53))",
    "(1, '1')",
    "(b'a', 'a')",
    "((), None)",
    "((1,), 1)",
    "(0, None)",
    "('', b'')",
    "((), ((),))",
    "(5e-324, 0)",
    "(1.0000000000000002, 1)",
    "('a', 'a\\0')",
};

START_TEST(test_key_equal)
{
    for (size_t i = 0; i < sizeof EQUAL_GROUPS / sizeof *EQUAL_GROUPS; i++) {
        PyObject *l = ev(EQUAL_GROUPS[i]); /* new */
        kc_buf first = key_of(PyList_GET_ITEM(l, 0));
        for (Py_ssize_t j = 1; j < PyList_GET_SIZE(l); j++) {
            kc_buf b = key_of(PyList_GET_ITEM(l, j) /* borrowed */);
            ck_assert_msg(buf_cmp(&first, &b) == 0, "%s: element %zd encodes differently", EQUAL_GROUPS[i], j);
            kc_buf_release(&b);
        }
        kc_buf_release(&first);
        Py_DECREF(l);
    }
    for (size_t i = 0; i < sizeof UNEQUAL_PAIRS / sizeof *UNEQUAL_PAIRS; i++) {
        PyObject *t = ev(UNEQUAL_PAIRS[i]); /* new */
        kc_buf a = key_of(PyTuple_GET_ITEM(t, 0)), b = key_of(PyTuple_GET_ITEM(t, 1));
        ck_assert_msg(buf_cmp(&a, &b) != 0, "%s encode alike", UNEQUAL_PAIRS[i]);
        kc_buf_release(&a);
        kc_buf_release(&b);
        Py_DECREF(t);
    }
}
END_TEST

/* ---- keys: order ------------------------------------------------------- */

/* sorted(keys(gen, n, seed)): consecutive keys must compare as their bytes
 * do (== exactly when the bytes are equal), and each must round-trip. Then
 * all pairs of the first `pairs` unsorted keys, against Python's < and ==. */
static void check_order(const char *gen, int n, int seed, int pairs)
{
    char expr[256];
    snprintf(expr, sizeof expr, "keys(%s, %d, %d)", gen, n, seed);
    PyObject *raw = ev(expr);                /* new list */
    PyObject *sorted = PySequence_List(raw); /* new */
    ck_assert_ptr_nonnull(sorted);
    ck_assert_int_eq(PyList_Sort(sorted), 0);
    Py_ssize_t len = PyList_GET_SIZE(sorted);
    kc_buf prev = {0};
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *k = PyList_GET_ITEM(sorted, i); /* borrowed */
        kc_buf b = key_roundtrip(k);
        if (i > 0) {
            PyObject *pk = PyList_GET_ITEM(sorted, i - 1); /* borrowed */
            int eq = PyObject_RichCompareBool(pk, k, Py_EQ);
            ck_assert_int_ge(eq, 0);
            int c = buf_cmp(&prev, &b);
            if (eq)
                ck_assert_msg(c == 0, "%s: %s == %s but the bytes differ", gen, repr_of(pk), repr_of(k));
            else
                ck_assert_msg(c < 0, "%s: %s < %s but not their bytes", gen, repr_of(pk), repr_of(k));
        }
        kc_buf_release(&prev);
        prev = b;
    }
    kc_buf_release(&prev);

    int m = pairs < len ? pairs : (int)len;
    kc_buf *enc = calloc((size_t)m, sizeof *enc);
    ck_assert_ptr_nonnull(enc);
    for (int i = 0; i < m; i++)
        enc[i] = key_of(PyList_GET_ITEM(raw, i));
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            PyObject *a = PyList_GET_ITEM(raw, i), *b = PyList_GET_ITEM(raw, j); /* borrowed */
            int lt = PyObject_RichCompareBool(a, b, Py_LT), eq = PyObject_RichCompareBool(a, b, Py_EQ);
            ck_assert(lt >= 0 && eq >= 0);
            int c = buf_cmp(&enc[i], &enc[j]);
            int want = eq ? 0 : lt ? -1 : 1;
            ck_assert_msg((c > 0) - (c < 0) == want, "%s: %s vs %s", gen, repr_of(a), repr_of(b));
        }
    for (int i = 0; i < m; i++)
        kc_buf_release(&enc[i]);
    free(enc);
    Py_DECREF(sorted);
    Py_DECREF(raw);
}

START_TEST(test_order_ints)
{
    check_order("rint", 4000, 1, 300);
}
END_TEST
START_TEST(test_order_floats)
{
    check_order("rfloat", 4000, 2, 300);
}
END_TEST
START_TEST(test_order_numbers)
{
    check_order("rnum", 4000, 3, 400);
}
END_TEST
START_TEST(test_order_str)
{
    check_order("rstr", 4000, 4, 300);
}
END_TEST
START_TEST(test_order_bytes)
{
    check_order("rbytes", 4000, 5, 300);
}
END_TEST
START_TEST(test_order_tuples)
{
    check_order("rtuple", 4000, 6, 300);
}
END_TEST
START_TEST(test_order_nested)
{
    check_order("rnested", 3000, 7, 300);
}
END_TEST
START_TEST(test_order_small_ints)
{
    check_order("lambda r: r.randrange(-70000, 70000)", 4000, 8, 200);
}
END_TEST

/* ---- keys: refusals ----------------------------------------------------- */

/* kc_key_encode(expr, op) fails with exc whose message contains want, and leaves the buffer as it was. */
static void check_refused(const char *expr, const char *op, PyObject *exc /* borrowed */, const char *want)
{
    PyObject *o = ev(expr); /* new */
    kc_buf b = {0};
    ck_assert_int_eq(kc_key_encode(Py_None, &b, op), 0); /* something already there */
    size_t len0 = b.len;
    ck_assert_int_eq(kc_key_encode(o, &b, op), -1);
    ck_assert_uint_eq(b.len, len0);
    ck_assert_ptr_nonnull(PyErr_Occurred());
    ck_assert_msg(PyErr_ExceptionMatches(exc), "%s: wrong exception type", expr);
    PyObject *t, *v, *tb; /* new */
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    PyObject *s = PyObject_Str(v); /* new */
    ck_assert_ptr_nonnull(s);
    const char *msg = PyUnicode_AsUTF8(s);
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, want) != NULL, "%s: message '%s' lacks '%s'", expr, msg, want);
    Py_DECREF(s);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    kc_buf_release(&b);
    Py_DECREF(o);
}

START_TEST(test_key_refused)
{
    check_refused("[1, 2]", "reduceByKey", PyExc_TypeError,
                  "reduceByKey: a key of type 'list' cannot be used as a key; kiln keys are str, bytes, int, float, "
                  "bool, None or tuples of these");
    check_refused("(1, ('a', {}))", "groupByKey", PyExc_TypeError, "groupByKey: a key of type 'dict' cannot be");
    check_refused("{1}", "join", PyExc_TypeError, "join: a key of type 'set' cannot");
    check_refused("bytearray(b'x')", "join", PyExc_TypeError, "type 'bytearray'");
    check_refused("1j", "sortByKey", PyExc_TypeError, "sortByKey: a key of type 'complex'");
    check_refused("float('nan')", "reduceByKey", PyExc_ValueError, "reduceByKey: a float NaN cannot be used as a key");
    check_refused("(1, float('nan'))", "distinct", PyExc_ValueError, "distinct: a float NaN");
    check_refused("-float('nan')", "x", PyExc_ValueError, "NaN");
    check_refused("2**(2**24)", "join", PyExc_ValueError, "join: an int key of 16777217 bits is too large");
    check_refused("nest(65)", "join", PyExc_ValueError, "join: a tuple key nested more than 64 deep");
    /* the biggest int allowed goes through */
    PyObject *o = ev("-(2**(2**24) - 1)"); /* new */
    kc_buf b = key_roundtrip(o);
    kc_buf_release(&b);
    Py_DECREF(o);
}
END_TEST

/* ---- keys: malformed bytes ----------------------------------------------- */

static int hexval(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

static void check_malformed(const char *hex)
{
    uint8_t p[128];
    size_t n = strlen(hex) / 2;
    ck_assert_uint_le(n, sizeof p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
    PyObject *r = key_decode_copy(p, n); /* new */
    ck_assert_msg(r == NULL, "%s decoded as %s", hex, r ? repr_of(r) : "");
    ck_assert_msg(PyErr_ExceptionMatches(PyExc_ValueError), "%s: not a ValueError", hex);
    PyErr_Clear();
}

START_TEST(test_key_malformed)
{
    const char *cases[] = {
        "",                       /* nothing */
        "02",                     /* unknown tag */
        "ff",                     /* unknown tag */
        "0101",                   /* trailing byte */
        "13",                     /* number without exponent */
        "1381",                   /* without mantissa */
        "138140",                 /* mantissa without its leading 1 */
        "138181",                 /* mantissa that goes on past the end */
        "13818100",               /* ends in a zero group */
        "13e1000580",             /* exponent not in its shortest form */
        "13e7ffffffffffffffff80", /* too large */
        "13e3ffffff80",           /* 2**24 + ... bits: too large */
        "13e0",                   /* truncated exponent */
        "131efc2d80",             /* E = -1074: below every double */
        "1380"
        "ffffffffffffffff80", /* 0.m with 63 bits: not a double */
        "13"
        "21"
        "8080",     /* a trailing byte after a number */
        "2061",     /* unterminated str */
        "20ff00",   /* invalid UTF-8 */
        "20c0af00", /* overlong UTF-8 */
        "2061",     /* unterminated */
        "2100ff",   /* unterminated after an escape */
        "30",       /* unterminated tuple */
        "3002",     /* bad element */
        "300000",   /* trailing */
        "00",       /* a tuple end outside a tuple */
        "11",       /* negative without body */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_malformed(cases[i]);
    /* every proper prefix of a valid key is malformed (the code is prefix-free) */
    PyObject *o = ev("(1, -2**70, 'a\\0b', (b'\\x00', None, 0.1, -5e-324), '', float('inf'))"); /* new */
    kc_buf b = key_of(o);
    for (size_t n = 0; n < b.len; n++) {
        PyObject *r = key_decode_copy(b.p, n); /* new */
        ck_assert_ptr_null(r);
        ck_assert(PyErr_ExceptionMatches(PyExc_ValueError));
        PyErr_Clear();
    }
    kc_buf_release(&b);
    Py_DECREF(o);
    /* 65 nested tuples */
    uint8_t deep[130];
    memset(deep, 0x30, 65);
    memset(deep + 65, 0x00, 65);
    ck_assert_ptr_null(key_decode_copy(deep, sizeof deep));
    ck_assert(PyErr_ExceptionMatches(PyExc_ValueError));
    PyErr_Clear();
    PyObject *ok = key_decode_copy(deep + 1, sizeof deep - 2); /* 64 deep: fine */
    ck_assert_ptr_nonnull(ok);
    Py_DECREF(ok);
}
END_TEST

/* Random and mutated bytes: a decode either fails with ValueError or gives a
 * key whose encoding is exactly the input. */
START_TEST(test_key_decode_fuzz)
{
    PyObject *pool = ev("keys(anykey, 400, 9)"); /* new */
    Py_ssize_t np = PyList_GET_SIZE(pool);
    kc_buf *enc = calloc((size_t)np, sizeof *enc);
    ck_assert_ptr_nonnull(enc);
    for (Py_ssize_t i = 0; i < np; i++)
        enc[i] = key_of(PyList_GET_ITEM(pool, i));
    static const uint8_t interesting[] = {0x00, 0x01, 0x10, 0x11, 0x12, 0x13, 0x14, 0x18, 0x1f, 0x20, 0x21,
                                          0x30, 0x7f, 0x80, 0x81, 0xc0, 0xdf, 0xe0, 0xe2, 0xe7, 0xfe, 0xff};
    uint8_t buf[96];
    int decoded = 0;
    for (int it = 0; it < 200000; it++) {
        size_t n;
        if (rnd() % 4 == 0) { /* random bytes, biased to the format's bytes */
            n = rnd() % 24;
            for (size_t i = 0; i < n; i++)
                buf[i] = rnd() % 2 ? interesting[rnd() % sizeof interesting] : (uint8_t)rnd();
        } else { /* a valid key, mutated */
            const kc_buf *e = &enc[rnd() % (uint64_t)np];
            n = e->len < sizeof buf ? e->len : sizeof buf;
            memcpy(buf, e->p, n);
            int muts = 1 + (int)(rnd() % 3);
            for (int m = 0; m < muts && n > 0; m++) {
                size_t at = rnd() % n;
                switch (rnd() % 4) {
                case 0:
                    buf[at] = (uint8_t)rnd();
                    break;
                case 1:
                    buf[at] = interesting[rnd() % sizeof interesting];
                    break;
                case 2:
                    n = at; /* truncate */
                    break;
                default:
                    buf[at] ^= (uint8_t)(1u << (rnd() % 8));
                }
            }
        }
        PyObject *r = key_decode_copy(buf, n); /* new */
        if (!r) {
            ck_assert_msg(PyErr_ExceptionMatches(PyExc_ValueError), "iteration %d: not a ValueError", it);
            PyErr_Clear();
            continue;
        }
        decoded++;
        kc_buf again = {0};
        if (kc_key_encode(r, &again, "fuzz") < 0) {
            PyErr_Print();
            ck_abort_msg("iteration %d: decoded %s does not encode", it, repr_of(r));
        }
        ck_assert_msg(bytes_cmp(again.p, again.len, buf, n) == 0, "iteration %d: %s re-encodes differently", it,
                      repr_of(r));
        kc_buf_release(&again);
        Py_DECREF(r);
    }
    ck_assert_int_gt(decoded, 1000);
    for (Py_ssize_t i = 0; i < np; i++)
        kc_buf_release(&enc[i]);
    free(enc);
    Py_DECREF(pool);
}
END_TEST

/* ---- keys: the common cases call no Python and allocate nothing ---------- */

/* Hooks around CPython's three allocator domains that count allocations,
 * and a profile function that counts calls of Python code and builtins. */
static struct {
    PyMemAllocatorEx orig[3];
    long allocs, calls;
} hook;

static void *h_malloc(void *ctx, size_t n)
{
    PyMemAllocatorEx *o = ctx;
    hook.allocs++;
    return o->malloc(o->ctx, n);
}

static void *h_calloc(void *ctx, size_t k, size_t n)
{
    PyMemAllocatorEx *o = ctx;
    hook.allocs++;
    return o->calloc(o->ctx, k, n);
}

static void *h_realloc(void *ctx, void *p, size_t n)
{
    PyMemAllocatorEx *o = ctx;
    hook.allocs++;
    return o->realloc(o->ctx, p, n);
}

static void h_free(void *ctx, void *p)
{
    PyMemAllocatorEx *o = ctx;
    o->free(o->ctx, p);
}

static int h_profile(PyObject *obj, PyFrameObject *f, int what, PyObject *arg)
{
    if (what == PyTrace_CALL || what == PyTrace_C_CALL) hook.calls++;
    return 0;
}

static void hooks(int on)
{
    static const PyMemAllocatorDomain domains[3] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};
    if (!on) PyEval_SetProfile(NULL, NULL);
    for (int d = 0; d < 3; d++) {
        if (on) {
            PyMem_GetAllocator(domains[d], &hook.orig[d]);
            PyMemAllocatorEx a = {&hook.orig[d], h_malloc, h_calloc, h_realloc, h_free};
            PyMem_SetAllocator(domains[d], &a);
        } else {
            PyMem_SetAllocator(domains[d], &hook.orig[d]);
        }
    }
    if (on) PyEval_SetProfile(h_profile, NULL);
    hook.allocs = hook.calls = 0;
}

/* Encoding the common keys allocates no Python memory and calls no Python
 * code (the kc_buf, already grown, is reused), and leaves refcounts alone.
 * Checked by the hooks: the control run shows they do see such things. */
START_TEST(test_key_encode_allocates_nothing)
{
    PyObject *objs = ev("['word', '', 'a\\0b', '\\u00e9t\\u00e9', 0, 1, -7, 2**40, -2**62, 3.5, -0.0, True, None,"
                        " ('user42', 17), (1, ('a', 2), 'b'), b'bytes', 2**100, float('inf'), MyStr('s'), Color.RED,"
                        " Pair('x', 1.5)]"); /* new */
    Py_ssize_t n = PyList_GET_SIZE(objs);
    kc_buf b = {0};
    /* warm up: the buffer grows, non-ASCII strs cache their UTF-8 once */
    for (Py_ssize_t i = 0; i < n; i++)
        ck_assert_int_eq(kc_key_encode(PyList_GET_ITEM(objs, i), &b, "t"), 0);
    size_t len = b.len;
    Py_ssize_t refs[64];
    ck_assert_int_le(n, 64);
    for (Py_ssize_t i = 0; i < n; i++)
        refs[i] = Py_REFCNT(PyList_GET_ITEM(objs, i));
    hooks(1);
    for (int rep = 0; rep < 1000; rep++) {
        b.len = 0;
        for (Py_ssize_t i = 0; i < n; i++)
            ck_assert_int_eq(kc_key_encode(PyList_GET_ITEM(objs, i), &b, "t"), 0);
        ck_assert_uint_eq(b.len, len);
    }
    long allocs = hook.allocs, calls = hook.calls;
    for (Py_ssize_t i = 0; i < n; i++)
        ck_assert_int_eq(Py_REFCNT(PyList_GET_ITEM(objs, i)), refs[i]);
    /* control: a value that is pickled allocates and calls */
    kc_buf v = {0};
    ck_assert_int_eq(kc_val_encode(objs, &v), 0);
    long control_allocs = hook.allocs, control_calls = hook.calls;
    hooks(0);
    ck_assert_int_eq(allocs, 0);
    ck_assert_int_eq(calls, 0);
    ck_assert_int_gt(control_allocs, 0);
    ck_assert_int_gt(control_calls, 0);
    kc_buf_release(&v);
    kc_buf_release(&b);
    Py_DECREF(objs);
}
END_TEST

/* ---- values ------------------------------------------------------------- */

static const struct {
    const char *expr;
    int tag;
} VALUES[] = {
    {"None", 0x01},
    {"False", 0x02},
    {"True", 0x03},
    {"0", 0x04},
    {"-1", 0x04},
    {"2**63-1", 0x04},
    {"-2**63", 0x04},
    {"2**63", 0x08},
    {"-2**63-1", 0x08},
    {"2**64", 0x08},
    {"-2**64", 0x08},
    {"2**200", 0x08},
    {"-2**200", 0x08},
    {"2**10000 + 12345", 0x08},
    {"0.1", 0x05},
    {"-0.0", 0x05},
    {"2.0", 0x05},
    {"float('inf')", 0x05},
    {"float('-inf')", 0x05},
    {"float('nan')", 0x05},
    {"1e308", 0x05},
    {"5e-324", 0x05},
    {"''", 0x06},
    {"'abc'", 0x06},
    {"'a\\0b'", 0x06},
    {"'\\U0001F600\\u00e9'", 0x06},
    {"'\\ud800x\\udfff'", 0x06},
    {"'\\ud83d\\ude00'", 0x06},
    {"b''", 0x07},
    {"b'\\x00\\xff'", 0x07},
    {"()", 0x09},
    {"(1, 'a', (2.0,))", 0x09},
    {"[1, [2, 3], {'a': (4, 5.5)}]", 0x09},
    {"{1, 2, 3}", 0x09},
    {"Color.RED", 0x09},
    {"MyStr('sub')", 0x09},
    {"Pair(1, 2)", 0x09},
    {"bytearray(b'ab')", 0x09},
    {"1j", 0x09},
};

static kc_buf val_of(PyObject *o /* borrowed */)
{
    kc_buf b = {0};
    if (kc_val_encode(o, &b) < 0) {
        PyErr_Print();
        ck_abort_msg("kc_val_encode(%s) failed", repr_of(o));
    }
    return b;
}

static PyObject *val_decode_copy(const uint8_t *p, size_t n) /* new or NULL */
{
    uint8_t *c = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(c);
    if (n) memcpy(c, p, n);
    PyObject *r = kc_val_decode(c, n); /* new */
    free(c);
    return r;
}

START_TEST(test_val_roundtrip)
{
    for (size_t i = 0; i < sizeof VALUES / sizeof *VALUES; i++) {
        PyObject *o = ev(VALUES[i].expr); /* new */
        kc_buf b = val_of(o);
        ck_assert_msg(b.p[0] == VALUES[i].tag, "%s: tag %02x", VALUES[i].expr, b.p[0]);
        PyObject *d = val_decode_copy(b.p, b.len); /* new */
        if (!d) PyErr_Print();
        ck_assert_ptr_nonnull(d);
        ck_assert_msg(call_bool("same", o, d), "%s came back as %s", VALUES[i].expr, repr_of(d));
        kc_buf_release(&b);
        Py_DECREF(d);
        Py_DECREF(o);
    }
}
END_TEST

/* What pickle cannot take, cloudpickle can: classes that are not importable
 * (local, or gone from __main__ as on an executor), lambdas. */
START_TEST(test_val_cloudpickle)
{
    ex("def make():\n"
       "    class Local:\n"
       "        def __init__(self): self.x = 41\n"
       "    return Local()\n"
       "class Gone:\n"
       "    def __init__(self, v): self.v = v\n"
       "gone = Gone([1, 2])\n"
       "del Gone\n"
       "add1 = lambda v: v + 1\n");
    static const struct {
        const char *expr, *check;
    } cases[] = {
        {"make()", "lambda o: o.x == 41 and type(o).__name__ == 'Local'"},
        {"gone", "lambda o: o.v == [1, 2] and type(o).__name__ == 'Gone'"},
        {"add1", "lambda f: f(1) == 2"},
        {"[add1, 3]", "lambda l: l[0](l[1]) == 4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        PyObject *o = ev(cases[i].expr), *check = ev(cases[i].check); /* new */
        kc_buf b = val_of(o);
        ck_assert_int_eq(b.p[0], 0x0A);
        PyObject *d = val_decode_copy(b.p, b.len); /* new */
        if (!d) PyErr_Print();
        ck_assert_ptr_nonnull(d);
        PyObject *r = PyObject_CallOneArg(check, d); /* new */
        ck_assert_ptr_eq(r, Py_True);
        Py_DECREF(r);
        Py_DECREF(d);
        kc_buf_release(&b);
        Py_DECREF(check);
        Py_DECREF(o);
    }
    /* neither can: the error comes up, pickle's as its __context__; the buffer is left as it was */
    PyObject *lock = ev("threading.Lock()"); /* new */
    kc_buf b = {0};
    ck_assert_int_eq(kc_val_encode(Py_None, &b), 0);
    ck_assert_int_eq(kc_val_encode(lock, &b), -1);
    ck_assert_uint_eq(b.len, 1);
    ck_assert(PyErr_ExceptionMatches(PyExc_TypeError));
    PyObject *t, *v, *tb; /* new */
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    PyObject *ctx = PyException_GetContext(v); /* new */
    ck_assert_ptr_nonnull(ctx);
    Py_DECREF(ctx);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    /* an error that is not about picklability is not retried */
    ex("class Bad:\n"
       "    def __reduce__(self): raise KeyError('no')\n");
    PyObject *bad = ev("Bad()"); /* new */
    ck_assert_int_eq(kc_val_encode(bad, &b), -1);
    ck_assert(PyErr_ExceptionMatches(PyExc_KeyError));
    PyErr_Clear();
    Py_DECREF(bad);
    kc_buf_release(&b);
    Py_DECREF(lock);
}
END_TEST

START_TEST(test_val_malformed)
{
    static const struct {
        const char *bytes;
        size_t n;
    } cases[] = {
        {"", 0},
        {"\x00", 1},
        {"\x0b", 1},
        {"\xff", 1},
        {"\x01\x00", 2},
        {"\x03\x00", 2},
        {"\x04\x01\x02\x03\x04\x05\x06\x07", 8},
        {"\x04\x01\x02\x03\x04\x05\x06\x07\x08\x09", 10},
        {"\x05\x00", 2},
        {"\x06\xff", 2},
        {"\x06\xc0\xaf", 3},
        {"\x08", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        PyObject *r = val_decode_copy((const uint8_t *)cases[i].bytes, cases[i].n);
        ck_assert_msg(r == NULL, "case %zu decoded", i);
        ck_assert_msg(PyErr_ExceptionMatches(PyExc_ValueError), "case %zu: not a ValueError", i);
        PyErr_Clear();
    }
}
END_TEST

/* Every truncation of scalar and pickled values, then random payloads under
 * each scalar tag: a value or an exception, never a crash. Pickles are not
 * mutated: they are trusted data (the engine's own), and CPython's unpickler
 * allocates whatever a length field says before it reads (a fuzzed
 * BYTEARRAY8 length asks for gigabytes), which is pickle's, not the codec's. */
START_TEST(test_val_decode_fuzz)
{
    PyObject *pool = ev("[[1, 'a', (2.5, None)], {'k': [b'x', 2**70]}, {1, 2}, ('s', -3, True), 'x' * 40,"
                        " 2**65, -2**80, 1.25, -7, b'\\x00' * 10, '\\u00e9\\U0001F600\\ud800', bytearray(b'ab'),"
                        " None, True]"); /* new */
    Py_ssize_t np = PyList_GET_SIZE(pool);
    kc_buf *enc = calloc((size_t)np, sizeof *enc);
    ck_assert_ptr_nonnull(enc);
    for (Py_ssize_t i = 0; i < np; i++)
        enc[i] = val_of(PyList_GET_ITEM(pool, i));
    for (Py_ssize_t i = 0; i < np; i++)
        for (size_t n = 0; n < enc[i].len; n++) {
            PyObject *r = val_decode_copy(enc[i].p, n); /* new */
            if (r)
                Py_DECREF(r);
            else
                ck_assert_ptr_nonnull(PyErr_Occurred());
            PyErr_Clear();
        }
    uint8_t buf[128];
    int ok = 0;
    for (int it = 0; it < 100000; it++) {
        const kc_buf *e = &enc[rnd() % (uint64_t)np];
        size_t n = e->len < sizeof buf ? e->len : sizeof buf;
        memcpy(buf, e->p, n);
        if (rnd() % 2) n = rnd() % (n + 1);
        if (rnd() % 4 == 0) { /* random bytes */
            n = rnd() % 20;
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)rnd();
        }
        if (n > 0) buf[0] = (uint8_t)(rnd() % 10 ? 1 + rnd() % 8 : rnd()); /* a scalar tag, or any but pickle's */
        if (n > 0 && (buf[0] == 0x09 || buf[0] == 0x0A)) buf[0] = 0x07;
        int muts = (int)(rnd() % 3);
        for (int m = 0; m < muts && n > 1; m++)
            buf[1 + rnd() % (n - 1)] = (uint8_t)rnd();
        PyObject *r = val_decode_copy(buf, n); /* new */
        if (r) {
            ok++;
            Py_DECREF(r);
        } else {
            ck_assert_msg(PyErr_ExceptionMatches(PyExc_ValueError), "iteration %d: not a ValueError", it);
            PyErr_Clear();
        }
    }
    ck_assert_int_gt(ok, 100);
    for (Py_ssize_t i = 0; i < np; i++)
        kc_buf_release(&enc[i]);
    free(enc);
    Py_DECREF(pool);
}
END_TEST

/* ---- the built-in add ---------------------------------------------------- */

/* kc_val_add_fast(a, b) against Python's a + b. */
static void check_add(PyObject *a /* borrowed */, PyObject *b /* borrowed */)
{
    kc_buf ea = val_of(a), eb = val_of(b), out = {0};
    int fast = kc_val_add_fast(ea.p, ea.len, eb.p, eb.len, &out);
    PyObject *sum = PyNumber_Add(a, b); /* new */
    if (!sum) {                         /* 1 + None: no number, so no fast path */
        PyErr_Clear();
        ck_assert_int_eq(fast, 0);
        kc_buf_release(&ea);
        kc_buf_release(&eb);
        kc_buf_release(&out);
        return;
    }
    int simple = (PyLong_CheckExact(a) || PyFloat_CheckExact(a)) && (PyLong_CheckExact(b) || PyFloat_CheckExact(b)) &&
                 ea.p[0] != 0x08 && eb.p[0] != 0x08;
    if (fast) {
        ck_assert(simple);
        kc_buf es = val_of(sum);
        ck_assert_msg(buf_cmp(&es, &out) == 0, "%s + %s", repr_of(a), repr_of(b));
        kc_buf_release(&es);
    } else if (simple) { /* only an int64 overflow may fall back */
        ck_assert(PyLong_CheckExact(sum));
        int overflow;
        PyLong_AsLongLongAndOverflow(sum, &overflow);
        ck_assert_int_ne(overflow, 0);
    }
    /* in place: out is a's own buffer */
    if (fast) {
        int again = kc_val_add_fast(ea.p, ea.len, eb.p, eb.len, &ea);
        ck_assert_int_eq(again, 1);
        ck_assert_int_eq(buf_cmp(&ea, &out), 0);
    }
    Py_DECREF(sum);
    kc_buf_release(&ea);
    kc_buf_release(&eb);
    kc_buf_release(&out);
}

START_TEST(test_add_fast)
{
    PyObject *pairs = ev("[(3, 4), (-5, 2), (2**63-1, 1), (-2**63, -1), (2**62, 2**62), (-2**62, -2**62-1),"
                         " (0.1, 0.2), (1e308, 1e308), (-0.0, 0), (-0.0, -0.0), (2**53+1, 0.0), (0.5, 2**63-1),"
                         " (float('inf'), float('-inf')), (float('nan'), 1), (True, 1), (1, None), ('a', 'b'),"
                         " (2**64, 1), (1, 2**70), (Color.RED, 1), (b'x', b'y'), (1.5, False)]"); /* new */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(pairs); i++) {
        PyObject *t = PyList_GET_ITEM(pairs, i); /* borrowed */
        check_add(PyTuple_GET_ITEM(t, 0), PyTuple_GET_ITEM(t, 1));
    }
    Py_DECREF(pairs);
    PyObject *rand = ev("[(rint(r) if r.random() < .5 else rfloat(r), rint(r) if r.random() < .5 else rfloat(r))"
                        " for r in [random.Random(11)] for _ in range(5000)]"); /* new */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rand); i++) {
        PyObject *t = PyList_GET_ITEM(rand, i); /* borrowed */
        check_add(PyTuple_GET_ITEM(t, 0), PyTuple_GET_ITEM(t, 1));
    }
    Py_DECREF(rand);
    /* wrong lengths and tags are not numbers */
    uint8_t nine[9] = {0x04, 1};
    kc_buf out = {0};
    ck_assert_int_eq(kc_val_add_fast(nine, 8, nine, 9, &out), 0);
    ck_assert_int_eq(kc_val_add_fast(nine, 9, nine, 10, &out), 0);
    nine[0] = 0x03;
    ck_assert_int_eq(kc_val_add_fast(nine, 9, nine, 9, &out), 0);
    ck_assert_uint_eq(out.len, 0);
    nine[0] = 0x04;
    ck_assert_int_eq(kc_val_add_fast(nine, 9, nine, 9, &out), 1);
    ck_assert_int_eq(out.p[0], 0x04);
    ck_assert_int_eq(out.p[1], 2);
    kc_buf_release(&out);
}
END_TEST

static Suite *pycodec_suite(void)
{
    Suite *s = suite_create("pycodec");
    TCase *tk = tcase_create("keys");
    tcase_add_checked_fixture(tk, py_setup, py_teardown);
    tcase_set_timeout(tk, 300);
    tcase_add_test(tk, test_key_roundtrip);
    tcase_add_test(tk, test_key_bytes);
    tcase_add_test(tk, test_key_equal);
    tcase_add_test(tk, test_order_ints);
    tcase_add_test(tk, test_order_floats);
    tcase_add_test(tk, test_order_numbers);
    tcase_add_test(tk, test_order_str);
    tcase_add_test(tk, test_order_bytes);
    tcase_add_test(tk, test_order_tuples);
    tcase_add_test(tk, test_order_nested);
    tcase_add_test(tk, test_order_small_ints);
    tcase_add_test(tk, test_key_refused);
    tcase_add_test(tk, test_key_malformed);
    tcase_add_test(tk, test_key_decode_fuzz);
    tcase_add_test(tk, test_key_encode_allocates_nothing);
    suite_add_tcase(s, tk);
    TCase *tv = tcase_create("values");
    tcase_add_checked_fixture(tv, py_setup, py_teardown);
    tcase_set_timeout(tv, 300);
    tcase_add_test(tv, test_val_roundtrip);
    tcase_add_test(tv, test_val_cloudpickle);
    tcase_add_test(tv, test_val_malformed);
    tcase_add_test(tv, test_val_decode_fuzz);
    tcase_add_test(tv, test_add_fast);
    suite_add_tcase(s, tv);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pycodec_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
