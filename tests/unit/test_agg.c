/*
 * test_agg.c - unit tests of executor/agg.c: every mode, in memory and
 * spilling under tiny budgets (4 KiB, 64 KiB), checked against an oracle
 * written here (qsort and linear scans, no shared code) on generated data
 * with skewed keys, empty keys and values, a 1 MiB value and long runs of
 * one key; flush mode, failing callbacks, cleanup of spill files; and
 * timings printed to stderr (never asserted).
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agg.h"
#include "runtime.h"

#define BIG_MEM (256u << 20)

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* ---- records and data sets --------------------------------------------- */

typedef struct trec {
    uint8_t *k, *v;
    size_t kl, vl;
} trec;

typedef struct tset {
    trec *r;
    size_t n, cap;
} tset;

static void tset_add(tset *s, const void *k, size_t kl, const void *v, size_t vl)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->r = realloc(s->r, s->cap * sizeof(trec));
        if (!s->r) ck_abort_msg("out of memory");
    }
    trec *r = &s->r[s->n++];
    r->k = malloc(kl + 1);
    r->v = malloc(vl + 1);
    if (!r->k || !r->v) ck_abort_msg("out of memory");
    if (kl) memcpy(r->k, k, kl);
    if (vl) memcpy(r->v, v, vl);
    r->kl = kl;
    r->vl = vl;
}

static void tset_free(tset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->r[i].k);
        free(s->r[i].v);
    }
    free(s->r);
    memset(s, 0, sizeof(*s));
}

static void put_i64(uint8_t *b, int64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)v >> (8 * i));
}

static int64_t get_i64(const uint8_t *b, size_t n)
{
    uint64_t u = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        u |= (uint64_t)b[i] << (8 * i);
    return (int64_t)u;
}

/* Key number id as bytes: the empty key, runs of NULs, keys sharing a
 * 13-byte prefix (past the 8 the sort indexes), short text, binary. */
static size_t make_key(uint64_t id, uint8_t *out)
{
    if (id < 3) {
        memset(out, 0, id);
        return id;
    }
    switch (id % 3) {
    case 0:
        return (size_t)sprintf((char *)out, "commonprefix-%llu", (unsigned long long)id);
    case 1:
        return (size_t)sprintf((char *)out, "k%llu", (unsigned long long)id);
    default: {
        uint64_t h = id * 0x9e3779b97f4a7c15ull;
        size_t n = 4 + id % 9;
        for (size_t i = 0; i < n; i++, h = h * 6364136223846793005ull + 1)
            out[i] = (uint8_t)(h >> 56) & (i % 3 ? 0xff : 0x01);
        return n;
    }
    }
}

enum { VAL_BYTES, VAL_I64, VAL_ONE, VAL_CHAR };

/*
 * n records over about nkeys keys drawn Zipf-like (key id = nkeys^u - 1),
 * values by kind: random bytes (0..16, some empty), random i64, the i64 1,
 * or one letter. big adds a record with a 1 MiB value.
 */
static void gen(tset *s, size_t n, uint64_t nkeys, int kind, int big)
{
    uint8_t k[64], v[32];
    for (size_t i = 0; i < n; i++) {
        double u = (double)(rnd() >> 11) / 9007199254740992.0;
        uint64_t id = (uint64_t)pow((double)nkeys, u) - 1;
        size_t kl = make_key(id, k), vl = 8;
        if (kind == VAL_BYTES) {
            vl = rnd() % 10 == 0 ? 0 : rnd() % 17;
            for (size_t j = 0; j < vl; j++)
                v[j] = (uint8_t)rnd();
        } else if (kind == VAL_I64) {
            put_i64(v, (int64_t)(rnd() % 2001) - 1000);
        } else if (kind == VAL_ONE) {
            put_i64(v, 1);
        } else {
            v[0] = (uint8_t)('a' + rnd() % 26);
            vl = 1;
        }
        tset_add(s, k, kl, v, vl);
    }
    if (big) {
        size_t bl = 1u << 20;
        uint8_t *b = malloc(bl);
        for (size_t j = 0; j < bl; j++)
            b[j] = (uint8_t)rnd();
        if (kind != VAL_BYTES) bl = kind == VAL_CHAR ? 1 : 8;
        tset_add(s, "bigvalue", 8, b, bl);
        free(b);
    }
}

