/*
 * task_int.h - the inside of the task engine, shared by task.c (sources,
 * the operation chain, the action sinks) and task_shuffle.c (shuffle
 * write, sampling, shuffle read, cache). Not for use outside executor/task*.c.
 */
#ifndef KILN_TASK_INT_H
#define KILN_TASK_INT_H

#include <stdint.h>

#include "block.h"
#include "runtime.h"
#include "split.h"
#include "task.h"

typedef struct shuffle_writer shuffle_writer;
typedef struct sampler sampler;
typedef struct cache_writer cache_writer;

typedef struct counter {
    char *name;
    int64_t value;
    double real;
    uint8_t *term; /* the task's value of a custom accumulator (owned), when has_term */
    size_t term_len;
    int has_term;
} counter;

typedef struct run {
    stage_prog *p;
    const Kiln__TaskLaunch *t;
    const task_sink *sink;
    exec_status *st;
    exec_status dummy;
    task_result *res;
    int failed;      /* the task failed; res->error says why */
    int fail_called; /* kiln_fail was called during the current user call */
    char fail_msg[KILN_ERR_MAX];
    int stop; /* take: enough records */
    counter *counters;
    size_t ncounters, capcounters;
    /* sink state */
    Kiln__ActionKind kind;
    uint64_t take;
    block_builder bb;
    kiln_buf acc, tmp;
    int have_acc;
    int save_fd;
    uint8_t *save_buf;
    size_t save_len;
    struct z_stream_s *save_z; /* ACTION_SAVE_TEXT with codec "gzip": the part's deflate stream */
    char *save_tmp;
    shuffle_writer *sw; /* ACTION_SHUFFLE_WRITE */
    sampler *sample;    /* ACTION_SAMPLE */
    cache_writer *cws;  /* OP_CACHE writers of this task (linked) */
} run;

/* Records the task's failure (the first one wins). Returns -1. */
int run_fail(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* After a user call: folds kiln_fail and a non-zero return into the
 * task's failure. 0 to go on, -1 to stop. */
int after_call(run *r, int idx, int rc);

typedef struct chain {
    kiln_out base;
    run *r;
    rop *op; /* NULL: this node is the sink */
    kiln_out *next;
    int emitted;      /* map: records emitted by the current call */
    kiln_out counted; /* map: the out handed to the user */
    cache_writer *cw; /* OP_CACHE: where the records are kept */
} chain;

typedef struct src {
    int (*next)(struct src *s, kiln_rec *rec); /* 1, 0 = end, -1 = error */
    run *r;
    line_reader lr;
    int lr_open;
    block_reader br;
    int br_open;
    int64_t cur, end;
    uint8_t i64[8];
    struct recq *queue; /* materialised output of a map_partitions */
    int fd;             /* NODE_CACHED: the kept partition */
    uint8_t *fbuf;
    size_t fcap;
} src;

/* ---- task_shuffle.c ---- */
/* The task's memory budget (task.memory, default 256 MiB). */
size_t task_memory(const run *r);
/* WORK/APP/tmp/task-ID: where this task's spills go (a new string; the
 * directory is removed when the shuffle read that made it ends). */
char *task_tmp_dir(const run *r);
/* ACTION_SHUFFLE_WRITE: partitions (and combines) what reaches the sink. */
int shuffle_sink_open(run *r);
int shuffle_sink_emit(run *r, kiln_slice key, kiln_slice val);
/* Writes the map output (on success) and frees the writer. */
int shuffle_sink_close(run *r);
/* ACTION_SAMPLE: keeps a uniform sample of the records. */
int sample_sink_open(run *r);
int sample_sink_emit(run *r, kiln_slice key, kiln_slice val);
int sample_sink_close(run *r);
/* NODE_SHUFFLE_READ: fetches, aggregates and pushes the partition's
 * records into head. 0 or -1. */
int shuffle_source_push(run *r, const rpipeline *pl, const Kiln__TaskInput *in, kiln_out *head);
/* NODE_CACHED: opens the kept partition as a pull source. 0 or -1. */
int cached_source_open(run *r, src *s, const rpipeline *pl, const Kiln__TaskInput *in);
void cached_source_close(src *s);
/* OP_CACHE: a writer for one cache op of this task. NULL after run_fail. */
cache_writer *cache_writer_open(run *r, const rop *op);
int cache_writer_add(run *r, cache_writer *cw, kiln_slice key, kiln_slice val);
/* Makes every writer's partition visible (ok) or removes it, and reports
 * kept partitions in the result. */
void cache_writers_close(run *r, int ok);

#endif
