/*
 * python.c - CPython embedded in the executor: the built-ins of Python jobs
 * (see python.h).
 *
 * Owns the executor's interpreter. It is started on the first Python task
 * (Py_InitializeFromConfig with Debian's interpreter as program name, no
 * signal handlers of its own, faulthandler on so a crash in a C extension
 * leaves the Python stack in the executor log) and lives as long as the
 * executor, which serves one application: modules are imported once per
 * executor, as with PySpark's worker reuse. The executor is single-threaded;
 * this file takes the GIL when a Python built-in is entered and releases it
 * when it returns, so threads the user's code started can run while the
 * engine works in C.
 *
 * The one idea: records cross the C/Python boundary in batches. A stage's
 * input is a Python iterator (batch_reader) whose __next__ reads up to
 * BATCH_RECORDS records (or BATCH_BYTES) from the kiln_iter and decodes
 * them into a list; the stage's output comes back as lists too
 * (kiln._worker.run cuts the user's iterator into batches), which this file
 * walks with PyList_GET_ITEM, encoding and emitting each item. No Python
 * function is called per record from C; per record there is only decoding
 * and encoding (python/codec.c), which calls no Python code for the common
 * key and value types. One stage skips Python per record altogether: text
 * through flatMap(str.split) and map(lambda w: (w, C)), which
 * kiln._worker.word_pairs recognises and words_run splits and emits in C.
 *
 * A stage's env (written by python/kiln/_stage.py):
 *   "KPY1" u8 in_fmt u8 out_fmt
 *   u16 n, op name (for key errors)      u16 n, description (for blame)
 *   u32 n, header (a pickled dict of plain types: versions, dependencies)
 *   the rest: the cloudpickled function f(split, iterator) -> iterator
 * Loaded stages are cached by the XXH3 of their env.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "python.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "codec.h"
#include "records.h"
#include "runtime.h"
#include "util.h"

#define BATCH_RECORDS 1024
#define BATCH_BYTES   (1u << 20)
#define STAGES_KEPT   16

typedef struct py_stage {
    XXH64_hash_t hash;
    size_t env_len;
    int in_fmt, out_fmt;
    char op[64];
    char name[96];
    PyObject *fn; /* owned: f(split, iterator) */
    int words;    /* fn is flatMap(str.split) then map(lambda w: (w, C)): words_run runs it */
    kc_buf word_val; /* the encoded C */
} py_stage;

/* The interpreter of this process: one owner, this file. */
static struct {
    int state;         /* 0 not started, 1 running, -1 failed to start */
    char error[1024];  /* why it did not start */
    PyObject *run;     /* owned: kiln._worker.run */
    PyObject *load;    /* owned: kiln._worker.load */
    PyObject *fmt_exc; /* owned: kiln._worker.format_exception */
    PyObject *word_pairs; /* owned: kiln._worker.word_pairs */
    PyTypeObject *reader_type;
    PyTypeObject *user_iter_type;
    py_stage stages[STAGES_KEPT];
    int nstages, next_evict;
} py;

/* ---- errors ---------------------------------------------------------- */

/* Fails the task with the pending Python exception, formatted by
 * kiln._worker.format_exception (the user's frames, type, message). */
static int fail_with_exception(const char *what)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    int nomem = type && PyErr_GivenExceptionMatches(type, PyExc_MemoryError);
    if (tb && value) PyException_SetTraceback(value, tb);
    PyObject *text = value && py.fmt_exc ? PyObject_CallOneArg(py.fmt_exc, value) : NULL; /* new */
    const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
    if (s)
        kiln_fail("%s%s", what, s);
    else
        kiln_fail("%sa Python exception that could not be formatted", what);
    PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    /* a refused allocation, as a C task's failed malloc leaves it: the
     * executor says whether task.memory_limit was reached */
    if (nomem) errno = ENOMEM;
    return -1;
}

static void fail_fatal(void)
{
    const rt_hooks *h = rt_hooks_current();
    if (h && h->fail_fatal) h->fail_fatal(h->arg);
}

/* ---- the input: a Python iterator of record batches ------------------- */

