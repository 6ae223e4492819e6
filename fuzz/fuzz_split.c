/*
 * fuzz_split.c - libFuzzer target: the text line reader (common/split.c)
 * over a file cut into ranges, as text_file partitions are:
 * line_reader_open skips the line that began before its range,
 * line_reader_next reads past the range's end to finish its last line.
 * The fuzz build gives the reader a 16-byte first buffer (fuzz/fuzz.mk) so
 * that refills and growth happen on every input.
 *
 * Input: byte 0 gives the number of ranges (1..8), the next bytes (one per
 * cut) where the cuts fall, as fractions of the file; the rest is the file.
 *
 * Property: however the file is cut, reading all ranges in order yields
 * every line exactly once, in order, as Hadoop's LineReader cuts them (a
 * line ends at '\n', '\r' or "\r\n"; a last line without an end is kept).
 *
 * Seeds: fuzz/corpus/split/ (fuzz/mkcorpus.c).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "split.h"

#define MAX_RANGES 8

/* The file, in memory, named by /proc/self/fd/N (created once). */
static int file_fd = -1;
static char file_path[64];

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The next line of f[*pos, n) as Hadoop's LineReader cuts lines: a line
 * ends at '\n', '\r' or "\r\n" (the end not part of it), and a last line
 * without an end is kept. 1 with the line, or 0. */
static int next_line(const uint8_t *f, size_t n, size_t *pos, const uint8_t **line, size_t *len)
{
    if (*pos >= n) return 0;
    const uint8_t *s = f + *pos;
    size_t l = 0, rest = n - *pos;
    while (l < rest && s[l] != '\n' && s[l] != '\r')
        l++;
    size_t end = 0;
    if (l < rest) end = (s[l] == '\r' && l + 1 < rest && s[l + 1] == '\n') ? 2 : 1;
    *pos += l + end;
    *line = s;
    *len = l;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t nranges = 1 + data[0] % MAX_RANGES;
    if (size < nranges) return 0;
    const uint8_t *f = data + nranges;
    size_t n = size - nranges;

    uint64_t cut[MAX_RANGES + 1];
    cut[0] = 0;
    for (size_t i = 1; i < nranges; i++)
        cut[i] = (uint64_t)data[i] * n / 255;
    qsort(cut, nranges, sizeof cut[0], cmp_u64);
    cut[nranges] = n;

    if (file_fd < 0) {
        file_fd = memfd_create("fuzz_split", MFD_CLOEXEC);
        FUZZ_ASSERT(file_fd >= 0);
        snprintf(file_path, sizeof file_path, "/proc/self/fd/%d", file_fd);
    }
    FUZZ_ASSERT(ftruncate(file_fd, 0) == 0);
    FUZZ_ASSERT(n == 0 || pwrite(file_fd, f, n, 0) == (ssize_t)n);

    char err[512];
    size_t pos = 0;
    for (size_t i = 0; i < nranges; i++) {
        line_reader r;
        FUZZ_ASSERT(line_reader_open(&r, file_path, cut[i], cut[i + 1], err, sizeof err) == 0);
        const char *line;
        size_t len;
        int st;
        while ((st = line_reader_next(&r, &line, &len, err, sizeof err)) == 1) {
            const uint8_t *want;
            size_t want_len;
            FUZZ_ASSERT(next_line(f, n, &pos, &want, &want_len) == 1);
            FUZZ_ASSERT(len == want_len && (!len || memcmp(line, want, len) == 0));
        }
        FUZZ_ASSERT(st == 0);
        line_reader_close(&r);
    }
    const uint8_t *extra;
    size_t extra_len;
    FUZZ_ASSERT(next_line(f, n, &pos, &extra, &extra_len) == 0);
    return 0;
}
