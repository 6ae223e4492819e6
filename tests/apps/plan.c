/*
 * plan.c - lineage graphs that test the driver's planner bounds; each
 * command prints the first job's count or "refused: <message>", then runs a
 * small job in the same application and prints "then <count>", to show the
 * application goes on after a refusal.
 *
 *   plan.so union N        u = range(0, 10, 1); N times u = union(u, u); count(cache(u))
 *   plan.so nodes N        a balanced union tree of N ranges (2N - 1 nodes); count
 *   plan.so maps N         range(0, 100, 2) then N maps; count
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

KILN_EXPORT int same(kiln_rec in, kiln_out *out, kiln_slice env)
{
    return kiln_emit(out, in.key, in.val);
}

/* The union of ranges [lo, hi) of a balanced tree, each range(0, 1, 1). */
static kiln_rdd *tree(kiln_ctx *ctx, long n)
{
    if (n == 1) return kiln_range(ctx, 0, 1, 1);
    return kiln_union(tree(ctx, n / 2), tree(ctx, n - n / 2));
}

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    if (argc < 3) return 2;
    const char *cmd = argv[1];
    long n = atol(argv[2]);
    kiln_rdd *r = NULL;
    if (!strcmp(cmd, "union")) {
        r = kiln_range(ctx, 0, 10, 1);
        for (long i = 0; i < n; i++)
            r = kiln_union(r, r);
        r = kiln_cache(r);
    } else if (!strcmp(cmd, "nodes")) {
        r = tree(ctx, n);
    } else if (!strcmp(cmd, "maps")) {
        r = kiln_range(ctx, 0, 100, 2);
        for (long i = 0; i < n; i++)
            r = kiln_map(r, same, KILN_NONE);
    } else {
        fprintf(stderr, "plan: unknown command %s\n", cmd);
        return 2;
    }
    if (!r) {
        fprintf(stderr, "plan: %s\n", kiln_errmsg(ctx));
        return 1;
    }
    int64_t c = kiln_count(r);
    if (c < 0)
        printf("refused: %s\n", kiln_errmsg(ctx));
    else
        printf("%" PRId64 "\n", c);
    fflush(stdout);
    int64_t then = kiln_count(kiln_range(ctx, 0, 100, 2));
    if (then < 0) {
        printf("then failed: %s\n", kiln_errmsg(ctx));
        return 1;
    }
    printf("then %" PRId64 "\n", then);
    return 0;
}
