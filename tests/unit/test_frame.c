/*
 * test_frame.c - unit tests of the wire: common/frame.c (the framing rule)
 * and common/msg.c (decoding with validation, blocking frame I/O, the
 * FetchData fast path). Connections (common/conn.c) are test_conn.c's.
 *
 * Frames are built by hand (frames_by_hand.h: header + packed Envelope) so
 * that the tests do not trust the encoders they check. Blocking I/O runs
 * over pipes; nothing listens on the network.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "msg.h"

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

#include "frames_by_hand.h"

/* ---- frame_parse --------------------------------------------------------- */

START_TEST(test_parse_whole_frame)
{
    uint8_t buf[4 + 5];
    frame_put_header(buf, 5);
    memcpy(buf + 4, "hello", 5);
    size_t len = 99;
    char err[128] = "";
    ck_assert_int_eq(frame_parse(buf, sizeof buf, 1024, &len, err, sizeof err), FRAME_OK);
    ck_assert_uint_eq(len, 5);
    ck_assert_str_eq(err, "");
    /* the header is little-endian */
    ck_assert_uint_eq(frame_get_header((const uint8_t *)"\x01\x02\x03\x04"), 0x04030201u);
    uint8_t h[4];
    frame_put_header(h, 0xa1b2c3d4u);
    ck_assert_uint_eq(h[0], 0xd4);
    ck_assert_uint_eq(h[3], 0xa1);
    /* an empty payload is a whole frame of 4 bytes */
    frame_put_header(buf, 0);
    ck_assert_int_eq(frame_parse(buf, 4, 1024, &len, err, sizeof err), FRAME_OK);
    ck_assert_uint_eq(len, 0);
    /* nothing at all: need more, length unknown */
    len = 7;
    ck_assert_int_eq(frame_parse(buf, 0, 1024, &len, err, sizeof err), FRAME_NEED_MORE);
    ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(test_parse_split_every_byte)
{
    size_t n;
    uint8_t *f = hello_frame("split-at-every-byte", &n);
    size_t payload = n - FRAME_HEADER;
    char err[128];
    for (size_t avail = 0; avail < n; avail++) {
        size_t len = 12345;
        ck_assert_int_eq(frame_parse(f, avail, FRAME_MAX_DEFAULT, &len, err, sizeof err), FRAME_NEED_MORE);
        /* the payload length is known as soon as the header is complete */
        ck_assert_uint_eq(len, avail < FRAME_HEADER ? 0 : payload);
    }
    size_t len;
    ck_assert_int_eq(frame_parse(f, n, FRAME_MAX_DEFAULT, &len, err, sizeof err), FRAME_OK);
    ck_assert_uint_eq(len, payload);
    Kiln__Envelope *e = msg_decode(f + FRAME_HEADER, len, err, sizeof err);
    assert_hello(e, "split-at-every-byte");
    msg_free(e);
    free(f);
}
END_TEST

START_TEST(test_parse_coalesced)
{
    size_t n1, n2;
    uint8_t *f1 = hello_frame("first", &n1);
    uint8_t *f2 = hello_frame("second frame", &n2);
    uint8_t *buf = malloc(n1 + n2);
    memcpy(buf, f1, n1);
    memcpy(buf + n1, f2, n2);
    char err[128];
    size_t len, off = 0;
    ck_assert_int_eq(frame_parse(buf, n1 + n2, FRAME_MAX_DEFAULT, &len, err, sizeof err), FRAME_OK);
    ck_assert_uint_eq(FRAME_HEADER + len, n1);
    Kiln__Envelope *e = msg_decode(buf + FRAME_HEADER, len, err, sizeof err);
    assert_hello(e, "first");
    msg_free(e);
    off += FRAME_HEADER + len;
    ck_assert_int_eq(frame_parse(buf + off, n1 + n2 - off, FRAME_MAX_DEFAULT, &len, err, sizeof err), FRAME_OK);
    ck_assert_uint_eq(FRAME_HEADER + len, n2);
    e = msg_decode(buf + off + FRAME_HEADER, len, err, sizeof err);
    assert_hello(e, "second frame");
    msg_free(e);
    off += FRAME_HEADER + len;
    ck_assert_uint_eq(off, n1 + n2);
    ck_assert_int_eq(frame_parse(buf + off, 0, FRAME_MAX_DEFAULT, &len, err, sizeof err), FRAME_NEED_MORE);
    free(buf);
    free(f1);
    free(f2);
}
END_TEST

START_TEST(test_parse_over_max)
{
    uint8_t hdr[4];
    char err[128] = "";
    size_t len;
    frame_put_header(hdr, 1001);
    /* refused from the header alone: no need to wait for the payload */
    ck_assert_int_eq(frame_parse(hdr, sizeof hdr, 1000, &len, err, sizeof err), FRAME_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "1001"));
    ck_assert_ptr_nonnull(strstr(err, "limit"));
    ck_assert_ptr_nonnull(strstr(err, "1000"));
    /* the largest length the header can say */
    frame_put_header(hdr, 0xffffffffu);
    err[0] = 0;
    ck_assert_int_eq(frame_parse(hdr, sizeof hdr, FRAME_MAX_DEFAULT, &len, err, sizeof err), FRAME_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "limit"));
    /* a NULL error buffer is allowed */
    ck_assert_int_eq(frame_parse(hdr, sizeof hdr, 16, &len, NULL, 0), FRAME_ERROR);
}
END_TEST

START_TEST(test_parse_exactly_max)
{
    enum { MAX = 1000 };
    uint8_t *buf = calloc(1, FRAME_HEADER + MAX);
    frame_put_header(buf, MAX);
    char err[128];
    size_t len;
    ck_assert_int_eq(frame_parse(buf, FRAME_HEADER, MAX, &len, err, sizeof err), FRAME_NEED_MORE);
    ck_assert_uint_eq(len, MAX);
    ck_assert_int_eq(frame_parse(buf, FRAME_HEADER + MAX - 1, MAX, &len, err, sizeof err), FRAME_NEED_MORE);
    ck_assert_int_eq(frame_parse(buf, FRAME_HEADER + MAX, MAX, &len, err, sizeof err), FRAME_OK);
    ck_assert_uint_eq(len, MAX);
    /* and a zero limit still accepts an empty frame */
    frame_put_header(buf, 0);
    ck_assert_int_eq(frame_parse(buf, FRAME_HEADER, 0, &len, err, sizeof err), FRAME_OK);
    free(buf);
}
END_TEST

