/*
 * test_metrics.c - unit tests of common/metrics.c: the Prometheus text
 * format (families, samples, label escaping) and histogram buckets.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"

/* Runs fn into a memory stream and returns what it wrote (caller frees). */
#define CAPTURE(out, body)                                                                                             \
    do {                                                                                                               \
        size_t len_;                                                                                                   \
        FILE *f = open_memstream(&(out), &len_);                                                                       \
        body;                                                                                                          \
        fclose(f);                                                                                                     \
    } while (0)

START_TEST(test_family_and_samples)
{
    char *out = NULL;
    CAPTURE(out, {
        metrics_family(f, "kiln_jobs_total", "counter", "Jobs\\finished,\nby outcome.");
        metrics_sample(f, "kiln_jobs_total", "outcome=\"succeeded\"", 3);
        metrics_sample(f, "kiln_up", NULL, 1);
        metrics_sample(f, "kiln_ratio", "", 0.25);
        metrics_sample(f, "kiln_big", NULL, 18446744073709.0);
    });
    ck_assert_str_eq(out, "# HELP kiln_jobs_total Jobs\\\\finished,\\nby outcome.\n"
                          "# TYPE kiln_jobs_total counter\n"
                          "kiln_jobs_total{outcome=\"succeeded\"} 3\n"
                          "kiln_up 1\n"
                          "kiln_ratio 0.25\n"
                          "kiln_big 18446744073709\n");
    free(out);
}
END_TEST

START_TEST(test_label_escaping)
{
    char buf[128];
    ck_assert_str_eq(metrics_label(buf, sizeof buf, "name", "plain"), "name=\"plain\"");
    ck_assert_str_eq(metrics_label(buf, sizeof buf, "name", "a\"b\\c\nd"), "name=\"a\\\"b\\\\c\\nd\"");
    ck_assert_str_eq(metrics_label(buf, sizeof buf, "name", NULL), "name=\"\"");
    ck_assert_str_eq(metrics_label(buf, sizeof buf, "name", "<script>"), "name=\"<script>\"");
    /* a short buffer is cut, always terminated, never overrun */
    char small[12];
    metrics_label(small, sizeof small, "name", "0123456789abcdef");
    ck_assert_uint_lt(strlen(small), sizeof small);
    ck_assert(!strncmp(small, "name=\"", 6));
}
END_TEST

START_TEST(test_histogram_buckets)
{
    histogram h;
    memset(&h, 0, sizeof h);
    histogram_observe(&h, 0);      /* first bucket (le 0.005) */
    histogram_observe(&h, 0.005);  /* a bound belongs to its bucket */
    histogram_observe(&h, 0.0051); /* le 0.01 */
    histogram_observe(&h, 1);      /* le 1 */
    histogram_observe(&h, 1000);   /* +Inf */
    ck_assert_uint_eq(h.buckets[0], 2);
    ck_assert_uint_eq(h.buckets[1], 1);
    ck_assert_uint_eq(h.buckets[7], 1);
    ck_assert_uint_eq(h.buckets[HISTOGRAM_NBOUNDS], 1);
    ck_assert_uint_eq(h.count, 5);
    char *out = NULL;
    CAPTURE(out, metrics_histogram(f, "kiln_task_duration_seconds", "stage=\"1\"", &h));
    /* cumulative, ending in +Inf == count, then sum and count */
    ck_assert_ptr_nonnull(strstr(out, "kiln_task_duration_seconds_bucket{stage=\"1\",le=\"0.005\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(out, "kiln_task_duration_seconds_bucket{stage=\"1\",le=\"0.01\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(out, "kiln_task_duration_seconds_bucket{stage=\"1\",le=\"0.5\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(out, "kiln_task_duration_seconds_bucket{stage=\"1\",le=\"1\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(out, "kiln_task_duration_seconds_bucket{stage=\"1\",le=\"300\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(out, "kiln_task_duration_seconds_bucket{stage=\"1\",le=\"+Inf\"} 5\n"));
    ck_assert_ptr_nonnull(strstr(out, "kiln_task_duration_seconds_sum{stage=\"1\"} 1001.0101\n"));
    ck_assert_ptr_nonnull(strstr(out, "kiln_task_duration_seconds_count{stage=\"1\"} 5\n"));
    free(out);
    /* without labels, le is the only one */
    CAPTURE(out, metrics_histogram(f, "h", NULL, &h));
    ck_assert_ptr_nonnull(strstr(out, "h_bucket{le=\"+Inf\"} 5\n"));
    ck_assert_ptr_nonnull(strstr(out, "h_count 5\n"));
    free(out);
    /* bounds ascend */
    for (size_t i = 1; i < HISTOGRAM_NBOUNDS; i++)
        ck_assert(histogram_bounds[i] > histogram_bounds[i - 1]);
}
END_TEST

START_TEST(test_rss)
{
    ck_assert_uint_gt(metrics_rss_bytes(0), 0);
    ck_assert_uint_gt(metrics_rss_bytes(getpid()), 0);
    ck_assert_uint_eq(metrics_rss_bytes(-5), 0); /* no such process */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_family_and_samples);
    tcase_add_test(tc, test_label_escaping);
    tcase_add_test(tc, test_histogram_buckets);
    tcase_add_test(tc, test_rss);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
