/*
 * shuf.c - wide transformations for the shuffle integration tests; each
 * command prints lines an oracle (sqlite3, sort, mawk) can reproduce.
 * Input lines are "key<TAB>value" (a line without a tab is all key).
 *
 *   shuf.so group FILE PARTS        "key<TAB>n<TAB>bytes": values per key and their total length
 *   shuf.so distinct FILE PARTS     every distinct line once
 *   shuf.so repartition FILE PARTS  every line, through a round-robin shuffle
 *   shuf.so sum FILE PARTS          "key<TAB>sum" of the integer values, by reduce_by_key
 *   shuf.so union FILE PARTS        "key<TAB>n" over a union of two shuffled datasets (the file twice)
 *   shuf.so cache FILE PARTS        counts a cached dataset twice; prints "n1 n2 calls1 calls2"
 *   shuf.so slowsum FILE PARTS [MS] like sum, with every reduced record taking MS (default 2) ms (a long
 *                                   reduce stage)
 *   shuf.so cachekill FILE PARTS    caches group_by_key, counts it, then prints group_stats of the cached
 *                                   dataset slowly (2 ms a group: a worker can be killed meanwhile)
 *   shuf.so mpgroup FILE PARTS      like group, with the stats made by a map_partitions over the
 *                                   grouped partition (which it must pull: held, or spilled)
 *   shuf.so big MB PARTS            records with 0-byte keys and MB-MiB values through group, sort, reduce
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

KILN_EXPORT int parse_kv(kiln_rec in, kiln_out *out, kiln_slice env)
{
    const char *p = in.val.ptr, *tab = memchr(p, '\t', in.val.len);
    if (!tab) return kiln_emit(out, in.val, KILN_NONE);
    return kiln_emit(out, KILN_SLICE(p, tab - p), KILN_SLICE(tab + 1, in.val.len - (size_t)(tab - p) - 1));
}

KILN_EXPORT int parse_kv_i64(kiln_rec in, kiln_out *out, kiln_slice env)
{
    const char *p = in.val.ptr, *tab = memchr(p, '\t', in.val.len);
    if (!tab) return kiln_emit_i64(out, in.val, 0);
    char num[32];
    size_t n = in.val.len - (size_t)(tab - p) - 1;
    if (n >= sizeof num) n = sizeof num - 1;
    memcpy(num, tab + 1, n);
    num[n] = 0;
    return kiln_emit_i64(out, KILN_SLICE(p, tab - p), strtoll(num, NULL, 10));
}

KILN_EXPORT int one(kiln_rec in, kiln_out *out, kiln_slice env)
{
    return kiln_emit_i64(out, in.key, 1);
}

/* (key, packed list) -> "key<TAB>n<TAB>bytes" */
KILN_EXPORT int group_stats(kiln_rec in, kiln_out *out, kiln_slice env)
{
    long n = 0, bytes = 0;
    kiln_slice item;
    for (kiln_slice l = in.val; kiln_list_next(&l, &item);) {
        n++;
        bytes += (long)item.len;
    }
    char buf[4200];
    int len = snprintf(buf, sizeof buf, "%.*s\t%ld\t%ld", (int)in.key.len, (const char *)in.key.ptr, n, bytes);
    return kiln_emit(out, KILN_NONE, KILN_SLICE(buf, len));
}

/* (key, value) -> "key<TAB>value" (or "key" when the value is empty) */
KILN_EXPORT int join_line(kiln_rec in, kiln_out *out, kiln_slice env)
{
    size_t n = in.key.len + (in.val.len ? 1 + in.val.len : 0);
    char *buf = malloc(n + 1);
    if (!buf) return kiln_fail("out of memory");
    memcpy(buf, in.key.ptr, in.key.len);
    if (in.val.len) {
        buf[in.key.len] = '\t';
        memcpy(buf + in.key.len + 1, in.val.ptr, in.val.len);
    }
    int rc = kiln_emit(out, KILN_NONE, KILN_SLICE(buf, n));
    free(buf);
    return rc;
}