/* The limit before and after the handshake (issue 9, defect 2): a header
 * announcing more than FRAME_HANDSHAKE_MAX before authentication is an
 * error with the header alone, and says so; after, max applies. */
START_TEST(test_limit_by_state)
{
    ck_assert_uint_eq(frame_limit(0, FRAME_MAX_DEFAULT), FRAME_HANDSHAKE_MAX);
    ck_assert_uint_eq(frame_limit(0, 100), 100); /* a smaller max stays */
    ck_assert_uint_eq(frame_limit(1, FRAME_MAX_DEFAULT), FRAME_MAX_DEFAULT);
    uint8_t hdr[FRAME_HEADER];
    size_t len;
    char err[256];
    frame_put_header(hdr, FRAME_MAX_DEFAULT - 16);
    ck_assert_int_eq(frame_parse_conn(hdr, sizeof hdr, 0, FRAME_MAX_DEFAULT, &len, err, sizeof err), FRAME_ERROR);
    ck_assert_msg(strstr(err, "before authentication is over the limit of 4096"), "%s", err);
    ck_assert_int_eq(frame_parse_conn(hdr, sizeof hdr, 1, FRAME_MAX_DEFAULT, &len, err, sizeof err), FRAME_NEED_MORE);
    ck_assert_uint_eq(len, FRAME_MAX_DEFAULT - 16);
    frame_put_header(hdr, FRAME_HANDSHAKE_MAX);
    ck_assert_int_eq(frame_parse_conn(hdr, sizeof hdr, 0, FRAME_MAX_DEFAULT, &len, err, sizeof err), FRAME_NEED_MORE);
    frame_put_header(hdr, FRAME_HANDSHAKE_MAX + 1);
    ck_assert_int_eq(frame_parse_conn(hdr, sizeof hdr, 0, FRAME_MAX_DEFAULT, &len, err, sizeof err), FRAME_ERROR);
    /* after authentication the message is frame_parse's */
    frame_put_header(hdr, FRAME_MAX_DEFAULT + 1);
    ck_assert_int_eq(frame_parse_conn(hdr, sizeof hdr, 1, FRAME_MAX_DEFAULT, &len, err, sizeof err), FRAME_ERROR);
    ck_assert_ptr_null(strstr(err, "before authentication"));
    /* every handshake message fits, with the longest name msg_validate allows */
    char name[257];
    memset(name, 'n', 256);
    name[256] = 0;
    size_t n;
    uint8_t *f = hello_frame(name, &n);
    ck_assert_uint_le(n - FRAME_HEADER, FRAME_HANDSHAKE_MAX / 4);
    ck_assert_int_eq(frame_parse_conn(f, n, 0, FRAME_MAX_DEFAULT, &len, err, sizeof err), FRAME_OK);
    free(f);
}
END_TEST

/* How much input a connection holds: a few KiB before authentication; one
 * read, or the whole frame being received, after. */
START_TEST(test_input_high)
{
    ck_assert_uint_eq(frame_input_high(0, 0), FRAME_INPUT_HANDSHAKE);
    ck_assert_uint_eq(frame_input_high(0, FRAME_HANDSHAKE_MAX), FRAME_INPUT_HANDSHAKE);
    ck_assert_uint_ge(FRAME_INPUT_HANDSHAKE, FRAME_HEADER + FRAME_HANDSHAKE_MAX);
    ck_assert_uint_le(FRAME_INPUT_HANDSHAKE, 64u << 10);
    ck_assert_uint_eq(frame_input_high(1, 0), FRAME_INPUT_CHUNK);
    ck_assert_uint_eq(frame_input_high(1, 100), FRAME_INPUT_CHUNK);
    ck_assert_uint_eq(frame_input_high(1, 10u << 20), FRAME_HEADER + (10u << 20));
    ck_assert_uint_eq(frame_input_high(1, SIZE_MAX), SIZE_MAX);
}
END_TEST

/* ---- msg_decode ----------------------------------------------------------- */

START_TEST(test_decode_valid)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__RegisterWorker r = KILN__REGISTER_WORKER__INIT;
    r.host = "10.0.0.7";
    r.data_port = 7078;
    r.http_port = 8078;
    r.slots = 8;
    r.name = "w7";
    MSG_BODY(env, register_worker, REGISTER_WORKER, &r);
    size_t n;
    uint8_t *b = pack_env(&env, &n);
    char err[128] = "";
    Kiln__Envelope *e = msg_decode(b, n, err, sizeof err);
    ck_assert_msg(e != NULL, "decode failed: %s", err);
    ck_assert_int_eq(e->body_case, KILN__ENVELOPE__BODY_REGISTER_WORKER);
    ck_assert_str_eq(msg_name(e), "register_worker");
    ck_assert_str_eq(e->register_worker->host, "10.0.0.7");
    ck_assert_uint_eq(e->register_worker->data_port, 7078);
    ck_assert_uint_eq(e->register_worker->http_port, 8078);
    ck_assert_uint_eq(e->register_worker->slots, 8);
    ck_assert_str_eq(e->register_worker->name, "w7");
    msg_free(e);
    free(b);

    /* msg_pack_frame produces the same bytes behind a header */
    size_t fl;
    uint8_t *f = msg_pack_frame(&env, &fl);
    ck_assert_uint_eq(fl, FRAME_HEADER + n);
    ck_assert_uint_eq(frame_get_header(f), n);
    e = msg_decode(f + FRAME_HEADER, fl - FRAME_HEADER, err, sizeof err);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->register_worker->slots, 8);
    msg_free(e);
    free(f);

    /* a valid blob_get */
    Kiln__Envelope env2 = KILN__ENVELOPE__INIT;
    Kiln__BlobGet g = KILN__BLOB_GET__INIT;
    g.hash = (char *)HASH_A;
    MSG_BODY(env2, blob_get, BLOB_GET, &g);
    b = pack_env(&env2, &n);
    e = msg_decode(b, n, err, sizeof err);
    ck_assert_msg(e != NULL, "decode failed: %s", err);
    ck_assert_str_eq(e->blob_get->hash, HASH_A);
    ck_assert_str_eq(msg_name(e), "blob_get");
    msg_free(e);
    free(b);
    msg_free(NULL); /* allowed */
}
END_TEST