typedef struct batch_reader {
    PyObject_HEAD kiln_iter *in;
    int fmt;
    int done;
} batch_reader;

static PyObject *reader_next(PyObject *self)
{
    batch_reader *br = (batch_reader *)self;
    if (br->done) return NULL;
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    size_t bytes = 0;
    kiln_rec rec;
    while (PyList_GET_SIZE(list) < BATCH_RECORDS && bytes < BATCH_BYTES) {
        if (!kiln_next(br->in, &rec)) {
            br->done = 1;
            break;
        }
        bytes += rec.key.len + rec.val.len;
        PyObject *o = kr_decode(br->fmt, rec.key.ptr, rec.key.len, rec.val.ptr, rec.val.len); /* new */
        if (!o || PyList_Append(list, o) < 0) {
            Py_XDECREF(o);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(o);
    }
    if (PyList_GET_SIZE(list) == 0) {
        Py_DECREF(list);
        return NULL; /* StopIteration */
    }
    return list;
}

static PyType_Slot reader_slots[] = {
    {Py_tp_iter, (void *)PyObject_SelfIter},
    {Py_tp_iternext, (void *)reader_next},
    {Py_tp_doc, (void *)"The records of a kiln task's input, in batches (lists)."},
    {0, NULL},
};

static PyType_Spec reader_spec = {
    .name = "kiln._worker.BatchReader",
    .basicsize = sizeof(batch_reader),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = reader_slots,
};

/* ---- the output ------------------------------------------------------- */

/* 0 emitted, 1 the engine refused it (the task has failed), -1 a Python
 * exception is set. */
static int emit_item(kiln_out *out, int fmt, const char *op, PyObject *item, kc_buf *kb, kc_buf *vb)
{
    if (kr_encode(fmt, op, item, kb, vb) < 0) return -1;
    return kiln_emit(out, KILN_SLICE(kb->p, kb->len), KILN_SLICE(vb->p, vb->len)) ? 1 : 0;
}

/* ---- user_map, user_filter: a user's StopIteration fails the task ------ */

/* PySpark's words (kiln/_stage.py has them too) */
#define STOP_ITERATION_MSG "Caught StopIteration thrown from user's code; failing the task"

/* map(f, it) and filter(f, it) as the built-ins, at their speed, but a
 * StopIteration that f raises becomes a RuntimeError with PySpark's words
 * (the StopIteration, with the user's traceback, as its cause) rather than
 * ending the iteration as the end of the input would. */
typedef struct user_iter {
    PyObject_HEAD PyObject *fn; /* owned */
    PyObject *it;               /* owned */
    int filter;
} user_iter;

/* Turns a pending StopIteration into the task's failure; any other
 * exception stays. Returns NULL. */
static PyObject *stop_iteration_fails(void)
{
    if (!PyErr_ExceptionMatches(PyExc_StopIteration)) return NULL;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value) PyException_SetTraceback(value, tb);
    PyObject *err = PyObject_CallFunction(PyExc_RuntimeError, "s", STOP_ITERATION_MSG); /* new */
    if (err) {
        PyException_SetCause(err, value); /* steals value */
        value = NULL;
        PyErr_SetObject(PyExc_RuntimeError, err);
        Py_DECREF(err);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return NULL;
}

static PyObject *user_iter_next(PyObject *self)
{
    user_iter *u = (user_iter *)self;
    for (;;) {
        PyObject *x = PyIter_Next(u->it); /* new; NULL at the end or on an error */
        if (!x) return NULL;
        PyObject *r = PyObject_CallOneArg(u->fn, x); /* new */
        if (!r) {
            Py_DECREF(x);
            return stop_iteration_fails();
        }
        if (!u->filter) {
            Py_DECREF(x);
            return r;
        }
        int keep = PyObject_IsTrue(r);
        Py_DECREF(r);
        if (keep > 0) return x;
        Py_DECREF(x);
        if (keep < 0) return stop_iteration_fails();
    }
}

static void user_iter_dealloc(PyObject *self)
{
    user_iter *u = (user_iter *)self;
    PyTypeObject *type = Py_TYPE(self);
    Py_XDECREF(u->fn);
    Py_XDECREF(u->it);
    PyObject_Free(self);
    Py_DECREF(type); /* a heap type */
}

static PyType_Slot user_iter_slots[] = {
    {Py_tp_iter, (void *)PyObject_SelfIter},
    {Py_tp_iternext, (void *)user_iter_next},
    {Py_tp_dealloc, (void *)user_iter_dealloc},
    {Py_tp_doc, (void *)"map or filter over a user's function; its StopIteration fails the task."},
    {0, NULL},
};

static PyType_Spec user_iter_spec = {
    .name = "_kiln_exec.UserIter",
    .basicsize = sizeof(user_iter),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = user_iter_slots,
};

static PyObject *user_iter_make(PyObject *args, int filter)
{
    PyObject *fn, *src;
    if (!PyArg_ParseTuple(args, "OO", &fn, &src)) return NULL;
    if (!py.user_iter_type) {
        PyErr_SetString(PyExc_RuntimeError, "_kiln_exec is not started");
        return NULL;
    }
    PyObject *it = PyObject_GetIter(src); /* new */
    if (!it) return NULL;
    user_iter *u = PyObject_New(user_iter, py.user_iter_type);
    if (!u) {
        Py_DECREF(it);
        return NULL;
    }
    Py_INCREF(fn);
    u->fn = fn;
    u->it = it;
    u->filter = filter;
    return (PyObject *)u;
}

static PyObject *exec_user_map(PyObject *mod, PyObject *args)
{
    return user_iter_make(args, 0);
}

static PyObject *exec_user_filter(PyObject *mod, PyObject *args)
{
    return user_iter_make(args, 1);
}

/* ---- _kiln_exec: what the package calls in an executor ---------------- */

static PyObject *exec_counter_add(PyObject *mod, PyObject *args)
{
    const char *name;
    long long delta;
    if (!PyArg_ParseTuple(args, "sL", &name, &delta)) return NULL;
    kiln_counter_add(name, delta);
    Py_RETURN_NONE;
}

static PyObject *exec_counter_add_real(PyObject *mod, PyObject *args)
{
    const char *name;
    double delta;
    if (!PyArg_ParseTuple(args, "sd", &name, &delta)) return NULL;
    const rt_hooks *h = rt_hooks_current();
    if (h && h->counter_add_real) h->counter_add_real(h->arg, name, delta);
    Py_RETURN_NONE;
}

static PyObject *exec_counter_set_term(PyObject *mod, PyObject *args)
{
    const char *name;
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "sy*", &name, &b)) return NULL;
    const rt_hooks *h = rt_hooks_current();
    if (h && h->counter_set_term) h->counter_set_term(h->arg, name, b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    Py_RETURN_NONE;
}

