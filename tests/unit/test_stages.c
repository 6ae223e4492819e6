/*
 * test_stages.c - unit tests of driver/stages.c: a job's narrow operations
 * compose into one StageFunc, serialized once, with one task per source
 * partition; the broadcast rule is len > threshold, to the byte; broken
 * graphs are refused with a message.
 *
 * Jobs are built by hand as Kiln__JobSubmit structs on the stack (a small
 * builder below), exactly as protobuf-c would hand them to the driver.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "kiln.pb-c.h"
#include "stages.h"

/* ---- a job under construction ------------------------------------------- */

#define MAX_NODES 200

typedef struct job_builder {
    Kiln__JobSubmit job;
    Kiln__Action action;
    Kiln__Node nodes[MAX_NODES];
    Kiln__Node *nodep[MAX_NODES];
    Kiln__FnRef fns[MAX_NODES];
    uint32_t parents[MAX_NODES][2];
} job_builder;

static void jb_init(job_builder *b, Kiln__ActionKind action)
{
    memset(b, 0, sizeof *b);
    kiln__job_submit__init(&b->job);
    kiln__action__init(&b->action);
    b->action.kind = action;
    b->job.action = &b->action;
    b->job.job_id = 1;
    b->job.nodes = b->nodep;
}

static Kiln__Node *jb_add(job_builder *b, uint32_t id, Kiln__NodeKind kind)
{
    ck_assert_uint_lt(b->job.n_nodes, MAX_NODES);
    size_t i = b->job.n_nodes++;
    Kiln__Node *n = &b->nodes[i];
    kiln__node__init(n);
    n->id = id;
    n->kind = kind;
    n->parents = b->parents[i];
    b->nodep[i] = n;
    b->job.target = id;
    return n;
}

/* A narrow op over parent, calling symbol with env (a C string). */
static Kiln__Node *jb_op(job_builder *b, uint32_t id, Kiln__NodeKind kind, uint32_t parent, const char *symbol,
                         const char *env)
{
    Kiln__Node *n = jb_add(b, id, kind);
    n->parents[0] = parent;
    n->n_parents = 1;
    Kiln__FnRef *f = &b->fns[n - b->nodes];
    kiln__fn_ref__init(f);
    f->symbol = (char *)symbol;
    f->builtin = !strncmp(symbol, "kiln_", 5);
    n->fn = f;
    n->env.data = (uint8_t *)env;
    n->env.len = strlen(env);
    return n;
}

static Kiln__Node *jb_union(job_builder *b, uint32_t id, uint32_t left, uint32_t right)
{
    Kiln__Node *n = jb_add(b, id, KILN__NODE_KIND__NODE_UNION);
    n->parents[0] = left;
    n->parents[1] = right;
    n->n_parents = 2;
    return n;
}

static Kiln__Node *jb_range(job_builder *b, uint32_t id, int64_t start, int64_t end, uint32_t partitions)
{
    Kiln__Node *n = jb_add(b, id, KILN__NODE_KIND__NODE_RANGE);
    n->range_start = start;
    n->range_end = end;
    n->partitions = partitions;
    return n;
}

/* The text_file -> map -> filter -> flat_map -> map_partitions job. */
static Kiln__FileSplit chain_splits[3];
static Kiln__FileSplit *chain_splitp[3];

static void build_chain(job_builder *b)
{
    jb_init(b, KILN__ACTION_KIND__ACTION_COUNT);
    Kiln__Node *src = jb_add(b, 1, KILN__NODE_KIND__NODE_TEXT_FILE);
    static const char *paths[3] = {"/data/a.txt", "/data/a.txt", "/data/b.txt"};
    static const uint64_t ranges[3][2] = {{0, 1000}, {1000, 1777}, {0, 42}};
    for (int i = 0; i < 3; i++) {
        kiln__file_split__init(&chain_splits[i]);
        chain_splits[i].path = (char *)paths[i];
        chain_splits[i].start = ranges[i][0];
        chain_splits[i].end = ranges[i][1];
        chain_splitp[i] = &chain_splits[i];
    }
    src->splits = chain_splitp;
    src->n_splits = 3;
    src->partitions = 3;
    jb_op(b, 2, KILN__NODE_KIND__NODE_MAP, 1, "parse_line", "csv");
    jb_op(b, 3, KILN__NODE_KIND__NODE_FILTER, 2, "keep_errors", "ERROR");
    jb_op(b, 4, KILN__NODE_KIND__NODE_FLAT_MAP, 3, "kiln_words", "");
    jb_op(b, 5, KILN__NODE_KIND__NODE_MAP_PARTITIONS, 4, "top_k", "k=10");
}

static void assert_env(const ProtobufCBinaryData *d, const char *want)
{
    ck_assert_uint_eq(d->len, strlen(want));
    if (d->len) ck_assert(memcmp(d->data, want, d->len) == 0);
}

