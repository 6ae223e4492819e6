/*
 * conn.c - framed connections over a non-blocking socket and libevent.
 *
 * A connection owns its socket, a read event and a write event on it, and
 * an input and an output evbuffer. It does its own reading and writing
 * rather than going through a bufferevent, for the syscalls: a connection
 * that carries a few small frames per round trip (a worker with four
 * slots) otherwise pays an ioctl(FIONREAD) before every read and two
 * epoll_ctl (the write event on, then off) around every write.
 *
 * Reading: one read per readable event, sized to the rest of the frame
 * being received (at least READ_MIN, at most FRAME_INPUT_CHUNK and what
 * the input may still hold). The input is parsed with frame_parse_conn; a
 * whole frame is made contiguous with evbuffer_pullup, decoded, handed to
 * the owner, then drained. Writing: the envelope is packed straight into
 * the output evbuffer's reserved space (one copy, no temporary). The first
 * frame queued on an empty output activates the connection's flush event,
 * which runs after the callbacks already due in this pass of the loop, so
 * everything queued in one pass leaves in one write; only when the socket
 * does not take it all is the write event added until it has. Closing:
 * see conn.h.
 *
 * The one idea: a peer decides what this process holds only within bounds.
 * Before the handshake finished a frame may have FRAME_HANDSHAKE_MAX bytes
 * (a header announcing more closes the connection before its body is read)
 * and the input holds FRAME_INPUT_HANDSHAKE; after it, the input limit
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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "frame.h"
#include "msg.h"
#include "net.h"
#include "util.h"

/* A connection that held a frame this big trims the heap when it ends. */
#define TRIM_AT (8u << 20)
/* Messages up to this size are decoded into the connection's arena (a
 * scheduler's launches and answers); larger ones into their own memory. */
#define CONN_ARENA_MSG_MAX 4096
/* The smallest read: small frames arrive many to a read. */
#define READ_MIN (16u << 10)
/* The most one write hands the kernel (a bulk output takes several passes
 * of the loop, so one connection does not hold the others up). */
#define WRITE_MAX (1 << 20)

struct conn {
    struct event_base *base;
    evutil_socket_t fd;
    struct event *rev, *wev;       /* on fd; added while reading / while output waits */
    struct event *flush_ev;        /* writes what one pass queued, after the pass */
    struct evbuffer *in, *out;
    size_t in_high;                /* read no further than this (frame_input_high) */
    size_t in_need;                /* bytes still missing of the frame being received */
    int reading, writing, flush_queued;
    int connecting;                /* a connect in flight: nothing is read or written */
    int connect_errno;             /* a connect that failed at once, reported from the loop */
    size_t max_frame;
    conn_msg_cb on_msg;
    conn_close_cb on_close;
    void *arg;
    int closing;
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
    Kiln__Envelope *cur_msg;    /* being delivered; NULL once stolen */
    int cur_own;                /* cur_msg is malloc'd, not in the arena */
    int keeps;                  /* see conn_keep_messages */
    const uint8_t *cur_payload; /* its bytes, for conn_steal_msg */
    size_t cur_len;
    msg_arena arena;
    seal seal;               /* off until a handshake with a secret finished */
    char peer[64];
};

static void conn_free(conn *c)
{
    int trim = c->held >= TRIM_AT;
    event_free(c->rev);
    event_free(c->wev);
    event_free(c->flush_ev);
    if (c->free_ev) event_free(c->free_ev);
    if (c->resume_ev) event_free(c->resume_ev);
    if (c->flush_timeout) event_free(c->flush_timeout);
    if (c->deadline) event_free(c->deadline);
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    evutil_closesocket(c->fd);
    seal_release(&c->seal);
    msg_arena_release(&c->arena);
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

static void process_input(conn *c);

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    process_input(arg);
}

/* Adds or deletes ev so that it is pending exactly when want; *on says
 * whether it is (event_add and event_del cost an epoll_ctl each). */
static void watch(struct event *ev, int *on, int want)
{
    if (want && !*on)
        event_add(ev, NULL);
    else if (!want && *on)
        event_del(ev);
    *on = want;
}

/* Reading is on unless the connection is closing, connecting, paused (by
 * its owner or by its output) or its input is full. */
static void update_read(conn *c)
{
    if (c->closing) return;
    watch(c->rev, &c->reading,
          !c->connecting && !c->paused && !c->out_paused && evbuffer_get_length(c->in) < c->in_high);
}

/* A pause ended (or changed): frames already buffered are delivered from
 * the loop. */
