/*
 * split.c - text input: planning line-aligned byte ranges over files, and
 * reading the lines of one range.
 *
 * Owns path expansion (file, directory, glob) and range arithmetic for
 * split_plan, and the buffered line scanner line_reader. It knows nothing
 * of tasks or records: the caller turns ranges into partitions and lines
 * into records.
 *
 * The one idea: ranges are cut blindly by byte count, and the reader makes
 * them line-aligned. A line belongs to the range holding its first byte, so
 * a reader starting at `start` > 0 looks at byte start-1 and skips through
 * the first line end from there (nothing is skipped when byte start-1 is
 * itself a line end), and it keeps reading past `end` to finish the last
 * line it started. Reading all ranges of a file thus yields every line once.
 * Line ends are Hadoop's LineReader's: '\n', '\r' or "\r\n" (one end, even
 * when a range boundary falls between its two bytes).
 *
 * The reader is the per-line data path: it reads with pread into one
 * buffer (1 MiB, doubled only for a longer line), finds line ends 16 bytes
 * at a time and returns slices into the buffer: no allocation and no system
 * call per line.
 */
#include "split.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* The line reader's first buffer; the fuzz build makes it tiny so that
 * refills and growth happen on every input (fuzz/fuzz.mk). */
#ifndef LINE_BUF_INITIAL
#define LINE_BUF_INITIAL (1u << 20)
#endif

/* ---- planning ---------------------------------------------------------- */

/* One input file found while expanding the path. */
typedef struct input_file {
    char *path; /* absolute, owned */
    uint64_t size;
} input_file;

typedef struct file_list {
    input_file *v;
    size_t n, cap;
} file_list;

static void file_list_free(file_list *fl)
{
    for (size_t i = 0; i < fl->n; i++)
        free(fl->v[i].path);
    free(fl->v);
    fl->v = NULL;
    fl->n = fl->cap = 0;
}

/* Appends (takes) path. 0, or -1 when out of memory (path is freed). */
static int file_list_push(file_list *fl, char *path, uint64_t size)
{
    if (fl->n == fl->cap) {
        size_t cap = fl->cap ? fl->cap * 2 : 16;
        input_file *nv = realloc(fl->v, cap * sizeof(*nv));
        if (!nv) {
            free(path);
            return -1;
        }
        fl->v = nv;
        fl->cap = cap;
    }
    fl->v[fl->n].path = path;
    fl->v[fl->n].size = size;
    fl->n++;
    return 0;
}

/* qsort comparator for an array of char *, byte order (locale-free). */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Adds the regular file at abs (absolute; taken) after checking it can be
 * opened for reading. 0, or -1 with a message naming the file.
 */
static int add_file(file_list *fl, char *abs, char *err, size_t errlen)
{
    int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        errf(err, errlen, "%s: %s", abs, strerror(e));
        free(abs);
        return -1;
    }
    close(fd);
    if (!S_ISREG(st.st_mode)) {
        errf(err, errlen, "%s: not a regular file or directory", abs);
        free(abs);
        return -1;
    }
    if (file_list_push(fl, abs, (uint64_t)st.st_size) < 0) return errf(err, errlen, "split: out of memory");
    return 0;
}

/*
 * Adds the regular files directly inside the directory abs (absolute;
 * borrowed), sorted by name, skipping names that start with '.' or '_' and
 * anything that is not a regular file (subdirectories are not descended).
 * 0, or -1 with a message naming the directory or file.
 */
