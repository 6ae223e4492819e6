/*
 * codec.c - owns the bytes that Python keys and values become inside kiln's C
 * engine (interface: codec.h). The one idea: a key's bytes ARE the key - one
 * canonical, self-delimiting, memcmp-ordered form for each class of
 * Python-equal keys - so the engine hashes, groups, joins and sorts Python
 * keys without calling Python; values only need to come back exactly.
 *
 * KEY FORMAT. An encoded key is exactly one element; an element is a tag byte
 * and a body:
 *
 *   0x01  None                          no body
 *   0x10  -inf                          no body
 *   0x11  negative number x             NUM(-x) with every byte XOR 0xFF
 *   0x12  zero: 0, 0.0, -0.0, False     no body
 *   0x13  positive number x             NUM(x)
 *   0x14  +inf                          no body
 *   0x20  str                           ESC(UTF-8 of the str, "surrogatepass")
 *   0x21  bytes                         ESC(the bytes)
 *   0x30  tuple                         each element (tag + body), then 0x00
 *
 * NUM(x), x > 0 finite (int, bool or float alike): x = m * 2**E with
 * 1/2 <= m < 1 (E is x.bit_length() for an int, math.frexp(x)[1] for a float).
 * NUM(x) = EXP(E) MANT(m).
 *   EXP(E)   -95 <= E <= 95: the byte 0x80 + E (0x21..0xDF).
 *            E > 95:  the byte 0xDF + k, then v = E - 96 in k big-endian bytes.
 *            E < -95: the byte 0x20 - k, then v = -96 - E in k big-endian
 *                     bytes, each XOR 0xFF.
 *            1 <= k <= 8 and minimal (k == 1 or v >= 256**(k-1)).
 *   MANT(m)  the binary digits of m after the point, from the first (always
 *            1) to the last 1, cut into groups of 7 (the last group padded
 *            with 0 bits on the right); group g becomes the byte
 *            (g << 1) | more, more = 1 on every group but the last. So the
 *            first byte has bit 7 set and the last byte has more = 0, g != 0.
 *   Limits:  ints of up to 2**24 bits (E <= 16777216); E >= -1073 (the
 *            smallest double, 5e-324 = 2**-1074, has E = -1073).
 *   Decoding: with B the number of mantissa bits (7 * bytes - trailing zero
 *            bits of the last group), the number is an int when E >= B (it
 *            is integral), else a float, which must be exactly a double
 *            (B <= 53 and E - B >= -1074) or the key is malformed. So the
 *            float key 2.0 decodes as the int 2 (2 == 2.0), True as 1,
 *            1e308 as the int equal to it.
 *   Examples: 1 = 13 81 80; 3 = 13 82 C0; -1 = 11 7E 7F; 0.5 = 13 80 80;
 *            2**100 = 13 E0 05 80.
 *
 * ESC(s) = the bytes of s with each 0x00 written as 0x00 0xFF, then 0x00.
 *
 * Canonical: every decodable key has exactly one encoding (EXP minimal, MANT
 * trimmed, UTF-8 strict but for surrogates), and the decoder refuses
 * everything else (and trailing bytes), so decode then encode gives the input
 * bytes back. Tuples nest at most 64 deep.
 *
 * Order: the tag orders types (None < numbers < str < bytes < tuples); the
 * number tags order -inf < negatives < 0 < positives < +inf; a positive x
 * orders by E, then m: EXP and MANT are each prefix-free and order-preserving
 * (a MANT that stops, more = 0, is below one that goes on with the same
 * group, whose remaining bits are not all zero), and XOR 0xFF turns a
 * prefix-free code's order around for the negatives. ESC keeps bytewise
 * order: the terminator 0x00 is followed by nothing, 0x00 (end of a tuple) or
 * a tag < 0xFF, so it sorts below an escaped 0x00 0xFF and below every other
 * byte of content; UTF-8's bytewise order is code point order (surrogates,
 * encoded ED A0 80..ED BF BF, sit between U+D7FF and U+E000, as they should).
 * A tuple's end 0x00 sorts below every tag, so a prefix sorts first.
 *
 * VALUE FORMAT: a tag byte, then the payload, which fills the rest.
 *   0x01 None   0x02 False   0x03 True                      (no payload)
 *   0x04 int in int64: 8 bytes, little-endian two's complement
 *   0x05 float: the 8 bytes of the IEEE-754 binary64, little-endian
 *   0x06 str: UTF-8 with "surrogatepass" (any str round-trips)
 *   0x07 bytes: the bytes
 *   0x08 any other int: little-endian two's complement in
 *        bit_length // 8 + 1 bytes
 *   0x09 pickle.dumps(obj, 5)
 *   0x0A cloudpickle.dumps(obj, 5), when pickle raised PicklingError,
 *        AttributeError or TypeError (a class from __main__, a local class,
 *        a lambda); it loads with pickle.loads as well.
 * Only exact types take the scalar tags; subclasses (an IntEnum, a str
 * subclass) are pickled, so they keep their type.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "util.h"

/* 3.11's private long <-> bytes routines (3.13 adds a with_exceptions argument). */
#if PY_VERSION_HEX >= 0x030D0000
#error "codec.c: port _PyLong_AsByteArray calls to PyLong_AsNativeBytes for Python >= 3.13"
#endif