START_TEST(test_decode_garbage)
{
    enum { ITER = 10000, MAXLEN = 300 };
    uint8_t *buf = malloc(MAXLEN);
    char err[256];
    for (int it = 0; it < ITER; it++) {
        size_t n = (size_t)(rnd() % MAXLEN);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rnd();
        err[0] = 0;
        /* exact-size copy, so ASan sees any read past the end */
        uint8_t *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        Kiln__Envelope *e = msg_decode(exact, n, err, sizeof err);
        ck_assert_msg(e == NULL, "iteration %d: %zu random bytes decoded as %s", it, n, msg_name(e));
        ck_assert_msg(err[0] != 0, "iteration %d: no message", it);
        free(exact);
    }
    free(buf);
}
END_TEST

/* Regression (found by fuzz/fuzz_msg.c): protobuf-c takes a field numbered
 * 0 when its tag varint is overlong (0x81 0x00), keeps it as an unknown
 * field and re-encodes it as a tag it refuses itself; msg_decode refuses it
 * at any depth. Unknown fields with real numbers still decode. */
START_TEST(test_decode_field_zero)
{
    /* kill_app { field 0, fixed64 } : fuzz/corpus/msg/crash-field-zero */
    static const uint8_t nested[] = {0xb2, 0x01, 0x0a, 0x81, 0x00, 0x60, 0x20, 0x00, 0x00, 0x95, 0xf4, 0x2d, 0x2f};
    /* field 0 (varint) in the envelope itself, then kill_app {} */
    static const uint8_t top[] = {0x80, 0x00, 0x05, 0xb2, 0x01, 0x00};
    /* kill_app { field 9 varint 5 }: an unknown field a newer peer might send */
    static const uint8_t unknown[] = {0xb2, 0x01, 0x02, 0x48, 0x05};
    char err[256] = "";
    ck_assert_ptr_null(msg_decode(nested, sizeof nested, err, sizeof err));
    ck_assert_msg(strstr(err, "numbered 0") != NULL, "got '%s'", err);
    err[0] = 0;
    ck_assert_ptr_null(msg_decode(top, sizeof top, err, sizeof err));
    ck_assert_msg(strstr(err, "numbered 0") != NULL, "got '%s'", err);
    Kiln__Envelope *e = msg_decode(unknown, sizeof unknown, err, sizeof err);
    ck_assert_msg(e != NULL, "%s", err);
    ck_assert_int_eq(e->body_case, KILN__ENVELOPE__BODY_KILL_APP);
    /* and it re-encodes into what decodes again */
    size_t n;
    uint8_t *f = msg_pack_frame(e, &n);
    Kiln__Envelope *again = msg_decode(f + FRAME_HEADER, n - FRAME_HEADER, err, sizeof err);
    ck_assert_msg(again != NULL, "%s", err);
    msg_free(again);
    free(f);
    msg_free(e);

    /* deep inside a repeated message: job_submit { nodes { field 0 } action {} } */
    static const uint8_t deep[] = {0x6a, 0x07, 0x12, 0x03, 0x80, 0x00, 0x00, 0x22, 0x00};
    static const uint8_t deep_ok[] = {0x6a, 0x06, 0x12, 0x02, 0x48, 0x00, 0x22, 0x00}; /* field 9 instead */
    ck_assert_ptr_null(msg_decode(deep, sizeof deep, err, sizeof err));
    ck_assert_msg(strstr(err, "numbered 0") != NULL, "got '%s'", err);
    e = msg_decode(deep_ok, sizeof deep_ok, err, sizeof err);
    ck_assert_msg(e != NULL, "%s", err);
    ck_assert_uint_eq(e->job_submit->n_nodes, 1);
    msg_free(e);
}
END_TEST

/* Every strict prefix of a one-body envelope is refused, and random byte
 * changes never crash: what does decode passes validation. */
START_TEST(test_decode_truncated_and_mutated)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__TaskLaunch t = KILN__TASK_LAUNCH__INIT;
    Kiln__TaskInput in = KILN__TASK_INPUT__INIT;
    Kiln__FileSplit sp = KILN__FILE_SPLIT__INIT;
    sp.path = "/data/in.txt";
    sp.start = 10;
    sp.end = 1 << 20;
    in.split = &sp;
    in.partition = 3;
    t.task_id = 77;
    t.app_id = "app-1";
    t.lib_hash = (char *)HASH_A;
    t.stage_hash = (char *)HASH_A;
    t.input = &in;
    MSG_BODY(env, task_launch, TASK_LAUNCH, &t);
    size_t n;
    uint8_t *b = pack_env(&env, &n);
    char err[256];
    Kiln__Envelope *e = msg_decode(b, n, err, sizeof err);
    ck_assert_msg(e != NULL, "decode failed: %s", err);
    ck_assert_uint_eq(e->task_launch->task_id, 77);
    ck_assert_str_eq(e->task_launch->input->split->path, "/data/in.txt");
    msg_free(e);
    for (size_t k = 0; k < n; k++) {
        uint8_t *p = malloc(k ? k : 1);
        memcpy(p, b, k);
        err[0] = 0;
        e = msg_decode(p, k, err, sizeof err);
        ck_assert_msg(e == NULL, "prefix of %zu/%zu bytes decoded", k, n);
        ck_assert(err[0] != 0);
        free(p);
    }
    uint8_t *m = malloc(n);
    for (int it = 0; it < 5000; it++) {
        memcpy(m, b, n);
        int flips = 1 + (int)(rnd() % 4);
        for (int f = 0; f < flips; f++)
            m[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
        e = msg_decode(m, n, err, sizeof err);
        if (e) {
            ck_assert_int_ne(e->body_case, KILN__ENVELOPE__BODY__NOT_SET);
            ck_assert_int_eq(msg_validate(e, err, sizeof err), 0);
            msg_free(e);
        }
    }
    free(m);
    free(b);
}
END_TEST

