/*
 * kiln-relay.c - a man in the middle for the integration tests
 * (tamper.sh): it relays kiln connections between a client side (a worker
 * dialling the driver, an executor dialling a data port) and the real
 * server, frame by frame, and breaks one frame once.
 *
 *   kiln-relay LISTEN TARGET DIR ACTION MSG
 *
 * LISTEN is HOST:PORT (port 0: any; "port P" is printed on stdout once
 * listening). TARGET is HOST:PORT, or @FILE:NAME for port NAME of a
 * daemon's ports file (read at each new connection, host 127.0.0.1), so a
 * relay can be started before the daemon it fronts. DIR is up (client to
 * server) or down (server to client). ACTION is flip (one byte in the
 * middle of the frame's payload is inverted) or replay (the frame is sent
 * twice). MSG names the message (msg_name: task_done, fetch_data, ...): the
 * first frame of that kind after the handshake, in that direction, on any
 * connection, is the one broken; everything else, and every later
 * connection, is relayed unchanged. Each broken frame is reported on
 * stderr as "relay: flip fetch_data down conn 1".
 *
 * Frames are decoded only to find MSG: after a handshake with a nonce
 * (a secret), payloads end with a 16-byte tag the relay cannot forge and
 * does not check. Runs until killed; exit status 2 on a set-up error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "msg.h"
#include "net.h"
#include "seal.h"
#include "util.h"

#define MAX_PAIRS 64
#define READ_MAX  (1u << 20)
#define OUT_HIGH  (8u << 20) /* stop reading a side while this much waits for the other */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

/* One direction of one pair: bytes read from src, frames not yet whole,
 * and what waits to be written to dst. */
typedef struct half {
    int src, dst;
    buf in, out;
    int up; /* client to server */
} half;

typedef struct pair {
    int used, id;
    int sealed; /* the hello carried a nonce */
    half h[2];  /* [0] up, [1] down */
} pair;

static const char *g_target;
static int g_up;
static int g_replay;
static const char *g_msg;
static int g_done; /* the frame was broken */

