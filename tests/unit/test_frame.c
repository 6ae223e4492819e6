/*
 * test_frame.c - unit tests of the wire: common/frame.c (the framing rule),
 * common/msg.c (decoding with validation, blocking frame I/O) and
 * common/conn.c (framed connections over a bufferevent).
 *
 * Frames are built by hand here (header + packed Envelope) so that the
 * tests do not trust the encoders they check. Blocking I/O runs over pipes,
 * connections over a real AF_UNIX socketpair driven by a private
 * event_base; nothing listens on the network.
 */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/util.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn.h"
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

static const char HASH_A[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* ---- building frames by hand ------------------------------------------ */

/* A new buffer holding header + packed e; *n is its size. */
static uint8_t *frame_of(const Kiln__Envelope *e, size_t *n)
{
    size_t len = kiln__envelope__get_packed_size(e);
    uint8_t *b = malloc(FRAME_HEADER + len);
    ck_assert_ptr_nonnull(b);
    frame_put_header(b, (uint32_t)len);
    ck_assert_uint_eq(kiln__envelope__pack(e, b + FRAME_HEADER), len);
    *n = FRAME_HEADER + len;
    return b;
}

/* A frame carrying a hello named name. */
static uint8_t *hello_frame(const char *name, size_t *n)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__Hello h = KILN__HELLO__INIT;
    h.version = PROTOCOL_VERSION;
    h.role = KILN__ROLE__ROLE_WORKER;
    h.name = (char *)name;
    MSG_BODY(env, hello, HELLO, &h);
    return frame_of(&env, n);
}

/* Packs a bare envelope (no header) into a new buffer. */
static uint8_t *pack_env(const Kiln__Envelope *e, size_t *n)
{
    *n = kiln__envelope__get_packed_size(e);
    uint8_t *b = malloc(*n ? *n : 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(kiln__envelope__pack(e, b), *n);
    return b;
}

static void write_bytes(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        ck_assert_int_gt(w, 0);
        c += w;
        n -= (size_t)w;
    }
}

static void assert_hello(const Kiln__Envelope *e, const char *name)
{
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->body_case, KILN__ENVELOPE__BODY_HELLO);
    ck_assert_uint_eq(e->hello->version, PROTOCOL_VERSION);
    ck_assert_int_eq(e->hello->role, KILN__ROLE__ROLE_WORKER);
    ck_assert_str_eq(e->hello->name, name);
}

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

static uint8_t *task_launch_with_app(const char *app_id, size_t *n)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__TaskLaunch t = KILN__TASK_LAUNCH__INIT;
    Kiln__TaskInput in = KILN__TASK_INPUT__INIT;
    t.app_id = (char *)app_id;
    t.lib_hash = (char *)HASH_A;
    t.stage_hash = (char *)HASH_A;
    t.input = &in;
    MSG_BODY(env, task_launch, TASK_LAUNCH, &t);
    return pack_env(&env, n);
}

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

/* ---- conn over a socketpair ------------------------------------------------ */

typedef struct conn_state {
    int nmsgs;
    char names[8][64];
    int body[8];
    int nclosed;
    char reason[256];
} conn_state;

static void on_msg(conn *c, Kiln__Envelope *m, void *arg)
{
    conn_state *s = arg;
    if (s->nmsgs < 8) {
        s->body[s->nmsgs] = m->body_case;
        if (m->body_case == KILN__ENVELOPE__BODY_HELLO)
            snprintf(s->names[s->nmsgs], sizeof s->names[0], "%s", m->hello->name);
    }
    s->nmsgs++;
}

static void on_close(conn *c, const char *reason, void *arg)
{
    conn_state *s = arg;
    s->nclosed++;
    snprintf(s->reason, sizeof s->reason, "%s", reason ? reason : "(null)");
}

typedef struct fixture {
    struct event_base *base;
    evutil_socket_t fds[2];
    conn *c;
    conn_state st;
} fixture;

/* A conn on fds[0] with the given limit (0: default) and message callback;
 * the test plays the peer on fds[1] with plain blocking I/O. */
static void fx_open_cb(fixture *fx, size_t max, conn_msg_cb cb)
{
    memset(fx, 0, sizeof *fx);
    signal(SIGPIPE, SIG_IGN);
    fx->base = event_base_new();
    ck_assert_ptr_nonnull(fx->base);
    ck_assert_int_eq(evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, fx->fds), 0);
    fx->c = conn_new(fx->base, fx->fds[0], max, cb, on_close, &fx->st);
    ck_assert_ptr_nonnull(fx->c);
}

