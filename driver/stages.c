/*
 * stages.c - cutting a job's lineage graph into stages and composing each
 * stage's narrow operations into one stage function (see stages.h).
 *
 * A job is input from the network, and a graph of a few nodes can ask for
 * a lot: a union that names the same dataset twice doubles the pipelines
 * below it, so 40 self-unions ask for 2^40 pipelines; a range can ask for
 * 4 billion partitions. So planning never walks the graph path by path
 * before it knows what that costs. First, in three passes over the node
 * ids (a parent's id is below its child's, so each pass is one loop),
 * every node gets a plan_info: its partitions, whether it is read from a
 * cache, and what it adds to the stage that reads it (pipelines,
 * operations, functions, the longest pipeline, the deepest path), each
 * computed once from its parents' and saturating. Then every bound
 * (STAGE_MAX_*, JOB_MAX_*, KILN_STAGE_MAX_FUNCS, PLAN_MAX_DEPTH) is
 * checked against those numbers before a stage is built, and a job over
 * one is refused (PLAN_REFUSED) with a message the client sees. Building
 * a stage then costs time proportional to its pipelines and operations,
 * which were just bounded.
 */
#include "stages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "text.h"
#include "util.h"

#define STAGE_MAX_PIPELINES 65536
#define STAGE_MAX_OPS       1000000
#define STAGE_MAX_TASKS     1000000
#define STAGE_MAX_BYTES     ((size_t)1 << 30)
#define STAGE_MAX_STAGES    4096
/* over all the stages of one job */
#define JOB_MAX_PIPELINES (1u << 20)
#define JOB_MAX_OPS       4000000
#define JOB_MAX_TASKS     4000000
/* nodes on one path from the target down (the builder recurses along it) */
#define PLAN_MAX_DEPTH 10000

/* What a node costs the stage that reads it; see the comment at the top. */
struct plan_info {
    uint64_t parts;        /* partitions */
    uint64_t pipes;        /* pipelines it adds to the stage reading it */
    uint64_t steps;        /* operations and cache steps over those pipelines */
    uint64_t funcs;        /* functions an executor resolves for them */
    uint64_t longest;      /* steps of its longest pipeline */
    uint64_t height;       /* nodes on its longest path down, through shuffles */
    uint32_t map_stage[2]; /* wide node: the index of the stage writing each side, 0 = none yet */
    uint8_t reached;       /* reachable from the target without passing a cached source */
    uint8_t cached;        /* read from its cache (is_cached said so) */
};

typedef struct builder {
    job_plan *jp;
    size_t nops;                              /* over all pipelines of the stage being built */
    uint64_t job_pipes, job_steps, job_tasks; /* over the job's stages so far */
    int refused;                              /* the error is a bound, not a broken graph */
    char *err;
    size_t errlen;
} builder;

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

static const Kiln__Node *node(const job_plan *p, uint32_t id)
{
    return id <= p->max_id && p->pos[id] ? p->job->nodes[p->pos[id] - 1] : NULL;
}

const Kiln__Node *plan_node(const job_plan *p, uint32_t id)
{
    return p->pos ? node(p, id) : NULL;
}

static plan_info *info(const job_plan *p, const Kiln__Node *n)
{
    return &p->info[p->pos[n->id] - 1];
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
           k == KILN__NODE_KIND__NODE_DISTINCT || k == KILN__NODE_KIND__NODE_REPARTITION ||
           k == KILN__NODE_KIND__NODE_PARTITION_BY;
}

static size_t parents_wanted(Kiln__NodeKind k)
{
    if (is_source(k)) return 0;
    return k == KILN__NODE_KIND__NODE_UNION || k == KILN__NODE_KIND__NODE_JOIN ? 2 : 1;
}

/* Parent i of n when it exists and comes before n, else NULL (no message). */
static const Kiln__Node *parent_or_null(const job_plan *p, const Kiln__Node *n, size_t i)
{
    return i < n->n_parents && n->parents[i] < n->id ? node(p, n->parents[i]) : NULL;
}

static const Kiln__Node *parent(builder *b, const Kiln__Node *n, size_t i)
{
    const Kiln__Node *p = parent_or_null(b->jp, n, i);
    if (!p) errf(b->err, b->errlen, "node %u: parent %u is unknown", n->id, i < n->n_parents ? n->parents[i] : 0);
    return p;
}