START_TEST(test_decode_no_body)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    size_t n;
    uint8_t *b = pack_env(&env, &n);
    ck_assert_uint_eq(n, 0);
    char err[128] = "";
    ck_assert_ptr_null(msg_decode(b, n, err, sizeof err));
    ck_assert_msg(strstr(err, "body") != NULL, "message: %s", err);
    /* an unknown field alone is still no body */
    static const uint8_t unknown[] = {0xc8, 0x0f, 0x01}; /* field 249, varint 1 */
    err[0] = 0;
    ck_assert_ptr_null(msg_decode(unknown, sizeof unknown, err, sizeof err));
    ck_assert_msg(strstr(err, "body") != NULL, "message: %s", err);
    free(b);
}
END_TEST

START_TEST(test_decode_bad_app_id)
{
    char err[128];
    size_t n;
    /* control: the same message with a good id decodes */
    uint8_t *b = task_launch_with_app("app-20240101-0001", &n);
    Kiln__Envelope *e = msg_decode(b, n, err, sizeof err);
    ck_assert_msg(e != NULL, "decode failed: %s", err);
    ck_assert_str_eq(e->task_launch->app_id, "app-20240101-0001");
    msg_free(e);
    free(b);
    static const char *bad[] = {"../etc", "..", ".", "", "a/b", "/etc", "app\n1", "app 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = task_launch_with_app(bad[i], &n);
        err[0] = 0;
        e = msg_decode(b, n, err, sizeof err);
        ck_assert_msg(e == NULL, "app id \"%s\" accepted", bad[i]);
        ck_assert_msg(strstr(err, "app id") != NULL, "message for \"%s\": %s", bad[i], err);
        free(b);
    }
}
END_TEST

/* AppEnd's abandoned directories become paths the workers remove: only
 * absolute paths without "." or ".." components pass. */
START_TEST(test_decode_app_end_dirs)
{
    static const char *good[] = {"/tmp/out", "/", "/a/b.c/..d/.e", "/a//b"};
    static const char *bad[] = {"relative/dir", "", "/a/../b", "/..", "/a/.", "/a/./b", "/a/.."};
    for (int pass = 0; pass < 2; pass++) {
        const char **list = pass ? bad : good;
        size_t count = pass ? sizeof bad / sizeof *bad : sizeof good / sizeof *good;
        for (size_t i = 0; i < count; i++) {
            Kiln__Envelope env = KILN__ENVELOPE__INIT;
            Kiln__AppEnd m = KILN__APP_END__INIT;
            char *dirs[2] = {"/fine", (char *)list[i]};
            m.app_id = "app-20240101-0001";
            m.abandoned_dirs = dirs;
            m.n_abandoned_dirs = 2;
            MSG_BODY(env, app_end, APP_END, &m);
            size_t n;
            uint8_t *f = msg_pack_frame(&env, &n);
            char err[256] = "";
            Kiln__Envelope *e = msg_decode(f + FRAME_HEADER, n - FRAME_HEADER, err, sizeof err);
            if (pass) {
                ck_assert_msg(e == NULL, "\"%s\" accepted", list[i]);
                ck_assert_msg(strstr(err, "bad directory") != NULL, "%s", err);
            } else {
                ck_assert_msg(e != NULL, "\"%s\" refused: %s", list[i], err);
                msg_free(e);
            }
            free(f);
        }
    }
}
END_TEST

START_TEST(test_decode_bad_blob_hash)
{
    static const char *bad[] = {
        "zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",  /* not hex */
        "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",  /* upper case */
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",  /* not hex at the end */
        "0123456789abcdef",                                                  /* short */
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", /* long */
        "../../../../etc/passwd",
        "", /* required here */
    };
    char err[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Kiln__Envelope env = KILN__ENVELOPE__INIT;
        Kiln__BlobGet g = KILN__BLOB_GET__INIT;
        g.hash = (char *)bad[i];
        MSG_BODY(env, blob_get, BLOB_GET, &g);
        size_t n;
        uint8_t *b = pack_env(&env, &n);
        err[0] = 0;
        Kiln__Envelope *e = msg_decode(b, n, err, sizeof err);
        ck_assert_msg(e == NULL, "hash \"%s\" accepted", bad[i]);
        ck_assert_msg(strstr(err, "hash") != NULL, "message: %s", err);
        free(b);
    }
}
END_TEST

/* ---- msg_reader over pipes ------------------------------------------------ */

START_TEST(test_reader_prefilled_pipe)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    size_t n1, n2;
    uint8_t *f1 = hello_frame("one", &n1);
    uint8_t *f2 = hello_frame("two", &n2);
    uint8_t *both = malloc(n1 + n2);
    memcpy(both, f1, n1);
    memcpy(both + n1, f2, n2);
    write_bytes(p[1], both, n1 + n2); /* two frames in one write */
    close(p[1]);
    msg_reader r;
    msg_reader_init(&r, p[0], FRAME_MAX_DEFAULT);
    char err[128];
    Kiln__Envelope *e = NULL;
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 1);
    assert_hello(e, "one");
    msg_free(e);
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 1);
    assert_hello(e, "two");
    msg_free(e);
    /* clean EOF between frames */
    e = (Kiln__Envelope *)0x1;
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 0);
    msg_reader_release(&r);
    close(p[0]);
    free(both);
    free(f1);
    free(f2);
}
END_TEST

START_TEST(test_reader_one_byte_writes)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    size_t n1, n2;
    uint8_t *f1 = hello_frame("trickled byte by byte", &n1);
    uint8_t *f2 = hello_frame("and another", &n2);
    pid_t pid = fork();
    if (pid == 0) { /* no ck_assert in the child: it shares Check's message file */
        close(p[0]);
        for (size_t i = 0; i < n1; i++) {
            if (write(p[1], f1 + i, 1) != 1) _exit(1);
            usleep(200);
        }
        for (size_t i = 0; i < n2; i++)
            if (write(p[1], f2 + i, 1) != 1) _exit(1);
        _exit(0);
    }
    ck_assert_int_ge(pid, 0);
    close(p[1]);
    msg_reader r;
    msg_reader_init(&r, p[0], FRAME_MAX_DEFAULT);
    char err[128];
    Kiln__Envelope *e = NULL;
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 1);
    assert_hello(e, "trickled byte by byte");
    msg_free(e);
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 1);
    assert_hello(e, "and another");
    msg_free(e);
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    msg_reader_release(&r);
    close(p[0]);
    free(f1);
    free(f2);
}
END_TEST

