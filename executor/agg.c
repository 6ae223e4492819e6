/*
 * agg.c - external aggregation within a memory budget (see agg.h): the
 * arena, index and hash table of held records, the sorted run files they
 * spill to, and the k-way merge that folds them back together.
 *
 * Owns nothing beyond one aggregator: no task, shuffle or socket state. It
 * borrows common/block.c for the run format (runs are plain sequences of
 * sealed record blocks) and runtime.h's varints for packed lists.
 *
 * The one idea: every held record sits in an arena as u32 key length,
 * u32 value length, key, value, and is known by a 16-byte entry {aux,
 * pointer}. In AGG_SORT and AGG_GROUP the entries are a dense array; in
 * AGG_COMBINE the same array is an open-addressing hash table (aux = the
 * key's 64-bit hash), so a lookup touches one slot and one record. Sorting
 * moves only entries (aux becomes the first 8 key bytes, big-endian; an
 * in-place MSD radix sort on it, memcmp past it; a table is compacted
 * first), a spill writes the sorted entries out as LZ4 blocks and drops the
 * arena whole, and agg_finish merges the runs and the sorted remainder
 * through a binary heap of cursors, folding equal keys as the mode asks.
 *
 * Memory accounting: held = arena bytes handed out (headers included, and
 * values left behind when a combined value outgrew its place) + entries *
 * 16 (AGG_COMBINE: every table slot). Allocations run ahead of that by at
 * most one arena chunk (memory/16, 4 KiB..1 MiB) and the doubling slack of
 * the dense array. Merging holds a block per open run (compressed and
 * decoded) on top, and merges at most memory / (2 * block size) runs at
 * once (8..64), so that too stays near the budget.
 */
#include "agg.h"
#include "block.h"
#include "runtime.h"
#include "util.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_INLINE_ALL /* the hash is on the per-record path: inline it */
#define XXH_INLINE_ALL /* short keys: hashed inline, no call into the library */
#include <xxhash.h>

#define FANIN_MIN   8 /* runs merged at once: bounds fds and buffers */
#define FANIN_MAX   64
#define CHUNK_MIN   (4u << 10) /* arena chunk size bounds */
#define CHUNK_MAX   (1u << 20)
#define TAB_MIN     64 /* first hash table size, in slots */
#define ENT_MIN     256
#define HDR         8            /* record header: u32 key length, u32 value length */
#define BLOCK_SMALL (256u << 10) /* raw bytes per run block, budgets under 256 MiB */
#define BLOCK_LARGE (1u << 20)
#define ISORT_MAX   24 /* radix buckets this small get an insertion sort */

/* One held record, rec in the arena (NULL: an empty table slot). */
typedef struct ent {
    uint64_t aux; /* sort prefix (flipped when descending); AGG_COMBINE: the
                     key's hash until the entries are sorted */
    uint8_t *rec;
} ent;

/* Arena memory: records never move until the whole arena is dropped. */
typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
    uint8_t data[];
} chunk;

struct agg {
    agg_opts o;
    uint64_t flip; /* all ones when descending: XORed into prefixes */
    chunk *chunks;
    size_t chunk_size;
    size_t arena_used; /* record bytes handed out since the last reset */
    ent *ents;         /* dense, or AGG_COMBINE's hash table of ent_cap slots */
    size_t n, ent_cap;
    kiln_buf cbuf, kbuf, lbuf; /* combine output; merge key; list / accumulator */
    size_t block_target;
    size_t fanin; /* inputs of one merge: their blocks fit the budget */
    char **runs;  /* paths of run files still on disk */
    size_t nruns, runs_cap;
    int dir_made, finished;
    uint64_t spills, spill_bytes;
};

/* The bytes the budget counts (see the top of the file). */
static inline size_t agg_held(const agg *a)
{
    return a->arena_used + (a->o.mode == AGG_COMBINE ? a->ent_cap : a->n) * sizeof(ent);
}

/* Clears err and returns -1: emit stopped the run and recorded why. */
static int emit_stopped(char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    return -1;
}

static int oom(char *err, size_t errlen, const char *what)
{
    return errf(err, errlen, "agg: out of memory for %s", what);
}

/* ---- bytes, keys and buffers ------------------------------------------- */

/* memcmp order, a shorter prefix first. */
static inline int bytes_cmp(const void *x, size_t xl, const void *y, size_t yl)
{
    size_t m = xl < yl ? xl : yl;
    int c = m ? memcmp(x, y, m) : 0;
    if (c) return c;
    return (xl > yl) - (xl < yl);
}

