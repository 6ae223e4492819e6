/*
 * stages.c - cutting a job's lineage graph into stages and composing each
 * stage's narrow operations into one stage function (see stages.h).
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
#define STAGE_MAX_STAGES    4096

typedef struct builder {
    job_plan *jp;
    plan_cached_fn is_cached;
    void *arg;
    size_t nops; /* over all pipelines of the stage being built */
    char *err;
    size_t errlen;
} builder;

static const Kiln__Node *node(const job_plan *p, uint32_t id)
{
    return id <= p->max_id ? p->by_id[id] : NULL;
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

static int is_wide(Kiln__NodeKind k)
{
    return k == KILN__NODE_KIND__NODE_REDUCE_BY_KEY || k == KILN__NODE_KIND__NODE_GROUP_BY_KEY ||
           k == KILN__NODE_KIND__NODE_JOIN || k == KILN__NODE_KIND__NODE_SORT_BY_KEY ||
           k == KILN__NODE_KIND__NODE_DISTINCT || k == KILN__NODE_KIND__NODE_REPARTITION;
}

static size_t parents_wanted(Kiln__NodeKind k)
{
    if (is_source(k)) return 0;
    return k == KILN__NODE_KIND__NODE_UNION || k == KILN__NODE_KIND__NODE_JOIN ? 2 : 1;
}

static const Kiln__Node *parent(builder *b, const Kiln__Node *n, size_t i)
{
    const Kiln__Node *p = i < n->n_parents && n->parents[i] < n->id ? node(b->jp, n->parents[i]) : NULL;
    if (!p) errf(b->err, b->errlen, "node %u: parent %u is unknown", n->id, i < n->n_parents ? n->parents[i] : 0);
    return p;
}

size_t plan_partitions(const job_plan *p, const Kiln__Node *n)
{
    switch (n->kind) {
    case KILN__NODE_KIND__NODE_TEXT_FILE:
        return n->n_splits;
    case KILN__NODE_KIND__NODE_PARALLELIZE:
        return n->n_blocks;
    case KILN__NODE_KIND__NODE_RANGE:
        return n->partitions;
    case KILN__NODE_KIND__NODE_UNION: {
        size_t s = 0;
        for (size_t i = 0; i < n->n_parents && i < 2; i++) {
            const Kiln__Node *q = n->parents[i] < n->id ? node(p, n->parents[i]) : NULL;
            if (q) s += plan_partitions(p, q);
        }
        return s;
    }
    default:
        if (is_wide(n->kind)) return n->partitions;
        if (n->n_parents == 1 && n->parents[0] < n->id && node(p, n->parents[0]))
            return plan_partitions(p, node(p, n->parents[0]));
        return 0;
    }
}

static plan_stage *stage_for_shuffle(job_plan *jp, uint32_t sid)
{
    for (size_t i = 1; i < jp->nstages; i++)
        if (jp->stages[i].shuffle_id == sid) return &jp->stages[i];
    return NULL;
}

static int plan_stage_of(builder *b, plan_stage *st, const Kiln__Node *top, int depth);

/* Registers the map stages of wide node w (once per shuffle). */
static int add_map_stages(builder *b, const Kiln__Node *w, int depth)
{
    uint32_t sides = shuffle_sides(w);
    for (uint32_t side = 0; side < sides; side++) {
        uint32_t sid = shuffle_id_of(w, side);
        if (stage_for_shuffle(b->jp, sid)) continue;
        if (b->jp->nstages >= STAGE_MAX_STAGES) return errf(b->err, b->errlen, "more than %d stages", STAGE_MAX_STAGES);
        const Kiln__Node *in = parent(b, w, side);
        if (!in) return -1;
        b->jp->stages = xrealloc(b->jp->stages, (b->jp->nstages + 1) * sizeof *b->jp->stages);
        size_t idx = b->jp->nstages++;
        plan_stage *st = &b->jp->stages[idx];
        memset(st, 0, sizeof *st);
        st->is_map = 1;
        st->wide = w;
        st->side = side;
        st->shuffle_id = sid;
        size_t saved = b->nops;
        b->nops = 0;
        /* st may move while the stages array grows: build into a copy */
        plan_stage tmp = *st;
        int rc = plan_stage_of(b, &tmp, in, depth + 1);
        b->jp->stages[idx] = tmp;
        b->nops = saved;
        if (rc < 0) return -1;
    }
    return 0;
}

static plan_pipe *new_pipe(builder *b, plan_stage *st, const Kiln__Node *src, Kiln__NodeKind kind)
{
    if (st->npipes >= STAGE_MAX_PIPELINES) {
        errf(b->err, b->errlen, "too many pipelines: unions reach more than %d sources", STAGE_MAX_PIPELINES);
        return NULL;
    }
    if (st->npipes == st->cappipes) { /* geometric growth: a union fan-out adds thousands */
        st->cappipes = st->cappipes ? 2 * st->cappipes : 4;
        st->pipes = xrealloc(st->pipes, st->cappipes * sizeof *st->pipes);
    }
    plan_pipe *pp = &st->pipes[st->npipes++];
    memset(pp, 0, sizeof *pp);
    pp->source = src;
    pp->source_kind = kind;
    return pp;
}

static void add_dep(plan_stage *st, uint32_t sid)
{
    for (size_t i = 0; i < st->ndeps; i++)
        if (st->deps[i] == sid) return;
    st->deps = xrealloc(st->deps, (st->ndeps + 1) * sizeof *st->deps);
    st->deps[st->ndeps++] = sid;
}

/* Appends step to every pipeline from index first on. */
static int add_step(builder *b, plan_stage *st, size_t first, plan_step step)
{
    if (b->nops + (st->npipes - first) > STAGE_MAX_OPS)
        return errf(b->err, b->errlen, "too many operations: more than %d over all pipelines", STAGE_MAX_OPS);
    b->nops += st->npipes - first;
    for (size_t i = first; i < st->npipes; i++) {
        plan_pipe *pp = &st->pipes[i];
        pp->steps = xrealloc(pp->steps, (pp->nsteps + 1) * sizeof *pp->steps);
        pp->steps[pp->nsteps++] = step;
    }
    return 0;
}

/* Appends to st the pipelines that produce node n, in partition order. */
static int collect(builder *b, plan_stage *st, const Kiln__Node *n, int depth)
{
    if (depth > 10000) return errf(b->err, b->errlen, "lineage graph too deep");
    if (n->cached && b->is_cached && b->is_cached(b->arg, b->jp, n))
        return new_pipe(b, st, n, KILN__NODE_KIND__NODE_CACHED) ? 0 : -1;
    size_t first = st->npipes;
    if (is_source(n->kind)) {
        if (!new_pipe(b, st, n, n->kind)) return -1;
    } else if (is_wide(n->kind)) {
        if (n->partitions == 0 || n->partitions > STAGE_MAX_TASKS)
            return errf(b->err, b->errlen, "node %u: %u partitions", n->id, n->partitions);
        if ((n->kind == KILN__NODE_KIND__NODE_REDUCE_BY_KEY) && (!n->fn || !n->fn->symbol || !*n->fn->symbol))
            return errf(b->err, b->errlen, "node %u: no combine function", n->id);
        if (n->n_parents != parents_wanted(n->kind))
            return errf(b->err, b->errlen, "node %u: %zu parents, expected %zu", n->id, n->n_parents,
                        parents_wanted(n->kind));
        if (!new_pipe(b, st, n, KILN__NODE_KIND__NODE_SHUFFLE_READ)) return -1;
        for (uint32_t side = 0; side < shuffle_sides(n); side++)
            add_dep(st, shuffle_id_of(n, side));
        if (add_map_stages(b, n, depth) < 0) return -1;
    } else if (n->kind == KILN__NODE_KIND__NODE_UNION || is_narrow_op(n->kind)) {
        size_t want = parents_wanted(n->kind);
        if (n->n_parents != want)
            return errf(b->err, b->errlen, "node %u: %zu parents, expected %zu", n->id, n->n_parents, want);
        for (size_t i = 0; i < want; i++) {
            const Kiln__Node *p = parent(b, n, i);
            if (!p || collect(b, st, p, depth + 1) < 0) return -1;
        }
        if (n->kind != KILN__NODE_KIND__NODE_UNION) {
            if (!n->fn || !n->fn->symbol || !*n->fn->symbol)
                return errf(b->err, b->errlen, "node %u: no function", n->id);
            if (add_step(b, st, first, (plan_step){.op = n}) < 0) return -1;
        }
    } else {
        return errf(b->err, b->errlen, "node %u: unknown kind %d", n->id, n->kind);
    }
    if (n->cached && add_step(b, st, first, (plan_step){.cache_node = n->id}) < 0) return -1;
    return 0;
}

static size_t pipe_partitions(const job_plan *jp, const plan_pipe *pp)
{
    if (pp->source_kind == KILN__NODE_KIND__NODE_SHUFFLE_READ) return pp->source->partitions;
    if (pp->source_kind == KILN__NODE_KIND__NODE_CACHED) return plan_partitions(jp, pp->source);
    return plan_partitions(jp, pp->source);
}

static int plan_stage_of(builder *b, plan_stage *st, const Kiln__Node *top, int depth)
{
    if (collect(b, st, top, depth) < 0) return -1;
    size_t ntasks = 0;
    for (size_t i = 0; i < st->npipes; i++)
        ntasks += pipe_partitions(b->jp, &st->pipes[i]);
    if (ntasks > STAGE_MAX_TASKS)
        return errf(b->err, b->errlen, "too many partitions: %zu, at most %d", ntasks, STAGE_MAX_TASKS);
    st->ntasks = ntasks;
    return 0;
}

int job_plan_make(const Kiln__JobSubmit *job, plan_cached_fn is_cached, void *arg, job_plan *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < job->n_nodes; i++)
        if (job->nodes[i]->id > out->max_id) out->max_id = job->nodes[i]->id;
    if (out->max_id > 10 * job->n_nodes + 1000000) return errf(err, errlen, "node ids out of range");
    out->by_id = xcalloc(out->max_id + 1, sizeof *out->by_id);
    for (size_t i = 0; i < job->n_nodes; i++)
        out->by_id[job->nodes[i]->id] = job->nodes[i];
    const Kiln__Node *target = node(out, job->target);
    if (!target) {
        job_plan_release(out);
        return errf(err, errlen, "target node %u is unknown", job->target);
    }
    out->stages = xcalloc(1, sizeof *out->stages);
    out->nstages = 1;
    builder b = {.jp = out, .is_cached = is_cached, .arg = arg, .err = err, .errlen = errlen};
    plan_stage result;
    memset(&result, 0, sizeof result);
    int rc = plan_stage_of(&b, &result, target, 0);
    out->stages[0] = result;
    if (rc < 0) {
        job_plan_release(out);
        return -1;
    }
    return 0;
}

