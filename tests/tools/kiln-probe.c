/*
 * kiln-probe.c - a hostile peer for the integration tests (auth.sh,
 * bounds.sh): it
 * connects to a driver's RPC port or a worker's data port and breaks the
 * protocol in one chosen way, then checks that the daemon closed that
 * connection (an Error message before the end is fine).
 *
 *   kiln-probe HOST:PORT SECRET-FILE|- CASE [N]
 *
 * Cases: replay (a valid handshake, then the same hello and proof on a new
 * connection), early-submit (a job_submit instead of the proof, or before
 * the hello without a secret), client-register (register_worker on a client
 * connection), second-hello, bad-slots (register_worker with 0 slots),
 * bad-name (kill_app of "../x"), fetch-traversal (a fetch_request for app
 * "../x" on a data port), silent (connect and say nothing), flood N (open N
 * connections at once, then shake hands on each: prints how many were
 * accepted and refused), refused-peer (a data-port handshake that must be
 * refused: run it with a wrong secret or none), worker-named NAME (register
 * as a worker called NAME, print "registered", then hold the connection
 * until the daemon closes it or the probe is killed), fake-worker (a worker's
 * handshake and a well-formed register_worker, as a second local user
 * would try: refused when the handshake fails or the driver closes
 * without a worker_registered).
 *
 * Bounds (bounds.sh): big-frames N PID [peer|auth] (N connections, every
 * other one after a hello, each declaring a frame near net.max_frame and
 * sending most of it without authenticating: each must be closed before
 * its body went; with auth, after a full handshake, none may be; prints
 * the VmRSS of process PID, from /proc/PID/status, while all are open),
 * pipeline N PID (an authenticated client pipelines N InfoRequests and
 * reads no reply: the daemon must stop reading or close it before it took
 * them all; prints its VmRSS then), fake-server ROLE K (listens on
 * HOST:PORT, port 0 for any, prints "port P", and answers K hellos with a
 * HelloAck naming ROLE, its proof right for that role: each client must
 * refuse it instead of sending its Auth).
 *
 * Exit status: 0 when the daemon refused as it should (flood: when at
 * least one was refused and one accepted; fake-server: when every client
 * refused), 1 when it did not, 2 on a usage or set-up error. No timing is
 * asserted: waits are bounded only so that a broken daemon fails the test
 * instead of hanging it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "auth.h"
#include "frame.h"
#include "handshake.h"
#include "msg.h"
#include "net.h"
#include "util.h"

#define WAIT_S   120         /* bound on any read: a daemon that never answers fails */
#define BIG_SEND (60u << 20) /* big-frames: bytes of the body each connection tries to send */
#define STALL_MS 3000        /* pipeline: a daemon that takes nothing for this long stopped reading */

typedef struct probe {
    const char *addr;
    auth_secret secret;
} probe;

static int dial(const probe *p, msg_reader *rd)
{
    char err[256];
    int fd = net_connect_blocking(p->addr, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "kiln-probe: %s\n", err);
        exit(2);
    }
    struct timeval tv = {WAIT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    msg_reader_init(rd, fd, FRAME_MAX_DEFAULT);
    return fd;
}

static void send_or_die(int fd, const Kiln__Envelope *e)
{
    if (msg_write_fd(fd, e) < 0 && errno != EPIPE && errno != ECONNRESET) {
        fprintf(stderr, "kiln-probe: send: %s\n", strerror(errno));
        exit(2);
    }
}

/* 0 when the daemon ends the connection (after at most Error messages), 1
 * when it answers with anything else or never closes. */
static int expect_closed(int fd, msg_reader *rd, const char *what)
{
    for (;;) {
        Kiln__Envelope *m = NULL;
        char err[256];
        int st = msg_reader_next(rd, &m, err, sizeof err);
        if (st == 0 || (st < 0 && !strstr(err, "Resource temporarily unavailable"))) {
            printf("%s: closed by the daemon\n", what);
            msg_reader_release(rd);
            close(fd);
            return 0;
        }
        if (st < 0) {
            printf("%s: still open after %d s\n", what, WAIT_S);
            return 1;
        }
        int is_error = m->body_case == KILN__ENVELOPE__BODY_ERROR;
        if (is_error) printf("%s: error from the daemon: %s\n", what, m->error->message);
        if (!is_error) printf("%s: the daemon answered %s\n", what, msg_name(m));
        msg_free(m);
        if (!is_error) return 1;
    }
}

