/*
 * shuffle_serve.c - the worker's data port: byte ranges of shuffle files
 * to the executors of other workers (Hello, then FetchRequest -> FetchData
 * pieces).
 *
 * The one idea: nothing is ever held whole. A range goes out as pieces of
 * at most 1 MiB, each a FetchData head followed by the file's bytes
 * through sendfile; queuing stops at ~4 MiB of unsent output and resumes
 * when the connection drains. Requests on one connection are answered in
 * order. It gets an event base, a directory and a logger, and never
 * touches the worker's struct.
 */
#include "shuffle_serve.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "conn.h"
#include "frame.h"
#include "handshake.h"
#include "msg.h"
#include "net.h"
#include "shuffle.h"
#include "util.h"

#define PIECE_MAX     (1u << 20) /* FetchData payload */
#define OUT_HIGH      (4u << 20) /* stop queuing pieces at this much unsent output */
#define OUT_LOW       (1u << 20) /* and resume when it drains to this */
#define FRAME_SLACK   64         /* envelope bytes around a piece */
#define QUEUE_PAUSE   4096       /* queued requests before a connection's reading pauses */
#define QUEUE_RESUME  1024       /* and resumes */
#define REQUEST_MAX   FRAME_HANDSHAKE_MAX /* a FetchRequest: four integers and an app id of <= 128 bytes */

/* ---- serving ---- */

/* One FetchRequest waiting on a connection (copied out of the message). */
typedef struct fetch_req {
    uint32_t id, shuffle, map, part;
    char *app;
    struct fetch_req *next;
} fetch_req;

/* One data-port connection: its queue of requests and the one being sent. */
typedef struct peer {
    shuffle_server *srv;
    conn *c;
    handshake hs; /* done: the hello (and, with a secret, the proof) came */
    int rejected; /* we closed it for breaking the protocol */
    int paused;   /* reading paused: too many requests queued */
    fetch_req *head, *tail;
    size_t queued;
    fetch_req *cur;                    /* being streamed from rg */
    shuffle_range rg;                  /* open while cur is */
    struct evbuffer_file_segment *seg; /* rg's data file, for sendfile */
    int seg_fd;                        /* its fd (seg closes it), read to seal the pieces */
    struct peer *prev, *next;
} peer;

struct shuffle_server {
    struct event_base *base;
    const char *work_dir;
    logger *log;
    size_t max_frame;
    size_t piece; /* payload bytes per FetchData */
    uint64_t bytes, requests;
    uint64_t handshake_failures; /* data-port handshakes refused (for /metrics) */
    peer *peers;
    size_t npeers;
    const auth_secret *secret; /* borrowed; NULL: no authentication */
    uint64_t handshake_ms;     /* 0: no deadline */
    size_t max_peers;          /* 0: no limit */
};

shuffle_server *shuffle_server_new(struct event_base *base, const char *work_dir, logger *log, size_t max_frame)
{
    shuffle_server *s = xcalloc(1, sizeof *s);
    s->base = base;
    s->work_dir = work_dir;
    s->log = log;
    s->max_frame = max_frame ? max_frame : FRAME_MAX_DEFAULT;
    if (s->max_frame >= PIECE_MAX + FRAME_SLACK)
        s->piece = PIECE_MAX;
    else
        s->piece = s->max_frame > 2 * FRAME_SLACK ? s->max_frame - FRAME_SLACK : FRAME_SLACK;
    return s;
}

void shuffle_server_guard(shuffle_server *s, const auth_secret *secret, uint64_t handshake_ms, size_t max_conns)
{
    s->secret = secret;
    s->handshake_ms = handshake_ms;
    s->max_peers = max_conns;
}

/* Ends the request being streamed (answered in full or failed). */
static void peer_finish_req(peer *p)
{
    if (p->seg) evbuffer_file_segment_free(p->seg); /* queued pieces keep their own references */
    p->seg = NULL;
    shuffle_range_close(&p->rg);
    if (p->cur) {
        free(p->cur->app);
        free(p->cur);
        p->cur = NULL;
        p->srv->requests++;
    }
}

