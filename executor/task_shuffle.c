/*
 * task_shuffle.c - the parts of a task that touch shuffles and the cache:
 * the shuffle-write sink of a map stage (partition, combine on the map
 * side, write one data file and one index), the sampling sink of a sort's
 * first pass, the shuffle-read source of a reduce stage (fetch, then
 * aggregate per the wide operation, then push into the operation chain),
 * and the cache op and cached source.
 *
 * Memory: a map task's partition buffers and map-side combine, and a
 * reduce task's aggregation, each stay within the task's budget
 * (task.memory, carried by TaskLaunch.memory); past it they spill to the
 * worker's work dir (WORK/APP/tmp), and spill files go when the task ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#define XXH_INLINE_ALL /* short keys: hashed inline, no call into the library */
#include <xxhash.h>

#include "agg.h"
#include "shuffle_fetch.h"
#include "shuffle_write.h"
#include "task_int.h"
#include "util.h"

#define MAX_FRAME      (64u << 20)
#define DEFAULT_MEMORY ((size_t)256 << 20)
#define SAMPLE_KEY_MAX 256
#define SAMPLE_VAL_MAX 64

size_t task_memory(const run *r)
{
    return r->t->memory ? (size_t)r->t->memory : DEFAULT_MEMORY;
}

char *task_tmp_dir(const run *r)
{
    return xasprintf("%s/%s/tmp/task-%llu", r->t->work_dir, r->t->app_id, (unsigned long long)r->t->task_id);
}

/* ---- user combine functions inside the aggregator ------------------------ */

typedef struct combine_ctx {
    run *r;
    const rop *op;
} combine_ctx;

static int user_combine(void *arg, kiln_slice a, kiln_slice b, kiln_buf *out)
{
    combine_ctx *c = arg;
    run *r = c->r;
    int prev = r->st->current;
    r->st->current = c->op->name_index;
    int rc = ((kiln_combine_fn *)c->op->fn)(a, b, out, c->op->env);
    r->st->current = prev;
    return after_call(r, c->op->name_index, rc);
}

static int keep_first(void *arg, kiln_slice a, kiln_slice b, kiln_buf *out)
{
    return kiln_buf_set(out, a.ptr, a.len);
}

/* DISTINCT moves whole records as one key: varint(klen) key val. */
static int composite(kiln_buf *b, kiln_slice key, kiln_slice val)
{
    size_t need = 10 + key.len + val.len;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) return -1;
        b->p = np;
        b->cap = cap;
    }
    size_t off = rt_varint_put(b->p, key.len);
    if (key.len) memcpy(b->p + off, key.ptr, key.len);
    if (val.len) memcpy(b->p + off + key.len, val.ptr, val.len);
    b->len = off + key.len + val.len;
    return 0;
}

static int split_composite(kiln_slice c, kiln_slice *key, kiln_slice *val)
{
    uint64_t klen;
    size_t used = rt_varint_get(c.ptr, c.len, &klen);
    if (!used || klen > c.len - used) return -1;
    const uint8_t *p = c.ptr;
    *key = KILN_SLICE(p + used, klen);
    *val = KILN_SLICE(p + used + klen, c.len - used - klen);
    return 0;
}

