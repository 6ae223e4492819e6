/*
 * stages.c - composing a job's narrow operations into one stage function
 * (see stages.h).
 *
 * A job is input from the network: a union that names the same dataset
 * twice doubles the pipelines below it, so a short graph can ask for 2^n
 * pipelines (each with its own copy of every op and env above the union),
 * and a range can ask for 4 billion partitions. Pipelines, operations,
 * tasks and the serialized size are bounded (STAGE_MAX_*) and a job over
 * a bound is refused with a message before anything is allocated for it.
 */
#include "stages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define STAGE_MAX_PIPELINES 65536
#define STAGE_MAX_OPS       1000000
#define STAGE_MAX_TASKS     1000000
#define STAGE_MAX_BYTES     ((size_t)1 << 30)

/* A pipeline under construction: a source node and the ops after it. */
typedef struct plan_pipe {
    const Kiln__Node *source;
    const Kiln__Node **ops;
    size_t nops;
} plan_pipe;

typedef struct builder {
    const Kiln__JobSubmit *job;
    const Kiln__Node **by_id; /* index: node id */
    uint32_t max_id;
    plan_pipe *pipes;
    size_t npipes, cap;
    size_t nops; /* over all pipelines */
    char *err;
    size_t errlen;
} builder;

static const Kiln__Node *node(builder *b, uint32_t id)
{
    return id <= b->max_id ? b->by_id[id] : NULL;
}

static int is_source(Kiln__NodeKind k)
{
    return k == KILN__NODE_KIND__NODE_TEXT_FILE || k == KILN__NODE_KIND__NODE_PARALLELIZE ||
           k == KILN__NODE_KIND__NODE_RANGE;
}

static int is_narrow_op(Kiln__NodeKind k)
{
    return k == KILN__NODE_KIND__NODE_MAP || k == KILN__NODE_KIND__NODE_FLAT_MAP || k == KILN__NODE_KIND__NODE_FILTER ||
           k == KILN__NODE_KIND__NODE_MAP_PARTITIONS;
}

/* Appends the pipelines that produce node n, in partition order. */
static int collect(builder *b, const Kiln__Node *n, int depth)
{
    if (depth > 10000) return errf(b->err, b->errlen, "lineage graph too deep");
    if (is_source(n->kind)) {
        if (b->npipes >= STAGE_MAX_PIPELINES)
            return errf(b->err, b->errlen, "too many pipelines: unions reach more than %d sources",
                        STAGE_MAX_PIPELINES);
        if (b->npipes == b->cap) {
            b->cap = b->cap ? 2 * b->cap : 4;
            b->pipes = xrealloc(b->pipes, b->cap * sizeof *b->pipes);
        }
        b->pipes[b->npipes++] = (plan_pipe){.source = n};
        return 0;
    }
    size_t want = n->kind == KILN__NODE_KIND__NODE_UNION ? 2 : 1;
    if (!is_narrow_op(n->kind) && n->kind != KILN__NODE_KIND__NODE_UNION)
        return errf(b->err, b->errlen, "node %u: kind %d is not supported yet", n->id, n->kind);
    if (n->n_parents != want)
        return errf(b->err, b->errlen, "node %u: %zu parents, expected %zu", n->id, n->n_parents, want);
    size_t first = b->npipes;
    for (size_t i = 0; i < want; i++) {
        const Kiln__Node *p = n->parents[i] < n->id ? node(b, n->parents[i]) : NULL;
        if (!p) return errf(b->err, b->errlen, "node %u: parent %u is unknown", n->id, n->parents[i]);
        if (collect(b, p, depth + 1) < 0) return -1;
    }
    if (n->kind == KILN__NODE_KIND__NODE_UNION) return 0;
    if (!n->fn || !n->fn->symbol || !*n->fn->symbol) return errf(b->err, b->errlen, "node %u: no function", n->id);
    if (b->nops + (b->npipes - first) > STAGE_MAX_OPS)
        return errf(b->err, b->errlen, "too many operations: more than %d over all pipelines", STAGE_MAX_OPS);
    b->nops += b->npipes - first;
    for (size_t i = first; i < b->npipes; i++) {
        plan_pipe *pp = &b->pipes[i];
        pp->ops = xrealloc(pp->ops, (pp->nops + 1) * sizeof *pp->ops);
        pp->ops[pp->nops++] = n;
    }
    return 0;
}

static Kiln__OpKind op_kind(Kiln__NodeKind k)
{
    switch (k) {
    case KILN__NODE_KIND__NODE_MAP:
        return KILN__OP_KIND__OP_MAP;
    case KILN__NODE_KIND__NODE_FLAT_MAP:
        return KILN__OP_KIND__OP_FLAT_MAP;
    case KILN__NODE_KIND__NODE_FILTER:
        return KILN__OP_KIND__OP_FILTER;
    default:
        return KILN__OP_KIND__OP_MAP_PARTITIONS;
    }
}

static size_t source_partitions(const Kiln__Node *n)
{
    switch (n->kind) {
    case KILN__NODE_KIND__NODE_TEXT_FILE:
        return n->n_splits;
    case KILN__NODE_KIND__NODE_PARALLELIZE:
        return n->n_blocks;
    default:
        return n->partitions;
    }
}

/* True when name is one of the ", "-separated names in buf (whole names:
 * "map" is not in "my_map"). */
static int has_name(const char *buf, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = buf; *p;) {
        const char *sep = strstr(p, ", ");
        size_t len = sep ? (size_t)(sep - p) : strlen(p);
        if (len == n && !memcmp(p, name, n)) return 1;
        if (!sep) break;
        p = sep + 2;
    }
    return 0;
}

