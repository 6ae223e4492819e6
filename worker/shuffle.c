/*
 * shuffle.c - shuffle files on a worker: writing one map output, serving
 * byte ranges of them on the data port, and fetching the blocks of one
 * reduce partition from local disk and from other workers.
 *
 * Owns the layout under WORK/APP/shuffle/ (see shuffle.h) and the data-port
 * conversation (Hello, then FetchRequest -> FetchData pieces). It knows no
 * task, driver or user code and never touches the worker's struct: the
 * server gets an event base, a directory and a logger; the fetcher is plain
 * blocking code for an executor.
 *
 * The one idea: nothing is ever held whole. The writer copies spill files
 * file to file; the server streams a range as pieces of at most 1 MiB read
 * with pread, stops queuing at ~4 MiB of unsent output and resumes when the
 * connection drains; the fetcher reads in chunks and cuts whole blocks out
 * of the stream as it goes, keeping only the one block that straddles two
 * chunks (the carry). Requests on one connection are answered in order, so
 * one carry per connection is enough.
 */
#include "shuffle.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "block.h"
#include "conn.h"
#include "frame.h"
#include "handshake.h"
#include "msg.h"
#include "net.h"
#include "util.h"

#define PIECE_MAX     (1u << 20) /* FetchData payload */
#define OUT_HIGH      (4u << 20) /* stop queuing pieces at this much unsent output */
#define OUT_LOW       (1u << 20) /* and resume when it drains to this */
#define FRAME_SLACK   64         /* envelope bytes around a piece */
#define QUEUE_PAUSE   4096       /* queued requests before a connection's reading pauses */
#define QUEUE_RESUME  1024       /* and resumes */
#define LOCAL_CHUNK   (4u << 20) /* pread size of the local fetch */
#define RECV_MIN      (256u << 10)
#define FETCH_IDLE_MS (300 * 1000) /* no byte from any worker for this long fails the fetch */
#define COPY_BUF      (1u << 20)
#define HANDSHAKE_S   30 /* seconds a worker has to answer the hello */

/* ---- paths and the index ---- */

char *shuffle_dir_path(const char *work_dir, const char *app, uint32_t shuffle_id)
{
    return xasprintf("%s/%s/shuffle/%" PRIu32, work_dir, app, shuffle_id);
}

char *shuffle_data_path(const char *work_dir, const char *app, uint32_t shuffle_id, uint32_t map)
{
    return xasprintf("%s/%s/shuffle/%" PRIu32 "/map-%" PRIu32 ".data", work_dir, app, shuffle_id, map);
}

char *shuffle_index_path(const char *work_dir, const char *app, uint32_t shuffle_id, uint32_t map)
{
    return xasprintf("%s/%s/shuffle/%" PRIu32 "/map-%" PRIu32 ".index", work_dir, app, shuffle_id, map);
}

/* The index's little-endian u64s. */
static void put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int shuffle_index_lookup(const char *index_path, uint32_t p, uint64_t *off, uint64_t *len, char *err, size_t errlen)
{
    int fd = open(index_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return errf(err, errlen, "no such map output (%s)", index_path);
        return errf(err, errlen, "cannot open %s: %s", index_path, strerror(errno));
    }
    struct stat st;
    uint8_t b[16];
    int rc = -1;
    if (fstat(fd, &st) < 0) {
        errf(err, errlen, "cannot stat %s: %s", index_path, strerror(errno));
    } else if (st.st_size < 16 || st.st_size % 8 != 0) {
        errf(err, errlen, "corrupt index %s (%lld bytes)", index_path, (long long)st.st_size);
    } else if ((uint64_t)p >= (uint64_t)st.st_size / 8 - 1) {
        errf(err, errlen, "partition %" PRIu32 " out of range (the output has %lld)", p,
             (long long)(st.st_size / 8 - 1));
    } else {
        ssize_t n;
        do
            n = pread(fd, b, sizeof b, (off_t)p * 8);
        while (n < 0 && errno == EINTR);
        if (n != (ssize_t)sizeof b) {
            errf(err, errlen, "cannot read %s: %s", index_path, n < 0 ? strerror(errno) : "short read");
        } else if (get_u64le(b + 8) < get_u64le(b)) {
            errf(err, errlen, "corrupt index %s (offsets decrease at partition %" PRIu32 ")", index_path, p);
        } else {
            *off = get_u64le(b);
            *len = get_u64le(b + 8) - *off;
            rc = 0;
        }
    }
    close(fd);
    return rc;
}