static PyObject *exec_counter_has_term(PyObject *mod, PyObject *args)
{
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    const rt_hooks *h = rt_hooks_current();
    return PyBool_FromLong(h && h->counter_has_term && h->counter_has_term(h->arg, name));
}

/* barrier_sync(message: bytes) -> [bytes, ...]: a barrier task's
 * rendezvous with the other tasks of its stage (rt_hooks.barrier): every
 * task's message, in partition order. RuntimeError when the stage's attempt
 * failed or there is no rendezvous to be had. */
static PyObject *exec_barrier_sync(PyObject *mod, PyObject *arg)
{
    const rt_hooks *h = rt_hooks_current();
    if (!h || !h->barrier) {
        PyErr_SetString(PyExc_RuntimeError, "barrier() is only available in a running task");
        return NULL;
    }
    char *p;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(arg, &p, &n) < 0) return NULL;
    const kiln_slice *msgs;
    size_t nm;
    char err[1024];
    if (h->barrier(h->arg, KILN_SLICE(p, (size_t)n), &msgs, &nm, err, sizeof err) < 0) {
        PyErr_SetString(PyExc_RuntimeError, err);
        return NULL;
    }
    PyObject *list = PyList_New((Py_ssize_t)nm); /* new */
    for (size_t i = 0; list && i < nm; i++) {
        PyObject *b = PyBytes_FromStringAndSize(msgs[i].ptr, (Py_ssize_t)msgs[i].len); /* new */
        if (!b) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, b); /* steals b */
    }
    return list;
}