static void buf_add(buf *b, const uint8_t *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = b->len + n > 2 * b->cap ? b->len + n : 2 * b->cap;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_drop(buf *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

/* The target's address, from the argument or a ports file. */
static int target_addr(char *out, size_t n)
{
    if (g_target[0] != '@') {
        snprintf(out, n, "%s", g_target);
        return 0;
    }
    char file[4096];
    snprintf(file, sizeof file, "%s", g_target + 1);
    char *colon = strrchr(file, ':');
    if (!colon) return -1;
    *colon = 0;
    FILE *f = fopen(file, "r");
    if (!f) return -1;
    char name[64];
    int port, found = -1;
    while (fscanf(f, "%63s %d", name, &port) == 2)
        if (!strcmp(name, colon + 1)) found = port;
    fclose(f);
    if (found <= 0) return -1;
    snprintf(out, n, "127.0.0.1:%d", found);
    return 0;
}

/* The kind of a frame's payload (tag or not), or "" when it decodes as
 * neither. */
static const char *frame_kind(const pair *pr, const uint8_t *payload, size_t len, int *hello_nonce)
{
    static char name[64];
    char err[256];
    Kiln__Envelope *m = NULL;
    if (pr->sealed && len >= SEAL_TAG_LEN) m = msg_decode(payload, len - SEAL_TAG_LEN, err, sizeof err);
    if (!m) m = msg_decode(payload, len, err, sizeof err);
    if (!m) return "";
    snprintf(name, sizeof name, "%s", msg_name(m));
    if (m->body_case == KILN__ENVELOPE__BODY_HELLO) *hello_nonce = m->hello->nonce.len > 0;
    msg_free(m);
    return name;
}

/* Moves the whole frames of h->in to h->out, breaking the chosen one. */
static void relay_frames(pair *pr, half *h)
{
    for (;;) {
        if (h->in.len < FRAME_HEADER) return;
        size_t len = frame_get_header(h->in.p);
        if (h->in.len < FRAME_HEADER + len) return;
        uint8_t *payload = h->in.p + FRAME_HEADER;
        int nonce = 0;
        const char *kind = frame_kind(pr, payload, len, &nonce);
        if (!strcmp(kind, "hello")) pr->sealed = nonce;
        int hs = !strcmp(kind, "hello") || !strcmp(kind, "hello_ack") || !strcmp(kind, "auth");
        int hit = !g_done && !hs && h->up == g_up && !strcmp(kind, g_msg) && len > 0;
        if (hit && !g_replay) payload[len / 2] ^= 0xff;
        buf_add(&h->out, h->in.p, FRAME_HEADER + len);
        if (hit && g_replay) buf_add(&h->out, h->in.p, FRAME_HEADER + len);
        if (hit) {
            g_done = 1;
            fprintf(stderr, "relay: %s %s %s conn %d\n", g_replay ? "replay" : "flip", kind, h->up ? "up" : "down",
                    pr->id);
        }
        buf_drop(&h->in, FRAME_HEADER + len);
    }
}

static void pair_close(pair *pr)
{
    close(pr->h[0].src);
    close(pr->h[0].dst);
    for (int i = 0; i < 2; i++) {
        free(pr->h[i].in.p);
        free(pr->h[i].out.p);
    }
    memset(pr, 0, sizeof *pr);
}

/* Reads what src has (0), or -1 at its end. */
static int half_read(pair *pr, half *h)
{
    uint8_t tmp[64 * 1024];
    ssize_t n = read(h->src, tmp, sizeof tmp);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
    if (n <= 0) return -1;
    buf_add(&h->in, tmp, (size_t)n);
    relay_frames(pr, h);
    return 0;
}

/* Writes what dst takes (0), or -1 when it is gone. */
static int half_write(half *h)
{
    while (h->out.len > 0) {
        ssize_t n = send(h->dst, h->out.p, h->out.len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 0;
        if (n < 0) return -1;
        buf_drop(&h->out, (size_t)n);
    }
    return 0;
}

static void pair_open(pair *prs, int cfd, int *next_id)
{
    char addr[4200], err[256];
    int sfd = -1;
    if (target_addr(addr, sizeof addr) == 0) sfd = net_connect_blocking(addr, err, sizeof err);
    if (sfd < 0) {
        close(cfd);
        return;
    }
    for (int i = 0; i < MAX_PAIRS; i++) {
        if (prs[i].used) continue;
        pair *pr = &prs[i];
        pr->used = 1;
        pr->id = ++*next_id;
        pr->h[0] = (half){.src = cfd, .dst = sfd, .up = 1};
        pr->h[1] = (half){.src = sfd, .dst = cfd, .up = 0};
        fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK);
        fcntl(sfd, F_SETFL, fcntl(sfd, F_GETFL) | O_NONBLOCK);
        return;
    }
    close(cfd);
    close(sfd);
}

int main(int argc, char **argv)
{
    if (argc != 6 || (strcmp(argv[3], "up") && strcmp(argv[3], "down")) ||
        (strcmp(argv[4], "flip") && strcmp(argv[4], "replay"))) {
        fprintf(stderr, "usage: kiln-relay LISTEN TARGET up|down flip|replay MSG\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g_target = argv[2];
    g_up = !strcmp(argv[3], "up");
    g_replay = !strcmp(argv[4], "replay");
    g_msg = argv[5];
    char err[256];
    int port, lfd = net_listen(argv[1], &port, err, sizeof err);
    if (lfd < 0) {
        fprintf(stderr, "kiln-relay: %s\n", err);
        return 2;
    }
    printf("port %d\n", port);
    fflush(stdout);
    static pair prs[MAX_PAIRS];
    int next_id = 0;
    for (;;) {
        struct pollfd pf[1 + 2 * MAX_PAIRS];
        half *who[1 + 2 * MAX_PAIRS];
        int n = 0;
        pf[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (int i = 0; i < MAX_PAIRS; i++) {
            if (!prs[i].used) continue;
            for (int d = 0; d < 2; d++) {
                half *h = &prs[i].h[d], *o = &prs[i].h[1 - d];
                /* h's source: read unless h's output is backed up; write o's output to it */
                short ev = (h->out.len < OUT_HIGH ? POLLIN : 0) | (o->out.len ? POLLOUT : 0);
                pf[n] = (struct pollfd){.fd = h->src, .events = ev};
                who[n++] = h;
            }
        }
        if (poll(pf, (nfds_t)n, -1) < 0 && errno != EINTR) return 2;
        if (pf[0].revents & POLLIN) {
            int cfd = accept(lfd, NULL, NULL);
            if (cfd >= 0) pair_open(prs, cfd, &next_id);
        }
        for (int k = 1; k < n; k++) {
            half *h = who[k];
            pair *pr = NULL;
            for (int i = 0; i < MAX_PAIRS && !pr; i++)
                if (prs[i].used && (h == &prs[i].h[0] || h == &prs[i].h[1])) pr = &prs[i];
            if (!pr) continue; /* closed earlier in this turn */
            half *o = h == &pr->h[0] ? &pr->h[1] : &pr->h[0];
            int bad = 0;
            if (pf[k].revents & POLLOUT) bad = half_write(o) < 0;
            if (!bad && (pf[k].revents & (POLLIN | POLLHUP | POLLERR))) bad = half_read(pr, h) < 0;
            if (!bad) bad = half_write(h) < 0;
            if (bad) {
                /* what was read from the side still there goes out first, best effort */
                half_write(o);
                pair_close(pr);
            }
        }
    }
}
