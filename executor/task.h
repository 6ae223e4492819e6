/*
 * task.h - running one task inside an executor: a stage function resolved
 * against the application's library (stage_prog), streamed over one input
 * partition into the stage's output (count, result blocks, a reduced value
 * or a text part file).
 *
 * Nothing here touches sockets or the worker: results leave through the
 * task_sink callbacks, so the engine is testable in-process.
 */
#ifndef KILN_TASK_H
#define KILN_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "kiln.h"
#include "kiln.pb-c.h"
#include "runtime.h"

/* functions per stage and operations per pipeline (the driver refuses more) */
#define TASK_MAX_OPS KILN_STAGE_MAX_FUNCS

/* Shared with the worker (MAP_SHARED): which user function runs now, so a
 * crash can be blamed on it. */
typedef struct exec_status {
    volatile uint64_t task_id;
    volatile int32_t current;   /* index into names, -1 = kiln's own code */
    volatile int32_t enomem;    /* a fatal signal came after an allocation failed */
    volatile int32_t backtrace; /* the fatal-signal handler wrote a backtrace to the log */
    volatile int32_t lost_fd;   /* errno of a write to the worker that failed (its socket closed under it) */
    int32_t nnames;
    char names[TASK_MAX_OPS + 1][96];
} exec_status;

typedef struct rop {
    Kiln__OpKind kind;
    void *fn;
    kiln_slice env;
    int name_index;       /* in exec_status.names */
    uint32_t node;        /* OP_CACHE: the cached node */
    uint32_t part_offset; /* OP_CACHE */
} rop;

typedef struct rpipeline {
    Kiln__NodeKind source;
    rop *ops;
    size_t nops;
    const Kiln__ShuffleRead *read; /* NODE_SHUFFLE_READ */
    rop read_combine;              /* SHUFFLE_REDUCE: the combine function */
    uint32_t cache_node;           /* NODE_CACHED */
} rpipeline;

/* A stage function resolved against a library. Owns the unpacked StageFunc
 * (the envs point into it). */
typedef struct stage_prog {
    Kiln__StageFunc *sf;
    rpipeline *pipes;
    size_t npipes;
    void *combine_fn; /* ACTION_REDUCE */
    kiln_slice combine_env;
    int combine_name;
    rop write_combine; /* ACTION_SHUFFLE_WRITE of SHUFFLE_REDUCE: map-side combine */
    char names[TASK_MAX_OPS + 1][96];
    int nnames;
} stage_prog;

/* Decodes and resolves a serialized StageFunc: every symbol is looked up
 * once (dlsym on lib, or the built-ins). NULL with a message. */
stage_prog *stage_prog_new(const uint8_t *bytes, size_t n, void *lib, char *err, size_t errlen);
void stage_prog_free(stage_prog *p);

/* Where a task's results go, and what it borrows from its process. */
typedef struct task_sink {
    void *arg;
    /* Sends a sealed record block. 0 or -1. */
    int (*block)(void *arg, const uint8_t *p, size_t n);
    /* Looks up a broadcast value. */
    kiln_slice (*bcast)(void *arg, kiln_bcast b);
    /* The shared secret for other workers' data ports (NULL: none). */
    const struct auth_secret *secret;
    /* The application's directory and the blob cache (NULL in tests). */
    const char *app_dir, *cache_dir;
    /* A barrier task's rendezvous (rt_hooks.barrier; NULL: none here). */
    int (*barrier)(void *arg, kiln_slice msg, const kiln_slice **msgs, size_t *n, char *err, size_t errlen);
} task_sink;

typedef struct task_result {
    uint64_t count;
    uint64_t records_in, records_out;
    uint64_t *partition_sizes; /* shuffle write: owned */
    size_t npartition_sizes;
    uint32_t *cached_nodes, *cached_parts; /* OP_CACHE: owned */
    size_t ncached;
    uint64_t spills, spill_bytes;
    /* a shuffle read failed on this map output (the driver reruns it) */
    int fetch_failed;
    uint32_t fetch_shuffle_id, fetch_map, fetch_worker_id;
    Kiln__Counter **counters; /* owned; free with task_result_release */
    size_t ncounters;
    int fatal; /* retrying cannot help (rt_hooks.fail_fatal) */
    char error[KILN_ERR_MAX];
} task_result;

/* Runs the task. 0 on success; -1 with res->error set. status may be NULL. */
int task_run(stage_prog *p, const Kiln__TaskLaunch *t, const task_sink *sink, exec_status *status, task_result *res);
void task_result_release(task_result *res);

#endif
