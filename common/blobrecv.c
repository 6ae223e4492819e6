/*
 * blobrecv.c - ordered pieces of a blob into a verified file (see
 * blobrecv.h). No state outside the caller's blob_recv.
 */
#include "blobrecv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

void blob_recv_init(blob_recv *r)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

void blob_recv_abort(blob_recv *r)
{
    if (r->fd >= 0) close(r->fd);
    if (r->tmp_path) unlink(r->tmp_path);
    free(r->tmp_path);
    free(r->final_path);
    if (r->md) EVP_MD_CTX_free(r->md);
    blob_recv_init(r);
}

int blob_recv_start(blob_recv *r, const char *dir, const char *hash, const char *tmp_suffix, uint64_t size, char *err,
                    size_t errlen)
{
    blob_recv_abort(r);
    snprintf(r->hash, sizeof r->hash, "%s", hash);
    r->size = size;
    r->final_path = xasprintf("%s/%s", dir, hash);
    r->tmp_path = xasprintf("%s/%s%s", dir, hash, tmp_suffix);
    r->fd = open(r->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (r->fd < 0) {
        errf(err, errlen, "cannot create %s: %s", r->tmp_path, strerror(errno));
        blob_recv_abort(r);
        return -1;
    }
    r->md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(r->md, EVP_sha256(), NULL);
    return 0;
}

static int fail(blob_recv *r, char *err, size_t errlen, const char *msg, const char *what)
{
    if (what)
        errf(err, errlen, "%s %s: %s", msg, what, strerror(errno));
    else
        errf(err, errlen, "%s", msg);
    blob_recv_abort(r);
    return -1;
}

int blob_recv_piece(blob_recv *r, const char *hash, uint64_t size, uint64_t offset, const void *p, size_t n, int last,
                    char *err, size_t errlen)
{
    if (r->fd < 0 || strcmp(r->hash, hash) || offset != r->got || size != r->size)
        return fail(r, err, errlen, "blob pieces out of order", NULL);
    if (write_all(r->fd, p, n) < 0) return fail(r, err, errlen, "cannot write", r->tmp_path);
    EVP_DigestUpdate(r->md, p, n);
    r->got += n;
    if (!last) return 0;
    uint8_t dig[32];
    unsigned int dl = 32;
    char hex[HASH_HEX_LEN + 1];
    EVP_DigestFinal_ex(r->md, dig, &dl);
    hash_to_hex(dig, hex);
    if (r->got != r->size || strcmp(hex, r->hash))
        return fail(r, err, errlen, "blob content does not match its hash", NULL);
    close(r->fd);
    r->fd = -1;
    if (rename(r->tmp_path, r->final_path) < 0) return fail(r, err, errlen, "cannot rename", r->tmp_path);
    free(r->tmp_path);
    r->tmp_path = NULL; /* in place now: abort must not remove it */
    blob_recv_abort(r);
    return 1;
}
