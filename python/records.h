/*
 * records.h - how a Python dataset's records are laid out in the engine.
 *
 * The client knows each dataset's format (python/kiln/_stage.py has the
 * same numbers) and tells each stage what it reads and writes. Keys and
 * values are encoded by codec.h.
 */
#ifndef KILN_RECORDS_H
#define KILN_RECORDS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "codec.h"

enum {
    KR_TEXT = 0,  /* val: UTF-8 text, key empty: a str (undecodable bytes replaced) */
    KR_VALUE = 1, /* val: an encoded value, key empty */
    KR_PAIR = 2,  /* key: an encoded key, val: an encoded value: (k, v) */
    KR_GROUP = 3, /* key, val: packed list of encoded values: (k, [v...]) (read only) */
    KR_JOIN = 4,  /* key, val: packed pair of encoded values: (k, (v, w)) (read only) */
    KR_KEY = 5,   /* key: an encoded key, val empty: k */
    KR_I64 = 6,   /* val: 8-byte little-endian integer (kiln_range): an int (read only) */
    KR_BYTES = 7, /* val: the bytes of a line, key empty: bytes (textFile(use_unicode=False)) */
    KR_PART = 8,  /* key: 4-byte big-endian partition number, encoded key; val: encoded value: (p, (k, v)) (write
                     only: partition_by's map side; the shuffle takes the number off, leaving PAIR records) */
    KR_LAST = KR_PART
};

/* New reference to the Python object of one record in format fmt, or NULL
 * with an exception (malformed bytes: ValueError). */
PyObject *kr_decode(int fmt, const void *key, size_t klen, const void *val, size_t vlen);

/* Encodes item as a record of format fmt into kb (key) and vb (value),
 * which it empties first; op names the operation in errors (a key that is
 * not a kiln key, an item that is not a pair). 0, or -1 with an exception.
 * KR_TEXT and KR_BYTES write str(item) (bytes as they are). */
int kr_encode(int fmt, const char *op, PyObject *item, kc_buf *kb, kc_buf *vb);

#endif
