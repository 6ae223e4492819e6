/*
 * test_log.c - unit tests of common/log.c: the line format, level
 * filtering, escaping, truncation of long lines, the file's mode and
 * flags, errors that name the path, and reopening after logrotate has
 * renamed the file.
 */
#include <stddef.h> /* log.h uses size_t */

#include "log.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[64];
static char logpath[128];

static void setup_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kiln-test-log-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(logpath, sizeof logpath, "%s/test.log", tmpdir);
}

static void teardown_tmp(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char path[512];

    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
}

/* Returns the whole of path as a new NUL-terminated string. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Number of '\n' in s. */
static int count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Asserts that s matches the extended regex pattern. */
static void assert_matches(const char *s, const char *pattern)
{
    regex_t re;

    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    ck_assert_msg(regexec(&re, s, 0, NULL, 0) == 0, "'%s' does not match '%s'", s, pattern);
    regfree(&re);
}

#define TS "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"

START_TEST(test_format)
{
    logger l;
    char err[256], *text;
    struct tm tm;
    int ms;
    time_t when;

    ck_assert_int_eq(logger_open(&l, "test", logpath, LOG_INFO, err, sizeof err), 0);
    ck_assert_int_ge(l.fd, 3);
    ck_assert_str_eq(l.path, logpath);
    log_msg(&l, LOG_INFO, "task finished app=%s task=%d", "app-1", 7);
    logger_close(&l);

    text = slurp(logpath);
    assert_matches(text, "^" TS " INFO test: task finished app=app-1 task=7\n$");

    /* the timestamp is now, in UTC */
    memset(&tm, 0, sizeof tm);
    ck_assert_int_eq(sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                            &tm.tm_min, &tm.tm_sec, &ms),
                     7);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    when = timegm(&tm);
    ck_assert_int_le(labs((long)(time(NULL) - when)), 5);
    free(text);
}
END_TEST

START_TEST(test_levels)
{
    logger l;
    char err[256], *text;

    ck_assert_int_eq(logger_open(&l, "driver", logpath, LOG_INFO, err, sizeof err), 0);
    log_msg(&l, LOG_DEBUG, "hidden");
    log_msg(&l, LOG_INFO, "one");
    log_msg(&l, LOG_WARN, "two");
    log_msg(&l, LOG_ERROR, "three");
    l.min = LOG_ERROR;
    log_msg(&l, LOG_WARN, "hidden too");
    l.min = LOG_DEBUG;
    log_msg(&l, LOG_DEBUG, "four");
    logger_close(&l);

    text = slurp(logpath);
    ck_assert_int_eq(count_lines(text), 4);
    ck_assert_ptr_null(strstr(text, "hidden"));
    assert_matches(text, "^" TS " INFO driver: one\n" TS " WARN driver: two\n" TS " ERROR driver: three\n" TS
                         " DEBUG driver: four\n$");
    free(text);
}
END_TEST

START_TEST(test_level_parse)
{
    ck_assert_int_eq(log_level_parse("debug"), LOG_DEBUG);
    ck_assert_int_eq(log_level_parse("info"), LOG_INFO);
    ck_assert_int_eq(log_level_parse("warn"), LOG_WARN);
    ck_assert_int_eq(log_level_parse("error"), LOG_ERROR);
    ck_assert_int_eq(log_level_parse("INFO"), LOG_INFO);
    ck_assert_int_eq(log_level_parse("warning"), -1);
    ck_assert_int_eq(log_level_parse(""), -1);
    ck_assert_int_eq(log_level_parse(NULL), -1);
}
END_TEST

START_TEST(test_escaping)
{
    logger l;
    char err[256], *text;

    ck_assert_int_eq(logger_open(&l, "w", logpath, LOG_DEBUG, err, sizeof err), 0);
    log_msg(&l, LOG_WARN, "error=%s next", "line one\nline two\r\nend");
    log_msg(&l, LOG_INFO, "bell\a tab\tesc\x1b[0m");
    logger_close(&l);

    text = slurp(logpath);
    ck_assert_int_eq(count_lines(text), 2);
    ck_assert_ptr_nonnull(strstr(text, " WARN w: error=line one\\nline two\\r\\nend next\n"));
    ck_assert_ptr_nonnull(strstr(text, " INFO w: bell\\x07 tab\tesc\\x1b[0m\n"));
    free(text);
}
END_TEST

