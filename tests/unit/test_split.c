/*
 * test_split.c - unit tests of common/split.c: however files are cut into
 * ranges, reading all ranges in order yields every line exactly once, in
 * order; paths expand as documented; errors name the path.
 *
 * Each test runs in a fresh directory under /tmp (a checked fixture), which
 * is removed afterwards.
 */
#include <check.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "split.h"

static char tmpdir[64];
static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void setup(void)
{
    strcpy(tmpdir, "/tmp/kiln_test_split_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(p);
    return 0;
}

static void teardown(void)
{
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Returns tmpdir/name in a static buffer (one of four, for nesting). */
static const char *tpath(const char *name)
{
    static char bufs[4][256];
    static int i;
    char *b = bufs[i++ % 4];
    snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, name);
    return b;
}

static void write_file(const char *name, const void *p, size_t n)
{
    FILE *f = fopen(tpath(name), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* A growable list of lines: lengths and concatenated bytes. */
typedef struct lines {
    char *bytes;
    size_t len, cap;
    size_t *lens;
    size_t n, ncap;
} lines;

static void lines_add(lines *l, const char *p, size_t n)
{
    if (l->len + n > l->cap) {
        l->cap = (l->len + n) * 2 + 64;
        l->bytes = realloc(l->bytes, l->cap);
    }
    if (n) memcpy(l->bytes + l->len, p, n);
    l->len += n;
    if (l->n == l->ncap) {
        l->ncap = l->ncap * 2 + 64;
        l->lens = realloc(l->lens, l->ncap * sizeof(size_t));
    }
    l->lens[l->n++] = n;
}

static void lines_free(lines *l)
{
    free(l->bytes);
    free(l->lens);
    memset(l, 0, sizeof(*l));
}

/* The reference split of a file's content into lines (the contract in
 * split.h, written the obvious way). */
/* The lines of p as Hadoop's LineReader cuts them: at '\n', '\r' or
 * "\r\n"; a last line needs no line end. */
static void ref_lines(lines *l, const char *p, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' || p[i] == '\r') {
            lines_add(l, p + s, i - s);
            if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') i++;
            s = i + 1;
        }
    }
    if (s < n) lines_add(l, p + s, n - s);
}

static void assert_lines_eq(const lines *got, const lines *want)
{
    ck_assert_uint_eq(got->n, want->n);
    ck_assert_uint_eq(got->len, want->len);
    for (size_t i = 0; i < want->n; i++)
        ck_assert_msg(got->lens[i] == want->lens[i], "line %zu: %zu bytes, want %zu", i, got->lens[i], want->lens[i]);
    ck_assert(want->len == 0 || memcmp(got->bytes, want->bytes, want->len) == 0);
}

/* Checks the plan's ranges: per file contiguous from 0 to its size, none
 * empty nor larger than `split`. */
static void check_ranges(const text_split_list *l, uint64_t split)
{
    uint64_t next = 0;
    for (size_t i = 0; i < l->n; i++) {
        const text_split *t = &l->v[i];
        ck_assert(t->path[0] == '/');
        if (i == 0 || strcmp(t->path, l->v[i - 1].path) != 0) {
            if (i > 0) {
                struct stat st;
                ck_assert_int_eq(stat(l->v[i - 1].path, &st), 0);
                ck_assert_uint_eq(next, (uint64_t)st.st_size);
            }
            next = 0;
        }
        ck_assert_uint_eq(t->start, next);
        ck_assert_uint_gt(t->end, t->start);
        ck_assert_uint_le(t->end - t->start, split);
        next = t->end;
    }
}

/* Plans path and reads every range in order into got; returns the number
 * of ranges. Fails the test on any error. */
static size_t read_all_ranges(const char *path, int parts, uint64_t max_split, lines *got)
{
    text_split_list l;
    char err[512] = "";
    ck_assert_msg(split_plan(path, parts, max_split, &l, err, sizeof(err)) == 0, "%s", err);
    for (size_t i = 0; i < l.n; i++) {
        line_reader r;
        ck_assert_msg(line_reader_open(&r, l.v[i].path, l.v[i].start, l.v[i].end, err, sizeof(err)) == 0, "%s", err);
        const char *p;
        size_t n;
        int rc;
        while ((rc = line_reader_next(&r, &p, &n, err, sizeof(err))) == 1)
            lines_add(got, p, n);
        ck_assert_msg(rc == 0, "%s", err);
        ck_assert_int_eq(line_reader_next(&r, &p, &n, err, sizeof(err)), 0);
        line_reader_close(&r);
    }
    size_t n = l.n;
    split_list_free(&l);
    return n;
}

/* Plans path with each partition count and split size and checks that
 * the lines read equal want; checks the range sizes too. */
static void check_all_cuts(const char *path, const lines *want, uint64_t total, const uint64_t *splits, size_t nsplits)
{
    static const int parts[] = {1, 2, 7, 64};
    for (size_t pi = 0; pi < sizeof(parts) / sizeof(parts[0]); pi++) {
        for (size_t si = 0; si < nsplits; si++) {
            lines got = {0};
            size_t nr = read_all_ranges(path, parts[pi], splits[si], &got);
            assert_lines_eq(&got, want);
            lines_free(&got);

            uint64_t cap = splits[si] ? splits[si] : SPLIT_MAX_SIZE;
            uint64_t goal = (total + (uint64_t)parts[pi] - 1) / (uint64_t)parts[pi];
            uint64_t split = goal < cap ? goal : cap;
            if (split == 0) split = 1;
            text_split_list l;
            char err[512];
            ck_assert_int_eq(split_plan(path, parts[pi], splits[si], &l, err, sizeof(err)), 0);
            ck_assert_uint_eq(l.n, nr);
            check_ranges(&l, split);
            if (total >= (uint64_t)parts[pi]) ck_assert_uint_ge(l.n, (size_t)parts[pi]);
            split_list_free(&l);
        }
    }
}

/* Generates random lines (some empty, some long) into a new buffer;
 * with_cr 1 ends some with "\r\n", 2 some with '\r' alone too. */
static char *gen_text(size_t target, size_t *n, int with_cr)
{
    size_t cap = target + 4096, len = 0;
    char *p = malloc(cap);
    while (len < target) {
        uint64_t x = rnd();
        size_t ll = (x & 15) == 0 ? 0 : (size_t)(x >> 8) % 120;
        if ((x >> 40) % 97 == 0) ll = 1000 + (size_t)(x >> 20) % 3000;
        if (len + ll + 2 > cap) break;
        for (size_t i = 0; i < ll; i++)
            p[len++] = (char)('a' + rnd() % 26);
        if (with_cr == 2 && (x >> 56) % 5 == 0) { /* a line ended by '\r' alone */
            p[len++] = '\r';
            continue;
        }
        if (with_cr && (x >> 50) % 3 == 0) p[len++] = '\r';
        p[len++] = '\n';
    }
    *n = len;
    return p;
}

START_TEST(test_small_file_all_cuts)
{
    size_t n;
    char *text = gen_text(3000, &n, 0);
    write_file("small.txt", text, n);
    lines want = {0};
    ref_lines(&want, text, n);
    static const uint64_t splits[] = {0, 1, 2, 3, 5, 13, 64, 1000};
    check_all_cuts(tpath("small.txt"), &want, n, splits, sizeof(splits) / sizeof(splits[0]));
    lines_free(&want);
    free(text);
}
END_TEST

START_TEST(test_medium_file_all_cuts)
{
    size_t n;
    char *text = gen_text(400000, &n, 0);
    write_file("medium.txt", text, n);
    lines want = {0};
    ref_lines(&want, text, n);
    static const uint64_t splits[] = {0, 997, 4096, 65536};
    check_all_cuts(tpath("medium.txt"), &want, n, splits, sizeof(splits) / sizeof(splits[0]));
    lines_free(&want);
    free(text);
}
END_TEST

START_TEST(test_line_longer_than_buffer)
{
    /* lines of 3 MiB and 1 MiB +- 1 around the reader's 1 MiB buffer */
    size_t sizes[] = {5, 3u << 20, 7, (1u << 20) - 1, (1u << 20), (1u << 20) + 1, 0, 9};
    size_t cap = 0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        cap += sizes[i] + 1;
    char *text = malloc(cap);
    size_t n = 0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (size_t j = 0; j < sizes[i]; j++)
            text[n++] = (char)('A' + (i + j) % 26);
        text[n++] = '\n';
    }
    write_file("long.txt", text, n);
    lines want = {0};
    ref_lines(&want, text, n);
    ck_assert_uint_eq(want.n, 8);
    static const uint64_t splits[] = {0, 1u << 20, 300000};
    check_all_cuts(tpath("long.txt"), &want, n, splits, 3);
    lines_free(&want);
    free(text);
}
END_TEST

