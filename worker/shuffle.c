/*
 * shuffle.c - the shuffle files' layout on a worker's disk: their paths,
 * the index, and reading one reduce partition's extents (see shuffle.h).
 *
 * Shared by the three that use the files: the executor's writer
 * (executor/shuffle_write.c) and fetcher (executor/shuffle_fetch.c), and
 * the worker's data port (worker/shuffle_serve.c). Knows no connection and
 * no task.
 */
#include "shuffle.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

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
    uint8_t h[SHUFFLE_INDEX_HEAD], b[16];
    int rc = -1;
    shuffle_extent *e = NULL;
    if (fstat(fd, &st) < 0) {
        errf(err, errlen, "cannot stat %s: %s", index_path, strerror(errno));
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < SHUFFLE_INDEX_HEAD + 16 || pread_exact(fd, h, sizeof h, 0, index_path, err, errlen) < 0 ||
        get_u32le(h) != SHUFFLE_INDEX_MAGIC) {
        if (size >= SHUFFLE_INDEX_HEAD + 16 && get_u32le(h) == SHUFFLE_INDEX_MAGIC) goto out; /* the read failed: err is set */
        errf(err, errlen, "corrupt index %s (%" PRIu64 " bytes, no index header)", index_path, size);
        goto out;
    }
    uint32_t nparts = get_u32le(h + 4);
    uint64_t firsts = SHUFFLE_INDEX_HEAD + ((uint64_t)nparts + 1) * 8; /* where the extents start */
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
    if (pread_exact(fd, b, 16, SHUFFLE_INDEX_HEAD + (uint64_t)p * 8, index_path, err, errlen) < 0) goto out;
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