static inline int bytes_eq(const void *x, size_t xl, const void *y, size_t yl)
{
    return xl == yl && (xl == 0 || memcmp(x, y, xl) == 0);
}

/* The first 8 key bytes as a big-endian integer, zero-padded: ordering by
 * it never contradicts bytes_cmp. */
static inline uint64_t key_prefix(const uint8_t *k, size_t n)
{
    uint64_t p = 0;
    if (n >= 8) {
        memcpy(&p, k, 8);
        return be64toh(p);
    }
    for (size_t i = 0; i < n; i++)
        p |= (uint64_t)k[i] << (56 - 8 * i);
    return p;
}

/* Makes room for `more` bytes after b->len. 0, or -1 when out of memory. */
static int buf_reserve(kiln_buf *b, size_t more)
{
    if (b->cap - b->len >= more) return 0;
    if (more > SIZE_MAX / 2 - b->len) return -1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < more)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Appends raw bytes to b. 0, or -1 when out of memory. */
static int buf_append(kiln_buf *b, kiln_slice s)
{
    if (buf_reserve(b, s.len) < 0) return -1;
    if (s.len) memcpy(b->p + b->len, s.ptr, s.len);
    b->len += s.len;
    return 0;
}

/* Appends one item to a packed list: varint(len) then the bytes. */
static int list_append(kiln_buf *b, kiln_slice v)
{
    if (buf_reserve(b, 10) < 0) return -1;
    b->len += rt_varint_put(b->p + b->len, v.len);
    return buf_append(b, v);
}

/* ---- arena, entries and table ------------------------------------------ */

/* n bytes of arena (records never cross chunks). A record bigger than a
 * quarter chunk gets a chunk of its own, linked behind the current one so
 * that small records keep filling it. NULL when out of memory. */
static uint8_t *arena_alloc(agg *a, size_t n)
{
    chunk *c = a->chunks;
    if (c && c->cap - c->used >= n) {
        uint8_t *p = c->data + c->used;
        c->used += n;
        a->arena_used += n;
        return p;
    }
    int own = n > a->chunk_size / 4;
    size_t cap = own ? n : a->chunk_size;
    chunk *nc = malloc(sizeof(chunk) + cap);
    if (!nc) return NULL;
    nc->cap = cap;
    nc->used = n;
    if (own && c) {
        nc->next = c->next;
        c->next = nc;
    } else {
        nc->next = c;
        a->chunks = nc;
    }
    a->arena_used += n;
    return nc->data;
}

