/*
 * test_conn.c - unit tests of common/conn.c: framed connections over a
 * real AF_UNIX socketpair (or a refused TCP connect on loopback) driven
 * by a private event_base, the test playing the peer with plain
 * blocking I/O: frames split and coalesced, limits, garbage, the peer
 * going away, closing inside a callback, pausing, output limits, large
 * sends that fill the socket.
 */
#include <check.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn.h"
#include "frames_by_hand.h"

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
    Kiln__Envelope henv;
    Kiln__Hello hello;
    hello_env(&henv, &hello, "sent hello");
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

/* A connect that fails is reported from the loop, never before
 * conn_connect returned, and names why. */
START_TEST(test_conn_connect_refused)
{
    /* a port nobody listens on: bind one, note it, close it */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    close(s);
    char where[64], err[128];
    snprintf(where, sizeof where, "127.0.0.1:%u", ntohs(sa.sin_port));
    struct event_base *base = event_base_new();
    conn_state st;
    memset(&st, 0, sizeof st);
    conn *c = conn_connect(base, where, 0, on_msg, on_close, &st, err, sizeof err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(st.nclosed, 0);
    Kiln__Envelope env;
    Kiln__Hello h;
    hello_env(&env, &h, "never sent");
    ck_assert_int_eq(conn_send(c, &env), 0); /* queued until connected */
    for (int i = 0; i < 200 && st.nclosed == 0; i++)
        event_base_loop(base, EVLOOP_ONCE);
    ck_assert_int_eq(st.nclosed, 1);
    ck_assert_msg(strstr(st.reason, "connect failed") && strstr(st.reason, "refused"), "reason: %s", st.reason);
    event_base_loop(base, EVLOOP_NONBLOCK); /* frees it */
    event_base_free(base);
}
END_TEST

/* Frames queued in one pass of the loop leave in one write, after the
 * pass: the peer sees nothing before the loop runs, then all of them. */
START_TEST(test_conn_one_write_per_pass)
{
    fixture fx;
    fx_open(&fx, 0);
    conn_set_authenticated(fx.c);
    Kiln__Envelope env;
    Kiln__Hello h;
    hello_env(&env, &h, "batched");
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(conn_send(fx.c, &env), 0);
    size_t queued = conn_output_pending(fx.c);
    ck_assert_uint_gt(queued, 0);
    char b[4096];
    int fl = fcntl(fx.fds[1], F_GETFL);
    fcntl(fx.fds[1], F_SETFL, fl | O_NONBLOCK);
    ck_assert_int_eq(read(fx.fds[1], b, sizeof b), -1); /* nothing written yet */
    fx_spin(&fx, 1);
    ck_assert_uint_eq(conn_output_pending(fx.c), 0);
    ssize_t n = read(fx.fds[1], b, sizeof b);
    fcntl(fx.fds[1], F_SETFL, fl);
    ck_assert_int_eq(n, (ssize_t)queued);
    msg_reader r;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    write_bytes(p[1], b, (size_t)n);
    close(p[1]);
    msg_reader_init(&r, p[0], FRAME_MAX_DEFAULT);
    for (int i = 0; i < 10; i++) {
        Kiln__Envelope *m = NULL;
        char err[128];
        ck_assert_int_eq(msg_reader_next(&r, &m, err, sizeof err), 1);
        assert_hello(m, "batched");
        msg_free(m);
    }
    msg_reader_release(&r);
    close(p[0]);
    fx_close(&fx);
}
END_TEST

/* A file segment whose file shrank after it was queued: sendfile writes
 * nothing, and the connection ends with a reason instead of waking up
 * for ever. */
START_TEST(test_conn_send_file_shrank)
{
    fixture fx;
    fx_open(&fx, 0);
    char path[] = "/tmp/kiln-test-conn-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    static uint8_t data[65536];
    write_bytes(fd, data, sizeof data);
    struct evbuffer_file_segment *seg = evbuffer_file_segment_new(fd, 0, -1, EVBUF_FS_DISABLE_LOCKING);
    ck_assert_ptr_nonnull(seg);
    ck_assert_int_eq(ftruncate(fd, 0), 0);
    uint8_t head[MSG_FETCH_HEAD_MAX];
    size_t hn = msg_fetch_data_head(head, 1, 1, sizeof data);
    ck_assert_int_eq(conn_send_file(fx.c, head, hn, seg, fd, 0, sizeof data), 0);
    evbuffer_file_segment_free(seg); /* the output holds its own reference */
    for (int i = 0; i < 50 && fx.st.nclosed == 0; i++)
        fx_spin(&fx, 1);
    ck_assert_int_eq(fx.st.nclosed, 1);
    ck_assert_msg(strstr(fx.st.reason, "no byte of the output could be written"), "reason: %s", fx.st.reason);
    fx_spin(&fx, 2);
    close(fd);
    evutil_closesocket(fx.fds[1]);
    event_base_free(fx.base);
}
END_TEST

/* The callback keeps every other message (conn_steal_msg): small ones
 * (from the arena: a copy), large ones (their own memory), and with
 * conn_keep_messages; the kept ones still read right after later
 * messages reused the arena, and freeing them is the only free (ASan). */
static Kiln__Envelope *kept[8];
static int nkept;

static void steal_every_other(conn *c, Kiln__Envelope *m, void *arg)
{
    conn_state *s = arg;
    if (s->nmsgs++ % 2 == 0) {
        Kiln__Envelope *k = conn_steal_msg(c);
        ck_assert_ptr_nonnull(k);
        ck_assert_ptr_null(conn_steal_msg(c));
        kept[nkept++] = k;
    }
}

START_TEST(test_conn_steal_msg)
{
    for (int keep = 0; keep < 2; keep++) {
        fixture fx;
        fx_open_cb(&fx, 0, steal_every_other);
        conn_set_authenticated(fx.c); /* frames over the handshake's 4 KiB */
        if (keep) conn_keep_messages(fx.c);
        nkept = 0;
        uint8_t big[6000];
        memset(big, 'b', sizeof big);
        for (int i = 0; i < 4; i++) {
            size_t n;
            uint8_t *f;
            if (i == 2) { /* over 4 KiB */
                Kiln__Envelope env = KILN__ENVELOPE__INIT;
                Kiln__BlobChunk bc = KILN__BLOB_CHUNK__INIT;
                bc.hash = (char *)HASH_A;
                bc.size = sizeof big;
                bc.data.data = big;
                bc.data.len = sizeof big;
                bc.last = 1;
                MSG_BODY(env, blob_chunk, BLOB_CHUNK, &bc);
                f = frame_of(&env, &n);
            } else {
                f = hello_frame(i == 0 ? "small one" : "small other", &n);
            }
            write_bytes(fx.fds[1], f, n);
            free(f);
            fx_spin(&fx, 3);
        }
        ck_assert_int_eq(fx.st.nmsgs, 4);
        ck_assert_int_eq(nkept, 2);
        ck_assert_str_eq(kept[0]->hello->name, "small one");
        ck_assert_uint_eq(kept[1]->blob_chunk->data.len, sizeof big);
        ck_assert(memcmp(kept[1]->blob_chunk->data.data, big, sizeof big) == 0);
        for (int i = 0; i < nkept; i++)
            msg_free(kept[i]);
        fx_close(&fx);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conn");
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
    tcase_add_test(tc, test_conn_connect_refused);
    tcase_add_test(tc, test_conn_one_write_per_pass);
    tcase_add_test(tc, test_conn_send_file_shrank);
    tcase_add_test(tc, test_conn_steal_msg);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