static void fx_open(fixture *fx, size_t max)
{
    fx_open_cb(fx, max, on_msg);
}

static void fx_spin(fixture *fx, int times)
{
    for (int i = 0; i < times; i++)
        event_base_loop(fx->base, EVLOOP_NONBLOCK);
}

/* Closes the conn if still open, lets the loop free it, frees the rest. */
static void fx_close(fixture *fx)
{
    if (fx->st.nclosed == 0) conn_close(fx->c, 0, "test over");
    fx_spin(fx, 3);
    ck_assert_int_eq(fx->st.nclosed, 1);
    evutil_closesocket(fx->fds[1]);
    event_base_free(fx->base);
}

/* True when the conn's end of the socketpair has been closed (freed). */
static int peer_sees_eof(fixture *fx)
{
    char b;
    int fl = fcntl(fx->fds[1], F_GETFL);
    fcntl(fx->fds[1], F_SETFL, fl | O_NONBLOCK);
    ssize_t r = read(fx->fds[1], &b, 1);
    fcntl(fx->fds[1], F_SETFL, fl);
    return r == 0;
}

START_TEST(test_conn_split_frame)
{
    fixture fx;
    fx_open(&fx, 0);
    size_t n;
    uint8_t *f = hello_frame("split across writes", &n);
    /* header in two pieces, then the payload in three */
    size_t cuts[] = {0, 2, 4, 9, n - 1, n};
    for (size_t i = 0; i + 1 < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(fx.fds[1], f + cuts[i], cuts[i + 1] - cuts[i]);
        fx_spin(&fx, 3);
        ck_assert_int_eq(fx.st.nmsgs, cuts[i + 1] == n ? 1 : 0);
    }
    ck_assert_int_eq(fx.st.body[0], KILN__ENVELOPE__BODY_HELLO);
    ck_assert_str_eq(fx.st.names[0], "split across writes");
    ck_assert_int_eq(fx.st.nclosed, 0);
    ck_assert(!conn_is_closing(fx.c));
    fx_close(&fx);
    ck_assert_str_eq(fx.st.reason, "test over");
    free(f);
}
END_TEST

START_TEST(test_conn_coalesced_frames)
{
    fixture fx;
    fx_open(&fx, 0);
    size_t n1, n2, n3;
    uint8_t *f1 = hello_frame("alpha", &n1);
    uint8_t *f2 = hello_frame("beta", &n2);
    uint8_t *f3 = hello_frame("gamma", &n3);
    uint8_t *all = malloc(n1 + n2 + n3);
    memcpy(all, f1, n1);
    memcpy(all + n1, f2, n2);
    memcpy(all + n1 + n2, f3, 3); /* and the start of a third */
    write_bytes(fx.fds[1], all, n1 + n2 + 3);
    fx_spin(&fx, 3);
    ck_assert_int_eq(fx.st.nmsgs, 2);
    ck_assert_str_eq(fx.st.names[0], "alpha");
    ck_assert_str_eq(fx.st.names[1], "beta");
    write_bytes(fx.fds[1], f3 + 3, n3 - 3);
    fx_spin(&fx, 3);
    ck_assert_int_eq(fx.st.nmsgs, 3);
    ck_assert_str_eq(fx.st.names[2], "gamma");
    ck_assert_int_eq(fx.st.nclosed, 0);
    fx_close(&fx);
    free(all);
    free(f1);
    free(f2);
    free(f3);
}
END_TEST

START_TEST(test_conn_over_limit)
{
    fixture fx;
    fx_open(&fx, 32);
    size_t n;
    uint8_t *f = hello_frame("a name long enough to pass thirty-two bytes", &n);
    ck_assert_uint_gt(n - FRAME_HEADER, 32);
    write_bytes(fx.fds[1], f, n);
    fx_spin(&fx, 4);
    ck_assert_int_eq(fx.st.nmsgs, 0);
    ck_assert_int_eq(fx.st.nclosed, 1);
    ck_assert_msg(strstr(fx.st.reason, "limit") != NULL, "reason: %s", fx.st.reason);
    /* the conn was freed by the loop, which closed its socket */
    ck_assert(peer_sees_eof(&fx));
    fx_close(&fx);

    /* the same frame with the limit set to exactly its payload size passes */
    fx_open(&fx, n - FRAME_HEADER);
    write_bytes(fx.fds[1], f, n);
    fx_spin(&fx, 3);
    ck_assert_int_eq(fx.st.nmsgs, 1);
    ck_assert_int_eq(fx.st.nclosed, 0);
    fx_close(&fx);
    free(f);

    /* a header alone announcing 1 GiB closes at once, with the default limit */
    fx_open(&fx, 0);
    uint8_t hdr[4];
    frame_put_header(hdr, 1u << 30);
    write_bytes(fx.fds[1], hdr, 4);
    fx_spin(&fx, 4);
    ck_assert_int_eq(fx.st.nmsgs, 0);
    ck_assert_int_eq(fx.st.nclosed, 1);
    ck_assert_msg(strstr(fx.st.reason, "limit") != NULL, "reason: %s", fx.st.reason);
    fx_close(&fx);
}
END_TEST