size_t plan_partitions(const job_plan *p, const Kiln__Node *n)
{
    if (!p->info || n->id > p->max_id || !p->pos[n->id]) return 0;
    return (size_t)info(p, n)->parts;
}

/* Pass 1, every node in id order: partitions, as the executor will see
 * them (a union's are its parents' in order, a narrow op's its parent's). */
static void count_partitions(job_plan *p)
{
    for (uint32_t id = 0; id <= p->max_id; id++) {
        const Kiln__Node *n = node(p, id);
        if (!n) continue;
        uint64_t parts = 0;
        if (n->kind == KILN__NODE_KIND__NODE_TEXT_FILE) {
            parts = n->n_splits;
        } else if (n->kind == KILN__NODE_KIND__NODE_PARALLELIZE) {
            parts = n->n_blocks;
        } else if (n->kind == KILN__NODE_KIND__NODE_RANGE || is_wide(n->kind)) {
            parts = n->partitions;
        } else if (n->kind == KILN__NODE_KIND__NODE_UNION) {
            for (size_t i = 0; i < 2; i++) {
                const Kiln__Node *q = parent_or_null(p, n, i);
                if (q) parts = sat_add(parts, info(p, q)->parts);
            }
        } else if (n->n_parents == 1) {
            const Kiln__Node *q = parent_or_null(p, n, 0);
            if (q) parts = info(p, q)->parts;
        }
        info(p, n)->parts = parts;
    }
}

/* Pass 2, from the target down: which nodes the plan reads, and which of
 * them come from a cache (is_cached once per node; nothing below a cached
 * source is read). */
static void mark_reached(job_plan *p, const Kiln__Node *target, plan_cached_fn is_cached, void *arg)
{
    info(p, target)->reached = 1;
    for (uint32_t id = target->id + 1; id-- > 0;) {
        const Kiln__Node *n = node(p, id);
        if (!n || !info(p, n)->reached) continue;
        if (n->cached && is_cached && is_cached(arg, p, n)) {
            info(p, n)->cached = 1;
            continue;
        }
        for (size_t i = 0; i < 2; i++) {
            const Kiln__Node *q = parent_or_null(p, n, i);
            if (q) info(p, q)->reached = 1;
        }
    }
}

/* Pass 3, the reached nodes in id order: what each adds to its stage. */
static void count_costs(job_plan *p)
{
    for (uint32_t id = 0; id <= p->max_id; id++) {
        const Kiln__Node *n = node(p, id);
        if (!n || !info(p, n)->reached) continue;
        plan_info *in = info(p, n);
        in->height = 1;
        if (in->cached || is_source(n->kind)) {
            in->pipes = 1;
            continue;
        }
        for (size_t i = 0; i < 2; i++) {
            const Kiln__Node *q = parent_or_null(p, n, i);
            if (!q) continue;
            const plan_info *qi = info(p, q);
            if (qi->height + 1 > in->height) in->height = qi->height + 1;
            if (is_wide(n->kind) || (i > 0 && n->kind != KILN__NODE_KIND__NODE_UNION)) continue;
            in->pipes = sat_add(in->pipes, qi->pipes);
            in->steps = sat_add(in->steps, qi->steps);
            in->funcs = sat_add(in->funcs, qi->funcs);
            if (qi->longest > in->longest) in->longest = qi->longest;
        }
        if (is_wide(n->kind)) { /* the reduce side of its shuffle: one pipeline */
            in->pipes = 1;
            in->funcs = n->kind == KILN__NODE_KIND__NODE_REDUCE_BY_KEY; /* the combine */
        } else if (is_narrow_op(n->kind)) {
            in->steps = sat_add(in->steps, in->pipes);
            in->funcs = sat_add(in->funcs, in->pipes);
            in->longest = sat_add(in->longest, 1);
        }
        if (n->cached) { /* keeps its records: one more step in each pipeline */
            in->steps = sat_add(in->steps, in->pipes);
            in->longest = sat_add(in->longest, 1);
        }
    }
}

