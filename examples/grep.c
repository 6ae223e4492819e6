/*
 * grep.c - saves the lines that contain a fixed string, like `grep -F`.
 * The pattern travels to the workers as the filter's env.
 *
 *   kiln submit --master local[2] build/examples/grep.so PATTERN INPUT OUTDIR [MIN_PARTITIONS]
 *   kiln submit ... grep.so --count PATTERN INPUT     (prints the number of matching lines)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

KILN_EXPORT bool grep_match(kiln_rec in, kiln_slice env)
{
    return memmem(in.val.ptr, in.val.len, env.ptr, env.len) != NULL;
}

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    int count = argc > 1 && !strcmp(argv[1], "--count");
    if (count) {
        argv++;
        argc--;
    }
    if (argc < (count ? 3 : 4)) {
        fprintf(stderr, "usage: grep PATTERN INPUT OUTDIR [MIN_PARTITIONS] | grep --count PATTERN INPUT\n");
        return 2;
    }
    int parts = argc > (count ? 3 : 4) ? atoi(argv[count ? 3 : 4]) : 4;
    kiln_rdd *lines = kiln_text_file(ctx, argv[2], parts);
    kiln_rdd *hits = kiln_filter(lines, grep_match, KILN_STR(argv[1]));
    if (count) {
        int64_t n = hits ? kiln_count(hits) : -1;
        if (n < 0) {
            fprintf(stderr, "grep: %s\n", kiln_errmsg(ctx));
            return 1;
        }
        printf("%lld\n", (long long)n);
        return 0;
    }
    if (!hits || kiln_save_text(hits, argv[3]) < 0) {
        fprintf(stderr, "grep: %s\n", kiln_errmsg(ctx));
        return 1;
    }
    return 0;
}
