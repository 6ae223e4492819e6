/*
 * _kiln.c - kiln._kiln, the C extension under the Python package: a thin
 * handle on libkiln (client/) for python/kiln/context.py and rdd.py.
 *
 * Owns one type, Session: a kiln_ctx (a connection to the driver and the
 * application registered on it, without a library: every stage of a
 * Python job calls the executor's Python built-ins) and the nodes of its
 * lineage graph, known to Python by their number. It decides nothing about
 * PySpark's semantics; rdd.py does. Records are encoded and decoded here
 * in C (python/records.c), a list at a time, never by Python code per
 * record. Jobs run with the GIL released, on a thread of their own, so
 * that ^C (or any signal Python handles) interrupts them: the connection to
 * the driver is shut down, which ends the application (its tasks are
 * cancelled), and the signal's exception (KeyboardInterrupt) is raised.
 *
 * Also LocalCluster, a private driver and worker for local[N]
 * (client/local.c), and the error type kiln.KilnError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "client.h"
#include "httpd.h"
#include "records.h"
#include "runtime.h"
#include "secret.h"
#include "util.h"

static PyObject *KilnError; /* the module's exception type (owned by the module) */

typedef struct session {
    PyObject_HEAD kiln_ctx *ctx;
    char *master;      /* owned: for requests on a connection of their own (cancel_jobs) */
    char *secret_file; /* owned, NULL: the default secret */
} session;

static PyObject *ctx_error(kiln_ctx *ctx)
{
    PyErr_SetString(KilnError, kiln_errmsg(ctx));
    return NULL;
}

static int session_init(PyObject *self, PyObject *args, PyObject *kw)
{
    session *s = (session *)self;
    static char *names[] = {"master", "secret_file", "app_name", "conf", NULL};
    const char *master, *secret_file = NULL, *app_name;
    PyObject *conf;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "szsO!", names, &master, &secret_file, &app_name, &PyList_Type, &conf))
        return -1;
    Py_ssize_t nconf = PyList_GET_SIZE(conf);
    char **cv = PyMem_Calloc((size_t)nconf + 1, sizeof *cv);
    if (!cv) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < nconf; i++)
        if (!(cv[i] = (char *)PyUnicode_AsUTF8(PyList_GET_ITEM(conf, i)))) {
            PyMem_Free(cv);
            return -1;
        }
    char err[2048];
    auth_secret secret;
    if (secret_resolve(&secret, secret_file, NULL, 0, err, sizeof err) < 0) { /* None: the default secret */
        PyMem_Free(cv);
        PyErr_SetString(KilnError, err);
        return -1;
    }
    kiln_ctx *ctx;
    Py_BEGIN_ALLOW_THREADS
    ctx = client_ctx_new(master, &secret, app_name, NULL, NULL, cv, (size_t)nconf, err, sizeof err);
    Py_END_ALLOW_THREADS
    auth_secret_release(&secret);
    PyMem_Free(cv);
    if (!ctx) {
        PyErr_SetString(KilnError, err);
        return -1;
    }
    if (s->ctx) client_ctx_free(s->ctx);
    s->ctx = ctx;
    free(s->master);
    free(s->secret_file);
    s->master = xstrdup(master);
    s->secret_file = secret_file ? xstrdup(secret_file) : NULL;
    return 0;
}

