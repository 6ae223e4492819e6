/*
 * bench.c - the application behind bench/run.sh. Prints one figure per run.
 *
 *   bench.so filter FILE PATTERN PARTS   filter-and-count: prints "count MB/s seconds"
 *   bench.so tasks N [once]               one job of N one-record tasks: prints "tasks/s seconds"
 *                                         (once: without the warm-up job, for simulated workers)
 *   bench.so latency N                    N one-task jobs: prints "median_ms p90_ms min_ms"
 *   bench.so shuffle MB PARTS             MB of 100-byte records made by map tasks, repartitioned
 *                                         across PARTS reduce tasks and counted: prints "MB/s seconds"
 *   bench.so gen MB PARTS                 the same records counted without the shuffle
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

/* i -> a 100-byte record of random letters A..P (what LZ4 cannot shrink):
 * a 10-byte key and a 90-byte value. The 13 words are hashed
 * independently (no chain from one to the next), so the CPU makes them side
 * by side: the benchmark measures the shuffle, not its record maker. */
KILN_EXPORT int bench_record(kiln_rec in, kiln_out *out, kiln_slice env)
{
    char rec[104];
    uint64_t base = (uint64_t)kiln_i64(in.val) * 13;
    for (int i = 0; i < 104; i += 8) {
        uint64_t x = (base + (uint64_t)i / 8 + 1) * 0x9e3779b97f4a7c15ull;
        x ^= x >> 32;
        x *= 0xbf58476d1ce4e5b9ull;
        x ^= x >> 29;
        uint64_t y = (x & 0x0f0f0f0f0f0f0f0full) + 0x4141414141414141ull; /* 8 letters at once */
        memcpy(rec + i, &y, 8);
    }
    return kiln_emit(out, KILN_SLICE(rec, 10), KILN_SLICE(rec + 10, 90));
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
        if (argc < 4 || strcmp(argv[3], "once")) kiln_count(r); /* warm: executors forked, library fetched */
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
    if ((!strcmp(argv[1], "shuffle") || !strcmp(argv[1], "gen")) && argc >= 4) {
        int64_t n = (int64_t)atoi(argv[2]) * 1000000 / 100;
        int parts = atoi(argv[3]);
        kiln_rdd *recs = kiln_map(kiln_range(ctx, 0, n, parts), bench_record, KILN_NONE);
        kiln_count(kiln_range(ctx, 0, 1, 1)); /* warm: executors and library */
        double t0 = now();
        /* "gen": the same job without the shuffle, to tell the two costs apart */
        int64_t c = kiln_count(strcmp(argv[1], "gen") ? kiln_repartition(recs, parts) : recs);
        double dt = now() - t0;
        if (c != n) {
            fprintf(stderr, "bench: %s\n", kiln_errmsg(ctx));
            return 1;
        }
        printf("%.0f %.3f\n", (double)n * 100 / 1e6 / dt, dt);
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
