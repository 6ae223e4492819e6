/*
 * api_stubs.c - the driver-side half of include/kiln.h as seen from inside
 * a task. An application's library refers to kiln_map, kiln_count and the
 * rest; executors load it with RTLD_NOW, so every symbol must resolve, but
 * building datasets or running actions inside a task is a mistake (as in
 * Spark): each of these fails the task with a message saying so.
 */
#include <stdint.h>
#include <string.h>

#include "kiln.h"

static void inside_task(const char *api)
{
    kiln_fail("%s cannot be called inside a task: datasets and actions belong in kiln_main", api);
}

#define STUB_RDD(name, ...)                                                                                            \
    kiln_rdd *name(__VA_ARGS__)                                                                                        \
    {                                                                                                                  \
        inside_task(#name);                                                                                            \
        return NULL;                                                                                                   \
    }

STUB_RDD(kiln_text_file, kiln_ctx *c, const char *p, int n)
STUB_RDD(kiln_parallelize, kiln_ctx *c, const kiln_rec *r, size_t n, int p)
STUB_RDD(kiln_range, kiln_ctx *c, int64_t s, int64_t e, int p)
STUB_RDD(kiln_map, kiln_rdd *r, kiln_map_fn *f, kiln_slice e)
STUB_RDD(kiln_flat_map, kiln_rdd *r, kiln_map_fn *f, kiln_slice e)
STUB_RDD(kiln_filter, kiln_rdd *r, kiln_filter_fn *f, kiln_slice e)
STUB_RDD(kiln_map_partitions, kiln_rdd *r, kiln_partition_fn *f, kiln_slice e)
STUB_RDD(kiln_reduce_by_key, kiln_rdd *r, kiln_combine_fn *f, kiln_slice e, int p)
STUB_RDD(kiln_group_by_key, kiln_rdd *r, int p)
STUB_RDD(kiln_join, kiln_rdd *a, kiln_rdd *b, int p)
STUB_RDD(kiln_sort_by_key, kiln_rdd *r, bool asc, int p)
STUB_RDD(kiln_distinct, kiln_rdd *r, int p)
STUB_RDD(kiln_union, kiln_rdd *a, kiln_rdd *b)
STUB_RDD(kiln_repartition, kiln_rdd *r, int p)
STUB_RDD(kiln_cache, kiln_rdd *r)

int64_t kiln_count(kiln_rdd *r)
{
    inside_task("kiln_count");
    return -1;
}

int kiln_collect(kiln_rdd *r, kiln_recs *out)
{
    inside_task("kiln_collect");
    return -1;
}

int kiln_take(kiln_rdd *r, size_t n, kiln_recs *out)
{
    inside_task("kiln_take");
    return -1;
}

int kiln_reduce(kiln_rdd *r, kiln_combine_fn *f, kiln_slice e, void **out, size_t *len)
{
    inside_task("kiln_reduce");
    return -1;
}

int kiln_save_text(kiln_rdd *r, const char *dir)
{
    inside_task("kiln_save_text");
    return -1;
}

kiln_bcast kiln_broadcast(kiln_ctx *c, const void *p, size_t n)
{
    kiln_bcast b;
    memset(&b, 0, sizeof b);
    inside_task("kiln_broadcast");
    return b;
}

int64_t kiln_counter_value(kiln_ctx *c, const char *name)
{
    inside_task("kiln_counter_value");
    return 0;
}

const char *kiln_errmsg(kiln_ctx *c)
{
    return "kiln_errmsg has no context inside a task";
}