static void session_dealloc(PyObject *self)
{
    session *s = (session *)self;
    if (s->ctx) client_ctx_free(s->ctx);
    free(s->master);
    free(s->secret_file);
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static kiln_ctx *live(session *s)
{
    if (!s->ctx) PyErr_SetString(KilnError, "the context has been stopped");
    return s->ctx;
}

/* The node numbered id (1-based), or NULL with an exception. */
static kiln_rdd *node(session *s, long id)
{
    kiln_ctx *ctx = live(s);
    if (!ctx) return NULL;
    if (id < 1 || (size_t)id > ctx->nrdds) {
        PyErr_Format(PyExc_ValueError, "no dataset %ld in this context", id);
        return NULL;
    }
    return ctx->rdds[id - 1];
}

static PyObject *node_id(session *s, kiln_rdd *r)
{
    if (!r) return ctx_error(s->ctx);
    return PyLong_FromUnsignedLong(r->id);
}

static PyObject *s_text_file(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    const char *path;
    int parts;
    if (!PyArg_ParseTuple(args, "si", &path, &parts) || !live(s)) return NULL;
    return node_id(s, kiln_text_file(s->ctx, path, parts));
}

static PyObject *s_range(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    long long start, end;
    int parts;
    if (!PyArg_ParseTuple(args, "LLi", &start, &end, &parts) || !live(s)) return NULL;
    return node_id(s, kiln_range(s->ctx, start, end, parts));
}

/* parallelize(items, partitions, fmt): items (a list) encoded in format fmt
 * and cut into partitions of near-equal counts. */
static PyObject *s_parallelize(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    PyObject *items;
    int parts, fmt;
    if (!PyArg_ParseTuple(args, "O!ii", &PyList_Type, &items, &parts, &fmt) || !live(s)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(items);
    kiln_rec *recs = PyMem_Calloc((size_t)n + 1, sizeof *recs);
    size_t *offs = PyMem_Calloc((size_t)n + 1, 2 * sizeof *offs);
    kc_buf all = {0}, kb = {0}, vb = {0};
    PyObject *ret = NULL;
    if (!recs || !offs) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (kr_encode(fmt, "parallelize", PyList_GET_ITEM(items, i), &kb, &vb) < 0) goto out;
        offs[2 * i] = kb.len;
        offs[2 * i + 1] = vb.len;
        size_t need = all.len + kb.len + vb.len;
        if (need > all.cap) {
            size_t cap = all.cap ? all.cap : 4096;
            while (cap < need)
                cap *= 2;
            uint8_t *np = realloc(all.p, cap);
            if (!np) {
                PyErr_NoMemory();
                goto out;
            }
            all.p = np;
            all.cap = cap;
        }
        if (kb.len) memcpy(all.p + all.len, kb.p, kb.len);
        if (vb.len) memcpy(all.p + all.len + kb.len, vb.p, vb.len);
        all.len = need;
    }
    size_t at = 0; /* slices are made once the buffer no longer moves */
    for (Py_ssize_t i = 0; i < n; i++) {
        recs[i].key = KILN_SLICE(all.p + at, offs[2 * i]);
        at += offs[2 * i];
        recs[i].val = KILN_SLICE(all.p + at, offs[2 * i + 1]);
        at += offs[2 * i + 1];
    }
    ret = node_id(s, kiln_parallelize(s->ctx, recs, (size_t)n, parts));
out:
    PyMem_Free(recs);
    PyMem_Free(offs);
    kc_buf_release(&all);
    kc_buf_release(&kb);
    kc_buf_release(&vb);
    return ret;
}

static PyObject *s_py_stage(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    long id;
    Py_buffer env;
    const char *label = NULL;
    if (!PyArg_ParseTuple(args, "ly*|z", &id, &env, &label)) return NULL;
    kiln_rdd *p = node(s, id);
    PyObject *r =
        p ? node_id(s, client_map_partitions_builtin(p, "kiln_py_stage", KILN_SLICE(env.buf, env.len), label)) : NULL;
    PyBuffer_Release(&env);
    return r;
}

static PyObject *s_reduce_add(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    long id;
    int parts;
    if (!PyArg_ParseTuple(args, "li", &id, &parts)) return NULL;
    kiln_rdd *p = node(s, id);
    return p ? node_id(s, client_reduce_by_key_builtin(p, "kiln_py_add", KILN_NONE, parts)) : NULL;
}

/* The wide transformations of one parent and a partition count. */
#define WIDE1(name, call)                                                                                              \
    static PyObject *s_##name(PyObject *self, PyObject *args)                                                          \
    {                                                                                                                  \
        session *s = (session *)self;                                                                                  \
        long id;                                                                                                       \
        int parts;                                                                                                     \
        if (!PyArg_ParseTuple(args, "li", &id, &parts)) return NULL;                                                   \
        kiln_rdd *p = node(s, id);                                                                                     \
        return p ? node_id(s, call(p, parts)) : NULL;                                                                  \
    }
WIDE1(group_by_key, kiln_group_by_key)
WIDE1(distinct, kiln_distinct)
WIDE1(repartition, kiln_repartition)
WIDE1(partition_by, client_partition_by)

static PyObject *s_sort_by_key(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    long id;
    int asc, parts;
    if (!PyArg_ParseTuple(args, "lpi", &id, &asc, &parts)) return NULL;
    kiln_rdd *p = node(s, id);
    return p ? node_id(s, kiln_sort_by_key(p, asc, parts)) : NULL;
}

static PyObject *s_join(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    long a, b;
    int parts;
    if (!PyArg_ParseTuple(args, "lli", &a, &b, &parts)) return NULL;
    kiln_rdd *l = node(s, a), *r = l ? node(s, b) : NULL;
    return r ? node_id(s, kiln_join(l, r, parts)) : NULL;
}

static PyObject *s_union(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    kiln_rdd *l = node(s, a), *r = l ? node(s, b) : NULL;
    return r ? node_id(s, kiln_union(l, r)) : NULL;
}

static PyObject *s_barrier(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    long id;
    if (!PyArg_ParseTuple(args, "l", &id)) return NULL;
    kiln_rdd *p = node(s, id);
    if (!p) return NULL;
    p->barrier = 1;
    Py_RETURN_NONE;
}

static PyObject *s_cache(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    long id;
    int on;
    if (!PyArg_ParseTuple(args, "lp", &id, &on)) return NULL;
    kiln_rdd *p = node(s, id);
    if (!p) return NULL;
    p->cached = on;
    Py_RETURN_NONE;
}

static PyObject *s_partitions(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    long id;
    if (!PyArg_ParseTuple(args, "l", &id)) return NULL;
    kiln_rdd *p = node(s, id);
    return p ? PyLong_FromUnsignedLong(p->partitions) : NULL;
}

/* New list of the records in format fmt. */
static PyObject *decode_recs(kiln_recs *recs, int fmt)
{
    PyObject *list = PyList_New((Py_ssize_t)recs->n);
    if (!list) return NULL;
    for (size_t i = 0; i < recs->n; i++) {
        kiln_rec *r = &recs->recs[i];
        PyObject *o = kr_decode(fmt, r->key.ptr, r->key.len, r->val.ptr, r->val.len); /* new */
        if (!o) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, o); /* steals o */
    }
    return list;
}

