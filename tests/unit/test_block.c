/*
 * test_block.c - unit tests of common/block.c: records survive a seal and
 * a read unchanged, and damaged or hostile bytes are reported, never
 * crashed on.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "block.h"

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
}

/* Little-endian field access on a sealed block. */
static uint32_t hdr_u32(const uint8_t *b, int at)
{
    return (uint32_t)b[at] | (uint32_t)b[at + 1] << 8 | (uint32_t)b[at + 2] << 16 | (uint32_t)b[at + 3] << 24;
}

static void set_u32(uint8_t *b, int at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[at + i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes the checksum field after a test edits the payload. */
static void fix_sum(uint8_t *b, size_t n)
{
    uint64_t h = XXH3_64bits(b + BLOCK_HEADER_SIZE, n - BLOCK_HEADER_SIZE);
    for (int i = 0; i < 8; i++)
        b[16 + i] = (uint8_t)(h >> (8 * i));
}

/* Builds a block by hand around raw record bytes (stored raw). */
static uint8_t *craft_raw(const void *raw, size_t raw_len, uint32_t nrec, size_t *out_len)
{
    uint8_t *b = malloc(BLOCK_HEADER_SIZE + raw_len + 1);
    memcpy(b, "KBLK", 4);
    set_u32(b, 4, (uint32_t)raw_len);
    set_u32(b, 8, 0);
    set_u32(b, 12, nrec);
    memcpy(b + BLOCK_HEADER_SIZE, raw, raw_len);
    *out_len = BLOCK_HEADER_SIZE + raw_len;
    fix_sum(b, *out_len);
    return b;
}

/* Opens the block and reads it to the end; returns the record count, or
 * -1 (open failed) or -2 (a record was corrupt), leaving the message. */
static long read_all(const uint8_t *b, size_t n, char *err, size_t errlen)
{
    block_reader r;
    if (block_reader_open(&r, b, n, err, errlen) < 0) return -1;
    kiln_rec rec;
    long count = 0;
    int rc;
    while ((rc = block_reader_next(&r, &rec, err, errlen)) == 1)
        count++;
    block_reader_close(&r);
    return rc < 0 ? -2 : count;
}

/* A set of reference records held outside the block. */
typedef struct ref {
    uint8_t *k, *v;
    size_t kl, vl;
} ref;

static ref *make_refs(size_t n)
{
    ref *refs = calloc(n, sizeof(*refs));
    for (size_t i = 0; i < n; i++) {
        uint64_t x = rnd();
        refs[i].kl = (x & 7) == 0 ? 0 : (size_t)(x >> 8) % 40;
        refs[i].vl = (x & 0x30) == 0 ? 0 : (size_t)(x >> 20) % 300;
        if (i % 997 == 0) refs[i].vl = 200 + (size_t)(x >> 40) % 20000; /* 2-3 byte varint */
        refs[i].k = malloc(refs[i].kl + 1);
        refs[i].v = malloc(refs[i].vl + 1);
        fill_random(refs[i].k, refs[i].kl);
        fill_random(refs[i].v, refs[i].vl);
    }
    return refs;
}

static void free_refs(ref *refs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(refs[i].k);
        free(refs[i].v);
    }
    free(refs);
}

/* Reads the block and checks it holds exactly refs, in order. */
static void check_block_matches(const uint8_t *b, size_t n, const ref *refs, size_t nref)
{
    char err[256] = "";
    block_reader r;
    ck_assert_msg(block_reader_open(&r, b, n, err, sizeof(err)) == 0, "%s", err);
    kiln_rec rec;
    for (size_t i = 0; i < nref; i++) {
        ck_assert_int_eq(block_reader_next(&r, &rec, err, sizeof(err)), 1);
        ck_assert_uint_eq(rec.key.len, refs[i].kl);
        ck_assert_uint_eq(rec.val.len, refs[i].vl);
        ck_assert(rec.key.len == 0 || memcmp(rec.key.ptr, refs[i].k, refs[i].kl) == 0);
        ck_assert(rec.val.len == 0 || memcmp(rec.val.ptr, refs[i].v, refs[i].vl) == 0);
    }
    ck_assert_int_eq(block_reader_next(&r, &rec, err, sizeof(err)), 0);
    ck_assert_int_eq(block_reader_next(&r, &rec, err, sizeof(err)), 0);
    block_reader_close(&r);
}

START_TEST(test_roundtrip_many)
{
    enum { N = 20000 };
    ref *refs = make_refs(N);
    block_builder b;
    block_builder_init(&b);
    for (size_t i = 0; i < N; i++)
        ck_assert_int_eq(block_builder_add(&b, KILN_SLICE(refs[i].k, refs[i].kl), KILN_SLICE(refs[i].v, refs[i].vl)),
                         0);
    ck_assert_uint_eq(b.nrec, N);
    uint8_t *blk;
    size_t n;
    ck_assert_int_eq(block_builder_seal(&b, &blk, &n), 0);
    ck_assert_uint_eq(hdr_u32(blk, 12), N);
    check_block_matches(blk, n, refs, N);
    free(blk);
    block_builder_release(&b);
    free_refs(refs, N);
}
END_TEST

START_TEST(test_empty_keys_values_and_big_value)
{
    size_t big = 1u << 20;
    uint8_t *v = malloc(big);
    fill_random(v, big);
    block_builder b;
    block_builder_init(&b);
    ck_assert_int_eq(block_builder_add(&b, KILN_NONE, KILN_NONE), 0);
    ck_assert_int_eq(block_builder_add(&b, KILN_STR("k"), KILN_NONE), 0);
    ck_assert_int_eq(block_builder_add(&b, KILN_NONE, KILN_STR("v")), 0);
    ck_assert_int_eq(block_builder_add(&b, KILN_STR("big"), KILN_SLICE(v, big)), 0);
    ck_assert_int_eq(block_builder_add(&b, KILN_NONE, KILN_NONE), 0);
    uint8_t *blk;
    size_t n;
    ck_assert_int_eq(block_builder_seal(&b, &blk, &n), 0);

    char err[256];
    block_reader r;
    ck_assert_int_eq(block_reader_open(&r, blk, n, err, sizeof(err)), 0);
    kiln_rec rec;
    ck_assert_int_eq(block_reader_next(&r, &rec, err, sizeof(err)), 1);
    ck_assert_uint_eq(rec.key.len, 0);
    ck_assert_uint_eq(rec.val.len, 0);
    ck_assert_int_eq(block_reader_next(&r, &rec, err, sizeof(err)), 1);
    ck_assert_uint_eq(rec.key.len, 1);
    ck_assert_int_eq(*(const char *)rec.key.ptr, 'k');
    ck_assert_uint_eq(rec.val.len, 0);
    ck_assert_int_eq(block_reader_next(&r, &rec, err, sizeof(err)), 1);
    ck_assert_uint_eq(rec.key.len, 0);
    ck_assert_uint_eq(rec.val.len, 1);
    ck_assert_int_eq(block_reader_next(&r, &rec, err, sizeof(err)), 1);
    ck_assert_uint_eq(rec.key.len, 3);
    ck_assert_uint_eq(rec.val.len, big);
    ck_assert(memcmp(rec.val.ptr, v, big) == 0);
    ck_assert_int_eq(block_reader_next(&r, &rec, err, sizeof(err)), 1);
    ck_assert_uint_eq(rec.key.len + rec.val.len, 0);
    ck_assert_int_eq(block_reader_next(&r, &rec, err, sizeof(err)), 0);
    block_reader_close(&r);
    free(blk);
    block_builder_release(&b);
    free(v);
}
END_TEST

START_TEST(test_empty_block)
{
    block_builder b;
    block_builder_init(&b);
    uint8_t *blk;
    size_t n;
    ck_assert_int_eq(block_builder_seal(&b, &blk, &n), 0);
    ck_assert_uint_eq(n, BLOCK_HEADER_SIZE);
    ck_assert(memcmp(blk, "KBLK", 4) == 0);
    ck_assert_uint_eq(hdr_u32(blk, 4), 0);
    ck_assert_uint_eq(hdr_u32(blk, 12), 0);
    char err[256];
    ck_assert_int_eq(read_all(blk, n, err, sizeof(err)), 0);
    free(blk);
    block_builder_release(&b);
}
END_TEST

START_TEST(test_builder_reuse)
{
    block_builder b;
    block_builder_init(&b);
    ref *r1 = make_refs(500), *r2 = make_refs(300);
    for (size_t i = 0; i < 500; i++)
        ck_assert_int_eq(block_builder_add(&b, KILN_SLICE(r1[i].k, r1[i].kl), KILN_SLICE(r1[i].v, r1[i].vl)), 0);
    uint8_t *b1, *b2;
    size_t n1, n2;
    ck_assert_int_eq(block_builder_seal(&b, &b1, &n1), 0);
    ck_assert_uint_eq(block_builder_size(&b), 0);
    ck_assert_uint_eq(b.nrec, 0);
    size_t cap = b.cap;
    ck_assert_uint_gt(cap, 0); /* the buffer is kept */
    for (size_t i = 0; i < 300; i++)
        ck_assert_int_eq(block_builder_add(&b, KILN_SLICE(r2[i].k, r2[i].kl), KILN_SLICE(r2[i].v, r2[i].vl)), 0);
    ck_assert_int_eq(block_builder_seal(&b, &b2, &n2), 0);
    check_block_matches(b1, n1, r1, 500);
    check_block_matches(b2, n2, r2, 300);
    free(b1);
    free(b2);
    free_refs(r1, 500);
    free_refs(r2, 300);
    block_builder_release(&b);
    ck_assert_ptr_null(b.buf);
}
END_TEST

START_TEST(test_compressible_is_compressed)
{
    block_builder b;
    block_builder_init(&b);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "word-%d", i % 50);
        ck_assert_int_eq(block_builder_add(&b, KILN_STR(key), KILN_STR("the quick brown fox")), 0);
    }
    size_t raw = block_builder_size(&b);
    uint8_t *blk;
    size_t n;
    ck_assert_int_eq(block_builder_seal(&b, &blk, &n), 0);
    ck_assert_uint_eq(hdr_u32(blk, 4), raw);
    ck_assert_uint_ne(hdr_u32(blk, 8), 0);
    ck_assert_uint_eq(n, BLOCK_HEADER_SIZE + hdr_u32(blk, 8));
    ck_assert_uint_lt(n, raw / 4);
    char err[256];
    ck_assert_int_eq(read_all(blk, n, err, sizeof(err)), 5000);
    free(blk);
    block_builder_release(&b);
}
END_TEST

