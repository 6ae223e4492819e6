/*
 * linecount.c - counts the lines of text files, like `wc -l`.
 *
 *   kiln submit --master local[2] build/examples/linecount.so PATH [MIN_PARTITIONS]
 */
#include <stdio.h>
#include <stdlib.h>

#include "kiln.h"

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: linecount PATH [MIN_PARTITIONS]\n");
        return 2;
    }
    kiln_rdd *lines = kiln_text_file(ctx, argv[1], argc > 2 ? atoi(argv[2]) : 4);
    int64_t n = lines ? kiln_count(lines) : -1;
    if (n < 0) {
        fprintf(stderr, "linecount: %s\n", kiln_errmsg(ctx));
        return 1;
    }
    printf("%lld\n", (long long)n);
    return 0;
}