enum {
    KT_END = 0x00,
    KT_NONE = 0x01,
    KT_NEGINF = 0x10,
    KT_NEG = 0x11,
    KT_ZERO = 0x12,
    KT_POS = 0x13,
    KT_POSINF = 0x14,
    KT_STR = 0x20,
    KT_BYTES = 0x21,
    KT_TUPLE = 0x30,
};

enum {
    VT_NONE = 0x01,
    VT_FALSE = 0x02,
    VT_TRUE = 0x03,
    VT_INT64 = 0x04,
    VT_FLOAT = 0x05,
    VT_STR = 0x06,
    VT_BYTES = 0x07,
    VT_BIGINT = 0x08,
    VT_PICKLE = 0x09,
    VT_CLOUDPICKLE = 0x0A,
};

#define KC_INT_BITS_MAX ((int64_t)1 << 24) /* largest E of an int key */
#define KC_EXP_MIN      (-1073)            /* smallest E of a float key */
#define KC_MAX_DEPTH    64                 /* tuples nest at most this deep */

/* ---- buffers ------------------------------------------------------------ */

/* Room for extra more bytes after len. 0, or -1 (no Python error set). */
static int buf_room(kc_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra) return 0;
    if (extra > SIZE_MAX - b->len) return -1;
    size_t need = b->len + extra, cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* buf_room with a MemoryError on failure. */
static int room(kc_buf *b, size_t extra)
{
    if (buf_room(b, extra) == 0) return 0;
    PyErr_NoMemory();
    return -1;
}