/* Drops every held record; the entry array and table keep their size. */
static void agg_reset(agg *a)
{
    for (chunk *c = a->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->chunks = NULL;
    a->arena_used = 0;
    a->n = 0;
    if (a->o.mode == AGG_COMBINE) memset(a->ents, 0, a->ent_cap * sizeof(ent));
}

/* Record fields: a length from the header (p = rec or rec + 4), then key
 * and value. */
static inline uint32_t rec_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline kiln_slice ent_key(const ent *e)
{
    return KILN_SLICE(e->rec + HDR, rec_u32(e->rec));
}

static inline kiln_slice ent_val(const ent *e)
{
    return KILN_SLICE(e->rec + HDR + rec_u32(e->rec), rec_u32(e->rec + 4));
}

/* Copies a record into the arena (lengths already checked to fit a u32).
 * NULL when out of memory. */
static uint8_t *rec_new(agg *a, kiln_slice key, kiln_slice val)
{
    uint8_t *p = arena_alloc(a, HDR + key.len + val.len);
    if (!p) return NULL;
    uint32_t kl = (uint32_t)key.len, vl = (uint32_t)val.len;
    memcpy(p, &kl, 4);
    memcpy(p + 4, &vl, 4);
    if (key.len) memcpy(p + HDR, key.ptr, key.len);
    if (val.len) memcpy(p + HDR + key.len, val.ptr, val.len);
    return p;
}

/* AGG_SORT, AGG_GROUP: copies a record in as a new entry. */
static int ent_push(agg *a, kiln_slice key, kiln_slice val, char *err, size_t errlen)
{
    if (a->n == a->ent_cap) {
        size_t cap = a->ent_cap ? a->ent_cap * 2 : ENT_MIN;
        ent *e = realloc(a->ents, cap * sizeof(ent));
        if (!e) return oom(err, errlen, "the record index");
        a->ents = e;
        a->ent_cap = cap;
    }
    uint8_t *p = rec_new(a, key, val);
    if (!p) return errf(err, errlen, "agg: out of memory for a record of %zu bytes", key.len + val.len);
    a->ents[a->n].aux = key_prefix(key.ptr, key.len) ^ a->flip;
    a->ents[a->n++].rec = p;
    return 0;
}

/* AGG_COMBINE: the slot holding key (hash h), or the empty slot where it
 * would go. Linear probing; full hashes compared before any key bytes. */
static inline ent *tab_find(agg *a, kiln_slice key, uint64_t h)
{
    size_t mask = a->ent_cap - 1, i = (size_t)h & mask;
    for (;;) {
        ent *e = &a->ents[i];
        if (!e->rec || (e->aux == h && bytes_eq(e->rec + HDR, rec_u32(e->rec), key.ptr, key.len))) return e;
        i = (i + 1) & mask;
    }
}

/* Doubles the hash table, reinserting entries by their stored hashes. */
static int tab_grow(agg *a, char *err, size_t errlen)
{
    size_t cap = a->ent_cap * 2;
    ent *t = calloc(cap, sizeof(ent));
    if (!t) return oom(err, errlen, "the hash table");
    for (size_t i = 0; i < a->ent_cap; i++) {
        if (!a->ents[i].rec) continue;
        size_t j = (size_t)a->ents[i].aux & (cap - 1);
        while (t[j].rec)
            j = (j + 1) & (cap - 1);
        t[j] = a->ents[i];
    }
    free(a->ents);
    a->ents = t;
    a->ent_cap = cap;
    return 0;
}

/* ---- sorting ----------------------------------------------------------- */

/* Entry order: key, then, in AGG_SORT, value; all of it reversed when
 * descending (so a descending sort is exactly the ascending one reversed). */
static inline int ent_cmp(const agg *a, const ent *x, const ent *y)
{
    if (x->aux != y->aux) return x->aux < y->aux ? -1 : 1;
    kiln_slice xk = ent_key(x), yk = ent_key(y);
    int c = bytes_cmp(xk.ptr, xk.len, yk.ptr, yk.len);
    if (c) return a->o.descending ? -c : c;
    if (a->o.mode != AGG_SORT) return 0;
    kiln_slice xv = ent_val(x), yv = ent_val(y);
    c = bytes_cmp(xv.ptr, xv.len, yv.ptr, yv.len);
    return a->o.descending ? -c : c;
}

static int ent_qcmp(const void *x, const void *y, void *arg)
{
    return ent_cmp(arg, x, y);
}

static void ent_isort(const agg *a, ent *e, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        ent t = e[i];
        size_t j = i;
        while (j > 0 && ent_cmp(a, &t, &e[j - 1]) < 0) {
            e[j] = e[j - 1];
            j--;
        }
        e[j] = t;
    }
}

/*
 * Sorts entries in place: American-flag MSD radix sort on byte `byte` of
 * the prefix, recursing into each bucket; bytes on which every entry
 * agrees are skipped. Past the 8th byte the prefixes are all equal and
 * qsort_r compares whole keys (and values); small buckets go to insertion
 * sort. Recursion depth is at most 8.
 */
static void ent_sort(const agg *a, ent *e, size_t n, int byte)
{
    while (n > ISORT_MAX) {
        if (byte == 8) {
            qsort_r(e, n, sizeof(ent), ent_qcmp, (void *)a);
            return;
        }
        int shift = 56 - 8 * byte;
        size_t cnt[256] = {0}, next[256], end[256];
        for (size_t i = 0; i < n; i++)
            cnt[(e[i].aux >> shift) & 0xff]++;
        if (cnt[(e[0].aux >> shift) & 0xff] == n) {
            byte++;
            continue;
        }
        size_t s = 0;
        for (int b = 0; b < 256; b++) {
            next[b] = s;
            s += cnt[b];
            end[b] = s;
        }
        for (size_t b = 0; b < 256; b++) {
            while (next[b] < end[b]) { /* follow a cycle until an entry of bucket b turns up */
                ent t = e[next[b]];
                for (size_t d; (d = (t.aux >> shift) & 0xff) != b;) {
                    ent u = e[next[d]];
                    e[next[d]++] = t;
                    t = u;
                }
                e[next[b]++] = t;
            }
        }
        for (int b = 0; b < 256; b++)
            if (cnt[b] > 1) ent_sort(a, e + (end[b] - cnt[b]), cnt[b], byte + 1);
        return;
    }
    ent_isort(a, e, n);
}

/* Sorts the held entries into ents[0, n). AGG_COMBINE first packs its
 * table's slots to the front, trading hashes for prefixes: the table is
 * then unusable until agg_reset. */