void job_plan_release(job_plan *p)
{
    for (size_t i = 0; i < p->nstages; i++) {
        plan_stage *st = &p->stages[i];
        for (size_t j = 0; j < st->npipes; j++)
            free(st->pipes[j].steps);
        free(st->pipes);
        free(st->deps);
    }
    free(p->stages);
    free(p->by_id);
    memset(p, 0, sizeof *p);
}

/* ---- serializing ---------------------------------------------------------- */

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

static Kiln__ShuffleKind shuffle_kind(Kiln__NodeKind k)
{
    switch (k) {
    case KILN__NODE_KIND__NODE_REDUCE_BY_KEY:
        return KILN__SHUFFLE_KIND__SHUFFLE_REDUCE;
    case KILN__NODE_KIND__NODE_GROUP_BY_KEY:
        return KILN__SHUFFLE_KIND__SHUFFLE_GROUP;
    case KILN__NODE_KIND__NODE_JOIN:
        return KILN__SHUFFLE_KIND__SHUFFLE_JOIN;
    case KILN__NODE_KIND__NODE_SORT_BY_KEY:
        return KILN__SHUFFLE_KIND__SHUFFLE_SORT;
    case KILN__NODE_KIND__NODE_DISTINCT:
        return KILN__SHUFFLE_KIND__SHUFFLE_DISTINCT;
    default:
        return KILN__SHUFFLE_KIND__SHUFFLE_REPARTITION;
    }
}