static int cmp_bytes(const void *a, size_t an, const void *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

/* ---- the shuffle-write sink -------------------------------------------------- */

struct shuffle_writer {
    const Kiln__ShuffleWrite *spec;
    uint32_t nparts;
    block_builder *bb; /* one per reduce partition, sealed at block_target */
    shuffle_out *out;  /* the data file the sealed blocks go to */
    uint8_t *sealbuf;  /* room for one compressed block */
    size_t sealcap, block_target;
    agg *combine;
    combine_ctx cctx;
    uint64_t rr;
    char *tmp_dir;
    kiln_buf scratch;
    kiln_slice *bounds; /* sort: decoded bounds (key, value) pairs */
    kiln_slice *bound_vals;
};

static uint32_t sort_partition(shuffle_writer *w, kiln_slice key, kiln_slice val)
{
    /* first bound >= (key, val): records equal to a bound go left of it */
    size_t lo = 0, hi = w->spec->n_bounds;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_bytes(w->bounds[mid].ptr, w->bounds[mid].len, key.ptr, key.len);
        if (!c) c = cmp_bytes(w->bound_vals[mid].ptr, w->bound_vals[mid].len, val.ptr, val.len);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t p = (uint32_t)lo;
    return w->spec->descending ? w->nparts - 1 - p : p;
}

static uint32_t partition_of(shuffle_writer *w, kiln_slice key, kiln_slice val)
{
    if (w->nparts == 1) return 0;
    switch (w->spec->kind) {
    case KILN__SHUFFLE_KIND__SHUFFLE_SORT:
        return sort_partition(w, key, val);
    case KILN__SHUFFLE_KIND__SHUFFLE_REPARTITION:
        if (++w->rr >= w->nparts) w->rr = 0; /* round robin without a division */
        return (uint32_t)w->rr;
    default:
        /* the hash's top 32 bits scaled to [0, nparts): a multiply, not a division */
        return (uint32_t)(((XXH3_64bits(key.ptr, key.len) >> 32) * (uint64_t)w->nparts) >> 32);
    }
}

/* Seals partition p's records into a block and appends it to the data file,
 * straight from the builder when it is stored raw. */
static int seal_part(run *r, shuffle_writer *w, uint32_t p)
{
    block_builder *b = &w->bb[p];
    if (b->nrec == 0) return 0;
    size_t bound = block_builder_sealed_bound(b);
    if (bound > w->sealcap) {
        uint8_t *np = realloc(w->sealbuf, bound);
        if (!np) return run_fail(r, "out of memory sealing a shuffle block");
        w->sealbuf = np;
        w->sealcap = bound;
    }
    uint8_t hdr[BLOCK_HEADER_SIZE];
    const uint8_t *payload;
    size_t n = block_builder_seal_parts(b, hdr, w->sealbuf, &payload);
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)payload, n}};
    char err[512];
    int rc = shuffle_out_append(w->out, p, iov, 2, err, sizeof err);
    block_builder_reset(b);
    if (rc < 0) return run_fail(r, "cannot write the shuffle output: %s", err);
    return 0;
}

/* SHUFFLE_PARTITION_BY: the partition the key's 4-byte big-endian prefix
 * names, the prefix taken off key. 0, or -1 having failed the task. */
static int named_partition(run *r, shuffle_writer *w, kiln_slice *key, uint32_t *p)
{
    const uint8_t *k = key->ptr;
    if (key->len < 4) return run_fail(r, "partition_by: a record's key of %zu bytes names no partition", key->len);
    *p = (uint32_t)k[0] << 24 | (uint32_t)k[1] << 16 | (uint32_t)k[2] << 8 | k[3];
    if (*p >= w->nparts)
        return run_fail(r, "partition_by: a record names partition %u, the shuffle has %u", *p, w->nparts);
    *key = KILN_SLICE(k + 4, key->len - 4);
    return 0;
}

static int part_put(void *arg, kiln_slice key, kiln_slice val)
{
    run *r = arg;
    shuffle_writer *w = r->sw;
    uint32_t p = 0;
    if (w->spec->kind == KILN__SHUFFLE_KIND__SHUFFLE_PARTITION_BY) {
        if (named_partition(r, w, &key, &p) < 0) return -1;
    } else {
        p = partition_of(w, key, val);
    }
    if (block_builder_add(&w->bb[p], key, val) < 0)
        return run_fail(r, "a record of %zu bytes does not fit in a shuffle block", key.len + val.len);
    if (block_builder_size(&w->bb[p]) >= w->block_target) return seal_part(r, w, p);
    return 0;
}