static void resume_read(conn *c)
{
    update_read(c);
    if (!c->closing && !c->paused && !c->out_paused && evbuffer_get_length(c->in) >= FRAME_HEADER) {
        if (!c->resume_ev) c->resume_ev = event_new(c->base, -1, 0, resume_cb, c);
        event_active(c->resume_ev, 0, 0);
    }
}

/* A peer over the output limit stops being read. */
static void check_output(conn *c)
{
    if (c->out_high && !c->out_paused && conn_output_pending(c) > c->out_high) {
        c->out_paused = 1;
        update_read(c);
    }
}

/* Output waits: write it after this pass of the loop, unless the write
 * event (or the connect) will. */
static void ask_flush(conn *c)
{
    if (c->flush_queued || c->writing || c->connecting) return;
    c->flush_queued = 1;
    event_active(c->flush_ev, 0, 0);
}

/* After queuing. */
static void queued(conn *c)
{
    check_output(c);
    ask_flush(c);
}

/* The socket cannot be used any more: a closing connection that was
 * flushing is freed (nothing more will leave), any other one closes. */
static void conn_lost(conn *c, const char *reason)
{
    if (c->flushing)
        schedule_free(c);
    else
        conn_close(c, 0, reason);
}

/* A read that saw the end (err 0) or a read or write that failed. */
static void conn_fail(conn *c, int err)
{
    char reason[128];
    if (err == 0)
        snprintf(reason, sizeof reason, "connection closed by peer");
    else
        snprintf(reason, sizeof reason, "connection error: %s", strerror(err));
    conn_lost(c, reason);
}

/* What follows a write: the write event is on only while output waits;
 * a closing connection that flushed everything is freed; a peer paused by
 * its output is read again once it took enough; the owner's drain
 * callback may queue more. */
static void after_write(conn *c)
{
    size_t left = evbuffer_get_length(c->out);
    watch(c->wev, &c->writing, left > 0);
    if (c->flushing && left == 0) schedule_free(c);
    if (c->closing) return;
    if (c->out_paused && left <= c->out_low) {
        c->out_paused = 0;
        resume_read(c);
    }
    if (c->drain_cb && left <= c->drain_low) c->drain_cb(c, c->arg);
}

static void do_write(conn *c)
{
    c->flush_queued = 0;
    if (c->connecting || (c->closing && !c->flushing)) return;
    if (evbuffer_get_length(c->out) > 0) {
        int n = evbuffer_write_atmost(c->out, c->fd, WRITE_MAX);
        int err = n < 0 ? EVUTIL_SOCKET_ERROR() : 0;
        if (n < 0 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
            conn_fail(c, err);
            return;
        }
        /* nothing written with something to write (sendfile past the end
         * of a file that shrank) ends the connection, as a bufferevent
         * did, rather than waking up for ever */
        if (n == 0) {
            conn_lost(c, "connection error: no byte of the output could be written (a file being sent shrank?)");
            return;
        }
    }
    after_write(c);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    do_write(arg);
}

/* A connect finished (or failed): from here the connection reads and writes. */
static void connected(conn *c)
{
    int err = c->connect_errno;
    socklen_t len = sizeof err;
    if (!err && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    c->connecting = 0;
    if (err) {
        char reason[128];
        snprintf(reason, sizeof reason, "connect failed: %s", strerror(err));
        conn_close(c, 0, reason); /* takes the write event off too */
        return;
    }
    update_read(c);
    do_write(c);
}

static void write_ready_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    if (c->connecting)
        connected(c);
    else
        do_write(c);
}

void conn_close(conn *c, int flush, const char *reason)
{
    if (c->closing) return;
    c->closing = 1;
    if (c->deadline) evtimer_del(c->deadline);
    watch(c->rev, &c->reading, 0);
    if (c->on_close) c->on_close(c, reason, c->arg);
    if (flush && !c->connecting && evbuffer_get_length(c->out) > 0) {
        c->flushing = 1;
        struct timeval tv = {2, 0};
        c->flush_timeout = evtimer_new(c->base, flush_timeout_cb, c);
        evtimer_add(c->flush_timeout, &tv);
        ask_flush(c);
        return;
    }
    watch(c->wev, &c->writing, 0);
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
    if (!m || c->cur_own) {
        c->cur_msg = NULL;
        return m;
    }
    /* the delivered message goes with the arena: decode its bytes again,
     * into memory of its own (they decoded and passed the checks once) */
    char err[256];
    m = msg_decode(c->cur_payload, c->cur_len, err, sizeof err);
    if (!m) { /* only out of memory: as xmalloc */
        fprintf(stderr, "kiln: a message that decoded once does not decode again: %s\n", err);
        abort();
    }
    c->cur_msg = NULL;
    return m;
}

