/*
 * task.c - the composed stage function, run over one partition.
 *
 * A stage's narrow operations become a chain of kiln_out nodes: a record
 * pushed into node i runs operation i, whose output is pushed into node
 * i+1, and the last node is the action's sink. No record is buffered
 * between operations (Thrill's "chains of local operations compile into
 * one routine"). map_partitions is the exception: it pulls from an
 * iterator, so the operations before it are run lazily behind a kiln_iter
 * that refills a small queue; a map_partitions followed later by another
 * has its output materialised in memory first.
 *
 * Blame: before each user call the index of its name is stored in the
 * shared exec_status, and restored after, so the worker can name the
 * function that was running when the executor died.
 */
#include "task.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "block.h"
#include "commit.h"
#include "runtime.h"
#include "split.h"
#include "python.h"
#include "task_int.h"
#include "text.h"
#include "util.h"

#define RESULT_BLOCK_BYTES (1u << 20)
#define SAVE_BUF_BYTES     (1u << 20)

/* ---- resolving a stage ------------------------------------------------ */

static int add_name(stage_prog *p, const char *name, char *err, size_t errlen)
{
    if (p->nnames >= TASK_MAX_OPS) return errf(err, errlen, "stage has more than %d functions", TASK_MAX_OPS);
    snprintf(p->names[p->nnames], sizeof p->names[0], "%s", name);
    return p->nnames++;
}

/* What a stage calls a function as: the C type the call site uses. */
typedef enum fn_use { USE_MAP, USE_FILTER, USE_PARTITIONS, USE_COMBINE } fn_use;

static const char *const use_names[] = {"map", "filter", "map_partitions", "combine"};

/* The use an operation makes of its function. */
static fn_use op_use(Kiln__OpKind k)
{
    if (k == KILN__OP_KIND__OP_FILTER) return USE_FILTER;
    if (k == KILN__OP_KIND__OP_MAP_PARTITIONS) return USE_PARTITIONS;
    return USE_MAP; /* map and flat_map share kiln_map_fn */
}

/*
 * Finds fn for a call of the given use. A built-in must be of the kind the
 * call site expects: calling kiln_words through a kiln_partition_fn
 * pointer, say, would pass it the wrong arguments (found by
 * fuzz/fuzz_task.c). An application's symbol cannot be checked: its type
 * is the application's promise, as in any dlsym.
 */
static void *resolve(void *lib, const Kiln__FnRef *fn, fn_use use, char *err, size_t errlen)
{
    if (!fn || !fn->symbol || !*fn->symbol) {
        errf(err, errlen, "stage names no function");
        return NULL;
    }
    if (fn->builtin) {
        const rt_builtin *b = rt_builtin_by_name(fn->symbol);
        if (!b) b = py_builtin_by_name(fn->symbol);
        if (!b) {
            errf(err, errlen, "'%s' is not a kiln built-in", fn->symbol);
            return NULL;
        }
        static const fn_use kind_use[] = {
            [RT_FN_MAP] = USE_MAP, [RT_FN_COMBINE] = USE_COMBINE, [RT_FN_PARTITIONS] = USE_PARTITIONS};
        static const char *const kind_names[] = {"map", "combine", "map_partitions"};
        if (kind_use[b->kind] != use) {
            errf(err, errlen, "built-in '%s' is a %s function, not a %s function", fn->symbol, kind_names[b->kind],
                 use_names[use]);
            return NULL;
        }
        return b->fn;
    }
    dlerror();
    void *sym = lib ? dlsym(lib, fn->symbol) : NULL;
    if (!sym) errf(err, errlen, "function '%s' is not exported by the application's library", fn->symbol);
    return sym;
}

/* Resolves fn into o (function, env, name). 0, or -1 with a message. */
static int resolve_rop(stage_prog *p, void *lib, const Kiln__FnRef *fn, fn_use use, ProtobufCBinaryData env, rop *o,
                       char *err, size_t errlen)
{
    o->fn = resolve(lib, fn, use, err, errlen);
    if (!o->fn) return -1;
    o->env = KILN_SLICE(env.data, env.len);
    return (o->name_index = add_name(p, fn->symbol, err, errlen)) < 0 ? -1 : 0;
}

