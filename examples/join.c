/*
 * join.c - an inner join of two files of "key<TAB>value" lines: every
 * matching pair once, saved as "key<TAB>left<TAB>right" lines.
 *
 *   kiln submit --master local[2] join.so LEFT RIGHT OUTDIR [PARTITIONS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

/* "key<TAB>value" -> (key, value); a line without a tab is all key. */
KILN_EXPORT int parse_kv(kiln_rec in, kiln_out *out, kiln_slice env)
{
    const char *p = in.val.ptr, *tab = memchr(p, '\t', in.val.len);
    if (!tab) return kiln_emit(out, in.val, KILN_NONE);
    return kiln_emit(out, KILN_SLICE(p, tab - p), KILN_SLICE(tab + 1, in.val.len - (size_t)(tab - p) - 1));
}

/* (key, pair(left, right)) -> "key<TAB>left<TAB>right" */
KILN_EXPORT int format_pair(kiln_rec in, kiln_out *out, kiln_slice env)
{
    kiln_slice l, r;
    if (kiln_pair_split(in.val, &l, &r) < 0) return kiln_fail("not a joined pair");
    size_t n = in.key.len + l.len + r.len + 2;
    char stackbuf[4096];
    char *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!buf) return kiln_fail("out of memory");
    memcpy(buf, in.key.ptr, in.key.len);
    buf[in.key.len] = '\t';
    memcpy(buf + in.key.len + 1, l.ptr, l.len);
    buf[in.key.len + 1 + l.len] = '\t';
    memcpy(buf + in.key.len + 2 + l.len, r.ptr, r.len);
    int rc = kiln_emit(out, KILN_NONE, KILN_SLICE(buf, n));
    if (buf != stackbuf) free(buf);
    return rc;
}

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: join LEFT RIGHT OUTDIR [PARTITIONS]\n");
        return 2;
    }
    int parts = argc > 4 ? atoi(argv[4]) : 4;
    kiln_rdd *left = kiln_map(kiln_text_file(ctx, argv[1], parts), parse_kv, KILN_NONE);
    kiln_rdd *right = kiln_map(kiln_text_file(ctx, argv[2], parts), parse_kv, KILN_NONE);
    kiln_rdd *joined = kiln_map(kiln_join(left, right, parts), format_pair, KILN_NONE);
    if (!joined || kiln_save_text(joined, argv[3]) < 0) {
        fprintf(stderr, "join: %s\n", kiln_errmsg(ctx));
        return 1;
    }
    return 0;
}
