/*
 * test_logsect.c - unit tests of common/logsect.c: the header line before
 * each task in an executor log, cutting a log into the sections `kiln logs
 * --task/--job` select (whole, and in pieces of every size from any
 * point, as the worker reads it), and executor log file names.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logsect.h"

static const char LOG[] = "kiln executor: started\n"
                          "=== kiln task 5 job 1 stage 1 partition 0 attempt 1 at 2025-06-01T12:00:00.000Z ===\n"
                          "task five says hello\n"
                          "and more\n"
                          "=== kiln task 6 job 1 stage 1 partition 1 attempt 1 at 2025-06-01T12:00:00.001Z ===\n"
                          "six\n"
                          "=== kiln task 17 job 2 stage 3 partition 0 attempt 2 at 2025-06-01T12:00:01.000Z ===\n"
                          "=== kiln task 1 is not a header, only text\n"
                          "seventeen\n"
                          "=== kiln task 18 job 2 stage 3 partition 1 attempt 1 at 2025-06-01T12:00:01.500Z ===\n"
                          "eighteen, unfinished";

static const char SECT5[] = "=== kiln task 5 job 1 stage 1 partition 0 attempt 1 at 2025-06-01T12:00:00.000Z ===\n"
                            "task five says hello\n"
                            "and more\n";
static const char SECT17[] = "=== kiln task 17 job 2 stage 3 partition 0 attempt 2 at 2025-06-01T12:00:01.000Z ===\n"
                             "=== kiln task 1 is not a header, only text\n"
                             "seventeen\n";
static const char SECT18[] = "=== kiln task 18 job 2 stage 3 partition 1 attempt 1 at 2025-06-01T12:00:01.500Z ===\n"
                             "eighteen, unfinished";

/* Runs the filter over log in pieces of at most piece bytes, as the worker
 * does: each call gets what the last one left plus the next bytes; the
 * last call (everything read) is final. Returns the kept bytes (caller
 * frees) and their length in *len. */
static char *filter_pieces(logsect_sel sel, const char *log, size_t n, size_t piece, size_t *len)
{
    char *got = malloc(n + 1);
    uint8_t *out = malloc(n + 1);
    logsect_state st = {0, 0};
    size_t off = 0, total = 0, extra = 0;
    while (off < n) {
        /* a piece the filter could not use at all is read again, longer */
        size_t want = n - off < piece + extra ? n - off : piece + extra, outlen;
        int final = off + want == n;
        size_t used = logsect_filter(&sel, &st, (const uint8_t *)log + off, want, final, out, &outlen);
        ck_assert_uint_le(outlen, used);
        if (final) ck_assert_uint_eq(used, want);
        memcpy(got + total, out, outlen);
        total += outlen;
        off += used;
        extra = used ? 0 : extra + piece;
    }
    got[total] = 0;
    free(out);
    *len = total;
    return got;
}

static void assert_selects(logsect_sel sel, const char *want)
{
    size_t n = strlen(LOG);
    for (size_t piece = 1; piece <= n; piece++) {
        size_t len;
        char *got = filter_pieces(sel, LOG, n, piece, &len);
        ck_assert_msg(len == strlen(want) && !memcmp(got, want, len), "pieces of %zu: got [%s]", piece, got);
        free(got);
    }
}

START_TEST(test_header_round_trip)
{
    char buf[256];
    size_t n = logsect_header(buf, sizeof buf, 17, 2, 3, 4, 5, 1748779200123ULL);
    ck_assert_str_eq(buf, "=== kiln task 17 job 2 stage 3 partition 4 attempt 5 at 2025-06-01T12:00:00.123Z ===\n");
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert_uint_lt(n, LOGSECT_HEADER_MAX);
    uint64_t task = 0;
    uint32_t job = 0;
    ck_assert_int_eq(logsect_parse_header((const uint8_t *)buf, n, &task, &job), 1);
    ck_assert_uint_eq(task, 17);
    ck_assert_uint_eq(job, 2);
    /* without its newline too */
    ck_assert_int_eq(logsect_parse_header((const uint8_t *)buf, n - 1, &task, &job), 1);
    /* the largest ids */
    n = logsect_header(buf, sizeof buf, UINT64_MAX, UINT32_MAX, 0, 0, 0, 0);
    ck_assert_int_eq(logsect_parse_header((const uint8_t *)buf, n, &task, &job), 1);
    ck_assert_uint_eq(task, UINT64_MAX);
    ck_assert_uint_eq(job, UINT32_MAX);
    /* a short buffer is cut, never overrun */
    char small[8];
    ck_assert_uint_eq(logsect_header(small, sizeof small, 1, 1, 1, 1, 1, 0), 7);
}
END_TEST