KILN_EXPORT bool counted(kiln_rec in, kiln_slice env)
{
    kiln_counter_add("cached_calls", 1);
    return true;
}

/* big: record i has key "" for even i, "k<i%3>" otherwise, and a value of MB MiB of ('a' + i) */
KILN_EXPORT int big_record(kiln_rec in, kiln_out *out, kiln_slice env)
{
    int64_t i = kiln_i64(in.val);
    size_t n = (size_t)kiln_i64(env);
    char *v = malloc(n ? n : 1);
    if (!v) return kiln_fail("out of memory");
    memset(v, 'a' + (int)(i % 26), n);
    char key[16];
    int kl = i % 2 ? snprintf(key, sizeof key, "k%d", (int)(i % 3)) : 0;
    int rc = kiln_emit(out, KILN_SLICE(key, kl), KILN_SLICE(v, n));
    free(v);
    return rc;
}

/* (key, value) -> "key<TAB>length<TAB>first byte" */
KILN_EXPORT int describe(kiln_rec in, kiln_out *out, kiln_slice env)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%.*s\t%zu\t%c", (int)in.key.len, (const char *)in.key.ptr, in.val.len,
                     in.val.len ? ((const char *)in.val.ptr)[0] : '-');
    return kiln_emit(out, KILN_NONE, KILN_SLICE(buf, n));
}

KILN_EXPORT int concat(kiln_slice a, kiln_slice b, kiln_buf *out, kiln_slice env)
{
    /* keeps the bytewise larger value: associative and commutative */
    size_t n = a.len < b.len ? a.len : b.len;
    int c = memcmp(a.ptr, b.ptr, n);
    if (!c) c = (a.len > b.len) - (a.len < b.len);
    return c >= 0 ? kiln_buf_set(out, a.ptr, a.len) : kiln_buf_set(out, b.ptr, b.len);
}

static int print_all(kiln_ctx *ctx, kiln_rdd *r)
{
    kiln_recs out;
    if (!r || kiln_collect(r, &out) < 0) {
        fprintf(stderr, "shuf: %s\n", kiln_errmsg(ctx));
        return 1;
    }
    for (size_t i = 0; i < out.n; i++)
        printf("%.*s\n", (int)out.recs[i].val.len, (const char *)out.recs[i].val.ptr);
    kiln_recs_free(&out);
    return 0;
}

KILN_EXPORT int slow_fmt(kiln_rec in, kiln_out *out, kiln_slice env)
{
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    return kiln_fmt_i64(in, out, env);
}

/* slow_fmt with the nap in env (an int64 of milliseconds) */
KILN_EXPORT int nap_fmt(kiln_rec in, kiln_out *out, kiln_slice env)
{
    int64_t ms = kiln_i64(env);
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    return kiln_fmt_i64(in, out, KILN_NONE);
}

KILN_EXPORT int mp_group_stats(kiln_iter *in, kiln_out *out, kiln_slice env)
{
    kiln_rec r;
    while (kiln_next(in, &r))
        if (group_stats(r, out, env) < 0) return -1;
    return 0;
}

KILN_EXPORT int slow_group_stats(kiln_rec in, kiln_out *out, kiln_slice env)
{
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    return group_stats(in, out, env);
}

