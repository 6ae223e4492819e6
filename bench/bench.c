/*
 * bench.c - the application behind bench/run.sh. Prints one figure per run.
 *
 *   bench.so filter FILE PATTERN PARTS   filter-and-count: prints "count MB/s seconds"
 *   bench.so tasks N                      one job of N one-record tasks: prints "tasks/s seconds"
 *   bench.so latency N                    N one-task jobs: prints "median_ms p90_ms min_ms"
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kiln.h"

KILN_EXPORT bool bench_match(kiln_rec in, kiln_slice env)
{
    return memmem(in.val.ptr, in.val.len, env.ptr, env.len) != NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    if (argc < 3) return 2;
    if (!strcmp(argv[1], "filter") && argc >= 5) {
        struct stat st;
        if (stat(argv[2], &st) < 0) return 1;
        double t0 = now();
        kiln_rdd *r = kiln_filter(kiln_text_file(ctx, argv[2], atoi(argv[4])), bench_match, KILN_STR(argv[3]));
        int64_t n = kiln_count(r);
        double dt = now() - t0;
        if (n < 0) {
            fprintf(stderr, "bench: %s\n", kiln_errmsg(ctx));
            return 1;
        }
        printf("%lld %.1f %.3f\n", (long long)n, (double)st.st_size / 1e6 / dt, dt);
        return 0;
    }
    if (!strcmp(argv[1], "tasks")) {
        int n = atoi(argv[2]);
        kiln_rec *recs = calloc((size_t)n, sizeof *recs);
        for (int i = 0; i < n; i++)
            recs[i].val = KILN_STR("x");
        kiln_rdd *r = kiln_parallelize(ctx, recs, (size_t)n, n);
        kiln_count(r); /* warm: executors forked, library fetched */
        double t0 = now();
        int64_t c = kiln_count(r);
        double dt = now() - t0;
        free(recs);
        if (c != n) {
            fprintf(stderr, "bench: %s\n", kiln_errmsg(ctx));
            return 1;
        }
        printf("%.0f %.3f\n", n / dt, dt);
        return 0;
    }
    if (!strcmp(argv[1], "latency")) {
        int n = atoi(argv[2]);
        kiln_rec rec = {KILN_NONE, KILN_STR("x")};
        kiln_rdd *r = kiln_parallelize(ctx, &rec, 1, 1);
        double *ms = calloc((size_t)n, sizeof *ms);
        for (int i = 0; i < 20; i++)
            kiln_count(r); /* warm */
        for (int i = 0; i < n; i++) {
            double t0 = now();
            if (kiln_count(r) != 1) {
                fprintf(stderr, "bench: %s\n", kiln_errmsg(ctx));
                return 1;
            }
            ms[i] = (now() - t0) * 1e3;
        }
        qsort(ms, (size_t)n, sizeof *ms, cmp_double);
        printf("%.3f %.3f %.3f\n", ms[n / 2], ms[n * 9 / 10], ms[0]);
        free(ms);
        return 0;
    }
    return 2;
}