void plan_shuffle_write(const plan_stage *s, Kiln__ShuffleWrite *w)
{
    kiln__shuffle_write__init(w);
    w->shuffle_id = s->shuffle_id;
    w->partitions = s->wide->partitions;
    w->kind = shuffle_kind(s->wide->kind);
    w->side = s->side;
    w->descending = s->wide->kind == KILN__NODE_KIND__NODE_SORT_BY_KEY && !s->wide->ascending;
    if (s->wide->kind == KILN__NODE_KIND__NODE_REDUCE_BY_KEY) {
        w->combine = s->wide->fn;
        w->env = s->wide->env;
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

int stage_serialize(const job_plan *jp, size_t si, uint32_t stage_id, const Kiln__Action *output, uint64_t threshold,
                    stage_stats *stats, stage_plan *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const plan_stage *st = &jp->stages[si];
    Kiln__StageFunc sf = KILN__STAGE_FUNC__INIT;
    sf.stage_id = stage_id;
    sf.output = (Kiln__Action *)output;
    sf.n_pipelines = st->npipes;
    sf.pipelines = xcalloc(st->npipes ? st->npipes : 1, sizeof *sf.pipelines);
    size_t total = 0;
    for (size_t i = 0; i < st->npipes; i++)
        total += st->pipes[i].nsteps;
    Kiln__Pipeline *pls = xcalloc(st->npipes ? st->npipes : 1, sizeof *pls);
    Kiln__ShuffleRead *reads = xcalloc(st->npipes ? st->npipes : 1, sizeof *reads);
    uint32_t *sids = xcalloc(2 * st->npipes + 1, sizeof *sids);
    Kiln__Op *ops = xcalloc(total ? total : 1, sizeof *ops);
    Kiln__Op **opp = xcalloc(total ? total : 1, sizeof *opp);
    size_t k = 0;
    for (size_t i = 0; i < st->npipes; i++) {
        const plan_pipe *pp = &st->pipes[i];
        kiln__pipeline__init(&pls[i]);
        pls[i].source = pp->source_kind;
        if (pp->source_kind == KILN__NODE_KIND__NODE_CACHED) pls[i].cache_node = pp->source->id;
        if (pp->source_kind == KILN__NODE_KIND__NODE_SHUFFLE_READ) {
            const Kiln__Node *w = pp->source;
            Kiln__ShuffleRead *r = &reads[i];
            kiln__shuffle_read__init(r);
            r->kind = shuffle_kind(w->kind);
            r->shuffle_ids = &sids[2 * i];
            r->n_shuffle_ids = shuffle_sides(w);
            for (uint32_t s = 0; s < r->n_shuffle_ids; s++)
                sids[2 * i + s] = shuffle_id_of(w, s);
            if (w->kind == KILN__NODE_KIND__NODE_REDUCE_BY_KEY) {
                r->combine = w->fn;
                r->env = w->env;
                add_name(out->fn_names, sizeof out->fn_names, w->fn->symbol);
            }
            r->descending = w->kind == KILN__NODE_KIND__NODE_SORT_BY_KEY && !w->ascending;
            pls[i].read = r;
        }
        pls[i].n_ops = pp->nsteps;
        pls[i].ops = &opp[k];
        for (size_t j = 0; j < pp->nsteps; j++, k++) {
            kiln__op__init(&ops[k]);
            const plan_step *s = &pp->steps[j];
            if (s->op) {
                ops[k].kind = op_kind(s->op->kind);
                ops[k].fn = s->op->fn;
                ops[k].env = s->op->env;
                add_name(out->fn_names, sizeof out->fn_names, s->op->fn->symbol);
            } else {
                ops[k].kind = KILN__OP_KIND__OP_CACHE;
                ops[k].node = s->cache_node;
                /* earlier pipelines through the same node hold its first partitions */
                for (size_t q = 0; q < i; q++)
                    for (size_t r = 0; r < st->pipes[q].nsteps; r++)
                        if (!st->pipes[q].steps[r].op && st->pipes[q].steps[r].cache_node == s->cache_node)
                            ops[k].part_offset += (uint32_t)pipe_partitions(jp, &st->pipes[q]);
            }
            opp[k] = &ops[k];
        }
        sf.pipelines[i] = &pls[i];
    }
    if (output->kind == KILN__ACTION_KIND__ACTION_REDUCE && output->fn && output->fn->symbol)
        add_name(out->fn_names, sizeof out->fn_names, output->fn->symbol);
    if (output->kind == KILN__ACTION_KIND__ACTION_SHUFFLE_WRITE && output->shuffle && output->shuffle->combine &&
        output->shuffle->combine->symbol)
        add_name(out->fn_names, sizeof out->fn_names, output->shuffle->combine->symbol);
    out->len = kiln__stage_func__get_packed_size(&sf);
    int rc = 0;
    if (out->len > STAGE_MAX_BYTES) {
        rc = errf(err, errlen, "stage function of %zu bytes is over the limit of %zu", out->len, STAGE_MAX_BYTES);
    } else {
        out->bytes = xmalloc(out->len ? out->len : 1);
        kiln__stage_func__pack(&sf, out->bytes);
        hash_sha256_hex(out->bytes, out->len, out->hash);
        out->broadcast = out->len > threshold;
        out->stage_id = stage_id;
        if (stats) {
            stats->serialized++;
            stats->broadcast += out->broadcast;
        }
    }
    free(ops);
    free(opp);
    free(pls);
    free(reads);
    free(sids);
    free(sf.pipelines);
    if (rc < 0) return -1;

    /* one task per partition of each pipeline's source */
    out->ntasks = st->ntasks;
    out->inputs = xcalloc(st->ntasks ? st->ntasks : 1, sizeof *out->inputs);
    size_t part = 0;
    for (size_t i = 0; i < st->npipes; i++) {
        const plan_pipe *pp = &st->pipes[i];
        const Kiln__Node *s = pp->source;
        size_t np = pipe_partitions(jp, pp);
        __int128 span = (__int128)s->range_end - s->range_start;
        if (span < 0) span = 0;
        for (size_t p = 0; p < np && part < st->ntasks; p++, part++) {
            Kiln__TaskInput *in = xmalloc(sizeof *in);
            kiln__task_input__init(in);
            in->pipeline = (uint32_t)i;
            in->partition = (uint32_t)part;
            in->source_partition = (uint32_t)p;
            if (pp->source_kind == KILN__NODE_KIND__NODE_TEXT_FILE) in->split = s->splits[p];
            if (pp->source_kind == KILN__NODE_KIND__NODE_PARALLELIZE) in->block = s->blocks[p];
            if (pp->source_kind == KILN__NODE_KIND__NODE_RANGE) {
                in->range_start = (int64_t)(s->range_start + span * (__int128)p / (__int128)np);
                in->range_end = (int64_t)(s->range_start + span * (__int128)(p + 1) / (__int128)np);
            }
            out->inputs[part] = in;
        }
    }
    out->ntasks = part;
    return 0;
}

void stage_plan_release(stage_plan *p)
{
    for (size_t i = 0; i < p->ntasks; i++)
        free(p->inputs[i]);
    free(p->inputs);
    free(p->bytes);
    memset(p, 0, sizeof *p);
}

int stages_build(const Kiln__JobSubmit *job, uint32_t stage_id, uint64_t threshold, stage_stats *stats, stage_plan *out,
                 char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    job_plan jp;
    if (job_plan_make(job, NULL, NULL, &jp, err, errlen) < 0) return -1;
    int rc;
    if (jp.nstages != 1)
        rc = errf(err, errlen, "the job needs %zu stages", jp.nstages);
    else
        rc = stage_serialize(&jp, 0, stage_id, job->action, threshold, stats, out, err, errlen);
    job_plan_release(&jp);
    return rc;
}