void kc_buf_release(kc_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static int put_byte(kc_buf *b, uint8_t c)
{
    if (room(b, 1) < 0) return -1;
    b->p[b->len++] = c;
    return 0;
}

static int put_bytes(kc_buf *b, uint8_t tag, const void *p, size_t n)
{
    if (room(b, 1 + n) < 0) return -1;
    b->p[b->len] = tag;
    if (n) memcpy(b->p + b->len + 1, p, n);
    b->len += 1 + n;
    return 0;
}

/* ---- the module state kc_init sets up ---------------------------------- */

/* All borrowed from the tuple kc_init keeps in the interpreter's state dict
 * (under STATE_KEY), so they live exactly as long as the interpreter. */
static struct {
    PyObject *dumps, *loads, *cp_dumps, *pickling_error, *protocol;
} g;

#define STATE_KEY "kiln.python.codec"

static void state_from(PyObject *st /* borrowed tuple */)
{
    g.dumps = PyTuple_GET_ITEM(st, 0);          /* borrowed */
    g.loads = PyTuple_GET_ITEM(st, 1);          /* borrowed */
    g.cp_dumps = PyTuple_GET_ITEM(st, 2);       /* borrowed */
    g.pickling_error = PyTuple_GET_ITEM(st, 3); /* borrowed */
    g.protocol = PyTuple_GET_ITEM(st, 4);       /* borrowed */
}

int kc_init(void)
{
    PyObject *idict = PyInterpreterState_GetDict(PyInterpreterState_Get()); /* borrowed */
    if (!idict) {
        PyErr_SetString(PyExc_RuntimeError, "kiln codec: the interpreter has no state dict");
        return -1;
    }
    PyObject *key = PyUnicode_FromString(STATE_KEY); /* new */
    if (!key) return -1;
    PyObject *st = PyDict_GetItemWithError(idict, key); /* borrowed */
    if (st) {
        Py_DECREF(key);
        state_from(st);
        return 0;
    }
    int rc = -1;
    PyObject *pickle = NULL, *dumps = NULL, *loads = NULL, *perr = NULL; /* all new */
    PyObject *cp = NULL, *cp_dumps = NULL, *proto = NULL;                /* all new */
    if (PyErr_Occurred()) goto out;
    if (!(pickle = PyImport_ImportModule("pickle"))) goto out;
    if (!(dumps = PyObject_GetAttrString(pickle, "dumps"))) goto out;
    if (!(loads = PyObject_GetAttrString(pickle, "loads"))) goto out;
    if (!(perr = PyObject_GetAttrString(pickle, "PicklingError"))) goto out;
    if (!(cp = PyImport_ImportModule("cloudpickle"))) {
        if (PyErr_ExceptionMatches(PyExc_ImportError)) {
            PyObject *t, *v, *tb; /* new, moved back by _PyErr_ChainExceptions */
            PyErr_Fetch(&t, &v, &tb);
            PyErr_SetString(PyExc_ImportError,
                            "kiln needs cloudpickle for Python values (Debian: python3-cloudpickle)");
            _PyErr_ChainExceptions(t, v, tb);
        }
        goto out;
    }
    if (!(cp_dumps = PyObject_GetAttrString(cp, "dumps"))) goto out;
    if (!(proto = PyLong_FromLong(5))) goto out;
    if (!(st = PyTuple_Pack(5, dumps, loads, cp_dumps, perr, proto))) goto out; /* new */
    if (PyDict_SetItem(idict, key, st) == 0) {
        state_from(st); /* the dict holds st now */
        rc = 0;
    }
    Py_DECREF(st);
out:
    Py_DECREF(key);
    Py_XDECREF(pickle);
    Py_XDECREF(dumps);
    Py_XDECREF(loads);
    Py_XDECREF(perr);
    Py_XDECREF(cp);
    Py_XDECREF(cp_dumps);
    Py_XDECREF(proto);
    return rc;
}

/* ---- key encoding ------------------------------------------------------- */

/* Writes EXP(E) at o (room for 9 bytes); returns its length. */
static size_t put_exp(uint8_t *o, int64_t E)
{
    if (E >= -95 && E <= 95) {
        o[0] = (uint8_t)(0x80 + E);
        return 1;
    }
    int up = E > 95;
    uint64_t v = up ? (uint64_t)(E - 96) : (uint64_t)(-96 - E);
    int k = 1;
    while (k < 8 && (v >> (8 * k)) != 0)
        k++;
    o[0] = (uint8_t)(up ? 0xDF + k : 0x20 - k);
    for (int i = 0; i < k; i++)
        o[1 + i] = (uint8_t)((v >> (8 * (k - 1 - i))) ^ (up ? 0 : 0xFF));
    return 1 + (size_t)k;
}

/* Writes MANT of a mantissa held left-aligned in m (bit 63 set) at o (room
 * for 10 bytes); returns its length. */
static size_t put_mant64(uint8_t *o, uint64_t m)
{
    size_t n = 0;
    for (;;) {
        uint8_t grp = (uint8_t)(m >> 57);
        m <<= 7;
        o[n++] = (uint8_t)(grp << 1 | (m != 0));
        if (m == 0) return n;
    }
}

/* Appends the number (-1)**neg * 0.m * 2**E, m left-aligned in 64 bits. */
static int put_num64(kc_buf *b, int neg, int64_t E, uint64_t m)
{
    if (room(b, 1 + 9 + 10) < 0) return -1;
    uint8_t *o = b->p + b->len;
    o[0] = neg ? KT_NEG : KT_POS;
    size_t n = 1 + put_exp(o + 1, E);
    n += put_mant64(o + n, m);
    if (neg)
        for (size_t i = 1; i < n; i++)
            o[i] ^= 0xFF;
    b->len += n;
    return 0;
}

static int key_i64(kc_buf *b, long long v)
{
    if (v == 0) return put_byte(b, KT_ZERO);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    int lz = __builtin_clzll(u);
    return put_num64(b, v < 0, 64 - lz, u << lz);
}

static int key_double(kc_buf *b, double d, const char *op)
{
    if (isnan(d)) {
        PyErr_Format(PyExc_ValueError, "%s: a float NaN cannot be used as a key (NaN != NaN, so it cannot group)", op);
        return -1;
    }
    if (isinf(d)) return put_byte(b, d > 0 ? KT_POSINF : KT_NEGINF);
    if (d == 0) return put_byte(b, KT_ZERO);
    int e;
    double f = frexp(fabs(d), &e); /* 0.5 <= f < 1, at most 53 significant bits */
    return put_num64(b, d < 0, e, (uint64_t)ldexp(f, 64));
}

/* Seven bits of the big-endian bit string mag[0..nb) from bit offset pos
 * (bit 0 = the top bit of mag[0]); bits past the end read as 0. */
static uint8_t bits7(const uint8_t *mag, size_t nb, size_t pos)
{
    size_t i = pos / 8;
    unsigned w = (unsigned)mag[i] << 8 | (i + 1 < nb ? mag[i + 1] : 0);
    return (uint8_t)((w >> (9 - pos % 8)) & 0x7F);
}

/* Two's complement negation of a big-endian number in place. */
static void negate_be(uint8_t *p, size_t n)
{
    unsigned carry = 1;
    for (size_t i = n; i-- > 0;) {
        unsigned x = (uint8_t)~p[i] + carry;
        p[i] = (uint8_t)x;
        carry = x >> 8;
    }
}

/* An int beyond int64 (obj: borrowed, an int or a subclass). */
static int key_bigint(kc_buf *b, PyObject *obj /* borrowed */, const char *op)
{
    size_t nbits = _PyLong_NumBits(obj);
    if (nbits == (size_t)-1 && PyErr_Occurred()) return -1;
    if (nbits > (size_t)KC_INT_BITS_MAX) {
        PyErr_Format(PyExc_ValueError, "%s: an int key of %zu bits is too large (kiln keys hold ints up to 2**24 bits)",
                     op, nbits);
        return -1;
    }
    int neg = _PyLong_Sign(obj) < 0;
    size_t nb = nbits / 8 + 1; /* room for the sign bit */
    uint8_t small[64], *mag = nb <= sizeof small ? small : malloc(nb);
    if (!mag) {
        PyErr_NoMemory();
        return -1;
    }
    int rc = -1;
    if (_PyLong_AsByteArray((PyLongObject *)obj, mag, nb, 0, 1) < 0) goto out;
    if (neg) negate_be(mag, nb);
    size_t tz = 0, i = nb; /* trailing zero bits of the magnitude (it is not 0) */
    while (mag[--i] == 0)
        tz += 8;
    tz += (size_t)__builtin_ctz(mag[i]);
    size_t nmant = nbits - tz, ngroups = (nmant + 6) / 7, lead = nb * 8 - nbits;
    if (room(b, 1 + 9 + ngroups) < 0) goto out;
    uint8_t *o = b->p + b->len;
    o[0] = neg ? KT_NEG : KT_POS;
    size_t n = 1 + put_exp(o + 1, (int64_t)nbits);
    for (size_t gi = 0; gi < ngroups; gi++)
        o[n++] = (uint8_t)(bits7(mag, nb, lead + 7 * gi) << 1 | (gi + 1 < ngroups));
    if (neg)
        for (size_t j = 1; j < n; j++)
            o[j] ^= 0xFF;
    b->len += n;
    rc = 0;
out:
    if (mag != small) free(mag);
    return rc;
}

/* Any int (obj: borrowed, an int or a subclass). */
static int key_int(kc_buf *b, PyObject *obj /* borrowed */, const char *op)
{
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred()) return -1;
    return overflow ? key_bigint(b, obj, op) : key_i64(b, v);
}

