/*
 * api.c - the public API of include/kiln.h on the client side: datasets as
 * lineage nodes, user functions resolved to exported symbols with dladdr,
 * and actions that run one job each through session.c.
 *
 * A function pointer is accepted when it is a kiln built-in, or when
 * dladdr places it exactly on an exported symbol of the application's own
 * shared object; anything else (a static function, a function of another
 * library) is refused at the call with a message that names the fix.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block.h"
#include "client.h"
#include "commit.h"
#include "runtime.h"
#include "util.h"

/* ---- datasets ---------------------------------------------------------------- */

static kiln_rdd *rdd_new(kiln_ctx *ctx, Kiln__NodeKind kind)
{
    kiln_rdd *r = xcalloc(1, sizeof *r);
    r->ctx = ctx;
    r->kind = kind;
    r->id = (uint32_t)ctx->nrdds + 1;
    ctx->rdds = xrealloc(ctx->rdds, (ctx->nrdds + 1) * sizeof *ctx->rdds);
    ctx->rdds[ctx->nrdds++] = r;
    return r;
}

/* Resolves fn to the name workers will dlsym. 0, or -1 with ctx->err. */
static int resolve_fn(kiln_ctx *ctx, const char *api, const void *fn, char **symbol, int *builtin)
{
    if (!fn) return client_fail(ctx, "%s: the function is NULL", api);
    const rt_builtin *b = rt_builtin_by_addr(fn);
    if (b) {
        *symbol = xstrdup(b->name);
        *builtin = 1;
        return 0;
    }
    Dl_info info;
    if (!dladdr(fn, &info) || info.dli_fbase != ctx->app_base)
        return client_fail(ctx,
                           "%s: the function at %p is not in the application's library %s; kiln can only ship "
                           "functions the application exports (mark them KILN_EXPORT)",
                           api, fn, ctx->app_path);
    if (!info.dli_sname || info.dli_saddr != fn)
        return client_fail(ctx,
                           "%s: the function at %p is not an exported symbol of %s (is it static?); mark it "
                           "KILN_EXPORT so workers can find it by name",
                           api, fn, ctx->app_path);
    *symbol = xstrdup(info.dli_sname);
    *builtin = 0;
    return 0;
}

/* Gives r its function (sym: taken) and a copy of env. r, or NULL. */
static kiln_rdd *set_fn(kiln_rdd *r, const char *api, char *sym, int builtin, kiln_slice env)
{
    r->symbol = sym;
    r->builtin = builtin;
    if (env.len) {
        r->env = malloc(env.len);
        if (!r->env) {
            client_fail(r->ctx, "%s: out of memory copying an env of %zu bytes", api, env.len);
            return NULL;
        }
        memcpy(r->env, env.ptr, env.len);
        r->env_len = env.len;
    }
    return r;
}

static kiln_rdd *narrow_sym(kiln_rdd *parent, Kiln__NodeKind kind, const char *api, char *sym, int builtin,
                            kiln_slice env)
{
    kiln_rdd *r = rdd_new(parent->ctx, kind);
    r->parents[0] = parent;
    r->nparents = 1;
    r->partitions = parent->partitions;
    return set_fn(r, api, sym, builtin, env);
}

static kiln_rdd *narrow(kiln_rdd *parent, Kiln__NodeKind kind, const char *api, const void *fn, kiln_slice env)
{
    if (!parent) return NULL;
    char *sym;
    int builtin;
    if (resolve_fn(parent->ctx, api, fn, &sym, &builtin) < 0) return NULL;
    return narrow_sym(parent, kind, api, sym, builtin, env);
}

kiln_rdd *client_map_partitions_builtin(kiln_rdd *rdd, const char *name, kiln_slice env, const char *label)
{
    if (!rdd) return NULL;
    kiln_rdd *r = narrow_sym(rdd, KILN__NODE_KIND__NODE_MAP_PARTITIONS, "map_partitions", xstrdup(name), 1, env);
    if (r && label && *label) r->label = xstrndup(label, 200);
    return r;
}

kiln_rdd *kiln_map(kiln_rdd *rdd, kiln_map_fn *fn, kiln_slice env)
{
    return narrow(rdd, KILN__NODE_KIND__NODE_MAP, "kiln_map", (const void *)fn, env);
}