static PyMethodDef exec_methods[] = {
    {"barrier_sync", exec_barrier_sync, METH_O,
     "barrier_sync(message) -> list of bytes: waits for every task of the barrier stage"},
    {"counter_add", exec_counter_add, METH_VARARGS, "counter_add(name, delta): adds to the task's counter"},
    {"counter_add_real", exec_counter_add_real, METH_VARARGS, "counter_add_real(name, delta): float additions"},
    {"counter_set_term", exec_counter_set_term, METH_VARARGS,
     "counter_set_term(name, bytes): the task's value of a custom accumulator (replaces the last)"},
    {"counter_has_term", exec_counter_has_term, METH_VARARGS, "counter_has_term(name): did this task set one"},
    {"user_map", exec_user_map, METH_VARARGS, "user_map(f, it): map(f, it); f's StopIteration fails the task"},
    {"user_filter", exec_user_filter, METH_VARARGS, "user_filter(f, it): filter(f, it); likewise"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef exec_module = {PyModuleDef_HEAD_INIT, .m_name = "_kiln_exec",
                                         .m_doc = "kiln's executor (internal).", .m_methods = exec_methods};

static PyObject *exec_init(void)
{
    return PyModule_Create(&exec_module);
}

/* ---- the interpreter -------------------------------------------------- */

static int start_failed(const char *fmt, const char *detail)
{
    snprintf(py.error, sizeof py.error, fmt, detail);
    py.state = -1;
    return -1;
}

/* Starts the interpreter and imports kiln._worker. Runs once; the GIL is
 * held on return (when the interpreter started at all). */
static int py_start(void)
{
    if (PyImport_AppendInittab("_kiln_exec", exec_init) < 0) return start_failed("%s", "cannot add _kiln_exec");
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0; /* the executor's handlers stay */
    config.parse_argv = 0;
    config.faulthandler = 1; /* a crash dumps the Python stack to the executor log */
    PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, KILN_PYTHON);
    if (!PyStatus_Exception(st)) st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st))
        return start_failed("cannot start Python (" KILN_PYTHON "): %s", st.err_msg ? st.err_msg : "unknown error");

    /* the in-tree package beside the binary (build/python beside
     * build/kiln-worker); an installed kiln's is in dist-packages */
    char dir[PATH_MAX + 32];
    if (exe_sibling("python/kiln/_worker.py", R_OK, dir, sizeof dir)) {
        dir[strlen(dir) - strlen("/kiln/_worker.py")] = 0;
        PyObject *path = PySys_GetObject("path"); /* borrowed */
        PyObject *d = PyUnicode_DecodeFSDefault(dir);
        if (!path || !d || PyList_Insert(path, 0, d) < 0) PyErr_Clear();
        Py_XDECREF(d);
    }
    PyObject *mod = PyImport_ImportModule("kiln._worker"); /* new */
    if (!mod) {
        PyErr_Clear();
        return start_failed("%s", "the kiln Python package is not installed for " KILN_PYTHON
                                  " on this worker (make install, or install the kiln package there)");
    }
    py.run = PyObject_GetAttrString(mod, "run");
    py.load = PyObject_GetAttrString(mod, "load");
    py.fmt_exc = PyObject_GetAttrString(mod, "format_exception");
    py.word_pairs = PyObject_GetAttrString(mod, "word_pairs");
    py.reader_type = (PyTypeObject *)PyType_FromSpec(&reader_spec);
    py.user_iter_type = (PyTypeObject *)PyType_FromSpec(&user_iter_spec);
    Py_DECREF(mod);
    if (!py.run || !py.load || !py.fmt_exc || !py.word_pairs || !py.reader_type || !py.user_iter_type || kc_init() < 0) {
        PyErr_Clear();
        return start_failed("%s", "kiln._worker or cloudpickle is incomplete on this worker");
    }
    py.state = 1;
    return 0;
}

/* Takes the GIL, starting the interpreter the first time. 0, or -1 after
 * failing the task (a failed start fails every later task the same way). */
