/*
 * fuzz_pycodec.c - libFuzzer target: the embedded interpreter's side of the
 * engine's bytes (python/codec.c), as an executor decodes keys and values
 * that arrive from shuffles and cached blocks.
 *
 * The interpreter starts once, in LLVMFuzzerInitialize, and lives for the
 * whole run, as it does in an executor. Byte 0 of the input picks what the
 * rest is:
 *   0  a key:              kc_key_decode
 *   1  a value:            kc_val_decode (scalar tags only: a pickled value
 *                          is the engine's own trusted data, and unpickling
 *                          mutated bytes would run whatever they name)
 *   2  two values to add:  a u8 length L, L bytes of a, the rest is b;
 *                          kc_val_add_fast
 *
 * Properties:
 *   - key decoding is total: an object, or NULL with ValueError set;
 *   - a decoded key encodes back to exactly the input bytes (the format is
 *     canonical), and that encoding decodes to an equal object;
 *   - a decoded scalar value encodes to bytes that decode to an equal object
 *     of the same type, and encode again to the same bytes (values need not
 *     be canonical: 0x08 may carry a small int, and a value's bytes are
 *     never compared, so only the round trip is promised);
 *   - when kc_val_add_fast takes the fast path, its sum decodes to what
 *     Python's a + b gives, of the same type.
 *
 * Leaks: CPython keeps allocations for the life of the process and frees
 * them nowhere (the executor never finalizes it either), so LeakSanitizer's
 * suppressions below ignore allocations made inside libpython only. The
 * codec's own buffers are malloc'd from codec.c and are still checked.
 *
 * Seeds: fuzz/corpus/pycodec/, keys and values the codec encodes
 * (fuzz/mkcorpus.c cannot make them: it has no interpreter; they were
 * written with the codec itself, see docs/fuzzing.md).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "codec.h"
#include "fuzz.h"

enum { PICK_KEY, PICK_VALUE, PICK_ADD };

/* The value tags of codec.c that are not pickles. */
static int scalar_tag(uint8_t tag)
{
    return tag >= 0x01 && tag <= 0x08;
}

/* Read by LeakSanitizer at start-up: libpython's own frames only. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libpython3\n";
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0; /* libFuzzer's handlers stay */
    PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, KILN_PYTHON);
    if (!PyStatus_Exception(st)) st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        fprintf(stderr, "fuzz_pycodec: cannot start Python (%s)\n", st.err_msg ? st.err_msg : "unknown error");
        exit(1);
    }
    if (kc_init() < 0) {
        PyErr_Print();
        fprintf(stderr, "fuzz_pycodec: kc_init failed (is python3-cloudpickle installed?)\n");
        exit(1);
    }
    return 0;
}

/* Whether a and b are equal objects of the same type. */
static int same(PyObject *a, PyObject *b)
{
    if (Py_TYPE(a) != Py_TYPE(b)) return 0;
    if (PyFloat_CheckExact(a) && Py_IS_NAN(PyFloat_AS_DOUBLE(a))) return Py_IS_NAN(PyFloat_AS_DOUBLE(b));
    int eq = PyObject_RichCompareBool(a, b, Py_EQ);
    FUZZ_ASSERT(eq >= 0);
    return eq;
}

static void check_key(const uint8_t *p, size_t n)
{
    PyObject *k = kc_key_decode(p, n); /* new */
    if (!k) {
        FUZZ_ASSERT(PyErr_ExceptionMatches(PyExc_ValueError));
        PyErr_Clear();
        return;
    }
    kc_buf b = {0};
    FUZZ_ASSERT(kc_key_encode(k, &b, "fuzz") == 0);
    FUZZ_ASSERT(b.len == n && memcmp(b.p, p, n) == 0);
    PyObject *again = kc_key_decode(b.p, b.len); /* new */
    FUZZ_ASSERT(again != NULL);
    int eq = PyObject_RichCompareBool(k, again, Py_EQ);
    FUZZ_ASSERT(eq == 1);
    Py_DECREF(again);
    Py_DECREF(k);
    kc_buf_release(&b);
}

static void check_value(const uint8_t *p, size_t n)
{
    if (n == 0 || !scalar_tag(p[0])) return;
    PyObject *v = kc_val_decode(p, n); /* new */
    if (!v) {
        FUZZ_ASSERT(PyErr_ExceptionMatches(PyExc_ValueError));
        PyErr_Clear();
        return;
    }
    kc_buf b = {0}, b2 = {0};
    FUZZ_ASSERT(kc_val_encode(v, &b) == 0);
    PyObject *again = kc_val_decode(b.p, b.len); /* new */
    FUZZ_ASSERT(again != NULL && same(v, again));
    FUZZ_ASSERT(kc_val_encode(again, &b2) == 0);
    FUZZ_ASSERT(b2.len == b.len && memcmp(b2.p, b.p, b.len) == 0);
    Py_DECREF(again);
    Py_DECREF(v);
    kc_buf_release(&b2);
    kc_buf_release(&b);
}

static void check_add(const uint8_t *p, size_t n)
{
    if (n < 1 || (size_t)p[0] > n - 1) return;
    const uint8_t *a = p + 1, *bb = p + 1 + p[0];
    size_t an = p[0], bn = n - 1 - p[0];
    if (!an || !bn || !scalar_tag(a[0]) || !scalar_tag(bb[0])) return;
    kc_buf sum = {0};
    if (kc_val_add_fast(a, an, bb, bn, &sum) == 1) {
        PyObject *x = kc_val_decode(a, an), *y = kc_val_decode(bb, bn); /* new */
        FUZZ_ASSERT(x && y);
        PyObject *want = PyNumber_Add(x, y); /* new */
        FUZZ_ASSERT(want != NULL);
        PyObject *got = kc_val_decode(sum.p, sum.len); /* new */
        FUZZ_ASSERT(got != NULL && same(want, got));
        Py_DECREF(got);
        Py_DECREF(want);
        Py_DECREF(y);
        Py_DECREF(x);
    }
    PyErr_Clear();
    kc_buf_release(&sum);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    switch (data[0] % 3) {
    case PICK_KEY: check_key(data + 1, size - 1); break;
    case PICK_VALUE: check_value(data + 1, size - 1); break;
    case PICK_ADD: check_add(data + 1, size - 1); break;
    }
    FUZZ_ASSERT(!PyErr_Occurred());
    return 0;
}
