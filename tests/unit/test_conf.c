/*
 * test_conf.c - unit tests of common/conf.c: defaults, the size, duration
 * and integer parsers, conf_set's messages, loading files (syntax, errors
 * with file:line, all-or-nothing; the same parser over memory with
 * conf_load_text), precedence of flags over the file,
 * conf_copy, conf_get_text, and docs/kiln.conf.example (run from the top
 * of the tree).
 */
#include "conf.h"

#include <check.h>
#include <dirent.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXAMPLE "docs/kiln.conf.example"

/* Every key, in the order of kiln_conf. */
static const char *const all_keys[] = {
    "driver.listen",
    "driver.http",
    "driver.state_dir",
    "driver.log_file",
    "driver.max_result_size",
    "store.retention",
    "history.max_apps",
    "worker.driver",
    "worker.listen",
    "worker.http",
    "worker.advertise",
    "worker.work_dir",
    "worker.log_file",
    "worker.slots",
    "worker.heartbeat",
    "worker.timeout",
    "broadcast.threshold",
    "task.max_failures",
    "task.memory",
    "task.memory_limit",
    "task.timeout",
    "net.max_frame",
    "net.handshake_timeout",
    "net.max_connections",
    "http.max_connections",
    "http.timeout",
    "http.public",
    "http.metrics_public",
    "secret_file",
    "log.level",
};
#define NALL (sizeof all_keys / sizeof all_keys[0])

/* A scratch directory per test, removed afterwards. */
static char tmpdir[64];

static void setup_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kiln-test-conf-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
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

/* Writes text to tmpdir/name; returns the path in a static buffer. */
static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

START_TEST(test_defaults)
{
    kiln_conf c;

    conf_init(&c);
    ck_assert_uint_eq(c.store_retention_ms, 3600000); /* an hour */
    ck_assert_int_eq(c.history_max_apps, 100);
    ck_assert_str_eq(c.driver_listen, "127.0.0.1:7077");
    ck_assert_str_eq(c.driver_http, "127.0.0.1:8077");
    ck_assert_str_eq(c.driver_state_dir, "/var/lib/kiln/driver");
    ck_assert_str_eq(c.driver_log_file, "");
    ck_assert_uint_eq(c.driver_max_result_size, 1ull << 30);
    ck_assert_str_eq(c.worker_driver, ""); /* a worker must be told its driver */
    ck_assert_str_eq(c.worker_listen, "127.0.0.1:7078");
    ck_assert_str_eq(c.worker_http, "127.0.0.1:8078");
    ck_assert_str_eq(c.worker_advertise, "");
    ck_assert_str_eq(c.worker_work_dir, "/var/lib/kiln/worker");
    ck_assert_str_eq(c.worker_log_file, "");
    ck_assert_int_eq(c.worker_slots, 0);
    ck_assert_uint_eq(c.worker_heartbeat_ms, 1000);
    ck_assert_uint_eq(c.worker_timeout_ms, 10000);
    ck_assert_uint_eq(c.broadcast_threshold, 1048576);
    ck_assert_int_eq(c.task_max_failures, 4);
    ck_assert_uint_eq(c.task_memory, 256ull << 20);
    ck_assert_uint_eq(c.task_memory_limit, 0);
    ck_assert_uint_eq(c.task_timeout_ms, 0);
    ck_assert_uint_eq(c.net_max_frame, 64ull << 20);
    ck_assert_str_eq(c.secret_file, "");
    ck_assert_str_eq(c.log_level, "info");
    conf_release(&c);
    conf_release(&c); /* twice is harmless */
}
END_TEST

