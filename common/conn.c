/*
 * conn.c - framed connections over bufferevents.
 *
 * Reading: the input evbuffer is parsed with frame_parse_conn; a whole
 * frame is made contiguous with evbuffer_pullup, decoded, handed to the
 * owner, then drained. Writing: the envelope is packed straight into the
 * output evbuffer's reserved space (one copy, no temporary). Closing: see
 * conn.h.
 *
 * The one idea: a peer decides what this process holds only within bounds.
 * Before the handshake finished a frame may have FRAME_HANDSHAKE_MAX bytes
 * (a header announcing more closes the connection before its body is read)
 * and the input holds FRAME_INPUT_HANDSHAKE; after it, the read watermark
 * follows the frame being received (frame_input_high), so reading stops
 * once one whole frame is there until it was consumed, and stops while the
 * owner paused it or, with an output limit, while the peer leaves more
 * than that unread. A connection that held a big frame gives the memory
 * back to the system when it ends (malloc_trim), so a burst of big frames
 * does not stay in the process's resident set.
 *
 * Sealing (common/seal.h): once a handshake with a secret finished, every
 * frame sent gets its tag appended and every frame received is checked
 * before it is decoded; one that fails closes the connection as a protocol
 * error and never reaches the owner. A frame whose payload comes from a
 * file (conn_send_file) is tagged from a read-only mapping of the range,
 * then still sent with sendfile.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "msg.h"
#include "net.h"
#include "util.h"

/* A connection that held a frame this big trims the heap when it ends. */
#define TRIM_AT (8u << 20)

struct conn {
    struct event_base *base;
    struct bufferevent *bev;
    size_t max_frame;
    conn_msg_cb on_msg;
    conn_close_cb on_close;
    void *arg;
    int closing;
    int in_callback;
    int flushing;
    int protocol_error;
    int authenticated; /* the handshake finished, or the link needs none */
    int paused;        /* by the owner (conn_pause_read) */
    int out_paused;    /* the peer leaves over out_high bytes unread */
    size_t out_high, out_low;
    size_t held; /* largest frame received, for TRIM_AT */
    struct event *free_ev;
    struct event *resume_ev; /* frames left buffered when reading resumes */
    struct event *flush_timeout;
    struct event *deadline; /* see conn_set_deadline */
    char deadline_reason[96];
    void (*drain_cb)(conn *c, void *arg); /* see conn_set_drain_cb */
    size_t drain_low;
    Kiln__Envelope *cur_msg; /* being delivered; NULL once stolen */
    seal seal;               /* off until a handshake with a secret finished */
    char peer[64];
};

static void conn_free(conn *c)
{
    int trim = c->held >= TRIM_AT;
    if (c->bev) bufferevent_free(c->bev);
    if (c->free_ev) event_free(c->free_ev);
    if (c->resume_ev) event_free(c->resume_ev);
    if (c->flush_timeout) event_free(c->flush_timeout);
    if (c->deadline) event_free(c->deadline);
    seal_release(&c->seal);
    free(c);
    /* glibc keeps freed evbuffer chains in its arenas: give them back */
    if (trim) malloc_trim(0);
}

static void free_cb(evutil_socket_t fd, short what, void *arg)
{
    conn_free(arg);
}

static void schedule_free(conn *c)
{
    if (!c->free_ev) c->free_ev = event_new(c->base, -1, 0, free_cb, c);
    event_active(c->free_ev, 0, 0);
}

static void flush_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    schedule_free(arg);
}

static void read_cb(struct bufferevent *bev, void *arg);

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    read_cb(c->bev, c);
}

/* Reading is on unless the connection is closing or paused (by its owner
 * or by its output); frames already buffered are read from the loop. */
static void update_read(conn *c)
{
    if (c->closing) return;
    if (c->paused || c->out_paused) {
        bufferevent_disable(c->bev, EV_READ);
        return;
    }
    bufferevent_enable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) >= FRAME_HEADER) {
        if (!c->resume_ev) c->resume_ev = event_new(c->base, -1, 0, resume_cb, c);
        event_active(c->resume_ev, 0, 0);
    }
}

/* The bufferevent calls write_cb when a write leaves at most this. */
static void set_write_mark(conn *c)
{
    size_t low = c->drain_low > c->out_low ? c->drain_low : c->out_low;
    bufferevent_setwatermark(c->bev, EV_WRITE, low, 0);
}

/* After queuing: a peer over the output limit stops being read. */
static void check_output(conn *c)
{
    if (c->out_high && !c->out_paused && conn_output_pending(c) > c->out_high) {
        c->out_paused = 1;
        update_read(c);
    }
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    size_t left = evbuffer_get_length(bufferevent_get_output(bev));
    if (c->flushing && left == 0) schedule_free(c);
    if (c->closing) return;
    if (c->out_paused && left <= c->out_low) {
        c->out_paused = 0;
        update_read(c);
    }
    if (c->drain_cb && left <= c->drain_low) c->drain_cb(c, c->arg);
}