/* Fills the message of a bound and marks the job refused; returns -1. */
static int refuse(builder *b, const char *what, uint64_t n, uint64_t limit, const char *why)
{
    char ns[32], ls[32];
    fmt_grouped(n, ns, sizeof ns);
    fmt_grouped(limit, ls, sizeof ls);
    errf(b->err, b->errlen, "%s%s %s, the limit is %s%s", n == UINT64_MAX ? "at least " : "", ns, what, ls,
         why ? why : "");
    b->refused = 1;
    return -1;
}

/* Checks the stage reading top (with extra_funcs for its output) and the
 * job so far against every bound, before any of it is built. */
static int check_stage(builder *b, const Kiln__Node *top, uint64_t extra_funcs)
{
    const plan_info *in = info(b->jp, top);
    if (in->pipes > STAGE_MAX_PIPELINES)
        return refuse(b, "pipelines in one stage", in->pipes, STAGE_MAX_PIPELINES,
                      " (too many pipelines: a union reads each of its sides, so a union of a dataset with itself "
                      "doubles them)");
    if (in->parts > STAGE_MAX_TASKS)
        return refuse(b, "partitions in one stage", in->parts, STAGE_MAX_TASKS, " (too many partitions)");
    if (in->steps > STAGE_MAX_OPS)
        return refuse(b, "operations over the pipelines of one stage", in->steps, STAGE_MAX_OPS,
                      " (too many operations: each pipeline has its own copy)");
    if (in->longest > KILN_STAGE_MAX_FUNCS)
        return refuse(b, "operations in one pipeline", in->longest, KILN_STAGE_MAX_FUNCS,
                      " (maps, filters, flat_maps, map_partitions and caches between two shuffles; a shuffle, e.g. "
                      "repartition, starts a new stage)");
    if (sat_add(in->funcs, extra_funcs) > KILN_STAGE_MAX_FUNCS)
        return refuse(b, "functions called by one stage", sat_add(in->funcs, extra_funcs), KILN_STAGE_MAX_FUNCS,
                      " (each pipeline a union reads counts its functions again)");
    b->job_pipes = sat_add(b->job_pipes, in->pipes);
    b->job_steps = sat_add(b->job_steps, in->steps);
    b->job_tasks = sat_add(b->job_tasks, in->parts);
    if (b->job_pipes > JOB_MAX_PIPELINES)
        return refuse(b, "pipelines over the stages of the job", b->job_pipes, JOB_MAX_PIPELINES, NULL);
    if (b->job_steps > JOB_MAX_OPS)
        return refuse(b, "operations over the stages of the job", b->job_steps, JOB_MAX_OPS, NULL);
    if (b->job_tasks > JOB_MAX_TASKS)
        return refuse(b, "tasks over the stages of the job", b->job_tasks, JOB_MAX_TASKS, NULL);
    return 0;
}

static int plan_stage_of(builder *b, plan_stage *st, const Kiln__Node *top, uint64_t extra_funcs, int depth);

/* Registers the map stages of wide node w (once per shuffle). */
static int add_map_stages(builder *b, const Kiln__Node *w, int depth)
{
    uint32_t sides = shuffle_sides(w);
    plan_info *wi = info(b->jp, w);
    for (uint32_t side = 0; side < sides; side++) {
        if (wi->map_stage[side]) continue;
        uint32_t sid = shuffle_id_of(w, side);
        if (b->jp->nstages >= STAGE_MAX_STAGES)
            return refuse(b, "stages", (uint64_t)b->jp->nstages + 1, STAGE_MAX_STAGES, " (one per shuffle)");
        const Kiln__Node *in = parent(b, w, side);
        if (!in) return -1;
        b->jp->stages = xrealloc(b->jp->stages, (b->jp->nstages + 1) * sizeof *b->jp->stages);
        size_t idx = b->jp->nstages++;
        wi->map_stage[side] = (uint32_t)idx;
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
        int rc = plan_stage_of(b, &tmp, in, w->kind == KILN__NODE_KIND__NODE_REDUCE_BY_KEY, depth + 1);
        b->jp->stages[idx] = tmp;
        b->nops = saved;
        if (rc < 0) return -1;
    }
    return 0;
}