START_TEST(test_conn_garbage)
{
    fixture fx;
    fx_open(&fx, 0);
    size_t n;
    uint8_t *good = hello_frame("good first", &n);
    uint8_t junk[4 + 16];
    frame_put_header(junk, 16);
    memset(junk + 4, 0xff, 16);
    uint8_t *buf = malloc(n + sizeof junk + n);
    memcpy(buf, good, n);
    memcpy(buf + n, junk, sizeof junk);
    memcpy(buf + n + sizeof junk, good, n); /* never delivered */
    write_bytes(fx.fds[1], buf, n + sizeof junk + n);
    fx_spin(&fx, 4);
    ck_assert_int_eq(fx.st.nmsgs, 1);
    ck_assert_str_eq(fx.st.names[0], "good first");
    ck_assert_int_eq(fx.st.nclosed, 1);
    ck_assert_msg(strstr(fx.st.reason, "decode") != NULL, "reason: %s", fx.st.reason);
    ck_assert(peer_sees_eof(&fx));
    fx_close(&fx);
    free(buf);
    free(good);

    /* a frame that decodes but fails validation also closes */
    fx_open(&fx, 0);
    size_t m;
    uint8_t *bad = task_launch_with_app("../etc", &m);
    uint8_t hdr[4];
    frame_put_header(hdr, (uint32_t)m);
    write_bytes(fx.fds[1], hdr, 4);
    write_bytes(fx.fds[1], bad, m);
    fx_spin(&fx, 4);
    ck_assert_int_eq(fx.st.nmsgs, 0);
    ck_assert_int_eq(fx.st.nclosed, 1);
    ck_assert_msg(strstr(fx.st.reason, "app id") != NULL, "reason: %s", fx.st.reason);
    fx_close(&fx);
    free(bad);
}
END_TEST

START_TEST(test_conn_peer_eof)
{
    fixture fx;
    fx_open(&fx, 0);
    size_t n;
    uint8_t *f = hello_frame("last words", &n);
    write_bytes(fx.fds[1], f, n);
    shutdown(fx.fds[1], SHUT_WR);
    fx_spin(&fx, 4);
    ck_assert_int_eq(fx.st.nmsgs, 1);
    ck_assert_str_eq(fx.st.names[0], "last words");
    ck_assert_int_eq(fx.st.nclosed, 1);
    ck_assert_msg(strstr(fx.st.reason, "closed") != NULL, "reason: %s", fx.st.reason);
    fx_close(&fx);
    free(f);
}
END_TEST

/* Closing from inside the message callback: no further message is
 * delivered, the close callback runs once, the conn is freed later. */
static void close_on_msg(conn *c, Kiln__Envelope *m, void *arg)
{
    on_msg(c, m, arg);
    conn_close(c, 0, "owner closed");
    conn_close(c, 0, "twice"); /* ignored */
}

START_TEST(test_conn_close_in_callback)
{
    fixture fx;
    fx_open_cb(&fx, 0, close_on_msg);
    size_t n1, n2;
    uint8_t *f1 = hello_frame("one", &n1);
    uint8_t *f2 = hello_frame("two", &n2);
    write_bytes(fx.fds[1], f1, n1);
    write_bytes(fx.fds[1], f2, n2);
    fx_spin(&fx, 4);
    ck_assert_int_eq(fx.st.nmsgs, 1);
    ck_assert_int_eq(fx.st.nclosed, 1);
    ck_assert_str_eq(fx.st.reason, "owner closed");
    ck_assert(peer_sees_eof(&fx));
    fx_close(&fx);
    free(f1);
    free(f2);
}
END_TEST

/* A conn that has not authenticated closes at the header of a frame over
 * FRAME_HANDSHAKE_MAX, before its body arrived; conn_set_authenticated
 * lifts the limit to max_frame. */
