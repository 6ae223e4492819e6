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
 * The one idea: nothing is ever held whole. The writer appends blocks to
 * the data file as the map task seals them; the server streams a range as pieces of at most 1 MiB read
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>

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
#define LOCAL_CHUNK   (8u << 20) /* what the local fetch maps (or reads) at a time */
#define RECV_MIN      (256u << 10)
#define RECV_BUF      (8u << 20)  /* a remote connection's receive buffer */
#define FETCH_IDLE_MS (30 * 1000) /* no byte from any worker for this long fails the fetch */
#define INDEX_MAGIC   0x5844494bu /* "KIDX" */
#define INDEX_HEAD    8
#define HANDSHAKE_S   10                  /* seconds a worker has to answer the hello */
#define REQUEST_MAX   FRAME_HANDSHAKE_MAX /* a FetchRequest: four integers and an app id of <= 128 bytes */

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

/* pread of exactly n bytes at off. 0, or -1 with a message. */
static int pread_exact(int fd, void *buf, size_t n, uint64_t off, const char *path, char *err, size_t errlen)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return errf(err, errlen, "cannot read %s: %s", path, k < 0 ? strerror(errno) : "short read");
        got += (size_t)k;
    }
    return 0;
}

int shuffle_index_lookup(const char *index_path, uint32_t p, shuffle_extent **ext, size_t *next, uint64_t *total,
                         char *err, size_t errlen)
{
    *ext = NULL;
    *next = 0;
    *total = 0;
    int fd = open(index_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return errf(err, errlen, "no such map output (%s)", index_path);
        return errf(err, errlen, "cannot open %s: %s", index_path, strerror(errno));
    }
    struct stat st;
    uint8_t h[INDEX_HEAD], b[16];
    int rc = -1;
    shuffle_extent *e = NULL;
    if (fstat(fd, &st) < 0) {
        errf(err, errlen, "cannot stat %s: %s", index_path, strerror(errno));
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < INDEX_HEAD + 16 || pread_exact(fd, h, sizeof h, 0, index_path, err, errlen) < 0 ||
        get_u32le(h) != INDEX_MAGIC) {
        if (size >= INDEX_HEAD + 16 && get_u32le(h) == INDEX_MAGIC) goto out; /* the read failed: err is set */
        errf(err, errlen, "corrupt index %s (%" PRIu64 " bytes, no index header)", index_path, size);
        goto out;
    }
    uint32_t nparts = get_u32le(h + 4);
    uint64_t firsts = INDEX_HEAD + ((uint64_t)nparts + 1) * 8; /* where the extents start */
    if (firsts > size) {
        errf(err, errlen, "corrupt index %s (%" PRIu32 " partitions in %" PRIu64 " bytes)", index_path, nparts, size);
        goto out;
    }
    if (p >= nparts) {
        errf(err, errlen, "partition %" PRIu32 " out of range (the output has %" PRIu32 ")", p, nparts);
        goto out;
    }
    uint64_t nall = (size - firsts) / 16;
    if ((size - firsts) % 16) {
        errf(err, errlen, "corrupt index %s (a partial extent)", index_path);
        goto out;
    }
    if (pread_exact(fd, b, 16, INDEX_HEAD + (uint64_t)p * 8, index_path, err, errlen) < 0) goto out;
    uint64_t lo = get_u64le(b), hi = get_u64le(b + 8);
    if (lo > hi || hi > nall) {
        errf(err, errlen,
             "corrupt index %s (extents %" PRIu64 "..%" PRIu64 " of %" PRIu64 " for partition %" PRIu32 ")", index_path,
             lo, hi, nall, p);
        goto out;
    }
    size_t n = (size_t)(hi - lo);
    if (n) {
        uint8_t *raw = malloc(n * 16);
        e = malloc(n * sizeof *e);
        if (!raw || !e) {
            free(raw);
            errf(err, errlen, "out of memory for %zu extents", n);
            goto out;
        }
        if (pread_exact(fd, raw, n * 16, firsts + lo * 16, index_path, err, errlen) < 0) {
            free(raw);
            goto out;
        }
        uint64_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            e[i].off = get_u64le(raw + 16 * i);
            e[i].len = get_u64le(raw + 16 * i + 8);
            if (e[i].len == 0 || e[i].off + e[i].len < e[i].off || sum + e[i].len < sum) {
                free(raw);
                errf(err, errlen, "corrupt index %s (extent %zu of partition %" PRIu32 ")", index_path, i, p);
                goto out;
            }
            sum += e[i].len;
        }
        free(raw);
        *total = sum;
    }
    *ext = e;
    *next = n;
    e = NULL;
    rc = 0;
