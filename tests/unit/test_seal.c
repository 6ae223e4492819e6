/*
 * test_seal.c - the protected framing after the handshake (common/seal.c)
 * without sockets: both sides derive matching keys from one handshake;
 * frames open in order; a flipped bit anywhere (header, payload, tag), a
 * replayed, reordered or dropped frame, a truncated one, one reflected
 * back to its sender, one from another connection or another secret all
 * fail; and the blocking reader and writer (common/msg.c) carry sealed
 * messages and stop at the first bad one without decoding it.
 */
#include <check.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "frame.h"
#include "handshake.h"
#include "msg.h"
#include "seal.h"
#include "util.h"

static const uint8_t nonce_c[AUTH_NONCE_LEN] = {1, 2, 3}, nonce_s[AUTH_NONCE_LEN] = {9, 8, 7};

static auth_secret secret_of(const char *text)
{
    auth_secret s = {(uint8_t *)text, strlen(text)};
    return s;
}

/* A client's and a server's seals from one handshake. */
static void pair_init(seal *cli, seal *srv, const char *secret)
{
    char err[256];
    auth_secret s = secret_of(secret);
    ck_assert_int_eq(seal_init(cli, &s, AUTH_CLIENT, nonce_c, nonce_s, KILN__ROLE__ROLE_WORKER, KILN__ROLE__ROLE_DRIVER,
                               err, sizeof err),
                     0);
    ck_assert_int_eq(seal_init(srv, &s, AUTH_SERVER, nonce_c, nonce_s, KILN__ROLE__ROLE_WORKER, KILN__ROLE__ROLE_DRIVER,
                               err, sizeof err),
                     0);
}

/* Builds a sealed frame of payload (n bytes) into out; returns its length. */
static size_t seal_frame(seal_dir *d, const char *payload, uint8_t *out)
{
    size_t n = strlen(payload);
    frame_put_header(out, (uint32_t)(n + SEAL_TAG_LEN));
    memcpy(out + FRAME_HEADER, payload, n);
    struct iovec iov = {out, FRAME_HEADER + n};
    ck_assert_int_eq(seal_tag(d, &iov, 1, out + FRAME_HEADER + n), 0);
    return FRAME_HEADER + n + SEAL_TAG_LEN;
}

static int opens(seal_dir *d, const uint8_t *f, size_t n)
{
    char err[256];
    return seal_check(d, f, n, err, sizeof err) == 0;
}