static void agg_sort_held(agg *a)
{
    if (a->o.mode == AGG_COMBINE) {
        size_t j = 0;
        for (size_t i = 0; i < a->ent_cap; i++) {
            if (!a->ents[i].rec) continue;
            kiln_slice k = ent_key(&a->ents[i]);
            a->ents[j].rec = a->ents[i].rec;
            a->ents[j++].aux = key_prefix(k.ptr, k.len) ^ a->flip;
        }
    }
    ent_sort(a, a->ents, a->n, 0);
}

/* End of the run of entries from i on that share entry i's key. */
static size_t group_end(const agg *a, size_t i)
{
    kiln_slice k = ent_key(&a->ents[i]), kj;
    size_t j = i + 1;
    for (; j < a->n && (kj = ent_key(&a->ents[j]), bytes_eq(kj.ptr, kj.len, k.ptr, k.len)); j++)
        ;
    return j;
}

/* ---- run files --------------------------------------------------------- */

typedef struct run_writer {
    int fd;
    const char *path;
    block_builder b;
} run_writer;

/* Creates a new, uniquely named run file in spill_dir (made on first use)
 * and registers it, so agg_free removes it whatever happens next. */
static int writer_open(agg *a, run_writer *w, char *err, size_t errlen)
{
    w->fd = -1;
    w->path = NULL;
    block_builder_init(&w->b);
    if (!a->dir_made) {
        if (mkdir_p(a->o.spill_dir, 0700, err, errlen) < 0) return -1;
        a->dir_made = 1;
    }
    if (a->nruns == a->runs_cap) { /* bookkeeping, not data: x-allocated */
        a->runs_cap = a->runs_cap ? a->runs_cap * 2 : 16;
        a->runs = xrealloc(a->runs, a->runs_cap * sizeof(char *));
    }
    char *path = xasprintf("%s/run-%d-XXXXXX", a->o.spill_dir, (int)getpid());
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        errf(err, errlen, "agg: cannot create a run file in %s: %s", a->o.spill_dir, strerror(errno));
        free(path);
        return -1;
    }
    a->runs[a->nruns++] = path;
    w->fd = fd;
    w->path = path;
    return 0;
}

/* Seals the builder's records into one block and writes it. */
static int writer_seal(agg *a, run_writer *w, char *err, size_t errlen)
{
    uint8_t *blk;
    size_t len;
    if (block_builder_seal(&w->b, &blk, &len) < 0) return oom(err, errlen, "a run block");
    int rc = write_all(w->fd, blk, len);
    free(blk);
    if (rc < 0) return errf(err, errlen, "agg: cannot write run %s: %s", w->path, strerror(errno));
    a->spill_bytes += len;
    return 0;
}

/* Adds a record to the run, writing a block whenever enough is buffered. */
static int writer_add(agg *a, run_writer *w, kiln_slice key, kiln_slice val, char *err, size_t errlen)
{
    if (block_builder_add(&w->b, key, val) < 0) {
        if (errno != EFBIG) return oom(err, errlen, "a run block");
        if (w->b.nrec == 0)
            return errf(err, errlen, "agg: a record of %zu bytes is too large to spill (a block holds %u)",
                        key.len + val.len, BLOCK_MAX_RAW);
        if (writer_seal(a, w, err, errlen) < 0) return -1;
        return writer_add(a, w, key, val, err, errlen);
    }
    if (block_builder_size(&w->b) >= a->block_target) return writer_seal(a, w, err, errlen);
    return 0;
}

/* Finishes a run: the last block (when ok), then close. Counts it when ok. */
static int writer_close(agg *a, run_writer *w, int ok, char *err, size_t errlen)
{
    if (ok && w->b.nrec > 0 && writer_seal(a, w, err, errlen) < 0) ok = 0;
    block_builder_release(&w->b);
    if (w->fd >= 0 && close(w->fd) < 0 && ok) {
        errf(err, errlen, "agg: cannot write run %s: %s", w->path, strerror(errno));
        ok = 0;
    }
    w->fd = -1;
    if (!ok) return -1;
    a->spills++;
    return 0;
}

/* Writes the sorted entries to w. AGG_GROUP writes one packed list per key,
 * split into several records of the same key when it passes a block. */