START_TEST(test_incompressible_is_raw)
{
    block_builder b;
    block_builder_init(&b);
    ref *refs = make_refs(2000);
    for (size_t i = 0; i < 2000; i++)
        block_builder_add(&b, KILN_SLICE(refs[i].k, refs[i].kl), KILN_SLICE(refs[i].v, refs[i].vl));
    size_t raw = block_builder_size(&b);
    uint8_t *blk;
    size_t n;
    ck_assert_int_eq(block_builder_seal(&b, &blk, &n), 0);
    ck_assert_uint_eq(hdr_u32(blk, 8), 0); /* stored raw */
    ck_assert_uint_eq(n, BLOCK_HEADER_SIZE + raw);
    check_block_matches(blk, n, refs, 2000);
    free(blk);
    free_refs(refs, 2000);
    block_builder_release(&b);
}
END_TEST

/* Seals a compressible (or, with random, incompressible) block. */
static uint8_t *sample_block(int random, size_t *n)
{
    block_builder b;
    block_builder_init(&b);
    uint8_t v[100];
    for (int i = 0; i < 300; i++) {
        if (random)
            fill_random(v, sizeof(v));
        else
            memset(v, 'a' + i % 3, sizeof(v));
        /* random: no key, so no 4-byte repeat for LZ4 to find */
        block_builder_add(&b, random ? KILN_NONE : KILN_STR("key"), KILN_SLICE(v, sizeof(v)));
    }
    uint8_t *blk;
    ck_assert_int_eq(block_builder_seal(&b, &blk, n), 0);
    block_builder_release(&b);
    ck_assert_uint_eq(hdr_u32(blk, 8) == 0, random != 0);
    return blk;
}