/* Frees a connection's state (not the conn, which the loop frees). */
static void peer_free(peer *p)
{
    peer_finish_req(p);
    while (p->head) {
        fetch_req *r = p->head;
        p->head = r->next;
        free(r->app);
        free(r);
    }
    free(p);
}

/* Queues one FetchData piece; error non-NULL makes it a failed last piece. */
static void peer_send_data(peer *p, uint32_t id, const uint8_t *data, size_t n, int last, const char *error)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__FetchData fd = KILN__FETCH_DATA__INIT;
    fd.request_id = id;
    fd.data.data = (uint8_t *)data;
    fd.data.len = n;
    fd.last = last || error;
    if (error) fd.error = (char *)error;
    MSG_BODY(env, fetch_data, FETCH_DATA, &fd);
    conn_send(p->c, &env);
}

/*
 * Streams queued requests while the connection's unsent output stays under
 * OUT_HIGH; the drain callback calls it again once the output drained.
 */
static void peer_pump(peer *p)
{
    shuffle_server *s = p->srv;
    while (!conn_is_closing(p->c) && conn_output_pending(p->c) < OUT_HIGH) {
        if (!p->cur) {
            fetch_req *r = p->head;
            if (!r) break;
            p->head = r->next;
            if (!p->head) p->tail = NULL;
            p->cur = r;
            p->queued--;
            if (p->paused && p->queued <= QUEUE_RESUME) {
                p->paused = 0;
                conn_pause_read(p->c, 0);
            }
            char err[512];
            if (shuffle_range_open(&p->rg, s->work_dir, r->app, r->shuffle, r->map, r->part, err, sizeof err) < 0) {
                if (s->log)
                    log_msg(s->log, LOG_INFO,
                            "fetch failed peer=%s app=%s shuffle=%" PRIu32 " map=%" PRIu32 " partition=%" PRIu32
                            " error=\"%s\"",
                            conn_peer(p->c), r->app, r->shuffle, r->map, r->part, err);
                peer_send_data(p, r->id, NULL, 0, 1, err);
                peer_finish_req(p);
                continue;
            }
            if (p->rg.total == 0) {
                peer_send_data(p, r->id, NULL, 0, 1, NULL);
                peer_finish_req(p);
                continue;
            }
        }
        if (!p->seg) {
            /* the segment takes the data file: closed when the last piece went out */
            p->seg = evbuffer_file_segment_new(p->rg.fd, 0, -1, EVBUF_FS_CLOSE_ON_FREE | EVBUF_FS_DISABLE_LOCKING);
            if (!p->seg) {
                char err[256];
                snprintf(err, sizeof err, "cannot read map %" PRIu32 " of shuffle %" PRIu32 ": %s", p->cur->map,
                         p->cur->shuffle, strerror(errno));
                peer_send_data(p, p->cur->id, NULL, 0, 1, err);
                peer_finish_req(p);
                continue;
            }
            p->seg_fd = p->rg.fd;
            p->rg.fd = -1;
        }
        uint64_t off;
        size_t want;
        shuffle_range_next(&p->rg, s->piece, &off, &want); /* total > 0: a piece remains */
        shuffle_range_advance(&p->rg, want);
        uint64_t noff;
        size_t nlen;
        int last = !shuffle_range_next(&p->rg, 1, &noff, &nlen);
        uint8_t head[MSG_FETCH_HEAD_MAX];
        size_t hn = msg_fetch_data_head(head, p->cur->id, last, want);
        if (conn_send_file(p->c, head, hn, p->seg, p->seg_fd, (int64_t)off, (int64_t)want) < 0) {
            if (s->log) log_msg(s->log, LOG_WARN, "shuffle send failed peer=%s", conn_peer(p->c));
            conn_close(p->c, 0, "cannot queue shuffle data");
            return;
        }
        s->bytes += want;
        if (last) peer_finish_req(p);
    }
}

/* The connection's output drained to OUT_LOW: queue more. */
static void peer_on_drain(conn *c, void *arg)
{
    peer_pump(arg);
}

/* Closes a connection whose peer broke the protocol. p is freed by the
 * close callback: the caller must not touch it afterwards. */