static int write_held(agg *a, run_writer *w, char *err, size_t errlen)
{
    for (size_t i = 0; i < a->n;) {
        const ent *e = &a->ents[i];
        if (a->o.mode != AGG_GROUP) {
            if (writer_add(a, w, ent_key(e), ent_val(e), err, errlen) < 0) return -1;
            i++;
            continue;
        }
        size_t end = group_end(a, i);
        a->lbuf.len = 0;
        for (; i < end; i++) {
            if (a->lbuf.len >= a->block_target) {
                if (writer_add(a, w, ent_key(e), KILN_SLICE(a->lbuf.p, a->lbuf.len), err, errlen) < 0) return -1;
                a->lbuf.len = 0;
            }
            if (list_append(&a->lbuf, ent_val(&a->ents[i])) < 0) return oom(err, errlen, "a value list");
        }
        if (writer_add(a, w, ent_key(e), KILN_SLICE(a->lbuf.p, a->lbuf.len), err, errlen) < 0) return -1;
    }
    return 0;
}

/* Sorts what is held, writes it as a new run and drops it from memory. */
static int agg_spill(agg *a, char *err, size_t errlen)
{
    agg_sort_held(a);
    run_writer w;
    if (writer_open(a, &w, err, errlen) < 0) return -1;
    int ok = write_held(a, &w, err, errlen) == 0;
    if (writer_close(a, &w, ok, err, errlen) < 0) return -1;
    agg_reset(a);
    return 0;
}

/* AGG_COMBINE: every table entry to fn, in table order. 0, or -1 when fn
 * stopped. */
static int table_out(agg *a, agg_emit_fn fn, void *arg)
{
    for (size_t i = 0; i < a->ent_cap; i++)
        if (a->ents[i].rec && fn(arg, ent_key(&a->ents[i]), ent_val(&a->ents[i])) < 0) return -1;
    return 0;
}

/* Hands every held record to opts.flush and starts afresh. */
static int agg_flush(agg *a, char *err, size_t errlen)
{
    if (table_out(a, a->o.flush, a->o.flush_arg) < 0) return errf(err, errlen, "agg: flush callback failed");
    agg_reset(a);
    return 0;
}

/* Gets under the budget: flush when asked to, else spill. */
static int agg_relieve(agg *a, char *err, size_t errlen)
{
    return a->o.flush ? agg_flush(a, err, errlen) : agg_spill(a, err, errlen);
}

/* ---- the public object ------------------------------------------------- */

/* See agg.h: checks opts; only the hash table is allocated up front. */
agg *agg_new(const agg_opts *opts, char *err, size_t errlen)
{
    if (!opts) return errf(err, errlen, "agg: no options"), NULL;
    if (opts->mode != AGG_SORT && opts->mode != AGG_COMBINE && opts->mode != AGG_GROUP)
        return errf(err, errlen, "agg: unknown mode %d", (int)opts->mode), NULL;
    if (opts->memory == 0) return errf(err, errlen, "agg: the memory budget must be positive"), NULL;
    if (opts->mode == AGG_COMBINE && !opts->combine)
        return errf(err, errlen, "agg: AGG_COMBINE needs a combine function"), NULL;
    if (opts->flush && opts->mode != AGG_COMBINE) return errf(err, errlen, "agg: flush is only for AGG_COMBINE"), NULL;
    if (!opts->flush && (!opts->spill_dir || !*opts->spill_dir))
        return errf(err, errlen, "agg: a spill directory is needed"), NULL;
    agg *a = xcalloc(1, sizeof(*a));
    a->o = *opts;
    a->flip = opts->descending ? ~0ull : 0;
    size_t cs = opts->memory / 16;
    a->chunk_size = cs < CHUNK_MIN ? CHUNK_MIN : cs > CHUNK_MAX ? CHUNK_MAX : cs;
    a->block_target = opts->memory >= (256u << 20) ? BLOCK_LARGE : BLOCK_SMALL;
    size_t fi = opts->memory / (2 * a->block_target); /* a cursor holds a block twice */
    a->fanin = fi < FANIN_MIN ? FANIN_MIN : fi > FANIN_MAX ? FANIN_MAX : fi;
    if (opts->mode == AGG_COMBINE) {
        a->ent_cap = TAB_MIN;
        a->ents = xcalloc(TAB_MIN, sizeof(ent));
    }
    return a;
}

/* AGG_COMBINE: fold into the key's entry, or make one. The hash is taken
 * once; a full table or budget costs a spill (or flush) first. */