out:
    free(e);
    close(fd);
    return rc;
}

int shuffle_range_open(shuffle_range *r, const char *work_dir, const char *app, uint32_t shuffle, uint32_t map,
                       uint32_t p, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    char *ipath = shuffle_index_path(work_dir, app, shuffle, map);
    char *dpath = shuffle_data_path(work_dir, app, shuffle, map);
    int rc = -1;
    if (shuffle_index_lookup(ipath, p, &r->ext, &r->n, &r->total, err, errlen) == 0) {
        struct stat st;
        uint64_t end = 0;
        for (size_t i = 0; i < r->n; i++)
            if (r->ext[i].off + r->ext[i].len > end) end = r->ext[i].off + r->ext[i].len;
        r->fd = open(dpath, O_RDONLY | O_CLOEXEC);
        if (r->fd < 0) {
            errf(err, errlen, "cannot open %s: %s", dpath, strerror(errno));
        } else if (fstat(r->fd, &st) < 0 || (uint64_t)st.st_size < end) {
            errf(err, errlen, "%s is shorter than its index says (%" PRIu64 " bytes needed)", dpath, end);
        } else {
            r->left = r->n ? r->ext[0].len : 0;
            rc = 0;
        }
    }
    if (rc < 0) shuffle_range_close(r);
    free(ipath);
    free(dpath);
    return rc;
}

int shuffle_range_next(shuffle_range *r, size_t max, uint64_t *off, size_t *len)
{
    while (r->i < r->n && r->left == 0)
        if (++r->i < r->n) r->left = r->ext[r->i].len;
    if (r->i >= r->n) return 0;
    *off = r->ext[r->i].off + (r->ext[r->i].len - r->left);
    *len = r->left < max ? (size_t)r->left : max;
    return 1;
}

void shuffle_range_advance(shuffle_range *r, size_t n)
{
    r->left -= n;
}

