/*
 * records.c - the record formats of Python datasets (see records.h): one
 * record of the engine to one Python object and back. Shared by the
 * executor (executor/python.c) and the client extension (python/_kiln.c).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "records.h"

#include "runtime.h"

static int buf_add(kc_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap); /* kc_buf is malloc memory (codec.c) */
        if (!np) {
            PyErr_NoMemory();
            return -1;
        }
        b->p = np;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

/* New reference to the list of the packed items, decoded. */
static PyObject *decode_list(kiln_slice packed)
{
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    kiln_slice item;
    while (kiln_list_next(&packed, &item)) {
        PyObject *v = kc_val_decode(item.ptr, item.len); /* new */
        if (!v || PyList_Append(list, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(v);
    }
    if (packed.len) {
        Py_DECREF(list);
        PyErr_SetString(PyExc_ValueError, "a grouped value list is malformed");
        return NULL;
    }
    return list;
}

/* New reference to the (v, w) of a joined pair. */
static PyObject *decode_pair(kiln_slice pair)
{
    kiln_slice a, b;
    if (kiln_pair_split(pair, &a, &b) < 0) {
        PyErr_SetString(PyExc_ValueError, "a joined pair is malformed");
        return NULL;
    }
    PyObject *va = kc_val_decode(a.ptr, a.len); /* new */
    PyObject *vb = va ? kc_val_decode(b.ptr, b.len) : NULL;
    PyObject *t = vb ? PyTuple_Pack(2, va, vb) : NULL;
    Py_XDECREF(va);
    Py_XDECREF(vb);
    return t;
}

PyObject *kr_decode(int fmt, const void *key, size_t klen, const void *val, size_t vlen)
{
    switch (fmt) {
    case KR_TEXT:
        return PyUnicode_DecodeUTF8(val, (Py_ssize_t)vlen, "replace");
    case KR_BYTES:
        return PyBytes_FromStringAndSize(val, (Py_ssize_t)vlen);
    case KR_I64:
        return PyLong_FromLongLong(kiln_i64(KILN_SLICE(val, vlen)));
    case KR_VALUE:
        return kc_val_decode(val, vlen);
    case KR_KEY:
        return kc_key_decode(key, klen);
    case KR_PAIR:
    case KR_GROUP:
    case KR_JOIN:
        break;
    default:
        PyErr_Format(PyExc_ValueError, "unknown record format %d", fmt);
        return NULL;
    }
    PyObject *k = kc_key_decode(key, klen); /* new */
    if (!k) return NULL;
    PyObject *v = fmt == KR_PAIR    ? kc_val_decode(val, vlen)
                  : fmt == KR_GROUP ? decode_list(KILN_SLICE(val, vlen))
                                    : decode_pair(KILN_SLICE(val, vlen)); /* new */
    PyObject *t = v ? PyTuple_Pack(2, k, v) : NULL;
    Py_DECREF(k);
    Py_XDECREF(v);
    return t;
}

int kr_encode(int fmt, const char *op, PyObject *item, kc_buf *kb, kc_buf *vb)
{
    kb->len = vb->len = 0;
    switch (fmt) {
    case KR_VALUE:
        return kc_val_encode(item, vb);
    case KR_KEY:
        return kc_key_encode(item, kb, op);
    case KR_TEXT:
    case KR_BYTES: {
        Py_ssize_t n;
        const char *s;
        PyObject *str = NULL; /* new, when item is neither str nor bytes */
        if (PyBytes_Check(item)) {
            s = PyBytes_AS_STRING(item);
            n = PyBytes_GET_SIZE(item);
        } else {
            if (!PyUnicode_Check(item) && !(str = PyObject_Str(item))) return -1;
            s = PyUnicode_AsUTF8AndSize(str ? str : item, &n);
        }
        int rc = s ? buf_add(vb, s, (size_t)n) : -1;
        Py_XDECREF(str);
        return rc;
    }
    case KR_PAIR: {
        PyObject *k, *v; /* borrowed */
        if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2) {
            k = PyTuple_GET_ITEM(item, 0);
            v = PyTuple_GET_ITEM(item, 1);
        } else if (PyList_CheckExact(item) && PyList_GET_SIZE(item) == 2) {
            k = PyList_GET_ITEM(item, 0);
            v = PyList_GET_ITEM(item, 1);
        } else {
            PyErr_Format(PyExc_TypeError, "%s needs (key, value) pairs, got a %.80s", op, Py_TYPE(item)->tp_name);
            return -1;
        }
        return kc_key_encode(k, kb, op) < 0 || kc_val_encode(v, vb) < 0 ? -1 : 0;
    }
    case KR_PART: {
        PyObject *p, *kv; /* borrowed */
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_Format(PyExc_TypeError, "%s needs (partition, (key, value)), got a %.80s", op, Py_TYPE(item)->tp_name);
            return -1;
        }
        p = PyTuple_GET_ITEM(item, 0);
        kv = PyTuple_GET_ITEM(item, 1);
        unsigned long n = PyLong_Check(p) ? PyLong_AsUnsignedLong(p) : (unsigned long)-1;
        if (n > UINT32_MAX) {
            if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError, "%s: partition %R is not a partition number", op, p);
            }
            return -1;
        }
        uint8_t be[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
        if (buf_add(kb, be, 4) < 0) return -1;
        kc_buf kk = {0};
        int rc = kr_encode(KR_PAIR, op, kv, &kk, vb);
        if (rc == 0) rc = buf_add(kb, kk.p, kk.len);
        kc_buf_release(&kk);
        return rc;
    }
    default:
        PyErr_Format(PyExc_ValueError, "record format %d cannot be written", fmt);
        return -1;
    }
}
