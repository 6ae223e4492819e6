/*
 * bad.c - jobs that go wrong on purpose; the integration test checks the
 * error each one reports.
 *
 *   bad.so static FILE     a filter that is a static function: refused at the call
 *   bad.so segv FILE       a map that dereferences NULL on a line containing "boom"
 *   bad.so fail FILE       a filter that calls kiln_fail on the 10th line of a partition
 *   bad.so exit FILE       a map that calls exit(3)
 *   bad.so multi FILE      a map that emits two records
 *   bad.so missing PATH    a text_file that does not exist
 *   bad.so slow FILE       a map that sleeps 50 ms per record (to be killed)
 *   bad.so hang FILE       a map that sleeps until its executor is killed, so a
 *                          test that kills the application never races its end
 *   bad.so crash-in-main X kiln_main itself dereferences NULL (local[N] is running)
 *   bad.so abort FILE      a map that calls abort() on a line containing "boom"
 *   bad.so loop FILE       a map that never returns on a line containing "boom"
 *   bad.so alloc FILE      a map that allocates without bound on a line containing "boom"
 *                          (it gives up with kiln_fail after 4 GiB, so a missing limit
 *                          fails the test instead of the machine)
 *   bad.so hog FILE        a map that, on a line containing "boom", allocates 1 MiB blocks
 *                          until malloc refuses one, frees them and fails by itself with
 *                          kiln_fail("allocation refused"), as careful code does
 *   bad.so slowshuffle FILE  lines cached, counted per line by reduce_by_key, then a slow
 *                          map over the result (shuffle and cache files exist while it runs)
 *   bad.so waitsegv FILE   a map that, on a "boom" line, waits (at most 60 s) for a file
 *                          FILE.go to exist and then segfaults: the test decides when
 *   bad.so flaky FILE      a map that segfaults on a "boom" line the first time only
 *                          (a marker file FILE.marker remembers it), after emitting
 *   bad.so failslow FILE   a map that calls kiln_fail on a "boom" line and sleeps 50 ms on
 *                          every other one; when that job has failed, counts FILE again
 *                          (the application goes on while the failed job's tasks are cancelled)
 *
 * With a third argument DIR the dataset is saved with kiln_save_text(DIR)
 * instead of counted.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln.h"

static bool hidden_filter(kiln_rec in, kiln_slice env)
{
    return in.val.len > 0;
}

KILN_EXPORT int segv_map(kiln_rec in, kiln_out *out, kiln_slice env)
{
    if (in.val.len >= 4 && !memcmp(in.val.ptr, "boom", 4)) {
        volatile int *p = NULL;
        *p = 1;
    }
    return kiln_emit(out, in.key, in.val);
}

KILN_EXPORT bool fail_filter(kiln_rec in, kiln_slice env)
{
    fprintf(stderr, "fail_filter was here\n");
    kiln_fail("refusing line '%.*s'", (int)in.val.len, (const char *)in.val.ptr);
    return false;
}

KILN_EXPORT int exit_map(kiln_rec in, kiln_out *out, kiln_slice env)
{
    exit(3);
}

KILN_EXPORT int multi_map(kiln_rec in, kiln_out *out, kiln_slice env)
{
    kiln_emit(out, in.key, in.val);
    return kiln_emit(out, in.key, in.val);
}

KILN_EXPORT int slow_map(kiln_rec in, kiln_out *out, kiln_slice env)
{
    usleep(50000);
    return kiln_emit(out, in.key, in.val);
}

KILN_EXPORT int hang_map(kiln_rec in, kiln_out *out, kiln_slice env)
{
    for (;;) pause();
}

static bool is_boom(kiln_rec in);

KILN_EXPORT int failslow_map(kiln_rec in, kiln_out *out, kiln_slice env)
{
    if (is_boom(in)) return kiln_fail("boom");
    usleep(50000);
    return kiln_emit(out, in.key, in.val);
}

static bool is_boom(kiln_rec in)
{
    return in.val.len >= 4 && !memcmp(in.val.ptr, "boom", 4);
}

KILN_EXPORT int abort_map(kiln_rec in, kiln_out *out, kiln_slice env)
{
    if (is_boom(in)) abort();
    return kiln_emit(out, in.key, in.val);
}

KILN_EXPORT int loop_map(kiln_rec in, kiln_out *out, kiln_slice env)
{
    while (is_boom(in))
        sleep(1); /* a hung task (sleeping, so it costs no CPU) */
    return kiln_emit(out, in.key, in.val);
}

/* where alloc_map's blocks escape to, so the compiler keeps them */
static char *volatile alloc_last;

KILN_EXPORT int alloc_map(kiln_rec in, kiln_out *out, kiln_slice env)
{
    if (is_boom(in)) {
        /* as careless code does: the NULL of a failed malloc is used */
        for (size_t total = 0; total < ((size_t)4 << 30); total += 1 << 20) {
            char *p = malloc(1 << 20);
            memset(p, 1, 1 << 20);
            alloc_last = p;
        }
        return kiln_fail("allocated 4 GiB and no memory limit stopped it");
    }
    return kiln_emit(out, in.key, in.val);
}