/* Seals one block of 300 records, compressible or not; returns whether it
 * was stored compressed. */
static int seal_kind(block_builder *b, int random)
{
    uint8_t v[100];
    for (int i = 0; i < 300; i++) {
        if (random)
            fill_random(v, sizeof(v));
        else
            memset(v, 'a' + i % 3, sizeof(v));
        block_builder_add(b, random ? KILN_NONE : KILN_STR("key"), KILN_SLICE(v, sizeof(v)));
    }
    uint8_t *blk;
    size_t n;
    ck_assert_int_eq(block_builder_seal(b, &blk, &n), 0);
    int compressed = hdr_u32(blk, 8) != 0;
    free(blk);
    return compressed;
}

/* After LZ4 fails, the next 16 blocks are stored raw without trying; each
 * further failure doubles the pause (up to 256); a success resets it. */
START_TEST(test_lz4_backoff)
{
    block_builder b;
    block_builder_init(&b);
    ck_assert_int_eq(seal_kind(&b, 0), 1); /* tries, and it shrinks */
    ck_assert_int_eq(seal_kind(&b, 1), 0); /* tries, fails: pause 16 */
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(seal_kind(&b, 0), 0); /* compressible, but not tried */
    ck_assert_int_eq(seal_kind(&b, 1), 0);     /* tried, fails: pause 32 */
    for (int i = 0; i < 32; i++)
        ck_assert_int_eq(seal_kind(&b, 0), 0);
    ck_assert_int_eq(seal_kind(&b, 0), 1); /* tried, shrinks: the pause is 16 again */
    ck_assert_int_eq(seal_kind(&b, 1), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(seal_kind(&b, 0), 0);
    ck_assert_int_eq(seal_kind(&b, 0), 1);
    /* the pause never passes 256 */
    for (int round = 0; round < 6; round++) {
        ck_assert_int_eq(seal_kind(&b, 1), 0);
        while (b.skip_lz4)
            ck_assert_int_eq(seal_kind(&b, 1), 0);
    }
    ck_assert_uint_eq(b.skip_next, 256);
    ck_assert_int_eq(seal_kind(&b, 1), 0);
    ck_assert_uint_eq(b.skip_lz4, 256);
    block_builder_release(&b);
}
END_TEST

START_TEST(test_corrupt_payload_detected)
{
    for (int random = 0; random <= 1; random++) {
        size_t n;
        uint8_t *blk = sample_block(random, &n);
        char err[256];
        for (size_t at = BLOCK_HEADER_SIZE; at < n; at += 7) {
            blk[at] ^= 0x10;
            ck_assert_int_eq(read_all(blk, n, err, sizeof(err)), -1);
            ck_assert_msg(strstr(err, "checksum") != NULL, "%s", err);
            blk[at] ^= 0x10;
        }
        ck_assert_int_eq(read_all(blk, n, err, sizeof(err)), 300);
        free(blk);
    }
}
END_TEST

/* The most compressible records LZ4 meets (all zero bytes) stay within
 * the 255x expansion the reader allows. */
START_TEST(test_zeros_within_lz4_ratio)
{
    block_builder b;
    block_builder_init(&b);
    size_t vlen = 4u << 20;
    uint8_t *zeros = calloc(1, vlen);
    ck_assert_int_eq(block_builder_add(&b, KILN_NONE, KILN_SLICE(zeros, vlen)), 0);
    uint8_t *blk;
    size_t n;
    ck_assert_int_eq(block_builder_seal(&b, &blk, &n), 0);
    ck_assert_uint_ne(hdr_u32(blk, 8), 0);
    ck_assert_uint_le(hdr_u32(blk, 4), (uint64_t)hdr_u32(blk, 8) * 255);
    char err[256];
    ck_assert_msg(read_all(blk, n, err, sizeof(err)) == 1, "%s", err);
    free(blk);
    free(zeros);
    block_builder_release(&b);
}
END_TEST

START_TEST(test_corrupt_header_detected)
{
    char err[256];
    for (int random = 0; random <= 1; random++) {
        size_t n;
        uint8_t *blk = sample_block(random, &n);
        uint8_t *c = malloc(n);

        memcpy(c, blk, n); /* magic */
        c[1] ^= 1;
        ck_assert_int_eq(read_all(c, n, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "magic") != NULL, "%s", err);

        memcpy(c, blk, n); /* checksum field */
        c[20] ^= 0x80;
        ck_assert_int_eq(read_all(c, n, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "checksum") != NULL, "%s", err);

        memcpy(c, blk, n); /* raw_len off by one either way */
        set_u32(c, 4, hdr_u32(blk, 4) + 1);
        ck_assert_int_eq(read_all(c, n, err, sizeof(err)), -1);
        memcpy(c, blk, n);
        set_u32(c, 4, hdr_u32(blk, 4) - 1);
        ck_assert_int_eq(read_all(c, n, err, sizeof(err)), -1);

        memcpy(c, blk, n); /* raw_len beyond the maximum */
        set_u32(c, 4, BLOCK_MAX_RAW + 1);
        ck_assert_int_eq(read_all(c, n, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "exceeds") != NULL, "%s", err);

        memcpy(c, blk, n); /* comp_len */
        set_u32(c, 8, hdr_u32(blk, 8) + 1);
        ck_assert_int_eq(read_all(c, n, err, sizeof(err)), -1);

        if (hdr_u32(blk, 8)) { /* compressed: a raw length LZ4 cannot reach from comp_len bytes */
            memcpy(c, blk, n);
            set_u32(c, 4, hdr_u32(blk, 8) * 255 + 1);
            ck_assert_int_eq(read_all(c, n, err, sizeof(err)), -1);
            ck_assert_msg(strstr(err, "too short") != NULL, "%s", err);
        }

        memcpy(c, blk, n); /* one record more than written */
        set_u32(c, 12, 301);
        ck_assert_int_eq(read_all(c, n, err, sizeof(err)), -2);
        ck_assert_msg(strstr(err, "300 of 301") != NULL, "%s", err);

        memcpy(c, blk, n); /* one record fewer */
        set_u32(c, 12, 299);
        ck_assert_int_eq(read_all(c, n, err, sizeof(err)), -2);
        ck_assert_msg(strstr(err, "left after") != NULL, "%s", err);

        memcpy(c, blk, n); /* an impossible record count */
        set_u32(c, 12, 0xffffffffu);
        ck_assert_int_eq(read_all(c, n, err, sizeof(err)), -1);

        free(c);
        free(blk);
    }
}
END_TEST

START_TEST(test_truncated_detected)
{
    char err[256];
    for (int random = 0; random <= 1; random++) {
        size_t n;
        uint8_t *blk = sample_block(random, &n);
        for (size_t len = 0; len < n; len++) {
            /* a fresh copy so ASan sees any read past len */
            uint8_t *c = malloc(len ? len : 1);
            memcpy(c, blk, len);
            ck_assert_int_eq(read_all(c, len, err, sizeof(err)), -1);
            ck_assert_msg(strstr(err, "truncated") != NULL, "%s", err);
            free(c);
        }
        /* and a trailing byte is refused too */
        uint8_t *c = malloc(n + 1);
        memcpy(c, blk, n);
        c[n] = 0;
        ck_assert_int_eq(read_all(c, n + 1, err, sizeof(err)), -1);
        free(c);
        free(blk);
    }
}
END_TEST

START_TEST(test_bad_records_detected)
{
    char err[256];
    size_t n;
    uint8_t *b;

    /* key length 5, but only 2 bytes follow */
    b = craft_raw("\x05"
                  "ab",
                  3, 1, &n);
    ck_assert_int_eq(read_all(b, n, err, sizeof(err)), -2);
    ck_assert_msg(strstr(err, "overruns") != NULL, "%s", err);
    free(b);

    /* value length overruns */
    b = craft_raw("\x01"
                  "a"
                  "\x09"
                  "xyz",
                  6, 1, &n);
    ck_assert_int_eq(read_all(b, n, err, sizeof(err)), -2);
    ck_assert_msg(strstr(err, "overruns") != NULL, "%s", err);
    free(b);

    /* a varint cut off by the end of the block */
    b = craft_raw("\x00\x80", 2, 1, &n);
    ck_assert_int_eq(read_all(b, n, err, sizeof(err)), -2);
    ck_assert_msg(strstr(err, "varint") != NULL, "%s", err);
    free(b);

    /* a varint that never ends */
    b = craft_raw("\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00", 10, 1, &n);
    ck_assert_int_eq(read_all(b, n, err, sizeof(err)), -2);
    ck_assert_msg(strstr(err, "varint") != NULL, "%s", err);
    free(b);

    /* a huge length in a 5-byte varint */
    b = craft_raw("\xff\xff\xff\xff\x0f\x00", 6, 1, &n);
    ck_assert_int_eq(read_all(b, n, err, sizeof(err)), -2);
    free(b);

    /* well formed: two records */
    b = craft_raw("\x01"
                  "a"
                  "\x00"
                  "\x00"
                  "\x02"
                  "hi",
                  7, 2, &n);
    ck_assert_int_eq(read_all(b, n, err, sizeof(err)), 2);
    free(b);

    /* a corrupt record is reported again, not skipped */
    b = craft_raw("\x01"
                  "a"
                  "\x00"
                  "\x07",
                  4, 2, &n);
    block_reader r;
    kiln_rec rec;
    ck_assert_int_eq(block_reader_open(&r, b, n, err, sizeof(err)), 0);
    ck_assert_int_eq(block_reader_next(&r, &rec, err, sizeof(err)), 1);
    ck_assert_int_eq(block_reader_next(&r, &rec, err, sizeof(err)), -1);
    ck_assert_int_eq(block_reader_next(&r, &rec, err, sizeof(err)), -1);
    block_reader_close(&r);
    free(b);
}
END_TEST

START_TEST(test_lz4_garbage_detected)
{
    /* a valid header and checksum over a payload that is not LZ4 */
    uint8_t raw[64];
    fill_random(raw, sizeof(raw));
    size_t n;
    uint8_t *b = craft_raw(raw, sizeof(raw), 1, &n);
    set_u32(b, 4, 1000); /* claims 1000 raw bytes compressed into 64 */
    set_u32(b, 8, sizeof(raw));
    char err[256];
    ck_assert_int_eq(read_all(b, n, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "LZ4") != NULL || strstr(err, "decompressed"), "%s", err);
    free(b);
}
END_TEST

START_TEST(test_add_too_big_refused)
{
    block_builder b;
    block_builder_init(&b);
    char dummy = 0;
    /* not dereferenced: refused on its length */
    ck_assert_int_eq(block_builder_add(&b, KILN_SLICE(&dummy, BLOCK_MAX_RAW + 1u), KILN_NONE), -1);
    ck_assert_int_eq(
        block_builder_add(&b, KILN_SLICE(&dummy, BLOCK_MAX_RAW / 2), KILN_SLICE(&dummy, BLOCK_MAX_RAW / 2)), -1);
    ck_assert_int_eq(block_builder_add(&b, KILN_SLICE(&dummy, SIZE_MAX), KILN_SLICE(&dummy, SIZE_MAX)), -1);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.nrec, 0);
    block_builder_release(&b);
}
END_TEST