/* Delivers every whole frame buffered, then sets how far to read. */
static void process_input(conn *c)
{
    struct evbuffer *in = c->in;
    size_t pending = 0; /* payload of the frame still arriving */
    c->in_need = 0;
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
            c->in_need = FRAME_HEADER + len - avail;
            break;
        }
        uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HEADER + len));
        Kiln__Envelope *m = NULL;
        size_t plen = seal_on(&c->seal.rx) ? len - SEAL_TAG_LEN : len;
        /* a large message (a job, a blob chunk) is decoded into memory of
         * its own, so that keeping it (conn_steal_msg) costs nothing */
        int own = c->keeps || plen > CONN_ARENA_MSG_MAX;
        if (!seal_on(&c->seal.rx) || seal_check(&c->seal.rx, p, FRAME_HEADER + len, err, sizeof err) == 0)
            m = own ? msg_decode(p + FRAME_HEADER, plen, err, sizeof err)
                    : msg_decode_arena(&c->arena, p + FRAME_HEADER, plen, err, sizeof err);
        if (!m) {
            msg_arena_reset(&c->arena);
            evbuffer_drain(in, FRAME_HEADER + len);
            c->protocol_error = 1;
            conn_close(c, 0, err);
            return;
        }
        /* the frame stays in the input until the callback returned (it
         * reads nothing, so nothing moves it): conn_steal_msg decodes it */
        c->cur_msg = m;
        c->cur_own = own;
        c->cur_payload = p + FRAME_HEADER;
        c->cur_len = plen;
        c->on_msg(c, m, c->arg);
        if (own) msg_free(c->cur_msg);
        c->cur_msg = NULL;
        c->cur_payload = NULL;
        msg_arena_reset(&c->arena);
        evbuffer_drain(in, FRAME_HEADER + len);
    }
    if (c->closing) return;
    /* read no more than the frame being received (or one chunk) */
    c->in_high = frame_input_high(c->authenticated, pending);
    update_read(c);
}

/* One read: the rest of the frame being received, or READ_MIN, within
 * what the input may hold and one chunk. */
static void read_ready_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    size_t have = evbuffer_get_length(c->in);
    if (c->closing) return;
    if (have >= c->in_high) {
        update_read(c);
        return;
    }
    size_t want = c->in_need > READ_MIN ? c->in_need : READ_MIN;
    if (want > FRAME_INPUT_CHUNK) want = FRAME_INPUT_CHUNK;
    if (want > c->in_high - have) want = c->in_high - have;
    struct evbuffer_iovec v[2];
    int nv = evbuffer_reserve_space(c->in, (ev_ssize_t)want, v, 2);
    if (nv < 1) {
        conn_close(c, 0, "out of memory for input");
        return;
    }
    size_t room = 0;
    for (int i = 0; i < nv; i++) {
        if (room + v[i].iov_len > want) v[i].iov_len = want - room;
        room += v[i].iov_len;
    }
    ssize_t n = readv(c->fd, (struct iovec *)v, nv);
    if (n <= 0) {
        int err = n == 0 ? 0 : errno;
        evbuffer_commit_space(c->in, v, 0);
        if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)) return;
        conn_fail(c, err);
        return;
    }
    size_t got = (size_t)n;
    for (int i = 0; i < nv; i++) {
        if (v[i].iov_len > got) v[i].iov_len = got;
        got -= v[i].iov_len;
    }
    evbuffer_commit_space(c->in, v, nv);
    process_input(c);
}

static conn *conn_alloc(struct event_base *base, evutil_socket_t fd, size_t max_frame, conn_msg_cb on_msg,
                        conn_close_cb on_close, void *arg)
{
    conn *c = xcalloc(1, sizeof *c);
    c->base = base;
    c->fd = fd;
    c->rev = event_new(base, fd, EV_READ | EV_PERSIST, read_ready_cb, c);
    c->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, write_ready_cb, c);
    c->flush_ev = event_new(base, -1, 0, flush_cb, c);
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    /* the output drains to a socket, so file segments (conn_send_file) go
     * out with sendfile rather than through a mapping */
    evbuffer_set_flags(c->out, EVBUFFER_FLAG_DRAINS_TO_FD);
    c->in_high = frame_input_high(0, 0);
    c->max_frame = max_frame ? max_frame : FRAME_MAX_DEFAULT;
    c->on_msg = on_msg;
    c->on_close = on_close;
    c->arg = arg;
    return c;
}