KILN_EXPORT int kiln_main(kiln_ctx *ctx, int argc, char **argv)
{
    if (argc < 4) return 2;
    const char *cmd = argv[1];
    int parts = atoi(argv[3]);
    if (!strcmp(cmd, "big")) {
        int64_t size = (int64_t)atoi(argv[2]) << 20;
        kiln_rdd *recs = kiln_map(kiln_range(ctx, 0, 12, 4), big_record, KILN_SLICE(&size, sizeof size));
        kiln_rdd *grouped = kiln_map(kiln_group_by_key(recs, parts), group_stats, KILN_NONE);
        kiln_rdd *sorted = kiln_map(kiln_sort_by_key(recs, true, parts), describe, KILN_NONE);
        kiln_rdd *reduced = kiln_map(kiln_reduce_by_key(recs, concat, KILN_NONE, parts), describe, KILN_NONE);
        return print_all(ctx, grouped) || print_all(ctx, sorted) || print_all(ctx, reduced);
    }
    kiln_rdd *lines = kiln_text_file(ctx, argv[2], 4);
    kiln_rdd *kv = kiln_map(lines, parse_kv, KILN_NONE);
    if (!strcmp(cmd, "group")) return print_all(ctx, kiln_map(kiln_group_by_key(kv, parts), group_stats, KILN_NONE));
    if (!strcmp(cmd, "mpgroup"))
        return print_all(ctx, kiln_map_partitions(kiln_group_by_key(kv, parts), mp_group_stats, KILN_NONE));
    if (!strcmp(cmd, "distinct")) return print_all(ctx, kiln_map(kiln_distinct(kv, parts), join_line, KILN_NONE));
    if (!strcmp(cmd, "repartition")) return print_all(ctx, kiln_map(kiln_repartition(kv, parts), join_line, KILN_NONE));
    if (!strcmp(cmd, "sum")) {
        kiln_rdd *nums = kiln_map(lines, parse_kv_i64, KILN_NONE);
        return print_all(ctx,
                         kiln_map(kiln_reduce_by_key(nums, kiln_sum_i64, KILN_NONE, parts), kiln_fmt_i64, KILN_NONE));
    }
    if (!strcmp(cmd, "slowsum")) {
        kiln_rdd *nums = kiln_map(lines, parse_kv_i64, KILN_NONE);
        kiln_rdd *sums = kiln_reduce_by_key(nums, kiln_sum_i64, KILN_NONE, parts);
        if (argc < 5) return print_all(ctx, kiln_map(sums, slow_fmt, KILN_NONE));
        int64_t ms = atoi(argv[4]);
        return print_all(ctx, kiln_map(sums, nap_fmt, KILN_SLICE(&ms, sizeof ms)));
    }
    if (!strcmp(cmd, "union")) {
        kiln_rdd *a = kiln_reduce_by_key(kiln_map(kv, one, KILN_NONE), kiln_sum_i64, KILN_NONE, parts);
        kiln_rdd *b = kiln_reduce_by_key(kiln_map(kv, one, KILN_NONE), kiln_sum_i64, KILN_NONE, parts + 1);
        kiln_rdd *u = kiln_reduce_by_key(kiln_union(a, b), kiln_sum_i64, KILN_NONE, parts);
        return print_all(ctx, kiln_map(u, kiln_fmt_i64, KILN_NONE));
    }
    if (!strcmp(cmd, "cachekill")) {
        kiln_rdd *c = kiln_cache(kiln_group_by_key(kv, parts));
        if (kiln_count(c) < 0) {
            fprintf(stderr, "shuf: %s\n", kiln_errmsg(ctx));
            return 1;
        }
        return print_all(ctx, kiln_map(c, slow_group_stats, KILN_NONE));
    }
    if (!strcmp(cmd, "cache")) {
        kiln_rdd *c = kiln_cache(kiln_filter(kiln_group_by_key(kv, parts), counted, KILN_NONE));
        int64_t n1 = kiln_count(c);
        int64_t calls1 = kiln_counter_value(ctx, "cached_calls");
        int64_t n2 = kiln_count(kiln_map(c, group_stats, KILN_NONE));
        int64_t calls2 = kiln_counter_value(ctx, "cached_calls");
        if (n1 < 0 || n2 < 0) {
            fprintf(stderr, "shuf: %s\n", kiln_errmsg(ctx));
            return 1;
        }
        printf("%lld %lld %lld %lld\n", (long long)n1, (long long)n2, (long long)calls1, (long long)calls2);
        return 0;
    }
    fprintf(stderr, "shuf: unknown command %s\n", cmd);
    return 2;
}
