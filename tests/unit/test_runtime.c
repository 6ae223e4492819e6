/*
 * test_runtime.c - unit tests of common/runtime.c: what user functions call
 * (emit, buffers, failures, counters) and the built-in functions of
 * include/kiln.h, driven through a recording kiln_out as an executor would.
 * The packed list and pair readers get hostile bytes too: they must say
 * false / -1 and never read outside the slice.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "runtime.h"

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* ---- a kiln_out that records what is emitted ------------------------------ */

typedef struct rec_copy {
    char *key, *val; /* NUL-terminated copies */
    size_t klen, vlen;
} rec_copy;

typedef struct recorder {
    struct kiln_out out; /* first: a kiln_out * is a recorder * */
    rec_copy *recs;
    size_t n, cap;
    size_t fail_after; /* emit returns -1 once n reaches this (0: never) */
} recorder;

static char *dup_bytes(kiln_slice s)
{
    char *p = malloc(s.len + 1);
    if (s.len) memcpy(p, s.ptr, s.len);
    p[s.len] = 0;
    return p;
}

static int record_emit(kiln_out *self, kiln_slice key, kiln_slice val)
{
    recorder *r = (recorder *)self;
    if (r->fail_after && r->n >= r->fail_after) return -1;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->recs = realloc(r->recs, r->cap * sizeof *r->recs);
    }
    rec_copy *c = &r->recs[r->n++];
    c->key = dup_bytes(key);
    c->klen = key.len;
    c->val = dup_bytes(val);
    c->vlen = val.len;
    return 0;
}

static void rec_init(recorder *r)
{
    memset(r, 0, sizeof *r);
    r->out.emit = record_emit;
}

static void rec_release(recorder *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->recs[i].key);
        free(r->recs[i].val);
    }
    free(r->recs);
    memset(r, 0, sizeof *r);
}

static kiln_rec text_rec(const char *line)
{
    return (kiln_rec){KILN_NONE, KILN_STR(line)};
}

/* Runs kiln_words over line and checks the words and their values. */
static void assert_words(const char *line, const char *const *want, size_t nwant)
{
    recorder r;
    rec_init(&r);
    ck_assert_int_eq(kiln_words(text_rec(line), &r.out, KILN_NONE), 0);
    ck_assert_msg(r.n == nwant, "\"%s\": %zu words, expected %zu", line, r.n, nwant);
    for (size_t i = 0; i < nwant; i++) {
        ck_assert_str_eq(r.recs[i].key, want[i]);
        ck_assert_uint_eq(r.recs[i].klen, strlen(want[i]));
        ck_assert_uint_eq(r.recs[i].vlen, 8);
        ck_assert_int_eq(kiln_i64(KILN_SLICE(r.recs[i].val, 8)), 1);
    }
    rec_release(&r);
}

static void i64_bytes(int64_t v, uint8_t b[8])
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)v >> (8 * i));
}

/* Runs a combine built-in on two i64 values; returns the i64 result. */
static int64_t combine(kiln_combine_fn *fn, int64_t a, int64_t b)
{
    uint8_t x[8], y[8];
    i64_bytes(a, x);
    i64_bytes(b, y);
    struct kiln_buf out = {0};
    ck_assert_int_eq(fn(KILN_SLICE(x, 8), KILN_SLICE(y, 8), &out, KILN_NONE), 0);
    ck_assert_uint_eq(out.len, 8);
    int64_t r = kiln_i64(KILN_SLICE(out.p, out.len));
    kiln_buf_release(&out);
    return r;
}

/* ---- built-ins ------------------------------------------------------------- */