START_TEST(test_no_final_newline)
{
    const char *text = "first\nsecond\n\nlast without newline";
    write_file("nofinal.txt", text, strlen(text));
    lines want = {0};
    ref_lines(&want, text, strlen(text));
    ck_assert_uint_eq(want.n, 4);
    static const uint64_t splits[] = {0, 1, 2, 4, 6, 7, 100};
    check_all_cuts(tpath("nofinal.txt"), &want, strlen(text), splits, 7);
    lines_free(&want);

    write_file("one.txt", "x", 1); /* a one-byte file */
    lines got = {0};
    read_all_ranges(tpath("one.txt"), 1, 0, &got);
    ck_assert_uint_eq(got.n, 1);
    ck_assert_uint_eq(got.lens[0], 1);
    lines_free(&got);
}
END_TEST

START_TEST(test_empty_file)
{
    write_file("empty.txt", "", 0);
    text_split_list l;
    char err[512];
    ck_assert_int_eq(split_plan(tpath("empty.txt"), 4, 0, &l, err, sizeof(err)), 0);
    ck_assert_uint_eq(l.n, 0);
    split_list_free(&l);

    /* and a reader over an empty range of it reads nothing */
    line_reader r;
    const char *p;
    size_t n;
    ck_assert_int_eq(line_reader_open(&r, tpath("empty.txt"), 0, 0, err, sizeof(err)), 0);
    ck_assert_int_eq(line_reader_next(&r, &p, &n, err, sizeof(err)), 0);
    line_reader_close(&r);
    line_reader_close(&r); /* twice is harmless */
}
END_TEST

