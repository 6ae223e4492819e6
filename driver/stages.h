/*
 * stages.h - from a job's lineage graph to the stages it runs.
 *
 * A job arrives as the nodes reachable from its target and an action.
 * job_plan_make cuts the graph at every wide dependency (reduce_by_key,
 * group_by_key, join, sort_by_key, distinct, repartition): stage 0 is the
 * result stage, and each shuffle the job reads gets a map stage that
 * writes it. Within a stage, the narrow operations between each source and
 * the stage's end are composed into pipelines of (operation, symbol, env);
 * a source is a text file, parallelized records, a range, the reduce side
 * of a shuffle (NODE_SHUFFLE_READ), or a partition kept by kiln_cache on a
 * worker (NODE_CACHED, when the caller says every partition is kept).
 *
 * stage_serialize turns one stage and its output (the action, or the
 * shuffle write of a map stage) into a StageFunc, serialized exactly once;
 * when its serialized size is over the broadcast threshold the caller
 * stores it as a blob and tasks carry only its hash.
 *
 * Pure: no sockets, no driver state, so it is unit-tested directly.
 */
#ifndef KILN_STAGES_H
#define KILN_STAGES_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "kiln.pb-c.h"

/* One step of a pipeline: an operation node, or keeping the records of a
 * cached node (cache_node set). */
typedef struct plan_step {
    const Kiln__Node *op;
    uint32_t cache_node;
} plan_step;

typedef struct plan_pipe {
    const Kiln__Node *source; /* the source node, the wide node read, or the cached node */
    Kiln__NodeKind source_kind;
    plan_step *steps;
    size_t nsteps;
} plan_pipe;

typedef struct plan_stage {
    int is_map;             /* writes a shuffle (else: the result stage) */
    const Kiln__Node *wide; /* is_map: the wide node whose input this writes */
    uint32_t side;          /* is_map: which parent of wide (join: 0 left, 1 right) */
    uint32_t shuffle_id;    /* is_map: shuffle_id_of(wide, side) */
    plan_pipe *pipes;
    size_t npipes, cappipes;
    size_t ntasks;
    uint32_t *deps; /* shuffle ids this stage reads */
    size_t ndeps;
    int barrier; /* a barrier node is in its pipelines: its tasks run all at once (barrier.c) */
} plan_stage;

/* What planning computed for one node (stages.c). */
typedef struct plan_info plan_info;

struct job_plan;
typedef struct job_plan {
    plan_stage *stages; /* [0] is the result stage */
    size_t nstages;
    const Kiln__JobSubmit *job; /* borrowed */
    uint32_t *pos;              /* node id -> 1 + its index in job->nodes, 0 = none */
    uint32_t max_id;
    plan_info *info; /* per index in job->nodes */
} job_plan;

/* True when every partition of node n is kept on a live worker. jp is the
 * plan being made (plan_node and plan_partitions work, in constant time).
 * Called at most once per node. */
typedef int (*plan_cached_fn)(void *arg, const struct job_plan *jp, const Kiln__Node *n);

static inline uint32_t shuffle_id_of(const Kiln__Node *wide, uint32_t side)
{
    return wide->id * 2 + side;
}

/* How many shuffles wide node reads: a join's two sides, else one. */
static inline uint32_t shuffle_sides(const Kiln__Node *wide)
{
    return wide->kind == KILN__NODE_KIND__NODE_JOIN ? 2 : 1;
}

#define PLAN_REFUSED (-2)

/* Plans `job` (borrowed: it must outlive the plan). is_cached may be NULL.
 * Costs time linear in the nodes, plus the pipelines and operations of the
 * stages, which are bounded before they are built. 0; -1 with a message
 * for a broken graph (a node that references an unknown or later node, an
 * operation without a function, a wide node with no partitions); or
 * PLAN_REFUSED with a message ("65,536 pipelines in one stage, the limit
 * is ...") for a job over a bound of stages.c (pipelines, operations,
 * partitions, stages, depth, per stage and per job) or over what an
 * executor runs (KILN_STAGE_MAX_FUNCS), which keep one hostile graph from
 * exhausting the driver or failing on every worker. */
int job_plan_make(const Kiln__JobSubmit *job, plan_cached_fn is_cached, void *arg, job_plan *out, char *err,
                  size_t errlen);
void job_plan_release(job_plan *p);
/* The node with that id, or NULL; borrowed from the job. */
const Kiln__Node *plan_node(const job_plan *p, uint32_t id);
/* How many partitions node n has (computed once when the plan was made). */
size_t plan_partitions(const job_plan *p, const Kiln__Node *n);

/* A serialized stage and its task inputs. */
typedef struct stage_plan {
    uint32_t stage_id;
    uint8_t *bytes; /* the serialized StageFunc (owned) */
    size_t len;
    char hash[HASH_HEX_LEN + 1];
    int broadcast; /* len > threshold: ship as a blob */
    size_t ntasks;
    Kiln__TaskInput *inputs; /* one per task, one allocation (owned; split
                                paths and blocks borrow from the job) */
    char fn_names[256];       /* "grep_match, fmt" for error messages */
    /* the TaskLaunch fields every task of this plan shares, packed at its
     * first launch (sched.c; owned, NULL until then) */
    uint8_t *launch;
    size_t launch_len;
} stage_plan;

/* Counts how often stage functions were serialized, for tests and status. */
typedef struct stage_stats {
    uint64_t serialized;
    uint64_t broadcast;
} stage_stats;

/* Fills w (whose bounds the caller may set afterwards) with the shuffle
 * write of map stage s. Borrows from the plan. */
void plan_shuffle_write(const plan_stage *s, Kiln__ShuffleWrite *w);

/* Serializes stage i of the plan with `output` as its output. The
 * broadcast rule is len > threshold. 0, or -1 with a message. */
int stage_serialize(const job_plan *jp, size_t i, uint32_t stage_id, const Kiln__Action *output, uint64_t threshold,
                    stage_stats *stats, stage_plan *out, char *err, size_t errlen);
void stage_plan_release(stage_plan *p);

/* A job of narrow operations only, in one call: plan, then serialize the
 * result stage with the job's action. -1 when the job needs a shuffle. */
int stages_build(const Kiln__JobSubmit *job, uint32_t stage_id, uint64_t threshold, stage_stats *stats, stage_plan *out,
                 char *err, size_t errlen);

#endif
