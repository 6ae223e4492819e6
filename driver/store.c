/*
 * store.c - the driver's content-addressed store of libraries, broadcast
 * values and broadcast stage functions: state-dir/blobs/<sha256>.
 *
 * Uploads arrive as ordered BlobPut pieces on one client connection, are
 * written to a temporary file while hashed, and become visible under their
 * hash only when the whole content matches it. Workers fetch a blob with
 * BlobGet and receive it as ordered BlobChunk pieces.
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

void store_serve(driver *d, dconn *dc, const char *hash)
{
    char path[4200];
    blob_path(d, hash, path, sizeof path);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__BlobChunk ch = KILN__BLOB_CHUNK__INIT;
    ch.hash = (char *)hash;
    MSG_BODY(env, blob_chunk, BLOB_CHUNK, &ch);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ch.last = 1;
        ch.error = xasprintf("the driver has no blob %.12s", hash);
        conn_send(dc->c, &env);
        free(ch.error);
        log_msg(&d->log, LOG_WARN, "blob not found hash=%s worker=%s", hash, dc->worker ? dc->worker->name : "?");
        return;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size == 0) { /* an empty blob: one last chunk, no data */
        close(fd);
        ch.last = 1;
        conn_send(dc->c, &env);
        d->blobs_served++;
        return;
    }
    /* every piece is queued at once, but as references to the file, not its
     * bytes: sendfile moves them when the connection can take them */
    struct evbuffer_file_segment *seg =
        size < 0 ? NULL : evbuffer_file_segment_new(fd, 0, size, EVBUF_FS_CLOSE_ON_FREE | EVBUF_FS_DISABLE_LOCKING);
    if (!seg) {
        close(fd);
        ch.last = 1;
        ch.error = "the driver cannot read the blob";
        conn_send(dc->c, &env);
        log_msg(&d->log, LOG_WARN, "blob unreadable hash=%s worker=%s", hash, dc->worker ? dc->worker->name : "?");
        return;
    }
    uint64_t off = 0;
    ch.size = (uint64_t)size;
    do {
        uint64_t left = (uint64_t)size - off;
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        ch.offset = off;
        ch.last = off + n >= (uint64_t)size;
        uint8_t head[HEAD_MAX];
        size_t hn = msg_head_before_bytes(head, sizeof head, &env, BLOB_CHUNK_DATA, n);
        if (!hn || conn_send_file(dc->c, head, hn, seg, (int64_t)off, (int64_t)n) < 0) {
            conn_close(dc->c, 0, "cannot queue a blob");
            break;
        }
        off += n;
    } while (!ch.last);
    evbuffer_file_segment_free(seg); /* the queued pieces hold their own references */
    d->blobs_served++;
    d->blob_bytes_served += off;
    log_msg(&d->log, LOG_INFO, "blob served hash=%s bytes=%llu worker=%s", hash, (unsigned long long)off,
            dc->worker ? dc->worker->name : "?");
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