/* A frame larger than the reader's initial buffer, behind a small one, so
 * the buffer both grows and moves. */
START_TEST(test_reader_large_frame)
{
    enum { BIG = 700 * 1024 };
    uint8_t *data = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        data[i] = (uint8_t)(i * 31 + 7);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__BlobPut bp = KILN__BLOB_PUT__INIT;
    bp.hash = (char *)HASH_A;
    bp.size = BIG;
    bp.data.data = data;
    bp.data.len = BIG;
    bp.last = 1;
    MSG_BODY(env, blob_put, BLOB_PUT, &bp);
    size_t nbig, nsmall;
    uint8_t *fbig = frame_of(&env, &nbig);
    uint8_t *fsmall = hello_frame("before", &nsmall);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) { /* no ck_assert in the child: it shares Check's message file */
        close(p[0]);
        size_t n = nsmall + nbig;
        uint8_t *all = malloc(n);
        memcpy(all, fsmall, nsmall);
        memcpy(all + nsmall, fbig, nbig);
        size_t off = 0;
        while (off < n) { /* uneven pieces */
            size_t k = 1 + (size_t)(rnd() % 50000);
            if (k > n - off) k = n - off;
            ssize_t w = write(p[1], all + off, k);
            if (w <= 0) _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    ck_assert_int_ge(pid, 0);
    close(p[1]);
    msg_reader r;
    msg_reader_init(&r, p[0], 1 << 20);
    char err[128];
    Kiln__Envelope *e = NULL;
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 1);
    assert_hello(e, "before");
    msg_free(e);
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 1);
    ck_assert_int_eq(e->body_case, KILN__ENVELOPE__BODY_BLOB_PUT);
    ck_assert_uint_eq(e->blob_put->data.len, BIG);
    ck_assert(memcmp(e->blob_put->data.data, data, BIG) == 0);
    msg_free(e);
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    msg_reader_release(&r);
    close(p[0]);
    free(fbig);
    free(fsmall);
    free(data);
}
END_TEST

START_TEST(test_reader_over_limit)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    size_t n;
    uint8_t *f = hello_frame("this payload is longer than sixteen bytes", &n);
    ck_assert_uint_gt(n - FRAME_HEADER, 16);
    write_bytes(p[1], f, n);
    close(p[1]);
    msg_reader r;
    msg_reader_init(&r, p[0], 16);
    char err[128] = "";
    Kiln__Envelope *e = NULL;
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "limit") != NULL, "message: %s", err);
    msg_reader_release(&r);
    close(p[0]);
    free(f);

    /* a header announcing 4 GiB - 1 is refused without waiting for it */
    ck_assert_int_eq(pipe(p), 0);
    uint8_t hdr[4];
    frame_put_header(hdr, 0xffffffffu);
    write_bytes(p[1], hdr, 4); /* the write end stays open */
    msg_reader_init(&r, p[0], FRAME_MAX_DEFAULT);
    err[0] = 0;
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "limit") != NULL, "message: %s", err);
    msg_reader_release(&r);
    close(p[0]);
    close(p[1]);
}
END_TEST

START_TEST(test_reader_eof)
{
    msg_reader r;
    char err[128];
    Kiln__Envelope *e = NULL;
    int p[2];

    /* nothing at all: clean EOF */
    ck_assert_int_eq(pipe(p), 0);
    close(p[1]);
    msg_reader_init(&r, p[0], FRAME_MAX_DEFAULT);
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 0);
    /* and it stays at EOF */
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 0);
    msg_reader_release(&r);
    close(p[0]);

    /* EOF inside the payload */
    size_t n;
    uint8_t *f = hello_frame("cut short", &n);
    ck_assert_int_eq(pipe(p), 0);
    write_bytes(p[1], f, n - 3);
    close(p[1]);
    msg_reader_init(&r, p[0], FRAME_MAX_DEFAULT);
    err[0] = 0;
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "middle") != NULL, "message: %s", err);
    msg_reader_release(&r);
    close(p[0]);

    /* EOF inside the header, after a whole frame */
    ck_assert_int_eq(pipe(p), 0);
    write_bytes(p[1], f, n);
    write_bytes(p[1], f, 2);
    close(p[1]);
    msg_reader_init(&r, p[0], FRAME_MAX_DEFAULT);
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 1);
    assert_hello(e, "cut short");
    msg_free(e);
    err[0] = 0;
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), -1);
    ck_assert(err[0] != 0);
    msg_reader_release(&r);
    close(p[0]);

    /* a whole frame that does not decode */
    ck_assert_int_eq(pipe(p), 0);
    uint8_t junk[4 + 8];
    frame_put_header(junk, 8);
    memset(junk + 4, 0xff, 8);
    write_bytes(p[1], junk, sizeof junk);
    close(p[1]);
    msg_reader_init(&r, p[0], FRAME_MAX_DEFAULT);
    err[0] = 0;
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "decode") != NULL, "message: %s", err);
    msg_reader_release(&r);
    close(p[0]);
    free(f);
}
END_TEST

/* msg_write_fd is read back by msg_reader, small (stack) and large (heap). */
START_TEST(test_write_fd_roundtrip)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__Error er = KILN__ERROR__INIT;
    char big[6000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    er.message = "short";
    MSG_BODY(env, error, ERROR, &er);
    ck_assert_int_eq(msg_write_fd(p[1], &env), 0);
    er.message = big;
    ck_assert_int_eq(msg_write_fd(p[1], &env), 0);
    close(p[1]);
    msg_reader r;
    msg_reader_init(&r, p[0], FRAME_MAX_DEFAULT);
    char err[128];
    Kiln__Envelope *e;
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 1);
    ck_assert_str_eq(e->error->message, "short");
    msg_free(e);
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 1);
    ck_assert_str_eq(e->error->message, big);
    msg_free(e);
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 0);
    msg_reader_release(&r);
    close(p[0]);
}
END_TEST