int shuffle_sink_open(run *r)
{
    const Kiln__ShuffleWrite *spec = r->p->sf->output->shuffle;
    shuffle_writer *w = xcalloc(1, sizeof *w);
    r->sw = w;
    w->spec = spec;
    w->nparts = spec->partitions;
    w->bb = xcalloc(w->nparts, sizeof *w->bb);
    for (uint32_t p = 0; p < w->nparts; p++)
        block_builder_init(&w->bb[p]);
    char err[512];
    w->out = shuffle_out_open(r->t->work_dir, r->t->app_id, spec->shuffle_id, r->t->input->partition, w->nparts, err,
                              sizeof err);
    if (!w->out) return run_fail(r, "cannot write the shuffle output: %s", err);
    size_t mem = task_memory(r);
    int combining =
        spec->kind == KILN__SHUFFLE_KIND__SHUFFLE_REDUCE || spec->kind == KILN__SHUFFLE_KIND__SHUFFLE_DISTINCT;
    /* the builders hold at most half the budget (the combiner gets the other half) */
    size_t target = mem / (2 * (size_t)w->nparts);
    w->block_target = target < 16384 ? 16384 : target > (1u << 20) ? (1u << 20) : target;
    w->tmp_dir = task_tmp_dir(r);
    w->rr = (uint64_t)r->t->input->partition * 7919u % w->nparts;
    if (spec->kind == KILN__SHUFFLE_KIND__SHUFFLE_SORT) {
        w->bounds = xcalloc(spec->n_bounds + 1, sizeof *w->bounds);
        w->bound_vals = xcalloc(spec->n_bounds + 1, sizeof *w->bound_vals);
        for (size_t i = 0; i < spec->n_bounds; i++)
            if (split_composite(KILN_SLICE(spec->bounds[i].data, spec->bounds[i].len), &w->bounds[i],
                                &w->bound_vals[i]) < 0)
                return run_fail(r, "corrupt sort bound %zu", i);
    }
    if (combining) {
        w->cctx = (combine_ctx){r, &r->p->write_combine};
        agg_opts o = {.mode = AGG_COMBINE,
                      .memory = mem / 2,
                      .spill_dir = w->tmp_dir,
                      .combine = spec->kind == KILN__SHUFFLE_KIND__SHUFFLE_REDUCE ? user_combine : keep_first,
                      .combine_arg = &w->cctx,
                      .flush = part_put,
                      .flush_arg = r};
        w->combine = agg_new(&o, err, sizeof err);
        if (!w->combine) return run_fail(r, "map-side combine: %s", err);
    }
    return 0;
}

int shuffle_sink_emit(run *r, kiln_slice key, kiln_slice val)
{
    shuffle_writer *w = r->sw;
    char err[512];
    switch (w->spec->kind) {
    case KILN__SHUFFLE_KIND__SHUFFLE_REDUCE:
        if (agg_add(w->combine, key, val, err, sizeof err) < 0) return r->failed ? -1 : run_fail(r, "%s", err);
        return 0;
    case KILN__SHUFFLE_KIND__SHUFFLE_DISTINCT:
        if (composite(&w->scratch, key, val) < 0) return run_fail(r, "out of memory");
        if (agg_add(w->combine, KILN_SLICE(w->scratch.p, w->scratch.len), KILN_NONE, err, sizeof err) < 0)
            return r->failed ? -1 : run_fail(r, "%s", err);
        return 0;
    case KILN__SHUFFLE_KIND__SHUFFLE_JOIN: {
        /* the value carries its side, so the reduce side can tell them apart */
        size_t need = val.len + 1;
        if (need > w->scratch.cap) {
            uint8_t *np = realloc(w->scratch.p, need);
            if (!np) return run_fail(r, "out of memory");
            w->scratch.p = np;
            w->scratch.cap = need;
        }
        w->scratch.p[0] = (uint8_t)w->spec->side;
        if (val.len) memcpy(w->scratch.p + 1, val.ptr, val.len);
        return part_put(r, key, KILN_SLICE(w->scratch.p, need));
    }
    default:
        return part_put(r, key, val);
    }
}

int shuffle_sink_close(run *r)
{
    shuffle_writer *w = r->sw;
    if (!w) return -1;
    char err[1024];
    if (!r->failed && w->combine && agg_finish(w->combine, part_put, r, err, sizeof err) < 0 && !r->failed)
        run_fail(r, "map-side combine: %s", err);
    for (uint32_t p = 0; p < w->nparts && !r->failed; p++)
        seal_part(r, w, p);
    if (!r->failed && w->out) {
        uint64_t *sizes = xcalloc(w->nparts, sizeof *sizes);
        shuffle_out *out = w->out;
        w->out = NULL;
        if (shuffle_out_commit(out, sizes, err, sizeof err) < 0) {
            run_fail(r, "cannot write the shuffle output: %s", err);
            free(sizes);
        } else {
            r->res->partition_sizes = sizes;
            r->res->npartition_sizes = w->nparts;
        }
    }
    shuffle_out_abort(w->out);
    if (w->combine) agg_free(w->combine);
    for (uint32_t p = 0; p < w->nparts; p++)
        block_builder_release(&w->bb[p]);
    rm_rf(w->tmp_dir);
    free(w->tmp_dir);
    free(w->bb);
    free(w->sealbuf);
    free(w->bounds);
    free(w->bound_vals);
    kiln_buf_release(&w->scratch);
    free(w);
    r->sw = NULL;
    return r->failed ? -1 : 0;
}

/* ---- the sampling sink ----------------------------------------------------- */

struct sampler {
    uint32_t k;
    uint64_t seen, rng;
    block_builder bb; /* unused until close */
    kiln_buf *keys, *vals;
    uint32_t n;
};