START_TEST(test_only_newlines)
{
    const char *text = "\n\n\n\n\n\n\n";
    write_file("nl.txt", text, strlen(text));
    lines want = {0};
    ref_lines(&want, text, strlen(text));
    ck_assert_uint_eq(want.n, 7);
    static const uint64_t splits[] = {0, 1, 2, 3};
    check_all_cuts(tpath("nl.txt"), &want, strlen(text), splits, 4);
    lines_free(&want);

    write_file("one_nl.txt", "\n", 1);
    lines got = {0};
    read_all_ranges(tpath("one_nl.txt"), 3, 0, &got);
    ck_assert_uint_eq(got.n, 1);
    ck_assert_uint_eq(got.lens[0], 0);
    lines_free(&got);
}
END_TEST

START_TEST(test_crlf)
{
    /* as Hadoop's LineReader: '\r' alone ends a line too, and a last '\r'
     * without a '\n' is no part of the last line */
    const char *text = "a\r\nbb\r\n\r\nccc\nd\r\r\n\re\r\nf\rg\r";
    write_file("crlf.txt", text, strlen(text));
    lines got = {0};
    read_all_ranges(tpath("crlf.txt"), 1, 0, &got);
    const char *want_lines[] = {"a", "bb", "", "ccc", "d", "", "", "e", "f", "g"};
    ck_assert_uint_eq(got.n, 10);
    size_t off = 0;
    for (size_t i = 0; i < 10; i++) {
        ck_assert_uint_eq(got.lens[i], strlen(want_lines[i]));
        ck_assert(memcmp(got.bytes + off, want_lines[i], got.lens[i]) == 0);
        off += got.lens[i];
    }
    lines_free(&got);

    lines want = {0};
    ref_lines(&want, text, strlen(text));
    static const uint64_t splits[] = {0, 1, 2, 3, 5, 16, 17, 18};
    check_all_cuts(tpath("crlf.txt"), &want, strlen(text), splits, 8);
    lines_free(&want);

    size_t n;
    char *big = gen_text(100000, &n, 2);
    write_file("crlf_big.txt", big, n);
    ref_lines(&want, big, n);
    static const uint64_t bsplits[] = {0, 7, 13, 1000, 4097};
    check_all_cuts(tpath("crlf_big.txt"), &want, n, bsplits, 5);
    lines_free(&want);
    free(big);
}
END_TEST