static void unhex(const char *h, uint8_t *out)
{
    for (size_t i = 0; h[2 * i]; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* Poly1305 of msg under key, straight from libcrypto's MAC. */
static void poly1305(const uint8_t key[32], const void *msg, size_t n, uint8_t tag[16])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    size_t len = 0;
    ck_assert_int_eq(EVP_MAC_init(ctx, key, 32, NULL), 1);
    ck_assert_int_eq(EVP_MAC_update(ctx, msg, n), 1);
    ck_assert_int_eq(EVP_MAC_final(ctx, tag, &len, 16), 1);
    ck_assert_uint_eq(len, 16);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
}

/* The construction against RFC 8439's vectors: Poly1305 itself (2.5.2),
 * and the one-time key of the first frame of a batch, which is RFC 8439's
 * Poly1305 key generation (2.6.2) with nonce 0^32 || u64le(seq / 16). */
START_TEST(test_known_answers)
{
    uint8_t key[32], tag[16], want[16];
    unhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b", key);
    poly1305(key, "Cryptographic Forum Research Group", 34, tag);
    unhex("a8061dc1305136c6c22b8baf0c0127a9", want);
    ck_assert_mem_eq(tag, want, 16);

    uint8_t dir_key[32], otk[32];
    for (int i = 0; i < 32; i++)
        dir_key[i] = (uint8_t)(0x80 + i);
    unhex("8ad5a08b905f81cc815040274ab29471a833b637e3fd0da508dbb8e2fdd1a646", otk);
    seal_dir d;
    ck_assert_int_eq(seal_dir_init(&d, dir_key), 0);
    d.seq = 0x0706050403020100ull * SEAL_BATCH; /* nonce 00000000 0001020304050607 */
    uint8_t f[64];
    frame_put_header(f, 5 + SEAL_TAG_LEN);
    memcpy(f + FRAME_HEADER, "hello", 5);
    struct iovec iov = {f, FRAME_HEADER + 5};
    ck_assert_int_eq(seal_tag(&d, &iov, 1, tag), 0);
    poly1305(otk, f, FRAME_HEADER + 5, want);
    ck_assert_mem_eq(tag, want, 16);
    seal s = {.tx = d};
    seal_release(&s);
}
END_TEST

START_TEST(test_in_order_both_ways)
{
    seal c, s;
    pair_init(&c, &s, "s3cret");
    ck_assert(seal_on(&c.tx) && seal_on(&c.rx) && seal_on(&s.tx) && seal_on(&s.rx));
    uint8_t f[256], first[256];
    size_t nfirst = 0;
    /* past three batches of one-time keys (SEAL_BATCH frames each) */
    for (int i = 0; i < 3 * SEAL_BATCH + 5; i++) {
        size_t n = seal_frame(&c.tx, "heartbeat", f);
        if (i == 0) memcpy(first, f, nfirst = n);
        /* the same bytes get a new tag in every place */
        if (i > 0) ck_assert_mem_ne(f + n - SEAL_TAG_LEN, first + nfirst - SEAL_TAG_LEN, SEAL_TAG_LEN);
        ck_assert(opens(&s.rx, f, n));
        n = seal_frame(&s.tx, "task launch", f);
        ck_assert(opens(&c.rx, f, n));
    }
    ck_assert_uint_eq(c.tx.seq, 3 * SEAL_BATCH + 5);
    ck_assert_uint_eq(s.rx.seq, 3 * SEAL_BATCH + 5);

    /* an empty payload is a frame too */
    size_t n = seal_frame(&c.tx, "", f);
    ck_assert_uint_eq(n, FRAME_HEADER + SEAL_TAG_LEN);
    ck_assert(opens(&s.rx, f, n));
    seal_release(&c);
    seal_release(&s);
    ck_assert(!seal_on(&c.tx));
}
END_TEST

START_TEST(test_any_flipped_bit_fails)
{
    seal c, s;
    pair_init(&c, &s, "s3cret");
    uint8_t f[256], g[256];
    size_t n = seal_frame(&c.tx, "job_submit: run this everywhere", f);
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(g, f, n);
            g[i] ^= (uint8_t)(1u << bit);
            ck_assert_msg(!opens(&s.rx, g, n), "byte %zu bit %d", i, bit);
            ck_assert_uint_eq(s.rx.seq, 0); /* a failed check does not advance */
        }
    ck_assert(opens(&s.rx, f, n));
    seal_release(&c);
    seal_release(&s);
}
END_TEST

START_TEST(test_replay_reorder_drop)
{
    seal c, s;
    pair_init(&c, &s, "s3cret");
    uint8_t f0[128], f1[128], f2[128];
    size_t n0 = seal_frame(&c.tx, "task_done 1", f0), n1 = seal_frame(&c.tx, "task_done 2", f1),
           n2 = seal_frame(&c.tx, "task_done 3", f2);
    /* reordered: the second first */
    ck_assert(!opens(&s.rx, f1, n1));
    ck_assert(opens(&s.rx, f0, n0));
    /* replayed */
    ck_assert(!opens(&s.rx, f0, n0));
    /* dropped: the third in the second's place */
    ck_assert(!opens(&s.rx, f2, n2));
    ck_assert(opens(&s.rx, f1, n1));
    ck_assert(opens(&s.rx, f2, n2));
    seal_release(&c);
    seal_release(&s);
}
END_TEST

START_TEST(test_truncated)
{
    seal c, s;
    pair_init(&c, &s, "s3cret");
    uint8_t f[128], g[128];
    size_t n = seal_frame(&c.tx, "blob_chunk", f);
    char err[256];
    /* shorter than a header and a tag */
    ck_assert_int_eq(seal_check(&s.rx, f, FRAME_HEADER + SEAL_TAG_LEN - 1, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "too short"));
    /* cut by one byte, with a header that says so: the tag no longer matches */
    memcpy(g, f, n - 1);
    frame_put_header(g, frame_get_header(f) - 1);
    ck_assert(!opens(&s.rx, g, n - 1));
    /* the payload cut off, the tag kept */
    memcpy(g, f, FRAME_HEADER);
    frame_put_header(g, SEAL_TAG_LEN);
    memcpy(g + FRAME_HEADER, f + n - SEAL_TAG_LEN, SEAL_TAG_LEN);
    ck_assert(!opens(&s.rx, g, FRAME_HEADER + SEAL_TAG_LEN));
    ck_assert(opens(&s.rx, f, n));
    seal_release(&c);
    seal_release(&s);
}
END_TEST