/* Sends one frame sealed with the connection's keys (plain without a secret). */
static void send_sealed(int fd, seal *s, const Kiln__Envelope *e)
{
    if (msg_write_sealed(fd, &s->tx, e) < 0 && errno != EPIPE && errno != ECONNRESET) {
        fprintf(stderr, "kiln-probe: send: %s\n", strerror(errno));
        exit(2);
    }
}

/* A full handshake in role, its keys in s; exits 2 when it fails. */
static int connect_greeted(const probe *p, Kiln__Role role, msg_reader *rd, seal *s)
{
    int fd = dial(p, rd);
    char err[512];
    if (msg_handshake_fd(fd, rd, role, "kiln-probe", &p->secret, s, err, sizeof err) < 0) {
        fprintf(stderr, "kiln-probe: handshake: %s\n", err);
        exit(2);
    }
    return fd;
}

static Kiln__Envelope *read_one(msg_reader *rd)
{
    Kiln__Envelope *m = NULL;
    char err[256];
    if (msg_reader_next(rd, &m, err, sizeof err) <= 0) {
        fprintf(stderr, "kiln-probe: no answer: %s\n", err);
        exit(2);
    }
    return m;
}

static int case_replay(const probe *p)
{
    if (!auth_enabled(&p->secret)) {
        fprintf(stderr, "kiln-probe: replay needs a secret\n");
        return 2;
    }
    msg_reader rd;
    int fd = dial(p, &rd);
    handshake h;
    const Kiln__Envelope *out;
    char err[512];
    if (hs_client_start(&h, &p->secret, KILN__ROLE__ROLE_CLIENT, "kiln-probe", &out, err, sizeof err) < 0) return 2;
    size_t hello_len, auth_len;
    uint8_t *hello = msg_pack_frame(out, &hello_len);
    send_or_die(fd, out);
    Kiln__Envelope *ack = read_one(&rd);
    int st = hs_client_msg(&h, ack, &out, err, sizeof err);
    msg_free(ack);
    if (st != 1) {
        fprintf(stderr, "kiln-probe: the first handshake failed: %s\n", err);
        return 2;
    }
    uint8_t *auth = msg_pack_frame(out, &auth_len);
    send_or_die(fd, out);
    msg_reader_release(&rd);
    close(fd);
    /* the same bytes again: the server's nonce is new, so the proof is stale */
    fd = dial(p, &rd);
    if (write_all(fd, hello, hello_len) < 0) return 2;
    ack = read_one(&rd);
    if (ack->body_case != KILN__ENVELOPE__BODY_HELLO_ACK) return 2;
    msg_free(ack);
    write_all(fd, auth, auth_len);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__InfoRequest ir = KILN__INFO_REQUEST__INIT;
    ir.what = "status";
    MSG_BODY(env, info_request, INFO_REQUEST, &ir);
    send_or_die(fd, &env);
    free(hello);
    free(auth);
    return expect_closed(fd, &rd, "replayed handshake");
}

/* A JobSubmit with one tiny range node: it would run if accepted. */
static void send_job(int fd)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__JobSubmit js = KILN__JOB_SUBMIT__INIT;
    Kiln__Node node = KILN__NODE__INIT, *np = &node;
    Kiln__Action act = KILN__ACTION__INIT;
    node.id = 1;
    node.kind = KILN__NODE_KIND__NODE_RANGE;
    node.partitions = 1;
    node.range_end = 10;
    act.kind = KILN__ACTION_KIND__ACTION_COUNT;
    js.job_id = 1;
    js.nodes = &np;
    js.n_nodes = 1;
    js.target = 1;
    js.action = &act;
    MSG_BODY(env, job_submit, JOB_SUBMIT, &js);
    send_or_die(fd, &env);
}