START_TEST(test_long_line)
{
    logger l;
    char err[256], *text, *big;
    size_t len;

    big = malloc(10000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', 9999);
    big[9999] = '\0';

    ck_assert_int_eq(logger_open(&l, "w", logpath, LOG_INFO, err, sizeof err), 0);
    log_msg(&l, LOG_INFO, "%s", big);
    /* escapes count against the limit too */
    for (size_t i = 0; i < 9999; i++)
        big[i] = '\n';
    log_msg(&l, LOG_INFO, "%s", big);
    log_msg(&l, LOG_INFO, "short");
    logger_close(&l);
    free(big);

    text = slurp(logpath);
    ck_assert_int_eq(count_lines(text), 3);
    len = strcspn(text, "\n") + 1;
    ck_assert_uint_eq(len, 4096);
    ck_assert_int_eq(memcmp(text + len - 5, "x...\n", 5), 0);
    len = strcspn(text + 4096, "\n") + 1;
    ck_assert_uint_le(len, 4096);
    /* cut between escapes, never inside one */
    ck_assert_int_eq(memcmp(text + 4096 + len - 6, "\\n...\n", 6), 0);
    assert_matches(text + 4096 + len, "^" TS " INFO w: short\n$");
    free(text);
}
END_TEST

START_TEST(test_file_mode_and_append)
{
    logger l;
    char err[256], *text;
    struct stat st;
    mode_t old = umask(022);
    FILE *f;

    f = fopen(logpath, "w");
    ck_assert_ptr_nonnull(f);
    fputs("earlier\n", f);
    fclose(f);
    ck_assert_int_eq(logger_open(&l, "w", logpath, LOG_INFO, err, sizeof err), 0);
    log_msg(&l, LOG_INFO, "later");
    ck_assert(fcntl(l.fd, F_GETFD) & FD_CLOEXEC);
    ck_assert(fcntl(l.fd, F_GETFL) & O_APPEND);
    logger_close(&l);
    text = slurp(logpath);
    assert_matches(text, "^earlier\n" TS " INFO w: later\n$");
    free(text);

    unlink(logpath);
    ck_assert_int_eq(logger_open(&l, "w", logpath, LOG_INFO, err, sizeof err), 0);
    logger_close(&l);
    ck_assert_int_eq(stat(logpath, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    umask(old);
}
END_TEST

START_TEST(test_open_error)
{
    logger l;
    char err[256], path[256];
    int saved;

    snprintf(path, sizeof path, "%s/no/such/dir/x.log", tmpdir);
    err[0] = '\0';
    ck_assert_int_eq(logger_open(&l, "w", path, LOG_INFO, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, path));
    ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));
    /* left usable, on stderr */
    ck_assert_int_eq(l.fd, STDERR_FILENO);
    ck_assert_ptr_null(l.path);
    logger_close(&l);
    ck_assert_int_ne(fcntl(STDERR_FILENO, F_GETFD), -1);

    /* logging keeps errno */
    ck_assert_int_eq(logger_open(&l, "w", logpath, LOG_INFO, err, sizeof err), 0);
    errno = ENOSPC;
    log_msg(&l, LOG_ERROR, "disk full");
    saved = errno;
    ck_assert_int_eq(saved, ENOSPC);
    logger_close(&l);
    logger_close(&l); /* twice is harmless */
}
END_TEST

START_TEST(test_stderr)
{
    logger l;
    char err[256];

    ck_assert_int_eq(logger_open(&l, "w", NULL, LOG_INFO, err, sizeof err), 0);
    ck_assert_int_eq(l.fd, STDERR_FILENO);
    ck_assert_int_eq(logger_reopen(&l), 0);
    ck_assert_int_eq(l.fd, STDERR_FILENO);
    logger_close(&l);
    ck_assert_int_ne(fcntl(STDERR_FILENO, F_GETFD), -1); /* not closed */

    ck_assert_int_eq(logger_open(&l, "w", "", LOG_INFO, err, sizeof err), 0);
    ck_assert_int_eq(l.fd, STDERR_FILENO);
    logger_close(&l);
    ck_assert_int_ne(fcntl(STDERR_FILENO, F_GETFD), -1);
}
END_TEST

START_TEST(test_reopen_after_rename)
{
    logger l;
    char err[256], rotated[256], *text;
    int fd;

    snprintf(rotated, sizeof rotated, "%s.1", logpath);
    ck_assert_int_eq(logger_open(&l, "w", logpath, LOG_INFO, err, sizeof err), 0);
    fd = l.fd;
    log_msg(&l, LOG_INFO, "before");
    ck_assert_int_eq(rename(logpath, rotated), 0);
    log_msg(&l, LOG_INFO, "still old"); /* until reopened */
    ck_assert_int_eq(logger_reopen(&l), 0);
    ck_assert_int_eq(l.fd, fd); /* same number */
    ck_assert(fcntl(l.fd, F_GETFD) & FD_CLOEXEC);
    log_msg(&l, LOG_INFO, "after");
    ck_assert_int_eq(logger_reopen(&l), 0); /* reopening again is harmless */
    log_msg(&l, LOG_INFO, "again");
    logger_close(&l);

    text = slurp(rotated);
    assert_matches(text, "^" TS " INFO w: before\n" TS " INFO w: still old\n$");
    free(text);
    text = slurp(logpath);
    assert_matches(text, "^" TS " INFO w: after\n" TS " INFO w: again\n$");
    free(text);
}
END_TEST

START_TEST(test_reopen_failure_keeps_old)
{
    logger l;
    char err[256], dir[256], path[300], *text;
    int fd;

    snprintf(dir, sizeof dir, "%s/sub", tmpdir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/x.log", dir);
    ck_assert_int_eq(logger_open(&l, "w", path, LOG_INFO, err, sizeof err), 0);
    fd = l.fd;
    /* the directory goes away: reopen fails, the old file stays in use */
    ck_assert_int_eq(rename(path, logpath), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    ck_assert_int_eq(logger_reopen(&l), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(l.fd, fd);
    log_msg(&l, LOG_INFO, "kept");
    logger_close(&l);
    text = slurp(logpath);
    assert_matches(text, "^" TS " INFO w: kept\n$");
    free(text);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");

    tcase_add_checked_fixture(tc, setup_tmp, teardown_tmp);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_levels);
    tcase_add_test(tc, test_level_parse);
    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_long_line);
    tcase_add_test(tc, test_file_mode_and_append);
    tcase_add_test(tc, test_open_error);
    tcase_add_test(tc, test_stderr);
    tcase_add_test(tc, test_reopen_after_rename);
    tcase_add_test(tc, test_reopen_failure_keeps_old);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(log_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