START_TEST(test_keys_are_bound)
{
    seal c, s, c2, s2;
    pair_init(&c, &s, "s3cret");
    uint8_t f[128];
    /* reflected: a frame the client sent, back to the client */
    size_t n = seal_frame(&c.tx, "fetch_request", f);
    ck_assert(!opens(&c.rx, f, n));
    /* another secret */
    pair_init(&c2, &s2, "other");
    ck_assert(!opens(&s2.rx, f, n));
    seal_release(&c2);
    seal_release(&s2);
    /* another handshake (another server nonce) of the same secret */
    char err[256];
    uint8_t other_s[AUTH_NONCE_LEN] = {42};
    auth_secret sec = secret_of("s3cret");
    ck_assert_int_eq(seal_init(&s2, &sec, AUTH_SERVER, nonce_c, other_s, KILN__ROLE__ROLE_WORKER,
                               KILN__ROLE__ROLE_DRIVER, err, sizeof err),
                     0);
    ck_assert(!opens(&s2.rx, f, n));
    seal_release(&s2);
    /* other roles */
    ck_assert_int_eq(seal_init(&s2, &sec, AUTH_SERVER, nonce_c, nonce_s, KILN__ROLE__ROLE_CLIENT,
                               KILN__ROLE__ROLE_DRIVER, err, sizeof err),
                     0);
    ck_assert(!opens(&s2.rx, f, n));
    seal_release(&s2);
    ck_assert(opens(&s.rx, f, n));
    seal_release(&c);
    seal_release(&s);
}
END_TEST

START_TEST(test_no_secret_is_plain)
{
    seal s;
    char err[64];
    ck_assert_int_eq(seal_init(&s, NULL, AUTH_CLIENT, nonce_c, nonce_s, 1, 3, err, sizeof err), 0);
    ck_assert(!seal_on(&s.tx) && !seal_on(&s.rx));
    ck_assert_uint_eq(seal_frame_max(&s.rx, 100), 100);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__Heartbeat hb = KILN__HEARTBEAT__INIT;
    MSG_BODY(env, heartbeat, HEARTBEAT, &hb);
    /* the same bytes as before sealing existed */
    size_t plain_len;
    uint8_t *plain = msg_pack_frame(&env, &plain_len);
    uint8_t buf[64];
    ck_assert_uint_eq(msg_frame_size(&s.tx, &env), plain_len);
    ck_assert_uint_eq(msg_pack_frame_into(buf, &s.tx, &env), plain_len);
    ck_assert_mem_eq(buf, plain, plain_len);
    free(plain);
    seal_release(&s);
}
END_TEST

/* The handshake's state machines give both ends matching seals. */
START_TEST(test_handshake_seals_match)
{
    auth_secret sec = secret_of("s3cret");
    handshake cli, srv;
    const Kiln__Envelope *out;
    char err[256];
    ck_assert_int_eq(hs_client_start(&cli, &sec, KILN__ROLE__ROLE_PEER, "t", &out, err, sizeof err), 0);
    hs_server_init(&srv, &sec, KILN__ROLE__ROLE_WORKER, HS_ROLE(KILN__ROLE__ROLE_PEER));
    /* through the wire encoding, as a real peer's */
    size_t n;
    uint8_t *f = msg_pack_frame(out, &n);
    Kiln__Envelope *m = msg_decode(f + FRAME_HEADER, n - FRAME_HEADER, err, sizeof err);
    free(f);
    ck_assert_int_eq(hs_server_msg(&srv, m, &out, err, sizeof err), 0);
    msg_free(m);
    f = msg_pack_frame(out, &n);
    m = msg_decode(f + FRAME_HEADER, n - FRAME_HEADER, err, sizeof err);
    free(f);
    ck_assert_int_eq(hs_client_msg(&cli, m, &out, err, sizeof err), 1);
    msg_free(m);
    f = msg_pack_frame(out, &n);
    m = msg_decode(f + FRAME_HEADER, n - FRAME_HEADER, err, sizeof err);
    free(f);
    ck_assert_int_eq(hs_server_msg(&srv, m, &out, err, sizeof err), 1);
    msg_free(m);
    seal cs, ss;
    ck_assert_int_eq(hs_seal(&cli, &cs, err, sizeof err), 0);
    ck_assert_int_eq(hs_seal(&srv, &ss, err, sizeof err), 0);
    uint8_t fr[128];
    n = seal_frame(&cs.tx, "fetch_request", fr);
    ck_assert(opens(&ss.rx, fr, n));
    n = seal_frame(&ss.tx, "fetch_data", fr);
    ck_assert(opens(&cs.rx, fr, n));
    seal_release(&cs);
    seal_release(&ss);
    /* an unfinished handshake has no keys */
    handshake h;
    hs_server_init(&h, &sec, KILN__ROLE__ROLE_WORKER, HS_ROLE(KILN__ROLE__ROLE_PEER));
    ck_assert_int_eq(hs_seal(&h, &ss, err, sizeof err), -1);
}
END_TEST

