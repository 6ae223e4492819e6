/*
 * store.c - the driver's content-addressed store of libraries, broadcast
 * values and broadcast stage functions: state-dir/blobs/<sha256>.
 *
 * Uploads arrive as ordered BlobPut pieces on one client connection, are
 * written to a temporary file while hashed, and become visible under their
 * hash only when the whole content matches it. Workers fetch a blob with
 * BlobGet and receive it as ordered BlobChunk pieces, queued while the
 * connection has under STORE_OUT_HIGH unsent (the rest as it drains), so
 * a worker that asks and does not read holds neither memory nor files.
 *
 * Retention: every application records the blobs it uses (store_use); a
 * blob no running application uses is dropped once its file's mtime, set
 * at each use and when the last application using it ended, is older than
 * store.retention. After a driver crash no application runs, so the
 * mtimes alone decide.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"
#include "msg.h"
#include "util.h"

#define CHUNK           (1u << 20)
#define HEAD_MAX        256 /* a BlobChunk without its data: hash, sizes, flags */
#define BLOB_CHUNK_DATA 4   /* BlobChunk.data's field number (proto/kiln.proto) */

static void blob_path(driver *d, const char *hash, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", d->blob_dir, hash);
}

int store_has(driver *d, const char *hash)
{
    char path[4200];
    blob_path(d, hash, path, sizeof path);
    return access(path, R_OK) == 0;
}

int store_put_bytes(driver *d, const char *hash, const void *p, size_t n, char *err, size_t errlen)
{
    if (store_has(d, hash)) return 0;
    char path[4200];
    blob_path(d, hash, path, sizeof path);
    return write_file_atomic(path, p, n, err, errlen);
}

void store_upload_abort(dconn *dc)
{
    blob_recv_abort(&dc->up);
}

static void put_done(dconn *dc, const char *hash, const char *error)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__BlobPutDone m = KILN__BLOB_PUT_DONE__INIT;
    m.hash = (char *)hash;
    m.error = (char *)(error ? error : "");
    MSG_BODY(env, blob_put_done, BLOB_PUT_DONE, &m);
    conn_send(dc->c, &env);
}

void store_upload_piece(driver *d, dconn *dc, const Kiln__BlobPut *p)
{
    char err[512];
    if (p->offset == 0) {
        char *suffix = xasprintf(".upload.%p", (void *)dc);
        int rc = blob_recv_start(&dc->up, d->blob_dir, p->hash, suffix, p->size, err, sizeof err);
        free(suffix);
        if (rc < 0) goto fail;
    }
    int st = blob_recv_piece(&dc->up, p->hash, p->size, p->offset, p->data.data, p->data.len, p->last, err, sizeof err);
    if (st < 0) goto fail;
    if (st == 0) return;
    log_msg(&d->log, LOG_INFO, "blob stored hash=%s bytes=%llu from=%s", p->hash, (unsigned long long)p->size,
            conn_peer(dc->c));
    if (dc->app) store_use(d, dc->app, p->hash);
    put_done(dc, p->hash, NULL);
    return;
fail:
    log_msg(&d->log, LOG_WARN, "upload refused hash=%.12s from=%s error=\"%s\"", p->hash, conn_peer(dc->c), err);
    put_done(dc, p->hash, err);
    store_upload_abort(dc);
}

/* Sends a BlobChunk without data: the last one, with error when not NULL. */
static void serve_empty(dconn *dc, const char *hash, uint64_t size, const char *error)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__BlobChunk ch = KILN__BLOB_CHUNK__INIT;
    ch.hash = (char *)hash;
    ch.size = size;
    ch.last = 1;
    ch.error = (char *)error;
    MSG_BODY(env, blob_chunk, BLOB_CHUNK, &ch);
    conn_send(dc->c, &env);
}

/* Opens the next blob asked for as dc->down.seg; one that cannot be served
 * is answered with an error at once. 0 when nothing is left to open. */
static int serve_open_next(driver *d, dconn *dc)
{
    blob_send *b = &dc->down;
    while (b->head) {
        blob_ask *q = b->head;
        b->head = q->next;
        if (!b->head) b->tail = NULL;
        b->queued--;
        snprintf(b->hash, sizeof b->hash, "%s", q->hash);
        free(q);
        const char *who = dc->worker ? dc->worker->name : "?";
        char path[4200];
        blob_path(d, b->hash, path, sizeof path);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            char *why = xasprintf("the driver has no blob %.12s", b->hash);
            serve_empty(dc, b->hash, 0, why);
            free(why);
            log_msg(&d->log, LOG_WARN, "blob not found hash=%s worker=%s", b->hash, who);
            continue;
        }
        off_t size = lseek(fd, 0, SEEK_END);
        if (size == 0) { /* an empty blob: one last chunk, no data */
            close(fd);
            serve_empty(dc, b->hash, 0, NULL);
            d->blobs_served++;
            continue;
        }
        /* the pieces are references to the file, not its bytes: sendfile
         * moves them when the connection can take them */
        b->seg =
            size < 0 ? NULL : evbuffer_file_segment_new(fd, 0, size, EVBUF_FS_CLOSE_ON_FREE | EVBUF_FS_DISABLE_LOCKING);
        if (!b->seg) {
            close(fd);
            serve_empty(dc, b->hash, 0, "the driver cannot read the blob");
            log_msg(&d->log, LOG_WARN, "blob unreadable hash=%s worker=%s", b->hash, who);
            continue;
        }
        b->fd = fd;
        b->off = 0;
        b->size = (uint64_t)size;
        return 1;
    }
    return 0;
}

