/*
 * fuzz_index.c - libFuzzer target: a shuffle index file (worker/shuffle.c,
 * shuffle_index_lookup), which the data port parses for every fetch
 * request: "KIDX", the partition count, the first extent of each
 * partition, then (offset, length) extents.
 *
 * Properties: a refused index comes with a message; for an accepted
 * partition every extent is non-empty, none wraps around, and their
 * lengths add up to the total reported; partitions past the count are
 * refused.
 *
 * Seeds: fuzz/corpus/index/ (hand-made: one, three and five partitions,
 * some empty, adjacent and scattered extents).
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "shuffle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("index", 0);
        FUZZ_ASSERT(fd >= 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    FUZZ_ASSERT(ftruncate(fd, 0) == 0);
    FUZZ_ASSERT(pwrite(fd, data, size, 0) == (ssize_t)size);
    uint32_t nparts =
        size >= 8 ? (uint32_t)data[4] | (uint32_t)data[5] << 8 | (uint32_t)data[6] << 16 | (uint32_t)data[7] << 24 : 0;
    for (uint32_t p = 0; p < 6; p++) {
        char err[512] = "";
        shuffle_extent *e;
        size_t n;
        uint64_t total;
        if (shuffle_index_lookup(path, p, &e, &n, &total, err, sizeof err) < 0) {
            FUZZ_ASSERT(err[0] != '\0');
            FUZZ_ASSERT(e == NULL && n == 0);
            continue;
        }
        FUZZ_ASSERT(p < nparts);
        uint64_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            FUZZ_ASSERT(e[i].len > 0);
            FUZZ_ASSERT(e[i].off + e[i].len > e[i].off);
            sum += e[i].len;
        }
        FUZZ_ASSERT(sum == total);
        FUZZ_ASSERT((n == 0) == (e == NULL));
        free(e);
    }
    return 0;
}
