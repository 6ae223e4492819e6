/*
 * executor.h - the executor process: forked by the worker, one per busy
 * slot, reused for further tasks of the same application. It reads
 * TaskLaunch frames from its socketpair, runs each with task_run, and
 * answers with TaskOutput frames and one TaskDone. It never returns.
 */
#ifndef KILN_EXECUTOR_H
#define KILN_EXECUTOR_H

#include <stddef.h>

#include "task.h"

typedef struct executor_args {
    int fd;                /* socketpair end to the worker */
    const char *cache_dir; /* the worker's blob cache */
    const char *work_dir;  /* the worker's work dir: WORK/APP is the application's */
    exec_status *status;   /* shared with the worker */
    size_t max_frame;
    const struct auth_secret *secret; /* the worker's, inherited by fork: for other workers' data ports */
} executor_args;

void executor_main(const executor_args *a) __attribute__((noreturn));

#endif