static int combine_add(agg *a, kiln_slice key, kiln_slice val, char *err, size_t errlen)
{
    uint64_t h = XXH3_64bits(key.ptr, key.len);
    ent *e = tab_find(a, key, h);
    if (e->rec) {
        uint8_t *r = e->rec;
        uint32_t kl = rec_u32(r), vl = rec_u32(r + 4);
        if (a->o.combine(a->o.combine_arg, KILN_SLICE(r + HDR + kl, vl), val, &a->cbuf) < 0)
            return errf(err, errlen, "agg: combine callback failed");
        size_t nl = a->cbuf.len;
        if (nl <= vl) {
            uint32_t nl32 = (uint32_t)nl;
            if (nl) memcpy(r + HDR + kl, a->cbuf.p, nl);
            memcpy(r + 4, &nl32, 4);
            return 0;
        }
        if (nl > UINT32_MAX) return errf(err, errlen, "agg: a combined value of %zu bytes is too large", nl);
        uint8_t *p = rec_new(a, KILN_SLICE(r + HDR, kl), KILN_SLICE(a->cbuf.p, nl)); /* old copy stays counted */
        if (!p) return errf(err, errlen, "agg: out of memory for a value of %zu bytes", nl);
        e->rec = p;
        return agg_held(a) > a->o.memory ? agg_relieve(a, err, errlen) : 0;
    }
    int grow = (a->n + 1) * 10 > a->ent_cap * 7;
    size_t cost = HDR + key.len + val.len + (grow ? a->ent_cap * sizeof(ent) : 0);
    if (a->n && agg_held(a) + cost > a->o.memory) {
        if (agg_relieve(a, err, errlen) < 0) return -1;
        grow = (a->n + 1) * 10 > a->ent_cap * 7;
        e = &a->ents[(size_t)h & (a->ent_cap - 1)]; /* the table is empty now */
    }
    if (grow) {
        if (tab_grow(a, err, errlen) < 0) return -1;
        e = tab_find(a, key, h);
    }
    uint8_t *p = rec_new(a, key, val);
    if (!p) return errf(err, errlen, "agg: out of memory for a record of %zu bytes", key.len + val.len);
    e->aux = h;
    e->rec = p;
    a->n++;
    return 0;
}

/* See agg.h. After a failure the aggregator may only be freed. */
int agg_add(agg *a, kiln_slice key, kiln_slice val, char *err, size_t errlen)
{
    if (a->finished) return errf(err, errlen, "agg: add after finish");
    if (key.len > UINT32_MAX || val.len > UINT32_MAX)
        return errf(err, errlen, "agg: a record of %zu + %zu bytes is too large", key.len, val.len);
    if (a->o.mode == AGG_COMBINE) return combine_add(a, key, val, err, errlen);
    if (a->n && agg_held(a) + HDR + key.len + val.len + sizeof(ent) > a->o.memory)
        if (agg_spill(a, err, errlen) < 0) return -1;
    return ent_push(a, key, val, err, errlen);
}

/* ---- merging ----------------------------------------------------------- */

/* A position in one sorted input: a run file, or the held entries. */
typedef struct cursor {
    int mem;
    int fd;
    uint8_t *blk; /* the sealed block last read */
    size_t blk_cap;
    block_reader br;
    int br_open;
    size_t mi;    /* mem: next entry */
    kiln_buf one; /* mem, AGG_GROUP: the value as a one-item list */
    kiln_rec rec; /* the current record */
} cursor;

/* Reads the next sealed block of a run into c->br. 1, 0 at the end, -1. */
static int cursor_load(cursor *c, char *err, size_t errlen)
{
    size_t total;
    int st = block_read_fd(c->fd, &c->blk, &c->blk_cap, &total, err, errlen);
    if (st <= 0) return st;
    if (block_reader_open(&c->br, c->blk, total, err, errlen) < 0) return -1;
    c->br_open = 1;
    return 1;
}

/* Moves c to its next record. 1, 0 at the end, -1 with a message. */
static int cursor_next(agg *a, cursor *c, char *err, size_t errlen)
{
    if (c->mem) {
        if (c->mi == a->n) return 0;
        const ent *e = &a->ents[c->mi++];
        c->rec.key = ent_key(e);
        c->rec.val = ent_val(e);
        if (a->o.mode == AGG_GROUP) {
            c->one.len = 0;
            if (list_append(&c->one, c->rec.val) < 0) return oom(err, errlen, "a value list");
            c->rec.val = KILN_SLICE(c->one.p, c->one.len);
        }
        return 1;
    }
    for (;;) {
        if (c->br_open) {
            int r = block_reader_next(&c->br, &c->rec, err, errlen);
            if (r != 0) return r;
            block_reader_close(&c->br);
            c->br_open = 0;
        }
        int r = cursor_load(c, err, errlen);
        if (r <= 0) return r;
    }
}