START_TEST(test_words)
{
    static const char *const w1[] = {"hello", "world"};
    assert_words("hello world", w1, 2);
    static const char *const w2[] = {"a", "b", "c", "d"};
    assert_words("  a\tb \t\t c\r\n\v\fd  ", w2, 4);
    static const char *const w3[] = {"tabs"};
    assert_words("\t\ttabs\t\t", w3, 1);
    assert_words("", NULL, 0);
    assert_words(" \t \r\n ", NULL, 0);
    /* only ASCII whitespace splits: bytes >= 0x80 are part of words */
    static const char *const w4[] = {"caf\xc3\xa9", "na\xc2\xa0\xc3\xafve"};
    assert_words("caf\xc3\xa9 na\xc2\xa0\xc3\xafve", w4, 2);
    /* punctuation is not whitespace */
    static const char *const w5[] = {"it's,", "fine."};
    assert_words("it's, fine.", w5, 2);

    /* a NUL inside the value is an ordinary byte, and the slice length,
     * not a terminator, ends the value */
    recorder r;
    rec_init(&r);
    static const char raw[] = "ab\0cd ef gh";
    kiln_rec in = {KILN_NONE, KILN_SLICE(raw, 8)}; /* "ab\0cd ef" */
    ck_assert_int_eq(kiln_words(in, &r.out, KILN_NONE), 0);
    ck_assert_uint_eq(r.n, 2);
    ck_assert_uint_eq(r.recs[0].klen, 5);
    ck_assert(memcmp(r.recs[0].key, "ab\0cd", 5) == 0);
    ck_assert_str_eq(r.recs[1].key, "ef");
    rec_release(&r);

    /* the key of the input is ignored; an empty value emits nothing */
    rec_init(&r);
    kiln_rec keyed = {KILN_STR("key words"), KILN_NONE};
    ck_assert_int_eq(kiln_words(keyed, &r.out, KILN_NONE), 0);
    ck_assert_uint_eq(r.n, 0);
    rec_release(&r);

    /* a long line: every word, in order */
    size_t n = 10000;
    char *line = malloc(n * 8 + 1), *p = line;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "w%zu%s", i, i % 3 ? " " : " \t ");
    rec_init(&r);
    ck_assert_int_eq(kiln_words(text_rec(line), &r.out, KILN_NONE), 0);
    ck_assert_uint_eq(r.n, n);
    char want[32];
    for (size_t i = 0; i < n; i += 997) {
        snprintf(want, sizeof want, "w%zu", i);
        ck_assert_str_eq(r.recs[i].key, want);
    }
    rec_release(&r);
    free(line);
}
END_TEST

START_TEST(test_words_emit_failure)
{
    recorder r;
    rec_init(&r);
    r.fail_after = 2;
    ck_assert_int_ne(kiln_words(text_rec("one two three four"), &r.out, KILN_NONE), 0);
    ck_assert_uint_eq(r.n, 2); /* stopped at the first refused emit */
    rec_release(&r);
}
END_TEST

START_TEST(test_combine_i64)
{
    ck_assert_int_eq(combine(kiln_sum_i64, 2, 3), 5);
    ck_assert_int_eq(combine(kiln_sum_i64, -7, 3), -4);
    ck_assert_int_eq(combine(kiln_sum_i64, -7, -8), -15);
    ck_assert_int_eq(combine(kiln_sum_i64, 0, 0), 0);
    /* overflow wraps around, two's complement */
    ck_assert_int_eq(combine(kiln_sum_i64, INT64_MAX, 1), INT64_MIN);
    ck_assert_int_eq(combine(kiln_sum_i64, INT64_MIN, -1), INT64_MAX);
    ck_assert_int_eq(combine(kiln_sum_i64, INT64_MAX, INT64_MAX), -2);
    ck_assert_int_eq(combine(kiln_sum_i64, INT64_MIN, INT64_MIN), 0);

    ck_assert_int_eq(combine(kiln_min_i64, -5, 3), -5);
    ck_assert_int_eq(combine(kiln_min_i64, 3, -5), -5);
    ck_assert_int_eq(combine(kiln_min_i64, -5, -3), -5);
    ck_assert_int_eq(combine(kiln_min_i64, INT64_MIN, INT64_MAX), INT64_MIN);
    ck_assert_int_eq(combine(kiln_min_i64, 7, 7), 7);

    ck_assert_int_eq(combine(kiln_max_i64, -5, 3), 3);
    ck_assert_int_eq(combine(kiln_max_i64, -5, -3), -3);
    ck_assert_int_eq(combine(kiln_max_i64, -3, -5), -3);
    ck_assert_int_eq(combine(kiln_max_i64, INT64_MIN, INT64_MAX), INT64_MAX);
    ck_assert_int_eq(combine(kiln_max_i64, -1, INT64_MIN), -1);

    /* the output is 8 little-endian bytes, and the buffer is reused */
    uint8_t x[8], y[8];
    i64_bytes(-2, x);
    i64_bytes(1, y);
    struct kiln_buf out = {0};
    ck_assert_int_eq(kiln_sum_i64(KILN_SLICE(x, 8), KILN_SLICE(y, 8), &out, KILN_NONE), 0);
    ck_assert_uint_eq(out.len, 8);
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(out.p[i], 0xff);
    uint8_t *first = out.p;
    i64_bytes(0x0102030405060708ll, x);
    i64_bytes(0, y);
    ck_assert_int_eq(kiln_max_i64(KILN_SLICE(x, 8), KILN_SLICE(y, 8), &out, KILN_NONE), 0);
    ck_assert_ptr_eq(out.p, first);
    static const uint8_t le[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    ck_assert(memcmp(out.p, le, 8) == 0);
    kiln_buf_release(&out);

    /* folding a list with sum gives the total, negatives included */
    int64_t acc = 0, want = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t v = (int64_t)(rnd() % 2000001) - 1000000;
        acc = combine(kiln_sum_i64, acc, v);
        want += v;
    }
    ck_assert_int_eq(acc, want);
}
END_TEST