void store_pump(driver *d, dconn *dc)
{
    blob_send *b = &dc->down;
    while (!conn_is_closing(dc->c) && conn_output_pending(dc->c) < STORE_OUT_HIGH) {
        if (!b->seg && !serve_open_next(d, dc)) return;
        Kiln__Envelope env = KILN__ENVELOPE__INIT;
        Kiln__BlobChunk ch = KILN__BLOB_CHUNK__INIT;
        ch.hash = b->hash;
        ch.size = b->size;
        MSG_BODY(env, blob_chunk, BLOB_CHUNK, &ch);
        uint64_t left = b->size - b->off;
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        ch.offset = b->off;
        ch.last = b->off + n >= b->size;
        uint8_t head[HEAD_MAX];
        size_t hn = msg_head_before_bytes(head, sizeof head, &env, BLOB_CHUNK_DATA, n);
        if (!hn || conn_send_file(dc->c, head, hn, b->seg, b->fd, (int64_t)b->off, (int64_t)n) < 0) {
            conn_close(dc->c, 0, "cannot queue a blob");
            return;
        }
        b->off += n;
        if (ch.last) {
            evbuffer_file_segment_free(b->seg); /* the queued pieces hold their own references */
            b->seg = NULL;
            d->blobs_served++;
            d->blob_bytes_served += b->size;
            log_msg(&d->log, LOG_INFO, "blob served hash=%s bytes=%llu worker=%s", b->hash, (unsigned long long)b->size,
                    dc->worker ? dc->worker->name : "?");
        }
    }
}

void store_serve(driver *d, dconn *dc, const char *hash)
{
    blob_send *b = &dc->down;
    if (b->queued >= STORE_ASK_MAX) {
        log_msg(&d->log, LOG_WARN, "protocol error peer=%s error=\"%zu blob requests queued, the limit is %d\"",
                conn_peer(dc->c), b->queued, STORE_ASK_MAX);
        conn_close(dc->c, 0, "too many blob requests queued");
        return;
    }
    blob_ask *q = xcalloc(1, sizeof *q);
    snprintf(q->hash, sizeof q->hash, "%s", hash);
    if (b->tail)
        b->tail->next = q;
    else
        b->head = q;
    b->tail = q;
    b->queued++;
    store_pump(d, dc);
}

void store_serve_abort(dconn *dc)
{
    blob_send *b = &dc->down;
    if (b->seg) evbuffer_file_segment_free(b->seg);
    b->seg = NULL;
    while (b->head) {
        blob_ask *q = b->head;
        b->head = q->next;
        free(q);
    }
    b->tail = NULL;
    b->queued = 0;
}

/* ---- retention ------------------------------------------------------------- */

static void blob_touch(driver *d, const char *hash)
{
    char path[4200];
    blob_path(d, hash, path, sizeof path);
    utimensat(AT_FDCWD, path, NULL, 0); /* not stored (yet): nothing to do */
}

void store_use(driver *d, app *a, const char *hash)
{
    blob_touch(d, hash);
    for (size_t i = 0; i < a->nblobs; i++)
        if (!strcmp(a->blobs[i], hash)) return;
    a->blobs = xrealloc(a->blobs, (a->nblobs + 1) * sizeof *a->blobs);
    snprintf(a->blobs[a->nblobs++], sizeof a->blobs[0], "%s", hash);
}

void store_app_ended(driver *d, app *a)
{
    for (size_t i = 0; i < a->nblobs; i++)
        blob_touch(d, a->blobs[i]);
}

static int blob_in_use(driver *d, const char *hash)
{
    for (app *a = d->apps; a; a = a->next) {
        if (a->ended) continue;
        for (size_t i = 0; i < a->nblobs; i++)
            if (!strcmp(a->blobs[i], hash)) return 1;
    }
    return 0;
}

void store_sweep(driver *d, int startup)
{
    d->store_swept_ms = now_ms();
    DIR *dir = opendir(d->blob_dir);
    if (!dir) {
        log_msg(&d->log, LOG_WARN, "cannot list the blob store %s: %s", d->blob_dir, strerror(errno));
        return;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint8_t bin[32];
    for (struct dirent *e; (e = readdir(dir));) {
        const char *name = e->d_name;
        struct stat st;
        if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) continue;
        if (hash_from_hex(name, bin) < 0) {
            /* an upload or a write cut short by a crash: no one finishes it */
            if (startup && (strstr(name, ".upload.") || strstr(name, ".tmp")) && !unlinkat(dirfd(dir), name, 0))
                log_msg(&d->log, LOG_INFO, "unfinished blob removed file=%s", name);
            continue;
        }
        if (blob_in_use(d, name)) continue;
        int64_t age_ms =
            ((int64_t)now.tv_sec - st.st_mtim.tv_sec) * 1000 + (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
        if (age_ms < (int64_t)d->conf.store_retention_ms) continue;
        if (unlinkat(dirfd(dir), name, 0) < 0) {
            log_msg(&d->log, LOG_WARN, "cannot drop blob hash=%s: %s", name, strerror(errno));
            continue;
        }
        d->blobs_dropped++;
        log_msg(&d->log, LOG_INFO, "blob dropped hash=%s bytes=%lld unused_ms=%lld", name, (long long)st.st_size,
                (long long)age_ms);
    }
    closedir(dir);
}

void store_tick(driver *d)
{
    uint64_t every = d->conf.store_retention_ms / 2;
    if (every > 60000) every = 60000;
    if (now_ms() - d->store_swept_ms >= every) store_sweep(d, 0);
}