/* Writes sealed messages into a pipe and reads them back with the blocking reader. */
START_TEST(test_reader_writer)
{
    seal c, s;
    pair_init(&c, &s, "s3cret");
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__InfoRequest ir = KILN__INFO_REQUEST__INIT;
    ir.what = "status";
    MSG_BODY(env, info_request, INFO_REQUEST, &ir);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(msg_write_sealed(p[1], &c.tx, &env), 0);
    size_t n = msg_frame_size(&c.tx, &env);
    ck_assert_uint_eq(n, FRAME_HEADER + kiln__envelope__get_packed_size(&env) + SEAL_TAG_LEN);
    close(p[1]);
    msg_reader r;
    msg_reader_init(&r, p[0], 64);
    r.rx = &s.rx;
    char err[256];
    for (int i = 0; i < 3; i++) {
        Kiln__Envelope *m = NULL;
        ck_assert_int_eq(msg_reader_next(&r, &m, err, sizeof err), 1);
        ck_assert_int_eq(m->body_case, KILN__ENVELOPE__BODY_INFO_REQUEST);
        ck_assert_str_eq(m->info_request->what, "status");
        msg_free(m);
    }
    Kiln__Envelope *m = NULL;
    ck_assert_int_eq(msg_reader_next(&r, &m, err, sizeof err), 0);
    msg_reader_release(&r);
    close(p[0]);

    /* a replayed frame, then a flipped one: the reader stops and decodes neither */
    ck_assert_int_eq(pipe(p), 0);
    uint8_t a[128], b[128];
    size_t na = msg_pack_frame_into(a, &c.tx, &env), nb = msg_pack_frame_into(b, &c.tx, &env);
    ck_assert_int_eq(write_all(p[1], a, na), 0);
    ck_assert_int_eq(write_all(p[1], a, na), 0);
    ck_assert_int_eq(write_all(p[1], b, nb), 0);
    close(p[1]);
    msg_reader_init(&r, p[0], 64);
    r.rx = &s.rx;
    ck_assert_int_eq(msg_reader_next(&r, &m, err, sizeof err), 1);
    msg_free(m);
    m = NULL;
    ck_assert_int_eq(msg_reader_next(&r, &m, err, sizeof err), -1);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err, "fails its integrity check"));
    msg_reader_release(&r);
    close(p[0]);

    /* a frame a sealed reader gets plain (no tag) is refused too */
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(msg_write_fd(p[1], &env), 0);
    close(p[1]);
    msg_reader_init(&r, p[0], 64);
    r.rx = &s.rx;
    ck_assert_int_eq(msg_reader_next(&r, &m, err, sizeof err), -1);
    msg_reader_release(&r);
    close(p[0]);
    seal_release(&c);
    seal_release(&s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("seal");
    TCase *tc = tcase_create("seal");
    tcase_add_test(tc, test_known_answers);
    tcase_add_test(tc, test_in_order_both_ways);
    tcase_add_test(tc, test_any_flipped_bit_fails);
    tcase_add_test(tc, test_replay_reorder_drop);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_keys_are_bound);
    tcase_add_test(tc, test_no_secret_is_plain);
    tcase_add_test(tc, test_handshake_seals_match);
    tcase_add_test(tc, test_reader_writer);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