static int py_enter(PyGILState_STATE *gs)
{
    if (py.state == 0) {
        if (py_start() < 0) {
            if (Py_IsInitialized()) PyEval_SaveThread();
        } else {
            PyEval_SaveThread(); /* the main thread state is kept by the runtime */
        }
    }
    if (py.state < 0) {
        kiln_fail("%s", py.error);
        fail_fatal();
        return -1;
    }
    *gs = PyGILState_Ensure();
    return 0;
}

static void py_leave(PyGILState_STATE gs)
{
    PyGILState_Release(gs);
}

/* ---- stages ----------------------------------------------------------- */

static int rd16(const uint8_t **p, const uint8_t *end, const uint8_t **s, size_t *n)
{
    if (end - *p < 2) return -1;
    *n = (size_t)(*p)[0] | (size_t)(*p)[1] << 8;
    *p += 2;
    if ((size_t)(end - *p) < *n) return -1;
    *s = *p;
    *p += *n;
    return 0;
}

/* The loaded stage for env (borrowed from the cache), or NULL with a
 * Python exception set (or, for a malformed env, after kiln_fail). */
static py_stage *stage_get(kiln_slice env)
{
    XXH64_hash_t h = XXH3_64bits(env.ptr, env.len);
    for (int i = 0; i < py.nstages; i++)
        if (py.stages[i].hash == h && py.stages[i].env_len == env.len) return &py.stages[i];

    const uint8_t *p = env.ptr, *end = p + env.len, *op, *name;
    size_t nop, nname;
    if (env.len < 6 || memcmp(p, "KPY1", 4) || p[4] > KR_LAST || p[5] > KR_LAST) {
        PyErr_SetString(PyExc_ValueError, "the stage function is not a kiln Python stage (KPY1)");
        return NULL;
    }
    int in_fmt = p[4], out_fmt = p[5];
    p += 6;
    if (rd16(&p, end, &op, &nop) < 0 || rd16(&p, end, &name, &nname) < 0 || end - p < 4) {
        PyErr_SetString(PyExc_ValueError, "the Python stage function is truncated");
        return NULL;
    }
    size_t nhead = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
    p += 4;
    if ((size_t)(end - p) < nhead) {
        PyErr_SetString(PyExc_ValueError, "the Python stage function is truncated");
        return NULL;
    }
    PyObject *head = PyMemoryView_FromMemory((char *)p, (Py_ssize_t)nhead, PyBUF_READ);
    PyObject *body = PyMemoryView_FromMemory((char *)p + nhead, end - p - (Py_ssize_t)nhead, PyBUF_READ);
    const rt_hooks *hk = rt_hooks_current();
    PyObject *fn = head && body
                       ? PyObject_CallFunction(py.load, "OOss", head, body, hk && hk->app_dir ? hk->app_dir : "",
                                               hk && hk->cache_dir ? hk->cache_dir : "")
                       : NULL; /* new */
    Py_XDECREF(head);
    Py_XDECREF(body);
    if (!fn) return NULL;

    /* the word-count stage, recognised by kiln._worker.word_pairs */
    kc_buf word_val = {0};
    int words = 0;
    if (in_fmt == KR_TEXT && out_fmt == KR_PAIR) {
        PyObject *c = PyObject_CallOneArg(py.word_pairs, fn); /* new */
        if (!c || (c != Py_None && kc_val_encode(c, &word_val) < 0)) {
            Py_XDECREF(c);
            Py_DECREF(fn);
            kc_buf_release(&word_val);
            return NULL;
        }
        words = c != Py_None;
        Py_DECREF(c);
    }

    int slot = py.nstages < STAGES_KEPT ? py.nstages++ : (py.next_evict++ % STAGES_KEPT);
    py_stage *s = &py.stages[slot];
    Py_XDECREF(s->fn);
    kc_buf_release(&s->word_val);
    s->words = words;
    s->word_val = word_val;
    s->hash = h;
    s->env_len = env.len;
    s->in_fmt = in_fmt;
    s->out_fmt = out_fmt;
    snprintf(s->op, sizeof s->op, "%.*s", (int)nop, (const char *)op);
    snprintf(s->name, sizeof s->name, "%.*s", (int)nname, (const char *)name);
    s->fn = fn;
    return s;
}