static int case_early_submit(const probe *p)
{
    msg_reader rd;
    int fd = dial(p, &rd);
    handshake h;
    const Kiln__Envelope *out;
    char err[512];
    if (auth_enabled(&p->secret)) { /* the hello, then a job instead of the proof */
        if (hs_client_start(&h, &p->secret, KILN__ROLE__ROLE_CLIENT, "kiln-probe", &out, err, sizeof err) < 0) return 2;
        send_or_die(fd, out);
        Kiln__Envelope *ack = read_one(&rd);
        msg_free(ack);
    }
    send_job(fd);
    return expect_closed(fd, &rd, "job_submit before authenticating");
}

static int case_after_handshake(const probe *p, const char *what)
{
    msg_reader rd;
    int worker = !strcmp(what, "bad-slots");
    seal sl;
    int fd = connect_greeted(p, worker ? KILN__ROLE__ROLE_WORKER : KILN__ROLE__ROLE_CLIENT, &rd, &sl);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__RegisterWorker rw = KILN__REGISTER_WORKER__INIT;
    Kiln__Hello hello = KILN__HELLO__INIT;
    Kiln__KillApp ka = KILN__KILL_APP__INIT;
    rw.host = "127.0.0.1";
    rw.name = "probe";
    rw.slots = worker ? 0 : 1;
    rw.data_port = 1;
    MSG_BODY(env, register_worker, REGISTER_WORKER, &rw);
    if (!strcmp(what, "second-hello")) {
        hello.version = PROTOCOL_VERSION;
        hello.role = KILN__ROLE__ROLE_CLIENT;
        hello.name = "again";
        MSG_BODY(env, hello, HELLO, &hello);
    } else if (!strcmp(what, "bad-name")) {
        ka.app_id = "../x";
        MSG_BODY(env, kill_app, KILL_APP, &ka);
    }
    send_sealed(fd, &sl, &env);
    int rc = expect_closed(fd, &rd, what);
    seal_release(&sl);
    return rc;
}

/* Registers a worker whose name the test chooses (markup, say) and stays. */
static int case_worker_named(const probe *p, const char *name)
{
    msg_reader rd;
    seal sl;
    int fd = connect_greeted(p, KILN__ROLE__ROLE_WORKER, &rd, &sl);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__RegisterWorker rw = KILN__REGISTER_WORKER__INIT;
    rw.host = "127.0.0.1";
    rw.name = (char *)name;
    rw.slots = 1;
    rw.data_port = 1;
    MSG_BODY(env, register_worker, REGISTER_WORKER, &rw);
    send_sealed(fd, &sl, &env);
    Kiln__Envelope *m = read_one(&rd);
    int ok = m->body_case == KILN__ENVELOPE__BODY_WORKER_REGISTERED;
    printf("%s\n", ok ? "registered" : msg_name(m));
    fflush(stdout);
    msg_free(m);
    if (!ok) {
        seal_release(&sl);
        return 1;
    }
    char err[256];
    while (msg_reader_next(&rd, &m, err, sizeof err) > 0) /* until closed (or killed) */
        msg_free(m);
    msg_reader_release(&rd);
    seal_release(&sl);
    close(fd);
    return 0;
}

static int case_fetch_traversal(const probe *p)
{
    msg_reader rd;
    seal sl;
    int fd = connect_greeted(p, KILN__ROLE__ROLE_PEER, &rd, &sl);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__FetchRequest fr = KILN__FETCH_REQUEST__INIT;
    fr.app_id = "../x";
    MSG_BODY(env, fetch_request, FETCH_REQUEST, &fr);
    send_sealed(fd, &sl, &env);
    int rc = expect_closed(fd, &rd, "fetch_request for ../x");
    seal_release(&sl);
    return rc;
}

