/*
 * test_util.c - unit tests of common/util.c's path_access_hint: what a
 * worker says when it cannot reach a path the client named.
 */
#include <check.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

START_TEST(test_hint_permission_names_the_user)
{
    char buf[256], want[64];
    struct passwd *pw = getpwuid(geteuid());
    snprintf(want, sizeof want, "user '%s', uid %u", pw ? pw->pw_name : "?", (unsigned)geteuid());
    ck_assert_ptr_nonnull(strstr(path_access_hint("/data/out/part-0", EACCES, buf, sizeof buf), want));
    ck_assert_ptr_nonnull(strstr(path_access_hint("/tmp/out", EPERM, buf, sizeof buf), "writable"));
}
END_TEST

START_TEST(test_hint_private_tmp)
{
    char buf[256];
    ck_assert_ptr_nonnull(strstr(path_access_hint("/tmp/in.txt", ENOENT, buf, sizeof buf), "PrivateTmp=yes"));
    ck_assert_ptr_nonnull(strstr(path_access_hint("/var/tmp/x/y", ENOENT, buf, sizeof buf), "private /tmp"));
    /* a missing file elsewhere, or another error, has no hint */
    ck_assert_str_eq(path_access_hint("/data/in.txt", ENOENT, buf, sizeof buf), "");
    ck_assert_str_eq(path_access_hint("/tmpfoo/in.txt", ENOENT, buf, sizeof buf), "");
    ck_assert_str_eq(path_access_hint("/tmp/in.txt", EIO, buf, sizeof buf), "");
    /* a short buffer is cut, never overrun */
    char small[8];
    ck_assert_uint_eq(strlen(path_access_hint("/tmp/x", ENOENT, small, sizeof small)), 7);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_hint_permission_names_the_user);
    tcase_add_test(tc, test_hint_private_tmp);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
