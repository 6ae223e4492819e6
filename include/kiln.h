/*
 * kiln.h - the public API of kiln, a distributed data-processing engine.
 *
 * A job is a C shared object exporting kiln_main(). It builds a lineage
 * graph of datasets (kiln_rdd) with lazy transformations and runs actions
 * on it; `kiln submit app.so` loads it and runs it against a cluster.
 *
 *     cc -shared -fPIC -Iinclude app.c -o app.so   # no library to link
 *
 * User functions are shipped by name: every function handed to kiln must be
 * an exported symbol of the application's shared object, so mark it
 * KILN_EXPORT. Its closure is an explicit byte string, env, copied at the
 * call site.
 *
 * Ownership: kiln_slice borrows; kiln_recs owns its records until
 * kiln_recs_free(); datasets live until the context ends.
 */
#ifndef KILN_H
#define KILN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_EXPORT __attribute__((visibility("default"), used))

/* Borrowed bytes. */
typedef struct kiln_slice {
    const void *ptr;
    size_t len;
} kiln_slice;

#define KILN_SLICE(p, n) ((kiln_slice){(const void *)(p), (size_t)(n)})
#define KILN_STR(s)      ((kiln_slice){(const void *)(s), strlen(s)})
#define KILN_NONE        ((kiln_slice){NULL, 0})

/* A record; records read from text have an empty key. */
typedef struct kiln_rec {
    kiln_slice key, val;
} kiln_rec;

/* Owned results: free with kiln_recs_free(). */
typedef struct kiln_recs {
    kiln_rec *recs;
    size_t n;
    void *storage; /* private: the bytes the slices point into */
} kiln_recs;

void kiln_recs_free(kiln_recs *recs);

typedef struct kiln_ctx kiln_ctx;
typedef struct kiln_rdd kiln_rdd;
typedef struct kiln_out kiln_out;
typedef struct kiln_iter kiln_iter;
typedef struct kiln_buf kiln_buf;

/* A broadcast value: small, copy it into an env. */
typedef struct kiln_bcast {
    uint8_t id[32]; /* SHA-256 of the value */
    uint64_t len;
} kiln_bcast;

/* Functions a user writes: 0 on success, non-zero fails the task. */
typedef int kiln_map_fn(kiln_rec in, kiln_out *out, kiln_slice env);
typedef bool kiln_filter_fn(kiln_rec in, kiln_slice env);
typedef int kiln_partition_fn(kiln_iter *in, kiln_out *out, kiln_slice env);
typedef int kiln_combine_fn(kiln_slice a, kiln_slice b, kiln_buf *out, kiln_slice env);

/* Called inside user functions. Emitted bytes are copied. */
int kiln_emit(kiln_out *out, kiln_slice key, kiln_slice val);
int kiln_emit_i64(kiln_out *out, kiln_slice key, int64_t v);
bool kiln_next(kiln_iter *in, kiln_rec *rec);
int kiln_buf_set(kiln_buf *buf, const void *p, size_t n);
int64_t kiln_i64(kiln_slice s); /* 8 bytes, little-endian */
kiln_slice kiln_bcast_value(kiln_bcast b);
void kiln_counter_add(const char *name, int64_t delta);
int kiln_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool kiln_list_next(kiln_slice *list, kiln_slice *item);
int kiln_pair_split(kiln_slice pair, kiln_slice *left, kiln_slice *right);

/* Built-in functions, available on every worker. */
kiln_map_fn kiln_words;       /* flat_map: (word, i64 1) per word */
kiln_combine_fn kiln_sum_i64; /* combine: a + b */
kiln_combine_fn kiln_min_i64;
kiln_combine_fn kiln_max_i64;
kiln_map_fn kiln_fmt_i64; /* map: (k, i64 n) -> ("", "k\tn") */

/* The application's entry point; its return value is the exit status. */
int kiln_main(kiln_ctx *ctx, int argc, char **argv);

/* Sources. Paths are resolved against the current directory. */
kiln_rdd *kiln_text_file(kiln_ctx *ctx, const char *path, int min_partitions);
kiln_rdd *kiln_parallelize(kiln_ctx *ctx, const kiln_rec *recs, size_t n, int partitions);
kiln_rdd *kiln_range(kiln_ctx *ctx, int64_t start, int64_t end, int partitions);

/* Transformations: lazy; NULL with a message (kiln_errmsg) on misuse. */
kiln_rdd *kiln_map(kiln_rdd *rdd, kiln_map_fn *fn, kiln_slice env);
kiln_rdd *kiln_flat_map(kiln_rdd *rdd, kiln_map_fn *fn, kiln_slice env);
kiln_rdd *kiln_filter(kiln_rdd *rdd, kiln_filter_fn *fn, kiln_slice env);
kiln_rdd *kiln_map_partitions(kiln_rdd *rdd, kiln_partition_fn *fn, kiln_slice env);
kiln_rdd *kiln_reduce_by_key(kiln_rdd *rdd, kiln_combine_fn *fn, kiln_slice env, int partitions);
kiln_rdd *kiln_group_by_key(kiln_rdd *rdd, int partitions);
kiln_rdd *kiln_join(kiln_rdd *left, kiln_rdd *right, int partitions);
kiln_rdd *kiln_sort_by_key(kiln_rdd *rdd, bool ascending, int partitions);
kiln_rdd *kiln_distinct(kiln_rdd *rdd, int partitions);
kiln_rdd *kiln_union(kiln_rdd *a, kiln_rdd *b);
kiln_rdd *kiln_repartition(kiln_rdd *rdd, int partitions);
kiln_rdd *kiln_cache(kiln_rdd *rdd);

/* Actions: run a job; -1 with a message (kiln_errmsg) on failure. */
int64_t kiln_count(kiln_rdd *rdd);
int kiln_collect(kiln_rdd *rdd, kiln_recs *out);
/* The first n records in partition order: runs the first partition, then
 * more per job (Spark's rule: up to 4x those scanned so far) until it has
 * them, so later partitions are often never computed. */
int kiln_take(kiln_rdd *rdd, size_t n, kiln_recs *out);
int kiln_reduce(kiln_rdd *rdd, kiln_combine_fn *fn, kiln_slice env, void **out, size_t *out_len);
int kiln_save_text(kiln_rdd *rdd, const char *dir);

/* Context. */
kiln_bcast kiln_broadcast(kiln_ctx *ctx, const void *p, size_t n);
int64_t kiln_counter_value(kiln_ctx *ctx, const char *name);
const char *kiln_errmsg(kiln_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* KILN_H */