int sample_sink_open(run *r)
{
    sampler *s = xcalloc(1, sizeof *s);
    r->sample = s;
    s->k = r->p->sf->output->sample ? r->p->sf->output->sample : 100;
    s->keys = xcalloc(s->k, sizeof *s->keys);
    s->vals = xcalloc(s->k, sizeof *s->vals);
    s->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)r->t->input->partition + 1) * 0xbf58476d1ce4e5b9ull;
    block_builder_init(&s->bb);
    return 0;
}

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

int sample_sink_emit(run *r, kiln_slice key, kiln_slice val)
{
    sampler *s = r->sample;
    uint64_t slot = s->seen++;
    if (slot >= s->k) {
        slot = xorshift(&s->rng) % s->seen;
        if (slot >= s->k) return 0;
    } else {
        s->n++;
    }
    /* prefixes are enough: bounds are only points in the (key, value) order */
    if (kiln_buf_set(&s->keys[slot], key.ptr, key.len < SAMPLE_KEY_MAX ? key.len : SAMPLE_KEY_MAX) < 0 ||
        kiln_buf_set(&s->vals[slot], val.ptr, val.len < SAMPLE_VAL_MAX ? val.len : SAMPLE_VAL_MAX) < 0)
        return run_fail(r, "out of memory sampling");
    return 0;
}

int sample_sink_close(run *r)
{
    sampler *s = r->sample;
    if (!s) return -1;
    if (!r->failed) {
        for (uint32_t i = 0; i < s->n; i++)
            block_builder_add(&s->bb, KILN_SLICE(s->keys[i].p, s->keys[i].len),
                              KILN_SLICE(s->vals[i].p, s->vals[i].len));
        uint8_t *blk;
        size_t n;
        if (block_builder_seal(&s->bb, &blk, &n) < 0) {
            run_fail(r, "out of memory sealing samples");
        } else {
            if (r->sink->block(r->sink->arg, blk, n) < 0) run_fail(r, "cannot send samples: %s", strerror(errno));
            free(blk);
        }
    }
    for (uint32_t i = 0; i < s->k; i++) {
        kiln_buf_release(&s->keys[i]);
        kiln_buf_release(&s->vals[i]);
    }
    free(s->keys);
    free(s->vals);
    block_builder_release(&s->bb);
    free(s);
    r->sample = NULL;
    return r->failed ? -1 : 0;
}

/* ---- the shuffle-read source --------------------------------------------------- */

typedef struct reader {
    run *r;
    const rpipeline *pl;
    Kiln__ShuffleKind kind;
    kiln_out *head;
    agg *agg;
    kiln_buf scratch;
    kiln_slice *left, *right;
    size_t nleft, nright, capleft, capright;
} reader;

static int reader_record(reader *rd, kiln_slice key, kiln_slice val)
{
    run *r = rd->r;
    char err[512];
    r->res->records_in++;
    if (rd->kind == KILN__SHUFFLE_KIND__SHUFFLE_REPARTITION || rd->kind == KILN__SHUFFLE_KIND__SHUFFLE_PARTITION_BY)
        return rd->head->emit(rd->head, key, val);
    if (agg_add(rd->agg, key, val, err, sizeof err) < 0) return r->failed ? -1 : run_fail(r, "%s", err);
    return 0;
}

static int reader_block(void *arg, const uint8_t *p, size_t n)
{
    reader *rd = arg;
    block_reader br;
    char err[256];
    if (block_reader_open(&br, p, n, err, sizeof err) < 0) return run_fail(rd->r, "shuffle block: %s", err);
    kiln_rec rec;
    int st, rc = 0;
    while ((st = block_reader_next(&br, &rec, err, sizeof err)) > 0)
        if ((rc = reader_record(rd, rec.key, rec.val)) < 0) break;
    block_reader_close(&br);
    if (st < 0) return run_fail(rd->r, "shuffle block: %s", err);
    return rc;
}

static int push_slot(kiln_slice **v, size_t *n, size_t *cap, kiln_slice s)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        kiln_slice *nv = realloc(*v, c * sizeof *nv);
        if (!nv) return -1;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = s;
    return 0;
}