static int add_dir(file_list *fl, const char *abs, char *err, size_t errlen)
{
    DIR *d = opendir(abs);
    if (!d) return errf(err, errlen, "%s: %s", abs, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || de->d_name[0] == '_') continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nn = realloc(names, nc * sizeof(*nn));
            if (!nn) {
                rc = errf(err, errlen, "split: out of memory");
                goto out;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = errf(err, errlen, "split: out of memory");
            goto out;
        }
        n++;
    }
    if (errno) {
        rc = errf(err, errlen, "%s: %s", abs, strerror(errno));
        goto out;
    }
    if (n) qsort(names, n, sizeof(*names), cmp_str);
    const char *sep = abs[strlen(abs) - 1] == '/' ? "" : "/";
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *p;
        if (asprintf(&p, "%s%s%s", abs, sep, names[i]) < 0) {
            rc = errf(err, errlen, "split: out of memory");
            break;
        }
        struct stat st;
        if (stat(p, &st) < 0) {
            /* a dangling symlink or an entry gone since readdir */
            rc = errf(err, errlen, "%s: %s", p, strerror(errno));
            free(p);
            break;
        }
        if (!S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        rc = add_file(fl, p, err, errlen);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

/*
 * Adds what one existing path names: a regular file, or a directory's
 * files. `rel` is as the user (or glob) gave it; it is made absolute with
 * realpath. With skip_other, a path that is neither file nor directory is
 * ignored instead of being an error (used for glob matches).
 */
static int add_path(file_list *fl, const char *rel, int skip_other, char *err, size_t errlen)
{
    char *abs = realpath(rel, NULL);
    if (!abs) return errf(err, errlen, "%s: %s", rel, strerror(errno));
    struct stat st;
    if (stat(abs, &st) < 0) {
        errf(err, errlen, "%s: %s", rel, strerror(errno));
        free(abs);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        int rc = add_dir(fl, abs, err, errlen);
        free(abs);
        return rc;
    }
    if (!S_ISREG(st.st_mode) && skip_other) {
        free(abs);
        return 0;
    }
    return add_file(fl, abs, err, errlen); /* reports a non-regular file */
}

/* glob(3) error callback: a directory of the pattern that does not exist
 * just matches nothing; any other failure (EACCES...) stops the match. */
static int glob_error(const char *epath, int eerrno)
{
    return eerrno != ENOENT && eerrno != ENOTDIR;
}

/* Expands the glob pattern and adds each match (sorted by name). Matches
 * are taken as given: glob(3) itself skips dot-files unless the pattern
 * names them, and a matched directory contributes its files. */
static int add_glob(file_list *fl, const char *pattern, char *err, size_t errlen)
{
    glob_t g;
    int grc = glob(pattern, GLOB_NOSORT, glob_error, &g);
    if (grc == GLOB_NOMATCH) {
        globfree(&g);
        return errf(err, errlen, "%s: no such file, and no files match it", pattern);
    }
    if (grc != 0) {
        globfree(&g);
        if (grc == GLOB_NOSPACE) return errf(err, errlen, "split: out of memory expanding %s", pattern);
        return errf(err, errlen,
                    "%s: a directory on the way to the "
                    "matches could not be read",
                    pattern);
    }
    qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), cmp_str);
    int rc = 0;
    for (size_t i = 0; i < g.gl_pathc && rc == 0; i++)
        rc = add_path(fl, g.gl_pathv[i], 1, err, errlen);
    globfree(&g);
    return rc;
}

/* The number of ranges of `split` bytes or fewer that the files cut into:
 * the sum of ceil(size / split). */
int split_is_gzip(const char *path)
{
    size_t n = strlen(path);
    return n > 3 && !strcmp(path + n - 3, ".gz");
}

/* The extension of a file Hadoop would decompress with a codec kiln does
 * not have (read as text it would be garbage), or NULL. */
static const char *unread_codec(const char *path)
{
    static const char *const exts[] = {".bz2", ".deflate", ".lz4", ".snappy", ".zst", NULL};
    size_t n = strlen(path);
    for (size_t i = 0; exts[i]; i++) {
        size_t m = strlen(exts[i]);
        if (n > m && !strcmp(path + n - m, exts[i])) return exts[i];
    }
    return NULL;
}

/* The ranges of one file of size s: a gzip file is one (none when empty). */
static uint64_t file_ranges(const char *path, uint64_t s, uint64_t split)
{
    if (split_is_gzip(path)) return s != 0;
    return s / split + (s % split != 0);
}

