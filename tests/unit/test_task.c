/*
 * test_task.c - unit tests of executor/task.c's stage resolution
 * (stage_prog_new) with the built-in functions, and task runs over a
 * range (one writing a partition_by shuffle), all in-process and without
 * an application library.
 *
 * Regression: a built-in named where the stage calls a function of another
 * C type (kiln_words as a map_partitions or filter function, a map
 * built-in as a combine function) was resolved and called with the wrong
 * arguments, crashing the executor (found by fuzz/fuzz_task.c); it is now
 * refused with a message.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "task.h"

/* A stage of one range pipeline with one operation and an action. */
typedef struct stage {
    Kiln__StageFunc sf;
    Kiln__Pipeline pl, *plp;
    Kiln__Op op, *opp;
    Kiln__FnRef opfn, actfn;
    Kiln__Action act;
} stage;

static void stage_init(stage *s, Kiln__OpKind op, const char *opfn, Kiln__ActionKind act, const char *actfn)
{
    memset(s, 0, sizeof *s);
    kiln__stage_func__init(&s->sf);
    kiln__pipeline__init(&s->pl);
    kiln__op__init(&s->op);
    kiln__fn_ref__init(&s->opfn);
    kiln__fn_ref__init(&s->actfn);
    kiln__action__init(&s->act);
    s->pl.source = KILN__NODE_KIND__NODE_RANGE;
    s->opfn.symbol = (char *)opfn;
    s->opfn.builtin = 1;
    s->op.kind = op;
    s->op.fn = &s->opfn;
    s->opp = &s->op;
    s->pl.ops = &s->opp;
    s->pl.n_ops = 1;
    s->plp = &s->pl;
    s->sf.pipelines = &s->plp;
    s->sf.n_pipelines = 1;
    s->act.kind = act;
    if (actfn) {
        s->actfn.symbol = (char *)actfn;
        s->actfn.builtin = 1;
        s->act.fn = &s->actfn;
    }
    s->sf.output = &s->act;
}

/* stage_prog_new over s's bytes; NULL with err set. */
static stage_prog *resolve(stage *s, char *err, size_t errlen)
{
    size_t n = kiln__stage_func__get_packed_size(&s->sf);
    uint8_t *b = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b);
    kiln__stage_func__pack(&s->sf, b);
    err[0] = '\0';
    stage_prog *p = stage_prog_new(b, n, NULL, err, errlen);
    free(b);
    return p;
}