static int case_fake_worker(const probe *p)
{
    msg_reader rd;
    seal sl;
    int fd = dial(p, &rd);
    char err[512];
    if (msg_handshake_fd(fd, &rd, KILN__ROLE__ROLE_WORKER, "kiln-probe", &p->secret, &sl, err, sizeof err) < 0) {
        printf("fake worker: handshake refused: %s\n", err);
        msg_reader_release(&rd);
        close(fd);
        return 0;
    }
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__RegisterWorker rw = KILN__REGISTER_WORKER__INIT;
    rw.host = "127.0.0.1";
    rw.name = "fake-worker";
    rw.slots = 4;
    rw.data_port = 1;
    MSG_BODY(env, register_worker, REGISTER_WORKER, &rw);
    send_sealed(fd, &sl, &env);
    int rc = expect_closed(fd, &rd, "fake worker registration");
    seal_release(&sl);
    return rc;
}

static int case_flood(const probe *p, int n)
{
    int *fds = xcalloc((size_t)n, sizeof *fds);
    msg_reader *rds = xcalloc((size_t)n, sizeof *rds);
    for (int i = 0; i < n; i++)
        fds[i] = dial(p, &rds[i]);
    int accepted = 0, refused = 0;
    for (int i = 0; i < n; i++) {
        char err[512];
        seal sl;
        if (msg_handshake_fd(fds[i], &rds[i], KILN__ROLE__ROLE_CLIENT, "kiln-probe", &p->secret, &sl, err,
                             sizeof err) == 0)
            accepted++;
        else
            refused++;
        seal_release(&sl);
        rds[i].rx = NULL;
    }
    for (int i = 0; i < n; i++) {
        msg_reader_release(&rds[i]);
        close(fds[i]);
    }
    free(fds);
    free(rds);
    printf("flood: accepted %d refused %d\n", accepted, refused);
    return accepted > 0 && refused > 0 ? 0 : 1;
}

