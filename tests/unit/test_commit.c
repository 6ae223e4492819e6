/*
 * test_commit.c - save_text's output commit: the winning attempt of each
 * partition becomes part-N and _SUCCESS comes last; losers and crashed
 * attempts go with _temporary; a commit that cannot finish and an aborted
 * job leave no part and no _SUCCESS; one application's abort removes
 * nothing of another's that wrote the same path since.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commit.h"
#include "util.h"

static char dir[64];
static char out[128];
#define APP "app-1-0001"

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kiln-commit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/out", dir);
    char err[256];
    ck_assert_int_eq(commit_begin(out, APP, err, sizeof err), 0);
}

static void teardown(void)
{
    rm_rf(dir);
}

static void put_as(const char *app, uint32_t part, uint64_t task, uint32_t attempt, const char *text)
{
    char *p = commit_temp_path(out, app, part, task, attempt);
    char err[256];
    ck_assert_int_eq(write_file_atomic(p, text, strlen(text), err, sizeof err), 0);
    free(p);
}

static void put(uint32_t part, uint64_t task, uint32_t attempt, const char *text)
{
    put_as(APP, part, task, attempt, text);
}

static int has(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", out, name);
    return access(path, F_OK) == 0;
}

static char *content(const char *name)
{
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/%s", out, name);
    uint8_t *p;
    size_t n;
    ck_assert_int_eq(read_file(path, &p, &n, err, sizeof err), 0);
    return (char *)p;
}

START_TEST(test_winners_committed_once)
{
    put(0, 11, 1, "a\n");
    put(1, 12, 1, "half of b"); /* attempt 1 crashed */
    put(1, 15, 2, "b\n");
    put(2, 13, 1, "c\n");
    uint64_t tasks[] = {11, 15, 13};
    uint32_t attempts[] = {1, 2, 1};
    char err[256];
    ck_assert_int_eq(commit_job(out, APP, tasks, attempts, 3, err, sizeof err), 0);
    char *c = content("part-00001");
    ck_assert_str_eq(c, "b\n");
    free(c);
    ck_assert(has("part-00000") && has("part-00002") && has("_SUCCESS"));
    ck_assert(!has("_temporary") && !has("part-00003"));
}
END_TEST

START_TEST(test_missing_attempt_leaves_nothing)
{
    put(0, 11, 1, "a\n");
    uint64_t tasks[] = {11, 12};
    uint32_t attempts[] = {1, 1};
    char err[256];
    ck_assert_int_eq(commit_job(out, APP, tasks, attempts, 2, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, APP "/part-00001-12-1"));
    ck_assert(!has("part-00000") && !has("_SUCCESS") && !has("_temporary"));
    ck_assert_int_eq(access(out, F_OK), -1); /* the empty directory went too */
}
END_TEST

START_TEST(test_abort)
{
    put(0, 11, 1, "a\n");
    ck_assert_int_eq(commit_abort(out, APP), 1);
    ck_assert_int_eq(access(out, F_OK), -1);
    /* something else in the directory: it stays, _temporary goes */
    char err[256];
    ck_assert_int_eq(commit_begin(out, APP, err, sizeof err), 0);
    put(0, 11, 1, "a\n");
    char path[256];
    snprintf(path, sizeof path, "%s/mine", out);
    ck_assert_int_eq(write_file_atomic(path, "x", 1, err, sizeof err), 0);
    ck_assert_int_eq(commit_abort(out, APP), 1);
    ck_assert(has("mine") && !has("_temporary"));
}
END_TEST

START_TEST(test_begin_refuses_existing)
{
    char err[256];
    ck_assert_int_eq(commit_begin(out, "app-2", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "already exists"));
    ck_assert(has("_temporary/" APP)); /* the refusal removed nothing */
}
END_TEST

/* A's job failed and its client removed OUT; B saves to OUT; then A's
 * AppEnd arrives: B's attempts and directories stay. */
START_TEST(test_abort_leaves_other_app)
{
    ck_assert_int_eq(commit_abort(out, APP), 1);
    char err[256];
    ck_assert_int_eq(commit_begin(out, "app-2", err, sizeof err), 0);
    put_as("app-2", 0, 21, 1, "b\n");
    ck_assert_int_eq(commit_abort(out, APP), 0);
    ck_assert(has("_temporary/app-2/part-00000-21-1"));
    uint64_t tasks[] = {21};
    uint32_t attempts[] = {1};
    ck_assert_int_eq(commit_job(out, "app-2", tasks, attempts, 1, err, sizeof err), 0);
    char *c = content("part-00000");
    ck_assert_str_eq(c, "b\n");
    free(c);
    ck_assert(has("_SUCCESS") && !has("_temporary"));
    /* and an abort after the commit leaves the output alone */
    ck_assert_int_eq(commit_abort(out, "app-2"), 0);
    ck_assert(has("_SUCCESS") && has("part-00000"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("commit");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_winners_committed_once);
    tcase_add_test(tc, test_missing_attempt_leaves_nothing);
    tcase_add_test(tc, test_abort);
    tcase_add_test(tc, test_begin_refuses_existing);
    tcase_add_test(tc, test_abort_leaves_other_app);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