/* ---- running a job so that signals interrupt it ---------------------- */

/* What a job_call runs: collect and take fill recs, count and save_text
 * only result. */
enum job_kind { JOB_COLLECT, JOB_TAKE, JOB_COUNT, JOB_SAVE_TEXT };

typedef struct job_call {
    kiln_rdd *rdd;
    enum job_kind kind;
    size_t limit;
    const uint32_t *parts; /* collect and take: the result partitions to run (NULL: all) */
    size_t nparts;
    const char *dir;
    const char *codec; /* save_text: NULL, or "gzip" */
    kiln_recs recs;
    int64_t result;
    int done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} job_call;

static void *job_thread(void *arg)
{
    job_call *jc = arg;
    int64_t r;
    switch (jc->kind) {
    case JOB_COLLECT:
        r = client_collect_parts(jc->rdd, SIZE_MAX, jc->parts, jc->nparts, &jc->recs);
        break;
    case JOB_TAKE:
        r = client_collect_parts(jc->rdd, jc->limit, jc->parts, jc->nparts, &jc->recs);
        break;
    case JOB_COUNT:
        r = kiln_count(jc->rdd);
        break;
    case JOB_SAVE_TEXT:
    default:
        r = client_save_text(jc->rdd, jc->dir, jc->codec);
    }
    pthread_mutex_lock(&jc->mu);
    jc->result = r;
    jc->done = 1;
    pthread_cond_signal(&jc->cv);
    pthread_mutex_unlock(&jc->mu);
    return NULL;
}

