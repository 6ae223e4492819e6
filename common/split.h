/*
 * split.h - text input: splitting files into line-aligned byte ranges and
 * reading the lines of one range.
 *
 * A path may name a file, a directory (its regular files, sorted by name,
 * hidden files and names starting with '_' skipped) or a glob. Each file is
 * cut into ranges [start, end) of at most `split_size` bytes so that the
 * total number of ranges is at least min_partitions (when the input has
 * that many bytes). A line belongs to the range that holds its first byte;
 * the reader of a range skips a line that began before `start` and reads
 * past `end` to finish its last line. Every line is thus read exactly once.
 * An empty file yields no range; a file without a final newline still
 * yields its last line. The newline ('\n', and a '\r' before it) is not part
 * of the line.
 */
#ifndef KILN_SPLIT_H
#define KILN_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#define SPLIT_MAX_SIZE (32u << 20) /* the largest range planned, like a HDFS block */

typedef struct text_split {
    char *path; /* absolute, owned */
    uint64_t start, end;
} text_split;

typedef struct text_split_list {
    text_split *v;
    size_t n;
} text_split_list;

/* Whether path names a gzip file (".gz"): one range, read whole and
 * decompressed, as Hadoop's GzipCodec, which cannot be split. */
int split_is_gzip(const char *path);

/* Plans the ranges of `path` (resolved against the current directory).
 * max_split 0 means SPLIT_MAX_SIZE. 0, or -1 with a message naming the
 * path (missing, unreadable, a glob matching nothing). */
int split_plan(const char *path, int min_partitions, uint64_t max_split, text_split_list *out, char *err,
               size_t errlen);
void split_list_free(text_split_list *l);

/* Reads the lines of one range. */
typedef struct line_reader {
    int fd;
    void *gz;     /* a .gz file's zlib stream (gzFile), else NULL */
    uint64_t pos; /* file offset of buf[0] */
    uint64_t end; /* lines starting at or past end belong to the next range */
    uint8_t *buf;
    size_t cap, len, off; /* buf holds [off, len) unread bytes */
    int eof;
    uint64_t line_start; /* file offset of the next line */
} line_reader;

/* Opens the range (skipping the partial first line when start > 0).
 * 0, or -1 with a message. */
int line_reader_open(line_reader *r, const char *path, uint64_t start, uint64_t end, char *err, size_t errlen);
/* Next line: 1 with (*line, *len) valid until the next call, 0 at the end
 * of the range, -1 on a read error (message in err). */
int line_reader_next(line_reader *r, const char **line, size_t *len, char *err, size_t errlen);
void line_reader_close(line_reader *r);

#endif