static void add_name(char *buf, size_t len, const char *name)
{
    if (has_name(buf, name)) return;
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
}

int stages_build(const Kiln__JobSubmit *job, uint32_t stage_id, uint64_t threshold, stage_stats *stats, stage_plan *out,
                 char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    builder b = {.job = job, .err = err, .errlen = errlen};
    for (size_t i = 0; i < job->n_nodes; i++)
        if (job->nodes[i]->id > b.max_id) b.max_id = job->nodes[i]->id;
    if (b.max_id > 10 * job->n_nodes + 1000000) return errf(err, errlen, "node ids out of range");
    b.by_id = xcalloc(b.max_id + 1, sizeof *b.by_id);
    for (size_t i = 0; i < job->n_nodes; i++)
        b.by_id[job->nodes[i]->id] = job->nodes[i];
    int rc = -1;
    const Kiln__Node *target = node(&b, job->target);
    if (!target) {
        errf(err, errlen, "target node %u is unknown", job->target);
        goto done;
    }
    if (collect(&b, target, 0) < 0) goto done;
    size_t ntasks = 0;
    for (size_t i = 0; i < b.npipes; i++)
        ntasks += source_partitions(b.pipes[i].source);
    if (ntasks > STAGE_MAX_TASKS) {
        errf(err, errlen, "too many partitions: %zu, at most %d", ntasks, STAGE_MAX_TASKS);
        goto done;
    }

    /* the stage function */
    Kiln__StageFunc sf = KILN__STAGE_FUNC__INIT;
    sf.stage_id = stage_id;
    sf.output = job->action;
    sf.n_pipelines = b.npipes;
    sf.pipelines = xcalloc(b.npipes, sizeof *sf.pipelines);
    size_t total_ops = 0;
    for (size_t i = 0; i < b.npipes; i++)
        total_ops += b.pipes[i].nops;
    Kiln__Pipeline *pls = xcalloc(b.npipes, sizeof *pls);
    Kiln__Op *ops = xcalloc(total_ops ? total_ops : 1, sizeof *ops);
    Kiln__Op **opp = xcalloc(total_ops ? total_ops : 1, sizeof *opp);
    size_t k = 0;
    for (size_t i = 0; i < b.npipes; i++) {
        kiln__pipeline__init(&pls[i]);
        pls[i].source = b.pipes[i].source->kind;
        pls[i].n_ops = b.pipes[i].nops;
        pls[i].ops = &opp[k];
        for (size_t j = 0; j < b.pipes[i].nops; j++, k++) {
            const Kiln__Node *n = b.pipes[i].ops[j];
            kiln__op__init(&ops[k]);
            ops[k].kind = op_kind(n->kind);
            ops[k].fn = n->fn;
            ops[k].env = n->env;
            opp[k] = &ops[k];
            add_name(out->fn_names, sizeof out->fn_names, n->fn->symbol);
        }
        sf.pipelines[i] = &pls[i];
    }
    if (job->action->kind == KILN__ACTION_KIND__ACTION_REDUCE && job->action->fn && job->action->fn->symbol)
        add_name(out->fn_names, sizeof out->fn_names, job->action->fn->symbol);
    out->len = kiln__stage_func__get_packed_size(&sf);
    if (out->len > STAGE_MAX_BYTES) {
        errf(err, errlen, "stage function of %zu bytes is over the limit of %zu", out->len, STAGE_MAX_BYTES);
        free(ops);
        free(opp);
        free(pls);
        free(sf.pipelines);
        goto done;
    }
    out->bytes = xmalloc(out->len ? out->len : 1);
    kiln__stage_func__pack(&sf, out->bytes);
    hash_sha256_hex(out->bytes, out->len, out->hash);
    out->broadcast = out->len > threshold;
    out->stage_id = stage_id;
    if (stats) {
        stats->serialized++;
        stats->broadcast += out->broadcast;
    }
    free(ops);
    free(opp);
    free(pls);
    free(sf.pipelines);

    /* one task per partition of each pipeline's source */
    out->ntasks = ntasks;
    out->inputs = xcalloc(ntasks ? ntasks : 1, sizeof *out->inputs);
    size_t part = 0;
    for (size_t i = 0; i < b.npipes; i++) {
        const Kiln__Node *s = b.pipes[i].source;
        size_t np = source_partitions(s);
        __int128 span = (__int128)s->range_end - s->range_start;
        if (span < 0) span = 0;
        for (size_t p = 0; p < np; p++, part++) {
            Kiln__TaskInput *in = xmalloc(sizeof *in);
            kiln__task_input__init(in);
            in->pipeline = (uint32_t)i;
            in->partition = (uint32_t)part;
            if (s->kind == KILN__NODE_KIND__NODE_TEXT_FILE) in->split = s->splits[p];
            if (s->kind == KILN__NODE_KIND__NODE_PARALLELIZE) in->block = s->blocks[p];
            if (s->kind == KILN__NODE_KIND__NODE_RANGE) {
                in->range_start = (int64_t)(s->range_start + span * (__int128)p / (__int128)np);
                in->range_end = (int64_t)(s->range_start + span * (__int128)(p + 1) / (__int128)np);
            }
            out->inputs[part] = in;
        }
    }
    rc = 0;
done:
    for (size_t i = 0; i < b.npipes; i++)
        free(b.pipes[i].ops);
    free(b.pipes);
    free(b.by_id);
    if (rc < 0) stage_plan_release(out);
    return rc;
}

void stage_plan_release(stage_plan *p)
{
    for (size_t i = 0; i < p->ntasks; i++)
        free(p->inputs[i]);
    free(p->inputs);
    free(p->bytes);
    memset(p, 0, sizeof *p);
}