/* Runs jc on a thread while this one (holding the GIL only between waits)
 * checks for signals every 100 ms. 0 with jc->result set, or -1 with the
 * signal's exception set after cutting the job off (the context is dead:
 * every later action fails saying so). */
static int run_job(session *s, job_call *jc)
{
    pthread_mutex_init(&jc->mu, NULL);
    pthread_cond_init(&jc->cv, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, job_thread, jc) != 0) {
        job_thread(jc); /* no thread to be had: run it here, uninterruptible */
    } else {
        for (;;) {
            int done;
            Py_BEGIN_ALLOW_THREADS
            pthread_mutex_lock(&jc->mu);
            if (!jc->done) {
                struct timespec t;
                clock_gettime(CLOCK_REALTIME, &t);
                t.tv_nsec += 100 * 1000 * 1000;
                if (t.tv_nsec >= 1000000000L) {
                    t.tv_sec++;
                    t.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&jc->cv, &jc->mu, &t);
            }
            done = jc->done;
            pthread_mutex_unlock(&jc->mu);
            Py_END_ALLOW_THREADS
            if (done) break;
            if (PyErr_CheckSignals() < 0) {
                shutdown(s->ctx->fd, SHUT_RDWR); /* the job's reads and writes fail at once */
                Py_BEGIN_ALLOW_THREADS
                pthread_join(th, NULL);
                Py_END_ALLOW_THREADS
                s->ctx->dead = 1;
                if (jc->result >= 0 && (jc->kind == JOB_COLLECT || jc->kind == JOB_TAKE)) kiln_recs_free(&jc->recs);
                pthread_mutex_destroy(&jc->mu);
                pthread_cond_destroy(&jc->cv);
                return -1;
            }
        }
        Py_BEGIN_ALLOW_THREADS
        pthread_join(th, NULL);
        Py_END_ALLOW_THREADS
    }
    pthread_mutex_destroy(&jc->mu);
    pthread_cond_destroy(&jc->cv);
    return 0;
}

/* The partition numbers in seq (a sequence of ints, ascending, each once)
 * as a new array in *out (PyMem_Free it; NULL for none). 0, or -1 with an
 * exception. */
static int parts_of(PyObject *seq, uint32_t **out, size_t *n)
{
    PyObject *fast = PySequence_Fast(seq, "partitions must be a sequence of ints"); /* new */
    if (!fast) return -1;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(fast);
    uint32_t *v = len ? PyMem_Malloc((size_t)len * sizeof *v) : NULL;
    if (len && !v) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        long x = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i)); /* borrowed item */
        if (x == -1 && PyErr_Occurred()) goto fail;
        if (x < 0 || x > (long)UINT32_MAX || (i > 0 && (uint32_t)x <= v[i - 1])) {
            PyErr_SetString(PyExc_ValueError, "partitions must be ascending non-negative ints, each once");
            goto fail;
        }
        v[i] = (uint32_t)x;
    }
    Py_DECREF(fast);
    *out = v;
    *n = (size_t)len;
    return 0;
fail:
    PyMem_Free(v);
    Py_DECREF(fast);
    return -1;
}

static PyObject *s_collect(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    long id;
    int fmt;
    Py_ssize_t limit = -1;
    PyObject *parts = Py_None; /* borrowed */
    if (!PyArg_ParseTuple(args, "li|nO", &id, &fmt, &limit, &parts)) return NULL;
    kiln_rdd *p = node(s, id);
    if (!p) return NULL;
    uint32_t *pv = NULL;
    size_t np = 0;
    if (parts != Py_None && parts_of(parts, &pv, &np) < 0) return NULL;
    job_call jc = {.rdd = p,
                   .kind = limit < 0 ? JOB_COLLECT : JOB_TAKE,
                   .limit = (size_t)(limit < 0 ? 0 : limit),
                   .parts = pv,
                   .nparts = np};
    int rc = run_job(s, &jc);
    PyMem_Free(pv);
    if (rc < 0) return NULL;
    if (jc.result < 0) return ctx_error(s->ctx);
    PyObject *list = decode_recs(&jc.recs, fmt);
    kiln_recs_free(&jc.recs);
    return list;
}