kiln_rdd *kiln_flat_map(kiln_rdd *rdd, kiln_map_fn *fn, kiln_slice env)
{
    return narrow(rdd, KILN__NODE_KIND__NODE_FLAT_MAP, "kiln_flat_map", (const void *)fn, env);
}

kiln_rdd *kiln_filter(kiln_rdd *rdd, kiln_filter_fn *fn, kiln_slice env)
{
    return narrow(rdd, KILN__NODE_KIND__NODE_FILTER, "kiln_filter", (const void *)fn, env);
}

kiln_rdd *kiln_map_partitions(kiln_rdd *rdd, kiln_partition_fn *fn, kiln_slice env)
{
    return narrow(rdd, KILN__NODE_KIND__NODE_MAP_PARTITIONS, "kiln_map_partitions", (const void *)fn, env);
}

kiln_rdd *kiln_union(kiln_rdd *a, kiln_rdd *b)
{
    if (!a || !b) return NULL;
    if (a->ctx != b->ctx) {
        client_fail(a->ctx, "kiln_union: the datasets belong to different contexts");
        return NULL;
    }
    kiln_rdd *r = rdd_new(a->ctx, KILN__NODE_KIND__NODE_UNION);
    r->parents[0] = a;
    r->parents[1] = b;
    r->nparents = 2;
    r->partitions = a->partitions + b->partitions;
    return r;
}

/* A wide transformation: a new node with a shuffle dependency on each
 * parent. partitions <= 0 means the parent's partition count (the first
 * parent's, for a join). */
static kiln_rdd *wide(kiln_rdd *a, kiln_rdd *b, Kiln__NodeKind kind, const char *api, int partitions)
{
    if (!a || (kind == KILN__NODE_KIND__NODE_JOIN && !b)) return NULL;
    if (b && a->ctx != b->ctx) {
        client_fail(a->ctx, "%s: the datasets belong to different contexts", api);
        return NULL;
    }
    kiln_rdd *r = rdd_new(a->ctx, kind);
    r->parents[0] = a;
    r->nparents = 1;
    if (b) {
        r->parents[1] = b;
        r->nparents = 2;
    }
    r->partitions = partitions > 0 ? (uint32_t)partitions : (a->partitions ? a->partitions : 1);
    return r;
}

kiln_rdd *kiln_reduce_by_key(kiln_rdd *rdd, kiln_combine_fn *fn, kiln_slice env, int partitions)
{
    if (!rdd) return NULL;
    char *sym;
    int builtin;
    if (resolve_fn(rdd->ctx, "kiln_reduce_by_key", (const void *)fn, &sym, &builtin) < 0) return NULL;
    kiln_rdd *r = wide(rdd, NULL, KILN__NODE_KIND__NODE_REDUCE_BY_KEY, "kiln_reduce_by_key", partitions);
    return set_fn(r, "kiln_reduce_by_key", sym, builtin, env);
}

kiln_rdd *client_reduce_by_key_builtin(kiln_rdd *rdd, const char *name, kiln_slice env, int partitions)
{
    if (!rdd) return NULL;
    kiln_rdd *r = wide(rdd, NULL, KILN__NODE_KIND__NODE_REDUCE_BY_KEY, "reduce_by_key", partitions);
    return set_fn(r, "reduce_by_key", xstrdup(name), 1, env);
}

kiln_rdd *kiln_group_by_key(kiln_rdd *rdd, int partitions)
{
    return wide(rdd, NULL, KILN__NODE_KIND__NODE_GROUP_BY_KEY, "kiln_group_by_key", partitions);
}

kiln_rdd *kiln_join(kiln_rdd *left, kiln_rdd *right, int partitions)
{
    return wide(left, right, KILN__NODE_KIND__NODE_JOIN, "kiln_join", partitions);
}

kiln_rdd *kiln_sort_by_key(kiln_rdd *rdd, bool ascending, int partitions)
{
    kiln_rdd *r = wide(rdd, NULL, KILN__NODE_KIND__NODE_SORT_BY_KEY, "kiln_sort_by_key", partitions);
    if (r) r->ascending = ascending;
    return r;
}

kiln_rdd *kiln_distinct(kiln_rdd *rdd, int partitions)
{
    return wide(rdd, NULL, KILN__NODE_KIND__NODE_DISTINCT, "kiln_distinct", partitions);
}