/* A .gz file is one range, read whole and decompressed; beside a plain
 * file in a directory, only the plain one is cut. */
START_TEST(test_gzip)
{
    size_t n;
    char *text = gen_text(200000, &n, 2);
    lines want = {0};
    ref_lines(&want, text, n);
    mkdir(tpath("gzdir"), 0755);
    gzFile g = gzopen(tpath("gzdir/a.txt.gz"), "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, text, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(g), Z_OK);
    for (int parts = 1; parts <= 8; parts *= 2) {
        lines got = {0};
        ck_assert_uint_eq(read_all_ranges(tpath("gzdir/a.txt.gz"), parts, 4096, &got), 1);
        assert_lines_eq(&got, &want);
        lines_free(&got);
    }
    write_file("gzdir/b.txt", text, n);
    text_split_list l;
    char err[512];
    ck_assert_int_eq(split_plan(tpath("gzdir"), 4, 0, &l, err, sizeof(err)), 0);
    size_t gz = 0;
    for (size_t i = 0; i < l.n; i++)
        gz += split_is_gzip(l.v[i].path);
    ck_assert_uint_eq(gz, 1);
    ck_assert_uint_ge(l.n, 4); /* the plain file gives the other three or more */
    split_list_free(&l);
    lines got = {0};
    read_all_ranges(tpath("gzdir"), 4, 0, &got);
    ck_assert_uint_eq(got.n, 2 * want.n);
    lines_free(&got);
    lines_free(&want);
    free(text);

    static const char bad[] = "\x1f\x8b\x08\x00garbage that is no deflate stream";
    write_file("gzdir/c.txt.bz2", "BZh9", 4); /* Hadoop would decompress it: kiln refuses, never reads garbage */
    ck_assert_int_eq(split_plan(tpath("gzdir"), 4, 0, &l, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "c.txt.bz2: a .bz2 file: kiln reads plain text and gzip (.gz) only"), "%s", err);
    write_file("bad.gz", bad, sizeof bad - 1);
    line_reader r;
    const char *p;
    size_t len;
    ck_assert_int_eq(line_reader_open(&r, tpath("bad.gz"), 0, sizeof bad - 1, err, sizeof(err)), 0);
    int rc;
    while ((rc = line_reader_next(&r, &p, &len, err, sizeof(err))) == 1)
        ;
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err, "gzip"), "%s", err);
    line_reader_close(&r);
}
END_TEST