void conn_close(conn *c, int flush, const char *reason)
{
    if (c->closing) return;
    c->closing = 1;
    if (c->deadline) evtimer_del(c->deadline);
    bufferevent_disable(c->bev, EV_READ);
    if (c->on_close) c->on_close(c, reason, c->arg);
    if (flush && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
        c->flushing = 1;
        struct timeval tv = {2, 0};
        c->flush_timeout = evtimer_new(c->base, flush_timeout_cb, c);
        evtimer_add(c->flush_timeout, &tv);
        return;
    }
    schedule_free(c);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    c->protocol_error = 1;
    conn_close(c, 0, c->deadline_reason);
}

void conn_set_deadline(conn *c, uint64_t ms, const char *reason)
{
    if (c->closing) return;
    if (ms == 0) {
        if (c->deadline) evtimer_del(c->deadline);
        return;
    }
    if (!c->deadline) c->deadline = evtimer_new(c->base, deadline_cb, c);
    snprintf(c->deadline_reason, sizeof c->deadline_reason, "%s", reason);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(c->deadline, &tv);
}

int conn_is_closing(const conn *c)
{
    return c->closing;
}

int conn_protocol_error(const conn *c)
{
    return c->protocol_error;
}

Kiln__Envelope *conn_steal_msg(conn *c)
{
    Kiln__Envelope *m = c->cur_msg;
    c->cur_msg = NULL;
    return m;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t pending = 0; /* payload of the frame still arriving */
    while (!c->closing && !c->paused && !c->out_paused) {
        uint8_t hdr[FRAME_HEADER];
        size_t avail = evbuffer_get_length(in), len;
        char err[256];
        if (avail < FRAME_HEADER) break;
        evbuffer_copyout(in, hdr, FRAME_HEADER);
        /* parse the header alone (closing at once when it is over the
         * limit), then check that the payload arrived */
        int st = frame_parse_conn(hdr, FRAME_HEADER, c->authenticated, seal_frame_max(&c->seal.rx, c->max_frame), &len,
                                  err, sizeof err);
        if (st == FRAME_ERROR) {
            c->protocol_error = 1;
            conn_close(c, 0, err);
            return;
        }
        if (len > c->held) c->held = len;
        if (avail < FRAME_HEADER + len) {
            pending = len;
            break;
        }
        uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HEADER + len));
        Kiln__Envelope *m = NULL;
        if (!seal_on(&c->seal.rx))
            m = msg_decode(p + FRAME_HEADER, len, err, sizeof err);
        else if (seal_check(&c->seal.rx, p, FRAME_HEADER + len, err, sizeof err) == 0)
            m = msg_decode(p + FRAME_HEADER, len - SEAL_TAG_LEN, err, sizeof err);
        evbuffer_drain(in, FRAME_HEADER + len);
        if (!m) {
            c->protocol_error = 1;
            conn_close(c, 0, err);
            return;
        }
        c->cur_msg = m;
        c->on_msg(c, m, c->arg);
        msg_free(c->cur_msg);
        c->cur_msg = NULL;
    }
    /* read no more than the frame being received (or one chunk) */
    if (!c->closing) bufferevent_setwatermark(bev, EV_READ, 0, frame_input_high(c->authenticated, pending));
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return;
    }
    if (c->flushing) {
        schedule_free(c);
        return;
    }
    char reason[128];
    if (what & BEV_EVENT_EOF)
        snprintf(reason, sizeof reason, "connection closed by peer");
    else
        snprintf(reason, sizeof reason, "connection error: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    conn_close(c, 0, reason);
}

static conn *conn_alloc(struct event_base *base, struct bufferevent *bev, size_t max_frame, conn_msg_cb on_msg,
                        conn_close_cb on_close, void *arg)
{
    conn *c = xcalloc(1, sizeof *c);
    c->base = base;
    c->bev = bev;
    c->max_frame = max_frame ? max_frame : FRAME_MAX_DEFAULT;
    c->on_msg = on_msg;
    c->on_close = on_close;
    c->arg = arg;
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
    /* libevent's default of 16 KiB per read or write costs a syscall per
     * 16 KiB on bulk transfers (blobs, results, shuffle blocks) */
    bufferevent_set_max_single_write(bev, 1 << 20);
    bufferevent_set_max_single_read(bev, FRAME_INPUT_CHUNK);
    bufferevent_setwatermark(bev, EV_READ, 0, frame_input_high(0, 0));
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    return c;
}

conn *conn_new(struct event_base *base, evutil_socket_t fd, size_t max_frame, conn_msg_cb on_msg,
               conn_close_cb on_close, void *arg)
{
    evutil_make_socket_nonblocking(fd);
    evutil_make_socket_closeonexec(fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on unix sockets */
    struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    conn *c = conn_alloc(base, bev, max_frame, on_msg, on_close, arg);
    net_peer_name(fd, c->peer, sizeof c->peer);
    return c;
}

conn *conn_connect(struct event_base *base, const char *hostport, size_t max_frame, conn_msg_cb on_msg,
                   conn_close_cb on_close, void *arg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (net_parse_addr(hostport, &ss, &sl, err, errlen) < 0) return NULL;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    conn *c = conn_alloc(base, bev, max_frame, on_msg, on_close, arg);
    snprintf(c->peer, sizeof c->peer, "%s", hostport);
    if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss, (int)sl) < 0) {
        /* report from the loop so the caller sees one path */
        c->closing = 0;
        conn_close(c, 0, "connect failed");
    }
    return c;
}

