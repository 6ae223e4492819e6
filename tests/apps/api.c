/*
 * api.c - exercises the narrow API end to end; the integration test
 * compares what it prints with an oracle computed by coreutils and mawk.
 *
 *   api.so collect N PARTS        parallelize ("k<i>", "v<i>"), collect: "k<i>\tv<i>" lines in order
 *   api.so take N PARTS T         first T records of the same
 *   api.so range A B PARTS        sum of range(A, B) by kiln_reduce(kiln_sum_i64), and its count
 *   api.so chain FILE PARTS       text -> map(upper) -> filter(has digit 7) -> flat_map(split on ' ')
 *                                 -> map_partitions(number tokens per partition) ; collect
 *   api.so union FILE PARTS       text_file(FILE) union range(0,1000) formatted; count
 *   api.so counters FILE PARTS    counts lines with a counter in the filter; prints count and counter
 *   api.so bigenv FILE PATTERN MB filter with a PATTERN + padding env of MB MiB; prints the count
 *   api.so bcast FILE PATTERN     filter whose pattern comes from kiln_broadcast; prints the count
 *   api.so save FILE DIR PARTS    save_text of the lines unchanged
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

KILN_EXPORT int upper(kiln_rec in, kiln_out *out, kiln_slice env)
{
    char buf[4096];
    size_t n = in.val.len < sizeof buf ? in.val.len : sizeof buf;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)toupper(((const unsigned char *)in.val.ptr)[i]);
    return kiln_emit(out, in.key, KILN_SLICE(buf, n));
}

KILN_EXPORT bool has_seven(kiln_rec in, kiln_slice env)
{
    return memchr(in.val.ptr, '7', in.val.len) != NULL;
}

KILN_EXPORT int split_space(kiln_rec in, kiln_out *out, kiln_slice env)
{
    const char *p = in.val.ptr, *end = p + in.val.len;
    while (p < end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *e = sp ? sp : end;
        if (e > p && kiln_emit(out, KILN_NONE, KILN_SLICE(p, e - p)) != 0) return -1;
        p = e + 1;
    }
    return 0;
}

/* Emits every token prefixed with its ordinal within the partition. */
KILN_EXPORT int number_tokens(kiln_iter *in, kiln_out *out, kiln_slice env)
{
    kiln_rec r;
    long i = 0;
    while (kiln_next(in, &r)) {
        char buf[4200];
        int n = snprintf(buf, sizeof buf, "%ld:%.*s", i++, (int)r.val.len, (const char *)r.val.ptr);
        if (kiln_emit(out, KILN_NONE, KILN_SLICE(buf, n)) != 0) return -1;
    }
    return 0;
}

KILN_EXPORT int fmt_i64_value(kiln_rec in, kiln_out *out, kiln_slice env)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRId64, kiln_i64(in.val));
    return kiln_emit(out, KILN_NONE, KILN_SLICE(buf, n));
}

KILN_EXPORT bool count_lines(kiln_rec in, kiln_slice env)
{
    kiln_counter_add("lines_seen", 1);
    if (in.val.len == 0) kiln_counter_add("empty_lines", 1);
    return true;
}

/* env: pattern, NUL, padding */
KILN_EXPORT bool match_env(kiln_rec in, kiln_slice env)
{
    size_t plen = strnlen(env.ptr, env.len);
    return memmem(in.val.ptr, in.val.len, env.ptr, plen) != NULL;
}

KILN_EXPORT bool match_bcast(kiln_rec in, kiln_slice env)
{
    kiln_bcast b;
    memcpy(&b, env.ptr, sizeof b);
    kiln_slice pat = kiln_bcast_value(b);
    if (!pat.ptr) return kiln_fail("broadcast value missing"), false;
    return memmem(in.val.ptr, in.val.len, pat.ptr, pat.len) != NULL;
}

static int fail(kiln_ctx *ctx, const char *what)
{
    fprintf(stderr, "api %s: %s\n", what, kiln_errmsg(ctx));
    return 1;
}

static void print_recs(const kiln_recs *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->recs[i].key.len) printf("%.*s\t", (int)r->recs[i].key.len, (const char *)r->recs[i].key.ptr);
        printf("%.*s\n", (int)r->recs[i].val.len, (const char *)r->recs[i].val.ptr);
    }
}

