/*
 * wordcount.c - counts words with kiln's built-in functions only:
 * kiln_words (split on whitespace), kiln_sum_i64 (combined on the map side
 * and after the shuffle), kiln_fmt_i64 (to "word<TAB>count" text).
 *
 *   kiln submit --master local[2] wordcount.so INPUT OUTDIR [PARTITIONS]
 *       saves "word<TAB>count" lines in OUTDIR/part-*
 *   kiln submit --master local[2] wordcount.so --top N INPUT [PARTITIONS]
 *       prints the N most frequent words
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

static int by_count(const void *x, const void *y)
{
    const kiln_rec *a = x, *b = y;
    int64_t ca = kiln_i64(a->val), cb = kiln_i64(b->val);
    if (ca != cb) return ca < cb ? 1 : -1;
    size_t n = a->key.len < b->key.len ? a->key.len : b->key.len;
    int c = memcmp(a->key.ptr, b->key.ptr, n);
    return c ? c : (a->key.len > b->key.len) - (a->key.len < b->key.len);
}

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    int top = argc > 2 && !strcmp(argv[1], "--top") ? atoi(argv[2]) : 0;
    if (top) {
        argv += 2;
        argc -= 2;
    }
    if (argc < (top ? 2 : 3)) {
        fprintf(stderr, "usage: wordcount INPUT OUTDIR [PARTITIONS] | wordcount --top N INPUT [PARTITIONS]\n");
        return 2;
    }
    int parts = argc > (top ? 2 : 3) ? atoi(argv[top ? 2 : 3]) : 4;
    kiln_rdd *words = kiln_flat_map(kiln_text_file(ctx, argv[1], parts), kiln_words, KILN_NONE);
    kiln_rdd *counts = kiln_reduce_by_key(words, kiln_sum_i64, KILN_NONE, parts);
    if (!counts) {
        fprintf(stderr, "wordcount: %s\n", kiln_errmsg(ctx));
        return 1;
    }
    if (!top) {
        if (kiln_save_text(kiln_map(counts, kiln_fmt_i64, KILN_NONE), argv[2]) < 0) {
            fprintf(stderr, "wordcount: %s\n", kiln_errmsg(ctx));
            return 1;
        }
        return 0;
    }
    kiln_recs all;
    if (kiln_collect(counts, &all) < 0) {
        fprintf(stderr, "wordcount: %s\n", kiln_errmsg(ctx));
        return 1;
    }
    qsort(all.recs, all.n, sizeof *all.recs, by_count);
    for (size_t i = 0; i < all.n && i < (size_t)top; i++)
        printf("%8lld  %.*s\n", (long long)kiln_i64(all.recs[i].val), (int)all.recs[i].key.len,
               (const char *)all.recs[i].key.ptr);
    printf("(%zu distinct words)\n", all.n);
    kiln_recs_free(&all);
    return 0;
}
