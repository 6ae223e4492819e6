/*
 * shuffle_write.c - writing one map output (in an executor): blocks are
 * appended to the data file as the map task seals them, so the task never
 * holds its output; the index is written at commit, and both are renamed
 * into place (the index last), so a retried task's output replaces the old
 * one whole. The layout is worker/shuffle.h's.
 */
#include "shuffle_write.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shuffle.h"
#include "util.h"

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
    size_t ilen = SHUFFLE_INDEX_HEAD + ((size_t)o->nparts + 1) * 8 + nall * 16;
    uint8_t *index = malloc(ilen);
    int rc = -1;
    if (!index) {
        errf(err, errlen, "out of memory for an index of %zu extents", nall);
        goto out;
    }
    put_u32le(index, SHUFFLE_INDEX_MAGIC);
    put_u32le(index + 4, o->nparts);
    uint8_t *first = index + SHUFFLE_INDEX_HEAD, *ext = first + ((size_t)o->nparts + 1) * 8;
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
