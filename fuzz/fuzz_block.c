/*
 * fuzz_block.c - libFuzzer target: the record-block decoder
 * (common/block.c) that reads result blocks, shuffle blocks fetched from
 * other workers, spill files and parallelized input: block_peek_size,
 * block_reader_open (header checks, XXH3-64, LZ4) and block_reader_next
 * (the record varints).
 *
 * Input: byte 0 picks the mode, the rest is the bytes.
 *   even: a stream of sealed blocks, cut with block_peek_size as the
 *         shuffle reader and the spill merger do, each opened and read;
 *   odd:  one block whose checksum (and magic) the target fixes before
 *         decoding, so the fuzzer gets past XXH3 into LZ4 and the records;
 *         with bit 1 set it also sets the stored-length field to the bytes
 *         that follow the header.
 *
 * Properties: block_peek_size agrees with block_reader_open on the size of
 * every block that opens; every failure has a message; the records of a
 * block that reads to its end, sealed again by a block_builder, read back
 * the same.
 *
 * Seeds: fuzz/corpus/block/, small blocks, compressed and raw, and streams
 * of them (fuzz/mkcorpus.c).
 */
#include <string.h>

#include <xxhash.h>

#include "block.h"
#include "fuzz.h"
#include "util.h"

/* Reads every record of the n-byte block at p; when it decodes whole,
 * seals the records again and checks they read back the same (record by
 * record: the reader also takes varints longer than the builder writes). */
static void read_block(const uint8_t *p, size_t n)
{
    char err[512] = "";
    block_reader r;
    if (block_reader_open(&r, p, n, err, sizeof err) < 0) {
        FUZZ_ASSERT(err[0] != '\0');
        block_reader_close(&r);
        return;
    }
    size_t total = 0;
    FUZZ_ASSERT(block_peek_size(p, n, &total) == 1 && total == n);

    block_builder b;
    block_builder_init(&b);
    size_t cap = 16;
    kiln_rec *recs = malloc(cap * sizeof *recs);
    FUZZ_ASSERT(recs != NULL);
    int st;
    uint32_t nrec = 0;
    while ((st = block_reader_next(&r, &recs[nrec], err, sizeof err)) == 1) {
        FUZZ_ASSERT(nrec < r.nrec);
        const kiln_rec *rec = &recs[nrec++];
        if (nrec == cap) {
            recs = realloc(recs, (cap *= 2) * sizeof *recs);
            FUZZ_ASSERT(recs != NULL);
            rec = &recs[nrec - 1];
        }
        FUZZ_ASSERT(rec->key.len <= r.raw_len && rec->val.len <= r.raw_len);
        FUZZ_ASSERT(block_builder_add(&b, rec->key, rec->val) == 0);
    }
    if (st < 0) {
        FUZZ_ASSERT(err[0] != '\0');
        /* a corrupt record does not advance the reader */
        FUZZ_ASSERT(block_reader_next(&r, &recs[nrec], err, sizeof err) == -1);
    } else {
        FUZZ_ASSERT(nrec == r.nrec && block_builder_size(&b) <= r.raw_len);
        uint8_t *again;
        size_t again_len;
        FUZZ_ASSERT(block_builder_seal(&b, &again, &again_len) == 0);
        block_reader r2;
        FUZZ_ASSERT(block_reader_open(&r2, again, again_len, err, sizeof err) == 0);
        FUZZ_ASSERT(r2.nrec == nrec);
        kiln_rec rec2;
        for (uint32_t i = 0; i < nrec; i++) {
            FUZZ_ASSERT(block_reader_next(&r2, &rec2, err, sizeof err) == 1);
            FUZZ_ASSERT(rec2.key.len == recs[i].key.len && rec2.val.len == recs[i].val.len);
            FUZZ_ASSERT(!rec2.key.len || memcmp(rec2.key.ptr, recs[i].key.ptr, rec2.key.len) == 0);
            FUZZ_ASSERT(!rec2.val.len || memcmp(rec2.val.ptr, recs[i].val.ptr, rec2.val.len) == 0);
        }
        FUZZ_ASSERT(block_reader_next(&r2, &rec2, err, sizeof err) == 0);
        block_reader_close(&r2);
        free(again);
    }
    free(recs);
    block_reader_close(&r);
    block_builder_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    const uint8_t *p = data + 1;
    size_t n = size - 1;

    if (!(mode & 1)) {
        while (n > 0) {
            size_t total = 0;
            int st = block_peek_size(p, n, &total);
            if (st <= 0) {
                read_block(p, n); /* what a reader does with a bad or short header: refuse it */
                break;
            }
            FUZZ_ASSERT(total >= BLOCK_HEADER_SIZE);
            if (total > n) {
                read_block(p, n); /* truncated */
                break;
            }
            read_block(p, total);
            p += total;
            n -= total;
        }
        return 0;
    }

    uint8_t *blk = malloc(n ? n : 1);
    FUZZ_ASSERT(blk != NULL);
    if (n) memcpy(blk, p, n);
    if (n >= BLOCK_HEADER_SIZE) {
        put_u32le(blk, 0x4b4c424bu); /* "KBLK" */
        if (mode & 2) {
            uint32_t stored = (uint32_t)(n - BLOCK_HEADER_SIZE);
            put_u32le(blk + (get_u32le(blk + 8) ? 8 : 4), stored);
        }
        uint64_t sum = XXH3_64bits(blk + BLOCK_HEADER_SIZE, n - BLOCK_HEADER_SIZE);
        put_u32le(blk + 16, (uint32_t)sum);
        put_u32le(blk + 20, (uint32_t)(sum >> 32));
    }
    read_block(blk, n);
    free(blk);
    return 0;
}
