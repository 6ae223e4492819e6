/*
 * sort.c - sorts text records by their first 10 bytes, like TeraSort:
 * each line is a record whose key is its first 10 bytes and whose value is
 * the rest; sort_by_key samples the input to pick range bounds, shuffles by
 * range and sorts each partition, so the part files read in order are the
 * input sorted bytewise (ties broken by the rest of the line, as
 * `LC_ALL=C sort` does).
 *
 *   kiln submit --master local[2] sort.so INPUT OUTDIR [PARTITIONS] [desc]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

#define KEY_BYTES 10

KILN_EXPORT int split_key(kiln_rec in, kiln_out *out, kiln_slice env)
{
    size_t k = in.val.len < KEY_BYTES ? in.val.len : KEY_BYTES;
    const char *p = in.val.ptr;
    return kiln_emit(out, KILN_SLICE(p, k), KILN_SLICE(p + k, in.val.len - k));
}

KILN_EXPORT int join_key(kiln_rec in, kiln_out *out, kiln_slice env)
{
    char stackbuf[4096];
    size_t n = in.key.len + in.val.len;
    char *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!buf) return kiln_fail("out of memory");
    memcpy(buf, in.key.ptr, in.key.len);
    memcpy(buf + in.key.len, in.val.ptr, in.val.len);
    int rc = kiln_emit(out, KILN_NONE, KILN_SLICE(buf, n));
    if (buf != stackbuf) free(buf);
    return rc;
}

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: sort INPUT OUTDIR [PARTITIONS] [desc]\n");
        return 2;
    }
    int parts = argc > 3 ? atoi(argv[3]) : 4;
    bool asc = !(argc > 4 && !strcmp(argv[4], "desc"));
    kiln_rdd *recs = kiln_map(kiln_text_file(ctx, argv[1], parts), split_key, KILN_NONE);
    kiln_rdd *sorted = kiln_map(kiln_sort_by_key(recs, asc, parts), join_key, KILN_NONE);
    if (!sorted || kiln_save_text(sorted, argv[2]) < 0) {
        fprintf(stderr, "sort: %s\n", kiln_errmsg(ctx));
        return 1;
    }
    return 0;
}