kiln_rdd *kiln_repartition(kiln_rdd *rdd, int partitions)
{
    return wide(rdd, NULL, KILN__NODE_KIND__NODE_REPARTITION, "kiln_repartition", partitions);
}

kiln_rdd *client_partition_by(kiln_rdd *rdd, int partitions)
{
    return wide(rdd, NULL, KILN__NODE_KIND__NODE_PARTITION_BY, "partition_by", partitions);
}

/* Marks rdd to be kept on the workers once computed, and returns it: the
 * next action that needs it computes and keeps it, later ones read it. */
kiln_rdd *kiln_cache(kiln_rdd *rdd)
{
    if (rdd) rdd->cached = 1;
    return rdd;
}

/* ---- sources ------------------------------------------------------------------- */

kiln_rdd *kiln_text_file(kiln_ctx *ctx, const char *path, int min_partitions)
{
    if (!path) {
        client_fail(ctx, "kiln_text_file: path is NULL");
        return NULL;
    }
    text_split_list l;
    char err[1024];
    if (split_plan(path, min_partitions > 0 ? min_partitions : 2, 0, &l, err, sizeof err) < 0) {
        client_fail(ctx, "kiln_text_file: %s", err);
        return NULL;
    }
    kiln_rdd *r = rdd_new(ctx, KILN__NODE_KIND__NODE_TEXT_FILE);
    r->splits = l;
    r->partitions = (uint32_t)l.n;
    return r;
}

kiln_rdd *kiln_parallelize(kiln_ctx *ctx, const kiln_rec *recs, size_t n, int partitions)
{
    if (partitions <= 0) partitions = 2;
    if (n && !recs) {
        client_fail(ctx, "kiln_parallelize: recs is NULL");
        return NULL;
    }
    kiln_rdd *r = rdd_new(ctx, KILN__NODE_KIND__NODE_PARALLELIZE);
    r->nblocks = (size_t)partitions;
    r->blocks = xcalloc(r->nblocks, sizeof *r->blocks);
    r->block_lens = xcalloc(r->nblocks, sizeof *r->block_lens);
    r->partitions = (uint32_t)partitions;
    block_builder bb;
    block_builder_init(&bb);
    for (size_t p = 0; p < r->nblocks; p++) {
        size_t from = n * p / r->nblocks, to = n * (p + 1) / r->nblocks;
        for (size_t i = from; i < to; i++)
            if (block_builder_add(&bb, recs[i].key, recs[i].val) < 0) {
                block_builder_release(&bb);
                client_fail(ctx, "kiln_parallelize: record %zu does not fit in a block: %s", i, strerror(errno));
                return NULL;
            }
        if (block_builder_seal(&bb, &r->blocks[p], &r->block_lens[p]) < 0) {
            block_builder_release(&bb);
            client_fail(ctx, "kiln_parallelize: out of memory");
            return NULL;
        }
    }
    block_builder_release(&bb);
    return r;
}

kiln_rdd *kiln_range(kiln_ctx *ctx, int64_t start, int64_t end, int partitions)
{
    if (partitions <= 0) partitions = 2;
    kiln_rdd *r = rdd_new(ctx, KILN__NODE_KIND__NODE_RANGE);
    r->range_start = start;
    r->range_end = end < start ? start : end;
    r->partitions = (uint32_t)partitions;
    return r;
}

/* ---- actions ---------------------------------------------------------------------- */

int64_t kiln_count(kiln_rdd *rdd)
{
    if (!rdd) return -1;
    Kiln__Action a = KILN__ACTION__INIT;
    a.kind = KILN__ACTION_KIND__ACTION_COUNT;
    job_result res;
    if (client_run_job(rdd->ctx, rdd, &a, &res) < 0) return -1;
    int64_t n = (int64_t)res.count;
    job_result_release(&res);
    return n;
}

/* Calls visit(arg, rec) for each record of res in partition order, at most
 * limit of them (visit NULL: only counts them). The number visited, or -1
 * with the context's message on a corrupt block. */