START_TEST(test_builtin_kinds_refused)
{
    static const struct {
        Kiln__OpKind op;
        const char *opfn;
        Kiln__ActionKind act;
        const char *actfn;
        const char *want;
    } cases[] = {
        {KILN__OP_KIND__OP_MAP_PARTITIONS, "kiln_words", KILN__ACTION_KIND__ACTION_COUNT, NULL,
         "built-in 'kiln_words' is a map function, not a map_partitions function"},
        {KILN__OP_KIND__OP_FILTER, "kiln_fmt_i64", KILN__ACTION_KIND__ACTION_COUNT, NULL,
         "built-in 'kiln_fmt_i64' is a map function, not a filter function"},
        {KILN__OP_KIND__OP_MAP, "kiln_sum_i64", KILN__ACTION_KIND__ACTION_COUNT, NULL,
         "built-in 'kiln_sum_i64' is a combine function, not a map function"},
        {KILN__OP_KIND__OP_FLAT_MAP, "kiln_words", KILN__ACTION_KIND__ACTION_REDUCE, "kiln_words",
         "built-in 'kiln_words' is a map function, not a combine function"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        stage s;
        stage_init(&s, cases[i].op, cases[i].opfn, cases[i].act, cases[i].actfn);
        ck_assert_ptr_null(resolve(&s, err, sizeof err));
        ck_assert_str_eq(err, cases[i].want);
    }
}
END_TEST

/* Counts the records of the result blocks. */
typedef struct got {
    size_t nrec;
} got;

static int on_block(void *arg, const uint8_t *p, size_t n)
{
    got *g = arg;
    char err[256];
    block_reader r;
    kiln_rec rec;
    ck_assert_int_eq(block_reader_open(&r, p, n, err, sizeof err), 0);
    while (block_reader_next(&r, &rec, err, sizeof err) == 1)
        g->nrec++;
    block_reader_close(&r);
    return 0;
}

START_TEST(test_builtins_run)
{
    char err[512];
    stage s;
    /* range 0..10 -> kiln_fmt_i64 -> count */
    stage_init(&s, KILN__OP_KIND__OP_MAP, "kiln_fmt_i64", KILN__ACTION_KIND__ACTION_COUNT, NULL);
    stage_prog *p = resolve(&s, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    Kiln__TaskInput in = KILN__TASK_INPUT__INIT;
    in.range_end = 10;
    Kiln__TaskLaunch t = KILN__TASK_LAUNCH__INIT;
    t.app_id = "test";
    t.input = &in;
    got g = {0};
    task_sink sink = {.arg = &g, .block = on_block};
    task_result res;
    ck_assert_msg(task_run(p, &t, &sink, NULL, &res) == 0, "%s", res.error);
    ck_assert_uint_eq(res.count, 10);
    task_result_release(&res);
    stage_prog_free(p);

    /* the same, collected: ten result records */
    stage_init(&s, KILN__OP_KIND__OP_MAP, "kiln_fmt_i64", KILN__ACTION_KIND__ACTION_COLLECT, NULL);
    p = resolve(&s, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_msg(task_run(p, &t, &sink, NULL, &res) == 0, "%s", res.error);
    ck_assert_uint_eq(g.nrec, 10);
    task_result_release(&res);
    stage_prog_free(p);

    /* flat_map kiln_words with a kiln_sum_i64 reduce resolves */
    stage_init(&s, KILN__OP_KIND__OP_FLAT_MAP, "kiln_words", KILN__ACTION_KIND__ACTION_REDUCE, "kiln_sum_i64");
    p = resolve(&s, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    stage_prog_free(p);
}
END_TEST

/* A partition_by shuffle takes each record's partition from its key's
 * 4-byte prefix: a record whose key cannot hold one fails the task, saying
 * so, rather than landing anywhere. */
START_TEST(test_partition_by_needs_a_prefix)
{
    char err[512], dir[] = "/tmp/kiln-test-task-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    stage s;
    stage_init(&s, KILN__OP_KIND__OP_MAP, "kiln_fmt_i64", KILN__ACTION_KIND__ACTION_SHUFFLE_WRITE, NULL);
    Kiln__ShuffleWrite sw = KILN__SHUFFLE_WRITE__INIT;
    sw.shuffle_id = 1;
    sw.partitions = 3;
    sw.kind = KILN__SHUFFLE_KIND__SHUFFLE_PARTITION_BY;
    s.act.shuffle = &sw;
    stage_prog *p = resolve(&s, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    Kiln__TaskInput in = KILN__TASK_INPUT__INIT;
    in.range_end = 5;
    Kiln__TaskLaunch t = KILN__TASK_LAUNCH__INIT;
    t.app_id = "test";
    t.work_dir = dir;
    t.input = &in;
    got g = {0};
    task_sink sink = {.arg = &g, .block = on_block};
    task_result res;
    ck_assert_int_ne(task_run(p, &t, &sink, NULL, &res), 0);
    ck_assert_msg(strstr(res.error, "partition_by: a record's key of 0 bytes names no partition"), "%s", res.error);
    task_result_release(&res);
    stage_prog_free(p);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *task_suite(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("resolve");
    tcase_add_test(tc, test_builtin_kinds_refused);
    tcase_add_test(tc, test_builtins_run);
    tcase_add_test(tc, test_partition_by_needs_a_prefix);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(task_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
