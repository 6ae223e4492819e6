/*
 * block.c - record blocks: the builder that seals records into bytes and
 * the reader that checks and decodes them.
 *
 * Owns the block format described in block.h and nothing else: it knows no
 * files, sockets or daemon state, so shuffle, spill and result code can all
 * share it and it can be fuzzed alone.
 *
 * The one idea: a block is decoded in one piece. The reader verifies the
 * header and the XXH3-64 of the stored payload, decompresses it once into a
 * buffer it owns, and then hands out records as slices into that buffer, so
 * the per-record path does no allocation and no copy. Everything read from
 * the bytes is bounds-checked before use: garbage input gives an error
 * message, never a crash.
 */
#include "block.h"
#include "runtime.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lz4.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h> /* XXH3 with the widest vectors the CPU has (AVX2/AVX-512), same hashes */
#else
#include <xxhash.h>
#endif

#define BLOCK_MAGIC   0x4b4c424bu /* "KBLK" read as a little-endian u32 */
#define BLOCK_MIN_CAP (64u << 10) /* first allocation of a builder */
#define VARINT_MAX    5           /* bytes of a length <= BLOCK_MAX_RAW */

/* Reads a varint of at most VARINT_MAX bytes from the avail bytes at p.
 * Returns the bytes used, or 0 when it runs past avail or is too long. */