static void assert_hash_of_bytes(const stage_plan *p)
{
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(p->bytes, p->len, hex);
    ck_assert_str_eq(p->hash, hex);
    ck_assert_uint_eq(strlen(p->hash), 64);
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(test_chain_one_stage)
{
    job_builder b;
    build_chain(&b);
    stage_stats stats = {0};
    stage_plan p;
    char err[256] = "";
    ck_assert_msg(stages_build(&b.job, 7, 1048576, &stats, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(p.stage_id, 7);
    ck_assert_uint_eq(stats.serialized, 1);
    ck_assert_uint_eq(stats.broadcast, 0);
    ck_assert_int_eq(p.broadcast, 0);
    ck_assert_uint_gt(p.len, 0);
    assert_hash_of_bytes(&p);

    Kiln__StageFunc *sf = kiln__stage_func__unpack(NULL, p.len, p.bytes);
    ck_assert_ptr_nonnull(sf);
    ck_assert_uint_eq(sf->stage_id, 7);
    ck_assert_ptr_nonnull(sf->output);
    ck_assert_int_eq(sf->output->kind, KILN__ACTION_KIND__ACTION_COUNT);
    ck_assert_uint_eq(sf->n_pipelines, 1);
    const Kiln__Pipeline *pl = sf->pipelines[0];
    ck_assert_int_eq(pl->source, KILN__NODE_KIND__NODE_TEXT_FILE);
    ck_assert_uint_eq(pl->n_ops, 4);
    static const Kiln__OpKind kinds[4] = {KILN__OP_KIND__OP_MAP, KILN__OP_KIND__OP_FILTER, KILN__OP_KIND__OP_FLAT_MAP,
                                          KILN__OP_KIND__OP_MAP_PARTITIONS};
    static const char *syms[4] = {"parse_line", "keep_errors", "kiln_words", "top_k"};
    static const char *envs[4] = {"csv", "ERROR", "", "k=10"};
    for (int i = 0; i < 4; i++) {
        const Kiln__Op *op = pl->ops[i];
        ck_assert_int_eq(op->kind, kinds[i]);
        ck_assert_ptr_nonnull(op->fn);
        ck_assert_str_eq(op->fn->symbol, syms[i]);
        ck_assert_int_eq(op->fn->builtin, i == 2);
        assert_env(&op->env, envs[i]);
    }
    kiln__stage_func__free_unpacked(sf, NULL);

    /* one task per split, in order */
    ck_assert_uint_eq(p.ntasks, 3);
    for (size_t i = 0; i < 3; i++) {
        const Kiln__TaskInput *in = &p.inputs[i];
        ck_assert_ptr_nonnull(in);
        ck_assert_uint_eq(in->pipeline, 0);
        ck_assert_uint_eq(in->partition, i);
        ck_assert_ptr_nonnull(in->split);
        ck_assert_str_eq(in->split->path, chain_splits[i].path);
        ck_assert_uint_eq(in->split->start, chain_splits[i].start);
        ck_assert_uint_eq(in->split->end, chain_splits[i].end);
        ck_assert_uint_eq(in->block.len, 0);
    }
    /* error messages can name the functions, each once, in order */
    ck_assert_str_eq(p.fn_names, "parse_line, keep_errors, kiln_words, top_k");
    stage_plan_release(&p);
    ck_assert_ptr_null(p.bytes);
    ck_assert_uint_eq(p.ntasks, 0);

    /* each build serializes exactly once, and the bytes are reproducible */
    stage_plan p2, p3;
    ck_assert_int_eq(stages_build(&b.job, 7, 1048576, &stats, &p2, err, sizeof err), 0);
    ck_assert_uint_eq(stats.serialized, 2);
    ck_assert_int_eq(stages_build(&b.job, 8, 1048576, &stats, &p3, err, sizeof err), 0);
    ck_assert_uint_eq(stats.serialized, 3);
    ck_assert_str_ne(p2.hash, p3.hash); /* the stage id is part of the bytes */
    stage_plan_release(&p3);
    ck_assert_int_eq(stages_build(&b.job, 7, 1048576, NULL, &p3, err, sizeof err), 0);
    ck_assert_uint_eq(p2.len, p3.len);
    ck_assert(memcmp(p2.bytes, p3.bytes, p2.len) == 0);
    ck_assert_str_eq(p2.hash, p3.hash);
    stage_plan_release(&p2);
    stage_plan_release(&p3);
}
END_TEST

/* The target can be any node of the chain: the ops stop there. */
START_TEST(test_target_mid_chain)
{
    job_builder b;
    build_chain(&b);
    b.job.target = 3;
    stage_plan p;
    char err[256];
    ck_assert_msg(stages_build(&b.job, 1, 1048576, NULL, &p, err, sizeof err) == 0, "%s", err);
    Kiln__StageFunc *sf = kiln__stage_func__unpack(NULL, p.len, p.bytes);
    ck_assert_ptr_nonnull(sf);
    ck_assert_uint_eq(sf->n_pipelines, 1);
    ck_assert_uint_eq(sf->pipelines[0]->n_ops, 2);
    ck_assert_str_eq(sf->pipelines[0]->ops[0]->fn->symbol, "parse_line");
    ck_assert_str_eq(sf->pipelines[0]->ops[1]->fn->symbol, "keep_errors");
    kiln__stage_func__free_unpacked(sf, NULL);
    stage_plan_release(&p);

    /* and the source alone is a stage with no ops */
    b.job.target = 1;
    ck_assert_int_eq(stages_build(&b.job, 1, 1048576, NULL, &p, err, sizeof err), 0);
    sf = kiln__stage_func__unpack(NULL, p.len, p.bytes);
    ck_assert_ptr_nonnull(sf);
    ck_assert_uint_eq(sf->n_pipelines, 1);
    ck_assert_uint_eq(sf->pipelines[0]->n_ops, 0);
    ck_assert_uint_eq(p.ntasks, 3);
    kiln__stage_func__free_unpacked(sf, NULL);
    stage_plan_release(&p);
}
END_TEST

START_TEST(test_union_of_sources)
{
    job_builder b;
    jb_init(&b, KILN__ACTION_KIND__ACTION_COLLECT);
    static uint8_t blk0[] = "block zero", blk1[] = "block one!";
    static ProtobufCBinaryData blocks[2];
    blocks[0] = (ProtobufCBinaryData){sizeof blk0, blk0};
    blocks[1] = (ProtobufCBinaryData){sizeof blk1, blk1};
    Kiln__Node *par = jb_add(&b, 1, KILN__NODE_KIND__NODE_PARALLELIZE);
    par->blocks = blocks;
    par->n_blocks = 2;
    par->partitions = 2;
    jb_op(&b, 2, KILN__NODE_KIND__NODE_MAP, 1, "left_map", "L");
    jb_range(&b, 3, 0, 10, 3);
    jb_op(&b, 4, KILN__NODE_KIND__NODE_FILTER, 3, "is_even", "");
    jb_op(&b, 5, KILN__NODE_KIND__NODE_FLAT_MAP, 4, "explode", "R");
    jb_union(&b, 6, 2, 5);
    stage_stats stats = {0};
    stage_plan p;
    char err[256];
    ck_assert_msg(stages_build(&b.job, 3, 1048576, &stats, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(stats.serialized, 1);
    assert_hash_of_bytes(&p);

    Kiln__StageFunc *sf = kiln__stage_func__unpack(NULL, p.len, p.bytes);
    ck_assert_ptr_nonnull(sf);
    ck_assert_int_eq(sf->output->kind, KILN__ACTION_KIND__ACTION_COLLECT);
    ck_assert_uint_eq(sf->n_pipelines, 2);
    const Kiln__Pipeline *a = sf->pipelines[0], *r = sf->pipelines[1];
    ck_assert_int_eq(a->source, KILN__NODE_KIND__NODE_PARALLELIZE);
    ck_assert_uint_eq(a->n_ops, 1);
    ck_assert_int_eq(a->ops[0]->kind, KILN__OP_KIND__OP_MAP);
    ck_assert_str_eq(a->ops[0]->fn->symbol, "left_map");
    assert_env(&a->ops[0]->env, "L");
    ck_assert_int_eq(r->source, KILN__NODE_KIND__NODE_RANGE);
    ck_assert_uint_eq(r->n_ops, 2);
    ck_assert_int_eq(r->ops[0]->kind, KILN__OP_KIND__OP_FILTER);
    ck_assert_str_eq(r->ops[0]->fn->symbol, "is_even");
    ck_assert_int_eq(r->ops[1]->kind, KILN__OP_KIND__OP_FLAT_MAP);
    ck_assert_str_eq(r->ops[1]->fn->symbol, "explode");
    assert_env(&r->ops[1]->env, "R");
    kiln__stage_func__free_unpacked(sf, NULL);

    ck_assert_uint_eq(p.ntasks, 5);
    for (size_t i = 0; i < 5; i++)
        ck_assert_uint_eq(p.inputs[i].partition, i);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_uint_eq(p.inputs[i].pipeline, 0);
        ck_assert_uint_eq(p.inputs[i].block.len, blocks[i].len);
        ck_assert(memcmp(p.inputs[i].block.data, blocks[i].data, blocks[i].len) == 0);
        ck_assert_ptr_null(p.inputs[i].split);
    }
    /* the range partitions cover [0, 10) exactly, in order, none empty */
    int64_t next = 0;
    for (size_t i = 2; i < 5; i++) {
        const Kiln__TaskInput *in = &p.inputs[i];
        ck_assert_uint_eq(in->pipeline, 1);
        ck_assert_int_eq(in->range_start, next);
        ck_assert_int_lt(in->range_start, in->range_end);
        next = in->range_end;
    }
    ck_assert_int_eq(next, 10);
    stage_plan_release(&p);
}
END_TEST

/* An op after a union applies to every pipeline; a union of a dataset
 * with itself reads it twice. */
START_TEST(test_op_after_union)
{
    job_builder b;
    jb_init(&b, KILN__ACTION_KIND__ACTION_COUNT);
    jb_range(&b, 1, 0, 4, 2);
    jb_op(&b, 2, KILN__NODE_KIND__NODE_MAP, 1, "first", "");
    jb_union(&b, 3, 2, 2);
    jb_op(&b, 4, KILN__NODE_KIND__NODE_FILTER, 3, "after", "x");
    stage_plan p;
    char err[256];
    ck_assert_msg(stages_build(&b.job, 0, 1048576, NULL, &p, err, sizeof err) == 0, "%s", err);
    Kiln__StageFunc *sf = kiln__stage_func__unpack(NULL, p.len, p.bytes);
    ck_assert_ptr_nonnull(sf);
    ck_assert_uint_eq(sf->n_pipelines, 2);
    for (size_t i = 0; i < 2; i++) {
        const Kiln__Pipeline *pl = sf->pipelines[i];
        ck_assert_uint_eq(pl->n_ops, 2);
        ck_assert_str_eq(pl->ops[0]->fn->symbol, "first");
        ck_assert_str_eq(pl->ops[1]->fn->symbol, "after");
    }
    kiln__stage_func__free_unpacked(sf, NULL);
    ck_assert_uint_eq(p.ntasks, 4);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_uint_eq(p.inputs[i].partition, i);
        ck_assert_uint_eq(p.inputs[i].pipeline, i / 2);
    }
    ck_assert_int_eq(p.inputs[0].range_start, 0);
    ck_assert_int_eq(p.inputs[1].range_end, 4);
    ck_assert_int_eq(p.inputs[2].range_start, 0);
    ck_assert_int_eq(p.inputs[3].range_end, 4);
    stage_plan_release(&p);
}
END_TEST

/* Builds a one-op job whose env has env_len bytes; returns the packed size. */
static size_t size_with_env(job_builder *b, char *env, size_t env_len, uint64_t threshold, stage_stats *stats,
                            stage_plan *p)
{
    jb_init(b, KILN__ACTION_KIND__ACTION_COUNT);
    jb_range(b, 1, 0, 100, 4);
    Kiln__Node *n = jb_op(b, 2, KILN__NODE_KIND__NODE_MAP, 1, "with_big_env", "");
    n->env.data = (uint8_t *)env;
    n->env.len = env_len;
    char err[256];
    ck_assert_msg(stages_build(&b->job, 1, threshold, stats, p, err, sizeof err) == 0, "%s", err);
    return p->len;
}

START_TEST(test_broadcast_threshold)
{
    enum { T = 1048576 };
    char *env = malloc(T + 64);
    memset(env, 'e', T + 64);
    job_builder b;
    stage_plan p;
    stage_stats stats = {0};
    /* find the env length that makes the StageFunc exactly T bytes: the
     * overhead is a few varints whose sizes may shift, so iterate */
    size_t env_len = T - 100, len = 0;
    int found = 0;
    for (int i = 0; i < 50 && !found; i++) {
        len = size_with_env(&b, env, env_len, T, NULL, &p);
        stage_plan_release(&p);
        if (len == T)
            found = 1;
        else
            env_len = len < T ? env_len + (T - len) : env_len - (len - T);
    }
    ck_assert_msg(found, "no env length gives %d bytes (last %zu with env %zu)", T, len, env_len);

    len = size_with_env(&b, env, env_len, T, &stats, &p);
    ck_assert_uint_eq(len, T);
    ck_assert_int_eq(p.broadcast, 0);
    ck_assert_uint_eq(stats.serialized, 1);
    ck_assert_uint_eq(stats.broadcast, 0);
    assert_hash_of_bytes(&p);
    /* every task of a plan shares the one serialized form */
    ck_assert_uint_eq(p.ntasks, 4);
    stage_plan_release(&p);

    len = size_with_env(&b, env, env_len + 1, T, &stats, &p);
    ck_assert_uint_eq(len, T + 1);
    ck_assert_int_eq(p.broadcast, 1);
    ck_assert_uint_eq(stats.serialized, 2);
    ck_assert_uint_eq(stats.broadcast, 1);
    assert_hash_of_bytes(&p);
    Kiln__StageFunc *sf = kiln__stage_func__unpack(NULL, p.len, p.bytes);
    ck_assert_ptr_nonnull(sf);
    ck_assert_uint_eq(sf->pipelines[0]->ops[0]->env.len, env_len + 1);
    kiln__stage_func__free_unpacked(sf, NULL);
    stage_plan_release(&p);

    /* the threshold is the caller's: a tiny stage over a tiny threshold */
    job_builder c;
    build_chain(&c);
    char err[256];
    ck_assert_int_eq(stages_build(&c.job, 1, 10, &stats, &p, err, sizeof err), 0);
    ck_assert_int_eq(p.broadcast, 1);
    ck_assert_uint_eq(stats.broadcast, 2);
    stage_plan_release(&p);
    free(env);
}
END_TEST

START_TEST(test_range_extremes)
{
    job_builder b;
    jb_init(&b, KILN__ACTION_KIND__ACTION_COUNT);
    jb_range(&b, 1, INT64_MIN, INT64_MAX, 7);
    stage_plan p;
    char err[256];
    ck_assert_msg(stages_build(&b.job, 1, 1048576, NULL, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(p.ntasks, 7);
    ck_assert_int_eq(p.inputs[0].range_start, INT64_MIN);
    ck_assert_int_eq(p.inputs[6].range_end, INT64_MAX);
    for (size_t i = 0; i < 7; i++) {
        ck_assert_int_lt(p.inputs[i].range_start, p.inputs[i].range_end);
        if (i) ck_assert_int_eq(p.inputs[i].range_start, p.inputs[i - 1].range_end);
        /* balanced: each part is within one of (2^64 - 1) / 7 */
        __int128 w = (__int128)p.inputs[i].range_end - p.inputs[i].range_start;
        __int128 ideal = (((__int128)1 << 64) - 1) / 7;
        ck_assert(w == ideal || w == ideal + 1);
    }
    stage_plan_release(&p);

    /* more partitions than values: contiguous, covering, some empty */
    jb_init(&b, KILN__ACTION_KIND__ACTION_COUNT);
    jb_range(&b, 1, -3, 2, 8);
    ck_assert_int_eq(stages_build(&b.job, 1, 1048576, NULL, &p, err, sizeof err), 0);
    ck_assert_uint_eq(p.ntasks, 8);
    int64_t next = -3, total = 0;
    for (size_t i = 0; i < 8; i++) {
        ck_assert_int_eq(p.inputs[i].range_start, next);
        ck_assert_int_le(p.inputs[i].range_start, p.inputs[i].range_end);
        total += p.inputs[i].range_end - p.inputs[i].range_start;
        next = p.inputs[i].range_end;
    }
    ck_assert_int_eq(next, 2);
    ck_assert_int_eq(total, 5);
    stage_plan_release(&p);
}
END_TEST

/* stages_build must fail with a message and leave an empty plan. */
static void assert_refused(job_builder *b, const char *needle)
{
    stage_stats stats = {0};
    stage_plan p;
    char err[256] = "";
    ck_assert_int_eq(stages_build(&b->job, 1, 1048576, &stats, &p, err, sizeof err), -1);
    ck_assert_msg(strstr(err, needle) != NULL, "message \"%s\" lacks \"%s\"", err, needle);
    ck_assert_uint_eq(stats.serialized, 0);
    ck_assert_ptr_null(p.bytes);
    ck_assert_ptr_null(p.inputs);
    ck_assert_uint_eq(p.ntasks, 0);
    stage_plan_release(&p); /* harmless on the empty plan */
}

START_TEST(test_bad_graphs)
{
    job_builder b;

    /* a parent that is the node itself (a cycle) */
    build_chain(&b);
    b.nodes[2].parents[0] = 3; /* node 3 (filter) names itself */
    assert_refused(&b, "parent");

    /* a parent with a later id, even though that node exists */
    build_chain(&b);
    b.nodes[1].parents[0] = 4; /* node 2 (map) reads node 4 */
    assert_refused(&b, "parent");

    /* a parent that is not in the job */
    build_chain(&b);
    b.nodes[4].parents[0] = 0; /* node 5 reads node 0, absent */
    assert_refused(&b, "parent");

    /* an unknown target */
    build_chain(&b);
    b.job.target = 99;
    assert_refused(&b, "target");
    build_chain(&b);
    b.job.target = 0;
    assert_refused(&b, "target");

    /* a map without a function, or with an empty symbol */
    build_chain(&b);
    b.nodes[1].fn = NULL;
    assert_refused(&b, "function");
    build_chain(&b);
    b.fns[3].symbol = "";
    assert_refused(&b, "function");

    /* wrong parent counts */
    build_chain(&b);
    b.nodes[2].n_parents = 0;
    assert_refused(&b, "parents");
    jb_init(&b, KILN__ACTION_KIND__ACTION_COUNT);
    jb_range(&b, 1, 0, 10, 2);
    jb_union(&b, 2, 1, 1);
    b.nodes[1].n_parents = 1;
    assert_refused(&b, "parents");

    /* an unknown node kind */
    build_chain(&b);
    b.nodes[4].kind = (Kiln__NodeKind)42;
    assert_refused(&b, "42");

    /* node ids far beyond the node count */
    build_chain(&b);
    b.nodes[4].id = 4000000000u;
    b.job.target = 4000000000u;
    assert_refused(&b, "range");
}
END_TEST

/* A job is hostile input: unions that reuse a dataset double the pipelines
 * at each level, and a range can ask for 4 billion partitions. Either must
 * be refused with a message, not exhaust the driver's memory. */
START_TEST(test_fanout_and_partition_limits)
{
    enum { LEVELS = 48, MAXN = LEVELS + 1 + 20 };
    Kiln__Node nodes[MAXN];
    Kiln__Node *nodep[MAXN];
    uint32_t parents[MAXN][2];
    Kiln__FnRef fn = KILN__FN_REF__INIT;
    fn.symbol = "f";
    Kiln__Action act = KILN__ACTION__INIT;
    Kiln__JobSubmit job = KILN__JOB_SUBMIT__INIT;
    kiln__node__init(&nodes[0]);
    nodes[0].id = 1;
    nodes[0].kind = KILN__NODE_KIND__NODE_RANGE;
    nodes[0].range_end = 10;
    nodes[0].partitions = 1;
    nodep[0] = &nodes[0];
    for (uint32_t i = 1; i <= LEVELS; i++) {
        kiln__node__init(&nodes[i]);
        nodes[i].id = i + 1;
        nodes[i].kind = KILN__NODE_KIND__NODE_UNION;
        parents[i][0] = parents[i][1] = i; /* union(prev, prev): 2^i pipelines */
        nodes[i].parents = parents[i];
        nodes[i].n_parents = 2;
        nodep[i] = &nodes[i];
    }
    job.nodes = nodep;
    job.n_nodes = LEVELS + 1;
    job.target = LEVELS + 1;
    job.action = &act;
    stage_plan p;
    char err[256] = "";
    ck_assert_int_eq(stages_build(&job, 1, 1048576, NULL, &p, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "too many pipelines") != NULL, "message: %s", err);
    ck_assert_ptr_null(p.inputs);

    /* a few levels are fine: 2^4 pipelines, 16 tasks */
    job.target = 5;
    ck_assert_msg(stages_build(&job, 1, 1048576, NULL, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(p.ntasks, 16);
    stage_plan_release(&p);

    /* 2^16 pipelines are allowed, but not 20 ops copied into each, nor one
     * op whose 1 MiB env would be copied 65536 times */
    job.n_nodes = MAXN;
    for (uint32_t i = LEVELS + 1; i < MAXN; i++) {
        kiln__node__init(&nodes[i]);
        nodes[i].id = i + 1;
        nodes[i].kind = KILN__NODE_KIND__NODE_MAP;
        parents[i][0] = i == LEVELS + 1 ? 17 : i; /* the first reads union level 16 */
        nodes[i].parents = parents[i];
        nodes[i].n_parents = 1;
        nodes[i].fn = &fn;
        nodep[i] = &nodes[i];
    }
    job.target = 17;
    ck_assert_msg(stages_build(&job, 1, 1048576, NULL, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(p.ntasks, 65536);
    stage_plan_release(&p);
    job.target = MAXN;
    err[0] = 0;
    ck_assert_int_eq(stages_build(&job, 1, 1048576, NULL, &p, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "too many operations") != NULL, "message: %s", err);
    size_t big = 1 << 20;
    uint8_t *env = calloc(1, big);
    nodes[LEVELS + 1].env.data = env;
    nodes[LEVELS + 1].env.len = big;
    job.target = LEVELS + 2;
    err[0] = 0;
    ck_assert_int_eq(stages_build(&job, 1, 1048576, NULL, &p, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "limit") != NULL, "message: %s", err); /* 65,536 functions, before any copy */
    ck_assert_ptr_null(p.bytes);
    free(env);

    /* 4 billion partitions of one range */
    job.target = 1;
    nodes[0].partitions = UINT32_MAX;
    err[0] = 0;
    ck_assert_int_eq(stages_build(&job, 1, 1048576, NULL, &p, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "too many partitions") != NULL, "message: %s", err);
    ck_assert_ptr_null(p.inputs);
}
END_TEST

/* fn_names lists each function once, whole names only: "parse" is not
 * hidden by an earlier "parse_line"; a reduce's function comes last. */
START_TEST(test_fn_names)
{
    job_builder b;
    jb_init(&b, KILN__ACTION_KIND__ACTION_REDUCE);
    Kiln__FnRef red = KILN__FN_REF__INIT;
    red.symbol = "kiln_sum_i64";
    red.builtin = 1;
    b.action.fn = &red;
    jb_range(&b, 1, 0, 10, 2);
    jb_op(&b, 2, KILN__NODE_KIND__NODE_MAP, 1, "parse_line", "");
    jb_op(&b, 3, KILN__NODE_KIND__NODE_MAP, 2, "parse", "");
    jb_op(&b, 4, KILN__NODE_KIND__NODE_FILTER, 3, "line", "");
    jb_op(&b, 5, KILN__NODE_KIND__NODE_MAP, 4, "parse", "again");
    stage_plan p;
    char err[256];
    ck_assert_msg(stages_build(&b.job, 1, 1048576, NULL, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(p.fn_names, "parse_line, parse, line, kiln_sum_i64");
    Kiln__StageFunc *sf = kiln__stage_func__unpack(NULL, p.len, p.bytes);
    ck_assert_ptr_nonnull(sf);
    ck_assert_int_eq(sf->output->kind, KILN__ACTION_KIND__ACTION_REDUCE);
    ck_assert_str_eq(sf->output->fn->symbol, "kiln_sum_i64");
    ck_assert_uint_eq(sf->pipelines[0]->n_ops, 4);
    kiln__stage_func__free_unpacked(sf, NULL);
    stage_plan_release(&p);
}
END_TEST

/* ---- planning costs time linear in the nodes ----------------------------- */

typedef struct cache_probe {
    size_t calls;  /* is_cached calls */
    uint32_t kept; /* the node id said to be cached (0: none) */
    size_t parts;  /* plan_partitions of the last node asked about */
} cache_probe;

/* Like the driver's job_is_cached: asks plan_partitions of every node it sees. */
static int probe_is_cached(void *arg, const job_plan *jp, const Kiln__Node *n)
{
    cache_probe *cp = arg;
    cp->calls++;
    cp->parts = plan_partitions(jp, n);
    return n->id == cp->kept;
}

/* u = range(0, 10, 1); levels times u = union(u, u); the last one cached. */
static void build_self_unions(job_builder *b, uint32_t levels)
{
    jb_init(b, KILN__ACTION_KIND__ACTION_COUNT);
    jb_range(b, 1, 0, 10, 1);
    for (uint32_t i = 1; i <= levels; i++)
        jb_union(b, i + 1, i, i);
    b->nodes[levels].cached = 1;
}

/* Issue 9: count(cache(u)) over 40 self-unions froze the driver: the cache
 * check asked plan_partitions, which walked both parents of every union
 * (2^40 calls). Now each node is asked once, and the job is refused with
 * the real numbers before anything is built. Before the fix this test does
 * not finish. */
START_TEST(test_self_union_40_cached)
{
    job_builder b;
    build_self_unions(&b, 40);
    cache_probe cp = {0};
    job_plan jp;
    char err[512] = "";
    ck_assert_int_eq(job_plan_make(&b.job, probe_is_cached, &cp, &jp, err, sizeof err), PLAN_REFUSED);
    ck_assert_uint_eq(cp.calls, 1); /* one cached node, asked once */
    ck_assert_uint_eq(cp.parts, (size_t)1 << 40);
    ck_assert_msg(strstr(err, "1,099,511,627,776 pipelines in one stage, the limit is 65,536"), "%s", err);
    ck_assert_ptr_null(jp.stages);

    /* kept by the cache it is one pipeline, but of 2^40 partitions */
    cp = (cache_probe){.kept = 41};
    ck_assert_int_eq(job_plan_make(&b.job, probe_is_cached, &cp, &jp, err, sizeof err), PLAN_REFUSED);
    ck_assert_uint_eq(cp.calls, 1);
    ck_assert_msg(strstr(err, "1,099,511,627,776 partitions in one stage, the limit is 1,000,000"), "%s", err);

    /* 64 levels saturate rather than wrap */
    build_self_unions(&b, 70);
    cp = (cache_probe){0};
    ck_assert_int_eq(job_plan_make(&b.job, probe_is_cached, &cp, &jp, err, sizeof err), PLAN_REFUSED);
    ck_assert_msg(strstr(err, "at least 18,446,744,073,709,551,615 pipelines"), "%s", err);
}
END_TEST

/* A DAG with shared parents still plans right: a pipeline per source
 * reached through unions, each with its own copy of the steps above, and
 * each cache step's offset counts the partitions of the earlier pipelines
 * through the same node. The cache check runs once per reached node. */
START_TEST(test_shared_parents_dag)
{
    job_builder b;
    jb_init(&b, KILN__ACTION_KIND__ACTION_COUNT);
    jb_range(&b, 1, 0, 6, 2);
    Kiln__Node *m = jb_op(&b, 2, KILN__NODE_KIND__NODE_MAP, 1, "m", "");
    m->cached = 1;
    jb_union(&b, 3, 2, 2);                                  /* m twice */
    jb_op(&b, 4, KILN__NODE_KIND__NODE_FILTER, 3, "f", ""); /* over both */
    Kiln__Node *v = jb_union(&b, 5, 4, 1);                  /* and the range itself */
    v->cached = 1;
    cache_probe cp = {0};
    job_plan jp;
    char err[512] = "";
    ck_assert_msg(job_plan_make(&b.job, probe_is_cached, &cp, &jp, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(cp.calls, 2); /* nodes 2 and 5, once each */
    ck_assert_uint_eq(jp.nstages, 1);
    const plan_stage *st = &jp.stages[0];
    ck_assert_uint_eq(st->npipes, 3);
    ck_assert_uint_eq(st->ntasks, 6);
    ck_assert_uint_eq(plan_partitions(&jp, plan_node(&jp, 5)), 6);
    ck_assert_uint_eq(plan_partitions(&jp, plan_node(&jp, 3)), 4);
    stage_plan p;
    ck_assert_msg(stage_serialize(&jp, 0, 1, b.job.action, 1048576, NULL, &p, err, sizeof err) == 0, "%s", err);
    Kiln__StageFunc *sf = kiln__stage_func__unpack(NULL, p.len, p.bytes);
    ck_assert_ptr_nonnull(sf);
    ck_assert_uint_eq(sf->n_pipelines, 3);
    /* pipelines 0 and 1: map, cache 2, filter, cache 5; pipeline 2: cache 5 */
    for (size_t i = 0; i < 2; i++) {
        const Kiln__Pipeline *pl = sf->pipelines[i];
        ck_assert_uint_eq(pl->n_ops, 4);
        ck_assert_str_eq(pl->ops[0]->fn->symbol, "m");
        ck_assert_int_eq(pl->ops[1]->kind, KILN__OP_KIND__OP_CACHE);
        ck_assert_uint_eq(pl->ops[1]->node, 2);
        ck_assert_uint_eq(pl->ops[1]->part_offset, 2 * i);
        ck_assert_str_eq(pl->ops[2]->fn->symbol, "f");
        ck_assert_uint_eq(pl->ops[3]->node, 5);
        ck_assert_uint_eq(pl->ops[3]->part_offset, 2 * i);
    }
    ck_assert_uint_eq(sf->pipelines[2]->n_ops, 1);
    ck_assert_uint_eq(sf->pipelines[2]->ops[0]->node, 5);
    ck_assert_uint_eq(sf->pipelines[2]->ops[0]->part_offset, 4);
    kiln__stage_func__free_unpacked(sf, NULL);
    stage_plan_release(&p);
    job_plan_release(&jp);

    /* with node 2 kept, the pipelines start from its cache and nothing below is asked */
    cp = (cache_probe){.kept = 2};
    ck_assert_msg(job_plan_make(&b.job, probe_is_cached, &cp, &jp, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(cp.calls, 2);
    ck_assert_int_eq(jp.stages[0].pipes[0].source_kind, KILN__NODE_KIND__NODE_CACHED);
    ck_assert_int_eq(jp.stages[0].pipes[1].source_kind, KILN__NODE_KIND__NODE_CACHED);
    ck_assert_int_eq(jp.stages[0].pipes[2].source_kind, KILN__NODE_KIND__NODE_RANGE);
    ck_assert_uint_eq(jp.stages[0].ntasks, 6);
    job_plan_release(&jp);
}
END_TEST

/* A shuffle read through many pipelines gets one map stage and one
 * dependency. */
START_TEST(test_shared_shuffle)
{
    job_builder b;
    jb_init(&b, KILN__ACTION_KIND__ACTION_COUNT);
    jb_range(&b, 1, 0, 100, 4);
    Kiln__Node *r = jb_add(&b, 2, KILN__NODE_KIND__NODE_GROUP_BY_KEY); /* no combine: no function per read */
    r->parents[0] = 1;
    r->n_parents = 1;
    r->partitions = 3;
    for (uint32_t i = 3; i < 3 + 10; i++)
        jb_union(&b, i, i - 1, i - 1); /* 1024 reads of the shuffle */
    job_plan jp;
    char err[512] = "";
    ck_assert_msg(job_plan_make(&b.job, NULL, NULL, &jp, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(jp.nstages, 2);
    ck_assert_uint_eq(jp.stages[0].npipes, 1024);
    ck_assert_uint_eq(jp.stages[0].ntasks, 3 * 1024);
    ck_assert_uint_eq(jp.stages[0].ndeps, 1);
    ck_assert_uint_eq(jp.stages[0].deps[0], shuffle_id_of(r, 0));
    ck_assert_uint_eq(jp.stages[1].ntasks, 4);
    job_plan_release(&jp);
}
END_TEST

/* Issue 9: a chain of 65 maps passed the driver and failed on every
 * worker ("stage has more than 64 functions"). Now the driver refuses it,
 * and any stage whose executor would: 64 functions over all pipelines
 * (with a reduce's or a combine's function), 64 operations in one. */
START_TEST(test_function_limits)
{
    job_builder b;
    job_plan jp;
    char err[512] = "";
    jb_init(&b, KILN__ACTION_KIND__ACTION_COUNT);
    jb_range(&b, 1, 0, 10, 2);
    for (uint32_t i = 2; i <= 65; i++)
        jb_op(&b, i, KILN__NODE_KIND__NODE_MAP, i - 1, "f", "");
    ck_assert_msg(job_plan_make(&b.job, NULL, NULL, &jp, err, sizeof err) == 0, "%s", err); /* 64 maps */
    job_plan_release(&jp);
    jb_op(&b, 66, KILN__NODE_KIND__NODE_MAP, 65, "f", "");
    ck_assert_int_eq(job_plan_make(&b.job, NULL, NULL, &jp, err, sizeof err), PLAN_REFUSED);
    ck_assert_msg(strstr(err, "65 operations in one pipeline, the limit is 64"), "%s", err);

    /* 64 maps and a reduce action: 65 functions */
    b.job.target = 65;
    b.action.kind = KILN__ACTION_KIND__ACTION_REDUCE;
    Kiln__FnRef red = KILN__FN_REF__INIT;
    red.symbol = "kiln_sum_i64";
    b.action.fn = &red;
    ck_assert_int_eq(job_plan_make(&b.job, NULL, NULL, &jp, err, sizeof err), PLAN_REFUSED);
    ck_assert_msg(strstr(err, "65 functions called by one stage, the limit is 64"), "%s", err);

    /* a union of a 33-map chain with itself: 66 functions */
    b.action.kind = KILN__ACTION_KIND__ACTION_COUNT;
    b.job.target = 34;
    jb_union(&b, 67, 34, 34);
    ck_assert_int_eq(job_plan_make(&b.job, NULL, NULL, &jp, err, sizeof err), PLAN_REFUSED);
    ck_assert_msg(strstr(err, "66 functions called by one stage"), "%s", err);

    /* caches count as operations of their pipeline, not as functions */
    jb_init(&b, KILN__ACTION_KIND__ACTION_COUNT);
    jb_range(&b, 1, 0, 10, 2);
    for (uint32_t i = 2; i <= 33; i++)
        jb_op(&b, i, KILN__NODE_KIND__NODE_MAP, i - 1, "f", "")->cached = 1;
    ck_assert_msg(job_plan_make(&b.job, NULL, NULL, &jp, err, sizeof err) == 0, "%s", err); /* 32 + 32 */
    job_plan_release(&jp);
    jb_op(&b, 34, KILN__NODE_KIND__NODE_MAP, 33, "f", "");
    ck_assert_int_eq(job_plan_make(&b.job, NULL, NULL, &jp, err, sizeof err), PLAN_REFUSED);
    ck_assert_msg(strstr(err, "65 operations in one pipeline"), "%s", err);
}
END_TEST

/* A graph deeper than the builder recurses is refused before it starts. */
START_TEST(test_too_deep)
{
    enum { N = 10002 };
    Kiln__Node *nodes = calloc(N + 1, sizeof *nodes);
    Kiln__Node **nodep = calloc(N + 1, sizeof *nodep);
    uint32_t(*parents)[2] = calloc(N + 1, sizeof *parents);
    Kiln__Action act = KILN__ACTION__INIT;
    Kiln__JobSubmit job = KILN__JOB_SUBMIT__INIT;
    for (uint32_t i = 0; i < N; i++) {
        kiln__node__init(&nodes[i]);
        nodes[i].id = i + 1;
        nodep[i] = &nodes[i];
        if (i == 0) {
            nodes[i].kind = KILN__NODE_KIND__NODE_RANGE;
            nodes[i].range_end = 10;
            nodes[i].partitions = 1;
            continue;
        }
        nodes[i].kind = KILN__NODE_KIND__NODE_UNION; /* union(previous, the range) */
        parents[i][0] = i;
        parents[i][1] = 1;
        nodes[i].parents = parents[i];
        nodes[i].n_parents = 2;
    }
    job.nodes = nodep;
    job.n_nodes = N;
    job.target = N;
    job.action = &act;
    job_plan jp;
    char err[512] = "";
    ck_assert_int_eq(job_plan_make(&job, NULL, NULL, &jp, err, sizeof err), PLAN_REFUSED);
    ck_assert_msg(strstr(err, "10,002 levels in the lineage graph, the limit is 10,000"), "%s", err);
    job.target = 9000;
    ck_assert_msg(job_plan_make(&job, NULL, NULL, &jp, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(jp.stages[0].npipes, 9000);
    job_plan_release(&jp);
    free(nodes);
    free(nodep);
    free(parents);
}
END_TEST

static Suite *stages_suite(void)
{
    Suite *s = suite_create("stages");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_chain_one_stage);
    tcase_add_test(tc, test_target_mid_chain);
    tcase_add_test(tc, test_union_of_sources);
    tcase_add_test(tc, test_op_after_union);
    tcase_add_test(tc, test_broadcast_threshold);
    tcase_add_test(tc, test_range_extremes);
    tcase_add_test(tc, test_fn_names);
    tcase_add_test(tc, test_bad_graphs);
    tcase_add_test(tc, test_fanout_and_partition_limits);
    tcase_add_test(tc, test_self_union_40_cached);
    tcase_add_test(tc, test_shared_parents_dag);
    tcase_add_test(tc, test_shared_shuffle);
    tcase_add_test(tc, test_function_limits);
    tcase_add_test(tc, test_too_deep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stages_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