START_TEST(test_fmt_i64)
{
    recorder r;
    rec_init(&r);
    uint8_t v[8];
    i64_bytes(-42, v);
    kiln_rec in = {KILN_STR("k"), KILN_SLICE(v, 8)};
    ck_assert_int_eq(kiln_fmt_i64(in, &r.out, KILN_NONE), 0);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.recs[0].klen, 0);
    ck_assert_uint_eq(r.recs[0].vlen, 5);
    ck_assert_str_eq(r.recs[0].val, "k\t-42");

    /* extremes, an empty key, and a key longer than the stack buffer */
    i64_bytes(INT64_MIN, v);
    in = (kiln_rec){KILN_NONE, KILN_SLICE(v, 8)};
    ck_assert_int_eq(kiln_fmt_i64(in, &r.out, KILN_NONE), 0);
    ck_assert_str_eq(r.recs[1].val, "\t-9223372036854775808");
    i64_bytes(INT64_MAX, v);
    size_t klen = 5000;
    char *key = malloc(klen);
    memset(key, 'q', klen);
    in = (kiln_rec){KILN_SLICE(key, klen), KILN_SLICE(v, 8)};
    ck_assert_int_eq(kiln_fmt_i64(in, &r.out, KILN_NONE), 0);
    ck_assert_uint_eq(r.recs[2].vlen, klen + 1 + 19);
    ck_assert(memcmp(r.recs[2].val, key, klen) == 0);
    ck_assert_str_eq(r.recs[2].val + klen, "\t9223372036854775807");
    ck_assert_uint_eq(r.recs[2].klen, 0);
    /* the key may hold any bytes, NUL included */
    i64_bytes(0, v);
    in = (kiln_rec){KILN_SLICE("a\0b", 3), KILN_SLICE(v, 8)};
    ck_assert_int_eq(kiln_fmt_i64(in, &r.out, KILN_NONE), 0);
    ck_assert_uint_eq(r.recs[3].vlen, 5);
    ck_assert(memcmp(r.recs[3].val, "a\0b\t0", 5) == 0);
    free(key);
    rec_release(&r);

    /* an emit failure is passed on */
    rec_init(&r);
    r.fail_after = 1;
    ck_assert_int_eq(kiln_fmt_i64(in, &r.out, KILN_NONE), 0);
    ck_assert_int_ne(kiln_fmt_i64(in, &r.out, KILN_NONE), 0);
    rec_release(&r);
}
END_TEST

START_TEST(test_i64_roundtrip)
{
    static const int64_t vals[] = {
        0, 1, -1, 42, -42, 255, 256, INT32_MAX, INT32_MIN, 0x0102030405060708ll, INT64_MAX, INT64_MIN};
    recorder r;
    rec_init(&r);
    size_t nv = sizeof vals / sizeof vals[0];
    for (size_t i = 0; i < nv; i++)
        ck_assert_int_eq(kiln_emit_i64(&r.out, KILN_STR("k"), vals[i]), 0);
    ck_assert_uint_eq(r.n, nv);
    for (size_t i = 0; i < nv; i++) {
        ck_assert_str_eq(r.recs[i].key, "k");
        ck_assert_uint_eq(r.recs[i].vlen, 8);
        ck_assert_int_eq(kiln_i64(KILN_SLICE(r.recs[i].val, 8)), vals[i]);
        /* little-endian on the wire, whatever the host */
        uint8_t want[8];
        i64_bytes(vals[i], want);
        ck_assert(memcmp(r.recs[i].val, want, 8) == 0);
    }
    /* kiln_emit passes the slices through */
    ck_assert_int_eq(kiln_emit(&r.out, KILN_SLICE("k\0y", 3), KILN_NONE), 0);
    ck_assert_uint_eq(r.recs[nv].klen, 3);
    ck_assert_uint_eq(r.recs[nv].vlen, 0);
    rec_release(&r);
    /* an empty slice reads as 0, never past its end */
    ck_assert_int_eq(kiln_i64(KILN_NONE), 0);
    uint8_t *nine = malloc(9);
    memset(nine, 0xff, 9);
    nine[8] = 0x7f;
    ck_assert_int_eq(kiln_i64(KILN_SLICE(nine, 9)), -1); /* only 8 bytes count */
    free(nine);
}
END_TEST