/* tag, then ESC(s[0..n)). */
static int put_esc(kc_buf *b, uint8_t tag, const char *s, size_t n)
{
    size_t zeros = 0;
    const char *end = s + n;
    for (const char *q = s; (q = memchr(q, 0, (size_t)(end - q))) != NULL; q++)
        zeros++;
    if (room(b, n + zeros + 2) < 0) return -1;
    uint8_t *o = b->p + b->len;
    *o++ = tag;
    if (zeros == 0) {
        memcpy(o, s, n);
        o += n;
    } else {
        for (size_t i = 0; i < n; i++) {
            *o++ = (uint8_t)s[i];
            if (s[i] == 0) *o++ = 0xFF;
        }
    }
    *o++ = 0x00;
    b->len = (size_t)(o - b->p);
    return 0;
}

/* tag, then ESC of the UTF-8 of a str (obj: borrowed, a str or a subclass). */
static int put_utf8(kc_buf *b, uint8_t tag, PyObject *obj /* borrowed */)
{
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(obj, &n); /* cached in obj; no copy for ASCII */
    if (s) return put_esc(b, tag, s, (size_t)n);
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
    PyErr_Clear(); /* lone surrogates: the rare slow path */
    PyObject *bytes = PyUnicode_AsEncodedString(obj, "utf-8", "surrogatepass"); /* new */
    if (!bytes) return -1;
    int rc = put_esc(b, tag, PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
    Py_DECREF(bytes);
    return rc;
}

int kc_key_encode_utf8(const char *s, size_t n, kc_buf *b)
{
    return put_esc(b, KT_STR, s, n);
}

static int key_refuse(PyObject *obj /* borrowed */, const char *op)
{
    PyErr_Format(PyExc_TypeError,
                 "%s: a key of type '%.200s' cannot be used as a key; kiln keys are str, bytes, int, float, bool, "
                 "None or tuples of these",
                 op, Py_TYPE(obj)->tp_name);
    return -1;
}

static int key_enc(kc_buf *b, PyObject *obj /* borrowed */, const char *op, int depth);

static int key_tuple(kc_buf *b, PyObject *obj /* borrowed tuple */, const char *op, int depth)
{
    if (depth >= KC_MAX_DEPTH) {
        PyErr_Format(PyExc_ValueError, "%s: a tuple key nested more than %d deep", op, KC_MAX_DEPTH);
        return -1;
    }
    if (put_byte(b, KT_TUPLE) < 0) return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(obj);
    for (Py_ssize_t i = 0; i < n; i++)
        if (key_enc(b, PyTuple_GET_ITEM(obj, i) /* borrowed */, op, depth + 1) < 0) return -1;
    return put_byte(b, KT_END);
}

static int key_enc(kc_buf *b, PyObject *obj /* borrowed */, const char *op, int depth)
{
    /* exact types first: the common cases */
    if (PyUnicode_CheckExact(obj)) return put_utf8(b, KT_STR, obj);
    if (PyLong_CheckExact(obj)) return key_int(b, obj, op);
    if (PyTuple_CheckExact(obj)) return key_tuple(b, obj, op, depth);
    if (PyFloat_CheckExact(obj)) return key_double(b, PyFloat_AS_DOUBLE(obj), op);
    if (PyBytes_CheckExact(obj)) return put_esc(b, KT_BYTES, PyBytes_AS_STRING(obj), (size_t)PyBytes_GET_SIZE(obj));
    if (obj == Py_None) return put_byte(b, KT_NONE);
    if (obj == Py_True) return key_i64(b, 1);
    if (obj == Py_False) return put_byte(b, KT_ZERO);
    /* subclasses encode as their base value */
    if (PyLong_Check(obj)) return key_int(b, obj, op);
    if (PyUnicode_Check(obj)) return put_utf8(b, KT_STR, obj);
    if (PyFloat_Check(obj)) return key_double(b, PyFloat_AS_DOUBLE(obj), op);
    if (PyBytes_Check(obj)) return put_esc(b, KT_BYTES, PyBytes_AS_STRING(obj), (size_t)PyBytes_GET_SIZE(obj));
    if (PyTuple_Check(obj)) return key_tuple(b, obj, op, depth);
    return key_refuse(obj, op);
}

int kc_key_encode(PyObject *obj /* borrowed */, kc_buf *b, const char *op)
{
    size_t len0 = b->len;
    if (key_enc(b, obj, op ? op : "key", 0) == 0) return 0;
    b->len = len0;
    return -1;
}

/* ---- key decoding ------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n, pos;
} kdec;

static PyObject *malformed(const char *what) /* always NULL */
{
    PyErr_Format(PyExc_ValueError, "malformed kiln key: %s", what);
    return NULL;
}

/* The left-aligned 64-bit mantissa of ng <= 9 MANT bytes at q (each XOR x). */
static uint64_t mant64(const uint8_t *q, size_t ng, uint8_t x)
{
    uint64_t m = 0;
    for (size_t i = 0; i < ng; i++)
        m |= (uint64_t)((q[i] ^ x) >> 1) << (57 - 7 * i);
    return m;
}

/* An int of E bits with the nmant-bit mantissa of the ng MANT bytes at q. */
static PyObject *big_int(const uint8_t *q, size_t ng, uint8_t x, int64_t E, size_t nmant, int neg) /* new */
{
    size_t nb = (size_t)E / 8 + 1;
    uint8_t *mag = calloc(nb, 1);
    if (!mag) return PyErr_NoMemory();
    for (size_t i = 0; i < nmant && i / 7 < ng; i++) {
        if ((((q[i / 7] ^ x) >> 1) >> (6 - i % 7)) & 1) {
            size_t k = (size_t)E - 1 - i; /* the bit's place, 0 = units */
            mag[nb - 1 - k / 8] |= (uint8_t)(1u << (k % 8));
        }
    }
    if (neg) negate_be(mag, nb);
    PyObject *r = _PyLong_FromByteArray(mag, nb, 0, 1); /* new */
    free(mag);
    return r;
}

static PyObject *dec_num(kdec *d, int neg) /* new */
{
    uint8_t x = neg ? 0xFF : 0x00;
    if (d->pos >= d->n) return malformed("truncated number");
    uint8_t h = d->p[d->pos++] ^ x;
    int64_t E;
    if (h >= 0x21 && h <= 0xDF) {
        E = (int64_t)h - 0x80;
    } else if ((h >= 0xE0 && h <= 0xE7) || (h >= 0x18 && h <= 0x1F)) {
        int up = h >= 0xE0, k = up ? h - 0xDF : 0x20 - h;
        if (d->n - d->pos < (size_t)k) return malformed("truncated exponent");
        uint64_t v = 0;
        for (int i = 0; i < k; i++)
            v = v << 8 | (uint8_t)(d->p[d->pos + (size_t)i] ^ x ^ (up ? 0 : 0xFF));
        d->pos += (size_t)k;
        if (k > 1 && (v >> (8 * (k - 1))) == 0) return malformed("exponent not in its shortest form");
        if (up && v > (uint64_t)(KC_INT_BITS_MAX - 96)) return malformed("number too large");
        if (!up && v > (uint64_t)(-96 - KC_EXP_MIN)) return malformed("number too small");
        E = up ? 96 + (int64_t)v : -96 - (int64_t)v;
    } else {
        return malformed("bad exponent byte");
    }
    const uint8_t *q = d->p + d->pos;
    size_t ng = 0;
    uint8_t c;
    do {
        if (d->pos >= d->n) return malformed("truncated mantissa");
        c = d->p[d->pos++] ^ x;
        if (ng++ == 0 && !(c & 0x80)) return malformed("mantissa without its leading 1");
    } while (c & 1);
    if ((c >> 1) == 0) return malformed("mantissa ends in a zero group");
    if (ng > SIZE_MAX / 8) return malformed("mantissa too long");
    size_t nmant = 7 * ng - (size_t)__builtin_ctz(c >> 1);
    if (E >= 0 && (uint64_t)E >= nmant) { /* integral: an int */
        if (E > 63) return big_int(q, ng, x, E, nmant, neg);
        int64_t v = (int64_t)(mant64(q, ng, x) >> (64 - E));
        return PyLong_FromLongLong(neg ? -v : v);
    }
    if (nmant > 53 || E - (int64_t)nmant < -1074) return malformed("number is neither an int nor a double");
    double v = ldexp((double)mant64(q, ng, x), (int)(E - 64)); /* exact: checked above */
    return PyFloat_FromDouble(neg ? -v : v);
}

static PyObject *dec_esc(kdec *d, int is_bytes) /* new */
{
    const uint8_t *s = d->p + d->pos, *end = d->p + d->n, *q = s;
    size_t escapes = 0;
    for (;;) {
        q = memchr(q, 0, (size_t)(end - q));
        if (!q) return malformed(is_bytes ? "unterminated bytes" : "unterminated str");
        if (q + 1 < end && q[1] == 0xFF) {
            escapes++;
            q += 2;
            continue;
        }
        break;
    }
    size_t len = (size_t)(q - s) - escapes;
    d->pos = (size_t)(q - d->p) + 1;
    if (escapes == 0)
        return is_bytes ? PyBytes_FromStringAndSize((const char *)s, (Py_ssize_t)len)
                        : PyUnicode_DecodeUTF8((const char *)s, (Py_ssize_t)len, "surrogatepass"); /* new */
    PyObject *r = NULL;                                                                            /* new */
    char *tmp = PyMem_Malloc(len ? len : 1), *o = tmp;                                             /* unescaped copy */
    if (!tmp) return PyErr_NoMemory();
    for (const uint8_t *i = s; i < q; i++) {
        *o++ = (char)*i;
        if (*i == 0) i++; /* skip the 0xFF of 0x00 0xFF */
    }
    r = is_bytes ? PyBytes_FromStringAndSize(tmp, (Py_ssize_t)len)
                 : PyUnicode_DecodeUTF8(tmp, (Py_ssize_t)len, "surrogatepass");
    PyMem_Free(tmp);
    return r;
}

static PyObject *dec_elem(kdec *d, int depth); /* new */

static PyObject *dec_tuple(kdec *d, int depth) /* new */
{
    if (depth >= KC_MAX_DEPTH) return malformed("tuple nested too deep");
    PyObject *small[16], **items = small; /* each a new reference */
    size_t n = 0, cap = 16;
    PyObject *t = NULL; /* new */
    for (;;) {
        if (d->pos >= d->n) {
            malformed("unterminated tuple");
            goto out;
        }
        if (d->p[d->pos] == KT_END) {
            d->pos++;
            break;
        }
        if (n == cap) {
            PyObject **bigger = PyMem_Malloc(2 * cap * sizeof *items); /* of new references */
            if (!bigger) {
                PyErr_NoMemory();
                goto out;
            }
            memcpy(bigger, items, n * sizeof *items);
            if (items != small) PyMem_Free(items);
            items = bigger;
            cap *= 2;
        }
        PyObject *e = dec_elem(d, depth + 1); /* new */
        if (!e) goto out;
        items[n++] = e;
    }
    if (!(t = PyTuple_New((Py_ssize_t)n))) goto out;
    for (size_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, items[i]); /* steals */
    n = 0;
out:
    for (size_t i = 0; i < n; i++)
        Py_DECREF(items[i]);
    if (items != small) PyMem_Free(items);
    return t;
}

static PyObject *dec_elem(kdec *d, int depth) /* new */
{
    if (d->pos >= d->n) return malformed("truncated");
    switch (d->p[d->pos++]) {
    case KT_NONE:
        Py_RETURN_NONE;
    case KT_NEGINF:
        return PyFloat_FromDouble(-INFINITY);
    case KT_NEG:
        return dec_num(d, 1);
    case KT_ZERO:
        return PyLong_FromLong(0);
    case KT_POS:
        return dec_num(d, 0);
    case KT_POSINF:
        return PyFloat_FromDouble(INFINITY);
    case KT_STR:
        return dec_esc(d, 0);
    case KT_BYTES:
        return dec_esc(d, 1);
    case KT_TUPLE:
        return dec_tuple(d, depth);
    default:
        return malformed("unknown tag");
    }
}

PyObject *kc_key_decode(const uint8_t *p, size_t n) /* new */
{
    if (n > PY_SSIZE_T_MAX) return malformed("too long");
    kdec d = {p, n, 0};
    PyObject *r = dec_elem(&d, 0); /* new */
    if (r && d.pos != n) {
        Py_DECREF(r);
        return malformed("trailing bytes");
    }
    return r;
}

/* ---- values ------------------------------------------------------------- */

static int val_bigint(kc_buf *b, PyObject *obj /* borrowed exact int */)
{
    size_t nbits = _PyLong_NumBits(obj);
    if (nbits == (size_t)-1 && PyErr_Occurred()) return -1;
    size_t nb = nbits / 8 + 1;
    if (room(b, 1 + nb) < 0) return -1;
    if (_PyLong_AsByteArray((PyLongObject *)obj, b->p + b->len + 1, nb, 1, 1) < 0) return -1;
    b->p[b->len] = VT_BIGINT;
    b->len += 1 + nb;
    return 0;
}

static int val_str(kc_buf *b, PyObject *obj /* borrowed exact str */)
{
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(obj, &n);
    if (s) return put_bytes(b, VT_STR, s, (size_t)n);
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
    PyErr_Clear();
    PyObject *bytes = PyUnicode_AsEncodedString(obj, "utf-8", "surrogatepass"); /* new */
    if (!bytes) return -1;
    int rc = put_bytes(b, VT_STR, PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
    Py_DECREF(bytes);
    return rc;
}

static int val_pickle(kc_buf *b, PyObject *obj /* borrowed */)
{
    if (!g.dumps) {
        PyErr_SetString(PyExc_RuntimeError, "kiln codec: kc_init() was not called");
        return -1;
    }
    PyObject *args[2] = {obj, g.protocol}; /* borrowed */
    uint8_t tag = VT_PICKLE;
    PyObject *out = PyObject_Vectorcall(g.dumps, args, 2, NULL); /* new */
    if (!out) {
        if (!PyErr_ExceptionMatches(g.pickling_error) && !PyErr_ExceptionMatches(PyExc_AttributeError) &&
            !PyErr_ExceptionMatches(PyExc_TypeError))
            return -1;
        PyObject *t, *v, *tb; /* new: pickle's exception */
        PyErr_Fetch(&t, &v, &tb);
        out = PyObject_Vectorcall(g.cp_dumps, args, 2, NULL); /* new */
        if (!out) {
            _PyErr_ChainExceptions(t, v, tb); /* cloudpickle's error, pickle's as its __context__ */
            return -1;
        }
        Py_XDECREF(t);
        Py_XDECREF(v);
        Py_XDECREF(tb);
        tag = VT_CLOUDPICKLE;
    }
    int rc = -1;
    if (!PyBytes_Check(out))
        PyErr_SetString(PyExc_TypeError, "kiln codec: dumps() did not return bytes");
    else
        rc = put_bytes(b, tag, PyBytes_AS_STRING(out), (size_t)PyBytes_GET_SIZE(out));
    Py_DECREF(out);
    return rc;
}

static int val_enc(kc_buf *b, PyObject *obj /* borrowed */)
{
    uint8_t le[8];
    if (PyUnicode_CheckExact(obj)) return val_str(b, obj);
    if (PyLong_CheckExact(obj)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
        if (v == -1 && PyErr_Occurred()) return -1;
        if (overflow) return val_bigint(b, obj);
        put_u64le(le, (uint64_t)v);
        return put_bytes(b, VT_INT64, le, 8);
    }
    if (PyFloat_CheckExact(obj)) {
        double d = PyFloat_AS_DOUBLE(obj);
        uint64_t bits;
        memcpy(&bits, &d, 8);
        put_u64le(le, bits);
        return put_bytes(b, VT_FLOAT, le, 8);
    }
    if (PyBytes_CheckExact(obj)) return put_bytes(b, VT_BYTES, PyBytes_AS_STRING(obj), (size_t)PyBytes_GET_SIZE(obj));
    if (obj == Py_None) return put_byte(b, VT_NONE);
    if (obj == Py_True) return put_byte(b, VT_TRUE);
    if (obj == Py_False) return put_byte(b, VT_FALSE);
    return val_pickle(b, obj);
}

int kc_val_encode(PyObject *obj /* borrowed */, kc_buf *b)
{
    size_t len0 = b->len;
    if (val_enc(b, obj) == 0) return 0;
    b->len = len0;
    return -1;
}

static PyObject *bad_value(const char *what) /* always NULL */
{
    PyErr_Format(PyExc_ValueError, "malformed kiln value: %s", what);
    return NULL;
}

PyObject *kc_val_decode(const uint8_t *p, size_t n) /* new */
{
    if (n == 0) return bad_value("empty");
    if (n > PY_SSIZE_T_MAX) return bad_value("too long");
    const char *s = (const char *)p + 1;
    Py_ssize_t len = (Py_ssize_t)(n - 1);
    switch (p[0]) {
    case VT_NONE:
    case VT_FALSE:
    case VT_TRUE:
        if (n != 1) return bad_value("bytes after None/False/True");
        if (p[0] == VT_NONE) Py_RETURN_NONE;
        return PyBool_FromLong(p[0] == VT_TRUE); /* new */
    case VT_INT64:
        if (n != 9) return bad_value("an int64 is not 8 bytes");
        return PyLong_FromLongLong((long long)(int64_t)get_u64le(p + 1)); /* new */
    case VT_FLOAT: {
        if (n != 9) return bad_value("a float is not 8 bytes");
        uint64_t bits = get_u64le(p + 1);
        double d;
        memcpy(&d, &bits, 8);
        return PyFloat_FromDouble(d); /* new */
    }
    case VT_STR:
        return PyUnicode_DecodeUTF8(s, len, "surrogatepass"); /* new */
    case VT_BYTES:
        return PyBytes_FromStringAndSize(s, len); /* new */
    case VT_BIGINT:
        if (n < 2) return bad_value("an int without bytes");
        return _PyLong_FromByteArray((const unsigned char *)s, (size_t)len, 1, 1); /* new */
    case VT_PICKLE:
    case VT_CLOUDPICKLE: {
        if (!g.loads) {
            PyErr_SetString(PyExc_RuntimeError, "kiln codec: kc_init() was not called");
            return NULL;
        }
        /* loads reads the bytes in place; what it builds owns copies */
        PyObject *mv = PyMemoryView_FromMemory((char *)s, len, PyBUF_READ); /* new */
        if (!mv) return NULL;
        PyObject *r = PyObject_CallOneArg(g.loads, mv); /* new */
        Py_DECREF(mv);
        return r;
    }
    default:
        return bad_value("unknown tag");
    }
}

int kc_val_add_fast(const uint8_t *a, size_t an, const uint8_t *b, size_t bn, kc_buf *out)
{
    if (an != 9 || bn != 9) return 0;
    uint8_t ta = a[0], tb = b[0];
    if ((ta != VT_INT64 && ta != VT_FLOAT) || (tb != VT_INT64 && tb != VT_FLOAT)) return 0;
    uint64_t ua = get_u64le(a + 1), ub = get_u64le(b + 1), r; /* read before out is written */
    uint8_t tag;
    if (ta == VT_INT64 && tb == VT_INT64) {
        int64_t s;
        if (__builtin_add_overflow((int64_t)ua, (int64_t)ub, &s)) return 0;
        r = (uint64_t)s;
        tag = VT_INT64;
    } else { /* Python's int + float: the int as the nearest double, one rounded add */
        double x, y, s;
        if (ta == VT_FLOAT)
            memcpy(&x, &ua, 8);
        else
            x = (double)(int64_t)ua;
        if (tb == VT_FLOAT)
            memcpy(&y, &ub, 8);
        else
            y = (double)(int64_t)ub;
        s = x + y;
        memcpy(&r, &s, 8);
        tag = VT_FLOAT;
    }
    if (out->cap < 9) {
        size_t len = out->len;
        out->len = 0;
        int full = buf_room(out, 9);
        out->len = len;
        if (full < 0) return 0;
    }
    out->p[0] = tag;
    put_u64le(out->p + 1, r);
    out->len = 9;
    return 1;
}