static void socket_setup(evutil_socket_t fd)
{
    evutil_make_socket_nonblocking(fd);
    evutil_make_socket_closeonexec(fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on unix sockets */
}

conn *conn_new(struct event_base *base, evutil_socket_t fd, size_t max_frame, conn_msg_cb on_msg,
               conn_close_cb on_close, void *arg)
{
    socket_setup(fd);
    conn *c = conn_alloc(base, fd, max_frame, on_msg, on_close, arg);
    net_peer_name(fd, c->peer, sizeof c->peer);
    update_read(c);
    return c;
}

conn *conn_connect(struct event_base *base, const char *hostport, size_t max_frame, conn_msg_cb on_msg,
                   conn_close_cb on_close, void *arg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (net_parse_addr(hostport, &ss, &sl, err, errlen) < 0) return NULL;
    evutil_socket_t fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return NULL;
    }
    socket_setup(fd);
    conn *c = conn_alloc(base, fd, max_frame, on_msg, on_close, arg);
    snprintf(c->peer, sizeof c->peer, "%s", hostport);
    /* in progress or not, the outcome is reported from the loop, so the
     * caller has stored the conn before its close callback can run */
    c->connecting = 1;
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) c->connect_errno = errno;
    if (c->connect_errno)
        event_active(c->wev, EV_WRITE, 0);
    else
        watch(c->wev, &c->writing, 1); /* writable: the connect finished */
    return c;
}

/* The two halves of queuing a frame packed in place: n bytes of output
 * (NULL when closing or out of memory), then the frame's packed length in
 * them (0: sealing failed, which closes the connection). 0, or -1. */
static void *reserve_frame(conn *c, size_t n, struct evbuffer_iovec *v)
{
    if (c->closing || evbuffer_reserve_space(c->out, (ev_ssize_t)n, v, 1) < 1) return NULL;
    return v->iov_base;
}

static int commit_frame(conn *c, struct evbuffer_iovec *v, size_t len)
{
    if (!len) {
        conn_close(c, 0, "cannot seal a frame (libcrypto)");
        return -1;
    }
    v->iov_len = len;
    int rc = evbuffer_commit_space(c->out, v, 1);
    queued(c);
    return rc;
}

int conn_send(conn *c, const Kiln__Envelope *msg)
{
    struct evbuffer_iovec v;
    uint8_t *p = reserve_frame(c, msg_frame_size(&c->seal.tx, msg), &v);
    return p ? commit_frame(c, &v, msg_pack_frame_into(p, &c->seal.tx, msg)) : -1;
}

int conn_send_split(conn *c, unsigned body_case, const struct iovec *parts, int nparts, const ProtobufCMessage *rest,
                    size_t nrest)
{
    struct evbuffer_iovec v;
    uint8_t *p = reserve_frame(c, msg_split_frame_size(&c->seal.tx, body_case, parts, nparts, nrest), &v);
    return p ? commit_frame(c, &v, msg_pack_split_frame_into(p, &c->seal.tx, body_case, parts, nparts, rest, nrest))
             : -1;
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
    struct evbuffer *out = c->out;
    if (!seal_on(&c->seal.tx)) {
        if (evbuffer_add(out, head, n) < 0) return -1;
        int rc = evbuffer_add_file_segment(out, seg, (ev_off_t)off, (ev_off_t)len);
        queued(c);
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
    queued(c);
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
    if (c->in_high < frame_input_high(1, 0)) c->in_high = frame_input_high(1, 0);
    update_read(c);
}

void conn_set_max_frame(conn *c, size_t max)
{
    c->max_frame = max ? max : FRAME_MAX_DEFAULT;
}

void conn_keep_messages(conn *c)
{
    c->keeps = 1;
}

void conn_set_output_limit(conn *c, size_t high, size_t low)
{
    c->out_high = high;
    c->out_low = high ? (low < high ? low : high) : 0;
    if (!high && c->out_paused) {
        c->out_paused = 0;
        resume_read(c);
    }
    check_output(c);
}

const char *conn_peer(const conn *c)
{
    return c->peer;
}

size_t conn_output_pending(const conn *c)
{
    return evbuffer_get_length(c->out);
}

void conn_set_arg(conn *c, void *arg)
{
    c->arg = arg;
}

void conn_pause_read(conn *c, int paused)
{
    if (c->closing) return;
    c->paused = paused;
    resume_read(c);
}

void conn_set_drain_cb(conn *c, void (*cb)(conn *c, void *arg), size_t low)
{
    c->drain_cb = cb;
    c->drain_low = cb ? low : 0;
}