START_TEST(test_not_headers)
{
    static const char *const lines[] = {
        "",
        "=== kiln task",
        "=== kiln task x job 1",
        "=== kiln task 5",
        "=== kiln task 5 job",
        "=== kiln task 5 job x",
        "=== kiln task 5job 1",
        "=== kiln task 5 job 1x",
        " === kiln task 5 job 1",
        "=== kiln task 5 job 99999999999",
        "== kiln task 5 job 1",
        "=== Kiln task 5 job 1",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        uint64_t task = 42;
        uint32_t job = 42;
        ck_assert_msg(!logsect_parse_header((const uint8_t *)lines[i], strlen(lines[i]), &task, &job), "[%s]",
                      lines[i]);
        ck_assert_uint_eq(task, 42);
    }
}
END_TEST

START_TEST(test_select_task)
{
    assert_selects((logsect_sel){.task = 5}, SECT5);
    assert_selects((logsect_sel){.task = 17}, SECT17);
    assert_selects((logsect_sel){.task = 18}, SECT18);
    /* a task of another job, or one not in the log: nothing */
    assert_selects((logsect_sel){.task = 5, .job = 2}, "");
    assert_selects((logsect_sel){.task = 99}, "");
    /* "task 1" appears only inside text: not a section */
    assert_selects((logsect_sel){.task = 1}, "");
}
END_TEST

START_TEST(test_select_job)
{
    size_t n = strlen(SECT5);
    char *want = malloc(4096);
    strcpy(want, SECT5);
    strcpy(want + n, "=== kiln task 6 job 1 stage 1 partition 1 attempt 1 at 2025-06-01T12:00:00.001Z ===\nsix\n");
    assert_selects((logsect_sel){.job = 1}, want);
    strcpy(want, SECT17);
    strcat(want, SECT18);
    assert_selects((logsect_sel){.job = 2}, want);
    assert_selects((logsect_sel){.job = 17, .task = 17}, "");
    free(want);
}
END_TEST

START_TEST(test_select_nothing_keeps_all)
{
    assert_selects((logsect_sel){0}, LOG);
}
END_TEST

/* An unfinished line that may become a header waits unless final; one
 * that cannot is consumed at once. */
START_TEST(test_unfinished_lines)
{
    logsect_sel sel = {.task = 7};
    uint8_t out[512];
    size_t outlen;
    logsect_state st = {0, 0};
    const char *p = "=== kiln task 7 jo";
    ck_assert_uint_eq(logsect_filter(&sel, &st, (const uint8_t *)p, strlen(p), 0, out, &outlen), 0);
    ck_assert_uint_eq(outlen, 0);
    ck_assert_int_eq(st.midline, 0);
    p = "=== kiln task 7 job 1 stage 0 partition 0 attempt 1 at x ===";
    ck_assert_uint_eq(logsect_filter(&sel, &st, (const uint8_t *)p, strlen(p), 1, out, &outlen), strlen(p));
    ck_assert_uint_eq(outlen, strlen(p));
    ck_assert_int_eq(st.inside, 1);
    ck_assert_int_eq(st.midline, 1);
    /* the rest of that line, still inside; the unfinished line after it waits */
    p = "\nhello";
    ck_assert_uint_eq(logsect_filter(&sel, &st, (const uint8_t *)p, strlen(p), 0, out, &outlen), 1);
    ck_assert_uint_eq(outlen, 1);
    ck_assert_int_eq(st.midline, 0);
    p = "hello\n";
    ck_assert_uint_eq(logsect_filter(&sel, &st, (const uint8_t *)p, strlen(p), 0, out, &outlen), strlen(p));
    ck_assert_uint_eq(outlen, strlen(p));
    /* with nothing selected too: pieces end at line ends unless final */
    logsect_sel all = {0};
    st = (logsect_state){0, 0};
    p = "one\ntw";
    ck_assert_uint_eq(logsect_filter(&all, &st, (const uint8_t *)p, strlen(p), 0, out, &outlen), 4);
    ck_assert_uint_eq(outlen, 4);
    ck_assert_uint_eq(logsect_filter(&all, &st, (const uint8_t *)p + 4, 2, 1, out, &outlen), 2);
    ck_assert_int_eq(st.midline, 1);
    /* plain text without a newline is consumed at once */
    st = (logsect_state){0, 0};
    p = "plain text";
    ck_assert_uint_eq(logsect_filter(&sel, &st, (const uint8_t *)p, strlen(p), 0, out, &outlen), strlen(p));
    ck_assert_uint_eq(outlen, 0);
    ck_assert_int_eq(st.midline, 1);
    /* a line that starts like a header but runs past LOGSECT_HEADER_MAX
     * without a newline is text */
    char longline[LOGSECT_HEADER_MAX + 10];
    memset(longline, 'x', sizeof longline);
    memcpy(longline, LOGSECT_PREFIX, strlen(LOGSECT_PREFIX));
    st = (logsect_state){0, 0};
    ck_assert_uint_eq(logsect_filter(&sel, &st, (const uint8_t *)longline, sizeof longline, 0, out, &outlen),
                      sizeof longline);
    ck_assert_int_eq(st.midline, 1);
    /* a header in the middle of a line is text */
    st = (logsect_state){0, 1};
    p = "=== kiln task 7 job 1\nnext\n";
    logsect_filter(&sel, &st, (const uint8_t *)p, strlen(p), 0, out, &outlen);
    ck_assert_uint_eq(outlen, 0);
    ck_assert_int_eq(st.inside, 0);
}
END_TEST

