/*
 * test_httpreq.c - request heads as the status ports parse them: where a
 * head ends however it arrives, each byte scanned once; the request line
 * and headers; the refusals (malformed, folded, two Content-Lengths, too
 * many headers, not HTTP/1.x); cookies and query parameters.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "httpreq.h"

START_TEST(test_head_end_in_pieces)
{
    const char *h = "GET / HTTP/1.1\r\nHost: x\r\n\r\nrest";
    size_t len = strlen(h), scanned = 0, end = 0;
    for (size_t have = 1; have <= len && !end; have++)
        end = httpreq_head_end(h, have, &scanned);
    ck_assert_uint_eq(end, len - 4);
    scanned = 0;
    ck_assert_uint_eq(httpreq_head_end("GET / HTTP/1.0\n\n", 16, &scanned), 16);
    scanned = 0;
    ck_assert_uint_eq(httpreq_head_end("GET / HTTP/1.1\r\nX: y\r\n", 23, &scanned), 0);
    ck_assert_uint_eq(scanned, 23); /* the next call starts where this one stopped */
}
END_TEST

START_TEST(test_parse)
{
    const char *h = "GET /app/x?token=ab HTTP/1.1\r\nHost: x\r\nCookie: a=1; kiln_token=tok \r\n"
                    "Content-Length: 0\r\n\r\n";
    httpreq r;
    const char *why;
    ck_assert_int_eq(httpreq_parse(&r, h, strlen(h), &why), 0);
    ck_assert_str_eq(r.method, "GET");
    ck_assert_str_eq(r.target, "/app/x?token=ab");
    ck_assert_int_eq(r.minor, 1);
    ck_assert_int_eq(r.content_length, 0);
    ck_assert_str_eq(httpreq_header_get(&r, "cookie"), "a=1; kiln_token=tok");
    char v[32];
    ck_assert(httpreq_cookie(httpreq_header_get(&r, "Cookie"), "kiln_token", v, sizeof v));
    ck_assert_str_eq(v, "tok");
    ck_assert(!httpreq_cookie("kiln_tokenx=1", "kiln_token", v, sizeof v));
    ck_assert(httpreq_query_param("a=1&token=ab", "token", v, sizeof v));
    ck_assert_str_eq(v, "ab");
    ck_assert(!httpreq_query_param("xtoken=ab", "token", v, sizeof v));
    ck_assert(!httpreq_query_param("token=0123456789", "token", v, 4)); /* does not fit */
    httpreq_release(&r);
}
END_TEST

static int status_of(const char *h)
{
    httpreq r;
    const char *why = NULL;
    int st = httpreq_parse(&r, h, strlen(h), &why);
    if (st) ck_assert_ptr_nonnull(why);
    httpreq_release(&r);
    return st;
}

START_TEST(test_refusals)
{
    ck_assert_int_eq(status_of("GET /\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("GET  / HTTP/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("GET http://x/ HTTP/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("G(T / HTTP/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("GET / HTTP/2.0\r\n\r\n"), 505);
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nNo colon\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n"), 400);
    char many[4096] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < HTTPREQ_MAX_HEADERS + 1; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    ck_assert_int_eq(status_of(many), 431);
    ck_assert_int_eq(status_of("POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("httpreq");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_head_end_in_pieces);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