/*
 * Finds reduce partition p of map output (app, shuffle, map) and opens its
 * data file, checking that the file holds the whole range. Returns the fd
 * (caller closes) with *off and *len set, or -1 with a message.
 */
static int range_open(const char *work_dir, const char *app, uint32_t shuffle, uint32_t map, uint32_t p, uint64_t *off,
                      uint64_t *len, char *err, size_t errlen)
{
    char *ipath = shuffle_index_path(work_dir, app, shuffle, map);
    char *dpath = shuffle_data_path(work_dir, app, shuffle, map);
    int fd = -1;
    if (shuffle_index_lookup(ipath, p, off, len, err, errlen) == 0) {
        struct stat st;
        fd = open(dpath, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            errf(err, errlen, "cannot open %s: %s", dpath, strerror(errno));
        } else if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < *off + *len) {
            errf(err, errlen, "%s is shorter than its index says (%" PRIu64 " bytes needed)", dpath, *off + *len);
            close(fd);
            fd = -1;
        }
    }
    free(ipath);
    free(dpath);
    return fd;
}

/* ---- writing a map output ---- */

/* Copies len bytes from the start of in to out's position with read and
 * write (copy_file_range's fallback), from offset *pos on. */
static int copy_by_hand(int in, loff_t *pos, uint64_t len, int out, char *err, size_t errlen)
{
    uint8_t *buf = malloc(COPY_BUF);
    if (!buf) return errf(err, errlen, "out of memory copying a spill file");
    int rc = 0;
    while ((uint64_t)*pos < len) {
        uint64_t left = len - (uint64_t)*pos;
        ssize_t n = pread(in, buf, left < COPY_BUF ? (size_t)left : COPY_BUF, *pos);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = errf(err, errlen, "cannot read a spill file: %s", n < 0 ? strerror(errno) : "shorter than its length");
            break;
        }
        if (write_all(out, buf, (size_t)n) < 0) {
            rc = errf(err, errlen, "cannot write shuffle data: %s", strerror(errno));
            break;
        }
        *pos += n;
    }
    free(buf);
    return rc;
}

/* Appends the first len bytes of spill file in to out (at out's position),
 * with copy_file_range where the kernel and file systems allow. */
static int copy_spill(int in, uint64_t len, int out, char *err, size_t errlen)
{
    loff_t pos = 0;
    while ((uint64_t)pos < len) {
        uint64_t left = len - (uint64_t)pos;
        ssize_t n = copy_file_range(in, &pos, out, NULL, left < (1u << 30) ? (size_t)left : (1u << 30), 0);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL))
            return copy_by_hand(in, &pos, len, out, err, errlen);
        return errf(err, errlen, "cannot copy a spill file: %s", n < 0 ? strerror(errno) : "shorter than its length");
    }
    return 0;
}