static void cursors_free(cursor *cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (cs[i].fd >= 0) close(cs[i].fd);
        if (cs[i].br_open) block_reader_close(&cs[i].br);
        free(cs[i].blk);
        kiln_buf_release(&cs[i].one);
    }
    free(cs);
}

/* Record order in a merge: the entry order of ent_cmp, without prefixes. */
static inline int rec_cmp(const agg *a, const kiln_rec *x, const kiln_rec *y)
{
    int c = bytes_cmp(x->key.ptr, x->key.len, y->key.ptr, y->key.len);
    if (c) return a->o.descending ? -c : c;
    if (a->o.mode != AGG_SORT) return 0;
    c = bytes_cmp(x->val.ptr, x->val.len, y->val.ptr, y->val.len);
    return a->o.descending ? -c : c;
}

static void heap_down(const agg *a, cursor **h, size_t n, size_t i)
{
    cursor *c = h[i];
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        if (l + 1 < n && rec_cmp(a, &h[l + 1]->rec, &h[l]->rec) < 0) l++;
        if (rec_cmp(a, &h[l]->rec, &c->rec) >= 0) break;
        h[i] = h[l];
        i = l;
    }
    h[i] = c;
}

/* Where merged records go: a run being written, or the caller's emit. */
typedef struct sink {
    run_writer *w;
    agg_emit_fn emit;
    void *arg;
} sink;

static int sink_put(agg *a, sink *s, kiln_slice key, kiln_slice val, char *err, size_t errlen)
{
    if (s->w) return writer_add(a, s->w, key, val, err, errlen);
    if (s->emit(s->arg, key, val) < 0) return emit_stopped(err, errlen);
    return 0;
}

/* Folds val into the accumulator lbuf: combine, or join packed lists. */
static int fold(agg *a, kiln_slice val, char *err, size_t errlen)
{
    if (a->o.mode == AGG_GROUP) {
        if (buf_append(&a->lbuf, val) < 0) return oom(err, errlen, "a value list");
        return 0;
    }
    if (a->o.combine(a->o.combine_arg, KILN_SLICE(a->lbuf.p, a->lbuf.len), val, &a->cbuf) < 0)
        return errf(err, errlen, "agg: combine callback failed");
    kiln_buf t = a->lbuf;
    a->lbuf = a->cbuf;
    a->cbuf = t;
    return 0;
}

/*
 * Merges the n cursors (not yet started) into s. AGG_SORT passes records
 * through; AGG_COMBINE folds equal keys; AGG_GROUP joins their lists when
 * emitting, and passes them through into a run (the final merge joins
 * them), so no run record outgrows a block.
 */
static int merge(agg *a, cursor *cs, size_t n, sink *s, char *err, size_t errlen)
{
    cursor **h = malloc((n ? n : 1) * sizeof(*h));
    if (!h) return oom(err, errlen, "the merge heap");
    size_t hn = 0;
    int rc = -1, have = 0;
    for (size_t i = 0; i < n; i++) {
        int r = cursor_next(a, &cs[i], err, errlen);
        if (r < 0) goto out;
        if (r) h[hn++] = &cs[i];
    }
    for (size_t i = hn / 2; i-- > 0;)
        heap_down(a, h, hn, i);
    int folding = a->o.mode == AGG_COMBINE || (a->o.mode == AGG_GROUP && !s->w);
    while (hn) {
        cursor *c = h[0];
        kiln_rec *r = &c->rec;
        if (!folding) {
            if (sink_put(a, s, r->key, r->val, err, errlen) < 0) goto out;
        } else if (have && bytes_eq(a->kbuf.p, a->kbuf.len, r->key.ptr, r->key.len)) {
            if (fold(a, r->val, err, errlen) < 0) goto out;
        } else {
            if (have &&
                sink_put(a, s, KILN_SLICE(a->kbuf.p, a->kbuf.len), KILN_SLICE(a->lbuf.p, a->lbuf.len), err, errlen) < 0)
                goto out;
            if (kiln_buf_set(&a->kbuf, r->key.ptr, r->key.len) < 0 ||
                kiln_buf_set(&a->lbuf, r->val.ptr, r->val.len) < 0) {
                oom(err, errlen, "a merged record");
                goto out;
            }
            have = 1;
        }
        int nr = cursor_next(a, c, err, errlen);
        if (nr < 0) goto out;
        if (nr == 0) h[0] = h[--hn];
        if (hn) heap_down(a, h, hn, 0);
    }
    if (have && sink_put(a, s, KILN_SLICE(a->kbuf.p, a->kbuf.len), KILN_SLICE(a->lbuf.p, a->lbuf.len), err, errlen) < 0)
        goto out;
    rc = 0;
out:
    free(h);
    return rc;
}