static uint64_t count_ranges(const file_list *fl, uint64_t split)
{
    uint64_t count = 0;
    for (size_t i = 0; i < fl->n; i++)
        count += file_ranges(fl->v[i].path, fl->v[i].size, split);
    return count;
}

/* Frees the paths of a list and empties it. */
void split_list_free(text_split_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/*
 * Plans the ranges of path into *out (a new list; free it with
 * split_list_free). An existing path is used literally; otherwise a path
 * with '*', '?' or '[' is a glob. All files' sizes are summed and the
 * split size is ceil(total / min_partitions) (at least 1), lowered if need
 * be until the files give at least min_partitions ranges (when total
 * allows), then capped at max_split. Each non-empty file is cut into
 * ceil(size / split) ranges of nearly equal size. An empty directory plans
 * no range and is not an error.
 */
int split_plan(const char *path, int min_partitions, uint64_t max_split, text_split_list *out, char *err, size_t errlen)
{
    out->v = NULL;
    out->n = 0;
    if (!path || !*path) return errf(err, errlen, "split: empty input path");

    file_list fl = {0};
    int rc;
    struct stat st;
    if (stat(path, &st) == 0)
        rc = add_path(&fl, path, 0, err, errlen);
    else if (errno == ENOENT && strpbrk(path, "*?["))
        rc = add_glob(&fl, path, err, errlen);
    else
        rc = errf(err, errlen, "%s: %s", path, strerror(errno));
    if (rc < 0) {
        file_list_free(&fl);
        return -1;
    }

    for (size_t i = 0; i < fl.n; i++) {
        const char *ext = unread_codec(fl.v[i].path);
        if (ext) {
            rc = errf(err, errlen, "%s: a %s file: kiln reads plain text and gzip (.gz) only", fl.v[i].path, ext);
            file_list_free(&fl);
            return rc;
        }
    }
    /* the sizes of the files that can be cut; each gzip file is one range */
    uint64_t total = 0, whole = 0;
    for (size_t i = 0; i < fl.n; i++)
        if (split_is_gzip(fl.v[i].path))
            whole += fl.v[i].size != 0;
        else
            total += fl.v[i].size;
    uint64_t parts = min_partitions > 1 ? (uint64_t)min_partitions : 1;
    parts = parts > whole ? parts - whole : 1;
    uint64_t split = total / parts + (total % parts != 0);
    if (split == 0) split = 1;
    if (total >= parts && count_ranges(&fl, split) - whole < parts) {
        /* Rounding per file left fewer than `parts` ranges (17 bytes in
         * 7 parts: ceil(17 / 3) = 6). Take the largest smaller size that
         * gives enough; size 1 gives `total` ranges, so one exists. */
        uint64_t lo = 1, hi = split; /* count(lo) >= parts > count(hi) */
        while (hi - lo > 1) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (count_ranges(&fl, mid) - whole >= parts)
                lo = mid;
            else
                hi = mid;
        }
        split = lo;
    }
    uint64_t cap = max_split ? max_split : SPLIT_MAX_SIZE;
    if (split > cap) split = cap; /* smaller ranges: never fewer of them */

    size_t count = (size_t)count_ranges(&fl, split);
    if (count) {
        out->v = calloc(count, sizeof(*out->v));
        if (!out->v) {
            file_list_free(&fl);
            return errf(err, errlen, "split: out of memory for %zu ranges", count);
        }
    }
    for (size_t i = 0; i < fl.n; i++) {
        uint64_t s = fl.v[i].size;
        uint64_t k = file_ranges(fl.v[i].path, s, split);
        uint64_t base = k ? s / k : 0, rem = k ? s % k : 0;
        uint64_t start = 0;
        for (uint64_t j = 0; j < k; j++) {
            uint64_t len = base + (j < rem);
            text_split *t = &out->v[out->n];
            if (!(t->path = strdup(fl.v[i].path))) {
                file_list_free(&fl);
                split_list_free(out);
                return errf(err, errlen, "split: out of memory");
            }
            t->start = start;
            t->end = start + len;
            start += len;
            out->n++;
        }
    }
    file_list_free(&fl);
    return 0;
}

