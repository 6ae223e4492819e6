/*
 * ui.c - jobs for the UI and metrics test (tests/integration/ui.sh):
 *
 *   ui.so wc FILE MAPS REDUCES     words of FILE counted by reduce_by_key: MAPS map
 *                                  tasks, REDUCES reduce tasks; prints the distinct words
 *   ui.so gated FILE MAPS REDUCES  the same, but every map task waits (at most 120 s)
 *                                  for the file FILE.go before its first record: the
 *                                  test looks at a running job, then lets it go
 *   ui.so fail FILE                a map that calls kiln_fail on a line containing "boom"
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"

KILN_EXPORT int ui_gate(kiln_rec in, kiln_out *out, kiln_slice env)
{
    char path[4096];
    snprintf(path, sizeof path, "%.*s", (int)env.len, (const char *)env.ptr);
    for (int i = 0; i < 6000 && access(path, F_OK) != 0; i++) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return kiln_emit(out, in.key, in.val);
}

KILN_EXPORT int ui_boom(kiln_rec in, kiln_out *out, kiln_slice env)
{
    if (memmem(in.val.ptr, in.val.len, "boom", 4)) return kiln_fail("ui_boom: a line says boom");
    return kiln_emit(out, in.key, in.val);
}

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ui.so wc|gated FILE MAPS REDUCES | ui.so fail FILE\n");
        return 2;
    }
    const char *cmd = argv[1];
    int maps = argc > 3 ? atoi(argv[3]) : 2, reduces = argc > 4 ? atoi(argv[4]) : 2;
    kiln_rdd *lines = kiln_text_file(ctx, argv[2], maps);
    char go[4096];
    snprintf(go, sizeof go, "%s.go", argv[2]);
    if (!strcmp(cmd, "gated"))
        lines = kiln_map(lines, ui_gate, KILN_STR(go));
    else if (!strcmp(cmd, "fail"))
        lines = kiln_map(lines, ui_boom, KILN_NONE);
    else if (strcmp(cmd, "wc"))
        return 2;
    int64_t n =
        kiln_count(kiln_reduce_by_key(kiln_flat_map(lines, kiln_words, KILN_NONE), kiln_sum_i64, KILN_NONE, reduces));
    if (n < 0) {
        fprintf(stderr, "ui %s: %s\n", cmd, kiln_errmsg(ctx));
        return 1;
    }
    printf("%lld\n", (long long)n);
    return 0;
}