START_TEST(test_parse_size)
{
    uint64_t v = 7;

    ck_assert_int_eq(conf_parse_size("0", &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(conf_parse_size("1048576", &v), 0);
    ck_assert_uint_eq(v, 1048576);
    ck_assert_int_eq(conf_parse_size("1m", &v), 0);
    ck_assert_uint_eq(v, 1048576);
    ck_assert_int_eq(conf_parse_size("4k", &v), 0);
    ck_assert_uint_eq(v, 4096);
    ck_assert_int_eq(conf_parse_size("2g", &v), 0);
    ck_assert_uint_eq(v, 2ull << 30);
    ck_assert_int_eq(conf_parse_size("3K", &v), 0);
    ck_assert_uint_eq(v, 3072);
    ck_assert_int_eq(conf_parse_size("5M", &v), 0);
    ck_assert_uint_eq(v, 5ull << 20);
    ck_assert_int_eq(conf_parse_size("1G", &v), 0);
    ck_assert_uint_eq(v, 1ull << 30);
    ck_assert_int_eq(conf_parse_size("18446744073709551615", &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_int_eq(conf_parse_size("17179869183g", &v), 0);
    ck_assert_uint_eq(v, 17179869183ull << 30);

    v = 7;
    /* overflow */
    ck_assert_int_eq(conf_parse_size("18446744073709551616", &v), -1);
    ck_assert_int_eq(conf_parse_size("17179869184g", &v), -1);
    ck_assert_int_eq(conf_parse_size("99999999999999999999999", &v), -1);
    /* bad suffixes and shapes */
    ck_assert_int_eq(conf_parse_size("4x", &v), -1);
    ck_assert_int_eq(conf_parse_size("4kb", &v), -1);
    ck_assert_int_eq(conf_parse_size("4MB", &v), -1);
    ck_assert_int_eq(conf_parse_size("4t", &v), -1);
    ck_assert_int_eq(conf_parse_size("1.5m", &v), -1);
    ck_assert_int_eq(conf_parse_size("lots", &v), -1);
    ck_assert_int_eq(conf_parse_size("k", &v), -1);
    ck_assert_int_eq(conf_parse_size("", &v), -1);
    ck_assert_int_eq(conf_parse_size(" 4", &v), -1);
    ck_assert_int_eq(conf_parse_size("4 k", &v), -1);
    ck_assert_int_eq(conf_parse_size("+4", &v), -1);
    /* negative */
    ck_assert_int_eq(conf_parse_size("-1", &v), -1);
    ck_assert_int_eq(conf_parse_size("-4k", &v), -1);
    ck_assert_uint_eq(v, 7); /* untouched on error */
}
END_TEST

START_TEST(test_parse_duration)
{
    uint64_t v = 7;

    ck_assert_int_eq(conf_parse_duration_ms("10", &v), 0);
    ck_assert_uint_eq(v, 10000);
    ck_assert_int_eq(conf_parse_duration_ms("10s", &v), 0);
    ck_assert_uint_eq(v, 10000);
    ck_assert_int_eq(conf_parse_duration_ms("250ms", &v), 0);
    ck_assert_uint_eq(v, 250);
    ck_assert_int_eq(conf_parse_duration_ms("2m", &v), 0);
    ck_assert_uint_eq(v, 120000);
    ck_assert_int_eq(conf_parse_duration_ms("0", &v), 0);
    ck_assert_uint_eq(v, 0);

    v = 7;
    ck_assert_int_eq(conf_parse_duration_ms("10x", &v), -1);
    ck_assert_int_eq(conf_parse_duration_ms("1h", &v), -1);
    ck_assert_int_eq(conf_parse_duration_ms("10 s", &v), -1);
    ck_assert_int_eq(conf_parse_duration_ms("10S", &v), -1);
    ck_assert_int_eq(conf_parse_duration_ms("10sec", &v), -1);
    ck_assert_int_eq(conf_parse_duration_ms("ms", &v), -1);
    ck_assert_int_eq(conf_parse_duration_ms("", &v), -1);
    ck_assert_int_eq(conf_parse_duration_ms("-1", &v), -1);
    ck_assert_int_eq(conf_parse_duration_ms("1.5s", &v), -1);
    ck_assert_int_eq(conf_parse_duration_ms("18446744073709551615", &v), -1);
    ck_assert_int_eq(conf_parse_duration_ms("307445734561825861m", &v), -1);
    ck_assert_uint_eq(v, 7);
    ck_assert_int_eq(conf_parse_duration_ms("18446744073709551615ms", &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

START_TEST(test_set_values)
{
    kiln_conf c;
    char err[256];

    conf_init(&c);
    ck_assert_int_eq(conf_set(&c, "task.memory", "512m", err, sizeof err), 0);
    ck_assert_uint_eq(c.task_memory, 512ull << 20);
    ck_assert_int_eq(conf_set(&c, "worker.timeout", "250ms", err, sizeof err), 0);
    ck_assert_uint_eq(c.worker_timeout_ms, 250);
    ck_assert_int_eq(conf_set(&c, "worker.slots", "8", err, sizeof err), 0);
    ck_assert_int_eq(c.worker_slots, 8);
    ck_assert_int_eq(conf_set(&c, "worker.slots", "0", err, sizeof err), 0);
    ck_assert_int_eq(c.worker_slots, 0);
    ck_assert_int_eq(conf_set(&c, "task.max_failures", "1", err, sizeof err), 0);
    ck_assert_int_eq(c.task_max_failures, 1);
    ck_assert_int_eq(conf_set(&c, "driver.listen", "0.0.0.0:0", err, sizeof err), 0);
    ck_assert_str_eq(c.driver_listen, "0.0.0.0:0");
    ck_assert_int_eq(conf_set(&c, "driver.listen", "10.0.0.1:7077", err, sizeof err), 0);
    ck_assert_str_eq(c.driver_listen, "10.0.0.1:7077");
    ck_assert_int_eq(conf_set(&c, "secret_file", "/etc/kiln/secret", err, sizeof err), 0);
    ck_assert_str_eq(c.secret_file, "/etc/kiln/secret");
    ck_assert_int_eq(conf_set(&c, "log.level", "debug", err, sizeof err), 0);
    ck_assert_str_eq(c.log_level, "debug");
    ck_assert_int_eq(conf_set(&c, "log.level", "WARN", err, sizeof err), 0);
    ck_assert_str_eq(c.log_level, "warn"); /* stored in canonical form */
    conf_release(&c);
}
END_TEST

START_TEST(test_set_unknown_key)
{
    kiln_conf c;
    char err[256];

    conf_init(&c);
    ck_assert_int_eq(conf_set(&c, "foo", "1", err, sizeof err), -1);
    ck_assert_str_eq(err, "unknown key 'foo'");
    ck_assert_int_eq(conf_set(&c, "task.memroy", "1m", err, sizeof err), -1);
    ck_assert_str_eq(err, "unknown key 'task.memroy'");
    /* no error buffer: still fails, does not crash */
    ck_assert_int_eq(conf_set(&c, "foo", "1", NULL, 0), -1);
    conf_release(&c);
}
END_TEST

START_TEST(test_set_bad_values)
{
    kiln_conf c;
    char err[256];

    conf_init(&c);
    ck_assert_int_eq(conf_set(&c, "task.memory", "lots", err, sizeof err), -1);
    ck_assert_str_eq(err, "task.memory: bad size 'lots' (bytes, or a number with k, m or g)");
    ck_assert_uint_eq(c.task_memory, 256ull << 20); /* unchanged */

    ck_assert_int_eq(conf_set(&c, "worker.timeout", "5x", err, sizeof err), -1);
    ck_assert_str_eq(err, "worker.timeout: bad duration '5x' (seconds, or a number with ms, s or m)");
    ck_assert_uint_eq(c.worker_timeout_ms, 10000);

    ck_assert_int_eq(conf_set(&c, "worker.slots", "many", err, sizeof err), -1);
    ck_assert_str_eq(err, "worker.slots: bad integer 'many' (a whole number)");
    ck_assert_int_eq(conf_set(&c, "worker.slots", "-1", err, sizeof err), -1);
    ck_assert_str_eq(err, "worker.slots: must be at least 0, not '-1'");
    ck_assert_int_eq(conf_set(&c, "worker.slots", "99999999999999999999", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "worker.slots: bad integer"));
    ck_assert_int_eq(conf_set(&c, "worker.slots", "4.5", err, sizeof err), -1);
    ck_assert_int_eq(c.worker_slots, 0);

    ck_assert_int_eq(conf_set(&c, "task.max_failures", "0", err, sizeof err), -1);
    ck_assert_str_eq(err, "task.max_failures: must be at least 1, not '0'");
    ck_assert_int_eq(c.task_max_failures, 4);

    ck_assert_int_eq(conf_set(&c, "worker.heartbeat", "0", err, sizeof err), -1);
    ck_assert_str_eq(err, "worker.heartbeat: must be at least 1ms, not '0'");

    ck_assert_int_eq(conf_set(&c, "log.level", "loud", err, sizeof err), -1);
    ck_assert_str_eq(err, "log.level: bad value 'loud' (debug, info, warn or error)");
    ck_assert_str_eq(c.log_level, "info");

    ck_assert_int_eq(conf_set(&c, "task.memory", NULL, err, sizeof err), -1);
    ck_assert_str_eq(err, "task.memory: missing value");

    /* a tiny buffer truncates the message but stays terminated */
    ck_assert_int_eq(conf_set(&c, "task.memory", "lots", err, 6), -1);
    ck_assert_str_eq(err, "task.");
    conf_release(&c);
}
END_TEST

/* conf_key_name walks the table: every key, in the order of kiln_conf. */
START_TEST(test_key_names)
{
    for (size_t i = 0; i < NALL; i++)
        ck_assert_str_eq(conf_key_name(i), all_keys[i]);
    ck_assert_ptr_null(conf_key_name(NALL));
    ck_assert_ptr_null(conf_key_name((size_t)-1));
}
END_TEST

START_TEST(test_is_job_key)
{
    ck_assert(conf_is_job_key("broadcast.threshold"));
    ck_assert(conf_is_job_key("task.max_failures"));
    ck_assert(conf_is_job_key("task.memory"));
    ck_assert(conf_is_job_key("task.memory_limit"));
    ck_assert(conf_is_job_key("task.timeout"));
    ck_assert(conf_is_job_key("driver.max_result_size"));
    ck_assert(!conf_is_job_key("driver.listen"));
    ck_assert(!conf_is_job_key("worker.slots"));
    ck_assert(!conf_is_job_key("net.max_frame"));
    ck_assert(!conf_is_job_key("secret_file"));
    ck_assert(!conf_is_job_key("task.nope"));
    ck_assert(!conf_is_job_key(""));
}
END_TEST

START_TEST(test_load_file)
{
    kiln_conf c;
    char err[512];
    const char *path = write_file("kiln.conf", "# a comment\n"
                                               "\n"
                                               "; another comment\n"
                                               "driver.listen=0.0.0.0:7000\n"
                                               "task.memory   =   128m   \n"
                                               "\t  task.timeout = 2m\n"
                                               "   \n"
                                               "worker.slots = 6  # trailing comment\n"
                                               "driver.log_file =\n"
                                               "[worker]\n"
                                               "timeout = 250ms\n"
                                               "    heartbeat = 2s\n"
                                               "  # indented comment\n"
                                               "[log]\n"
                                               "level = debug\n");

    conf_init(&c);
    ck_assert_int_eq(conf_load_file(&c, path, err, sizeof err), 0);
    ck_assert_str_eq(c.driver_listen, "0.0.0.0:7000");
    ck_assert_uint_eq(c.task_memory, 128ull << 20);
    ck_assert_uint_eq(c.task_timeout_ms, 120000);
    ck_assert_int_eq(c.worker_slots, 6);
    ck_assert_str_eq(c.driver_log_file, "");
    ck_assert_uint_eq(c.worker_timeout_ms, 250);
    ck_assert_uint_eq(c.worker_heartbeat_ms, 2000);
    ck_assert_str_eq(c.log_level, "debug");
    /* keys the file does not name keep their values */
    ck_assert_str_eq(c.driver_http, "127.0.0.1:8077");
    ck_assert_int_eq(c.task_max_failures, 4);
    conf_release(&c);
}
END_TEST

START_TEST(test_load_unknown_key)
{
    kiln_conf c;
    char err[512], want[600];
    const char *path = write_file("bad.conf", "# comment\n"
                                              "task.memory = 1g\n"
                                              "\n"
                                              "bogus = 1\n"
                                              "worker.slots = 3\n");

    conf_init(&c);
    ck_assert_int_eq(conf_load_file(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:4: unknown key 'bogus'", path);
    ck_assert_str_eq(err, want);
    /* all or nothing: the good lines around it were not applied */
    ck_assert_uint_eq(c.task_memory, 256ull << 20);
    ck_assert_int_eq(c.worker_slots, 0);

    path = write_file("bad2.conf", "[worker]\nslots = 2\nbogus = 1\n");
    ck_assert_int_eq(conf_load_file(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:3: unknown key 'worker.bogus'", path);
    ck_assert_str_eq(err, want);
    conf_release(&c);
}
END_TEST

START_TEST(test_load_bad_value)
{
    kiln_conf c;
    char err[512], want[600];
    const char *path = write_file("bad.conf", "worker.slots = 2\n"
                                              "task.memory = lots\n"
                                              "task.timeout = forever\n");

    conf_init(&c);
    ck_assert_int_eq(conf_load_file(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2: task.memory: bad size 'lots' (bytes, or a number with k, m or g)", path);
    ck_assert_str_eq(err, want); /* the first error wins */
    ck_assert_int_eq(c.worker_slots, 0);
    conf_release(&c);
}
END_TEST

START_TEST(test_load_syntax_error)
{
    kiln_conf c;
    char err[512], want[600];
    const char *path = write_file("bad.conf", "worker.slots = 2\n"
                                              "\n"
                                              "just some words\n"
                                              "bogus = 1\n");

    conf_init(&c);
    ck_assert_int_eq(conf_load_file(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:3: syntax error (expected 'key = value' or '[section]')", path);
    ck_assert_str_eq(err, want);

    path = write_file("bad2.conf", "[worker\nslots = 2\n");
    ck_assert_int_eq(conf_load_file(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:1: syntax error (expected 'key = value' or '[section]')", path);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(c.worker_slots, 0);
    conf_release(&c);
}
END_TEST

START_TEST(test_load_long_line)
{
    kiln_conf c;
    char err[512], text[1024], want[600];
    const char *path;

    snprintf(text, sizeof text, "worker.slots = 1\nsecret_file = /%0500d\n", 0);
    path = write_file("long.conf", text);
    conf_init(&c);
    ck_assert_int_eq(conf_load_file(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2: line too long", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got '%s'", err);
    ck_assert_int_eq(c.worker_slots, 0);
    ck_assert_str_eq(c.secret_file, "");

    /* a last line without a newline is fine */
    path = write_file("nonl.conf", "worker.slots = 5");
    ck_assert_int_eq(conf_load_file(&c, path, err, sizeof err), 0);
    ck_assert_int_eq(c.worker_slots, 5);
    conf_release(&c);
}
END_TEST

START_TEST(test_load_missing_file)
{
    kiln_conf c;
    char err[512], want[600];
    char path[128];

    snprintf(path, sizeof path, "%s/nope.conf", tmpdir);
    conf_init(&c);
    ck_assert_int_eq(conf_load_file(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    ck_assert_str_eq(err, want);

    ck_assert_int_eq(conf_load_file(&c, tmpdir, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: Is a directory", tmpdir);
    ck_assert_str_eq(err, want);
    conf_release(&c);
}
END_TEST

/* conf_load_text: the same parser over memory, which need not end in a
 * NUL; the name stands for the file in messages. */
START_TEST(test_load_text)
{
    kiln_conf c;
    char err[512];
    /* no terminating NUL after the last byte: read exactly len bytes */
    static const char text[] = "worker.slots = 3\n[task]\nmemory = 64m\nmax_failures = 7XYZ";
    size_t len = sizeof text - 1 - 3;

    conf_init(&c);
    ck_assert_int_eq(conf_load_text(&c, "mem", text, len, err, sizeof err), 0);
    ck_assert_int_eq(c.worker_slots, 3);
    ck_assert_uint_eq(c.task_memory, 64ull << 20);
    ck_assert_int_eq(c.task_max_failures, 7);

    /* empty text changes nothing */
    ck_assert_int_eq(conf_load_text(&c, "mem", "", 0, err, sizeof err), 0);
    ck_assert_int_eq(c.worker_slots, 3);

    /* errors name the text and the line; all or nothing */
    static const char bad[] = "worker.slots = 9\n\nbogus = 1\n";
    ck_assert_int_eq(conf_load_text(&c, "mem", bad, sizeof bad - 1, err, sizeof err), -1);
    ck_assert_str_eq(err, "mem:3: unknown key 'bogus'");
    ck_assert_int_eq(c.worker_slots, 3);

    /* a NUL byte ends what the parser sees of its line; the next line counts */
    static const char nul[] = "worker.slots = 5\0garbage\nlog.level = warn\n";
    ck_assert_int_eq(conf_load_text(&c, "mem", nul, sizeof nul - 1, err, sizeof err), 0);
    ck_assert_int_eq(c.worker_slots, 5);
    ck_assert_str_eq(c.log_level, "warn");

    /* a line too long for libinih's buffer, even the last one without a newline */
    char longl[1024];
    int n = snprintf(longl, sizeof longl, "secret_file = /%0700d", 0);
    ck_assert_int_eq(conf_load_text(&c, "mem", longl, (size_t)n, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, "mem:1: line too long", 20) == 0, "got '%s'", err);
    conf_release(&c);
}
END_TEST

START_TEST(test_load_file_too_large)
{
    kiln_conf c;
    char err[512], want[600], path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/big.conf", tmpdir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (unsigned i = 0; i <= CONF_MAX_FILE / 16; i++)
        fputs("# fifteen bytes\n", f);
    fclose(f);
    conf_init(&c);
    ck_assert_int_eq(conf_load_file(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: larger than %u bytes", path, CONF_MAX_FILE);
    ck_assert_str_eq(err, want);
    conf_release(&c);
}
END_TEST

START_TEST(test_flags_after_file_win)
{
    kiln_conf c;
    char err[512];
    const char *path = write_file("kiln.conf", "worker.slots = 4\n"
                                               "worker.listen = 0.0.0.0:7078\n"
                                               "task.memory = 1g\n");

    conf_init(&c);
    ck_assert_int_eq(conf_load_file(&c, path, err, sizeof err), 0);
    /* the flags, applied afterwards */
    ck_assert_int_eq(conf_set(&c, "worker.slots", "8", err, sizeof err), 0);
    ck_assert_int_eq(conf_set(&c, "worker.listen", "127.0.0.1:0", err, sizeof err), 0);
    ck_assert_int_eq(c.worker_slots, 8);
    ck_assert_str_eq(c.worker_listen, "127.0.0.1:0");
    ck_assert_uint_eq(c.task_memory, 1ull << 30); /* from the file */
    conf_release(&c);
}
END_TEST

START_TEST(test_copy)
{
    kiln_conf a, b;
    char err[256];

    conf_init(&a);
    ck_assert_int_eq(conf_set(&a, "driver.listen", "10.1.1.1:1", err, sizeof err), 0);
    ck_assert_int_eq(conf_set(&a, "task.memory", "3g", err, sizeof err), 0);
    conf_copy(&b, &a);
    ck_assert_str_eq(b.driver_listen, "10.1.1.1:1");
    ck_assert_uint_eq(b.task_memory, 3ull << 30);
    ck_assert_ptr_ne(a.driver_listen, b.driver_listen);
    ck_assert_ptr_ne(a.log_level, b.log_level);
    ck_assert_ptr_ne(a.secret_file, b.secret_file);

    /* changing or freeing one leaves the other intact */
    ck_assert_int_eq(conf_set(&a, "driver.listen", "10.2.2.2:2", err, sizeof err), 0);
    ck_assert_str_eq(b.driver_listen, "10.1.1.1:1");
    conf_release(&a);
    ck_assert_str_eq(b.driver_listen, "10.1.1.1:1");
    ck_assert_str_eq(b.worker_work_dir, "/var/lib/kiln/worker");

    /* a released conf may be copied into; copying onto itself is a no-op */
    conf_copy(&a, &b);
    conf_copy(&b, &b);
    conf_release(&b);
    ck_assert_str_eq(a.driver_listen, "10.1.1.1:1");
    /* copying a released conf gives NULL strings, safely released */
    conf_copy(&b, &(kiln_conf){0});
    ck_assert_ptr_null(b.driver_listen);
    conf_release(&b);
    conf_release(&a);
}
END_TEST

START_TEST(test_get_text)
{
    kiln_conf c;
    char buf[128], err[256];

    conf_init(&c);
    ck_assert_int_eq(conf_get_text(&c, "driver.listen", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "127.0.0.1:7077");
    ck_assert_int_eq(conf_get_text(&c, "driver.log_file", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(conf_get_text(&c, "driver.max_result_size", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "1g");
    ck_assert_int_eq(conf_get_text(&c, "task.memory", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "256m");
    ck_assert_int_eq(conf_get_text(&c, "broadcast.threshold", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "1m");
    ck_assert_int_eq(conf_get_text(&c, "task.memory_limit", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "0");
    ck_assert_int_eq(conf_get_text(&c, "worker.heartbeat", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "1s");
    ck_assert_int_eq(conf_get_text(&c, "task.timeout", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "0");
    ck_assert_int_eq(conf_get_text(&c, "task.max_failures", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "4");
    ck_assert_int_eq(conf_get_text(&c, "log.level", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "info");

    ck_assert_int_eq(conf_set(&c, "task.memory", "1000", err, sizeof err), 0);
    ck_assert_int_eq(conf_get_text(&c, "task.memory", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "1000");
    ck_assert_int_eq(conf_set(&c, "task.memory", "1025k", err, sizeof err), 0);
    ck_assert_int_eq(conf_get_text(&c, "task.memory", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "1025k");
    ck_assert_int_eq(conf_set(&c, "worker.timeout", "250ms", err, sizeof err), 0);
    ck_assert_int_eq(conf_get_text(&c, "worker.timeout", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "250ms");
    ck_assert_int_eq(conf_set(&c, "worker.timeout", "120", err, sizeof err), 0);
    ck_assert_int_eq(conf_get_text(&c, "worker.timeout", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "2m");
    ck_assert_int_eq(conf_set(&c, "worker.timeout", "1500ms", err, sizeof err), 0);
    ck_assert_int_eq(conf_get_text(&c, "worker.timeout", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "1500ms");

    ck_assert_int_eq(conf_get_text(&c, "nope", buf, sizeof buf), -1);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(conf_get_text(&c, "driver.listen", buf, 5), -1);
    ck_assert_str_eq(buf, "127.");
    ck_assert_int_eq(conf_get_text(&c, "task.memory", buf, 3), -1);
    ck_assert_int_eq(conf_get_text(&c, "task.memory", buf, 0), -1);
    conf_release(&c);
}
END_TEST

/* Every key's text, set back, gives the same text. */
START_TEST(test_get_text_round_trip)
{
    kiln_conf c;
    char a[256], b[256], err[256];

    conf_init(&c);
    for (size_t i = 0; i < NALL; i++) {
        ck_assert_int_eq(conf_get_text(&c, all_keys[i], a, sizeof a), 0);
        ck_assert_msg(conf_set(&c, all_keys[i], a, err, sizeof err) == 0, "%s: %s", all_keys[i], err);
        ck_assert_int_eq(conf_get_text(&c, all_keys[i], b, sizeof b), 0);
        ck_assert_str_eq(a, b);
    }
    conf_release(&c);
}
END_TEST

START_TEST(test_example_loads)
{
    kiln_conf c, d;
    char err[512], a[256], b[256];

    conf_init(&c);
    conf_init(&d);
    ck_assert_msg(conf_load_file(&c, EXAMPLE, err, sizeof err) == 0, "%s", err);
    /* everything in it is commented out: it changes nothing */
    for (size_t i = 0; i < NALL; i++) {
        ck_assert_int_eq(conf_get_text(&c, all_keys[i], a, sizeof a), 0);
        ck_assert_int_eq(conf_get_text(&d, all_keys[i], b, sizeof b), 0);
        ck_assert_str_eq(a, b);
    }
    conf_release(&c);
    conf_release(&d);
}
END_TEST

/* Each "#key = value" line of the example names a real key with its
 * default, and every key appears exactly once. */
START_TEST(test_example_lists_defaults)
{
    kiln_conf c, d;
    char line[512], err[256], a[256], b[256];
    int seen[NALL] = {0};
    regex_t re;
    regmatch_t m[3];
    FILE *f = fopen(EXAMPLE, "r");

    ck_assert_msg(f != NULL, "run from the top of the tree: %s", EXAMPLE);
    ck_assert_int_eq(regcomp(&re, "^#([a-z_]+(\\.[a-z_]+)?) =", REG_EXTENDED), 0);
    conf_init(&d);
    while (fgets(line, sizeof line, f)) {
        char *key, *value;
        size_t i;

        line[strcspn(line, "\n")] = '\0';
        if (regexec(&re, line, 3, m, 0) != 0) continue;
        key = line + 1;
        key[m[1].rm_eo - 1] = '\0';
        value = line + m[0].rm_eo;
        value += strspn(value, " ");
        for (i = 0; i < NALL; i++)
            if (strcmp(all_keys[i], key) == 0) break;
        ck_assert_msg(i < NALL, "example names unknown key '%s'", key);
        seen[i]++;

        conf_init(&c);
        ck_assert_msg(conf_set(&c, key, value, err, sizeof err) == 0, "%s", err);
        ck_assert_int_eq(conf_get_text(&c, key, a, sizeof a), 0);
        ck_assert_int_eq(conf_get_text(&d, key, b, sizeof b), 0);
        ck_assert_msg(strcmp(a, b) == 0, "%s: example says '%s', default is '%s'", key, a, b);
        conf_release(&c);
    }
    fclose(f);
    regfree(&re);
    conf_release(&d);
    for (size_t i = 0; i < NALL; i++)
        ck_assert_msg(seen[i] == 1, "example lists %s %d times", all_keys[i], seen[i]);
}
END_TEST

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc;

    tc = tcase_create("values");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_parse_size);
    tcase_add_test(tc, test_parse_duration);
    tcase_add_test(tc, test_set_values);
    tcase_add_test(tc, test_set_unknown_key);
    tcase_add_test(tc, test_set_bad_values);
    tcase_add_test(tc, test_is_job_key);
    tcase_add_test(tc, test_key_names);
    tcase_add_test(tc, test_copy);
    tcase_add_test(tc, test_get_text);
    tcase_add_test(tc, test_get_text_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup_tmp, teardown_tmp);
    tcase_add_test(tc, test_load_file);
    tcase_add_test(tc, test_load_unknown_key);
    tcase_add_test(tc, test_load_bad_value);
    tcase_add_test(tc, test_load_syntax_error);
    tcase_add_test(tc, test_load_long_line);
    tcase_add_test(tc, test_load_missing_file);
    tcase_add_test(tc, test_flags_after_file_win);
    tcase_add_test(tc, test_load_text);
    tcase_add_test(tc, test_load_file_too_large);
    suite_add_tcase(s, tc);

    tc = tcase_create("example");
    tcase_add_test(tc, test_example_loads);
    tcase_add_test(tc, test_example_lists_defaults);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conf_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
