/*
 * test_text.c - unit tests of common/text.c: HTML escaping of names that
 * arrive from the network, grouped digits and sizes.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static void assert_escaped(const char *in, const char *want)
{
    char *got = html_escape(in);
    ck_assert_str_eq(got, want);
    free(got);
}

START_TEST(test_html_escape)
{
    assert_escaped("", "");
    assert_escaped(NULL, "");
    assert_escaped("plain name-1.so", "plain name-1.so");
    assert_escaped("<img src=x onerror=alert(1)>.so", "&lt;img src=x onerror=alert(1)&gt;.so");
    assert_escaped("a&b", "a&amp;b");
    assert_escaped("\"quoted\" 'single'", "&quot;quoted&quot; &#39;single&#39;");
    assert_escaped("<<>>&&", "&lt;&lt;&gt;&gt;&amp;&amp;");
    /* an already escaped string is escaped again, not trusted */
    assert_escaped("&lt;", "&amp;lt;");
    /* bytes above 0x7f (UTF-8) pass unchanged */
    assert_escaped("caf\xc3\xa9", "caf\xc3\xa9");
    /* nothing of the markup survives: no '<', '>', '"' or '\'' in the output */
    char *e = html_escape("</td><script>alert('x')</script><a href=\"y\">");
    ck_assert_ptr_null(strpbrk(e, "<>\"'"));
    free(e);
}
END_TEST

START_TEST(test_fmt_grouped)
{
    char buf[32];
    ck_assert_str_eq(fmt_grouped(0, buf, sizeof buf), "0");
    ck_assert_str_eq(fmt_grouped(999, buf, sizeof buf), "999");
    ck_assert_str_eq(fmt_grouped(1000, buf, sizeof buf), "1,000");
    ck_assert_str_eq(fmt_grouped(100000, buf, sizeof buf), "100,000");
    ck_assert_str_eq(fmt_grouped(100001, buf, sizeof buf), "100,001");
    ck_assert_str_eq(fmt_grouped(1234567, buf, sizeof buf), "1,234,567");
    ck_assert_str_eq(fmt_grouped(UINT64_MAX, buf, sizeof buf), "18,446,744,073,709,551,615");
    /* a short buffer is cut, never overrun */
    char small[4];
    ck_assert_str_eq(fmt_grouped(123456, small, sizeof small), "123");
}
END_TEST

START_TEST(test_fmt_size)
{
    char buf[32];
    ck_assert_str_eq(fmt_size(0, buf, sizeof buf), "0 bytes");
    ck_assert_str_eq(fmt_size(100000, buf, sizeof buf), "97.6562 KiB");
    ck_assert_str_eq(fmt_size(1023, buf, sizeof buf), "1023 bytes");
    ck_assert_str_eq(fmt_size(64u << 20, buf, sizeof buf), "64 MiB");
    ck_assert_str_eq(fmt_size(3u << 29, buf, sizeof buf), "1.5 GiB");
    ck_assert_str_eq(fmt_size((uint64_t)2 << 50, buf, sizeof buf), "2048 TiB");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_html_escape);
    tcase_add_test(tc, test_fmt_grouped);
    tcase_add_test(tc, test_fmt_size);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