START_TEST(test_conn_handshake_limit)
{
    fixture fx;
    fx_open(&fx, 0);
    uint8_t hdr[FRAME_HEADER];
    frame_put_header(hdr, FRAME_HANDSHAKE_MAX + 1);
    write_bytes(fx.fds[1], hdr, sizeof hdr);
    fx_spin(&fx, 4);
    ck_assert_int_eq(fx.st.nclosed, 1);
    ck_assert_msg(strstr(fx.st.reason, "before authentication"), "reason: %s", fx.st.reason);
    ck_assert(peer_sees_eof(&fx)); /* closed and freed at the header */
    fx_close(&fx);

    fx_open(&fx, 0);
    conn_set_authenticated(fx.c);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__Error e = KILN__ERROR__INIT;
    char *big = calloc(1, 3 * FRAME_HANDSHAKE_MAX);
    memset(big, 'b', 3 * FRAME_HANDSHAKE_MAX - 1);
    e.message = big;
    MSG_BODY(env, error, ERROR, &e);
    size_t n;
    uint8_t *f = msg_pack_frame(&env, &n);
    write_bytes(fx.fds[1], f, n);
    fx_spin(&fx, 4);
    ck_assert_int_eq(fx.st.nmsgs, 1);
    ck_assert_int_eq(fx.st.nclosed, 0);
    fx_close(&fx);
    free(f);
    free(big);
}
END_TEST

/* Pausing stops delivery of frames already buffered, too; they come from
 * the loop when reading resumes. */
static void pause_on_msg(conn *c, Kiln__Envelope *m, void *arg)
{
    on_msg(c, m, arg);
    conn_pause_read(c, 1);
}

START_TEST(test_conn_pause_buffered)
{
    fixture fx;
    fx_open_cb(&fx, 0, pause_on_msg);
    size_t n1, n2;
    uint8_t *f1 = hello_frame("one", &n1);
    uint8_t *f2 = hello_frame("two", &n2);
    uint8_t both[512];
    memcpy(both, f1, n1);
    memcpy(both + n1, f2, n2);
    write_bytes(fx.fds[1], both, n1 + n2); /* one read brings both */
    fx_spin(&fx, 4);
    ck_assert_int_eq(fx.st.nmsgs, 1);
    conn_pause_read(fx.c, 0);
    fx_spin(&fx, 4);
    ck_assert_int_eq(fx.st.nmsgs, 2);
    ck_assert_str_eq(fx.st.names[1], "two");
    fx_close(&fx);
    free(f1);
    free(f2);
}
END_TEST

/* With an output limit, a peer that leaves over it unread is not read:
 * each request answered with a big reply, the peer reading none, stops
 * being read after the first; once it reads, the rest are answered. */
static void reply_on_msg(conn *c, Kiln__Envelope *m, void *arg)
{
    on_msg(c, m, arg);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__Error e = KILN__ERROR__INIT;
    static char text[64 << 10];
    memset(text, 'r', sizeof text - 1);
    e.message = text;
    MSG_BODY(env, error, ERROR, &e);
    conn_send(c, &env);
}