START_TEST(test_directory)
{
    ck_assert_int_eq(mkdir(tpath("in"), 0755), 0);
    ck_assert_int_eq(mkdir(tpath("in/sub"), 0755), 0);
    write_file("in/b.txt", "b1\nb2\n", 6);
    write_file("in/a.txt", "a1\na2\na3", 8);
    write_file("in/c_empty.txt", "", 0);
    write_file("in/d.txt", "d1\n", 3);
    write_file("in/.hidden", "h\n", 2);
    write_file("in/_SUCCESS", "s\n", 2);
    write_file("in/sub/x.txt", "x\n", 2);

    lines want = {0};
    ref_lines(&want, "a1\na2\na3\nb1\nb2\nd1\n", 18);
    static const uint64_t splits[] = {0, 1, 2, 4};
    check_all_cuts(tpath("in"), &want, 17, splits, 4);
    lines_free(&want);

    /* a trailing slash changes nothing; paths are absolute and clean */
    char withslash[PATH_MAX];
    snprintf(withslash, sizeof(withslash), "%s/", tpath("in"));
    text_split_list l;
    char err[512];
    ck_assert_int_eq(split_plan(withslash, 1, 0, &l, err, sizeof(err)), 0);
    ck_assert_uint_eq(l.n, 3);
    char *real = realpath(tpath("in"), NULL);
    char expect[PATH_MAX];
    snprintf(expect, sizeof(expect), "%s/a.txt", real);
    ck_assert_str_eq(l.v[0].path, expect);
    snprintf(expect, sizeof(expect), "%s/d.txt", real);
    ck_assert_str_eq(l.v[2].path, expect);
    free(real);
    split_list_free(&l);

    /* an empty directory plans nothing and is no error */
    ck_assert_int_eq(mkdir(tpath("none"), 0755), 0);
    ck_assert_int_eq(split_plan(tpath("none"), 2, 0, &l, err, sizeof(err)), 0);
    ck_assert_uint_eq(l.n, 0);
    split_list_free(&l);
}
END_TEST

START_TEST(test_glob_and_relative_paths)
{
    write_file("x2.log", "two\n", 4);
    write_file("x1.log", "one\n", 4);
    write_file("x10.log", "ten\n", 4);
    write_file("y.txt", "why\n", 4);
    write_file(".x0.log", "hidden\n", 7);

    lines want = {0};
    ref_lines(&want, "one\nten\ntwo\n", 12); /* byte order of names */
    static const uint64_t splits[] = {0, 1, 3};
    check_all_cuts(tpath("x*.log"), &want, 12, splits, 3);

    /* relative names resolve against the cwd into absolute paths */
    char old[PATH_MAX];
    ck_assert_ptr_nonnull(getcwd(old, sizeof(old)));
    ck_assert_int_eq(chdir(tmpdir), 0);
    lines got = {0};
    read_all_ranges("x?.log", 2, 0, &got);
    ck_assert_uint_eq(got.n, 2);
    lines_free(&got);

    text_split_list l;
    char err[512];
    ck_assert_int_eq(split_plan("./y.txt", 1, 0, &l, err, sizeof(err)), 0);
    ck_assert_uint_eq(l.n, 1);
    char *real = realpath("y.txt", NULL);
    ck_assert_str_eq(l.v[0].path, real);
    free(real);
    split_list_free(&l);

    ck_assert_int_eq(split_plan("x*.log", 1, 0, &l, err, sizeof(err)), 0);
    ck_assert_uint_eq(l.n, 3);
    for (size_t i = 0; i < l.n; i++)
        ck_assert(l.v[i].path[0] == '/');
    split_list_free(&l);
    ck_assert_int_eq(chdir(old), 0);
    lines_free(&want);
}
END_TEST

START_TEST(test_errors_name_the_path)
{
    text_split_list l;
    char err[512];
    const char *missing = tpath("no-such-file.txt");
    ck_assert_int_eq(split_plan(missing, 1, 0, &l, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, missing) != NULL, "%s", err);
    ck_assert_uint_eq(l.n, 0);

    const char *pattern = tpath("nothing-*.txt");
    ck_assert_int_eq(split_plan(pattern, 1, 0, &l, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, pattern) != NULL, "%s", err);

    const char *under_file = tpath("f.txt/x");
    write_file("f.txt", "f\n", 2);
    ck_assert_int_eq(split_plan(under_file, 1, 0, &l, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, under_file) != NULL, "%s", err);

    ck_assert_int_eq(split_plan("", 1, 0, &l, err, sizeof(err)), -1);

    line_reader r;
    ck_assert_int_eq(line_reader_open(&r, missing, 0, 10, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, missing) != NULL, "%s", err);
    line_reader_close(&r); /* harmless after a failed open */

    if (geteuid() != 0) { /* root reads anything */
        write_file("secret.txt", "s\n", 2);
        ck_assert_int_eq(chmod(tpath("secret.txt"), 0), 0);
        ck_assert_int_eq(split_plan(tpath("secret.txt"), 1, 0, &l, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "secret.txt") != NULL, "%s", err);

        ck_assert_int_eq(mkdir(tpath("closed"), 0755), 0);
        write_file("closed/a.txt", "a\n", 2);
        ck_assert_int_eq(chmod(tpath("closed"), 0), 0);
        ck_assert_int_eq(split_plan(tpath("closed"), 1, 0, &l, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "/closed") != NULL, "%s", err);
        chmod(tpath("closed"), 0755); /* so teardown can remove it */
    }
}
END_TEST