/* Messages decoded into an arena read as msg_decode's, small ones from
 * its block and large ones (a 100 KB bytes field) beside it; a reset
 * frees both (ASan's leak check), and the arena is reused after it. */
START_TEST(test_decode_into_arena)
{
    msg_arena a;
    memset(&a, 0, sizeof a);
    size_t n;
    uint8_t *small = task_launch_with_app("app-7", &n);
    uint8_t *big_data = malloc(100000);
    for (size_t i = 0; i < 100000; i++)
        big_data[i] = (uint8_t)(i * 31);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__BlobChunk bc = KILN__BLOB_CHUNK__INIT;
    bc.hash = (char *)HASH_A;
    bc.data.data = big_data;
    bc.data.len = 100000;
    bc.size = 100000;
    bc.last = 1;
    MSG_BODY(env, blob_chunk, BLOB_CHUNK, &bc);
    size_t bn;
    uint8_t *big = pack_env(&env, &bn);
    char err[256];
    for (int round = 0; round < 3; round++) {
        Kiln__Envelope *e = msg_decode_arena(&a, small, n, err, sizeof err);
        ck_assert_msg(e != NULL, "%s", err);
        ck_assert_str_eq(e->task_launch->app_id, "app-7");
        ck_assert_ptr_nonnull(e->task_launch->input);
        ck_assert_uint_gt(a.used, 0);
        Kiln__Envelope *b = msg_decode_arena(&a, big, bn, err, sizeof err);
        ck_assert_msg(b != NULL, "%s", err);
        ck_assert_uint_eq(b->blob_chunk->data.len, 100000);
        ck_assert(memcmp(b->blob_chunk->data.data, big_data, 100000) == 0);
        ck_assert_ptr_nonnull(a.big);
        ck_assert_str_eq(e->task_launch->app_id, "app-7"); /* the first is still there */
        msg_arena_reset(&a);
        ck_assert_uint_eq(a.used, 0);
        ck_assert_ptr_null(a.big);
    }
    /* a message that does not decode leaves nothing behind either */
    small[n - 1] ^= 0xff;
    msg_decode_arena(&a, small, n, err, sizeof err);
    msg_arena_reset(&a);
    msg_arena_release(&a);
    ck_assert_ptr_null(a.buf);
    free(small);
    free(big);
    free(big_data);
}
END_TEST

/* Both decoders refuse the payload (NULL), or accept it as messages that
 * pack the same. */
static Kiln__Envelope *decode_both_ways(msg_arena *a, const uint8_t *p, size_t n)
{
    char err[256], aerr[256];
    Kiln__Envelope *e = msg_decode(p, n, err, sizeof err), *ae = msg_decode_arena(a, p, n, aerr, sizeof aerr);
    ck_assert_msg(!e == !ae, "msg_decode %s, msg_decode_arena %s", e ? "accepts" : err, ae ? "accepts" : aerr);
    if (!e) return NULL;
    size_t n1, n2;
    uint8_t *f1 = msg_pack_frame(e, &n1), *f2 = msg_pack_frame(ae, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(f1, f2, n1) == 0);
    free(f1);
    free(f2);
    msg_free(e);
    return ae;
}

/* msg_decode_arena reads a TaskDone of varints and sizes itself, and
 * leaves every other shape to protobuf-c, with the same results. */
START_TEST(test_task_done_fast_path)
{
    msg_arena a;
    memset(&a, 0, sizeof a);
    uint64_t sizes[3] = {0, 300, UINT64_MAX};
    Kiln__Counter ctr = KILN__COUNTER__INIT, *ctrp = &ctr;
    ctr.name = (char *)"bad_lines";
    ctr.value = 3;
    for (int shape = 0; shape < 4; shape++) {
        Kiln__Envelope env = KILN__ENVELOPE__INIT;
        Kiln__TaskDone d = KILN__TASK_DONE__INIT;
        d.task_id = 9000000000ull;
        d.ok = shape != 2;
        d.count = 5;
        d.records_in = 7;
        d.records_out = 6;
        d.partition_sizes = sizes;
        d.n_partition_sizes = 3;
        d.spill_bytes = 1u << 31;
        d.fetch_worker_id = UINT32_MAX;
        d.run_us = 42;
        if (shape == 1) { /* counters: protobuf-c's */
            d.counters = &ctrp;
            d.n_counters = 1;
        }
        if (shape == 2) d.error = (char *)"boom"; /* an error: protobuf-c's */
        if (shape == 3) d.n_partition_sizes = 0;
        MSG_BODY(env, task_done, TASK_DONE, &d);
        size_t n;
        uint8_t *b = pack_env(&env, &n);
        Kiln__Envelope *e = decode_both_ways(&a, b, n);
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_eq(e->task_done->task_id, 9000000000ull);
        ck_assert_uint_eq(e->task_done->run_us, 42);
        ck_assert_uint_eq(e->task_done->fetch_worker_id, UINT32_MAX);
        ck_assert_uint_eq(e->task_done->n_partition_sizes, shape == 3 ? 0 : 3);
        ck_assert_str_eq(e->task_done->error, shape == 2 ? "boom" : "");
        msg_arena_reset(&a);
        free(b);
    }
    /* by hand: a bool that is 2 (protobuf-c reads true), a varint with a
     * trailing zero byte, the sizes twice (protobuf-c adds them up), a
     * field numbered 0 */
    static const uint8_t odd[][16] = {
        {0x92, 0x01, 4, 0x08, 0x05, 0x10, 0x02},
        {0x92, 0x01, 5, 0x08, 0x85, 0x00, 0x10, 0x01},
        {0x92, 0x01, 8, 0x4a, 0x02, 0x01, 0x02, 0x4a, 0x02, 0x03, 0x04},
    };
    static const size_t odd_len[] = {7, 8, 11};
    for (size_t i = 0; i < 3; i++) {
        Kiln__Envelope *e = decode_both_ways(&a, odd[i], odd_len[i]);
        ck_assert_ptr_nonnull(e);
        if (i == 2) ck_assert_uint_eq(e->task_done->n_partition_sizes, 4);
        msg_arena_reset(&a);
    }
    static const uint8_t zero[] = {0x92, 0x01, 2, 0x00, 0x01};
    char err[256];
    ck_assert_ptr_null(msg_decode_arena(&a, zero, sizeof zero, err, sizeof err));
    ck_assert_ptr_null(msg_decode(zero, sizeof zero, err, sizeof err));
    msg_arena_release(&a);
}
END_TEST

