/*
 * blobrecv.h - receiving a content-addressed blob in ordered pieces: the
 * pieces go to a temporary file in the target directory while SHA-256 is
 * computed over them, and the file becomes DIR/<hash> only when the whole
 * content matches its hash. Used by the driver for uploads (BlobPut) and
 * by workers for fetches (BlobChunk).
 */
#ifndef KILN_BLOBRECV_H
#define KILN_BLOBRECV_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

typedef struct blob_recv {
    char hash[HASH_HEX_LEN + 1];
    char *tmp_path, *final_path; /* owned */
    int fd;                      /* -1 when nothing is being received */
    uint64_t size, got;
    EVP_MD_CTX *md;
} blob_recv;

/* An idle receiver. */
void blob_recv_init(blob_recv *r);
static inline int blob_recv_active(const blob_recv *r)
{
    return r->fd >= 0;
}

/* Starts receiving `hash` (size bytes) into dir; the temporary file is
 * dir/<hash><tmp_suffix>. Any receipt under way is abandoned first.
 * 0, or -1 with a message (the receiver is then idle). */
int blob_recv_start(blob_recv *r, const char *dir, const char *hash, const char *tmp_suffix, uint64_t size, char *err,
                    size_t errlen);

/* Takes the piece at offset of the blob `hash` (of `size` bytes). Returns 0
 * when more pieces are due, 1 when the blob is complete and in place, -1
 * with a message (pieces out of order, a write error, content that does not
 * match the hash); on 1 and -1 the receiver is idle again. */
int blob_recv_piece(blob_recv *r, const char *hash, uint64_t size, uint64_t offset, const void *p, size_t n, int last,
                    char *err, size_t errlen);

/* Abandons a receipt: closes and removes the temporary file. */
void blob_recv_abort(blob_recv *r);

#endif