stage_prog *stage_prog_new(const uint8_t *bytes, size_t n, void *lib, char *err, size_t errlen)
{
    Kiln__StageFunc *sf = kiln__stage_func__unpack(NULL, n, bytes);
    if (!sf) {
        errf(err, errlen, "stage function of %zu bytes does not decode", n);
        return NULL;
    }
    stage_prog *p = xcalloc(1, sizeof *p);
    p->sf = sf;
    p->npipes = sf->n_pipelines;
    p->pipes = xcalloc(p->npipes, sizeof *p->pipes);
    for (size_t i = 0; i < p->npipes; i++) {
        Kiln__Pipeline *pl = sf->pipelines[i];
        rpipeline *rp = &p->pipes[i];
        rp->source = pl->source;
        rp->nops = pl->n_ops;
        rp->ops = xcalloc(rp->nops, sizeof *rp->ops);
        rp->read = pl->read;
        rp->cache_node = pl->cache_node;
        rp->read_combine.name_index = -1;
        if (pl->source == KILN__NODE_KIND__NODE_SHUFFLE_READ) {
            if (!pl->read) {
                errf(err, errlen, "pipeline %zu reads a shuffle but says not how", i);
                goto fail;
            }
            if (pl->read->kind == KILN__SHUFFLE_KIND__SHUFFLE_REDUCE &&
                resolve_rop(p, lib, pl->read->combine, USE_COMBINE, pl->read->env, &rp->read_combine, err, errlen) < 0)
                goto fail;
        }
        for (size_t j = 0; j < rp->nops; j++) {
            Kiln__Op *op = pl->ops[j];
            rop *o = &rp->ops[j];
            o->kind = op->kind;
            o->node = op->node;
            o->part_offset = op->part_offset;
            if (op->kind == KILN__OP_KIND__OP_CACHE) {
                o->name_index = -1;
                continue;
            }
            if (resolve_rop(p, lib, op->fn, op_use(op->kind), op->env, o, err, errlen) < 0) goto fail;
        }
    }
    if (!sf->output) {
        errf(err, errlen, "stage function has no output");
        goto fail;
    }
    if (sf->output->kind == KILN__ACTION_KIND__ACTION_REDUCE) {
        p->combine_fn = resolve(lib, sf->output->fn, USE_COMBINE, err, errlen);
        if (!p->combine_fn) goto fail;
        p->combine_env = KILN_SLICE(sf->output->env.data, sf->output->env.len);
        if ((p->combine_name = add_name(p, sf->output->fn->symbol, err, errlen)) < 0) goto fail;
    }
    p->write_combine.name_index = -1;
    if (sf->output->kind == KILN__ACTION_KIND__ACTION_SHUFFLE_WRITE) {
        const Kiln__ShuffleWrite *w = sf->output->shuffle;
        if (!w || w->partitions == 0) {
            errf(err, errlen, "shuffle write without partitions");
            goto fail;
        }
        if (w->kind == KILN__SHUFFLE_KIND__SHUFFLE_REDUCE &&
            resolve_rop(p, lib, w->combine, USE_COMBINE, w->env, &p->write_combine, err, errlen) < 0)
            goto fail;
    }
    return p;
fail:
    stage_prog_free(p);
    return NULL;
}

void stage_prog_free(stage_prog *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->npipes; i++)
        free(p->pipes[i].ops);
    free(p->pipes);
    if (p->sf) kiln__stage_func__free_unpacked(p->sf, NULL);
    free(p);
}

/* ---- the running task -------------------------------------------------- */

int run_fail(run *r, const char *fmt, ...)
{
    if (r->failed) return -1;
    r->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->res->error, sizeof r->res->error, fmt, ap);
    va_end(ap);
    return -1;
}

/* The task's counter called name, made on first use. */
static counter *counter_get(run *r, const char *name)
{
    for (size_t i = 0; i < r->ncounters; i++)
        if (r->counters[i].name == name || !strcmp(r->counters[i].name, name)) return &r->counters[i];
    if (r->ncounters == r->capcounters) {
        r->capcounters = r->capcounters ? 2 * r->capcounters : 8;
        r->counters = xrealloc(r->counters, r->capcounters * sizeof *r->counters);
    }
    counter *c = &r->counters[r->ncounters++];
    c->name = xstrdup(name);
    c->value = 0;
    c->real = 0;
    c->term = NULL;
    c->term_len = 0;
    c->has_term = 0;
    return c;
}

static void hook_counter_add(void *arg, const char *name, int64_t delta)
{
    counter_get(arg, name)->value += delta;
}

static void hook_counter_add_real(void *arg, const char *name, double delta)
{
    counter_get(arg, name)->real += delta;
}

static void hook_counter_set_term(void *arg, const char *name, const void *p, size_t n)
{
    counter *c = counter_get(arg, name);
    free(c->term);
    c->term = xmalloc(n ? n : 1);
    if (n) memcpy(c->term, p, n);
    c->term_len = n;
    c->has_term = 1;
}

static int hook_counter_has_term(void *arg, const char *name)
{
    run *r = arg;
    for (size_t i = 0; i < r->ncounters; i++)
        if (!strcmp(r->counters[i].name, name)) return r->counters[i].has_term;
    return 0;
}

static void hook_fail(void *arg, const char *msg)
{
    run *r = arg;
    if (!r->fail_called) snprintf(r->fail_msg, sizeof r->fail_msg, "%s", msg);
    r->fail_called = 1;
}

static kiln_slice hook_bcast(void *arg, kiln_bcast b)
{
    run *r = arg;
    return r->sink->bcast ? r->sink->bcast(r->sink->arg, b) : KILN_NONE;
}

/* A built-in that runs another language's function names it, so errors and
 * a crash's blame say the user's function rather than the built-in's. */
static void hook_set_name(void *arg, const char *name)
{
    run *r = arg;
    int i = r->st->current;
    if (i < 0 || i >= r->p->nnames) return;
    snprintf(r->p->names[i], sizeof r->p->names[i], "%s", name);
    snprintf(r->st->names[i], sizeof r->st->names[i], "%s", name);
}