static int reader_emit(void *arg, kiln_slice key, kiln_slice val)
{
    reader *rd = arg;
    run *r = rd->r;
    switch (rd->kind) {
    case KILN__SHUFFLE_KIND__SHUFFLE_DISTINCT: {
        kiln_slice k, v;
        if (split_composite(key, &k, &v) < 0) return run_fail(r, "corrupt distinct record");
        return rd->head->emit(rd->head, k, v);
    }
    case KILN__SHUFFLE_KIND__SHUFFLE_JOIN: {
        /* val is the packed list of this key's tagged values: pair every left with every right */
        rd->nleft = rd->nright = 0;
        kiln_slice list = val, item;
        while (kiln_list_next(&list, &item)) {
            if (!item.len) return run_fail(r, "corrupt join value");
            kiln_slice v = KILN_SLICE((const uint8_t *)item.ptr + 1, item.len - 1);
            int rc = ((const uint8_t *)item.ptr)[0] == 0 ? push_slot(&rd->left, &rd->nleft, &rd->capleft, v)
                                                         : push_slot(&rd->right, &rd->nright, &rd->capright, v);
            if (rc < 0) return run_fail(r, "out of memory joining");
        }
        for (size_t i = 0; i < rd->nleft; i++)
            for (size_t j = 0; j < rd->nright; j++) {
                kiln_slice a = rd->left[i], b = rd->right[j];
                if (composite(&rd->scratch, a, b) < 0) return run_fail(r, "out of memory joining");
                if (rd->head->emit(rd->head, key, KILN_SLICE(rd->scratch.p, rd->scratch.len)) < 0) return -1;
            }
        return 0;
    }
    default:
        return rd->head->emit(rd->head, key, val);
    }
}

int shuffle_source_push(run *r, const rpipeline *pl, const Kiln__TaskInput *in, kiln_out *head)
{
    const Kiln__ShuffleRead *spec = pl->read;
    reader rd = {.r = r, .pl = pl, .kind = spec->kind, .head = head};
    char *tmp = task_tmp_dir(r);
    combine_ctx cctx = {r, &pl->read_combine};
    agg_opts o = {.memory = task_memory(r), .spill_dir = tmp};
    switch (spec->kind) {
    case KILN__SHUFFLE_KIND__SHUFFLE_REDUCE:
        o.mode = AGG_COMBINE;
        o.combine = user_combine;
        o.combine_arg = &cctx;
        break;
    case KILN__SHUFFLE_KIND__SHUFFLE_DISTINCT:
        o.mode = AGG_COMBINE;
        o.combine = keep_first;
        break;
    case KILN__SHUFFLE_KIND__SHUFFLE_GROUP:
    case KILN__SHUFFLE_KIND__SHUFFLE_JOIN:
        o.mode = AGG_GROUP;
        break;
    case KILN__SHUFFLE_KIND__SHUFFLE_SORT:
        o.mode = AGG_SORT;
        o.descending = spec->descending;
        break;
    default:
        break;
    }
    char err[1024];
    if (spec->kind != KILN__SHUFFLE_KIND__SHUFFLE_REPARTITION && spec->kind != KILN__SHUFFLE_KIND__SHUFFLE_PARTITION_BY) {
        rd.agg = agg_new(&o, err, sizeof err);
        if (!rd.agg) {
            free(tmp);
            return run_fail(r, "%s", err);
        }
    }
    for (size_t i = 0; i < in->n_shuffles && !r->failed; i++) {
        fetch_stats stats;
        memset(&stats, 0, sizeof stats);
        if (shuffle_fetch(r->t->work_dir, r->t->app_id, r->t->worker_id, in->shuffles[i], in->source_partition,
                          MAX_FRAME, r->sink->secret, reader_block, &rd, &stats, err, sizeof err) < 0 &&
            !r->failed) {
            run_fail(r, "shuffle fetch failed: %s", err);
            if (stats.failed) {
                r->res->fetch_failed = 1;
                r->res->fetch_shuffle_id = in->shuffles[i]->shuffle_id;
                r->res->fetch_map = stats.failed_map;
                r->res->fetch_worker_id = stats.failed_worker;
            }
        }
    }
    if (rd.agg) {
        if (!r->failed && agg_finish(rd.agg, reader_emit, &rd, err, sizeof err) < 0 && !r->failed)
            run_fail(r, "%s", err);
        r->res->spills += agg_spills(rd.agg);
        r->res->spill_bytes += agg_spill_bytes(rd.agg);
        agg_free(rd.agg);
    }
    rm_rf(tmp);
    free(tmp);
    kiln_buf_release(&rd.scratch);
    free(rd.left);
    free(rd.right);
    return r->failed ? -1 : 0;
}

/* ---- cache ------------------------------------------------------------------- */

struct cache_writer {
    uint32_t node, part;
    int fd;
    char *tmp, *final;
    block_builder bb;
    cache_writer *next;
};

