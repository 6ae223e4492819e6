/*
 * runtime.h - what user functions call back into: the concrete shapes of
 * the opaque kiln_out, kiln_iter and kiln_buf, the packed list and pair
 * formats, and the built-in functions.
 *
 * kiln_counter_add, kiln_fail and kiln_bcast_value take no context, as the
 * public API fixes their shapes, so the process that runs user code (an
 * executor, or the client during kiln_reduce's final merge) installs one
 * rt_hooks value with rt_set_hooks(); that pointer is the only mutable
 * global outside a main.c, and it is set once per task.
 */
#ifndef KILN_RUNTIME_H
#define KILN_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

struct kiln_out {
    /* 0, or -1 to stop the task (the error is already recorded). */
    int (*emit)(kiln_out *self, kiln_slice key, kiln_slice val);
};

struct kiln_iter {
    bool (*next)(kiln_iter *self, kiln_rec *rec);
};

struct kiln_buf {
    uint8_t *p;
    size_t len, cap;
};

void kiln_buf_release(kiln_buf *b);

/* The longest task error kept (a Python traceback fits). */
#define KILN_ERR_MAX 8192

typedef struct rt_hooks {
    void *arg;
    void (*counter_add)(void *arg, const char *name, int64_t delta);
    void (*counter_add_real)(void *arg, const char *name, double delta); /* Python's float accumulators */
    /* Python's accumulators with an AccumulatorParam: the task's value of
     * counter name (copied; replaces the last one set), and whether this
     * task set one yet. */
    void (*counter_set_term)(void *arg, const char *name, const void *p, size_t n);
    int (*counter_has_term)(void *arg, const char *name);
    void (*fail)(void *arg, const char *msg);
    kiln_slice (*bcast_value)(void *arg, kiln_bcast b);
    /* What built-ins that run another language (executor/python.c) need
     * beyond the public API; any of them may be NULL outside a task. */
    void (*set_name)(void *arg, const char *name); /* names the running function, for errors and blame */
    void (*fail_fatal)(void *arg);                 /* retrying cannot help: fail the job at once */
    int (*stopped)(void *arg);                     /* the action needs no more records (take) */
    uint32_t partition;                            /* the task's output partition */
    uint32_t stage_id, attempt;                    /* the driver's stage number; attempts count from 1 */
    uint64_t task_id;                              /* unique among the driver's launches */
    /* Barrier stages: sends msg to the driver and waits until every task of
     * the stage has sent one; *msgs is then every task's, in partition
     * order (valid until the next call or the task's end). 0, or -1 with
     * err. NULL outside a task. */
    int (*barrier)(void *arg, kiln_slice msg, const kiln_slice **msgs, size_t *n, char *err, size_t errlen);
    const char *app_dir;                           /* WORK/APP: the application's directory on this worker */
    const char *cache_dir;                         /* the worker's blob cache: cache_dir/<sha256 hex> */
} rt_hooks;

/* Installs hooks (borrowed; NULL removes them). */
void rt_set_hooks(const rt_hooks *h);
/* The hooks of the task running now (borrowed), or NULL. */
const rt_hooks *rt_hooks_current(void);

/* Packed formats of group_by_key lists and join pairs: each item is
 * varint(len) then the bytes; a pair is varint(left_len) left right. */
static inline size_t rt_varint_put(uint8_t *p, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        p[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[i++] = (uint8_t)v;
    return i;
}
/* The bytes rt_varint_put writes for v. */
static inline size_t rt_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}
/* Reads a varint; returns bytes used, 0 when truncated or too long. */
size_t rt_varint_get(const uint8_t *p, size_t n, uint64_t *v);

/* The built-in functions by name: shipped with every worker. */
typedef enum rt_fn_kind { RT_FN_MAP, RT_FN_COMBINE, RT_FN_PARTITIONS } rt_fn_kind;
typedef struct rt_builtin {
    const char *name;
    rt_fn_kind kind;
    void *fn;
} rt_builtin;
/* NULL when name is not a built-in. */
const rt_builtin *rt_builtin_by_name(const char *name);
/* NULL when fn is not a built-in. */
const rt_builtin *rt_builtin_by_addr(const void *fn);

#endif