static PyObject *s_count(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    long id;
    if (!PyArg_ParseTuple(args, "l", &id)) return NULL;
    kiln_rdd *p = node(s, id);
    if (!p) return NULL;
    job_call jc = {.rdd = p, .kind = JOB_COUNT};
    if (run_job(s, &jc) < 0) return NULL;
    if (jc.result < 0) return ctx_error(s->ctx);
    return PyLong_FromLongLong(jc.result);
}

static PyObject *s_save_text(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    long id;
    const char *dir, *codec = NULL;
    if (!PyArg_ParseTuple(args, "ls|z", &id, &dir, &codec)) return NULL;
    kiln_rdd *p = node(s, id);
    if (!p) return NULL;
    job_call jc = {.rdd = p, .kind = JOB_SAVE_TEXT, .dir = dir, .codec = codec};
    if (run_job(s, &jc) < 0) return NULL;
    if (jc.result < 0) return ctx_error(s->ctx);
    Py_RETURN_NONE;
}

/* broadcast(data) -> hex id: uploads data once (per content) for the
 * application's tasks; the executor reads it from its worker's cache. */
static PyObject *s_broadcast(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data) || !live(s)) return NULL;
    s->ctx->err[0] = 0;
    kiln_bcast b;
    Py_BEGIN_ALLOW_THREADS
    b = kiln_broadcast(s->ctx, data.buf, (size_t)data.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    if (s->ctx->err[0]) return ctx_error(s->ctx);
    char hex[HASH_HEX_LEN + 1];
    hash_to_hex(b.id, hex);
    return PyUnicode_FromString(hex);
}

/* unbroadcast(hex): later jobs no longer carry the broadcast. */
static PyObject *s_unbroadcast(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    const char *hex;
    if (!PyArg_ParseTuple(args, "s", &hex) || !live(s)) return NULL;
    kiln_ctx *ctx = s->ctx;
    for (size_t i = 0; i < ctx->nbcasts; i++)
        if (!strcmp(ctx->bcasts[i].hex, hex)) {
            free(ctx->bcasts[i].data);
            ctx->bcasts[i] = ctx->bcasts[--ctx->nbcasts];
            break;
        }
    Py_RETURN_NONE;
}

static PyObject *s_counter(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name) || !live(s)) return NULL;
    return PyLong_FromLongLong(kiln_counter_value(s->ctx, name));
}

static PyObject *s_real_counter(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name) || !live(s)) return NULL;
    kiln_ctx *ctx = s->ctx;
    for (size_t i = 0; i < ctx->ncounters; i++)
        if (!strcmp(ctx->counter_names[i], name)) return PyFloat_FromDouble(ctx->counter_reals[i]);
    return PyFloat_FromDouble(0.0);
}

/* New list of the terms of counter name received since the last call
 * (custom accumulators' task values), taken out of the context. */
static PyObject *s_take_terms(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name) || !live(s)) return NULL;
    kiln_ctx *ctx = s->ctx;
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    size_t kept = 0;
    for (size_t i = 0; i < ctx->nterms; i++) {
        client_term *t = &ctx->terms[i];
        if (strcmp(t->name, name)) {
            ctx->terms[kept++] = *t;
            continue;
        }
        PyObject *b = out ? PyBytes_FromStringAndSize((const char *)t->data, (Py_ssize_t)t->len) : NULL; /* new */
        if (!b || PyList_Append(out, b) < 0) Py_CLEAR(out);
        Py_XDECREF(b);
        free(t->name);
        free(t->data);
    }
    ctx->nterms = kept;
    return out;
}

/* cancel_jobs(ids, reason): the driver fails those of the application's
 * jobs that still run with "Job N cancelled <reason>". Its own connection,
 * so it works while another thread waits for a job on the session's. */