/* The daemon's resident set in KiB (VmRSS of /proc/PID/status), -1 if unknown. */
static long rss_kb(const char *pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%s/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

/* Sends a hello and reads the daemon's answer (a HelloAck or an Error). */
static void say_hello(const probe *p, int fd, msg_reader *rd, Kiln__Role role)
{
    handshake h;
    const Kiln__Envelope *out;
    char err[512];
    if (hs_client_start(&h, &p->secret, role, "kiln-probe", &out, err, sizeof err) < 0) exit(2);
    send_or_die(fd, out);
    msg_free(read_one(rd));
}

/* N unauthenticated connections, each declaring a frame just under
 * FRAME_MAX_DEFAULT and sending BIG_SEND bytes of it; odd ones say hello
 * first (the frame comes instead of the proof). Each must be closed by the
 * daemon before its body went. All stay open until VmRSS was read. */
static int case_big_frames(const probe *p, int n, const char *pid, Kiln__Role role, int authed)
{
    int *fds = xcalloc((size_t)n, sizeof *fds);
    msg_reader *rds = xcalloc((size_t)n, sizeof *rds);
    seal *seals = xcalloc((size_t)n, sizeof *seals);
    uint8_t *body = xcalloc(1, 1u << 20);
    int early = 0;
    for (int i = 0; i < n; i++) {
        if (authed)
            fds[i] = connect_greeted(p, role, &rds[i], &seals[i]);
        else
            fds[i] = dial(p, &rds[i]);
        if (!authed && i % 2) say_hello(p, fds[i], &rds[i], role);
        uint8_t hdr[FRAME_HEADER];
        frame_put_header(hdr, FRAME_MAX_DEFAULT - 16);
        size_t sent = 0;
        if (write_all(fds[i], hdr, sizeof hdr) == 0)
            while (sent < BIG_SEND && write_all(fds[i], body, 1u << 20) == 0)
                sent += 1u << 20;
        if (sent < BIG_SEND) early++; /* the daemon closed it: the write failed */
    }
    long kb = rss_kb(pid);
    printf("big-frames: %d of %d closed before their body went; daemon VmRSS %ld kB with all open\n", early, n, kb);
    for (int i = 0; i < n; i++) {
        msg_reader_release(&rds[i]);
        seal_release(&seals[i]);
        close(fds[i]);
    }
    free(body);
    free(fds);
    free(rds);
    free(seals);
    return early == (authed ? 0 : n) ? 0 : 1;
}

/* An authenticated client that pipelines n InfoRequests and reads nothing. */
static int case_pipeline(const probe *p, long n, const char *pid)
{
    msg_reader rd;
    seal sl;
    int fd = connect_greeted(p, KILN__ROLE__ROLE_CLIENT, &rd, &sl);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__InfoRequest ir = KILN__INFO_REQUEST__INIT;
    ir.what = "status";
    MSG_BODY(env, info_request, INFO_REQUEST, &ir);
    /* every request sealed in its own place of the stream: a buffer of
     * them, packed again (with the next sequence numbers) once sent */
    size_t flen = msg_frame_size(&sl.tx, &env);
    size_t per = (64u << 10) / flen, blen = per * flen;
    uint8_t *buf = xcalloc(1, blen);
    for (size_t i = 0; i < per; i++)
        msg_pack_frame_into(buf + i * flen, &sl.tx, &env);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    long sent = 0; /* requests */
    size_t off = 0;
    const char *how = "took every request";
    while (sent < n) {
        ssize_t w = send(fd, buf + off, blen - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            if (poll(&pf, 1, STALL_MS) == 0) {
                how = "stopped reading";
                break;
            }
            continue;
        }
        if (w < 0) {
            how = "closed the connection";
            break;
        }
        off += (size_t)w;
        sent += (long)(off / flen) - (long)((off - (size_t)w) / flen);
        if (off == blen) {
            off = 0;
            for (size_t i = 0; i < per; i++)
                msg_pack_frame_into(buf + i * flen, &sl.tx, &env);
        }
    }
    long kb = rss_kb(pid);
    printf("pipeline: the daemon %s after about %ld of %ld requests; daemon VmRSS %ld kB\n", how, sent, n, kb);
    msg_reader_release(&rd);
    seal_release(&sl);
    close(fd);
    free(buf);
    return sent < n ? 0 : 1;
}

static int role_by_name(const char *s)
{
    if (!strcmp(s, "client")) return KILN__ROLE__ROLE_CLIENT;
    if (!strcmp(s, "worker")) return KILN__ROLE__ROLE_WORKER;
    if (!strcmp(s, "driver")) return KILN__ROLE__ROLE_DRIVER;
    if (!strcmp(s, "peer")) return KILN__ROLE__ROLE_PEER;
    return -1;
}

/* Answers one client's hello as a server of the wrong role, with the proof
 * right for that role. 0 when the client refused (an Error or the end, no
 * Auth), 1 when it went on. */
static int fake_serve(const probe *p, int fd, Kiln__Role role)
{
    msg_reader rd;
    msg_reader_init(&rd, fd, FRAME_MAX_DEFAULT);
    struct timeval tv = {WAIT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    Kiln__Envelope *m = read_one(&rd);
    if (m->body_case != KILN__ENVELOPE__BODY_HELLO) {
        fprintf(stderr, "kiln-probe: expected a hello, got %s\n", msg_name(m));
        exit(2);
    }
    uint8_t nonce_s[AUTH_NONCE_LEN], mac[AUTH_MAC_LEN];
    char err[256];
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__HelloAck ack = KILN__HELLO_ACK__INIT;
    ack.version = PROTOCOL_VERSION;
    ack.role = role;
    if (auth_enabled(&p->secret) && m->hello->nonce.len == AUTH_NONCE_LEN) {
        if (auth_nonce(nonce_s, err, sizeof err) < 0) exit(2);
        auth_mac(&p->secret, AUTH_SERVER, m->hello->nonce.data, nonce_s, (uint32_t)m->hello->role, (uint32_t)role, mac);
        ack.nonce.data = nonce_s;
        ack.nonce.len = AUTH_NONCE_LEN;
        ack.mac.data = mac;
        ack.mac.len = AUTH_MAC_LEN;
    }
    msg_free(m);
    MSG_BODY(env, hello_ack, HELLO_ACK, &ack);
    send_or_die(fd, &env);
    int rc = 0;
    m = NULL;
    int st = msg_reader_next(&rd, &m, err, sizeof err);
    if (st > 0 && m->body_case == KILN__ENVELOPE__BODY_ERROR)
        printf("fake-server: refused: %s\n", m->error->message);
    else if (st > 0)
        printf("fake-server: the client went on with %s\n", msg_name(m)), rc = 1;
    else
        printf("fake-server: the client hung up\n");
    if (m) msg_free(m);
    msg_reader_release(&rd);
    close(fd);
    return rc;
}

static int case_fake_server(const probe *p, const char *role_s, int k)
{
    int role = role_by_name(role_s);
    char err[256];
    int port, lfd = net_listen(p->addr, &port, err, sizeof err);
    if (role < 0 || lfd < 0) {
        fprintf(stderr, "kiln-probe: fake-server: %s\n", role < 0 ? "unknown role" : err);
        return 2;
    }
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) & ~O_NONBLOCK);
    printf("port %d\n", port);
    fflush(stdout);
    int bad = 0;
    for (int i = 0; i < k; i++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) return 2;
        bad += fake_serve(p, fd, (Kiln__Role)role);
    }
    close(lfd);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: kiln-probe HOST:PORT SECRET-FILE|- CASE [N]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    probe p = {.addr = argv[1]};
    char err[512];
    if (strcmp(argv[2], "-") && auth_secret_load(&p.secret, argv[2], err, sizeof err) < 0) {
        fprintf(stderr, "kiln-probe: %s\n", err);
        return 2;
    }
    const char *c = argv[3];
    int rc = 2;
    msg_reader rd;
    if (!strcmp(c, "replay"))
        rc = case_replay(&p);
    else if (!strcmp(c, "early-submit"))
        rc = case_early_submit(&p);
    else if (!strcmp(c, "client-register") || !strcmp(c, "second-hello") || !strcmp(c, "bad-slots") ||
             !strcmp(c, "bad-name"))
        rc = case_after_handshake(&p, c);
    else if (!strcmp(c, "fetch-traversal"))
        rc = case_fetch_traversal(&p);
    else if (!strcmp(c, "fake-worker"))
        rc = case_fake_worker(&p);
    else if (!strcmp(c, "refused-peer")) {
        int fd = dial(&p, &rd);
        seal sl;
        rc = msg_handshake_fd(fd, &rd, KILN__ROLE__ROLE_PEER, "kiln-probe", &p.secret, &sl, err, sizeof err) == 0;
        printf("data-port handshake: %s\n", rc ? "accepted" : err);
        msg_reader_release(&rd);
        seal_release(&sl);
        close(fd);
    } else if (!strcmp(c, "silent"))
        rc = expect_closed(dial(&p, &rd), &rd, "silent connection");
    else if (!strcmp(c, "worker-named") && argc > 4)
        rc = case_worker_named(&p, argv[4]);
    else if (!strcmp(c, "flood") && argc > 4)
        rc = case_flood(&p, atoi(argv[4]));
    else if (!strcmp(c, "big-frames") && argc > 5)
        rc = case_big_frames(&p, atoi(argv[4]), argv[5],
                             argc > 6 && !strcmp(argv[6], "peer") ? KILN__ROLE__ROLE_PEER : KILN__ROLE__ROLE_CLIENT,
                             argc > 6 && !strcmp(argv[6], "auth"));
    else if (!strcmp(c, "pipeline") && argc > 5)
        rc = case_pipeline(&p, atol(argv[4]), argv[5]);
    else if (!strcmp(c, "fake-server") && argc > 5)
        rc = case_fake_server(&p, argv[4], atoi(argv[5]));
    else
        fprintf(stderr, "kiln-probe: unknown case %s\n", c);
    auth_secret_release(&p.secret);
    return rc;
}