/* ---- packed lists and pairs --------------------------------------------------- */

START_TEST(test_varint)
{
    static const uint64_t vals[] = {
        0,         1, 127, 128, 300, 16383, 16384, (1u << 21) - 1, 1u << 21, UINT32_MAX, 1ull << 56, UINT64_MAX - 1,
        UINT64_MAX};
    static const size_t sizes[] = {1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 9, 10, 10};
    uint8_t b[16];
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        size_t n = rt_varint_put(b, vals[i]);
        ck_assert_uint_eq(n, sizes[i]);
        uint64_t v = 0;
        ck_assert_uint_eq(rt_varint_get(b, n, &v), n);
        ck_assert_uint_eq(v, vals[i]);
        /* every truncation is refused */
        for (size_t k = 0; k < n; k++)
            ck_assert_uint_eq(rt_varint_get(b, k, &v), 0);
    }
    /* more than 10 bytes of continuation is refused */
    memset(b, 0x80, sizeof b);
    uint64_t v;
    ck_assert_uint_eq(rt_varint_get(b, sizeof b, &v), 0);
    b[10] = 0x01; /* an 11-byte varint, even one that ends */
    ck_assert_uint_eq(rt_varint_get(b, sizeof b, &v), 0);
}
END_TEST

/* Packs items as a group_by_key list into buf; returns the length. */
static size_t pack_list(uint8_t *buf, const char *const *items, const size_t *lens, size_t n)
{
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        off += rt_varint_put(buf + off, lens[i]);
        memcpy(buf + off, items[i], lens[i]);
        off += lens[i];
    }
    return off;
}

START_TEST(test_list_next)
{
    char *long_item = malloc(300); /* a two-byte length */
    memset(long_item, 'L', 300);
    const char *items[] = {"a", "", "hello", long_item, "z"};
    size_t lens[] = {1, 0, 5, 300, 1};
    uint8_t *buf = malloc(400);
    size_t n = pack_list(buf, items, lens, 5);
    ck_assert_uint_eq(n, 1 + 1 + 1 + 1 + 5 + 2 + 300 + 1 + 1);
    /* an exact-size copy, so ASan sees any read past the end */
    uint8_t *exact = malloc(n);
    memcpy(exact, buf, n);
    kiln_slice list = KILN_SLICE(exact, n), item;
    for (size_t i = 0; i < 5; i++) {
        ck_assert_msg(kiln_list_next(&list, &item), "item %zu", i);
        ck_assert_uint_eq(item.len, lens[i]);
        if (lens[i]) ck_assert(memcmp(item.ptr, items[i], lens[i]) == 0);
        ck_assert((const uint8_t *)item.ptr >= exact && (const uint8_t *)item.ptr + item.len <= exact + n);
    }
    ck_assert_uint_eq(list.len, 0);
    ck_assert(!kiln_list_next(&list, &item));
    ck_assert_uint_eq(list.len, 0);

    /* the empty list */
    list = KILN_NONE;
    ck_assert(!kiln_list_next(&list, &item));

    /* every truncation of the packed list: the whole items before the cut
     * come out, then false, and the list is left as it was */
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *t = malloc(cut ? cut : 1);
        memcpy(t, buf, cut);
        list = KILN_SLICE(t, cut);
        size_t got = 0;
        while (kiln_list_next(&list, &item)) {
            ck_assert_uint_eq(item.len, lens[got]);
            got++;
        }
        size_t whole = 0, off = 0;
        for (size_t i = 0; i < 5; i++) {
            size_t sz = (lens[i] < 128 ? 1 : 2) + lens[i];
            if (off + sz > cut) break;
            off += sz;
            whole++;
        }
        ck_assert_uint_eq(got, whole);
        ck_assert_uint_eq(list.len, cut - off);
        free(t);
    }

    /* a length that points past the end, a huge length, an endless varint */
    static const uint8_t past[] = {5, 'a', 'b', 'c'};
    list = KILN_SLICE(past, sizeof past);
    kiln_slice before = list;
    ck_assert(!kiln_list_next(&list, &item));
    ck_assert_ptr_eq(list.ptr, before.ptr);
    ck_assert_uint_eq(list.len, before.len);
    uint8_t huge[11];
    size_t hn = rt_varint_put(huge, UINT64_MAX);
    huge[hn] = 'x';
    list = KILN_SLICE(huge, hn + 1);
    ck_assert(!kiln_list_next(&list, &item));
    static const uint8_t endless[12] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    list = KILN_SLICE(endless, sizeof endless);
    ck_assert(!kiln_list_next(&list, &item));
    free(exact);
    free(buf);
    free(long_item);
}
END_TEST

