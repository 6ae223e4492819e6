/*
 * kiln-probe.c - a hostile client for the integration tests (auth.sh): it
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
 * until the daemon closes it or the probe is killed).
 *
 * Exit status: 0 when the daemon refused as it should (flood: when at
 * least one was refused and one accepted), 1 when it did not, 2 on a usage
 * or set-up error. No timing is asserted: waits are bounded only so that a
 * broken daemon fails the test instead of hanging it.
 */
#include <errno.h>
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

#define WAIT_S 120 /* bound on any read: a daemon that never answers fails */

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

/* A full handshake in role; exits 2 when it fails. */
static int connect_greeted(const probe *p, Kiln__Role role, msg_reader *rd)
{
    int fd = dial(p, rd);
    char err[512];
    if (msg_handshake_fd(fd, rd, role, "kiln-probe", &p->secret, err, sizeof err) < 0) {
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
    int fd = connect_greeted(p, worker ? KILN__ROLE__ROLE_WORKER : KILN__ROLE__ROLE_CLIENT, &rd);
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
    send_or_die(fd, &env);
    return expect_closed(fd, &rd, what);
}

/* Registers a worker whose name the test chooses (markup, say) and stays. */
static int case_worker_named(const probe *p, const char *name)
{
    msg_reader rd;
    int fd = connect_greeted(p, KILN__ROLE__ROLE_WORKER, &rd);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__RegisterWorker rw = KILN__REGISTER_WORKER__INIT;
    rw.host = "127.0.0.1";
    rw.name = (char *)name;
    rw.slots = 1;
    rw.data_port = 1;
    MSG_BODY(env, register_worker, REGISTER_WORKER, &rw);
    send_or_die(fd, &env);
    Kiln__Envelope *m = read_one(&rd);
    int ok = m->body_case == KILN__ENVELOPE__BODY_WORKER_REGISTERED;
    printf("%s\n", ok ? "registered" : msg_name(m));
    fflush(stdout);
    msg_free(m);
    if (!ok) return 1;
    char err[256];
    while (msg_reader_next(&rd, &m, err, sizeof err) > 0) /* until closed (or killed) */
        msg_free(m);
    msg_reader_release(&rd);
    close(fd);
    return 0;
}

static int case_fetch_traversal(const probe *p)
{
    msg_reader rd;
    int fd = connect_greeted(p, KILN__ROLE__ROLE_PEER, &rd);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__FetchRequest fr = KILN__FETCH_REQUEST__INIT;
    fr.app_id = "../x";
    MSG_BODY(env, fetch_request, FETCH_REQUEST, &fr);
    send_or_die(fd, &env);
    return expect_closed(fd, &rd, "fetch_request for ../x");
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
        if (msg_handshake_fd(fds[i], &rds[i], KILN__ROLE__ROLE_CLIENT, "kiln-probe", &p->secret, err, sizeof err) == 0)
            accepted++;
        else
            refused++;
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
    else if (!strcmp(c, "refused-peer")) {
        int fd = dial(&p, &rd);
        rc = msg_handshake_fd(fd, &rd, KILN__ROLE__ROLE_PEER, "kiln-probe", &p.secret, err, sizeof err) == 0;
        printf("data-port handshake: %s\n", rc ? "accepted" : err);
        msg_reader_release(&rd);
        close(fd);
    } else if (!strcmp(c, "silent"))
        rc = expect_closed(dial(&p, &rd), &rd, "silent connection");
    else if (!strcmp(c, "worker-named") && argc > 4)
        rc = case_worker_named(&p, argv[4]);
    else if (!strcmp(c, "flood") && argc > 4)
        rc = case_flood(&p, atoi(argv[4]));
    else
        fprintf(stderr, "kiln-probe: unknown case %s\n", c);
    auth_secret_release(&p.secret);
    return rc;
}