/* ---- reading ----------------------------------------------------------- */

/*
 * Reads more of the file into the buffer: first drops the consumed bytes
 * [0, off) by moving the unread tail to the front, doubles the buffer if
 * the tail fills it (a line longer than the buffer), then issues one pread
 * for the free space. Sets eof when the read returns nothing.
 * 0, or -1 with a message.
 */
static int line_reader_fill(line_reader *r, char *err, size_t errlen)
{
    if (r->off > 0) {
        size_t keep = r->len - r->off;
        if (keep) memmove(r->buf, r->buf + r->off, keep);
        r->pos += r->off;
        r->len = keep;
        r->off = 0;
    }
    if (r->len == r->cap) {
        size_t ncap = r->cap * 2;
        uint8_t *nb = ncap > r->cap ? realloc(r->buf, ncap) : NULL;
        if (!nb)
            return errf(err, errlen,
                        "line at offset %" PRIu64 " too long (%zu bytes "
                        "and counting): out of memory",
                        r->line_start, r->len);
        r->buf = nb;
        r->cap = ncap;
    }
    if (r->gz) {
        size_t want = r->cap - r->len;
        int n = gzread((gzFile)r->gz, r->buf + r->len, want > (1u << 30) ? 1u << 30 : (unsigned)want);
        if (n < 0) {
            int zerr;
            const char *msg = gzerror((gzFile)r->gz, &zerr);
            return errf(err, errlen, "gzip data at offset %" PRIu64 " (uncompressed): %s", r->pos + r->len,
                        zerr == Z_ERRNO ? strerror(errno) : msg);
        }
        if (n == 0) r->eof = 1;
        r->len += (size_t)n;
        return 0;
    }
    for (;;) {
        ssize_t n = pread(r->fd, r->buf + r->len, r->cap - r->len, (off_t)(r->pos + r->len));
        if (n < 0) {
            if (errno == EINTR) continue;
            return errf(err, errlen, "read at offset %" PRIu64 ": %s", r->pos + r->len, strerror(errno));
        }
        if (n == 0) r->eof = 1;
        r->len += (size_t)n;
        return 0;
    }
}

/*
 * Finds the first line end ('\n' or '\r') in the n bytes at p, or NULL.
 * Text lines are short, and for short lines a call to memchr costs more
 * than its scan, so this looks at 16 bytes at a time inline.
 */
static inline uint8_t *find_line_end(uint8_t *p, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i nl = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, nl), _mm_cmpeq_epi8(v, cr)));
        if (m) return p + i + __builtin_ctz(m);
    }
#endif
    for (; i < n; i++)
        if (p[i] == '\n' || p[i] == '\r') return p + i;
    return NULL;
}

/*
 * The length of the line end at e (one of the avail bytes from e on): 2
 * for "\r\n", else 1; 0 when e is a '\r' that ends the buffer before the
 * end of the file, so the next byte must be read to know.
 */
static inline size_t line_end_len(const line_reader *r, const uint8_t *e, size_t avail)
{
    if (*e != '\r') return 1;
    if (avail > 1) return e[1] == '\n' ? 2 : 1;
    return r->eof ? 1 : 0;
}

/*
 * Opens path and positions the reader on the first line of [start, end):
 * for start > 0 it reads from start-1 and discards through the first
 * line end ("\r\n" whole), so a line beginning exactly at start is kept. On failure the
 * reader holds nothing and line_reader_close is harmless.
 */