START_TEST(test_pair_split)
{
    uint8_t buf[64];
    memset(buf, 0, sizeof buf);
    size_t n = rt_varint_put(buf, 4);
    memcpy(buf + n, "leftright", 9);
    n += 9;
    kiln_slice l, r;
    ck_assert_int_eq(kiln_pair_split(KILN_SLICE(buf, n), &l, &r), 0);
    ck_assert_uint_eq(l.len, 4);
    ck_assert(memcmp(l.ptr, "left", 4) == 0);
    ck_assert_uint_eq(r.len, 5);
    ck_assert(memcmp(r.ptr, "right", 5) == 0);

    /* empty left, empty right, both empty */
    buf[0] = 0;
    memcpy(buf + 1, "R", 1);
    ck_assert_int_eq(kiln_pair_split(KILN_SLICE(buf, 2), &l, &r), 0);
    ck_assert_uint_eq(l.len, 0);
    ck_assert_uint_eq(r.len, 1);
    buf[0] = 1;
    buf[1] = 'L';
    ck_assert_int_eq(kiln_pair_split(KILN_SLICE(buf, 2), &l, &r), 0);
    ck_assert_uint_eq(l.len, 1);
    ck_assert_uint_eq(r.len, 0);
    buf[0] = 0;
    ck_assert_int_eq(kiln_pair_split(KILN_SLICE(buf, 1), &l, &r), 0);
    ck_assert_uint_eq(l.len + r.len, 0);

    /* refused: nothing, a left longer than the pair, a broken varint */
    ck_assert_int_eq(kiln_pair_split(KILN_NONE, &l, &r), -1);
    buf[0] = 9;
    memcpy(buf + 1, "short", 5);
    ck_assert_int_eq(kiln_pair_split(KILN_SLICE(buf, 6), &l, &r), -1);
    buf[0] = 0x80;
    ck_assert_int_eq(kiln_pair_split(KILN_SLICE(buf, 1), &l, &r), -1);
    size_t hn = rt_varint_put(buf, UINT64_MAX);
    ck_assert_int_eq(kiln_pair_split(KILN_SLICE(buf, hn + 3), &l, &r), -1);
}
END_TEST

/* Random bytes: readers never step outside the slice, and what they return
 * accounts for every byte they consumed. */
START_TEST(test_packed_garbage)
{
    for (int it = 0; it < 20000; it++) {
        size_t n = (size_t)(rnd() % 40);
        uint8_t *b = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++) {
            uint64_t x = rnd();
            /* mostly small lengths, so some items do parse */
            b[i] = (uint8_t)(x % 4 == 0 ? x >> 8 : (x >> 8) % 6);
        }
        kiln_slice list = KILN_SLICE(b, n), item;
        size_t consumed = 0;
        while (kiln_list_next(&list, &item)) {
            ck_assert((const uint8_t *)item.ptr >= b);
            ck_assert((const uint8_t *)item.ptr + item.len <= b + n);
            ck_assert((const uint8_t *)item.ptr + item.len == (const uint8_t *)list.ptr);
            consumed = n - list.len;
        }
        ck_assert_uint_le(consumed, n);
        ck_assert_uint_eq(list.len, n - consumed);
        kiln_slice l, r;
        if (kiln_pair_split(KILN_SLICE(b, n), &l, &r) == 0) {
            ck_assert((const uint8_t *)l.ptr >= b && (const uint8_t *)r.ptr + r.len == b + n);
            ck_assert((const uint8_t *)l.ptr + l.len == (const uint8_t *)r.ptr);
        }
        free(b);
    }
}
END_TEST