static inline size_t get_varint(const uint8_t *p, size_t avail, uint64_t *v)
{
    if (avail > 0 && p[0] < 0x80) {
        *v = p[0];
        return 1;
    }
    uint64_t x = 0;
    size_t lim = avail < VARINT_MAX ? avail : VARINT_MAX;
    for (size_t i = 0; i < lim; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

void block_builder_init(block_builder *b)
{
    b->buf = NULL;
    b->len = 0;
    b->cap = 0;
    b->nrec = 0;
    b->skip_lz4 = 0;
    b->skip_next = 16;
}

void block_builder_release(block_builder *b)
{
    free(b->buf);
    block_builder_init(b);
}

/* Makes room for `need` more bytes, at least doubling the capacity so that
 * appends are amortized O(1). 0, or -1 (errno ENOMEM). */
static int builder_reserve(block_builder *b, size_t need)
{
    if (b->cap - b->len >= need) return 0;
    size_t cap = b->cap ? b->cap : BLOCK_MIN_CAP;
    while (cap - b->len < need)
        cap *= 2; /* b->len + need <= BLOCK_MAX_RAW + slack: no overflow */
    uint8_t *nb = realloc(b->buf, cap);
    if (!nb) {
        errno = ENOMEM;
        return -1;
    }
    b->buf = nb;
    b->cap = cap;
    return 0;
}

/*
 * Appends one record, copying key and value. Besides running out of
 * memory, it fails (errno EFBIG, builder unchanged) when the record would
 * take the block past BLOCK_MAX_RAW, the most a reader accepts: seal
 * before that, using block_builder_size().
 */
int block_builder_add(block_builder *b, kiln_slice key, kiln_slice val)
{
    size_t room = BLOCK_MAX_RAW - b->len; /* b->len never passes the max */
    if (key.len > room || val.len > room - key.len || 2 * VARINT_MAX > room - key.len - val.len ||
        b->nrec == UINT32_MAX) {
        /* conservative by up to 8 bytes of varints: harmless */
        errno = EFBIG;
        return -1;
    }
    size_t need = key.len + val.len + 2 * VARINT_MAX;
    if (builder_reserve(b, need) < 0) return -1;
    uint8_t *p = b->buf + b->len;
    p += rt_varint_put(p, key.len);
    if (key.len) memcpy(p, key.ptr, key.len);
    p += key.len;
    p += rt_varint_put(p, val.len);
    if (val.len) memcpy(p, val.ptr, val.len);
    p += val.len;
    b->len = (size_t)(p - b->buf);
    b->nrec++;
    return 0;
}

/*
 * Seals the records: one malloc'd block in *out (the caller frees it),
 * compressed when LZ4 makes the payload smaller, raw otherwise. The builder
 * is then empty but keeps its buffer. 0, or -1 when out of memory (the
 * builder is left as it was).
 */
size_t block_builder_sealed_bound(const block_builder *b)
{
    return BLOCK_HEADER_SIZE + (size_t)LZ4_compressBound((int)b->len);
}

size_t block_builder_seal_parts(block_builder *b, uint8_t *hdr, uint8_t *scratch, const uint8_t **payload)
{
    int raw_len = (int)b->len; /* <= BLOCK_MAX_RAW < LZ4_MAX_INPUT_SIZE */
    int bound = LZ4_compressBound(raw_len);
    int comp = 0;
    if (b->skip_lz4) {
        b->skip_lz4--;
    } else if (raw_len > 0) {
        comp = LZ4_compress_default((const char *)b->buf, (char *)scratch, raw_len, bound);
        if (comp <= 0 || comp > raw_len - raw_len / 8) { /* not worth it: stop trying for a while */
            b->skip_lz4 = b->skip_next;
            if (b->skip_next < 256) b->skip_next *= 2;
        } else {
            b->skip_next = 16;
        }
    }
    size_t stored;
    if (comp > 0 && comp < raw_len) {
        stored = (size_t)comp;
        *payload = scratch;
    } else {
        comp = 0; /* LZ4 did not shrink it: the records are stored raw, as they are */
        stored = (size_t)raw_len;
        *payload = b->buf;
    }
    put_u32le(hdr, BLOCK_MAGIC);
    put_u32le(hdr + 4, (uint32_t)raw_len);
    put_u32le(hdr + 8, (uint32_t)comp);
    put_u32le(hdr + 12, b->nrec);
    put_u64le(hdr + 16, XXH3_64bits(stored ? *payload : hdr, stored));
    return stored;
}

void block_builder_reset(block_builder *b)
{
    b->len = 0;
    b->nrec = 0;
}

size_t block_builder_seal_to(block_builder *b, uint8_t *blk)
{
    const uint8_t *payload;
    size_t stored = block_builder_seal_parts(b, blk, blk + BLOCK_HEADER_SIZE, &payload);
    if (payload != blk + BLOCK_HEADER_SIZE && stored) memcpy(blk + BLOCK_HEADER_SIZE, payload, stored);
    block_builder_reset(b);
    return BLOCK_HEADER_SIZE + stored;
}

int block_builder_seal(block_builder *b, uint8_t **out, size_t *out_len)
{
    size_t bound = block_builder_sealed_bound(b);
    uint8_t *blk = malloc(bound);
    if (!blk) {
        errno = ENOMEM;
        return -1;
    }
    size_t total = block_builder_seal_to(b, blk);
    if (total < bound) {
        uint8_t *shrunk = realloc(blk, total); /* give back the slack */
        if (shrunk) blk = shrunk;
    }
    *out = blk;
    *out_len = total;
    return 0;
}

int block_peek_size(const uint8_t *p, size_t n, size_t *total)
{
    if (n < BLOCK_HEADER_SIZE) return 0;
    if (get_u32le(p) != BLOCK_MAGIC) return -1;
    uint32_t raw_len = get_u32le(p + 4), comp_len = get_u32le(p + 8);
    if (raw_len > BLOCK_MAX_RAW || comp_len > (uint32_t)LZ4_compressBound((int)raw_len)) return -1;
    *total = BLOCK_HEADER_SIZE + (size_t)(comp_len ? comp_len : raw_len);
    return 1;
}

/* Reads up to n bytes; the count (short only at end of file) or -1. */
static ssize_t read_upto(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int block_read_fd(int fd, uint8_t **buf, size_t *cap, size_t *n, char *err, size_t errlen)
{
    uint8_t hdr[BLOCK_HEADER_SIZE];
    ssize_t got = read_upto(fd, hdr, sizeof hdr);
    if (got == 0) return 0;
    if (got < 0) return errf(err, errlen, "block file: %s", strerror(errno));
    size_t total;
    if (got < BLOCK_HEADER_SIZE || block_peek_size(hdr, sizeof hdr, &total) != 1)
        return errf(err, errlen, "block file: corrupt (not a block header)");
    if (total > *cap) {
        uint8_t *b = realloc(*buf, total);
        if (!b) return errf(err, errlen, "block file: out of memory for a block of %zu bytes", total);
        *buf = b;
        *cap = total;
    }
    memcpy(*buf, hdr, sizeof hdr);
    got = read_upto(fd, *buf + sizeof hdr, total - sizeof hdr);
    if (got < 0) return errf(err, errlen, "block file: %s", strerror(errno));
    if ((size_t)got != total - sizeof hdr) return errf(err, errlen, "block file: truncated");
    *n = total;
    return 1;
}

/*
 * Checks the header and checksum of the n bytes at p, which must be exactly
 * one sealed block, and decompresses the records into a buffer the reader
 * owns (p is only borrowed). On failure the reader holds nothing and
 * block_reader_close is harmless.
 */
int block_reader_open(block_reader *r, const void *p, size_t n, char *err, size_t errlen)
{
    const uint8_t *b = p;
    memset(r, 0, sizeof(*r));
    if (n < BLOCK_HEADER_SIZE) return errf(err, errlen, "block: truncated header (%zu bytes)", n);
    if (get_u32le(b) != BLOCK_MAGIC) return errf(err, errlen, "block: bad magic 0x%08" PRIx32, get_u32le(b));
    uint32_t raw_len = get_u32le(b + 4);
    uint32_t comp_len = get_u32le(b + 8);
    uint32_t nrec = get_u32le(b + 12);
    uint64_t sum = get_u64le(b + 16);
    if (raw_len > BLOCK_MAX_RAW)
        return errf(err, errlen, "block: raw length %" PRIu32 " exceeds %u", raw_len, BLOCK_MAX_RAW);
    if (comp_len > (uint32_t)LZ4_compressBound((int)raw_len))
        return errf(err, errlen, "block: compressed length %" PRIu32 " impossible for raw length %" PRIu32, comp_len,
                    raw_len);
    /* LZ4 never expands a byte into more than 255 (a match-length byte of
     * 255), so a short payload cannot claim a huge block: refuse before
     * allocating raw_len for it (found while fuzzing: 40 bytes made the
     * reader allocate 256 MiB) */
    if (comp_len && (uint64_t)comp_len * 255 < raw_len)
        return errf(err, errlen,
                    "block: compressed length %" PRIu32 " too short for raw length %" PRIu32
                    " (LZ4 expands at most 255x)",
                    comp_len, raw_len);
    /* every record takes at least two bytes (two one-byte varints) */
    if (nrec > raw_len / 2)
        return errf(err, errlen, "block: %" PRIu32 " records cannot fit in %" PRIu32 " bytes", nrec, raw_len);
    size_t stored = comp_len ? comp_len : raw_len;
    if (n - BLOCK_HEADER_SIZE < stored)
        return errf(err, errlen, "block: truncated payload (%zu of %zu bytes)", n - BLOCK_HEADER_SIZE, stored);
    if (n - BLOCK_HEADER_SIZE > stored)
        return errf(err, errlen, "block: %zu trailing bytes after payload", n - BLOCK_HEADER_SIZE - stored);
    const uint8_t *payload = b + BLOCK_HEADER_SIZE;
    uint64_t got = XXH3_64bits(payload, stored);
    if (got != sum)
        return errf(err, errlen, "block: checksum mismatch (stored %016" PRIx64 ", computed %016" PRIx64 ")", sum, got);

    if (!comp_len) { /* stored raw: read the records where they are */
        r->raw = payload;
        r->raw_len = raw_len;
        r->nrec = nrec;
        return 0;
    }
    uint8_t *raw = malloc(raw_len ? raw_len : 1);
    if (!raw) return errf(err, errlen, "block: out of memory for %" PRIu32 " bytes", raw_len);
    {
        int d = LZ4_decompress_safe((const char *)payload, (char *)raw, (int)comp_len, (int)raw_len);
        if (d < 0 || (uint32_t)d != raw_len) {
            free(raw);
            if (d < 0) return errf(err, errlen, "block: corrupt LZ4 payload");
            return errf(err, errlen,
                        "block: payload decompressed to %d bytes, header "
                        "says %" PRIu32,
                        d, raw_len);
        }
    }
    r->owned = raw;
    r->raw = raw;
    r->raw_len = raw_len;
    r->nrec = nrec;
    return 0;
}

/*
 * Decodes the next record into rec (slices into the reader's buffer).
 * After the last record it checks that the records fill the block exactly.
 * A corrupt record does not advance the reader: calling again repeats the
 * error.
 */
int block_reader_next(block_reader *r, kiln_rec *rec, char *err, size_t errlen)
{
    size_t pos = r->pos;
    size_t left = r->raw_len - pos;
    if (r->seen == r->nrec) {
        if (left)
            return errf(err, errlen, "block: %zu bytes left after the last of %" PRIu32 " records", left, r->nrec);
        return 0;
    }
    if (!left) return errf(err, errlen, "block: ends after %" PRIu32 " of %" PRIu32 " records", r->seen, r->nrec);

    const uint8_t *p = r->raw + pos;
    uint64_t klen, vlen;
    size_t h = get_varint(p, left, &klen);
    if (!h) return errf(err, errlen, "block: record %" PRIu32 ": bad key length varint", r->seen);
    if (klen > left - h)
        return errf(err, errlen, "block: record %" PRIu32 ": key of %" PRIu64 " bytes overruns the block", r->seen,
                    klen);
    const uint8_t *k = p + h;
    p = k + klen;
    left -= h + klen;
    h = get_varint(p, left, &vlen);
    if (!h) return errf(err, errlen, "block: record %" PRIu32 ": bad value length varint", r->seen);
    if (vlen > left - h)
        return errf(err, errlen, "block: record %" PRIu32 ": value of %" PRIu64 " bytes overruns the block", r->seen,
                    vlen);
    rec->key.ptr = k;
    rec->key.len = (size_t)klen;
    rec->val.ptr = p + h;
    rec->val.len = (size_t)vlen;
    r->pos = (size_t)(p + h + vlen - r->raw);
    r->seen++;
    return 1;
}

/* Frees the decoded records; slices handed out become invalid. */
void block_reader_close(block_reader *r)
{
    free(r->owned);
    memset(r, 0, sizeof(*r));
}
