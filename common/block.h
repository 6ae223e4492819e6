/*
 * block.h - record blocks: how records travel and rest.
 *
 * A block holds a sequence of records (key, value), each written as
 * varint(key_len) key varint(val_len) val, compressed with LZ4 and
 * protected by a checksum. Blocks are write-once: a builder appends
 * records, then seals them into bytes; a reader decodes sealed bytes and
 * hands out slices that point into the block itself when it was stored
 * raw, into its own decompressed copy otherwise.
 *
 * Sealed layout (all integers little-endian):
 *   u32 magic "KBLK" | u32 raw_len | u32 comp_len | u32 nrec |
 *   u64 XXH3-64(payload bytes as stored) | payload (comp_len bytes)
 * comp_len == 0 means the payload is stored raw (raw_len bytes), used when
 * LZ4 does not shrink it by at least 1/8; a builder that meets such data
 * stores its next 16 blocks raw without trying, then tries again (and
 * after each further failure skips twice as many, up to 256), so
 * incompressible records cost almost no compression time.
 */
#ifndef KILN_BLOCK_H
#define KILN_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

#define BLOCK_HEADER_SIZE 24
#define BLOCK_MAX_RAW     (256u << 20) /* a block never decodes to more */

/* A builder of records; embed it, block_builder_init / _release. */
typedef struct block_builder {
    uint8_t *buf; /* raw (uncompressed) record bytes */
    size_t len;   /* bytes used in buf */
    size_t cap;
    uint32_t nrec;
    uint32_t skip_lz4;  /* blocks left to store raw after one LZ4 could not shrink */
    uint32_t skip_next; /* how many to skip after the next failure (doubles, up to 256) */
} block_builder;

void block_builder_init(block_builder *b);
void block_builder_release(block_builder *b);
/* Appends one record (copies the bytes). 0, or -1 when out of memory. */
int block_builder_add(block_builder *b, kiln_slice key, kiln_slice val);
/* Raw bytes held so far: decide when to seal. */
static inline size_t block_builder_size(const block_builder *b)
{
    return b->len;
}
/* The most bytes sealing the records held now can produce. */
size_t block_builder_sealed_bound(const block_builder *b);
/* Seals the records into dst, which has room for block_builder_sealed_bound
 * bytes, and resets the builder; returns the block's size. No allocation:
 * the way to append blocks to a buffer without a copy. */
size_t block_builder_seal_to(block_builder *b, uint8_t *dst);
/* Seals the records without copying them, for a writev of two pieces: the
 * 24-byte header goes to hdr and *payload points at the stored bytes: the
 * builder's own buffer when they are stored raw, else scratch, which has
 * room for block_builder_sealed_bound - BLOCK_HEADER_SIZE bytes. Returns
 * the payload's length. The payload stays valid until the next add: write
 * it, then block_builder_reset. */
size_t block_builder_seal_parts(block_builder *b, uint8_t *hdr, uint8_t *scratch, const uint8_t **payload);
/* Empties the builder (keeps its buffer and its LZ4 skipping state). */
void block_builder_reset(block_builder *b);
/* Seals the records into a new malloc'd block (*out, *out_len; caller frees)
 * and resets the builder for reuse. 0, or -1 when out of memory. */
int block_builder_seal(block_builder *b, uint8_t **out, size_t *out_len);

/* Looks at the start of a stream of sealed blocks: 1 with *total set to the
 * first block's whole size once its header is complete, 0 when fewer than
 * BLOCK_HEADER_SIZE bytes are there, -1 when the header is not a block's. */
int block_peek_size(const uint8_t *p, size_t n, size_t *total);

/* Reads the next whole sealed block from fd's position (a run, spill or
 * cache file of blocks back to back) into *buf, grown as needed (*cap is
 * its size): 1 with *n set, 0 at a clean end of file, -1 with a message
 * (an I/O error, a header that is not a block's, a truncated block). */
int block_read_fd(int fd, uint8_t **buf, size_t *cap, size_t *n, char *err, size_t errlen);

/* A reader over one sealed block; embed it. */
typedef struct block_reader {
    const uint8_t *raw; /* the records: in the sealed block when it was stored raw, else owned */
    uint8_t *owned;     /* decompressed records, freed at close */
    size_t raw_len;
    size_t pos;
    uint32_t nrec;
    uint32_t seen;
} block_reader;

/* Checks and decompresses a sealed block. Borrows p: a block stored raw is
 * read in place, so p must stay alive and unchanged until the close.
 * 0, or -1 with a message in err (bad magic, checksum mismatch, corrupt
 * payload, record overrunning the block). */
int block_reader_open(block_reader *r, const void *p, size_t n, char *err, size_t errlen);
/* Next record, slices valid until block_reader_close. 1 = record, 0 = end,
 * -1 = corrupt (message in err). */
int block_reader_next(block_reader *r, kiln_rec *rec, char *err, size_t errlen);
void block_reader_close(block_reader *r);

#endif