static PyObject *s_cancel_jobs(PyObject *self, PyObject *args)
{
    session *s = (session *)self;
    PyObject *ids;
    const char *reason;
    if (!PyArg_ParseTuple(args, "O!s", &PyList_Type, &ids, &reason) || !live(s)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(ids);
    uint32_t *jv = PyMem_Calloc((size_t)n + 1, sizeof *jv);
    if (!jv) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long v = PyLong_AsUnsignedLong(PyList_GET_ITEM(ids, i));
        if (PyErr_Occurred()) {
            PyMem_Free(jv);
            return NULL;
        }
        jv[i] = (uint32_t)v;
    }
    char err[2048] = "";
    auth_secret secret;
    if (secret_resolve(&secret, s->secret_file, NULL, 0, err, sizeof err) < 0) {
        PyMem_Free(jv);
        PyErr_SetString(KilnError, err);
        return NULL;
    }
    Kiln__Envelope req = KILN__ENVELOPE__INIT;
    Kiln__CancelJobs cj = KILN__CANCEL_JOBS__INIT;
    cj.app_id = s->ctx->app_id;
    cj.job_ids = jv;
    cj.n_job_ids = (size_t)n;
    cj.reason = (char *)reason;
    MSG_BODY(req, cancel_jobs, CANCEL_JOBS, &cj);
    Kiln__Envelope *m;
    Py_BEGIN_ALLOW_THREADS
    m = client_query(s->master, &secret, &req, err, sizeof err);
    Py_END_ALLOW_THREADS
    auth_secret_release(&secret);
    PyMem_Free(jv);
    if (!m) {
        PyErr_SetString(KilnError, err);
        return NULL;
    }
    int ok = m->body_case == KILN__ENVELOPE__BODY_KILL_REPLY && m->kill_reply->ok;
    if (!ok)
        PyErr_Format(KilnError, "cancel: %s",
                     m->body_case == KILN__ENVELOPE__BODY_KILL_REPLY ? m->kill_reply->error : "unexpected answer");
    msg_free(m);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyObject *s_close(PyObject *self, PyObject *unused)
{
    session *s = (session *)self;
    if (s->ctx) client_ctx_free(s->ctx);
    s->ctx = NULL;
    Py_RETURN_NONE;
}

static PyObject *s_get_ui(PyObject *self, void *closure)
{
    session *s = (session *)self;
    return live(s) ? PyUnicode_FromString(s->ctx->ui) : NULL;
}

static PyObject *s_get_app_id(PyObject *self, void *closure)
{
    session *s = (session *)self;
    return live(s) ? PyUnicode_FromString(s->ctx->app_id) : NULL;
}

static PyObject *s_get_http_port(PyObject *self, void *closure)
{
    session *s = (session *)self;
    return live(s) ? PyLong_FromUnsignedLong(s->ctx->http_port) : NULL;
}

/* The bearer token of the cluster's HTTP pages: derived from the secret this
 * session authenticates with, as `kiln token` prints it. */
static PyObject *s_get_http_token(PyObject *self, void *closure)
{
    session *s = (session *)self;
    if (!live(s)) return NULL;
    char err[2048] = "";
    auth_secret secret;
    if (secret_resolve(&secret, s->secret_file, NULL, 0, err, sizeof err) < 0) {
        PyErr_SetString(KilnError, err);
        return NULL;
    }
    char token[HTTPD_TOKEN_HEX + 1];
    httpd_token(secret.key, secret.len, token);
    auth_secret_release(&secret);
    return PyUnicode_FromString(token); /* new */
}

static PyObject *s_get_job_seq(PyObject *self, void *closure)
{
    session *s = (session *)self;
    return live(s) ? PyLong_FromUnsignedLong(s->ctx->job_seq) : NULL;
}

static PyMethodDef session_methods[] = {
    {"text_file", s_text_file, METH_VARARGS, "text_file(path, min_partitions) -> node"},
    {"range", s_range, METH_VARARGS, "range(start, end, partitions) -> node: one int64 record per number"},
    {"parallelize", s_parallelize, METH_VARARGS, "parallelize(items, partitions, fmt) -> node"},
    {"py_stage", s_py_stage, METH_VARARGS, "py_stage(parent, env[, label]) -> node: a Python stage function"},
    {"reduce_add", s_reduce_add, METH_VARARGS, "reduce_add(parent, partitions) -> node: reduceByKey(add) in C"},
    {"group_by_key", s_group_by_key, METH_VARARGS, "group_by_key(parent, partitions) -> node"},
    {"distinct", s_distinct, METH_VARARGS, "distinct(parent, partitions) -> node"},
    {"repartition", s_repartition, METH_VARARGS, "repartition(parent, partitions) -> node"},
    {"partition_by", s_partition_by, METH_VARARGS,
     "partition_by(parent, partitions) -> node: records of format PART to the partitions they name, as PAIR"},
    {"sort_by_key", s_sort_by_key, METH_VARARGS, "sort_by_key(parent, ascending, partitions) -> node"},
    {"join", s_join, METH_VARARGS, "join(left, right, partitions) -> node"},
    {"union", s_union, METH_VARARGS, "union(a, b) -> node"},
    {"barrier", s_barrier, METH_VARARGS, "barrier(node): a stage holding it runs all its tasks at once"},
    {"cache", s_cache, METH_VARARGS, "cache(node, on): keep (or stop keeping) its partitions"},
    {"partitions", s_partitions, METH_VARARGS, "partitions(node) -> int"},
    {"collect", s_collect, METH_VARARGS, "collect(node, fmt[, limit[, partitions]]) -> list, in partition order; limit -1: all records; "
                                              "partitions: an ascending list of the result partitions to run (None: all)"},
    {"count", s_count, METH_VARARGS, "count(node) -> int"},
    {"save_text", s_save_text, METH_VARARGS, "save_text(node, dir, codec=None): codec None or \"gzip\""},
    {"broadcast", s_broadcast, METH_VARARGS, "broadcast(data) -> hex id"},
    {"unbroadcast", s_unbroadcast, METH_VARARGS, "unbroadcast(hex)"},
    {"counter", s_counter, METH_VARARGS, "counter(name) -> int: the sum over successful tasks"},
    {"real_counter", s_real_counter, METH_VARARGS, "real_counter(name) -> float: the float additions"},
    {"take_terms", s_take_terms, METH_VARARGS, "take_terms(name) -> [bytes]: custom accumulators' task values"},
    {"cancel_jobs", s_cancel_jobs, METH_VARARGS, "cancel_jobs(ids, reason): fail those jobs that still run"},
    {"close", s_close, METH_NOARGS, "close(): ends the application"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef session_getset[] = {
    {"app_id", s_get_app_id, NULL, "the application's id on the driver", NULL},
    {"http_port", s_get_http_port, NULL, "the driver's HTTP port (0: it did not say)", NULL},
    {"http_token", s_get_http_token, NULL, "the bearer token of the cluster's HTTP pages (kiln token)", NULL},
    {"job_seq", s_get_job_seq, NULL, "the id of the last job this session submitted (0: none yet)", NULL},
    {"ui", s_get_ui, NULL, "the application's page on the driver's UI (\"\" when the driver has none)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot session_slots[] = {
    {Py_tp_init, (void *)session_init},
    {Py_tp_dealloc, (void *)session_dealloc},
    {Py_tp_methods, session_methods},
    {Py_tp_getset, session_getset},
    {Py_tp_new, (void *)PyType_GenericNew},
    {Py_tp_doc, (void *)"Session(master, secret_file, app_name, conf): an application on a kiln driver "
                        "(secret_file None: the default secret, as the CLI's)."},
    {0, NULL},
};

static PyType_Spec session_spec = {
    .name = "kiln._kiln.Session",
    .basicsize = sizeof(session),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = session_slots,
};

/* ---- local[N] ---------------------------------------------------------- */

typedef struct local {
    PyObject_HEAD local_cluster lc;
    int running;
} local;

static int local_init(PyObject *self, PyObject *args, PyObject *kw)
{
    local *l = (local *)self;
    static char *names[] = {"bindir", "slots", "secret_file", NULL};
    const char *bindir, *secret_file = NULL;
    int slots;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "si|z", names, &bindir, &slots, &secret_file)) return -1;
    if (l->running) local_stop(&l->lc); /* __init__ called again */
    l->running = 0;
    char err[2048];
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = local_start(&l->lc, bindir, slots, secret_file, err, sizeof err);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_SetString(KilnError, err);
        return -1;
    }
    l->running = 1;
    return 0;
}

static PyObject *local_stop_py(PyObject *self, PyObject *unused)
{
    local *l = (local *)self;
    if (l->running) local_stop(&l->lc);
    l->running = 0;
    Py_RETURN_NONE;
}

static void local_dealloc(PyObject *self)
{
    local *l = (local *)self;
    if (l->running) local_stop(&l->lc);
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *local_master(PyObject *self, void *closure)
{
    return PyUnicode_FromString(((local *)self)->lc.master);
}

static PyObject *local_dir(PyObject *self, void *closure)
{
    return PyUnicode_FromString(((local *)self)->lc.dir);
}

static PyObject *local_secret_file(PyObject *self, void *closure)
{
    return PyUnicode_FromString(((local *)self)->lc.secret_file);
}

static PyMethodDef local_methods[] = {
    {"stop", local_stop_py, METH_NOARGS, "stop(): ends the daemons and removes their directory"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef local_getset[] = {
    {"master", local_master, NULL, "HOST:PORT of the private driver", NULL},
    {"dir", local_dir, NULL, "the cluster's temporary directory", NULL},
    {"secret_file", local_secret_file, NULL,
     "the cluster's secret: the one given, else a fresh one (0600) in its directory, for Session", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot local_slots[] = {
    {Py_tp_init, (void *)local_init},
    {Py_tp_dealloc, (void *)local_dealloc},
    {Py_tp_methods, local_methods},
    {Py_tp_getset, local_getset},
    {Py_tp_new, (void *)PyType_GenericNew},
    {Py_tp_doc, (void *)"LocalCluster(bindir, slots, secret_file=None): a private driver and worker (local[N]), with a "
                        "fresh secret "
                        "(secret_file) unless one is given."},
    {0, NULL},
};

static PyType_Spec local_spec = {
    .name = "kiln._kiln.LocalCluster",
    .basicsize = sizeof(local),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = local_slots,
};

/* ---- the module -------------------------------------------------------- */

static PyObject *m_key_bytes(PyObject *mod, PyObject *obj)
{
    kc_buf b = {0};
    if (kc_key_encode(obj, &b, "key") < 0) return NULL;
    PyObject *r = PyBytes_FromStringAndSize((const char *)b.p, (Py_ssize_t)b.len);
    kc_buf_release(&b);
    return r;
}

static PyMethodDef module_methods[] = {
    {"key_bytes", m_key_bytes, METH_O, "key_bytes(key) -> bytes: kiln's canonical encoding of a key"},
    {NULL, NULL, 0, NULL},
};

static int module_exec(PyObject *m)
{
    if (kc_init() < 0) return -1;
    KilnError =
        PyErr_NewExceptionWithDoc("kiln.KilnError", "A kiln job or connection failed.", PyExc_RuntimeError, NULL);
    if (!KilnError || PyModule_AddObjectRef(m, "KilnError", KilnError) < 0) return -1;
    PyObject *st = PyType_FromSpec(&session_spec), *lt = PyType_FromSpec(&local_spec);
    int rc =
        st && lt && PyModule_AddObjectRef(m, "Session", st) == 0 && PyModule_AddObjectRef(m, "LocalCluster", lt) == 0
            ? 0
            : -1;
    Py_XDECREF(st);
    Py_XDECREF(lt);
    if (rc == 0) rc = PyModule_AddIntConstant(m, "ERR_MAX", KILN_ERR_MAX);
    return rc;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, (void *)module_exec},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kiln._kiln",
    .m_doc = "kiln's client library for the kiln package (internal).",
    .m_methods = module_methods,
    .m_slots = module_slots,
};

PyMODINIT_FUNC PyInit__kiln(void)
{
    return PyModuleDef_Init(&module_def);
}