static int64_t results_walk(kiln_ctx *ctx, const job_result *res, size_t limit, void (*visit)(void *, const kiln_rec *),
                            void *arg)
{
    char err[256];
    size_t got = 0;
    for (size_t p = 0; p < res->nparts && got < limit; p++)
        for (size_t b = 0; b < res->parts[p].n && got < limit; b++) {
            block_reader br;
            if (block_reader_open(&br, res->parts[p].blocks[b], res->parts[p].lens[b], err, sizeof err) < 0)
                return client_fail(ctx, "corrupt result block: %s", err);
            kiln_rec rec;
            int st = 0;
            while (got < limit && (st = block_reader_next(&br, &rec, err, sizeof err)) > 0) {
                if (visit) visit(arg, &rec);
                got++;
            }
            block_reader_close(&br);
            if (st < 0) return client_fail(ctx, "corrupt result block: %s", err);
        }
    return (int64_t)got;
}

typedef struct decoding {
    kiln_recs *out;
    size_t bytes, used, got;
} decoding;

static void decoding_size(void *arg, const kiln_rec *rec)
{
    decoding *d = arg;
    d->bytes += rec->key.len + rec->val.len;
}

static void decoding_copy(void *arg, const kiln_rec *rec)
{
    decoding *d = arg;
    uint8_t *k = (uint8_t *)d->out->storage + d->used;
    if (rec->key.len) memcpy(k, rec->key.ptr, rec->key.len);
    d->used += rec->key.len;
    uint8_t *v = (uint8_t *)d->out->storage + d->used;
    if (rec->val.len) memcpy(v, rec->val.ptr, rec->val.len);
    d->used += rec->val.len;
    d->out->recs[d->got].key = KILN_SLICE(k, rec->key.len);
    d->out->recs[d->got++].val = KILN_SLICE(v, rec->val.len);
}

/* Decodes every block of res in partition order into out, at most limit
 * records: one pass to size them, one to copy them into one arena. */
static int decode_results(kiln_ctx *ctx, job_result *res, size_t limit, kiln_recs *out)
{
    memset(out, 0, sizeof *out);
    decoding d = {.out = out};
    int64_t n = results_walk(ctx, res, limit, decoding_size, &d);
    if (n < 0) return -1;
    out->storage = malloc(d.bytes ? d.bytes : 1);
    out->recs = malloc((n ? (size_t)n : 1) * sizeof *out->recs);
    if (!out->storage || !out->recs) {
        kiln_recs_free(out);
        return client_fail(ctx, "out of memory holding %lld results (%zu bytes)", (long long)n, d.bytes);
    }
    if (results_walk(ctx, res, limit, decoding_copy, &d) < 0) {
        kiln_recs_free(out);
        return -1;
    }
    out->n = (size_t)n;
    return 0;
}

int kiln_collect(kiln_rdd *rdd, kiln_recs *out)
{
    if (!rdd || !out) return -1;
    Kiln__Action a = KILN__ACTION__INIT;
    a.kind = KILN__ACTION_KIND__ACTION_COLLECT;
    job_result res;
    if (client_run_job(rdd->ctx, rdd, &a, &res) < 0) return -1;
    int rc = decode_results(rdd->ctx, &res, SIZE_MAX, out);
    job_result_release(&res);
    return rc;
}

/* PySpark's take: the first partition, then more per job (4x those
 * scanned while nothing was found, else as many as the records found so
 * far suggest, 1.5x, capped at 4x), each job running only its partitions,
 * until n records are found or every partition was scanned. The blocks of
 * every job go to one result, decoded once in partition order. */