/* ---- built-in table, buffers, hooks ------------------------------------------ */

START_TEST(test_builtin_lookup)
{
    static const struct {
        const char *name;
        rt_fn_kind kind;
        void *fn;
    } want[] = {
        {"kiln_words", RT_FN_MAP, (void *)kiln_words},         {"kiln_fmt_i64", RT_FN_MAP, (void *)kiln_fmt_i64},
        {"kiln_sum_i64", RT_FN_COMBINE, (void *)kiln_sum_i64}, {"kiln_min_i64", RT_FN_COMBINE, (void *)kiln_min_i64},
        {"kiln_max_i64", RT_FN_COMBINE, (void *)kiln_max_i64},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const rt_builtin *b = rt_builtin_by_name(want[i].name);
        ck_assert_msg(b != NULL, "%s not found", want[i].name);
        ck_assert_str_eq(b->name, want[i].name);
        ck_assert_int_eq(b->kind, want[i].kind);
        ck_assert_ptr_eq(b->fn, want[i].fn);
        ck_assert_ptr_eq(rt_builtin_by_addr(want[i].fn), b);
    }
    ck_assert_ptr_null(rt_builtin_by_name("kiln_nope"));
    ck_assert_ptr_null(rt_builtin_by_name(""));
    ck_assert_ptr_null(rt_builtin_by_name("kiln_words "));
    ck_assert_ptr_null(rt_builtin_by_name("KILN_WORDS"));
    ck_assert_ptr_null(rt_builtin_by_name("kiln_emit")); /* API, not a built-in */
    ck_assert_ptr_null(rt_builtin_by_addr((void *)kiln_emit));
    ck_assert_ptr_null(rt_builtin_by_addr(NULL));
}
END_TEST

START_TEST(test_buf_set)
{
    struct kiln_buf b = {0};
    ck_assert_int_eq(kiln_buf_set(&b, "0123456789", 10), 0);
    ck_assert_uint_eq(b.len, 10);
    ck_assert_uint_ge(b.cap, 10);
    ck_assert(memcmp(b.p, "0123456789", 10) == 0);
    size_t cap10 = b.cap;
    /* shrinking keeps the capacity */
    ck_assert_int_eq(kiln_buf_set(&b, "xy", 2), 0);
    ck_assert_uint_eq(b.len, 2);
    ck_assert_uint_eq(b.cap, cap10);
    ck_assert(memcmp(b.p, "xy", 2) == 0);
    /* growing, far past the first capacity */
    size_t big = 100000;
    uint8_t *src = malloc(big);
    for (size_t i = 0; i < big; i++)
        src[i] = (uint8_t)(i * 13);
    ck_assert_int_eq(kiln_buf_set(&b, src, big), 0);
    ck_assert_uint_eq(b.len, big);
    ck_assert_uint_ge(b.cap, big);
    ck_assert(memcmp(b.p, src, big) == 0);
    /* step by step: every size round-trips */
    for (size_t n = 0; n < 5000; n += 7) {
        ck_assert_int_eq(kiln_buf_set(&b, src + n, n), 0);
        ck_assert_uint_eq(b.len, n);
        if (n) ck_assert(memcmp(b.p, src + n, n) == 0);
    }
    /* a source inside the buffer itself */
    ck_assert_int_eq(kiln_buf_set(&b, src, 100), 0);
    ck_assert_int_eq(kiln_buf_set(&b, b.p + 10, 50), 0);
    ck_assert(memcmp(b.p, src + 10, 50) == 0);
    /* empty */
    ck_assert_int_eq(kiln_buf_set(&b, NULL, 0), 0);
    ck_assert_uint_eq(b.len, 0);
    kiln_buf_release(&b);
    ck_assert_ptr_null(b.p);
    ck_assert_uint_eq(b.cap, 0);
    /* a fresh buffer set to nothing */
    struct kiln_buf e = {0};
    ck_assert_int_eq(kiln_buf_set(&e, NULL, 0), 0);
    ck_assert_uint_eq(e.len, 0);
    kiln_buf_release(&e);
    free(src);
}
END_TEST

typedef struct hook_log {
    int nfail;
    char msg[2048];
    int ncounter;
    char counter[64];
    int64_t delta;
} hook_log;