int line_reader_open(line_reader *r, const char *path, uint64_t start, uint64_t end, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        int e = errno;
        char hint[256];
        return errf(err, errlen, "%s: %s%s", path, strerror(e), path_access_hint(path, e, hint, sizeof hint));
    }
    r->buf = malloc(LINE_BUF_INITIAL);
    if (!r->buf) {
        line_reader_close(r);
        return errf(err, errlen, "%s: out of memory for the read buffer", path);
    }
    r->cap = LINE_BUF_INITIAL;
    r->end = end;
    if (split_is_gzip(path)) { /* one range, the whole file, decompressed (offsets are uncompressed ones) */
        if (start != 0) {
            line_reader_close(r);
            return errf(err, errlen, "%s: a gzip file is read whole, not from offset %" PRIu64, path, start);
        }
        r->gz = gzdopen(r->fd, "rb");
        if (!r->gz) {
            line_reader_close(r);
            return errf(err, errlen, "%s: cannot read it as gzip: out of memory", path);
        }
        r->fd = -1; /* the stream owns it */
        gzbuffer((gzFile)r->gz, 256u << 10);
        r->end = end ? UINT64_MAX : 0;
        r->pos = r->line_start = 0;
        return 0;
    }
    (void)posix_fadvise(r->fd, (off_t)(start ? start - 1 : 0), 0, POSIX_FADV_SEQUENTIAL);
    if (start == 0 || start >= end) {
        /* nothing to skip, or an empty range (next returns 0 at once) */
        r->pos = r->line_start = start;
        return 0;
    }
    r->pos = start - 1;
    for (;;) {
        if (r->off == r->len) {
            if (r->eof) break; /* no newline left: the range holds no line */
            if (line_reader_fill(r, err, errlen) < 0) {
                char msg[256];
                snprintf(msg, sizeof(msg), "%s", err ? err : "");
                line_reader_close(r);
                return errf(err, errlen, "%s: %s", path, msg);
            }
            continue;
        }
        uint8_t *s = r->buf + r->off;
        uint8_t *e = find_line_end(s, r->len - r->off);
        size_t term = e ? line_end_len(r, e, r->len - (size_t)(e - r->buf)) : 0;
        if (term) {
            r->off = (size_t)(e + term - r->buf);
            break;
        }
        /* all of it belongs to the previous range, but for a '\r' at the
         * end, which a '\n' may follow */
        r->off = e ? (size_t)(e - r->buf) : r->len;
        if (e && line_reader_fill(r, err, errlen) < 0) {
            char msg[256];
            snprintf(msg, sizeof(msg), "%s", err ? err : "");
            line_reader_close(r);
            return errf(err, errlen, "%s: %s", path, msg);
        }
    }
    r->line_start = r->pos + r->off;
    return 0;
}

/*
 * Returns the next line of the range: one that starts before end, read to
 * its line end however far past end that is. As Hadoop's LineReader, a
 * line ends at '\n', '\r' or "\r\n", which is not part of it, and the
 * last line of a file needs none. The slice points into the reader's
 * buffer and is valid until the next call.
 */
int line_reader_next(line_reader *r, const char **line, size_t *len, char *err, size_t errlen)
{
    if (r->line_start >= r->end) return 0;
    size_t scanned = 0; /* unread bytes already known to hold no line end */
    for (;;) {
        uint8_t *s = r->buf + r->off;
        size_t avail = r->len - r->off;
        uint8_t *e = avail > scanned ? find_line_end(s + scanned, avail - scanned) : NULL;
        size_t n = e ? (size_t)(e - s) : 0, term = e ? line_end_len(r, e, avail - n) : 0;
        if (term) {
            r->off += n + term;
            r->line_start += n + term;
            *line = (const char *)s;
            *len = n;
            return 1;
        }
        if (e) {
            scanned = n; /* a '\r' at the buffer's end: is a '\n' next? */
        } else if (r->eof) {
            if (!avail) return 0; /* a line start at the file size is no line */
            r->off = r->len;      /* the last line, without a line end */
            r->line_start += avail;
            *line = (const char *)s;
            *len = avail;
            return 1;
        } else {
            scanned = avail;
        }
        if (line_reader_fill(r, err, errlen) < 0) return -1;
    }
}

/* Closes the file and frees the buffer; safe on a reader whose open
 * failed, and twice. */
void line_reader_close(line_reader *r)
{
    if (r->gz) gzclose((gzFile)r->gz);
    r->gz = NULL;
    if (r->fd >= 0) close(r->fd);
    free(r->buf);
    r->fd = -1;
    r->buf = NULL;
    r->cap = r->len = r->off = 0;
}