static int bcmp_(const uint8_t *x, size_t xl, const uint8_t *y, size_t yl)
{
    size_t m = xl < yl ? xl : yl;
    int c = m ? memcmp(x, y, m) : 0;
    return c ? c : (xl > yl) - (xl < yl);
}

static int oracle_desc; /* key order of the oracle's comparators */

static int cmp_key(const void *x, const void *y)
{
    const trec *a = x, *b = y;
    int c = bcmp_(a->k, a->kl, b->k, b->kl);
    return oracle_desc ? -c : c;
}

static int cmp_key_val(const void *x, const void *y)
{
    int c = cmp_key(x, y);
    if (c) return c;
    const trec *a = x, *b = y;
    c = bcmp_(a->v, a->vl, b->v, b->vl);
    return oracle_desc ? -c : c; /* descending reverses the whole order */
}

/* Sorted copies of the records (pointers shared with s). */
static trec *sorted(const tset *s, int (*cmp)(const void *, const void *), int desc)
{
    trec *r = malloc((s->n ? s->n : 1) * sizeof(trec));
    if (s->n) memcpy(r, s->r, s->n * sizeof(trec));
    oracle_desc = desc;
    qsort(r, s->n, sizeof(trec), cmp);
    return r;
}

/* ---- running an aggregator --------------------------------------------- */

static char tmp_base[64], tmp_spill[128];