static int hook_barrier(void *arg, kiln_slice msg, const kiln_slice **msgs, size_t *n, char *err, size_t errlen)
{
    run *r = arg;
    if (!r->sink->barrier) {
        snprintf(err, errlen, "this executor cannot reach the driver for barrier()");
        return -1;
    }
    return r->sink->barrier(r->sink->arg, msg, msgs, n, err, errlen);
}

static int hook_stopped(void *arg)
{
    run *r = arg;
    return r->stop || r->failed;
}

static void hook_fail_fatal(void *arg)
{
    run *r = arg;
    r->res->fatal = 1;
}

/* After a user call: fold kiln_fail and a non-zero return into the task's
 * failure. Returns 0 to go on, -1 to stop. */
int after_call(run *r, int idx, int rc)
{
    if (r->fail_called) {
        r->fail_called = 0;
        return run_fail(r, "%s: %s", r->p->names[idx], r->fail_msg);
    }
    if (r->failed) return -1;
    if (rc != 0) return run_fail(r, "function '%s' returned %d", r->p->names[idx], rc);
    return 0;
}

/* ---- sinks ------------------------------------------------------------- */

static int flush_block(run *r)
{
    if (block_builder_size(&r->bb) == 0 && r->bb.nrec == 0) return 0;
    uint8_t *blk;
    size_t n;
    if (block_builder_seal(&r->bb, &blk, &n) < 0) return run_fail(r, "out of memory sealing a result block");
    int rc = r->sink->block(r->sink->arg, blk, n);
    free(blk);
    if (rc < 0) return run_fail(r, "cannot send results: %s", strerror(errno));
    return 0;
}

/* Writes n bytes of text to the part file, through its deflate stream
 * for a gzip part; finish ends the stream (its trailer written). */