static void peer_reject(peer *p, int flush, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void peer_reject(peer *p, int flush, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    p->rejected = 1;
    conn_close(p->c, flush, reason);
}

/* The protocol: the handshake first (hello and, with a secret, mutual
 * authentication), then only fetch requests, queued in order. */
static void peer_on_msg(conn *c, Kiln__Envelope *m, void *arg)
{
    peer *p = arg;
    if (p->hs.state != HS_DONE) {
        char why[512];
        int st = conn_handshake(c, &p->hs, m, why, sizeof why);
        if (st < 0) {
            p->srv->handshake_failures++;
            peer_reject(p, 1, "%s", why);
        }
        if (st > 0) conn_set_max_frame(c, REQUEST_MAX); /* only fetch requests come now */
        return;
    }
    if (m->body_case != KILN__ENVELOPE__BODY_FETCH_REQUEST) {
        peer_reject(p, 0, "unexpected %s on the data port", msg_name(m));
        return;
    }
    const Kiln__FetchRequest *fr = m->fetch_request;
    fetch_req *r = xcalloc(1, sizeof *r);
    r->id = fr->request_id;
    r->shuffle = fr->shuffle_id;
    r->map = fr->map;
    r->part = fr->partition;
    r->app = xstrdup(fr->app_id); /* name_is_safe: checked by msg_decode */
    if (p->tail)
        p->tail->next = r;
    else
        p->head = r;
    p->tail = r;
    if (++p->queued >= QUEUE_PAUSE && !p->paused) {
        p->paused = 1;
        conn_pause_read(c, 1);
    }
    peer_pump(p);
}

/* Logs the end (a warning when the peer broke the protocol) and forgets it. */
static void peer_on_close(conn *c, const char *reason, void *arg)
{
    peer *p = arg;
    shuffle_server *s = p->srv;
    if (s->log) {
        if (p->rejected || conn_protocol_error(c))
            log_msg(s->log, LOG_WARN, "data connection closed peer=%s reason=\"%s\"", conn_peer(c), reason);
        else
            log_msg(s->log, LOG_DEBUG, "data connection closed peer=%s reason=\"%s\"", conn_peer(c), reason);
    }
    if (p->prev)
        p->prev->next = p->next;
    else
        s->peers = p->next;
    s->npeers--;
    if (p->next) p->next->prev = p->prev;
    peer_free(p);
}

void shuffle_server_accept(shuffle_server *s, evutil_socket_t fd)
{
    if (s->max_peers && s->npeers >= s->max_peers) {
        char name[64];
        net_peer_name(fd, name, sizeof name);
        if (s->log)
            log_msg(s->log, LOG_WARN, "too many data connections, closing a new one peer=%s limit=%zu", name,
                    s->max_peers);
        evutil_closesocket(fd);
        return;
    }
    peer *p = xcalloc(1, sizeof *p);
    p->srv = s;
    p->rg.fd = -1;
    hs_server_init(&p->hs, s->secret, KILN__ROLE__ROLE_WORKER, HS_ROLE(KILN__ROLE__ROLE_PEER));
    p->c = conn_new(s->base, fd, s->max_frame, peer_on_msg, peer_on_close, p);
    conn_set_drain_cb(p->c, peer_on_drain, OUT_LOW);
    if (s->handshake_ms) conn_set_deadline(p->c, s->handshake_ms, "no handshake within net.handshake_timeout");
    p->next = s->peers;
    if (s->peers) s->peers->prev = p;
    s->peers = p;
    s->npeers++;
}

void shuffle_server_free(shuffle_server *s)
{
    if (!s) return;
    /* each close callback unlinks its peer; the conns are freed by the loop */
    while (s->peers)
        conn_close(s->peers->c, 0, "the shuffle server is shutting down");
    free(s);
}

uint64_t shuffle_server_bytes(const shuffle_server *s)
{
    return s->bytes;
}

uint64_t shuffle_server_handshake_failures(const shuffle_server *s)
{
    return s ? s->handshake_failures : 0;
}

uint64_t shuffle_server_requests(const shuffle_server *s)
{
    return s->requests;
}