static kiln_rdd *kv(kiln_ctx *ctx, long n, int parts, char **store)
{
    kiln_rec *recs = calloc((size_t)n + 1, sizeof *recs);
    *store = malloc((size_t)n * 48 + 1);
    char *p = *store;
    for (long i = 0; i < n; i++) {
        int kl = sprintf(p, "k%ld", i);
        recs[i].key = KILN_SLICE(p, kl);
        p += kl;
        int vl = sprintf(p, "v%ld", i);
        recs[i].val = KILN_SLICE(p, vl);
        p += vl;
    }
    kiln_rdd *r = kiln_parallelize(ctx, recs, (size_t)n, parts);
    free(recs);
    return r;
}

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    if (argc < 2) return 2;
    const char *cmd = argv[1];
    kiln_recs out;
    if (!strcmp(cmd, "collect") || !strcmp(cmd, "take")) {
        char *store;
        kiln_rdd *r = kv(ctx, atol(argv[2]), atoi(argv[3]), &store);
        int rc = !strcmp(cmd, "collect") ? kiln_collect(r, &out) : kiln_take(r, (size_t)atol(argv[4]), &out);
        free(store);
        if (rc < 0) return fail(ctx, cmd);
        print_recs(&out);
        kiln_recs_free(&out);
        return 0;
    }
    if (!strcmp(cmd, "range")) {
        kiln_rdd *r = kiln_range(ctx, atoll(argv[2]), atoll(argv[3]), atoi(argv[4]));
        void *sum;
        size_t len;
        if (kiln_reduce(r, kiln_sum_i64, KILN_NONE, &sum, &len) < 0) return fail(ctx, "reduce");
        int64_t n = kiln_count(r);
        if (n < 0) return fail(ctx, "count");
        printf("%" PRId64 " %" PRId64 "\n", kiln_i64(KILN_SLICE(sum, len)), n);
        free(sum);
        return 0;
    }
    if (!strcmp(cmd, "chain")) {
        kiln_rdd *r = kiln_text_file(ctx, argv[2], atoi(argv[3]));
        r = kiln_map(r, upper, KILN_NONE);
        r = kiln_filter(r, has_seven, KILN_NONE);
        r = kiln_flat_map(r, split_space, KILN_NONE);
        r = kiln_map_partitions(r, number_tokens, KILN_NONE);
        if (!r || kiln_collect(r, &out) < 0) return fail(ctx, cmd);
        print_recs(&out);
        kiln_recs_free(&out);
        return 0;
    }
    if (!strcmp(cmd, "union")) {
        kiln_rdd *a = kiln_text_file(ctx, argv[2], atoi(argv[3]));
        kiln_rdd *b = kiln_map(kiln_range(ctx, 0, 1000, 3), fmt_i64_value, KILN_NONE);
        kiln_rdd *u = kiln_union(a, b);
        if (!u || kiln_collect(u, &out) < 0) return fail(ctx, cmd);
        print_recs(&out);
        kiln_recs_free(&out);
        return 0;
    }
    if (!strcmp(cmd, "counters")) {
        kiln_rdd *r = kiln_filter(kiln_text_file(ctx, argv[2], atoi(argv[3])), count_lines, KILN_NONE);
        int64_t n = kiln_count(r);
        if (n < 0) return fail(ctx, cmd);
        printf("%" PRId64 " %" PRId64 " %" PRId64 "\n", n, kiln_counter_value(ctx, "lines_seen"),
               kiln_counter_value(ctx, "empty_lines"));
        return 0;
    }
    if (!strcmp(cmd, "bigenv")) {
        size_t plen = strlen(argv[3]), total = (size_t)atol(argv[4]) << 20;
        char *env = calloc(total, 1);
        memcpy(env, argv[3], plen);
        for (size_t i = plen + 1; i < total; i++)
            env[i] = (char)('a' + i % 26);
        kiln_rdd *r = kiln_filter(kiln_text_file(ctx, argv[2], 6), match_env, KILN_SLICE(env, total));
        free(env);
        int64_t n = kiln_count(r);
        if (n < 0) return fail(ctx, cmd);
        printf("%" PRId64 "\n", n);
        return 0;
    }
    if (!strcmp(cmd, "bcast")) {
        kiln_bcast b = kiln_broadcast(ctx, argv[3], strlen(argv[3]));
        kiln_rdd *r = kiln_filter(kiln_text_file(ctx, argv[2], 4), match_bcast, KILN_SLICE(&b, sizeof b));
        int64_t n = kiln_count(r);
        if (n < 0) return fail(ctx, cmd);
        printf("%" PRId64 "\n", n);
        return 0;
    }
    if (!strcmp(cmd, "save")) {
        kiln_rdd *r = kiln_text_file(ctx, argv[2], atoi(argv[4]));
        if (kiln_save_text(r, argv[3]) < 0) return fail(ctx, cmd);
        return 0;
    }
    fprintf(stderr, "api: unknown command %s\n", cmd);
    return 2;
}