int conn_send(conn *c, const Kiln__Envelope *msg)
{
    if (c->closing) return -1;
    size_t n = msg_frame_size(&c->seal.tx, msg);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)n, &v, 1) < 1) return -1;
    v.iov_len = msg_pack_frame_into(v.iov_base, &c->seal.tx, msg);
    if (!v.iov_len) {
        conn_close(c, 0, "cannot seal a frame (libcrypto)");
        return -1;
    }
    int rc = evbuffer_commit_space(out, &v, 1);
    check_output(c);
    return rc;
}

/* The tag of a frame made of head (n bytes) and len bytes at off of fd,
 * read through a private read-only mapping. 0, or -1. */
static int tag_file_frame(conn *c, const uint8_t *head, size_t n, int fd, int64_t off, int64_t len,
                          uint8_t tag[SEAL_TAG_LEN])
{
    struct iovec iov[2] = {{(void *)head, n}, {NULL, 0}};
    void *map = NULL;
    size_t span = 0;
    if (len > 0) {
        static long page;
        if (!page) page = sysconf(_SC_PAGESIZE);
        int64_t base = off & ~(int64_t)(page - 1);
        span = (size_t)(len + (off - base));
        map = mmap(NULL, span, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, (off_t)base);
        if (map == MAP_FAILED) return -1;
        iov[1].iov_base = (uint8_t *)map + (off - base);
        iov[1].iov_len = (size_t)len;
    }
    int rc = seal_tag(&c->seal.tx, iov, 2, tag);
    if (map) munmap(map, span);
    return rc;
}

int conn_send_file(conn *c, const void *head, size_t n, struct evbuffer_file_segment *seg, int fd, int64_t off,
                   int64_t len)
{
    if (c->closing) return -1;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (!seal_on(&c->seal.tx)) {
        if (evbuffer_add(out, head, n) < 0) return -1;
        int rc = evbuffer_add_file_segment(out, seg, (ev_off_t)off, (ev_off_t)len);
        check_output(c);
        return rc;
    }
    /* the head's frame length counts the tag too */
    uint8_t h[256], tag[SEAL_TAG_LEN];
    if (n < FRAME_HEADER || n > sizeof h) return -1;
    memcpy(h, head, n);
    frame_put_header(h, frame_get_header(h) + SEAL_TAG_LEN);
    if (tag_file_frame(c, h, n, fd, off, len, tag) < 0) return -1;
    if (evbuffer_add(out, h, n) < 0 || evbuffer_add_file_segment(out, seg, (ev_off_t)off, (ev_off_t)len) < 0 ||
        evbuffer_add(out, tag, sizeof tag) < 0)
        return -1;
    check_output(c);
    return 0;
}

int conn_send_error(conn *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__Error e = KILN__ERROR__INIT;
    e.message = buf;
    MSG_BODY(env, error, ERROR, &e);
    return conn_send(c, &env);
}

int conn_handshake(conn *c, handshake *h, const Kiln__Envelope *m, char *err, size_t errlen)
{
    const Kiln__Envelope *out;
    int st = h->server ? hs_server_msg(h, m, &out, err, errlen) : hs_client_msg(h, m, &out, err, errlen);
    if (out) conn_send(c, out);
    if (st > 0) {
        /* the Auth (the client's last message) went plain; all after it is sealed */
        if (hs_seal(h, &c->seal, err, errlen) < 0) return -1;
        conn_set_deadline(c, 0, NULL);
        conn_set_authenticated(c);
    }
    return st;
}

void conn_set_authenticated(conn *c)
{
    if (c->authenticated || c->closing) return;
    c->authenticated = 1;
    bufferevent_setwatermark(c->bev, EV_READ, 0, frame_input_high(1, 0));
}

void conn_set_max_frame(conn *c, size_t max)
{
    c->max_frame = max ? max : FRAME_MAX_DEFAULT;
}

void conn_set_output_limit(conn *c, size_t high, size_t low)
{
    c->out_high = high;
    c->out_low = high ? (low < high ? low : high) : 0;
    set_write_mark(c);
    if (!high && c->out_paused) {
        c->out_paused = 0;
        update_read(c);
    }
    check_output(c);
}

const char *conn_peer(const conn *c)
{
    return c->peer;
}

size_t conn_output_pending(const conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void conn_set_arg(conn *c, void *arg)
{
    c->arg = arg;
}

void conn_pause_read(conn *c, int paused)
{
    if (c->closing) return;
    c->paused = paused;
    update_read(c);
}

void conn_set_drain_cb(conn *c, void (*cb)(conn *c, void *arg), size_t low)
{
    c->drain_cb = cb;
    c->drain_low = cb ? low : 0;
    set_write_mark(c);
}