int kiln_take(kiln_rdd *rdd, size_t n, kiln_recs *out)
{
    if (!rdd || !out) return -1;
    size_t total = rdd->partitions;
    if (n == 0 || total <= 1) return client_collect_parts(rdd, n, NULL, 0, out);
    job_result acc;
    memset(&acc, 0, sizeof acc);
    acc.parts = xcalloc(total, sizeof *acc.parts);
    acc.nparts = total;
    uint32_t *parts = xcalloc(total, sizeof *parts);
    size_t found = 0, scanned = 0;
    int rc = 0;
    while (found < n && scanned < total && rc == 0) {
        size_t k = 1;
        if (scanned) {
            size_t cap = 4 * scanned;
            if (!found) {
                k = cap;
            } else {
                double want = 1.5 * (double)n * (double)scanned / (double)found - (double)scanned;
                k = want < 1 ? 1 : want > (double)cap ? cap : (size_t)want;
            }
        }
        size_t end = scanned + k < total ? scanned + k : total;
        for (size_t p = scanned; p < end; p++)
            parts[p - scanned] = (uint32_t)p;
        Kiln__Action a = KILN__ACTION__INIT;
        a.kind = KILN__ACTION_KIND__ACTION_TAKE;
        a.take = n - found;
        job_result res;
        if (client_run_job_parts(rdd->ctx, rdd, &a, parts, end - scanned, &res) < 0) {
            rc = -1;
            break;
        }
        int64_t got = results_walk(rdd->ctx, &res, n - found, NULL, NULL);
        if (got < 0) rc = -1;
        found += got > 0 ? (size_t)got : 0;
        for (size_t p = scanned; p < end && p < res.nparts; p++) { /* the blocks move to acc */
            acc.parts[p] = res.parts[p];
            memset(&res.parts[p], 0, sizeof res.parts[p]);
        }
        job_result_release(&res);
        scanned = end;
    }
    free(parts);
    if (rc == 0) rc = decode_results(rdd->ctx, &acc, n, out);
    job_result_release(&acc);
    return rc;
}

int client_collect_parts(kiln_rdd *rdd, size_t limit, const uint32_t *parts, size_t nparts, kiln_recs *out)
{
    if (!rdd || !out) return -1;
    Kiln__Action a = KILN__ACTION__INIT;
    if (limit == SIZE_MAX) {
        a.kind = KILN__ACTION_KIND__ACTION_COLLECT;
    } else {
        a.kind = KILN__ACTION_KIND__ACTION_TAKE; /* each task stops at limit records */
        a.take = limit;
    }
    job_result res;
    if (client_run_job_parts(rdd->ctx, rdd, &a, parts, nparts, &res) < 0) return -1;
    int rc = decode_results(rdd->ctx, &res, limit, out);
    job_result_release(&res);
    return rc;
}

/* Hooks for user code that runs in the client (kiln_reduce's final merge). */
typedef struct client_hooks {
    kiln_ctx *ctx;
    int failed;
} client_hooks;

static void chook_fail(void *arg, const char *msg)
{
    client_hooks *h = arg;
    if (!h->failed) client_fail(h->ctx, "%s", msg);
    h->failed = 1;
}

static kiln_slice chook_bcast(void *arg, kiln_bcast b)
{
    client_hooks *h = arg;
    for (size_t i = 0; i < h->ctx->nbcasts; i++)
        if (!memcmp(h->ctx->bcasts[i].id, b.id, 32)) return KILN_SLICE(h->ctx->bcasts[i].data, h->ctx->bcasts[i].len);
    return KILN_NONE;
}

int kiln_reduce(kiln_rdd *rdd, kiln_combine_fn *fn, kiln_slice env, void **out, size_t *out_len)
{
    if (!rdd || !out || !out_len) return -1;
    kiln_ctx *ctx = rdd->ctx;
    char *sym;
    int builtin;
    if (resolve_fn(ctx, "kiln_reduce", (const void *)fn, &sym, &builtin) < 0) return -1;
    Kiln__Action a = KILN__ACTION__INIT;
    Kiln__FnRef f = KILN__FN_REF__INIT;
    f.symbol = sym;
    f.builtin = builtin;
    a.kind = KILN__ACTION_KIND__ACTION_REDUCE;
    a.fn = &f;
    a.env.data = (uint8_t *)env.ptr;
    a.env.len = env.len;
    job_result res;
    kiln_recs parts;
    int rc = client_run_job(ctx, rdd, &a, &res);
    free(sym);
    if (rc < 0) return -1;
    rc = decode_results(ctx, &res, SIZE_MAX, &parts);
    job_result_release(&res);
    if (rc < 0) return -1;
    if (parts.n == 0) {
        kiln_recs_free(&parts);
        return client_fail(ctx, "kiln_reduce: the dataset is empty");
    }
    kiln_buf acc = {0}, tmp = {0};
    kiln_buf_set(&acc, parts.recs[0].val.ptr, parts.recs[0].val.len);
    client_hooks h = {.ctx = ctx};
    rt_hooks hooks = {.arg = &h, .fail = chook_fail, .bcast_value = chook_bcast};
    rt_set_hooks(&hooks);
    for (size_t i = 1; i < parts.n && rc == 0; i++) {
        int r = fn(KILN_SLICE(acc.p, acc.len), parts.recs[i].val, &tmp, env);
        if (h.failed)
            rc = -1;
        else if (r != 0)
            rc = client_fail(ctx, "kiln_reduce: the combine function returned %d", r);
        kiln_buf swap = acc;
        acc = tmp;
        tmp = swap;
    }
    rt_set_hooks(NULL);
    kiln_recs_free(&parts);
    kiln_buf_release(&tmp);
    if (rc < 0) {
        kiln_buf_release(&acc);
        return -1;
    }
    *out = acc.p ? acc.p : malloc(1);
    *out_len = acc.len;
    return 0;
}