/* Cursors over runs [0, nfile) and, when mem, the held entries (already
 * sorted) last. NULL with a message. */
static cursor *cursors_open(agg *a, size_t nfile, int mem, char *err, size_t errlen)
{
    size_t n = nfile + (mem ? 1 : 0);
    cursor *cs = calloc(n ? n : 1, sizeof(cursor));
    if (!cs) return oom(err, errlen, "merge cursors"), NULL;
    for (size_t i = 0; i < n; i++)
        cs[i].fd = -1;
    for (size_t i = 0; i < nfile; i++) {
        cs[i].fd = open(a->runs[i], O_RDONLY | O_CLOEXEC);
        if (cs[i].fd < 0) {
            errf(err, errlen, "agg: cannot open run %s: %s", a->runs[i], strerror(errno));
            cursors_free(cs, n);
            return NULL;
        }
    }
    if (mem) cs[nfile].mem = 1;
    return cs;
}

/* Merges runs [0, count) into one new run at the end, then removes them. */
static int merge_runs(agg *a, size_t count, char *err, size_t errlen)
{
    cursor *cs = cursors_open(a, count, 0, err, errlen);
    if (!cs) return -1;
    run_writer w;
    int rc = writer_open(a, &w, err, errlen);
    if (rc == 0) {
        sink s = {.w = &w};
        int ok = merge(a, cs, count, &s, err, errlen) == 0;
        rc = writer_close(a, &w, ok, err, errlen);
    }
    cursors_free(cs, count);
    if (rc < 0) return -1;
    for (size_t i = 0; i < count; i++) {
        unlink(a->runs[i]);
        free(a->runs[i]);
    }
    a->nruns -= count;
    memmove(a->runs, a->runs + count, a->nruns * sizeof(char *));
    return 0;
}

/* No spills: the result straight from memory. */
static int finish_memory(agg *a, agg_emit_fn emit, void *arg, char *err, size_t errlen)
{
    if (a->o.mode == AGG_COMBINE) return table_out(a, emit, arg) < 0 ? emit_stopped(err, errlen) : 0;
    ent_sort(a, a->ents, a->n, 0);
    for (size_t i = 0; i < a->n;) {
        const ent *e = &a->ents[i];
        kiln_slice val = ent_val(e);
        size_t end = i + 1;
        if (a->o.mode == AGG_GROUP) {
            end = group_end(a, i);
            a->lbuf.len = 0;
            for (size_t j = i; j < end; j++)
                if (list_append(&a->lbuf, ent_val(&a->ents[j])) < 0) return oom(err, errlen, "a value list");
            val = KILN_SLICE(a->lbuf.p, a->lbuf.len);
        }
        if (emit(arg, ent_key(e), val) < 0) return emit_stopped(err, errlen);
        i = end;
    }
    return 0;
}

/* See agg.h: from memory when nothing was spilled; else merge passes of
 * fanin runs until the rest, with the held remainder, fit one last merge. */
int agg_finish(agg *a, agg_emit_fn emit, void *arg, char *err, size_t errlen)
{
    if (a->finished) return errf(err, errlen, "agg: finish called twice");
    a->finished = 1;
    if (!emit) return errf(err, errlen, "agg: no emit function");
    if (a->nruns == 0) return finish_memory(a, emit, arg, err, errlen);
    int mem = a->n > 0;
    if (mem) agg_sort_held(a);
    while (a->nruns + (size_t)mem > a->fanin)
        if (merge_runs(a, a->fanin, err, errlen) < 0) return -1;
    size_t n = a->nruns + (size_t)mem;
    cursor *cs = cursors_open(a, a->nruns, mem, err, errlen);
    if (!cs) return -1;
    sink s = {.emit = emit, .arg = arg};
    int rc = merge(a, cs, n, &s, err, errlen);
    cursors_free(cs, n);
    return rc;
}

void agg_free(agg *a)
{
    if (!a) return;
    agg_reset(a);
    free(a->ents);
    kiln_buf_release(&a->cbuf);
    kiln_buf_release(&a->kbuf);
    kiln_buf_release(&a->lbuf);
    for (size_t i = 0; i < a->nruns; i++) {
        unlink(a->runs[i]);
        free(a->runs[i]);
    }
    free(a->runs);
    free(a);
}

uint64_t agg_spills(const agg *a)
{
    return a->spills;
}

uint64_t agg_spill_bytes(const agg *a)
{
    return a->spill_bytes;
}
