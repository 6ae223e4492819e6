/*
 * bounds.h - bounds that two programs must agree on: what the driver
 * accepts is what an executor can run.
 */
#ifndef KILN_BOUNDS_H
#define KILN_BOUNDS_H

/* Nodes in one JobSubmit; the driver refuses a larger job with a message. */
#define KILN_MAX_NODES 100000

/* Functions one stage calls (operations over all its pipelines, a shuffle
 * read's or write's combine, a reduce action's function), and operations
 * in one pipeline (caches included): an executor's fixed tables. The
 * driver refuses a job with a stage over either bound. */
#define KILN_STAGE_MAX_FUNCS 64

#endif