/* A section longer than the pieces: a log of many lines, one of them
 * longer than a piece, read 1 MiB at a time. */
START_TEST(test_big_section)
{
    size_t n = 3u << 20;
    char *log = malloc(n + 1);
    size_t off = 0;
    off += (size_t)sprintf(log + off, "=== kiln task 1 job 1 stage 0 partition 0 attempt 1 at x ===\n");
    size_t s2 = 0;
    while (off < n - 200) {
        if (!s2 && off > n / 2) {
            s2 = off;
            off += (size_t)sprintf(log + off, "=== kiln task 2 job 1 stage 0 partition 1 attempt 1 at x ===\n");
            memset(log + off, 'y', (size_t)1 << 20 | 7);
            off += (size_t)1 << 20 | 7;
            log[off++] = '\n';
        }
        off += (size_t)sprintf(log + off, "line %zu\n", off);
    }
    log[off] = 0;
    size_t len;
    char *got = filter_pieces((logsect_sel){.task = 2}, log, off, 1u << 20, &len);
    ck_assert_uint_eq(len, off - s2);
    ck_assert(!memcmp(got, log + s2, len));
    free(got);
    got = filter_pieces((logsect_sel){.task = 1}, log, off, 1u << 20, &len);
    ck_assert_uint_eq(len, s2);
    ck_assert(!memcmp(got, log, len));
    free(got);
    free(log);
}
END_TEST

START_TEST(test_file_names)
{
    unsigned i = 99;
    ck_assert_int_eq(logsect_file_name_ok("executor-0.log", &i), 1);
    ck_assert_uint_eq(i, 0);
    ck_assert_int_eq(logsect_file_name_ok("executor-123.log", &i), 1);
    ck_assert_uint_eq(i, 123);
    static const char *const bad[] = {"",
                                      "executor-.log",
                                      "executor-01.log",
                                      "executor-1.logx",
                                      "executor-1.log/",
                                      "../executor-1.log",
                                      "executor-1/../x.log",
                                      "executor-a.log",
                                      "worker.log",
                                      "executor-1234567890.log",
                                      "executor--1.log"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        ck_assert_msg(!logsect_file_name_ok(bad[k], &i), "[%s]", bad[k]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("logsect");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_header_round_trip);
    tcase_add_test(tc, test_not_headers);
    tcase_add_test(tc, test_select_task);
    tcase_add_test(tc, test_select_job);
    tcase_add_test(tc, test_select_nothing_keeps_all);
    tcase_add_test(tc, test_unfinished_lines);
    tcase_add_test(tc, test_big_section);
    tcase_add_test(tc, test_file_names);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
