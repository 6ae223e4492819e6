/*
 * scale.c - the jobs of tests/integration/scale.sh, run against simulated
 * workers (tests/tools/kiln-sim): many one-record tasks, and a shuffle
 * whose count comes out right only when every map output's size reached
 * its reduce task. Each step prints "NAME count C" and the program fails
 * (exit 1) at the first count that is not the expected one.
 *
 *   scale.so STEP...   where a STEP is
 *     tasks:N          one job of N one-record tasks (parallelize, N partitions)
 *     shuffle:M:R:K    M*K records in M map tasks, repartitioned over R reduce tasks
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

static int check(kiln_ctx *ctx, const char *name, int64_t got, int64_t want)
{
    printf("%s count %lld\n", name, (long long)got);
    fflush(stdout);
    if (got == want) return 0;
    fprintf(stderr, "scale: %s: counted %lld, want %lld: %s\n", name, (long long)got, (long long)want,
            got < 0 ? kiln_errmsg(ctx) : "wrong count");
    return 1;
}

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        long n, m, r, k;
        if (sscanf(argv[i], "tasks:%ld", &n) == 1 && n > 0) {
            kiln_rec *recs = calloc((size_t)n, sizeof *recs);
            for (long p = 0; p < n; p++)
                recs[p].val = KILN_STR("x");
            int64_t c = kiln_count(kiln_parallelize(ctx, recs, (size_t)n, (int)n));
            free(recs);
            if (check(ctx, argv[i], c, n)) return 1;
        } else if (sscanf(argv[i], "shuffle:%ld:%ld:%ld", &m, &r, &k) == 3 && m > 0 && r > 0 && k > 0) {
            int64_t c = kiln_count(kiln_repartition(kiln_range(ctx, 0, m * k, (int)m), (int)r));
            if (check(ctx, argv[i], c, m * k)) return 1;
        } else {
            fprintf(stderr, "scale: bad step '%s'\n", argv[i]);
            return 2;
        }
    }
    return 0;
}