/* A fresh temporary directory; spills go to a subdirectory not yet made. */
static void dir_setup(void)
{
    strcpy(tmp_base, "/tmp/test_agg-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_base));
    snprintf(tmp_spill, sizeof tmp_spill, "%s/spill/runs", tmp_base);
}

/* Entries in a directory, -1 when it does not exist. */
static int dir_count(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* After agg_free: the spill directory is empty, then removed whole. */
static void dir_check_and_remove(void)
{
    char mid[128];
    ck_assert_int_le(dir_count(tmp_spill), 0);
    rmdir(tmp_spill);
    snprintf(mid, sizeof mid, "%s/spill", tmp_base);
    rmdir(mid);
    ck_assert_int_eq(rmdir(tmp_base), 0);
}

static int sum_calls, sum_fail_at;

/* Combine: sum of little-endian i64; fails on call number sum_fail_at. */
static int sum_i64(void *arg, kiln_slice a, kiln_slice b, kiln_buf *out)
{
    if (++sum_calls == sum_fail_at) return -1;
    uint8_t r[8];
    put_i64(r, (int64_t)((uint64_t)get_i64(a.ptr, a.len) + (uint64_t)get_i64(b.ptr, b.len)));
    return kiln_buf_set(out, r, 8);
}

/* Combine: concatenation (values grow, forcing relocations). */
static int concat(void *arg, kiln_slice a, kiln_slice b, kiln_buf *out)
{
    uint8_t *p = malloc(a.len + b.len + 1);
    if (a.len) memcpy(p, a.ptr, a.len);
    if (b.len) memcpy(p + a.len, b.ptr, b.len);
    int rc = kiln_buf_set(out, p, a.len + b.len);
    free(p);
    return rc;
}

typedef struct collect {
    tset out;
    int stop_at, calls;
} collect;

static int collect_emit(void *arg, kiln_slice key, kiln_slice val)
{
    collect *c = arg;
    if (++c->calls == c->stop_at) return -1;
    tset_add(&c->out, key.ptr, key.len, val.ptr, val.len);
    return 0;
}

/* Runs one aggregation of s; the output in *out, the runs written in
 * *spills. flush, when set, collects flushed records into out too. */
static void run(agg_mode mode, size_t memory, int desc, agg_combine_fn comb, int flush, const tset *s, tset *out,
                uint64_t *spills)
{
    char err[256];
    collect c = {0};
    agg_opts o = {.mode = mode,
                  .memory = memory,
                  .spill_dir = tmp_spill,
                  .descending = desc,
                  .combine = comb,
                  .flush = flush ? collect_emit : NULL,
                  .flush_arg = &c};
    agg *a = agg_new(&o, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    for (size_t i = 0; i < s->n; i++)
        if (agg_add(a, KILN_SLICE(s->r[i].k, s->r[i].kl), KILN_SLICE(s->r[i].v, s->r[i].vl), err, sizeof err))
            ck_abort_msg("%s", err);
    ck_assert_msg(agg_finish(a, collect_emit, &c, err, sizeof err) == 0, "%s", err);
    *spills = agg_spills(a);
    if (*spills) {
        ck_assert_uint_gt(agg_spill_bytes(a), 0);
        ck_assert_int_gt(dir_count(tmp_spill), 0); /* runs stay until agg_free */
    }
    agg_free(a);
    ck_assert_int_le(dir_count(tmp_spill), 0);
    *out = c.out;
}

/* Keys of out strictly in order (ascending, or descending when desc). */
static void check_key_order(const tset *out, int desc)
{
    for (size_t i = 1; i < out->n; i++) {
        int c = bcmp_(out->r[i - 1].k, out->r[i - 1].kl, out->r[i].k, out->r[i].kl);
        ck_assert_msg(desc ? c > 0 : c < 0, "keys out of order at %zu", i);
    }
}

static const size_t memories[] = {BIG_MEM, 64u << 10, 4u << 10};

/* ---- the oracles -------------------------------------------------------- */

static void check_sort(const tset *s, size_t memory, int desc)
{
    tset out;
    uint64_t spills;
    run(AGG_SORT, memory, desc, NULL, 0, s, &out, &spills);
    if (memory < BIG_MEM) ck_assert_uint_gt(spills, 0);
    trec *want = sorted(s, cmp_key_val, desc);
    ck_assert_uint_eq(out.n, s->n);
    for (size_t i = 0; i < s->n; i++)
        ck_assert_msg(cmp_key_val(&want[i], &out.r[i]) == 0, "record %zu differs", i);
    free(want);
    tset_free(&out);
}

/* Checks out (any order; sorted here) against per-key folds of s: i64
 * sums, or for concatenation the same letters in any order. */
static void check_combined(const tset *s, tset *out, int concat_mode)
{
    trec *want = sorted(s, cmp_key, 0);
    qsort(out->r, out->n, sizeof(trec), cmp_key);
    size_t o = 0;
    for (size_t i = 0; i < s->n; o++) {
        int64_t sum = 0;
        size_t hist[256] = {0}, j = i;
        for (; j < s->n && cmp_key(&want[i], &want[j]) == 0; j++) {
            sum += get_i64(want[j].v, want[j].vl);
            if (concat_mode) hist[want[j].v[0]]++;
        }
        ck_assert_uint_lt(o, out->n);
        ck_assert_msg(cmp_key(&want[i], &out->r[o]) == 0, "key %zu differs", o);
        if (concat_mode) {
            ck_assert_uint_eq(out->r[o].vl, j - i);
            for (size_t x = 0; x < out->r[o].vl; x++)
                hist[out->r[o].v[x]]--;
            for (int x = 0; x < 256; x++)
                ck_assert_msg(hist[x] == 0, "key %zu: letters differ", o);
        } else {
            ck_assert_uint_eq(out->r[o].vl, 8);
            ck_assert_int_eq(get_i64(out->r[o].v, 8), sum);
        }
        i = j;
    }
    ck_assert_uint_eq(o, out->n);
    free(want);
}

static void check_combine(const tset *s, size_t memory, int desc, agg_combine_fn comb)
{
    tset out;
    uint64_t spills;
    sum_calls = 0;
    sum_fail_at = -1;
    run(AGG_COMBINE, memory, desc, comb, 0, s, &out, &spills);
    if (memory < BIG_MEM && s->n > 10000) ck_assert_uint_gt(spills, 0); /* not when a few keys fit */
    if (spills) check_key_order(&out, desc);                            /* merged runs: key order */
    check_combined(s, &out, comb == concat);
    tset_free(&out);
}

static int cmp_item(const void *x, const void *y)
{
    const kiln_slice *a = x, *b = y;
    return bcmp_(a->ptr, a->len, b->ptr, b->len);
}

static void check_group(const tset *s, size_t memory, int desc)
{
    tset out;
    uint64_t spills;
    run(AGG_GROUP, memory, desc, NULL, 0, s, &out, &spills);
    if (memory < BIG_MEM) ck_assert_uint_gt(spills, 0);
    check_key_order(&out, desc);
    trec *want = sorted(s, cmp_key_val, desc);
    kiln_slice *items = malloc((s->n + 1) * sizeof(kiln_slice));
    size_t o = 0;
    for (size_t i = 0; i < s->n; o++) {
        size_t j = i;
        while (j < s->n && cmp_key(&want[i], &want[j]) == 0)
            j++;
        ck_assert_uint_lt(o, out.n);
        ck_assert_msg(cmp_key(&want[i], &out.r[o]) == 0, "key %zu differs", o);
        kiln_slice list = KILN_SLICE(out.r[o].v, out.r[o].vl), item;
        size_t ni = 0;
        while (kiln_list_next(&list, &item)) {
            ck_assert_uint_lt(ni, j - i);
            items[ni++] = item;
        }
        ck_assert_uint_eq(list.len, 0);
        ck_assert_uint_eq(ni, j - i);
        qsort(items, ni, sizeof(kiln_slice), cmp_item);
        for (size_t x = 0; desc && x < ni / 2; x++) { /* the oracle's values run the other way */
            kiln_slice t = items[x];
            items[x] = items[ni - 1 - x];
            items[ni - 1 - x] = t;
        }
        for (size_t x = 0; x < ni; x++)
            ck_assert_msg(bcmp_(items[x].ptr, items[x].len, want[i + x].v, want[i + x].vl) == 0,
                          "key %zu: values differ", o);
        i = j;
    }
    ck_assert_uint_eq(o, out.n);
    free(items);
    free(want);
    tset_free(&out);
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_sort)
{
    tset s = {0};
    gen(&s, 20000, 3000, VAL_BYTES, 1);
    for (size_t m = 0; m < 3; m++)
        for (int desc = 0; desc < 2; desc++) {
            dir_setup();
            check_sort(&s, memories[m], desc);
            dir_check_and_remove();
        }
    tset_free(&s);
}
END_TEST

START_TEST(test_combine)
{
    tset s = {0};
    gen(&s, 20000, 3000, VAL_I64, 1);
    for (size_t m = 0; m < 3; m++)
        for (int desc = 0; desc < 2; desc++) {
            dir_setup();
            check_combine(&s, memories[m], desc, sum_i64);
            dir_check_and_remove();
        }
    tset_free(&s);
}
END_TEST

START_TEST(test_combine_growing_values)
{
    tset s = {0};
    gen(&s, 20000, 500, VAL_CHAR, 0);
    for (size_t m = 0; m < 3; m++) {
        dir_setup();
        check_combine(&s, memories[m], 0, concat);
        dir_check_and_remove();
    }
    tset_free(&s);
}
END_TEST

START_TEST(test_group)
{
    tset s = {0};
    gen(&s, 20000, 3000, VAL_BYTES, 1);
    for (size_t m = 0; m < 3; m++)
        for (int desc = 0; desc < 2; desc++) {
            dir_setup();
            check_group(&s, memories[m], desc);
            dir_check_and_remove();
        }
    tset_free(&s);
}
END_TEST

/* One key only, and a few keys: long runs of equal keys in every mode. */
START_TEST(test_equal_keys)
{
    for (uint64_t nkeys = 1; nkeys <= 4; nkeys += 3) {
        tset b = {0}, i = {0};
        gen(&b, 8000, nkeys, VAL_BYTES, 0);
        gen(&i, 8000, nkeys, VAL_I64, 0);
        for (size_t m = 0; m < 3; m++) {
            dir_setup();
            check_sort(&b, memories[m], 1);
            check_group(&b, memories[m], 0);
            check_combine(&i, memories[m], 0, sum_i64);
            dir_check_and_remove();
        }
        tset_free(&b);
        tset_free(&i);
    }
}
END_TEST

/* One key whose values pass a block many times over: lists split inside
 * runs and joined again by the merge, and a long list from memory. */
START_TEST(test_group_long_lists)
{
    tset s = {0};
    uint8_t v[40];
    for (size_t i = 0; i < 150000; i++) {
        size_t vl = rnd() % 41;
        for (size_t j = 0; j < vl; j++)
            v[j] = (uint8_t)rnd();
        tset_add(&s, i % 50 ? "one" : "other", i % 50 ? 3 : 5, v, vl);
    }
    size_t mems[] = {BIG_MEM, 2u << 20};
    for (int m = 0; m < 2; m++) {
        dir_setup();
        check_group(&s, mems[m], 0);
        dir_check_and_remove();
    }
    tset_free(&s);
}
END_TEST

START_TEST(test_empty_input)
{
    tset s = {0}, out;
    uint64_t spills;
    dir_setup();
    agg_mode modes[] = {AGG_SORT, AGG_COMBINE, AGG_GROUP};
    for (int m = 0; m < 3; m++) {
        run(modes[m], 4096, 0, sum_i64, 0, &s, &out, &spills);
        ck_assert_uint_eq(out.n, 0);
        ck_assert_uint_eq(spills, 0);
    }
    ck_assert_int_eq(dir_count(tmp_spill), -1); /* never made */
    dir_check_and_remove();
}
END_TEST

/* Flush mode: every record reaches flush or finish exactly once (counts
 * of 1 add up), sums are right, and nothing touches the disk. */
START_TEST(test_flush)
{
    int kinds[] = {VAL_ONE, VAL_I64};
    for (int k = 0; k < 2; k++) {
        tset s = {0}, out;
        gen(&s, 30000, 3000, kinds[k], 0);
        for (size_t m = 0; m < 3; m++) {
            uint64_t spills;
            dir_setup();
            sum_calls = 0;
            sum_fail_at = -1;
            run(AGG_COMBINE, memories[m], 0, sum_i64, 1, &s, &out, &spills);
            ck_assert_uint_eq(spills, 0);
            ck_assert_int_eq(dir_count(tmp_spill), -1);
            if (memories[m] < BIG_MEM) ck_assert_uint_gt(out.n, 3000); /* some keys went out twice */
            /* partial results for a key add up to the whole */
            check_combine(&out, BIG_MEM, 0, sum_i64);
            tset once;
            uint64_t sp;
            run(AGG_COMBINE, BIG_MEM, 0, sum_i64, 0, &out, &once, &sp);
            check_combined(&s, &once, 0);
            tset_free(&once);
            tset_free(&out);
            dir_check_and_remove();
        }
        tset_free(&s);
    }
}
END_TEST

/* A failing combine stops agg_add (in memory) or agg_finish (merging). */
START_TEST(test_combine_failure)
{
    tset s = {0};
    gen(&s, 20000, 300, VAL_I64, 0);
    char err[256];
    for (size_t m = 0; m < 3; m += 2) {
        dir_setup();
        agg_opts o = {.mode = AGG_COMBINE, .memory = memories[m], .spill_dir = tmp_spill, .combine = sum_i64};
        agg *a = agg_new(&o, err, sizeof err);
        ck_assert_ptr_nonnull(a);
        sum_calls = 0;
        sum_fail_at = memories[m] == BIG_MEM ? 5000 : -1;
        int rc = 0;
        for (size_t i = 0; i < s.n && rc == 0; i++)
            rc = agg_add(a, KILN_SLICE(s.r[i].k, s.r[i].kl), KILN_SLICE(s.r[i].v, s.r[i].vl), err, sizeof err);
        if (memories[m] == BIG_MEM) {
            ck_assert_int_eq(rc, -1);
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_gt(agg_spills(a), 0);
            sum_fail_at = sum_calls + 10; /* fails while merging */
            collect c = {0};
            rc = agg_finish(a, collect_emit, &c, err, sizeof err);
            ck_assert_int_eq(rc, -1);
            tset_free(&c.out);
        }
        ck_assert_msg(strstr(err, "combine") != NULL, "%s", err);
        agg_free(a);
        dir_check_and_remove();
    }
    tset_free(&s);
}
END_TEST

/* An emit returning -1 stops agg_finish at once, with err left empty. */
START_TEST(test_emit_stop)
{
    tset s = {0};
    gen(&s, 5000, 1000, VAL_I64, 0);
    agg_mode modes[] = {AGG_SORT, AGG_COMBINE, AGG_GROUP};
    char err[256];
    for (int md = 0; md < 3; md++)
        for (size_t m = 0; m < 3; m += 2) {
            dir_setup();
            sum_calls = 0;
            sum_fail_at = -1;
            agg_opts o = {.mode = modes[md], .memory = memories[m], .spill_dir = tmp_spill, .combine = sum_i64};
            agg *a = agg_new(&o, err, sizeof err);
            for (size_t i = 0; i < s.n; i++)
                if (agg_add(a, KILN_SLICE(s.r[i].k, s.r[i].kl), KILN_SLICE(s.r[i].v, s.r[i].vl), err, sizeof err))
                    ck_abort_msg("%s", err);
            collect c = {.stop_at = 3};
            strcpy(err, "untouched");
            ck_assert_int_eq(agg_finish(a, collect_emit, &c, err, sizeof err), -1);
            ck_assert_str_eq(err, "");
            ck_assert_int_eq(c.calls, 3);
            ck_assert_uint_eq(c.out.n, 2);
            ck_assert_int_eq(agg_finish(a, collect_emit, &c, err, sizeof err), -1); /* only once */
            tset_free(&c.out);
            agg_free(a);
            dir_check_and_remove();
        }
    tset_free(&s);
}
END_TEST

START_TEST(test_bad_options)
{
    char err[256];
    ck_assert_ptr_null(agg_new(NULL, err, sizeof err));
    agg_opts o = {.mode = AGG_COMBINE, .memory = 1024, .spill_dir = "/tmp/x"};
    ck_assert_ptr_null(agg_new(&o, err, sizeof err)); /* no combine */
    ck_assert_ptr_nonnull(strstr(err, "combine"));
    o = (agg_opts){.mode = AGG_SORT, .memory = 0, .spill_dir = "/tmp/x"};
    ck_assert_ptr_null(agg_new(&o, err, sizeof err));
    o = (agg_opts){.mode = AGG_SORT, .memory = 1024};
    ck_assert_ptr_null(agg_new(&o, err, sizeof err)); /* no spill dir */
    o = (agg_opts){.mode = AGG_SORT, .memory = 1024, .spill_dir = "/tmp/x", .flush = collect_emit};
    ck_assert_ptr_null(agg_new(&o, err, sizeof err));
    o = (agg_opts){.mode = (agg_mode)7, .memory = 1024, .spill_dir = "/tmp/x"};
    ck_assert_ptr_null(agg_new(&o, err, sizeof err));
    /* a spill directory that cannot be made fails agg_add with a message */
    o = (agg_opts){.mode = AGG_SORT, .memory = 64, .spill_dir = "/proc/no/such/dir"};
    agg *a = agg_new(&o, err, sizeof err);
    ck_assert_ptr_nonnull(a);
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++)
        rc = agg_add(a, KILN_STR("some key"), KILN_STR("some value"), err, sizeof err);
    ck_assert_int_eq(rc, -1);
    ck_assert_ptr_nonnull(strstr(err, "/proc/no"));
    agg_free(a);
}
END_TEST

static double secs(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int count_emit(void *arg, kiln_slice key, kiln_slice val)
{
    ++*(size_t *)arg;
    return 0;
}

/* One timed aggregation: COMBINE of n words "w<i>" (distinct of them), or
 * SORT of n 100-byte records (10-byte random key). Prints the figure. */
static void bench(agg_mode mode, size_t n, size_t distinct, size_t memory, int flush)
{
    char err[256], (*words)[16] = NULL;
    size_t outn = 0;
    if (mode == AGG_COMBINE) {
        words = malloc(distinct * sizeof(*words));
        for (size_t i = 0; i < distinct; i++)
            snprintf(words[i], sizeof words[i], "w%zu", i);
    }
    dir_setup();
    agg_opts o = {.mode = mode,
                  .memory = memory,
                  .spill_dir = tmp_spill,
                  .combine = sum_i64,
                  .flush = flush ? count_emit : NULL,
                  .flush_arg = &outn};
    agg *a = agg_new(&o, err, sizeof err);
    sum_calls = 0;
    sum_fail_at = -1;
    uint8_t one[8], rec[100];
    put_i64(one, 1);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (mode == AGG_COMBINE) {
            const char *w = words[rnd() % distinct];
            rc = agg_add(a, KILN_STR(w), KILN_SLICE(one, 8), err, sizeof err);
        } else {
            for (int j = 0; j < 100; j += 8) {
                uint64_t r = rnd();
                memcpy(rec + j, &r, j + 8 <= 100 ? 8 : 4);
            }
            rc = agg_add(a, KILN_SLICE(rec, 10), KILN_SLICE(rec + 10, 90), err, sizeof err);
        }
        if (rc) ck_abort_msg("%s", err); /* ck_assert costs a write per call */
    }
    ck_assert_msg(agg_finish(a, count_emit, &outn, err, sizeof err) == 0, "%s", err);
    fprintf(stderr, "agg bench: %s %zu records (%zu out), memory %zu MiB%s: %.2f s, %llu runs, %.1f MiB spilled\n",
            mode == AGG_COMBINE ? "COMBINE" : "SORT", n, outn, memory >> 20, flush ? " with flush" : "", secs(&t0),
            (unsigned long long)agg_spills(a), (double)agg_spill_bytes(a) / (1 << 20));
    agg_free(a);
    dir_check_and_remove();
    free(words);
}

START_TEST(test_perf)
{
    bench(AGG_COMBINE, 10000000, 100000, BIG_MEM, 0);
    bench(AGG_COMBINE, 10000000, 100000, 1u << 20, 1);
    bench(AGG_SORT, 2000000, 0, 1u << 30, 0);
    bench(AGG_SORT, 2000000, 0, 32u << 20, 0);
}
END_TEST

static Suite *agg_suite(void)
{
    Suite *s = suite_create("agg");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_sort);
    tcase_add_test(tc, test_combine);
    tcase_add_test(tc, test_combine_growing_values);
    tcase_add_test(tc, test_group);
    tcase_add_test(tc, test_equal_keys);
    tcase_add_test(tc, test_group_long_lists);
    tcase_add_test(tc, test_empty_input);
    tcase_add_test(tc, test_flush);
    tcase_add_test(tc, test_combine_failure);
    tcase_add_test(tc, test_emit_stop);
    tcase_add_test(tc, test_bad_options);
    suite_add_tcase(s, tc);
    TCase *perf = tcase_create("perf");
    tcase_set_timeout(perf, 900);
    tcase_add_test(perf, test_perf);
    suite_add_tcase(s, perf);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(agg_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