START_TEST(test_conn_output_limit)
{
    fixture fx;
    fx_open_cb(&fx, 0, reply_on_msg);
    conn_set_authenticated(fx.c);
    conn_set_output_limit(fx.c, 1000, 100);
    /* the peer's socket buffer is full first, so the replies stay queued */
    int small = 4096;
    setsockopt(fx.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(fx.fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    size_t n;
    uint8_t *f = hello_frame("ask", &n);
    for (int i = 0; i < 5; i++)
        write_bytes(fx.fds[1], f, n);
    fx_spin(&fx, 6);
    ck_assert_int_eq(fx.st.nmsgs, 1);
    ck_assert_uint_gt(conn_output_pending(fx.c), 1000);
    /* the peer reads everything: the conn reads again */
    fcntl(fx.fds[1], F_SETFL, fcntl(fx.fds[1], F_GETFL) | O_NONBLOCK);
    char buf[65536];
    for (int round = 0; round < 2000 && fx.st.nmsgs < 5; round++) {
        while (read(fx.fds[1], buf, sizeof buf) > 0)
            ;
        fx_spin(&fx, 1);
    }
    ck_assert_int_eq(fx.st.nmsgs, 5);
    ck_assert_int_eq(fx.st.nclosed, 0);
    fx_close(&fx);
    free(f);
}
END_TEST

START_TEST(test_conn_send)
{
    fixture fx;
    fx_open(&fx, 0);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__JobDone jd = KILN__JOB_DONE__INIT;
    jd.job_id = 42;
    jd.ok = 1;
    jd.count = 123456789012ull;
    jd.error = "";
    MSG_BODY(env, job_done, JOB_DONE, &jd);
    ck_assert_int_eq(conn_send(fx.c, &env), 0);
    Kiln__Envelope henv = KILN__ENVELOPE__INIT;
    Kiln__Hello hello = KILN__HELLO__INIT;
    hello.version = PROTOCOL_VERSION;
    hello.role = KILN__ROLE__ROLE_WORKER;
    hello.name = "sent hello";
    MSG_BODY(henv, hello, HELLO, &hello);
    ck_assert_int_eq(conn_send(fx.c, &henv), 0);
    ck_assert_int_eq(conn_send_error(fx.c, "no such app %s (%d)", "app-9", 9), 0);
    for (int i = 0; i < 50 && conn_output_pending(fx.c) > 0; i++)
        fx_spin(&fx, 1);
    ck_assert_uint_eq(conn_output_pending(fx.c), 0);

    msg_reader r;
    msg_reader_init(&r, fx.fds[1], FRAME_MAX_DEFAULT);
    char err[128];
    Kiln__Envelope *e = NULL;
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 1);
    ck_assert_int_eq(e->body_case, KILN__ENVELOPE__BODY_JOB_DONE);
    ck_assert_uint_eq(e->job_done->job_id, 42);
    ck_assert(e->job_done->ok);
    ck_assert_uint_eq(e->job_done->count, 123456789012ull);
    msg_free(e);
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 1);
    assert_hello(e, "sent hello");
    msg_free(e);
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 1);
    ck_assert_int_eq(e->body_case, KILN__ENVELOPE__BODY_ERROR);
    ck_assert_str_eq(e->error->message, "no such app app-9 (9)");
    msg_free(e);

    /* once closing, sends are refused */
    conn_close(fx.c, 0, "done");
    ck_assert(conn_is_closing(fx.c));
    ck_assert_int_eq(conn_send(fx.c, &env), -1);
    fx_spin(&fx, 3);
    ck_assert_int_eq(msg_reader_next(&r, &e, err, sizeof err), 0);
    msg_reader_release(&r);
    fx_close(&fx);
}
END_TEST

/* A message larger than the socket buffer: a child reads it while the
 * loop writes; the bytes arrive intact. */
START_TEST(test_conn_send_large)
{
    enum { BIG = 3 * 1024 * 1024 + 17 };
    fixture fx;
    fx_open(&fx, 0);
    uint8_t *data = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        data[i] = (uint8_t)(i ^ (i >> 9));
    pid_t pid = fork();
    if (pid == 0) { /* no ck_assert in the child: it shares Check's message file */
        msg_reader r;
        msg_reader_init(&r, fx.fds[1], FRAME_MAX_DEFAULT);
        char err[128];
        Kiln__Envelope *e = NULL;
        if (msg_reader_next(&r, &e, err, sizeof err) != 1) _exit(2);
        if (e->body_case != KILN__ENVELOPE__BODY_TASK_OUTPUT) _exit(3);
        if (e->task_output->task_id != 9) _exit(4);
        if (e->task_output->block.len != BIG) _exit(5);
        if (memcmp(e->task_output->block.data, data, BIG) != 0) _exit(6);
        msg_free(e);
        msg_reader_release(&r);
        _exit(0);
    }
    ck_assert_int_ge(pid, 0);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__TaskOutput to = KILN__TASK_OUTPUT__INIT;
    to.task_id = 9;
    to.block.data = data;
    to.block.len = BIG;
    MSG_BODY(env, task_output, TASK_OUTPUT, &to);
    ck_assert_int_eq(conn_send(fx.c, &env), 0);
    for (int i = 0; i < 100000 && conn_output_pending(fx.c) > 0; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(fx.base, &tv);
        event_base_loop(fx.base, EVLOOP_ONCE);
    }
    ck_assert_uint_eq(conn_output_pending(fx.c), 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    fx_close(&fx);
    free(data);
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
    suite_add_tcase(s, tr);

    TCase *tc = tcase_create("conn");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_conn_split_frame);
    tcase_add_test(tc, test_conn_coalesced_frames);
    tcase_add_test(tc, test_conn_over_limit);
    tcase_add_test(tc, test_conn_garbage);
    tcase_add_test(tc, test_conn_peer_eof);
    tcase_add_test(tc, test_conn_close_in_callback);
    tcase_add_test(tc, test_conn_handshake_limit);
    tcase_add_test(tc, test_conn_pause_buffered);
    tcase_add_test(tc, test_conn_output_limit);
    tcase_add_test(tc, test_conn_send);
    tcase_add_test(tc, test_conn_send_large);
    tcase_add_test(tc, test_fetch_data_fast_path);
    suite_add_tcase(s, tc);
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