START_TEST(test_range_arithmetic)
{
    char buf[100];
    memset(buf, 'z', sizeof(buf));
    write_file("hundred.txt", buf, sizeof(buf));
    text_split_list l;
    char err[512];
    /* goal ceil(100/3) = 34: three ranges of 34, 33, 33 */
    ck_assert_int_eq(split_plan(tpath("hundred.txt"), 3, 0, &l, err, sizeof(err)), 0);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_uint_eq(l.v[0].end, 34);
    ck_assert_uint_eq(l.v[1].end, 67);
    ck_assert_uint_eq(l.v[2].end, 100);
    split_list_free(&l);
    /* max_split caps the goal: ceil(100/30) = 4 ranges of 25 */
    ck_assert_int_eq(split_plan(tpath("hundred.txt"), 1, 30, &l, err, sizeof(err)), 0);
    ck_assert_uint_eq(l.n, 4);
    ck_assert_uint_eq(l.v[1].start, 25);
    split_list_free(&l);
    /* more partitions than bytes: one range per byte */
    ck_assert_int_eq(split_plan(tpath("hundred.txt"), 1000, 0, &l, err, sizeof(err)), 0);
    ck_assert_uint_eq(l.n, 100);
    split_list_free(&l);
    /* ceil(100/7) = 15 would give ceil(100/15) = 7 ranges: kept */
    ck_assert_int_eq(split_plan(tpath("hundred.txt"), 7, 0, &l, err, sizeof(err)), 0);
    ck_assert_uint_eq(l.n, 7);
    split_list_free(&l);
    /* ceil(100/64) = 2 would give only 50 ranges: the size drops to 1 */
    ck_assert_int_eq(split_plan(tpath("hundred.txt"), 64, 0, &l, err, sizeof(err)), 0);
    ck_assert_uint_eq(l.n, 100);
    split_list_free(&l);
    /* 17 bytes, 7 parts: ceil(17/3) = 6 < 7, so size 2 and 9 ranges */
    write_file("seventeen.txt", buf, 17);
    ck_assert_int_eq(split_plan(tpath("seventeen.txt"), 7, 0, &l, err, sizeof(err)), 0);
    ck_assert_uint_eq(l.n, 9);
    split_list_free(&l);
    /* min_partitions <= 0 counts as 1 */
    ck_assert_int_eq(split_plan(tpath("hundred.txt"), 0, 0, &l, err, sizeof(err)), 0);
    ck_assert_uint_eq(l.n, 1);
    split_list_free(&l);
    ck_assert_int_eq(split_plan(tpath("hundred.txt"), -5, 0, &l, err, sizeof(err)), 0);
    ck_assert_uint_eq(l.n, 1);
    split_list_free(&l);
}
END_TEST

static Suite *split_suite(void)
{
    Suite *s = suite_create("split");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_small_file_all_cuts);
    tcase_add_test(tc, test_medium_file_all_cuts);
    tcase_add_test(tc, test_line_longer_than_buffer);
    tcase_add_test(tc, test_no_final_newline);
    tcase_add_test(tc, test_empty_file);
    tcase_add_test(tc, test_only_newlines);
    tcase_add_test(tc, test_crlf);
    tcase_add_test(tc, test_gzip);
    tcase_add_test(tc, test_directory);
    tcase_add_test(tc, test_glob_and_relative_paths);
    tcase_add_test(tc, test_errors_name_the_path);
    tcase_add_test(tc, test_range_arithmetic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(split_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