static plan_pipe *new_pipe(builder *b, plan_stage *st, const Kiln__Node *src, Kiln__NodeKind kind)
{
    if (st->npipes >= STAGE_MAX_PIPELINES) { /* check_stage refused such a stage already */
        refuse(b, "pipelines in one stage", st->npipes + 1, STAGE_MAX_PIPELINES, " (too many pipelines)");
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

/* Each read of a shuffle appends its id; plan_stage_of sorts them and
 * drops repeats, so a shuffle read through many pipelines costs no search. */
static void add_dep(plan_stage *st, uint32_t sid)
{
    st->deps = xrealloc(st->deps, (st->ndeps + 1) * sizeof *st->deps);
    st->deps[st->ndeps++] = sid;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

static void unique_deps(plan_stage *st)
{
    if (st->ndeps < 2) return;
    qsort(st->deps, st->ndeps, sizeof *st->deps, cmp_u32);
    size_t k = 1;
    for (size_t i = 1; i < st->ndeps; i++)
        if (st->deps[i] != st->deps[k - 1]) st->deps[k++] = st->deps[i];
    st->ndeps = k;
}

/* Appends step to every pipeline from index first on. */
static int add_step(builder *b, plan_stage *st, size_t first, plan_step step)
{
    if (b->nops + (st->npipes - first) > STAGE_MAX_OPS) /* check_stage refused such a stage already */
        return refuse(b, "operations over the pipelines of one stage", b->nops + (st->npipes - first), STAGE_MAX_OPS,
                      " (too many operations)");
    b->nops += st->npipes - first;
    for (size_t i = first; i < st->npipes; i++) {
        plan_pipe *pp = &st->pipes[i];
        pp->steps = xrealloc(pp->steps, (pp->nsteps + 1) * sizeof *pp->steps);
        pp->steps[pp->nsteps++] = step;
    }
    return 0;
}

/* Appends to st the pipelines that produce node n, in partition order. A
 * node shared by two paths is visited once per path: that is once per
 * pipeline or operation it adds, which check_stage bounded. */
static int collect(builder *b, plan_stage *st, const Kiln__Node *n, int depth)
{
    if (depth > PLAN_MAX_DEPTH) /* count_costs' height bounds this already */
        return refuse(b, "levels in the lineage graph", (uint64_t)depth, PLAN_MAX_DEPTH, " (lineage graph too deep)");
    if (info(b->jp, n)->cached) return new_pipe(b, st, n, KILN__NODE_KIND__NODE_CACHED) ? 0 : -1;
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
            if (n->barrier) st->barrier = 1;
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
    return plan_partitions(jp, pp->source);
}

static int plan_stage_of(builder *b, plan_stage *st, const Kiln__Node *top, uint64_t extra_funcs, int depth)
{
    if (check_stage(b, top, extra_funcs) < 0) return -1;
    if (collect(b, st, top, depth) < 0) return -1;
    unique_deps(st);
    size_t ntasks = 0;
    for (size_t i = 0; i < st->npipes; i++)
        ntasks += pipe_partitions(b->jp, &st->pipes[i]);
    if (ntasks > STAGE_MAX_TASKS) /* check_stage refused such a stage already */
        return refuse(b, "partitions in one stage", ntasks, STAGE_MAX_TASKS, " (too many partitions)");
    st->ntasks = ntasks;
    return 0;
}

int job_plan_make(const Kiln__JobSubmit *job, plan_cached_fn is_cached, void *arg, job_plan *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->job = job;
    for (size_t i = 0; i < job->n_nodes; i++)
        if (job->nodes[i]->id > out->max_id) out->max_id = job->nodes[i]->id;
    if (out->max_id > 10 * job->n_nodes + 1000000) return errf(err, errlen, "node ids out of range");
    out->pos = xcalloc((size_t)out->max_id + 1, sizeof *out->pos);
    out->info = xcalloc(job->n_nodes ? job->n_nodes : 1, sizeof *out->info);
    for (size_t i = 0; i < job->n_nodes; i++)
        out->pos[job->nodes[i]->id] = (uint32_t)i + 1; /* a repeated id: the last one counts */
    builder b = {.jp = out, .err = err, .errlen = errlen};
    const Kiln__Node *target = node(out, job->target);
    if (!target) {
        job_plan_release(out);
        return errf(err, errlen, "target node %u is unknown", job->target);
    }
    count_partitions(out);
    mark_reached(out, target, is_cached, arg);
    count_costs(out);
    int rc = 0;
    if (info(out, target)->height > PLAN_MAX_DEPTH)
        rc = refuse(&b, "levels in the lineage graph", info(out, target)->height, PLAN_MAX_DEPTH,
                    " (lineage graph too deep)");
    out->stages = xcalloc(1, sizeof *out->stages);
    out->nstages = 1;
    if (rc == 0) {
        plan_stage result;
        memset(&result, 0, sizeof result);
        uint64_t extra = job->action && job->action->kind == KILN__ACTION_KIND__ACTION_REDUCE;
        rc = plan_stage_of(&b, &result, target, extra, 0);
        out->stages[0] = result;
    }
    if (rc < 0) {
        job_plan_release(out);
        return b.refused ? PLAN_REFUSED : -1;
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
    free(p->pos);
    free(p->info);
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
    case KILN__NODE_KIND__NODE_PARTITION_BY:
        return KILN__SHUFFLE_KIND__SHUFFLE_PARTITION_BY;
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

/* What messages call a function: its label (a Python stage's functions),
 * else its symbol. */
static const char *fn_label(const Kiln__FnRef *fn)
{
    return fn->label && *fn->label ? fn->label : fn->symbol;
}

static void add_name(char *buf, size_t len, const char *name)
{
    if (has_name(buf, name)) return;
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
}

/* A cache step of a stage: its op, and the pipeline it is in. */
typedef struct cache_step {
    uint32_t node;
    size_t pipe;
    Kiln__Op *op;
} cache_step;

static int cmp_cache_step(const void *x, const void *y)
{
    const cache_step *a = x, *b = y;
    if (a->node != b->node) return a->node < b->node ? -1 : 1;
    return a->pipe < b->pipe ? -1 : a->pipe > b->pipe;
}

/* Sets each cache op's part_offset: earlier pipelines through the same
 * cached node hold its first partitions. Sorting the cache steps by (node,
 * pipeline) makes that a running sum per node, whatever the number of
 * pipelines. ops holds the stage's ops in pipeline order. */
static void set_cache_offsets(const job_plan *jp, const plan_stage *st, Kiln__Op *ops)
{
    size_t n = 0, k = 0;
    for (size_t i = 0; i < st->npipes; i++)
        for (size_t j = 0; j < st->pipes[i].nsteps; j++)
            n += !st->pipes[i].steps[j].op;
    if (!n) return;
    cache_step *cs = xcalloc(n, sizeof *cs);
    size_t c = 0;
    for (size_t i = 0; i < st->npipes; i++)
        for (size_t j = 0; j < st->pipes[i].nsteps; j++, k++)
            if (!st->pipes[i].steps[j].op) cs[c++] = (cache_step){st->pipes[i].steps[j].cache_node, i, &ops[k]};
    qsort(cs, n, sizeof *cs, cmp_cache_step);
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || cs[i].node != cs[i - 1].node) offset = 0;
        cs[i].op->part_offset = (uint32_t)offset;
        offset += pipe_partitions(jp, &st->pipes[cs[i].pipe]);
    }
    free(cs);
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
                add_name(out->fn_names, sizeof out->fn_names, fn_label(w->fn));
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
                add_name(out->fn_names, sizeof out->fn_names, fn_label(s->op->fn));
            } else {
                ops[k].kind = KILN__OP_KIND__OP_CACHE;
                ops[k].node = s->cache_node;
            }
            opp[k] = &ops[k];
        }
        sf.pipelines[i] = &pls[i];
    }
    set_cache_offsets(jp, st, ops);
    if (output->kind == KILN__ACTION_KIND__ACTION_REDUCE && output->fn && output->fn->symbol)
        add_name(out->fn_names, sizeof out->fn_names, fn_label(output->fn));
    if (output->kind == KILN__ACTION_KIND__ACTION_SHUFFLE_WRITE && output->shuffle && output->shuffle->combine &&
        output->shuffle->combine->symbol)
        add_name(out->fn_names, sizeof out->fn_names, fn_label(output->shuffle->combine));
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
            Kiln__TaskInput *in = &out->inputs[part];
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
        }
    }
    out->ntasks = part;
    return 0;
}

void stage_plan_release(stage_plan *p)
{
    free(p->inputs);
    free(p->bytes);
    free(p->launch);
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