/* ---- the word-count stage in C ----------------------------------------- */

/* What str.split() splits an ASCII str on (str.isspace: \t \n \v \f \r,
 * the separators \x1c-\x1f and the space). */
static const uint8_t ascii_space[128] = {['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1,
                                         [0x1c] = 1,  [0x1d] = 1, [0x1e] = 1,  [0x1f] = 1, [' '] = 1};

static int all_ascii(const uint8_t *p, size_t n)
{
    size_t i = 0;
    uint64_t acc = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < n; i++)
        acc |= p[i];
    return (acc & 0x8080808080808080ull) == 0;
}

/* One line that is not all ASCII: decoded as the general path decodes a
 * text record and split by str.split itself. 0, 1 the engine refused a
 * record, -1 a Python exception is set. */
static int words_unicode(kiln_out *out, kiln_slice line, kiln_slice val, kc_buf *kb)
{
    PyObject *s = kr_decode(KR_TEXT, NULL, 0, line.ptr, line.len); /* new */
    PyObject *words = s ? PyUnicode_Split(s, NULL, -1) : NULL; /* new */
    Py_XDECREF(s);
    if (!words) return -1;
    int rc = 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(words); i++) {
        kb->len = 0;
        if (kc_key_encode(PyList_GET_ITEM(words, i), kb, "reduceByKey") < 0)
            rc = -1;
        else if (kiln_emit(out, KILN_SLICE(kb->p, kb->len), val))
            rc = 1;
    }
    Py_DECREF(words);
    return rc;
}

/* textFile's lines through flatMap(str.split) and map(lambda w: (w, C)),
 * emitted as the general path emits them (the key encoding of each word,
 * the encoded C), without a Python object for an ASCII line: the one
 * per-word cost left is the engine's (the map-side combine). Lines with
 * other characters go through str.split, so the words are always Python's.
 * Neither function is user code that could raise, print or touch a
 * TaskContext. 0, 1 the engine refused a record, -1 a Python exception. */
static int words_run(kiln_iter *in, kiln_out *out, const py_stage *s, const rt_hooks *hk, kc_buf *kb)
{
    kiln_slice val = KILN_SLICE(s->word_val.p, s->word_val.len);
    kiln_rec rec;
    size_t lines = 0;
    while (kiln_next(in, &rec)) {
        const uint8_t *p = rec.val.ptr, *end = p + rec.val.len;
        if (!all_ascii(p, rec.val.len)) {
            int rc = words_unicode(out, rec.val, val, kb);
            if (rc != 0) return rc;
        } else {
            for (;;) {
                while (p < end && ascii_space[*p])
                    p++;
                if (p == end) break;
                const uint8_t *w = p;
                while (p < end && !ascii_space[*p])
                    p++;
                kb->len = 0;
                if (kc_key_encode_utf8((const char *)w, (size_t)(p - w), kb) < 0) return -1;
                if (kiln_emit(out, KILN_SLICE(kb->p, kb->len), val)) return 1;
            }
        }
        if (++lines % BATCH_RECORDS == 0 && hk && hk->stopped && hk->stopped(hk->arg)) break;
    }
    return 0;
}

/* ---- the built-ins ---------------------------------------------------- */

