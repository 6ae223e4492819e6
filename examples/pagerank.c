/*
 * pagerank.c - PageRank over an edge list ("src dst" per line), the
 * iterative example: the links are grouped once and cached, and every
 * iteration joins them with the ranks, spreads each rank over the page's
 * links and sums the contributions with reduce_by_key.
 *
 *   kiln submit --master local[2] pagerank.so EDGES ITERATIONS [PARTITIONS]
 *
 * Prints "page<TAB>rank" for every page that has a rank, sorted by page.
 * As in Spark's example, a page that no link points to drops out after the
 * first iteration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

static double get_f64(kiln_slice s)
{
    double d = 0;
    if (s.len == sizeof d) memcpy(&d, s.ptr, sizeof d);
    return d;
}

/* "src dst" -> (src, dst) */
KILN_EXPORT int parse_edge(kiln_rec in, kiln_out *out, kiln_slice env)
{
    const char *p = in.val.ptr, *sp = memchr(p, ' ', in.val.len);
    if (!sp) return 0; /* not an edge */
    return kiln_emit(out, KILN_SLICE(p, sp - p), KILN_SLICE(sp + 1, in.val.len - (size_t)(sp - p) - 1));
}

/* (page, links) -> (page, 1.0) */
KILN_EXPORT int initial_rank(kiln_rec in, kiln_out *out, kiln_slice env)
{
    double one = 1.0;
    return kiln_emit(out, in.key, KILN_SLICE(&one, sizeof one));
}

/* (page, pair(links, rank)) -> (dst, rank / n) for each link */
KILN_EXPORT int contributions(kiln_rec in, kiln_out *out, kiln_slice env)
{
    kiln_slice links, rank, dst;
    if (kiln_pair_split(in.val, &links, &rank) < 0) return kiln_fail("not a joined pair");
    size_t n = 0;
    for (kiln_slice l = links; kiln_list_next(&l, &dst);)
        n++;
    double share = get_f64(rank) / (double)n;
    for (kiln_slice l = links; kiln_list_next(&l, &dst);)
        if (kiln_emit(out, dst, KILN_SLICE(&share, sizeof share)) != 0) return -1;
    return 0;
}

KILN_EXPORT int sum_f64(kiln_slice a, kiln_slice b, kiln_buf *out, kiln_slice env)
{
    double s = get_f64(a) + get_f64(b);
    return kiln_buf_set(out, &s, sizeof s);
}

KILN_EXPORT int damp(kiln_rec in, kiln_out *out, kiln_slice env)
{
    double r = 0.15 + 0.85 * get_f64(in.val);
    return kiln_emit(out, in.key, KILN_SLICE(&r, sizeof r));
}

KILN_EXPORT int format_rank(kiln_rec in, kiln_out *out, kiln_slice env)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%.*s\t%.9f", (int)in.key.len, (const char *)in.key.ptr, get_f64(in.val));
    return kiln_emit(out, in.key, KILN_SLICE(buf, n));
}

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: pagerank EDGES ITERATIONS [PARTITIONS]\n");
        return 2;
    }
    int iters = atoi(argv[2]), parts = argc > 3 ? atoi(argv[3]) : 4;
    /* parse_edge drops lines that are not edges, so it is a flat_map */
    kiln_rdd *edges = kiln_flat_map(kiln_text_file(ctx, argv[1], parts), parse_edge, KILN_NONE);
    kiln_rdd *links = kiln_cache(kiln_group_by_key(edges, parts));
    if (kiln_count(links) < 0) { /* computes and keeps the links */
        fprintf(stderr, "pagerank: %s\n", kiln_errmsg(ctx));
        return 1;
    }
    kiln_rdd *ranks = kiln_map(links, initial_rank, KILN_NONE);
    for (int i = 0; i < iters; i++) {
        kiln_rdd *contribs = kiln_flat_map(kiln_join(links, ranks, parts), contributions, KILN_NONE);
        ranks = kiln_map(kiln_reduce_by_key(contribs, sum_f64, KILN_NONE, parts), damp, KILN_NONE);
    }
    kiln_recs out;
    kiln_rdd *sorted = kiln_map(kiln_sort_by_key(ranks, true, parts), format_rank, KILN_NONE);
    if (!sorted || kiln_collect(sorted, &out) < 0) {
        fprintf(stderr, "pagerank: %s\n", kiln_errmsg(ctx));
        return 1;
    }
    for (size_t i = 0; i < out.n; i++)
        printf("%.*s\n", (int)out.recs[i].val.len, (const char *)out.recs[i].val.ptr);
    kiln_recs_free(&out);
    return 0;
}
