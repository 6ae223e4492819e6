/*
 * stages.h - from a job's lineage graph to the stage it runs.
 *
 * A job arrives as the nodes reachable from its target and an action. The
 * narrow operations between each source and the target are composed into
 * one stage function: a list of pipelines (one per source reached through
 * unions), each a list of (operation, symbol, env), and the action as its
 * output. That StageFunc is serialized exactly once; when its serialized
 * size is over the broadcast threshold the caller stores it as a blob and
 * tasks carry only its hash. Wide dependencies (shuffles) will cut the
 * graph into several stages; this module is where that cut will live.
 *
 * Pure: no sockets, no driver state, so it is unit-tested directly.
 */
#ifndef KILN_STAGES_H
#define KILN_STAGES_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "kiln.pb-c.h"

typedef struct stage_plan {
    uint32_t stage_id;
    uint8_t *bytes; /* the serialized StageFunc (owned) */
    size_t len;
    char hash[HASH_HEX_LEN + 1];
    int broadcast; /* len > threshold: ship as a blob */
    size_t ntasks;
    Kiln__TaskInput **inputs; /* one per output partition (owned structs;
                                 split paths and blocks borrow from the job) */
    char fn_names[256];       /* "grep_match, fmt" for error messages */
} stage_plan;

/* Counts how often stage functions were serialized, for tests and status. */
typedef struct stage_stats {
    uint64_t serialized;
    uint64_t broadcast;
} stage_stats;

/* Builds the stage of `job` (borrowed: it must outlive the plan). The
 * broadcast rule is len > threshold. A source without partitions is fine
 * (no tasks). 0, or -1 with a message: a node that references an unknown
 * or later node, an operation without a function, or a job over the
 * STAGE_MAX_* bounds of stages.c (pipelines, operations, tasks, bytes),
 * which keep one hostile graph from exhausting the driver. */
int stages_build(const Kiln__JobSubmit *job, uint32_t stage_id, uint64_t threshold, stage_stats *stats, stage_plan *out,
                 char *err, size_t errlen);
void stage_plan_release(stage_plan *p);

#endif