/* A TaskLaunch sent as the fields its stage shares, packed once, then the
 * task's own decodes as the message packed whole: protobuf-c packs the
 * decoded message back to the whole one's bytes. */
START_TEST(test_split_frame_is_the_whole_message)
{
    /* the field numbers msg_task_launch_head writes */
    ck_assert_uint_eq(protobuf_c_message_descriptor_get_field_by_name(&kiln__task_launch__descriptor, "task_id")->id,
                      1);
    ck_assert_uint_eq(protobuf_c_message_descriptor_get_field_by_name(&kiln__task_launch__descriptor, "attempt")->id,
                      5);
    ck_assert_uint_eq(protobuf_c_message_descriptor_get_field_by_name(&kiln__task_launch__descriptor, "input")->id, 11);
    char *bcasts[] = {(char *)HASH_A, (char *)HASH_A};
    uint8_t stage[300];
    for (size_t i = 0; i < sizeof stage; i++)
        stage[i] = (uint8_t)(i * 13);
    Kiln__TaskInput in = KILN__TASK_INPUT__INIT;
    in.pipeline = 1;
    in.partition = 77;
    in.range_start = -5;
    in.range_end = 1u << 30;
    Kiln__TaskLaunch shared = KILN__TASK_LAUNCH__INIT;
    shared.app_id = (char *)"app-1";
    shared.job_id = 3;
    shared.stage_id = 9;
    shared.lib_hash = (char *)HASH_A;
    shared.stage_hash = (char *)HASH_A;
    shared.stage.data = stage;
    shared.stage.len = sizeof stage;
    shared.broadcasts = bcasts;
    shared.n_broadcasts = 2;
    shared.memory = 1u << 28;
    shared.timeout_ms = 60000;
    Kiln__TaskLaunch whole = shared;
    whole.task_id = 1234567890123ull;
    whole.attempt = 2;
    whole.input = &in;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    MSG_BODY(env, task_launch, TASK_LAUNCH, &whole);
    size_t wn;
    uint8_t *w = msg_pack_frame(&env, &wn);

    /* as sched.c sends it: the shared fields, the task's head, its input */
    size_t npre = kiln__task_launch__get_packed_size(&shared);
    uint8_t *pre = malloc(npre);
    kiln__task_launch__pack(&shared, pre);
    size_t nin = kiln__task_input__get_packed_size(&in);
    uint8_t head[MSG_LAUNCH_HEAD_MAX];
    size_t nhead = msg_task_launch_head(head, whole.task_id, whole.attempt, nin);
    ck_assert_uint_le(nhead, MSG_LAUNCH_HEAD_MAX);
    struct iovec parts[2] = {{pre, npre}, {head, nhead}};
    size_t n = msg_split_frame_size(NULL, KILN__ENVELOPE__BODY_TASK_LAUNCH, parts, 2, nin);
    ck_assert_uint_eq(n, wn); /* the same fields: the same length */
    uint8_t *f = malloc(n);
    ck_assert_uint_eq(msg_pack_split_frame_into(f, NULL, KILN__ENVELOPE__BODY_TASK_LAUNCH, parts, 2, &in.base, nin), n);
    ck_assert_uint_eq(frame_get_header(f), n - FRAME_HEADER);
    char err[256];
    Kiln__Envelope *e = msg_decode(f + FRAME_HEADER, n - FRAME_HEADER, err, sizeof err);
    ck_assert_msg(e != NULL, "%s", err);
    ck_assert_int_eq(e->body_case, KILN__ENVELOPE__BODY_TASK_LAUNCH);
    ck_assert_uint_eq(e->task_launch->task_id, whole.task_id);
    ck_assert_uint_eq(e->task_launch->attempt, 2);
    ck_assert_uint_eq(e->task_launch->input->partition, 77);
    ck_assert_str_eq(e->task_launch->app_id, "app-1");
    size_t an;
    uint8_t *again = msg_pack_frame(e, &an);
    ck_assert_uint_eq(an, wn);
    ck_assert(memcmp(again, w, wn) == 0);
    msg_free(e);
    free(again);
    free(f);
    free(pre);
    free(w);
}
END_TEST

/* The hand-made FetchData head + data is a frame protobuf-c reads as the
 * same message, and the peek reads what protobuf-c packs. */