static void hook_fail(void *arg, const char *msg)
{
    hook_log *h = arg;
    h->nfail++;
    snprintf(h->msg, sizeof h->msg, "%s", msg);
}

static void hook_counter(void *arg, const char *name, int64_t delta)
{
    hook_log *h = arg;
    h->ncounter++;
    snprintf(h->counter, sizeof h->counter, "%s", name);
    h->delta += delta;
}

static kiln_slice hook_bcast(void *arg, kiln_bcast b)
{
    return b.len == 3 ? KILN_STR("abc") : KILN_NONE;
}

static int failing_map(kiln_rec in, kiln_out *out, kiln_slice env)
{
    return kiln_fail("bad record %.*s (%d)", (int)in.val.len, (const char *)in.val.ptr, 7);
}

START_TEST(test_hooks)
{
    hook_log log = {0};
    rt_hooks h = {.arg = &log, .fail = hook_fail, .counter_add = hook_counter, .bcast_value = hook_bcast};
    rt_set_hooks(&h);

    ck_assert_int_eq(kiln_fail("failed at %s: %d%%", "step", 50), -1);
    ck_assert_int_eq(log.nfail, 1);
    ck_assert_str_eq(log.msg, "failed at step: 50%");
    /* the usual idiom inside a user function */
    ck_assert_int_eq(failing_map(text_rec("xyz"), NULL, KILN_NONE), -1);
    ck_assert_int_eq(log.nfail, 2);
    ck_assert_str_eq(log.msg, "bad record xyz (7)");
    /* a long message is cut, not overflowed */
    char *long_arg = malloc(5000);
    memset(long_arg, 'm', 4999);
    long_arg[4999] = 0;
    ck_assert_int_eq(kiln_fail("%s", long_arg), -1);
    ck_assert_int_eq(log.nfail, 3);
    ck_assert_uint_gt(strlen(log.msg), 100);
    ck_assert_uint_lt(strlen(log.msg), 4999);
    ck_assert(log.msg[0] == 'm');
    free(long_arg);

    kiln_counter_add("bad_lines", 2);
    kiln_counter_add("bad_lines", -5);
    ck_assert_int_eq(log.ncounter, 2);
    ck_assert_str_eq(log.counter, "bad_lines");
    ck_assert_int_eq(log.delta, -3);

    kiln_bcast bc = {.len = 3};
    kiln_slice v = kiln_bcast_value(bc);
    ck_assert_uint_eq(v.len, 3);
    ck_assert(memcmp(v.ptr, "abc", 3) == 0);

    /* without hooks: still -1, nothing recorded, nothing crashes */
    rt_set_hooks(NULL);
    ck_assert_int_eq(kiln_fail("nobody listens %d", 1), -1);
    kiln_counter_add("x", 1);
    v = kiln_bcast_value(bc);
    ck_assert_uint_eq(v.len, 0);
    ck_assert_int_eq(log.nfail, 3);
    ck_assert_int_eq(log.ncounter, 2);

    /* hooks with some callbacks missing */
    rt_hooks partial = {.arg = &log};
    rt_set_hooks(&partial);
    ck_assert_int_eq(kiln_fail("half"), -1);
    kiln_counter_add("y", 1);
    ck_assert_uint_eq(kiln_bcast_value(bc).len, 0);
    ck_assert_int_eq(log.nfail, 3);
    rt_set_hooks(NULL);
}
END_TEST

static Suite *runtime_suite(void)
{
    Suite *s = suite_create("runtime");
    TCase *tb = tcase_create("builtins");
    tcase_add_test(tb, test_words);
    tcase_add_test(tb, test_words_emit_failure);
    tcase_add_test(tb, test_combine_i64);
    tcase_add_test(tb, test_fmt_i64);
    tcase_add_test(tb, test_i64_roundtrip);
    tcase_add_test(tb, test_builtin_lookup);
    suite_add_tcase(s, tb);
    TCase *tp = tcase_create("packed");
    tcase_set_timeout(tp, 60);
    tcase_add_test(tp, test_varint);
    tcase_add_test(tp, test_list_next);
    tcase_add_test(tp, test_pair_split);
    tcase_add_test(tp, test_packed_garbage);
    suite_add_tcase(s, tp);
    TCase *tr = tcase_create("api");
    tcase_add_test(tr, test_buf_set);
    tcase_add_test(tr, test_hooks);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(runtime_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