void shuffle_range_close(shuffle_range *r)
{
    if (r->fd >= 0) close(r->fd);
    free(r->ext);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

/* ---- writing a map output ---- */

typedef struct part_extents {
    shuffle_extent *e;
    size_t n, cap;
} part_extents;

struct shuffle_out {
    char *dpath, *ipath, *dtmp, *itmp;
    int fd;
    uint64_t pos;
    uint32_t nparts;
    part_extents *parts;
};

shuffle_out *shuffle_out_open(const char *work_dir, const char *app, uint32_t shuffle_id, uint32_t map, uint32_t nparts,
                              char *err, size_t errlen)
{
    if (nparts == 0) {
        errf(err, errlen, "a map output needs at least one partition");
        return NULL;
    }
    char *dir = shuffle_dir_path(work_dir, app, shuffle_id);
    int rc = mkdir_p(dir, 0755, err, errlen);
    free(dir);
    if (rc < 0) return NULL;
    shuffle_out *o = xcalloc(1, sizeof *o);
    o->dpath = shuffle_data_path(work_dir, app, shuffle_id, map);
    o->ipath = shuffle_index_path(work_dir, app, shuffle_id, map);
    /* the pid keeps two attempts on this worker from sharing a temp file */
    o->dtmp = xasprintf("%s.tmp.%ld", o->dpath, (long)getpid());
    o->itmp = xasprintf("%s.tmp.%ld", o->ipath, (long)getpid());
    o->nparts = nparts;
    o->parts = calloc(nparts, sizeof *o->parts);
    o->fd = open(o->dtmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (!o->parts || o->fd < 0) {
        if (!o->parts)
            errf(err, errlen, "out of memory for %" PRIu32 " partitions", nparts);
        else
            errf(err, errlen, "cannot create %s: %s", o->dtmp, strerror(errno));
        shuffle_out_abort(o);
        return NULL;
    }
    return o;
}

int shuffle_out_append(shuffle_out *o, uint32_t p, const struct iovec *iov, int niov, char *err, size_t errlen)
{
    if (p >= o->nparts) return errf(err, errlen, "partition %" PRIu32 " of %" PRIu32, p, o->nparts);
    uint64_t n = 0;
    for (int i = 0; i < niov; i++)
        n += iov[i].iov_len;
    if (n == 0) return 0;
    if (writev_all(o->fd, iov, niov) < 0) return errf(err, errlen, "cannot write %s: %s", o->dtmp, strerror(errno));
    part_extents *pe = &o->parts[p];
    if (pe->n && pe->e[pe->n - 1].off + pe->e[pe->n - 1].len == o->pos) {
        pe->e[pe->n - 1].len += n; /* follows the partition's last extent: one longer extent */
    } else {
        if (pe->n == pe->cap) {
            size_t cap = pe->cap ? 2 * pe->cap : 8;
            shuffle_extent *ne = realloc(pe->e, cap * sizeof *ne);
            if (!ne) return errf(err, errlen, "out of memory for the index");
            pe->e = ne;
            pe->cap = cap;
        }
        pe->e[pe->n++] = (shuffle_extent){o->pos, n};
    }
    o->pos += n;
    return 0;
}

int shuffle_out_commit(shuffle_out *o, uint64_t *sizes, char *err, size_t errlen)
{
    size_t nall = 0;
    for (uint32_t p = 0; p < o->nparts; p++)
        nall += o->parts[p].n;
    size_t ilen = INDEX_HEAD + ((size_t)o->nparts + 1) * 8 + nall * 16;
    uint8_t *index = malloc(ilen);
    int rc = -1;
    if (!index) {
        errf(err, errlen, "out of memory for an index of %zu extents", nall);
        goto out;
    }
    put_u32le(index, INDEX_MAGIC);
    put_u32le(index + 4, o->nparts);
    uint8_t *first = index + INDEX_HEAD, *ext = first + ((size_t)o->nparts + 1) * 8;
    size_t k = 0;
    for (uint32_t p = 0; p < o->nparts; p++) {
        const part_extents *pe = &o->parts[p];
        uint64_t sum = 0;
        put_u64le(first + (size_t)p * 8, k);
        for (size_t i = 0; i < pe->n; i++, k++) {
            put_u64le(ext + 16 * k, pe->e[i].off);
            put_u64le(ext + 16 * k + 8, pe->e[i].len);
            sum += pe->e[i].len;
        }
        if (sizes) sizes[p] = sum;
    }
    put_u64le(first + (size_t)o->nparts * 8, k);
    int fd = o->fd;
    o->fd = -1;
    if (close(fd) < 0) {
        errf(err, errlen, "cannot write %s: %s", o->dtmp, strerror(errno));
        goto out;
    }
    if (write_new_file(o->itmp, index, ilen, err, errlen) < 0) goto out;
    /* data first: a reader looks up the index, and the index appears last */
    if (rename(o->dtmp, o->dpath) < 0) {
        errf(err, errlen, "cannot rename %s: %s", o->dtmp, strerror(errno));
        goto out;
    }
    if (rename(o->itmp, o->ipath) < 0) {
        errf(err, errlen, "cannot rename %s: %s", o->itmp, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(index);
    if (rc == 0) {
        free(o->dtmp); /* renamed: nothing for abort to remove */
        free(o->itmp);
        o->dtmp = o->itmp = NULL;
    }
    shuffle_out_abort(o);
    return rc;
}

void shuffle_out_abort(shuffle_out *o)
{
    if (!o) return;
    if (o->fd >= 0) close(o->fd);
    if (o->dtmp) unlink(o->dtmp);
    if (o->itmp) unlink(o->itmp);
    for (uint32_t p = 0; o->parts && p < o->nparts; p++)
        free(o->parts[p].e);
    free(o->parts);
    free(o->dpath);
    free(o->ipath);
    free(o->dtmp);
    free(o->itmp);
    free(o);
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
    seal seal; /* with a secret: every frame after the handshake is sealed */
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
    shuffle_range lrg;          /* open while lloc is */
    int lopen;
    uint8_t *lbuf; /* only when mapping fails */
    size_t page;
    carry lcarry;
} fetch;

/* Records which map output could not be read (the driver reruns it). */
static void fetch_blame(fetch *f, const Kiln__BlockLoc *loc)
{
    if (f->stats->failed) return;
    f->stats->failed = 1;
    f->stats->failed_map = loc->map;
    f->stats->failed_worker = loc->worker_id;
}

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
    fetch_blame(f, loc);
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
    if (!f->lopen) {
        if (f->local_next >= f->nlocal) return 0;
        f->lloc = f->in->blocks[f->local[f->local_next++]];
        if (shuffle_range_open(&f->lrg, f->work_dir, f->app, f->in->shuffle_id, f->lloc->map, f->part, why,
                               sizeof why) < 0) {
            fetch_blame(f, f->lloc);
            local_name(f, f->lloc, who, sizeof who);
            return fetch_fail(f, "worker %s: map %" PRIu32 " of shuffle %" PRIu32 " (partition %" PRIu32 "): %s", who,
                              f->lloc->map, f->in->shuffle_id, f->part, why);
        }
        f->lopen = 1;
    }
    uint64_t off;
    size_t want;
    if (shuffle_range_next(&f->lrg, LOCAL_CHUNK, &off, &want)) {
        /* mapped, not read: the blocks are cut out of the page cache in
         * place (no copy); pread into a buffer if mapping fails */
        uint64_t base = off & ~(uint64_t)(f->page - 1);
        size_t span = want + (size_t)(off - base);
        void *map = mmap(NULL, span, PROT_READ, MAP_PRIVATE | MAP_POPULATE, f->lrg.fd, (off_t)base);
        const uint8_t *data;
        ssize_t n;
        if (map != MAP_FAILED) {
            data = (const uint8_t *)map + (off - base);
            n = (ssize_t)want;
        } else {
            if (!f->lbuf && !(f->lbuf = malloc(LOCAL_CHUNK)))
                return fetch_fail(f, "out of memory for a %u byte read buffer", LOCAL_CHUNK);
            n = pread(f->lrg.fd, f->lbuf, want, (off_t)off);
            if (n < 0 && errno == EINTR) return 0;
            data = f->lbuf;
        }
        if (n <= 0) {
            fetch_blame(f, f->lloc);
            local_name(f, f->lloc, who, sizeof who);
            return fetch_fail(f, "worker %s: map %" PRIu32 " of shuffle %" PRIu32 " (partition %" PRIu32 "): read: %s",
                              who, f->lloc->map, f->in->shuffle_id, f->part,
                              n < 0 ? strerror(errno) : "the data file ends early");
        }
        shuffle_range_advance(&f->lrg, (size_t)n);
        f->stats->local_bytes += (uint64_t)n;
        int st = carry_feed(&f->lcarry, data, (size_t)n, f->cb, f->arg, why, sizeof why);
        if (map != MAP_FAILED) munmap(map, span);
        if (st != FEED_OK) {
            local_name(f, f->lloc, who, sizeof who);
            return fetch_feed_fail(f, st, who, f->lloc, why);
        }
    }
    if (!shuffle_range_next(&f->lrg, 1, &off, &want)) {
        shuffle_range_close(&f->lrg);
        f->lopen = 0;
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
    return f->lopen || f->local_next < f->nlocal;
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
    fetch_blame(f, loc);
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
    int rc = msg_handshake_fd(r->fd, &rd, KILN__ROLE__ROLE_PEER, "fetch", f->secret, &r->seal, why, sizeof why);
    if (rc == 0) {
        /* keep whatever arrived after the hello_ack */
        size_t extra = rd.end - rd.start;
        r->in_cap = RECV_BUF; /* frames of 1 MiB: moving a partial one to the front is rare */
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
        total += msg_frame_size(&r->seal.tx, &env);
    }
    r->out = malloc(total);
    if (!r->out) return remote_fail(f, r, "out of memory for %zu requests", r->nlocs);
    for (size_t i = 0; i < r->nlocs; i++) {
        fr.request_id = (uint32_t)i;
        fr.map = f->in->blocks[r->locs[i]]->map;
        size_t n = msg_pack_frame_into(r->out + r->out_len, &r->seal.tx, &env);
        if (!n) return remote_fail(f, r, "cannot seal a request (libcrypto)");
        r->out_len += n;
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

/* Handles one piece of the answer to the request being answered. */
static int remote_piece(fetch *f, remote *r, uint32_t id, int last, const uint8_t *data, size_t len)
{
    char why[512];
    if (r->done >= r->nlocs) return remote_fail(f, r, "unexpected data after the last answer");
    if (id != r->done) return remote_fail(f, r, "answer to request %" PRIu32 " while expecting %zu", id, r->done);
    f->stats->remote_bytes += len;
    int st = carry_feed(&r->carry, data, len, f->cb, f->arg, why, sizeof why);
    if (st != FEED_OK) return fetch_feed_fail(f, st, r->hostport, remote_cur(f, r), why);
    if (!last) return 0;
    if (r->carry.len > 0)
        return fetch_feed_fail(f, FEED_CORRUPT, r->hostport, remote_cur(f, r), "the partition ends inside a block");
    if (++r->done == r->nlocs) {
        close(r->fd);
        r->fd = -1;
    }
    return 0;
}

/* Handles one decoded message from a worker: an error, or a failed piece. */
static int remote_handle(fetch *f, remote *r, const Kiln__Envelope *m)
{
    if (r->done >= r->nlocs) return remote_fail(f, r, "unexpected %s after the last answer", msg_name(m));
    if (m->body_case == KILN__ENVELOPE__BODY_ERROR) return remote_fail(f, r, "refused: %s", m->error->message);
    if (m->body_case != KILN__ENVELOPE__BODY_FETCH_DATA) return remote_fail(f, r, "unexpected %s", msg_name(m));
    const Kiln__FetchData *d = m->fetch_data;
    if (d->request_id == r->done && d->error && *d->error) return remote_fail(f, r, "%s", d->error);
    return remote_piece(f, r, d->request_id, d->last, d->data.data, d->data.len);
}

/* Reads what the socket has and handles every whole frame. */
static int remote_read(fetch *f, remote *r)
{
    char why[512];
    size_t have = r->in_end - r->in_start, len = 0, max = seal_frame_max(&r->seal.rx, f->max_frame);
    int sealed = seal_on(&r->seal.rx);
    int st = frame_parse(r->in + r->in_start, have, max, &len, why, sizeof why);
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
        st = frame_parse(r->in + r->in_start, r->in_end - r->in_start, max, &len, why, sizeof why);
        if (st == FRAME_ERROR) return remote_fail(f, r, "%s", why);
        if (st == FRAME_NEED_MORE) break;
        const uint8_t *payload = r->in + r->in_start + FRAME_HEADER;
        size_t plen = len;
        if (sealed) { /* checked in place, before any of it is used */
            if (seal_check(&r->seal.rx, payload - FRAME_HEADER, FRAME_HEADER + len, why, sizeof why) < 0)
                return remote_fail(f, r, "%s", why);
            plen = len - SEAL_TAG_LEN;
        }
        uint32_t id;
        int last;
        const uint8_t *data;
        size_t dlen;
        if (msg_peek_fetch_data(payload, plen, &id, &last, &data, &dlen) == 1) {
            /* the usual piece: its blocks are read where they arrived */
            r->in_start += FRAME_HEADER + len;
            if (remote_piece(f, r, id, last, data, dlen) < 0) return -1;
            continue;
        }
        Kiln__Envelope *m = msg_decode(payload, plen, why, sizeof why);
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
    f.lrg.fd = -1;
    f.page = (size_t)sysconf(_SC_PAGESIZE);
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
        seal_release(&r->seal);
    }
    free(f.remotes);
    free(f.local);
    if (f.lopen) shuffle_range_close(&f.lrg);
    free(f.lbuf);
    free(f.lcarry.p);
    return rc;
}