START_TEST(test_fetch_data_fast_path)
{
    static const size_t lens[] = {0, 1, 127, 128, 16383, 16384, 1u << 20};
    static const uint32_t ids[] = {0, 1, 300, UINT32_MAX};
    uint8_t *data = malloc((1u << 20) + 1);
    for (size_t i = 0; i <= (1u << 20); i++)
        data[i] = (uint8_t)(i * 7);
    for (size_t a = 0; a < sizeof lens / sizeof *lens; a++)
        for (size_t b = 0; b < sizeof ids / sizeof *ids; b++)
            for (int last = 0; last < 2; last++) {
                uint8_t head[MSG_FETCH_HEAD_MAX];
                size_t hn = msg_fetch_data_head(head, ids[b], last, lens[a]);
                ck_assert_uint_le(hn, MSG_FETCH_HEAD_MAX);
                uint8_t *frame = malloc(hn + lens[a]);
                memcpy(frame, head, hn);
                memcpy(frame + hn, data, lens[a]);
                size_t plen;
                char err[256];
                ck_assert_int_eq(frame_parse(frame, hn + lens[a], 64u << 20, &plen, err, sizeof err), FRAME_OK);
                ck_assert_uint_eq(FRAME_HEADER + plen, hn + lens[a]);
                Kiln__Envelope *m = msg_decode(frame + FRAME_HEADER, plen, err, sizeof err);
                ck_assert_msg(m != NULL, "%s", err);
                ck_assert_int_eq(m->body_case, KILN__ENVELOPE__BODY_FETCH_DATA);
                ck_assert_uint_eq(m->fetch_data->request_id, ids[b]);
                ck_assert_int_eq(m->fetch_data->last, last);
                ck_assert_uint_eq(m->fetch_data->data.len, lens[a]);
                ck_assert(lens[a] == 0 || memcmp(m->fetch_data->data.data, data, lens[a]) == 0);
                msg_free(m);

                uint32_t id;
                int l;
                const uint8_t *d;
                size_t dn;
                ck_assert_int_eq(msg_peek_fetch_data(frame + FRAME_HEADER, plen, &id, &l, &d, &dn), 1);
                ck_assert_uint_eq(id, ids[b]);
                ck_assert_int_eq(l, last);
                ck_assert_uint_eq(dn, lens[a]);
                ck_assert(dn == 0 || d == frame + hn);
                /* cut short anywhere: never a 1, never a read past the end */
                for (size_t cut = 1; cut < plen && cut < 40; cut++)
                    ck_assert_int_eq(msg_peek_fetch_data(frame + FRAME_HEADER, plen - cut, &id, &l, &d, &dn), 0);
                free(frame);
            }

    /* the same head for another message: a BlobChunk the driver sends from
     * its blob file (its data is field 4) */
    {
        Kiln__Envelope be = KILN__ENVELOPE__INIT;
        Kiln__BlobChunk bc = KILN__BLOB_CHUNK__INIT;
        bc.hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        bc.size = 5000000;
        bc.offset = 4194304;
        bc.last = 1;
        MSG_BODY(be, blob_chunk, BLOB_CHUNK, &bc);
        uint8_t head[256];
        size_t hn = msg_head_before_bytes(head, sizeof head, &be, 4, 805696);
        ck_assert_uint_gt(hn, 0);
        ck_assert_uint_eq(msg_head_before_bytes(head, 10, &be, 4, 805696), 0); /* does not fit */
        uint8_t *frame = malloc(hn + 805696);
        memcpy(frame, head, hn);
        memcpy(frame + hn, data, 805696);
        size_t plen;
        char err[256];
        ck_assert_int_eq(frame_parse(frame, hn + 805696, 64u << 20, &plen, err, sizeof err), FRAME_OK);
        Kiln__Envelope *m = msg_decode(frame + FRAME_HEADER, plen, err, sizeof err);
        ck_assert_msg(m != NULL, "%s", err);
        ck_assert_int_eq(m->body_case, KILN__ENVELOPE__BODY_BLOB_CHUNK);
        ck_assert_str_eq(m->blob_chunk->hash, bc.hash);
        ck_assert_uint_eq(m->blob_chunk->size, 5000000);
        ck_assert_uint_eq(m->blob_chunk->offset, 4194304);
        ck_assert_int_eq(m->blob_chunk->last, 1);
        ck_assert_uint_eq(m->blob_chunk->data.len, 805696);
        ck_assert_int_eq(memcmp(m->blob_chunk->data.data, data, 805696), 0);
        msg_free(m);
        free(frame);
    }

    /* what protobuf-c packs (field order of its own) peeks the same */
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__FetchData fd = KILN__FETCH_DATA__INIT;
    fd.request_id = 77;
    fd.last = 1;
    fd.data.data = data;
    fd.data.len = 1000;
    MSG_BODY(env, fetch_data, FETCH_DATA, &fd);
    size_t n;
    uint8_t *f = msg_pack_frame(&env, &n);
    uint32_t id;
    int l;
    const uint8_t *d;
    size_t dn;
    ck_assert_int_eq(msg_peek_fetch_data(f + FRAME_HEADER, n - FRAME_HEADER, &id, &l, &d, &dn), 1);
    ck_assert_uint_eq(id, 77);
    ck_assert_int_eq(l, 1);
    ck_assert_uint_eq(dn, 1000);
    ck_assert_int_eq(memcmp(d, data, 1000), 0);
    free(f);
    /* a failed piece and other messages go to msg_decode */
    fd.error = "no such map output";
    f = msg_pack_frame(&env, &n);
    ck_assert_int_eq(msg_peek_fetch_data(f + FRAME_HEADER, n - FRAME_HEADER, &id, &l, &d, &dn), 0);
    free(f);
    Kiln__Hello h = KILN__HELLO__INIT;
    h.version = 1;
    MSG_BODY(env, hello, HELLO, &h);
    f = msg_pack_frame(&env, &n);
    ck_assert_int_eq(msg_peek_fetch_data(f + FRAME_HEADER, n - FRAME_HEADER, &id, &l, &d, &dn), 0);
    free(f);
    free(data);
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tf = tcase_create("frame_parse");
    tcase_add_test(tf, test_parse_whole_frame);
    tcase_add_test(tf, test_parse_split_every_byte);
    tcase_add_test(tf, test_parse_coalesced);
    tcase_add_test(tf, test_parse_over_max);
    tcase_add_test(tf, test_parse_exactly_max);
    tcase_add_test(tf, test_limit_by_state);
    tcase_add_test(tf, test_input_high);
    suite_add_tcase(s, tf);

    TCase *td = tcase_create("msg_decode");
    tcase_set_timeout(td, 60);
    tcase_add_test(td, test_decode_valid);
    tcase_add_test(td, test_decode_garbage);
    tcase_add_test(td, test_decode_field_zero);
    tcase_add_test(td, test_decode_truncated_and_mutated);
    tcase_add_test(td, test_decode_no_body);
    tcase_add_test(td, test_decode_bad_app_id);
    tcase_add_test(td, test_decode_app_end_dirs);
    tcase_add_test(td, test_decode_bad_blob_hash);
    suite_add_tcase(s, td);

    TCase *tr = tcase_create("msg_reader");
    tcase_set_timeout(tr, 30);
    tcase_add_test(tr, test_reader_prefilled_pipe);
    tcase_add_test(tr, test_reader_one_byte_writes);
    tcase_add_test(tr, test_reader_large_frame);
    tcase_add_test(tr, test_reader_over_limit);
    tcase_add_test(tr, test_reader_eof);
    tcase_add_test(tr, test_write_fd_roundtrip);
    tcase_add_test(tr, test_fetch_data_fast_path);
    tcase_add_test(tr, test_split_frame_is_the_whole_message);
    tcase_add_test(tr, test_decode_into_arena);
    tcase_add_test(tr, test_task_done_fast_path);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(frame_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