/* Copies p into an exact-size allocation and reads it: ASan then flags any
 * read outside it. Returns what read_all returned. */
static long read_exact_copy(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    memcpy(c, p, n);
    char err[256];
    long rc = read_all(c, n, err, sizeof(err));
    free(c);
    return rc;
}

START_TEST(test_random_garbage_never_crashes)
{
    uint8_t buf[4096];
    /* pure garbage, then garbage with a "KBLK" magic */
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(rnd() % sizeof(buf));
        fill_random(buf, n);
        if (i % 2 && n >= 4) memcpy(buf, "KBLK", 4);
        ck_assert_int_lt(read_exact_copy(buf, n), 0);
    }
    /* plausible headers with a matching checksum: reaches the decoders */
    int opened = 0;
    for (int i = 0; i < 20000; i++) {
        size_t plen = (size_t)(rnd() % 600);
        size_t n = BLOCK_HEADER_SIZE + plen;
        fill_random(buf + BLOCK_HEADER_SIZE, plen);
        if (i % 3 == 0) /* small varints make records more likely */
            for (size_t j = 0; j < plen; j++)
                buf[BLOCK_HEADER_SIZE + j] &= 0x07;
        memcpy(buf, "KBLK", 4);
        uint32_t raw_len = (i % 2) ? (uint32_t)plen : (uint32_t)(rnd() % 4000);
        set_u32(buf, 4, raw_len);
        set_u32(buf, 8, (i % 2) ? 0 : (uint32_t)plen);
        set_u32(buf, 12, (uint32_t)(rnd() % (raw_len / 2 + 2)));
        fix_sum(buf, n);
        if (read_exact_copy(buf, n) != -1) opened++;
    }
    ck_assert_int_gt(opened, 0);
    /* valid blocks with mutated payloads and fixed-up checksums */
    for (int random = 0; random <= 1; random++) {
        size_t n;
        uint8_t *blk = sample_block(random, &n);
        uint8_t *c = malloc(n);
        for (int i = 0; i < 3000; i++) {
            memcpy(c, blk, n);
            int flips = 1 + (int)(rnd() % 4);
            for (int f = 0; f < flips; f++)
                c[BLOCK_HEADER_SIZE + rnd() % (n - BLOCK_HEADER_SIZE)] = (uint8_t)rnd();
            fix_sum(c, n);
            read_exact_copy(c, n);
        }
        free(c);
        free(blk);
    }
}
END_TEST

static Suite *block_suite(void)
{
    Suite *s = suite_create("block");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_roundtrip_many);
    tcase_add_test(tc, test_empty_keys_values_and_big_value);
    tcase_add_test(tc, test_empty_block);
    tcase_add_test(tc, test_builder_reuse);
    tcase_add_test(tc, test_compressible_is_compressed);
    tcase_add_test(tc, test_incompressible_is_raw);
    tcase_add_test(tc, test_lz4_backoff);
    tcase_add_test(tc, test_corrupt_payload_detected);
    tcase_add_test(tc, test_corrupt_header_detected);
    tcase_add_test(tc, test_zeros_within_lz4_ratio);
    tcase_add_test(tc, test_truncated_detected);
    tcase_add_test(tc, test_bad_records_detected);
    tcase_add_test(tc, test_lz4_garbage_detected);
    tcase_add_test(tc, test_add_too_big_refused);
    tcase_add_test(tc, test_random_garbage_never_crashes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(block_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