static char *cache_path(const run *r, uint32_t node, uint32_t part)
{
    return xasprintf("%s/%s/cache/%u/part-%u", r->t->work_dir, r->t->app_id, node, part);
}

cache_writer *cache_writer_open(run *r, const rop *op)
{
    cache_writer *cw = xcalloc(1, sizeof *cw);
    cw->node = op->node;
    cw->part = op->part_offset + r->t->input->source_partition;
    cw->fd = -1;
    block_builder_init(&cw->bb);
    cw->next = r->cws;
    r->cws = cw;
    cw->final = cache_path(r, cw->node, cw->part);
    cw->tmp = xasprintf("%s.tmp-%llu", cw->final, (unsigned long long)r->t->task_id);
    char *dir = xasprintf("%s/%s/cache/%u", r->t->work_dir, r->t->app_id, cw->node);
    char err[512];
    if (mkdir_p(dir, 0755, err, sizeof err) < 0)
        run_fail(r, "%s", err);
    else if ((cw->fd = open(cw->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        run_fail(r, "cannot create %s: %s", cw->tmp, strerror(errno));
    free(dir);
    return cw;
}

static int cache_flush(run *r, cache_writer *cw)
{
    if (cw->bb.nrec == 0) return 0;
    uint8_t *blk;
    size_t n;
    if (block_builder_seal(&cw->bb, &blk, &n) < 0) return run_fail(r, "out of memory caching");
    int rc = write_all(cw->fd, blk, n);
    free(blk);
    if (rc < 0) return run_fail(r, "cannot write %s: %s", cw->tmp, strerror(errno));
    return 0;
}

int cache_writer_add(run *r, cache_writer *cw, kiln_slice key, kiln_slice val)
{
    if (!cw || cw->fd < 0) return -1;
    if (block_builder_add(&cw->bb, key, val) < 0) return run_fail(r, "out of memory caching");
    if (block_builder_size(&cw->bb) >= (1u << 20)) return cache_flush(r, cw);
    return 0;
}

void cache_writers_close(run *r, int ok)
{
    while (r->cws) {
        cache_writer *cw = r->cws;
        r->cws = cw->next;
        int keep = ok && cw->fd >= 0 && cache_flush(r, cw) == 0;
        if (cw->fd >= 0) close(cw->fd);
        if (keep && rename(cw->tmp, cw->final) == 0) {
            task_result *res = r->res;
            res->cached_nodes = xrealloc(res->cached_nodes, (res->ncached + 1) * sizeof *res->cached_nodes);
            res->cached_parts = xrealloc(res->cached_parts, (res->ncached + 1) * sizeof *res->cached_parts);
            res->cached_nodes[res->ncached] = cw->node;
            res->cached_parts[res->ncached++] = cw->part;
        } else {
            unlink(cw->tmp);
        }
        block_builder_release(&cw->bb);
        free(cw->tmp);
        free(cw->final);
        free(cw);
    }
}

/* Reads the next whole block of the cached file into s->fbuf and opens it. */
static int cached_next_block(src *s)
{
    char err[256];
    size_t total;
    int st = block_read_fd(s->fd, &s->fbuf, &s->fcap, &total, err, sizeof err);
    if (st < 0) return run_fail(s->r, "cached partition: %s", err);
    if (st == 0) return 0;
    if (s->br_open) block_reader_close(&s->br);
    s->br_open = 0;
    if (block_reader_open(&s->br, s->fbuf, total, err, sizeof err) < 0)
        return run_fail(s->r, "cached partition: %s", err);
    s->br_open = 1;
    return 1;
}

static int src_cached_next(src *s, kiln_rec *rec)
{
    for (;;) {
        if (s->br_open) {
            char err[256];
            int st = block_reader_next(&s->br, rec, err, sizeof err);
            if (st < 0) return run_fail(s->r, "cached partition: %s", err);
            if (st > 0) return 1;
        }
        int rc = cached_next_block(s);
        if (rc <= 0) return rc;
    }
}

int cached_source_open(run *r, src *s, const rpipeline *pl, const Kiln__TaskInput *in)
{
    char *path = cache_path(r, pl->cache_node, in->source_partition);
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = 0;
    if (s->fd < 0) rc = run_fail(r, "cached partition %s is gone: %s", path, strerror(errno));
    free(path);
    s->next = src_cached_next;
    return rc;
}

void cached_source_close(src *s)
{
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    free(s->fbuf);
    s->fbuf = NULL;
}
