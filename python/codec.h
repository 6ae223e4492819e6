/*
 * codec.h - Python keys and values as bytes for the C engine.
 *
 * Keys get one canonical, order-preserving encoding: Python-equal keys give
 * identical bytes (the engine groups and joins with memcmp and partitions by a
 * hash of the bytes) and memcmp order is Python order within a type (numbers
 * are one type). Values get a tagged encoding that round-trips exactly, with
 * pickle (then cloudpickle) for everything but the common scalars. The byte
 * formats are described at the top of codec.c.
 *
 * Every function but kc_buf_release and kc_val_add_fast needs the GIL and an
 * interpreter on which kc_init has run. On error, functions that append leave
 * b->len as it was.
 */
#ifndef KILN_PY_CODEC_H
#define KILN_PY_CODEC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer. Zero-initialise it ({0}); kc_buf_release frees p
 * and zeroes the struct. Users may reset len to 0 to reuse the storage. */
typedef struct kc_buf {
    uint8_t *p;
    size_t len, cap;
} kc_buf;
void kc_buf_release(kc_buf *b);

/* Imports pickle and cloudpickle once per interpreter (the references live in
 * the interpreter's state dict, so Py_FinalizeEx drops them; call kc_init again
 * after every Py_Initialize). 0, or -1 with a Python exception set. */
int kc_init(void);

/* Appends the canonical key encoding of obj to b. op names the operation for
 * the error message ("reduceByKey"). 0, or -1 with a Python exception set:
 * TypeError "reduceByKey: a key of type 'list' cannot be used as a key; kiln
 * keys are str, bytes, int, float, bool, None or tuples of these"; ValueError
 * for a NaN, an int of more than 2**24 bits, tuples nested deeper than 64.
 * Subclasses (IntEnum, namedtuple, str subclasses) encode as their base value. */
int kc_key_encode(PyObject *obj, kc_buf *b, const char *op);

/* Appends the key encoding of the str whose UTF-8 is s[0..n), exactly as
 * kc_key_encode gives it for that str. 0, or -1 with a MemoryError set. */
int kc_key_encode_utf8(const char *s, size_t n, kc_buf *b);

/* New reference to the decoded key, or NULL with an exception (ValueError on
 * malformed bytes; total over any input). Numbers decode to int when integral,
 * else float: a float key 2.0 comes back as the int 2, True as 1, False and
 * -0.0 as 0. Tuple subclasses come back as tuples. */
PyObject *kc_key_decode(const uint8_t *p, size_t n);

/* Appends the value encoding of obj. 0, or -1 with an exception (a pickling
 * error passed up; when cloudpickle fails too its exception is raised, with
 * pickle's as its __context__). */
int kc_val_encode(PyObject *obj, kc_buf *b);

/* New reference to the decoded value, or NULL with an exception (ValueError on
 * a malformed scalar; whatever pickle.loads raises for a pickled one). Values
 * round-trip exactly (type included). Pickled payloads are trusted: they are
 * the engine's own shuffle data, as in PySpark. */
PyObject *kc_val_decode(const uint8_t *p, size_t n);

/* Fast path for the engine's built-in add. If both encoded values are the
 * numeric fast tags (int64 or float) it REPLACES the contents of out with the
 * encoded sum (out->len = 9) and returns 1: int+int is an int, any float makes
 * a float, exactly as Python's + does. Returns 0 when either value is another
 * kind, on int64 overflow and if out cannot grow (the caller then decodes and
 * adds in Python). out may be the buffer holding a or b (both are read first).
 * No Python API used: callable without the GIL. */
int kc_val_add_fast(const uint8_t *a, size_t an, const uint8_t *b, size_t bn, kc_buf *out);

#endif