static int save_write(run *r, const uint8_t *p, size_t n, int finish)
{
    if (!r->save_z) {
        if (n && write_all(r->save_fd, p, n) < 0)
            return run_fail(r, "cannot write %s: %s", r->save_tmp, strerror(errno));
        return 0;
    }
    z_stream *z = r->save_z;
    uint8_t out[64 << 10];
    do {
        uInt chunk = n > (1u << 30) ? 1u << 30 : (uInt)n;
        z->next_in = (Bytef *)p;
        z->avail_in = chunk;
        p += chunk;
        n -= chunk;
        int flush = finish && n == 0 ? Z_FINISH : Z_NO_FLUSH, zr;
        do {
            z->next_out = out;
            z->avail_out = sizeof out;
            zr = deflate(z, flush);
            if (zr == Z_STREAM_ERROR) return run_fail(r, "cannot compress %s: %s", r->save_tmp, z->msg ? z->msg : "");
            size_t have = sizeof out - z->avail_out;
            if (have && write_all(r->save_fd, out, have) < 0)
                return run_fail(r, "cannot write %s: %s", r->save_tmp, strerror(errno));
        } while (z->avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
    } while (n);
    return 0;
}

static int save_flush(run *r)
{
    if (save_write(r, r->save_buf, r->save_len, 0) < 0) return -1;
    r->save_len = 0;
    return 0;
}

static int save_put(run *r, const void *p, size_t n)
{
    if (r->save_len + n > SAVE_BUF_BYTES) {
        if (save_flush(r) < 0) return -1;
        if (n > SAVE_BUF_BYTES) return save_write(r, p, n, 0);
    }
    if (n) memcpy(r->save_buf + r->save_len, p, n); /* an empty line's slice may be (NULL, 0) */
    r->save_len += n;
    return 0;
}

static int sink_emit(kiln_out *self, kiln_slice key, kiln_slice val);

static int sink_emit(kiln_out *self, kiln_slice key, kiln_slice val)
{
    run *r = ((chain *)self)->r;
    if (r->failed) return -1;
    if (r->stop) return 0;
    r->res->records_out++;
    switch (r->kind) {
    case KILN__ACTION_KIND__ACTION_COUNT:
        r->res->count++;
        return 0;
    case KILN__ACTION_KIND__ACTION_TAKE:
        if (r->res->records_out >= r->take) r->stop = 1;
        /* fall through */
    case KILN__ACTION_KIND__ACTION_COLLECT:
        if (block_builder_add(&r->bb, key, val) < 0) {
            if (errno != EFBIG) return run_fail(r, "out of memory buffering results");
            char sz[32], lim[32];
            fmt_size(key.len + val.len, sz, sizeof sz);
            fmt_size(BLOCK_MAX_RAW, lim, sizeof lim);
            return run_fail(r,
                            "a result record of %s (key %zu bytes, value %zu bytes) is over the %s one record may "
                            "take back to the driver (driver.max_result_size bounds a whole result); return "
                            "smaller records, or write it with save_text",
                            sz, key.len, val.len, lim);
        }
        if (block_builder_size(&r->bb) >= RESULT_BLOCK_BYTES) return flush_block(r);
        return 0;
    case KILN__ACTION_KIND__ACTION_REDUCE: {
        if (!r->have_acc) {
            r->have_acc = 1;
            if (kiln_buf_set(&r->acc, val.ptr, val.len) < 0) return run_fail(r, "out of memory in reduce");
            return 0;
        }
        int idx = r->p->combine_name, prev = r->st->current;
        r->st->current = idx;
        kiln_combine_fn *fn = (kiln_combine_fn *)r->p->combine_fn;
        int rc = fn(KILN_SLICE(r->acc.p, r->acc.len), val, &r->tmp, r->p->combine_env);
        r->st->current = prev;
        if (after_call(r, idx, rc) < 0) return -1;
        kiln_buf swap = r->acc;
        r->acc = r->tmp;
        r->tmp = swap;
        return 0;
    }
    case KILN__ACTION_KIND__ACTION_SHUFFLE_WRITE:
        return shuffle_sink_emit(r, key, val);
    case KILN__ACTION_KIND__ACTION_SAMPLE:
        return sample_sink_emit(r, key, val);
    case KILN__ACTION_KIND__ACTION_SAVE_TEXT:
        if (key.len) {
            if (save_put(r, key.ptr, key.len) < 0 || save_put(r, "\t", 1) < 0) return -1;
        }
        if (save_put(r, val.ptr, val.len) < 0 || save_put(r, "\n", 1) < 0) return -1;
        return 0;
    default:
        return run_fail(r, "unknown action %d", r->kind);
    }
}

static int sink_open(run *r)
{
    const Kiln__Action *a = r->p->sf->output;
    r->kind = a->kind;
    r->take = a->take;
    block_builder_init(&r->bb);
    r->save_fd = -1;
    if (r->kind == KILN__ACTION_KIND__ACTION_TAKE && r->take == 0) r->stop = 1;
    if (r->kind == KILN__ACTION_KIND__ACTION_SHUFFLE_WRITE) return shuffle_sink_open(r);
    if (r->kind == KILN__ACTION_KIND__ACTION_SAMPLE) return sample_sink_open(r);
    if (r->kind != KILN__ACTION_KIND__ACTION_SAVE_TEXT) return 0;
    /* the client made DIR/_temporary/APP and commits the winning attempt's
     * file; a task never creates a directory (a late attempt of a failed
     * job would leave it behind, or write into another application's DIR)
     * nor renames into DIR (a failed job shows no part) */
    r->save_tmp = commit_temp_path(a->dir, r->t->app_id, r->t->input->partition, r->t->task_id, r->t->attempt);
    r->save_fd = open(r->save_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (r->save_fd < 0) {
        int e = errno;
        char hint[256];
        path_access_hint(r->save_tmp, e, hint, sizeof hint);
        return run_fail(r, "cannot create %s: %s%s%s", r->save_tmp, strerror(e),
                        e == ENOENT ? " (the job's output directory is gone, or not visible to this worker)" : "",
                        hint);
    }
    r->save_buf = xmalloc(SAVE_BUF_BYTES);
    if (a->codec && *a->codec) {
        if (strcmp(a->codec, "gzip")) return run_fail(r, "save_text: unknown codec '%s' (kiln writes gzip)", a->codec);
        r->save_z = xcalloc(1, sizeof *r->save_z);
        if (deflateInit2(r->save_z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(r->save_z);
            r->save_z = NULL;
            return run_fail(r, "save_text: cannot start gzip: out of memory");
        }
    }
    return 0;
}

/* Finishes the output: last block, reduced value, synced part file (the
 * client commits it). */
static int sink_close(run *r)
{
    int rc = 0;
    if (r->kind == KILN__ACTION_KIND__ACTION_SHUFFLE_WRITE) rc = shuffle_sink_close(r);
    if (r->kind == KILN__ACTION_KIND__ACTION_SAMPLE) rc = sample_sink_close(r);
    if (!r->failed) {
        switch (r->kind) {
        case KILN__ACTION_KIND__ACTION_COLLECT:
        case KILN__ACTION_KIND__ACTION_TAKE:
            rc = flush_block(r);
            break;
        case KILN__ACTION_KIND__ACTION_REDUCE:
            if (r->have_acc) {
                if (block_builder_add(&r->bb, KILN_NONE, KILN_SLICE(r->acc.p, r->acc.len)) < 0)
                    rc = run_fail(r, "out of memory in reduce");
                else
                    rc = flush_block(r);
            }
            break;
        case KILN__ACTION_KIND__ACTION_SAVE_TEXT:
            rc = save_flush(r);
            if (rc == 0 && r->save_z) rc = save_write(r, NULL, 0, 1);
            if (rc == 0 && fsync(r->save_fd) < 0) rc = run_fail(r, "cannot sync %s: %s", r->save_tmp, strerror(errno));
            break;
        default:
            break;
        }
    }
    if (r->save_z) {
        deflateEnd(r->save_z);
        free(r->save_z);
        r->save_z = NULL;
    }
    if (r->save_fd >= 0) close(r->save_fd);
    if (r->failed && r->save_tmp) unlink(r->save_tmp);
    free(r->save_tmp);
    free(r->save_buf);
    block_builder_release(&r->bb);
    kiln_buf_release(&r->acc);
    kiln_buf_release(&r->tmp);
    return r->failed ? -1 : rc;
}

/* ---- operation nodes ---------------------------------------------------- */

static int counted_emit(kiln_out *self, kiln_slice key, kiln_slice val)
{
    chain *c = (chain *)((char *)self - offsetof(chain, counted));
    if (++c->emitted > 1)
        return run_fail(c->r,
                        "map function '%s' emitted more than one record; map must emit exactly one (use flat_map)",
                        c->r->p->names[c->op->name_index]);
    return c->next->emit(c->next, key, val);
}

/* GCC copies the by-value record argument through a stack temporary with
 * 8-byte stores and 16-byte loads, a store-forwarding stall on every
 * record; without vector registers it pushes the four words directly. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12
#define SCALAR_ARGS __attribute__((target("general-regs-only")))
#else
#define SCALAR_ARGS
#endif

SCALAR_ARGS static int op_emit(kiln_out *self, kiln_slice key, kiln_slice val)
{
    chain *c = (chain *)self;
    run *r = c->r;
    if (r->failed) return -1;
    rop *op = c->op;
    kiln_rec rec = {key, val};
    int prev = r->st->current, rc;
    r->st->current = op->name_index;
    switch (op->kind) {
    case KILN__OP_KIND__OP_FILTER: {
        bool keep = ((kiln_filter_fn *)op->fn)(rec, op->env);
        r->st->current = prev;
        if (after_call(r, op->name_index, 0) < 0) return -1;
        return keep ? c->next->emit(c->next, key, val) : 0;
    }
    case KILN__OP_KIND__OP_MAP:
        c->emitted = 0;
        rc = ((kiln_map_fn *)op->fn)(rec, &c->counted, op->env);
        r->st->current = prev;
        if (after_call(r, op->name_index, rc) < 0) return -1;
        if (c->emitted != 1)
            return run_fail(r,
                            "map function '%s' emitted no record; map must emit exactly one (use flat_map or filter)",
                            r->p->names[op->name_index]);
        return 0;
    case KILN__OP_KIND__OP_FLAT_MAP:
        rc = ((kiln_map_fn *)op->fn)(rec, c->next, op->env);
        r->st->current = prev;
        return after_call(r, op->name_index, rc);
    case KILN__OP_KIND__OP_CACHE:
        r->st->current = prev;
        if (cache_writer_add(r, c->cw, key, val) < 0) return -1;
        return c->next->emit(c->next, key, val);
    default:
        r->st->current = prev;
        return run_fail(r, "operation %d cannot be pushed", op->kind);
    }
}

/* Builds nodes for ops[from, to) ending in `last`; returns the head. */
static kiln_out *chain_build(run *r, rop *ops, size_t from, size_t to, kiln_out *last, chain *nodes)
{
    kiln_out *next = last;
    for (size_t i = to; i-- > from;) {
        chain *c = &nodes[i];
        c->base.emit = op_emit;
        c->r = r;
        c->op = &ops[i];
        c->next = next;
        c->counted.emit = counted_emit;
        c->cw = ops[i].kind == KILN__OP_KIND__OP_CACHE ? cache_writer_open(r, &ops[i]) : NULL;
        next = &c->base;
    }
    return next;
}

/* ---- sources and queues -------------------------------------------------- */

static int src_text_next(src *s, kiln_rec *rec)
{
    const char *line;
    size_t len;
    char err[512];
    int rc = line_reader_next(&s->lr, &line, &len, err, sizeof err);
    if (rc < 0) return run_fail(s->r, "%s", err);
    if (rc == 0) return 0;
    rec->key = KILN_SLICE("", 0);
    rec->val = KILN_SLICE(line, len);
    return 1;
}

static int src_block_next(src *s, kiln_rec *rec)
{
    if (!s->br_open) return 0;
    char err[256];
    int rc = block_reader_next(&s->br, rec, err, sizeof err);
    if (rc < 0) return run_fail(s->r, "input block: %s", err);
    return rc;
}

static int src_range_next(src *s, kiln_rec *rec)
{
    if (s->cur >= s->end) return 0;
    uint64_t u = (uint64_t)s->cur++;
    for (int i = 0; i < 8; i++)
        s->i64[i] = (uint8_t)(u >> (8 * i));
    rec->key = KILN_SLICE("", 0);
    rec->val = KILN_SLICE(s->i64, 8);
    return 1;
}

static int src_open(run *r, src *s, const rpipeline *pl, const Kiln__TaskInput *in)
{
    memset(s, 0, sizeof *s);
    s->r = r;
    s->fd = -1;
    char err[512];
    Kiln__NodeKind kind = pl->source;
    switch (kind) {
    case KILN__NODE_KIND__NODE_CACHED:
        return cached_source_open(r, s, pl, in);
    case KILN__NODE_KIND__NODE_TEXT_FILE:
        if (!in->split) return run_fail(r, "text task without a split");
        if (line_reader_open(&s->lr, in->split->path, in->split->start, in->split->end, err, sizeof err) < 0)
            return run_fail(r, "%s", err);
        s->lr_open = 1;
        s->next = src_text_next;
        return 0;
    case KILN__NODE_KIND__NODE_PARALLELIZE:
        s->next = src_block_next;
        if (in->block.len == 0) return 0;
        if (block_reader_open(&s->br, in->block.data, in->block.len, err, sizeof err) < 0)
            return run_fail(r, "input block: %s", err);
        s->br_open = 1;
        return 0;
    case KILN__NODE_KIND__NODE_RANGE:
        s->cur = in->range_start;
        s->end = in->range_end;
        s->next = src_range_next;
        return 0;
    default:
        return run_fail(r, "source kind %d cannot be read by a narrow stage", kind);
    }
}

static void src_close(src *s)
{
    cached_source_close(s);
    if (s->lr_open) line_reader_close(&s->lr);
    if (s->br_open) block_reader_close(&s->br);
}

/*
 * A queue of records in one arena: collects pushed records, then yields
 * them. A lazy queue (upstream set) holds what one upstream record made; a
 * materialising one holds a whole partition (the reduced records before a
 * map_partitions, or a map_partitions' output before the next) and past
 * half of task.memory moves what it holds into record blocks in an unnamed
 * temporary file, read back first and in order.
 */
struct recq;
static int recq_emit(kiln_out *self, kiln_slice key, kiln_slice val);
static bool recq_next(kiln_iter *self, kiln_rec *rec);

typedef struct recq {
    kiln_out base;  /* collecting end */
    kiln_iter iter; /* reading end */
    run *r;
    uint8_t *buf;
    size_t len, cap, pos;
    /* lazy mode: refill from upstream when drained */
    src *upstream;
    int counts_input; /* upstream is the pipeline's own source: count its records as read */
    kiln_out *head;   /* chain that ends in this queue */
    /* materialising mode: spilling */
    size_t budget; /* 0: never spills */
    int spill_fd;  /* -1 until the first spill, and after reading it back */
    int draining;  /* reading the spill file */
    block_builder bb;
    uint8_t *fbuf; /* one block read back */
    size_t fcap;
    block_reader br;
    int br_open;
} recq;

static recq *recq_new(run *r, size_t budget)
{
    recq *q = xcalloc(1, sizeof *q);
    q->base.emit = recq_emit;
    q->iter.next = recq_next;
    q->r = r;
    q->budget = budget;
    q->spill_fd = -1;
    block_builder_init(&q->bb);
    return q;
}

static void recq_free(recq *q)
{
    if (!q) return;
    if (q->spill_fd >= 0) close(q->spill_fd);
    if (q->br_open) block_reader_close(&q->br);
    block_builder_release(&q->bb);
    free(q->fbuf);
    free(q->buf);
    free(q);
}

/* Seals the builder's records and appends the block to the spill file. */
static int recq_seal(recq *q)
{
    if (q->bb.nrec == 0) return 0;
    uint8_t *blk;
    size_t n;
    if (block_builder_seal(&q->bb, &blk, &n) < 0) return run_fail(q->r, "out of memory spilling records");
    int rc = write_all(q->spill_fd, blk, n);
    free(blk);
    if (rc < 0) return run_fail(q->r, "cannot write a spill file: %s", strerror(errno));
    q->r->res->spill_bytes += n;
    return 0;
}

/* Moves every record held in memory to the spill file, as blocks. */
static int recq_spill(recq *q)
{
    if (q->spill_fd < 0) {
        /* the application's tmp dir: the file has no name, so nothing is left behind */
        char *dir = xasprintf("%s/%s/tmp", q->r->t->work_dir, q->r->t->app_id), err[256];
        if (mkdir_p(dir, 0755, err, sizeof err) < 0) {
            free(dir);
            return run_fail(q->r, "%s", err);
        }
        q->spill_fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (q->spill_fd < 0) {
            char *path = xasprintf("%s/queue-XXXXXX", dir);
            q->spill_fd = mkstemp(path);
            if (q->spill_fd >= 0) unlink(path);
            free(path);
        }
        int e = errno;
        free(dir);
        if (q->spill_fd < 0) return run_fail(q->r, "cannot create a spill file: %s", strerror(e));
    }
    for (size_t pos = 0; pos < q->len;) {
        uint64_t kl, vl;
        memcpy(&kl, q->buf + pos, 8);
        memcpy(&vl, q->buf + pos + 8, 8);
        /* blocks of about 1 MiB; a bigger record gets a block of its own */
        if (block_builder_size(&q->bb) + kl + vl > (1u << 20) && recq_seal(q) < 0) return -1;
        if (block_builder_add(&q->bb, KILN_SLICE(q->buf + pos + 16, kl), KILN_SLICE(q->buf + pos + 16 + kl, vl)) < 0)
            return run_fail(q->r, "cannot spill a record of %llu bytes: %s", (unsigned long long)(kl + vl),
                            errno == EFBIG ? "larger than a block may be" : "out of memory");
        pos += 16 + kl + vl;
    }
    if (recq_seal(q) < 0) return -1;
    q->len = 0;
    q->r->res->spills++;
    return 0;
}

static int recq_emit(kiln_out *self, kiln_slice key, kiln_slice val)
{
    recq *q = (recq *)self;
    size_t need = 16 + key.len + val.len;
    if (q->budget && q->len > 0 && q->len + need > q->budget && recq_spill(q) < 0) return -1;
    if (q->len + need > q->cap) {
        size_t cap = q->cap ? q->cap : 65536;
        while (cap < q->len + need)
            cap *= 2;
        uint8_t *nb = realloc(q->buf, cap);
        if (!nb) return run_fail(q->r, "out of memory buffering records for map_partitions");
        q->buf = nb;
        q->cap = cap;
    }
    uint64_t kl = key.len, vl = val.len;
    memcpy(q->buf + q->len, &kl, 8);
    memcpy(q->buf + q->len + 8, &vl, 8);
    if (kl) memcpy(q->buf + q->len + 16, key.ptr, kl);
    if (vl) memcpy(q->buf + q->len + 16 + kl, val.ptr, vl);
    q->len += need;
    return 0;
}

/* The next record of the spill file: 1, 0 when it is read to its end
 * (the file is closed), -1 after run_fail. */
static int recq_drain_next(recq *q, kiln_rec *rec)
{
    char err[256];
    if (!q->draining) {
        if (lseek(q->spill_fd, 0, SEEK_SET) < 0) return run_fail(q->r, "spill file: %s", strerror(errno));
        q->draining = 1;
    }
    for (;;) {
        if (q->br_open) {
            int st = block_reader_next(&q->br, rec, err, sizeof err);
            if (st != 0) return st > 0 ? 1 : run_fail(q->r, "spill file: %s", err);
            block_reader_close(&q->br);
            q->br_open = 0;
        }
        size_t n;
        int st = block_read_fd(q->spill_fd, &q->fbuf, &q->fcap, &n, err, sizeof err);
        if (st < 0) return run_fail(q->r, "%s", err);
        if (st == 0) {
            close(q->spill_fd);
            q->spill_fd = -1;
            q->draining = 0;
            return 0;
        }
        if (block_reader_open(&q->br, q->fbuf, n, err, sizeof err) < 0) return run_fail(q->r, "spill file: %s", err);
        q->br_open = 1;
    }
}

static bool recq_next(kiln_iter *self, kiln_rec *rec)
{
    recq *q = (recq *)((char *)self - offsetof(recq, iter));
    if (q->spill_fd >= 0) { /* what was spilled comes first: it was pushed first */
        int st = recq_drain_next(q, rec);
        if (st > 0) return true;
        if (st < 0) return false;
    }
    while (q->pos >= q->len) {
        if (!q->upstream || q->r->failed || q->r->stop) return false;
        q->len = q->pos = 0;
        kiln_rec in;
        int rc = q->upstream->next(q->upstream, &in);
        if (rc <= 0) {
            q->upstream = NULL;
            return false;
        }
        if (q->counts_input) q->r->res->records_in++;
        if (q->head->emit(q->head, in.key, in.val) < 0) return false;
    }
    uint64_t kl, vl;
    memcpy(&kl, q->buf + q->pos, 8);
    memcpy(&vl, q->buf + q->pos + 8, 8);
    rec->key = KILN_SLICE(q->buf + q->pos + 16, kl);
    rec->val = KILN_SLICE(q->buf + q->pos + 16 + kl, vl);
    q->pos += 16 + kl + vl;
    return true;
}

static int src_queue_next(src *s, kiln_rec *rec)
{
    return recq_next(&s->queue->iter, rec) ? 1 : (s->r->failed ? -1 : 0);
}

/* ---- the pipeline -------------------------------------------------------- */

static int run_pipeline(run *r, rpipeline *pl, const Kiln__TaskInput *in)
{
    chain nodes[TASK_MAX_OPS];
    chain sink = {.base = {sink_emit}, .r = r};
    memset(nodes, 0, sizeof nodes);
    if (pl->nops > TASK_MAX_OPS) return run_fail(r, "too many operations in one stage");

    recq *queues[2 * TASK_MAX_OPS + 1];
    src qsrcs[2 * TASK_MAX_OPS + 1];
    int nq = 0;
    size_t from = 0;
    int rc = 0, done = 0;
    src first;
    if (pl->source == KILN__NODE_KIND__NODE_SHUFFLE_READ) {
        int has_mp = 0;
        for (size_t k = 0; k < pl->nops; k++)
            has_mp |= pl->ops[k].kind == KILN__OP_KIND__OP_MAP_PARTITIONS;
        if (!has_mp) { /* the reduce side pushes straight through the chain */
            kiln_out *head = chain_build(r, pl->ops, 0, pl->nops, &sink.base, nodes);
            if (!r->failed) shuffle_source_push(r, pl, in, head);
            return r->failed ? -1 : 0;
        }
        /* map_partitions pulls: collect the reduced partition first (spilling past half of task.memory) */
        recq *mat = recq_new(r, task_memory(r) / 2);
        queues[nq++] = mat;
        shuffle_source_push(r, pl, in, &mat->base);
        memset(&first, 0, sizeof first);
        first.r = r;
        first.fd = -1;
        first.next = src_queue_next;
        first.queue = mat;
    } else if (src_open(r, &first, pl, in) < 0) {
        src_close(&first);
        return -1;
    }
    src *input = &first;

    for (size_t m = 0; m < pl->nops && rc == 0; m++) {
        if (pl->ops[m].kind != KILN__OP_KIND__OP_MAP_PARTITIONS) continue;
        /* ops[from, m) run lazily behind an iterator feeding map_partitions m */
        recq *q = recq_new(r, 0);
        queues[nq] = q;
        q->upstream = input;
        /* a text file, blocks or a range read through map_partitions are
         * the stage's input (a shuffle's records were counted as they came) */
        q->counts_input = input == &first && pl->source != KILN__NODE_KIND__NODE_SHUFFLE_READ;
        q->head = chain_build(r, pl->ops, from, m, &q->base, nodes);
        int last = 1;
        for (size_t k = m + 1; k < pl->nops; k++)
            if (pl->ops[k].kind == KILN__OP_KIND__OP_MAP_PARTITIONS) last = 0;
        rop *op = &pl->ops[m];
        kiln_out *out;
        recq *mat = NULL;
        if (last) {
            out = chain_build(r, pl->ops, m + 1, pl->nops, &sink.base, nodes);
        } else {
            mat = recq_new(r, task_memory(r) / 2);
            out = &mat->base;
        }
        int prev = r->st->current;
        r->st->current = op->name_index;
        int urc = ((kiln_partition_fn *)op->fn)(&q->iter, out, op->env);
        r->st->current = prev;
        rc = after_call(r, op->name_index, urc);
        nq++;
        if (last) {
            done = 1;
            break;
        }
        /* the materialised output becomes the next input */
        queues[nq] = mat;
        memset(&qsrcs[nq], 0, sizeof qsrcs[nq]);
        qsrcs[nq].fd = -1;
        qsrcs[nq].r = r;
        qsrcs[nq].next = src_queue_next;
        qsrcs[nq].queue = mat;
        input = &qsrcs[nq];
        nq++;
        from = m + 1;
    }
    if (rc == 0 && !done && !r->failed) {
        kiln_out *head = chain_build(r, pl->ops, from, pl->nops, &sink.base, nodes);
        kiln_rec rec;
        while (!r->stop && input->next(input, &rec) > 0) {
            r->res->records_in++;
            if (head->emit(head, rec.key, rec.val) < 0) break;
        }
    }
    for (int i = 0; i < nq; i++)
        recq_free(queues[i]);
    src_close(&first);
    return r->failed ? -1 : 0;
}

int task_run(stage_prog *p, const Kiln__TaskLaunch *t, const task_sink *sink, exec_status *status, task_result *res)
{
    memset(res, 0, sizeof *res);
    run r = {.p = p, .t = t, .sink = sink, .res = res};
    r.st = status ? status : &r.dummy;
    r.st->current = -1;
    rt_hooks hooks = {.arg = &r,
                      .counter_add = hook_counter_add,
                      .counter_add_real = hook_counter_add_real,
                      .counter_set_term = hook_counter_set_term,
                      .counter_has_term = hook_counter_has_term,
                      .fail = hook_fail,
                      .bcast_value = hook_bcast,
                      .set_name = hook_set_name,
                      .fail_fatal = hook_fail_fatal,
                      .stopped = hook_stopped,
                      .barrier = hook_barrier,
                      .partition = t->input ? t->input->partition : 0,
                      .stage_id = t->stage_id,
                      .attempt = t->attempt,
                      .task_id = t->task_id,
                      .app_dir = sink->app_dir,
                      .cache_dir = sink->cache_dir};
    rt_set_hooks(&hooks);

    const Kiln__TaskInput *in = t->input;
    if (in->pipeline >= p->npipes) {
        run_fail(&r, "task names pipeline %u of %zu", in->pipeline, p->npipes);
    } else if (sink_open(&r) == 0) {
        run_pipeline(&r, &p->pipes[in->pipeline], in);
        sink_close(&r);
    }
    cache_writers_close(&r, !r.failed);
    rt_set_hooks(NULL);
    r.st->current = -1;

    res->ncounters = r.ncounters;
    res->counters = xcalloc(r.ncounters, sizeof *res->counters);
    for (size_t i = 0; i < r.ncounters; i++) {
        Kiln__Counter *c = xmalloc(sizeof *c);
        kiln__counter__init(c);
        c->name = r.counters[i].name;
        c->value = r.counters[i].value;
        c->real = r.counters[i].real;
        if (r.counters[i].has_term) { /* the term's bytes go with the message */
            c->n_terms = 1;
            c->terms = xmalloc(sizeof *c->terms);
            c->terms[0].data = r.counters[i].term;
            c->terms[0].len = r.counters[i].term_len;
        }
        res->counters[i] = c;
    }
    free(r.counters);
    return r.failed ? -1 : 0;
}

void task_result_release(task_result *res)
{
    for (size_t i = 0; i < res->ncounters; i++) {
        free(res->counters[i]->name);
        for (size_t k = 0; k < res->counters[i]->n_terms; k++)
            free(res->counters[i]->terms[k].data);
        free(res->counters[i]->terms);
        free(res->counters[i]);
    }
    free(res->counters);
    res->counters = NULL;
    res->ncounters = 0;
    free(res->partition_sizes);
    res->partition_sizes = NULL;
    res->npartition_sizes = 0;
    free(res->cached_nodes);
    free(res->cached_parts);
    res->cached_nodes = res->cached_parts = NULL;
    res->ncached = 0;
}