/* Writes n bytes to a new file at path. */
static int write_new_file(const char *path, const void *p, size_t n, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    if (write_all(fd, p, n) < 0) {
        int e = errno;
        close(fd);
        return errf(err, errlen, "cannot write %s: %s", path, strerror(e));
    }
    if (close(fd) < 0) return errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

int shuffle_write_output(const char *work_dir, const char *app, uint32_t shuffle_id, uint32_t map,
                         const shuffle_part *parts, uint32_t nparts, uint64_t *sizes, char *err, size_t errlen)
{
    if (nparts == 0) return errf(err, errlen, "a map output needs at least one partition");
    char *dir = shuffle_dir_path(work_dir, app, shuffle_id);
    int rc = mkdir_p(dir, 0755, err, errlen);
    free(dir);
    if (rc < 0) return -1;

    char *dpath = shuffle_data_path(work_dir, app, shuffle_id, map);
    char *ipath = shuffle_index_path(work_dir, app, shuffle_id, map);
    /* the pid keeps two attempts on this worker from sharing a temp file */
    char *dtmp = xasprintf("%s.tmp.%ld", dpath, (long)getpid());
    char *itmp = xasprintf("%s.tmp.%ld", ipath, (long)getpid());
    uint8_t *index = malloc(((size_t)nparts + 1) * 8);
    int fd = -1;
    rc = -1;
    if (!index) {
        errf(err, errlen, "out of memory for an index of %" PRIu32 " partitions", nparts);
        goto out;
    }
    fd = open(dtmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        errf(err, errlen, "cannot create %s: %s", dtmp, strerror(errno));
        goto out;
    }
    uint64_t pos = 0;
    for (uint32_t p = 0; p < nparts; p++) {
        const shuffle_part *sp = &parts[p];
        uint64_t n = 0;
        put_u64le(index + (size_t)p * 8, pos);
        if (sp->spill_fd >= 0 && sp->spill_len > 0) {
            if (copy_spill(sp->spill_fd, sp->spill_len, fd, err, errlen) < 0) goto out;
            n += sp->spill_len;
        }
        if (sp->mem_len > 0) {
            if (write_all(fd, sp->mem, sp->mem_len) < 0) {
                errf(err, errlen, "cannot write %s: %s", dtmp, strerror(errno));
                goto out;
            }
            n += sp->mem_len;
        }
        if (sizes) sizes[p] = n;
        pos += n;
    }
    put_u64le(index + (size_t)nparts * 8, pos);
    int cfd = fd;
    fd = -1;
    if (close(cfd) < 0) {
        errf(err, errlen, "cannot write %s: %s", dtmp, strerror(errno));
        goto out;
    }
    if (write_new_file(itmp, index, ((size_t)nparts + 1) * 8, err, errlen) < 0) goto out;
    /* data first: a reader looks up the index, and the index appears last */
    if (rename(dtmp, dpath) < 0) {
        errf(err, errlen, "cannot rename %s: %s", dtmp, strerror(errno));
        goto out;
    }
    if (rename(itmp, ipath) < 0) {
        errf(err, errlen, "cannot rename %s: %s", itmp, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0) close(fd);
    if (rc < 0) {
        unlink(dtmp);
        unlink(itmp);
    }
    free(index);
    free(dtmp);
    free(itmp);
    free(dpath);
    free(ipath);
    return rc;
}

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
    fetch_req *cur; /* being streamed from fd */
    int fd;
    uint64_t off, left;
    struct peer *prev, *next;
} peer;

struct shuffle_server {
    struct event_base *base;
    const char *work_dir;
    logger *log;
    size_t max_frame;
    size_t piece; /* payload bytes per FetchData */
    uint8_t *buf; /* one piece, reused by every connection */
    uint64_t bytes, requests;
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
    s->buf = xmalloc(s->piece);
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
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
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
            p->fd = range_open(s->work_dir, r->app, r->shuffle, r->map, r->part, &p->off, &p->left, err, sizeof err);
            if (p->fd < 0) {
                if (s->log)
                    log_msg(s->log, LOG_INFO,
                            "fetch failed peer=%s app=%s shuffle=%" PRIu32 " map=%" PRIu32 " partition=%" PRIu32
                            " error=\"%s\"",
                            conn_peer(p->c), r->app, r->shuffle, r->map, r->part, err);
                peer_send_data(p, r->id, NULL, 0, 1, err);
                peer_finish_req(p);
                continue;
            }
            if (p->left == 0) {
                peer_send_data(p, r->id, NULL, 0, 1, NULL);
                peer_finish_req(p);
                continue;
            }
        }
        size_t want = p->left < s->piece ? (size_t)p->left : s->piece;
        ssize_t n = pread(p->fd, s->buf, want, (off_t)p->off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            char err[256];
            snprintf(err, sizeof err, "cannot read map %" PRIu32 " of shuffle %" PRIu32 ": %s", p->cur->map,
                     p->cur->shuffle, n < 0 ? strerror(errno) : "the data file ends early");
            if (s->log) log_msg(s->log, LOG_WARN, "shuffle read failed peer=%s error=\"%s\"", conn_peer(p->c), err);
            peer_send_data(p, p->cur->id, NULL, 0, 1, err);
            peer_finish_req(p);
            continue;
        }
        p->off += (uint64_t)n;
        p->left -= (uint64_t)n;
        s->bytes += (uint64_t)n;
        peer_send_data(p, p->cur->id, s->buf, (size_t)n, p->left == 0, NULL);
        if (p->left == 0) peer_finish_req(p);
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
        if (conn_handshake(c, &p->hs, m, why, sizeof why) < 0) peer_reject(p, 1, "%s", why);
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
    p->fd = -1;
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
    free(s->buf);
    free(s);
}