KILN_EXPORT int hog_map(kiln_rec in, kiln_out *out, kiln_slice env)
{
    if (is_boom(in)) {
        void **blocks = NULL;
        size_t n = 0, cap = 0;
        for (; n < 4096; n++) { /* 4 GiB at most: a missing limit fails the test, not the machine */
            void *p = malloc(1 << 20);
            if (!p) break;
            memset(p, 1, 1 << 20);
            if (n == cap) {
                void **grown = realloc(blocks, (cap = cap ? 2 * cap : 64) * sizeof *blocks);
                if (!grown) {
                    free(p);
                    break;
                }
                blocks = grown;
            }
            blocks[n] = p;
        }
        for (size_t i = 0; i < n; i++)
            free(blocks[i]);
        free(blocks);
        return kiln_fail("allocation refused");
    }
    return kiln_emit(out, in.key, in.val);
}

KILN_EXPORT int flaky_map(kiln_rec in, kiln_out *out, kiln_slice env)
{
    int rc = kiln_emit(out, in.key, in.val);
    if (is_boom(in)) {
        char marker[4096];
        snprintf(marker, sizeof marker, "%.*s", (int)env.len, (const char *)env.ptr);
        int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
            close(fd);
            raise(SIGSEGV); /* the first attempt dies mid-partition */
        }
    }
    return rc;
}

KILN_EXPORT int waitsegv_map(kiln_rec in, kiln_out *out, kiln_slice env)
{
    if (is_boom(in)) {
        char go[4096];
        snprintf(go, sizeof go, "%.*s", (int)env.len, (const char *)env.ptr);
        for (int i = 0; i < 6000 && access(go, F_OK) < 0; i++)
            usleep(10000);
        raise(SIGSEGV);
    }
    return kiln_emit(out, in.key, in.val);
}

KILN_EXPORT int line_one(kiln_rec in, kiln_out *out, kiln_slice env)
{
    return kiln_emit_i64(out, in.val, 1);
}

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    if (argc < 3) return 2;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "crash-in-main")) { /* user code crashes in the client, with local[N] running */
        volatile int *p = NULL;
        return *p;
    }
    kiln_rdd *lines = kiln_text_file(ctx, argv[2], 2);
    kiln_rdd *r = NULL;
    if (!strcmp(cmd, "static"))
        r = kiln_filter(lines, hidden_filter, KILN_NONE);
    else if (!strcmp(cmd, "segv"))
        r = kiln_map(lines, segv_map, KILN_NONE);
    else if (!strcmp(cmd, "fail"))
        r = kiln_filter(lines, fail_filter, KILN_NONE);
    else if (!strcmp(cmd, "exit"))
        r = kiln_map(lines, exit_map, KILN_NONE);
    else if (!strcmp(cmd, "multi"))
        r = kiln_map(lines, multi_map, KILN_NONE);
    else if (!strcmp(cmd, "slow"))
        r = kiln_map(lines, slow_map, KILN_NONE);
    else if (!strcmp(cmd, "hang"))
        r = kiln_map(lines, hang_map, KILN_NONE);
    else if (!strcmp(cmd, "slowshuffle"))
        r = kiln_map(kiln_reduce_by_key(kiln_map(kiln_cache(lines), line_one, KILN_NONE), kiln_sum_i64, KILN_NONE, 2),
                     slow_map, KILN_NONE);
    else if (!strcmp(cmd, "abort"))
        r = kiln_map(lines, abort_map, KILN_NONE);
    else if (!strcmp(cmd, "loop"))
        r = kiln_map(lines, loop_map, KILN_NONE);
    else if (!strcmp(cmd, "alloc"))
        r = kiln_map(lines, alloc_map, KILN_NONE);
    else if (!strcmp(cmd, "hog"))
        r = kiln_map(lines, hog_map, KILN_NONE);
    else if (!strcmp(cmd, "flaky")) {
        char marker[4096];
        snprintf(marker, sizeof marker, "%s.marker", argv[2]);
        r = kiln_map(lines, flaky_map, KILN_STR(marker));
    } else if (!strcmp(cmd, "waitsegv")) {
        char go[4096];
        snprintf(go, sizeof go, "%s.go", argv[2]);
        r = kiln_map(lines, waitsegv_map, KILN_STR(go));
    } else if (!strcmp(cmd, "failslow")) {
        int64_t n = kiln_count(kiln_map(lines, failslow_map, KILN_NONE));
        printf("first job: %s\n", n < 0 ? kiln_errmsg(ctx) : "succeeded");
        fflush(stdout);
        r = lines;
    } else if (!strcmp(cmd, "missing"))
        r = lines;
    if (!r) {
        fprintf(stderr, "bad %s: %s\n", cmd, kiln_errmsg(ctx));
        return 1;
    }
    if (argc > 3) {
        if (kiln_save_text(r, argv[3]) < 0) {
            fprintf(stderr, "bad %s: %s\n", cmd, kiln_errmsg(ctx));
            return 1;
        }
        return 0;
    }
    int64_t n = kiln_count(r);
    if (n < 0) {
        fprintf(stderr, "bad %s: %s\n", cmd, kiln_errmsg(ctx));
        return 1;
    }
    printf("%lld\n", (long long)n);
    return 0;
}