static int py_stage_run(kiln_iter *in, kiln_out *out, kiln_slice env)
{
    PyGILState_STATE gs;
    if (py_enter(&gs) < 0) return -1;
    int rc = -1;
    const rt_hooks *hk = rt_hooks_current();
    kc_buf kb = {0}, vb = {0};
    PyObject *reader = NULL, *it = NULL;
    py_stage *s = stage_get(env);
    if (!s) {
        /* a version mismatch or a module that will not import: the same on every attempt */
        if (PyErr_ExceptionMatches(PyExc_ImportError) || PyErr_ExceptionMatches(PyExc_RuntimeError)) fail_fatal();
        fail_with_exception("cannot load the Python stage: ");
        goto out;
    }
    if (hk && hk->set_name) hk->set_name(hk->arg, s->name);
    if (s->words) {
        int e = words_run(in, out, s, hk, &kb);
        if (e < 0) goto pyfail;
        rc = e == 0 ? 0 : -1; /* 1: the engine refused a record, the task has failed */
        goto out;
    }
    batch_reader *br = PyObject_New(batch_reader, py.reader_type);
    if (!br) goto pyfail;
    br->in = in;
    br->fmt = s->in_fmt;
    br->done = 0;
    reader = (PyObject *)br;
    /* run(fn, split, batches, (stage, attempt, task id)): TaskContext.get() in the stage */
    it = PyObject_CallFunction(py.run, "OIO(IIK)", s->fn, hk ? hk->partition : 0u, reader, hk ? hk->stage_id : 0u,
                               hk ? hk->attempt : 0u, hk ? (unsigned long long)hk->task_id : 0ull); /* new */
    if (!it) goto pyfail;
    PyObject *batch;
    while ((batch = PyIter_Next(it))) { /* new */
        if (!PyList_CheckExact(batch)) {
            Py_DECREF(batch);
            PyErr_SetString(PyExc_TypeError, "kiln._worker.run must yield lists");
            goto pyfail;
        }
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(batch); i++) {
            int e = emit_item(out, s->out_fmt, s->op, PyList_GET_ITEM(batch, i), &kb, &vb);
            if (e != 0) {
                Py_DECREF(batch);
                if (e < 0) goto pyfail;
                goto out; /* the engine refused the record: the task has failed */
            }
        }
        Py_DECREF(batch);
        if (hk && hk->stopped && hk->stopped(hk->arg)) break; /* take(n) has its records */
    }
    if (PyErr_Occurred()) goto pyfail;
    rc = 0;
    goto out;
pyfail:
    /* an import inside the user's function that this worker cannot satisfy:
     * every attempt would fail the same way, so the job fails at once */
    if (PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_ModuleNotFoundError)) fail_fatal();
    if (PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_MemoryError))
        fail_with_exception("out of memory (an allocation failed: is task.memory_limit too small?): ");
    else
        fail_with_exception("");
out:
    Py_XDECREF(it);
    Py_XDECREF(reader);
    kc_buf_release(&kb);
    kc_buf_release(&vb);
    py_leave(gs);
    return rc;
}

static int py_add(kiln_slice a, kiln_slice b, kiln_buf *out, kiln_slice env)
{
    kc_buf r = {0};
    int fast = kc_val_add_fast(a.ptr, a.len, b.ptr, b.len, &r);
    if (fast == 1) {
        int rc = kiln_buf_set(out, r.p, r.len);
        kc_buf_release(&r);
        return rc;
    }
    PyGILState_STATE gs;
    if (py_enter(&gs) < 0) return -1;
    int rc = -1;
    PyObject *x = kc_val_decode(a.ptr, a.len), *y = x ? kc_val_decode(b.ptr, b.len) : NULL; /* new */
    PyObject *sum = y ? PyNumber_Add(x, y) : NULL;
    if (sum && kc_val_encode(sum, &r) == 0)
        rc = kiln_buf_set(out, r.p, r.len);
    else
        fail_with_exception("reduceByKey(add): ");
    Py_XDECREF(x);
    Py_XDECREF(y);
    Py_XDECREF(sum);
    kc_buf_release(&r);
    py_leave(gs);
    return rc;
}

static const rt_builtin py_builtins[] = {
    {"kiln_py_stage", RT_FN_PARTITIONS, (void *)py_stage_run},
    {"kiln_py_add", RT_FN_COMBINE, (void *)py_add},
};

void py_flush_stdio(void)
{
    if (py.state != 1) return;
    PyGILState_STATE gs = PyGILState_Ensure();
    static const char *const names[] = {"stdout", "stderr"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        PyObject *f = PySys_GetObject(names[i]); /* borrowed */
        if (!f || f == Py_None) continue;
        PyObject *r = PyObject_CallMethod(f, "flush", NULL); /* new */
        if (!r) PyErr_Clear();
        Py_XDECREF(r);
    }
    PyGILState_Release(gs);
}

const rt_builtin *py_builtin_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof py_builtins / sizeof py_builtins[0]; i++)
        if (!strcmp(py_builtins[i].name, name)) return &py_builtins[i];
    return NULL;
}