uint64_t shuffle_server_bytes(const shuffle_server *s)
{
    return s->bytes;
}

uint64_t shuffle_server_requests(const shuffle_server *s)
{
    return s->requests;
}

/* ---- fetching ---- */

/* The start of a block that began in an earlier chunk or piece. */
typedef struct carry {
    uint8_t *p;
    size_t len, cap;
} carry;

enum { FEED_OK = 0, FEED_CORRUPT = -1, FEED_STOP = -2 }; /* FEED_CORRUPT is errf's -1 */

/* Appends n bytes to the carry. 0, or -1 (out of memory) with a message. */
static int carry_append(carry *c, const uint8_t *d, size_t n, char *err, size_t errlen)
{
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 64 * 1024;
        while (cap < c->len + n)
            cap *= 2;
        uint8_t *p = realloc(c->p, cap);
        if (!p) return errf(err, errlen, "out of memory for a block of %zu bytes", c->len + n);
        c->p = p;
        c->cap = cap;
    }
    memcpy(c->p + c->len, d, n);
    c->len += n;
    return 0;
}

/*
 * Feeds the next n bytes of a stream of whole sealed blocks: calls cb with
 * every block completed, straight from d when the block lies inside it,
 * from the carry when it began earlier. FEED_OK, FEED_CORRUPT (message in
 * err) or FEED_STOP (cb returned -1).
 */
static int carry_feed(carry *c, const uint8_t *d, size_t n, fetch_block_fn cb, void *arg, char *err, size_t errlen)
{
    size_t total;
    while (n > 0) {
        if (c->len > 0) {
            int st = block_peek_size(c->p, c->len, &total);
            if (st < 0) return errf(err, errlen, "not a block header");
            size_t need = st == 0 ? BLOCK_HEADER_SIZE - c->len : total - c->len;
            size_t take = need < n ? need : n;
            if (carry_append(c, d, take, err, errlen) < 0) return FEED_CORRUPT;
            d += take;
            n -= take;
            if (st == 0 || c->len < total) continue;
            c->len = 0;
            if (cb(arg, c->p, total) < 0) return FEED_STOP;
            continue;
        }
        int st = block_peek_size(d, n, &total);
        if (st < 0) return errf(err, errlen, "not a block header");
        if (st == 1 && total <= n) {
            if (cb(arg, d, total) < 0) return FEED_STOP;
            d += total;
            n -= total;
            continue;
        }
        if (carry_append(c, d, n, err, errlen) < 0) return FEED_CORRUPT;
        n = 0;
    }
    return FEED_OK;
}

/* A worker the fetch reads from over the network. */
typedef struct remote {
    char hostport[300];
    const char *host;
    uint32_t port;
    int fd;
    size_t *locs; /* indices into in->blocks; request_id = position */
    size_t nlocs, cap_locs;
    size_t done;  /* requests answered in full */
    uint8_t *out; /* packed requests not yet sent */
    size_t out_len, out_off;
    uint8_t *in; /* bytes received, not yet parsed */
    size_t in_start, in_end, in_cap;
    carry carry;
} remote;

typedef struct fetch {
    const char *work_dir, *app;
    uint32_t local_id, part;
    size_t max_frame;
    const auth_secret *secret;
    const Kiln__ShuffleInput *in;
    fetch_block_fn cb;
    void *arg;
    fetch_stats *stats;
    char *err;
    size_t errlen;
    remote *remotes;
    size_t nremotes;
    /* local outputs, read one chunk per turn of the loop */
    size_t *local;
    size_t nlocal, local_next;
    const Kiln__BlockLoc *lloc; /* being read */
    int lfd;
    uint64_t loff, lleft;
    uint8_t *lbuf;
    carry lcarry;
} fetch;

