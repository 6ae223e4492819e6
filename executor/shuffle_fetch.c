/*
 * shuffle_fetch.c - the blocks of one reduce partition, for an executor:
 * local map outputs straight from disk, remote ones from every worker that
 * has some, at once, with all requests to a worker pipelined. Plain
 * blocking code (poll), no event loop.
 *
 * The one idea: nothing is ever held whole. The fetcher reads in chunks
 * and cuts whole blocks out of the stream as it goes, keeping only the one
 * block that straddles two chunks (the carry). A worker answers the
 * requests on one connection in order, so one carry per connection is
 * enough.
 */
#include "shuffle_fetch.h"

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
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "block.h"
#include "frame.h"
#include "handshake.h"
#include "msg.h"
#include "net.h"
#include "shuffle.h"
#include "util.h"

#define LOCAL_CHUNK   (8u << 20) /* what the local fetch maps (or reads) at a time */
#define RECV_MIN      (256u << 10)
#define RECV_BUF      (8u << 20)  /* a remote connection's receive buffer */
#define FETCH_IDLE_MS (30 * 1000) /* no byte from any worker for this long fails the fetch */
#define HANDSHAKE_S   10                  /* seconds a worker has to answer the hello */

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