int kiln_save_text(kiln_rdd *rdd, const char *dir)
{
    return client_save_text(rdd, dir, NULL);
}

int client_save_text(kiln_rdd *rdd, const char *dir, const char *codec)
{
    if (!rdd || !dir) return -1;
    int gzip = codec && !strcmp(codec, "gzip");
    if (codec && *codec && !gzip) return client_fail(rdd->ctx, "kiln_save_text: unknown codec '%s' (kiln writes gzip)", codec);
    kiln_ctx *ctx = rdd->ctx;
    char abs[2 * PATH_MAX + 2];
    if (dir[0] == '/') {
        snprintf(abs, sizeof abs, "%s", dir);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) return client_fail(ctx, "kiln_save_text: getcwd: %s", strerror(errno));
        snprintf(abs, sizeof abs, "%s/%s", cwd, dir);
    }
    /* task attempts write under _temporary/APP; the client commits the winners */
    char err[1024];
    if (commit_begin(abs, ctx->app_id, err, sizeof err) < 0) return client_fail(ctx, "kiln_save_text: %s", err);
    Kiln__Action a = KILN__ACTION__INIT;
    a.kind = KILN__ACTION_KIND__ACTION_SAVE_TEXT;
    a.dir = abs;
    a.codec = gzip ? "gzip" : "";
    job_result res;
    if (client_run_job(ctx, rdd, &a, &res) < 0) {
        commit_abort(abs, ctx->app_id);
        return -1;
    }
    int rc = 0;
    if (res.ncommit != res.nparts)
        rc = client_fail(ctx, "kiln_save_text: the driver named %zu of %zu partitions to commit", res.ncommit,
                         res.nparts);
    else if (commit_job_ext(abs, ctx->app_id, gzip ? ".gz" : "", res.commit_tasks, res.commit_attempts, res.ncommit,
                            err, sizeof err) < 0)
        rc = client_fail(ctx, "kiln_save_text: %s", err);
    if (rc < 0 && res.ncommit != res.nparts) commit_abort(abs, ctx->app_id);
    job_result_release(&res);
    return rc;
}

/* ---- context ---------------------------------------------------------------------- */

kiln_bcast kiln_broadcast(kiln_ctx *ctx, const void *p, size_t n)
{
    kiln_bcast b;
    memset(&b, 0, sizeof b);
    hash_sha256(p, n, b.id);
    b.len = n;
    for (size_t i = 0; i < ctx->nbcasts; i++)
        if (!memcmp(ctx->bcasts[i].id, b.id, 32)) return b;
    client_bcast cb;
    memcpy(cb.id, b.id, 32);
    hash_to_hex(b.id, cb.hex);
    cb.data = xmalloc(n ? n : 1);
    if (n) memcpy(cb.data, p, n);
    cb.len = n;
    if (client_upload(ctx, KILN__BLOB_KIND__BLOB_BROADCAST, cb.hex, p, n) < 0) {
        free(cb.data);
        return b; /* the job that uses it fails naming the missing broadcast */
    }
    ctx->bcasts = xrealloc(ctx->bcasts, (ctx->nbcasts + 1) * sizeof *ctx->bcasts);
    ctx->bcasts[ctx->nbcasts++] = cb;
    return b;
}

int64_t kiln_counter_value(kiln_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->ncounters; i++)
        if (!strcmp(ctx->counter_names[i], name)) return ctx->counter_values[i];
    return 0;
}

const char *kiln_errmsg(kiln_ctx *ctx)
{
    return ctx ? ctx->err : "no context";
}