/* Sets the fetch's message; returns -1. */
static int fetch_fail(fetch *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fetch_fail(fetch *f, const char *fmt, ...)
{
    if (f->err && f->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->err, f->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Reports a carry_feed failure for one map output of a worker. */
static int fetch_feed_fail(fetch *f, int st, const char *who, const Kiln__BlockLoc *loc, const char *why)
{
    if (st == FEED_STOP) return fetch_fail(f, "fetch stopped by its block callback");
    return fetch_fail(f,
                      "worker %s: map %" PRIu32 " of shuffle %" PRIu32 " (partition %" PRIu32 "): bad block stream: %s",
                      who, loc->map, f->in->shuffle_id, f->part, why);
}

/* "host:port", or "[v6]:port". */
static void format_hostport(char *buf, size_t n, const char *host, uint32_t port)
{
    if (strchr(host, ':'))
        snprintf(buf, n, "[%s]:%" PRIu32, host, port);
    else
        snprintf(buf, n, "%s:%" PRIu32, host, port);
}

/* A name for the local worker in messages. */
static void local_name(const fetch *f, const Kiln__BlockLoc *loc, char *buf, size_t n)
{
    char hp[300];
    if (loc->host && *loc->host) {
        format_hostport(hp, sizeof hp, loc->host, loc->port);
        snprintf(buf, n, "%s (this worker, id %" PRIu32 ")", hp, f->local_id);
    } else {
        snprintf(buf, n, "id %" PRIu32 " (this worker)", f->local_id);
    }
}

/* Reads one chunk of the local outputs, opening the next one when needed.
 * 0, or -1 with the message set. */
static int local_step(fetch *f)
{
    char why[512], who[400];
    if (f->lfd < 0) {
        if (f->local_next >= f->nlocal) return 0;
        f->lloc = f->in->blocks[f->local[f->local_next++]];
        f->lfd = range_open(f->work_dir, f->app, f->in->shuffle_id, f->lloc->map, f->part, &f->loff, &f->lleft, why,
                            sizeof why);
        if (f->lfd < 0) {
            local_name(f, f->lloc, who, sizeof who);
            return fetch_fail(f, "worker %s: map %" PRIu32 " of shuffle %" PRIu32 " (partition %" PRIu32 "): %s", who,
                              f->lloc->map, f->in->shuffle_id, f->part, why);
        }
        if (!f->lbuf && f->lleft > 0 && !(f->lbuf = malloc(LOCAL_CHUNK)))
            return fetch_fail(f, "out of memory for a %u byte read buffer", LOCAL_CHUNK);
    }
    if (f->lleft > 0) {
        size_t want = f->lleft < LOCAL_CHUNK ? (size_t)f->lleft : LOCAL_CHUNK;
        ssize_t n = pread(f->lfd, f->lbuf, want, (off_t)f->loff);
        if (n < 0 && errno == EINTR) return 0;
        if (n <= 0) {
            local_name(f, f->lloc, who, sizeof who);
            return fetch_fail(f, "worker %s: map %" PRIu32 " of shuffle %" PRIu32 " (partition %" PRIu32 "): read: %s",
                              who, f->lloc->map, f->in->shuffle_id, f->part,
                              n < 0 ? strerror(errno) : "the data file ends early");
        }
        f->loff += (uint64_t)n;
        f->lleft -= (uint64_t)n;
        f->stats->local_bytes += (uint64_t)n;
        int st = carry_feed(&f->lcarry, f->lbuf, (size_t)n, f->cb, f->arg, why, sizeof why);
        if (st != FEED_OK) {
            local_name(f, f->lloc, who, sizeof who);
            return fetch_feed_fail(f, st, who, f->lloc, why);
        }
    }
    if (f->lleft == 0) {
        close(f->lfd);
        f->lfd = -1;
        if (f->lcarry.len > 0) {
            local_name(f, f->lloc, who, sizeof who);
            return fetch_feed_fail(f, FEED_CORRUPT, who, f->lloc, "the partition ends inside a block");
        }
    }
    return 0;
}

/* True while local outputs remain to be read. */
static int local_pending(const fetch *f)
{
    return f->lfd >= 0 || f->local_next < f->nlocal;
}

/* The map output a remote is sending now (or the last one), for messages. */
static const Kiln__BlockLoc *remote_cur(const fetch *f, const remote *r)
{
    size_t i = r->done < r->nlocs ? r->done : r->nlocs - 1;
    return f->in->blocks[r->locs[i]];
}

/* Fails the fetch naming the worker and the map output it is sending. */
static int remote_fail(fetch *f, const remote *r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int remote_fail(fetch *f, const remote *r, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    const Kiln__BlockLoc *loc = remote_cur(f, r);
    return fetch_fail(f, "worker %s: map %" PRIu32 " of shuffle %" PRIu32 " (partition %" PRIu32 "): %s", r->hostport,
                      loc->map, f->in->shuffle_id, f->part, why);
}

/* Connects, shakes hands and packs every request for one worker. */
static int remote_open(fetch *f, remote *r)
{
    char why[512];
    r->fd = net_connect_blocking(r->hostport, why, sizeof why);
    if (r->fd < 0) return remote_fail(f, r, "%s", why);
    msg_reader rd;
    msg_reader_init(&rd, r->fd, f->max_frame);
    /* a worker that accepts but never answers must not hang the task */
    struct timeval tv = {HANDSHAKE_S, 0};
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int rc = msg_handshake_fd(r->fd, &rd, KILN__ROLE__ROLE_PEER, "fetch", f->secret, why, sizeof why);
    if (rc == 0) {
        /* keep whatever arrived after the hello_ack */
        size_t extra = rd.end - rd.start;
        r->in_cap = PIECE_MAX + RECV_MIN;
        if (r->in_cap < extra) r->in_cap = extra;
        r->in = malloc(r->in_cap);
        if (!r->in) {
            rc = remote_fail(f, r, "out of memory for a receive buffer");
        } else {
            memcpy(r->in, rd.buf + rd.start, extra);
            r->in_end = extra;
        }
    } else {
        remote_fail(f, r, "%s", why);
    }
    msg_reader_release(&rd);
    if (rc < 0) return -1;
    int fl = fcntl(r->fd, F_GETFL);
    if (fl < 0 || fcntl(r->fd, F_SETFL, fl | O_NONBLOCK) < 0) return remote_fail(f, r, "fcntl: %s", strerror(errno));

    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__FetchRequest fr = KILN__FETCH_REQUEST__INIT;
    fr.app_id = (char *)f->app;
    fr.shuffle_id = f->in->shuffle_id;
    fr.partition = f->part;
    MSG_BODY(env, fetch_request, FETCH_REQUEST, &fr);
    size_t total = 0;
    for (size_t i = 0; i < r->nlocs; i++) {
        fr.request_id = (uint32_t)i;
        fr.map = f->in->blocks[r->locs[i]]->map;
        total += FRAME_HEADER + kiln__envelope__get_packed_size(&env);
    }
    r->out = malloc(total);
    if (!r->out) return remote_fail(f, r, "out of memory for %zu requests", r->nlocs);
    for (size_t i = 0; i < r->nlocs; i++) {
        fr.request_id = (uint32_t)i;
        fr.map = f->in->blocks[r->locs[i]]->map;
        size_t n = kiln__envelope__get_packed_size(&env);
        frame_put_header(r->out + r->out_len, (uint32_t)n);
        kiln__envelope__pack(&env, r->out + r->out_len + FRAME_HEADER);
        r->out_len += FRAME_HEADER + n;
    }
    return 0;
}

/* Writes what the socket takes of the queued requests. */
static int remote_flush(fetch *f, remote *r)
{
    while (r->out_off < r->out_len) {
        ssize_t n = send(r->fd, r->out + r->out_off, r->out_len - r->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        if (n < 0) return remote_fail(f, r, "connection lost while sending requests: %s", strerror(errno));
        r->out_off += (size_t)n;
    }
    free(r->out);
    r->out = NULL;
    r->out_len = r->out_off = 0;
    return 0;
}

/* Handles one decoded message from a worker. */
static int remote_handle(fetch *f, remote *r, const Kiln__Envelope *m)
{
    char why[512];
    if (r->done >= r->nlocs) return remote_fail(f, r, "unexpected %s after the last answer", msg_name(m));
    if (m->body_case == KILN__ENVELOPE__BODY_ERROR) return remote_fail(f, r, "refused: %s", m->error->message);
    if (m->body_case != KILN__ENVELOPE__BODY_FETCH_DATA) return remote_fail(f, r, "unexpected %s", msg_name(m));
    const Kiln__FetchData *d = m->fetch_data;
    if (d->request_id != r->done)
        return remote_fail(f, r, "answer to request %" PRIu32 " while expecting %zu", d->request_id, r->done);
    if (d->error && *d->error) return remote_fail(f, r, "%s", d->error);
    f->stats->remote_bytes += d->data.len;
    int st = carry_feed(&r->carry, d->data.data, d->data.len, f->cb, f->arg, why, sizeof why);
    if (st != FEED_OK) return fetch_feed_fail(f, st, r->hostport, remote_cur(f, r), why);
    if (!d->last) return 0;
    if (r->carry.len > 0)
        return fetch_feed_fail(f, FEED_CORRUPT, r->hostport, remote_cur(f, r), "the partition ends inside a block");
    if (++r->done == r->nlocs) {
        close(r->fd);
        r->fd = -1;
    }
    return 0;
}

/* Reads what the socket has and handles every whole frame. */
static int remote_read(fetch *f, remote *r)
{
    char why[512];
    size_t have = r->in_end - r->in_start, len = 0;
    int st = frame_parse(r->in + r->in_start, have, f->max_frame, &len, why, sizeof why);
    if (st == FRAME_ERROR) return remote_fail(f, r, "%s", why);
    /* free space wanted: the rest of a partial frame, and at least RECV_MIN */
    size_t room = RECV_MIN;
    if (st == FRAME_NEED_MORE && FRAME_HEADER + len > have && FRAME_HEADER + len - have > room)
        room = FRAME_HEADER + len - have;
    if (r->in_cap - r->in_end < room) {
        memmove(r->in, r->in + r->in_start, have);
        r->in_start = 0;
        r->in_end = have;
        if (r->in_cap - have < room) {
            uint8_t *p = realloc(r->in, have + room);
            if (!p) return remote_fail(f, r, "out of memory for a frame of %zu bytes", FRAME_HEADER + len);
            r->in = p;
            r->in_cap = have + room;
        }
    }
    ssize_t n = read(r->fd, r->in + r->in_end, r->in_cap - r->in_end);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (n < 0) return remote_fail(f, r, "connection lost: %s", strerror(errno));
    if (n == 0) return remote_fail(f, r, "the worker closed the connection");
    r->in_end += (size_t)n;
    while (r->fd >= 0) {
        st = frame_parse(r->in + r->in_start, r->in_end - r->in_start, f->max_frame, &len, why, sizeof why);
        if (st == FRAME_ERROR) return remote_fail(f, r, "%s", why);
        if (st == FRAME_NEED_MORE) break;
        Kiln__Envelope *m = msg_decode(r->in + r->in_start + FRAME_HEADER, len, why, sizeof why);
        r->in_start += FRAME_HEADER + len;
        if (!m) return remote_fail(f, r, "%s", why);
        int rc = remote_handle(f, r, m);
        msg_free(m);
        if (rc < 0) return -1;
    }
    if (r->in_start == r->in_end) r->in_start = r->in_end = 0;
    return 0;
}

/* Sorts the block list into local outputs and one group per remote worker. */
static int fetch_plan(fetch *f)
{
    const Kiln__ShuffleInput *in = f->in;
    f->local = malloc((in->n_blocks ? in->n_blocks : 1) * sizeof *f->local);
    if (!f->local) return fetch_fail(f, "out of memory planning a fetch");
    for (size_t i = 0; i < in->n_blocks; i++) {
        const Kiln__BlockLoc *loc = in->blocks[i];
        if (loc->length == 0) continue;
        if (loc->worker_id == f->local_id) {
            f->local[f->nlocal++] = i;
            continue;
        }
        const char *host = loc->host ? loc->host : "";
        if (!*host || loc->port == 0 || loc->port > 65535)
            return fetch_fail(f, "map %" PRIu32 " of shuffle %" PRIu32 " has no valid worker address ('%s', port %u)",
                              loc->map, in->shuffle_id, host, loc->port);
        remote *r = NULL;
        for (size_t j = 0; j < f->nremotes && !r; j++)
            if (f->remotes[j].port == loc->port && !strcmp(f->remotes[j].host, host)) r = &f->remotes[j];
        if (!r) {
            remote *rs = realloc(f->remotes, (f->nremotes + 1) * sizeof *rs);
            if (!rs) return fetch_fail(f, "out of memory planning a fetch");
            f->remotes = rs;
            r = &rs[f->nremotes++];
            memset(r, 0, sizeof *r);
            r->fd = -1;
            r->host = host;
            r->port = loc->port;
            format_hostport(r->hostport, sizeof r->hostport, host, loc->port);
        }
        if (r->nlocs == r->cap_locs) {
            size_t cap = r->cap_locs ? r->cap_locs * 2 : 16;
            size_t *p = realloc(r->locs, cap * sizeof *p);
            if (!p) return fetch_fail(f, "out of memory planning a fetch");
            r->locs = p;
            r->cap_locs = cap;
        }
        r->locs[r->nlocs++] = i;
    }
    return 0;
}

/* The turn-by-turn loop: poll the workers (without waiting while local
 * chunks remain), serve what is ready, then read one local chunk. */
static int fetch_loop(fetch *f)
{
    struct pollfd *pfd = malloc((f->nremotes ? f->nremotes : 1) * sizeof *pfd);
    remote **who = malloc((f->nremotes ? f->nremotes : 1) * sizeof *who);
    int rc = 0;
    if (!pfd || !who) rc = fetch_fail(f, "out of memory in a fetch");
    while (rc == 0) {
        nfds_t k = 0;
        for (size_t i = 0; i < f->nremotes; i++) {
            remote *r = &f->remotes[i];
            if (r->fd < 0) continue;
            pfd[k].fd = r->fd;
            pfd[k].events = POLLIN | (r->out ? POLLOUT : 0);
            pfd[k].revents = 0;
            who[k++] = r;
        }
        int local = local_pending(f);
        if (k == 0 && !local) break;
        if (k > 0) {
            int n = poll(pfd, k, local ? 0 : FETCH_IDLE_MS);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                rc = fetch_fail(f, "poll: %s", strerror(errno));
                break;
            }
            if (n == 0 && !local) {
                rc = remote_fail(f, who[0], "no data for %d s", FETCH_IDLE_MS / 1000);
                break;
            }
            for (nfds_t i = 0; i < k && rc == 0; i++) {
                if ((pfd[i].revents & POLLOUT) && who[i]->out) rc = remote_flush(f, who[i]);
                if (rc == 0 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) rc = remote_read(f, who[i]);
            }
        }
        if (rc == 0 && local) rc = local_step(f);
    }
    free(pfd);
    free(who);
    return rc;
}

int shuffle_fetch(const char *work_dir, const char *app_id, uint32_t local_worker_id, const Kiln__ShuffleInput *in,
                  uint32_t part, size_t max_frame, const auth_secret *secret, fetch_block_fn cb, void *arg,
                  fetch_stats *stats, char *err, size_t errlen)
{
    fetch_stats dummy;
    fetch f;
    memset(&f, 0, sizeof f);
    f.work_dir = work_dir;
    f.app = app_id;
    f.local_id = local_worker_id;
    f.part = part;
    f.max_frame = max_frame ? max_frame : FRAME_MAX_DEFAULT;
    f.secret = secret;
    f.in = in;
    f.cb = cb;
    f.arg = arg;
    f.stats = stats ? stats : &dummy;
    f.err = err;
    f.errlen = errlen;
    f.lfd = -1;
    memset(f.stats, 0, sizeof *f.stats);
    if (!name_is_safe(app_id)) return fetch_fail(&f, "bad application id '%s'", app_id ? app_id : "");

    int rc = fetch_plan(&f);
    f.stats->remote_workers = (uint32_t)f.nremotes;
    /* every request goes out first, so the workers stream while we read locally */
    for (size_t i = 0; rc == 0 && i < f.nremotes; i++)
        rc = remote_open(&f, &f.remotes[i]);
    for (size_t i = 0; rc == 0 && i < f.nremotes; i++)
        rc = remote_flush(&f, &f.remotes[i]);
    if (rc == 0) rc = fetch_loop(&f);

    for (size_t i = 0; i < f.nremotes; i++) {
        remote *r = &f.remotes[i];
        if (r->fd >= 0) close(r->fd);
        free(r->locs);
        free(r->out);
        free(r->in);
        free(r->carry.p);
    }
    free(f.remotes);
    free(f.local);
    if (f.lfd >= 0) close(f.lfd);
    free(f.lbuf);
    free(f.lcarry.p);
    return rc;
}
