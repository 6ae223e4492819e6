/*
 * chatty.c - jobs whose tasks print to their executor logs, for kiln logs.
 *
 *   chatty.so say FILE PARTS   two jobs over FILE in PARTS partitions: the first
 *                              writes "say LINE" to stderr for every line, the
 *                              second "again LINE"; prints both counts
 *   chatty.so loud FILE PARTS  one job: "loud LINE" for every line, as fast as it goes
 *   chatty.so wait FILE        one job, one partition: "tick LINE" for every line;
 *                              on the line "go" it waits (at most 60 s) for FILE.go
 *                              to exist first: the test decides when it ends
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln.h"

KILN_EXPORT bool say_filter(kiln_rec in, kiln_slice env)
{
    fprintf(stderr, "say %.*s\n", (int)in.val.len, (const char *)in.val.ptr);
    usleep(20000); /* slow enough that both workers get tasks */
    return true;
}

KILN_EXPORT bool again_filter(kiln_rec in, kiln_slice env)
{
    fprintf(stderr, "again %.*s\n", (int)in.val.len, (const char *)in.val.ptr);
    return true;
}

KILN_EXPORT bool loud_filter(kiln_rec in, kiln_slice env)
{
    fprintf(stderr, "loud %.*s\n", (int)in.val.len, (const char *)in.val.ptr);
    return true;
}

KILN_EXPORT bool tick_filter(kiln_rec in, kiln_slice env)
{
    if (in.val.len == 2 && !memcmp(in.val.ptr, "go", 2)) {
        char go[4096];
        snprintf(go, sizeof go, "%.*s", (int)env.len, (const char *)env.ptr);
        for (int i = 0; i < 6000 && access(go, F_OK) < 0; i++)
            usleep(10000);
    }
    fprintf(stderr, "tick %.*s\n", (int)in.val.len, (const char *)in.val.ptr);
    return true;
}

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    if (argc < 3) return 2;
    if (!strcmp(argv[1], "say") && argc > 3) {
        kiln_rdd *lines = kiln_text_file(ctx, argv[2], atoi(argv[3]));
        int64_t a = lines ? kiln_count(kiln_filter(lines, say_filter, KILN_NONE)) : -1;
        int64_t b = a >= 0 ? kiln_count(kiln_filter(lines, again_filter, KILN_NONE)) : -1;
        if (b < 0) {
            fprintf(stderr, "chatty: %s\n", kiln_errmsg(ctx));
            return 1;
        }
        printf("%lld %lld\n", (long long)a, (long long)b);
        return 0;
    }
    if (!strcmp(argv[1], "loud") && argc > 3) {
        kiln_rdd *lines = kiln_text_file(ctx, argv[2], atoi(argv[3]));
        int64_t n = lines ? kiln_count(kiln_filter(lines, loud_filter, KILN_NONE)) : -1;
        if (n < 0) {
            fprintf(stderr, "chatty: %s\n", kiln_errmsg(ctx));
            return 1;
        }
        printf("%lld\n", (long long)n);
        return 0;
    }
    if (!strcmp(argv[1], "wait")) {
        char go[4096];
        snprintf(go, sizeof go, "%s.go", argv[2]);
        kiln_rdd *lines = kiln_text_file(ctx, argv[2], 1);
        int64_t n = lines ? kiln_count(kiln_filter(lines, tick_filter, KILN_STR(go))) : -1;
        if (n < 0) {
            fprintf(stderr, "chatty: %s\n", kiln_errmsg(ctx));
            return 1;
        }
        printf("%lld\n", (long long)n);
        return 0;
    }
    return 2;
}
