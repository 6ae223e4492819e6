/*
 * test_eventlog.c - unit tests of the driver's event logs: the pure line
 * parser (driver/eventlog_parse.c) over good, malformed and cut lines;
 * the lines eventlog.c writes read back to the same job; loading a log
 * (a truncated last line skipped with a warning, no end event reading as
 * failed because the driver stopped); start-up keeping only the newest
 * history.max_apps logs and numbering new applications after them.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"
#include "eventlog.h"
#include "util.h"

#define ID "app-20261121235722-0001"

static int parse(const char *line, ev_event *ev, char *err)
{
    return ev_parse_line(line, strlen(line), ev, err, 256);
}

START_TEST(test_parse_each_kind)
{
    ev_event ev;
    char err[256];
    ck_assert_int_eq(parse("{\"event\":\"app_registered\",\"app\":\"" ID "\",\"name\":\"wc.so\",\"user\":\"ann\","
                           "\"time_ms\":1795305442123}",
                           &ev, err),
                     0);
    ck_assert_int_eq(ev.kind, EV_APP_REGISTERED);
    ck_assert_str_eq(ev.app, ID);
    ck_assert_str_eq(ev.name, "wc.so");
    ck_assert_str_eq(ev.user, "ann");
    ck_assert_uint_eq(ev.time_ms, 1795305442123ull);
    ev_event_release(&ev);

    ck_assert_int_eq(parse("{\"event\":\"app_ended\",\"app\":\"" ID "\",\"outcome\":\"killed\",\"reason\":\"by kiln "
                           "kill\",\"jobs\":3,\"time_ms\":5}",
                           &ev, err),
                     0);
    ck_assert_int_eq(ev.kind, EV_APP_ENDED);
    ck_assert_str_eq(ev.outcome, "killed");
    ck_assert_str_eq(ev.reason, "by kiln kill");
    ck_assert_uint_eq(ev.jobs, 3);
    ev_event_release(&ev);

    ck_assert_int_eq(parse("{\"event\":\"job_ended\",\"app\":\"" ID "\",\"job\":2,\"action\":\"collect\","
                           "\"outcome\":\"failed\",\"error\":\"boom\",\"tasks\":6,\"tasks_done\":1,\"stages\":["
                           "{\"id\":2,\"kind\":\"collect\",\"state\":\"not run\",\"tasks\":4,\"done\":0,"
                           "\"writes\":null,\"reads\":[7]},"
                           "{\"id\":1,\"kind\":\"shuffle_write\",\"state\":\"failed\",\"tasks\":2,\"done\":1,"
                           "\"writes\":7,\"reads\":[],\"functions\":\"f,g\",\"records_in\":10}]}",
                           &ev, err),
                     0);
    ck_assert_int_eq(ev.kind, EV_JOB_ENDED);
    ck_assert_uint_eq(ev.job_id, 2);
    ck_assert_str_eq(ev.error, "boom");
    ck_assert_uint_eq(ev.nstages, 2);
    ck_assert(!ev.stages[0].is_map);
    ck_assert_uint_eq(ev.stages[0].nreads, 1);
    ck_assert_uint_eq(ev.stages[0].reads[0], 7);
    ck_assert_str_eq(ev.stages[0].functions, "");
    ck_assert(ev.stages[1].is_map);
    ck_assert_uint_eq(ev.stages[1].writes, 7);
    ck_assert_uint_eq(ev.stages[1].done, 1);
    ck_assert_uint_eq(ev.stages[1].records_in, 10);
    ck_assert_str_eq(ev.stages[1].functions, "f,g");
    ev_event_release(&ev);
}
END_TEST

START_TEST(test_parse_refuses)
{
    static const char *const bad[] = {
        "",
        "{",
        "[1,2]",
        "{\"event\":\"app_registered\",\"app\":\"" ID "\",\"name\":\"wc.so\"", /* cut by a crash */
        "{\"event\":\"app_registered\",\"app\":\"" ID "\",\"name\":\"wc.so\"} trailing",
        "{\"event\":\"nope\",\"app\":\"" ID "\"}",
        "{\"event\":\"app_registered\",\"name\":\"x\"}",
        "{\"event\":\"app_registered\",\"app\":\"../../etc/passwd\",\"name\":\"x\"}",
        "{\"event\":\"app_registered\",\"app\":\"" ID "\",\"name\":7}",
        "{\"event\":\"app_registered\",\"app\":\"" ID "\",\"name\":\"x\",\"time_ms\":-1}",
        "{\"event\":\"app_registered\",\"app\":\"" ID "\",\"name\":\"x\",\"name\":\"y\"}",
        "{\"event\":\"app_ended\",\"app\":\"" ID "\",\"outcome\":\"maybe\"}",
        "{\"event\":\"job_ended\",\"app\":\"" ID "\",\"action\":\"count\",\"outcome\":\"succeeded\"}",
        "{\"event\":\"job_ended\",\"app\":\"" ID "\",\"job\":1,\"action\":\"count\",\"outcome\":\"succeeded\","
        "\"stages\":[{\"id\":1,\"kind\":\"count\",\"state\":\"succeeded\",\"tasks\":2,\"done\":3}]}",
        "{\"event\":\"job_ended\",\"app\":\"" ID "\",\"job\":1,\"action\":\"count\",\"outcome\":\"succeeded\","
        "\"stages\":[{\"id\":1,\"kind\":\"count\",\"state\":\"succeeded\",\"reads\":[1,-2]}]}",
        "{\"event\":\"job_ended\",\"app\":\"" ID "\",\"job\":1,\"action\":\"count\",\"outcome\":\"succeeded\","
        "\"stages\":[{\"id\":1,\"kind\":\"count\",\"state\":\"succeeded\"}, 3]}",
        "{\"event\":\"job_ended\",\"app\":\"" ID "\",\"job\":4294967296,\"action\":\"count\",\"outcome\":\"failed\"}",
        "{\"event\":\"job_ended\",\"app\":\"" ID "\",\"job\":1,\"action\":\"count\",\"outcome\":\"failed\","
        "\"stages\":[{\"id\":1,\"kind\":\"count\",\"state\":\"failed\",\"failures\":{}}]}",
        "{\"event\":\"job_ended\",\"app\":\"" ID "\",\"job\":1,\"action\":\"count\",\"outcome\":\"failed\","
        "\"stages\":[{\"id\":1,\"kind\":\"count\",\"state\":\"failed\",\"failures\":[{\"state\":\"exploded\"}]}]}",
        "{\"event\":\"job_ended\",\"app\":\"" ID "\",\"job\":1,\"action\":\"count\",\"outcome\":\"failed\","
        "\"stages\":[{\"id\":1,\"kind\":\"count\",\"state\":\"failed\",\"failures\":[{\"state\":\"failed\","
        "\"error\":\"x\"},{\"state\":\"failed\",\"error\":7}]}]}",
        "{\"event\":\"job_ended\",\"app\":\"" ID "\",\"job\":1,\"action\":\"count\",\"outcome\":\"failed\","
        "\"stages\":[{\"id\":1,\"kind\":\"count\",\"state\":\"failed\",\"failures\":[{\"state\":\"lost\","
        "\"started_ms\":9,\"ended_ms\":8}]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ev_event ev;
        char err[256] = "";
        ck_assert_msg(parse(bad[i], &ev, err) == -1, "accepted: %s", bad[i]);
        ck_assert_msg(err[0], "no message for: %s", bad[i]);
        ck_assert(ev.kind == 0 && ev.stages == NULL && ev.error == NULL);
    }
    /* a NUL inside the line, and a line that is not NUL-terminated */
    ev_event ev;
    char err[256];
    const char nul[] = "{\"event\":\"app_registered\",\"app\":\"" ID "\",\"name\":\"a\\u0000b\"}";
    ck_assert_int_eq(ev_parse_line(nul, sizeof nul - 1, &ev, err, sizeof err), -1);
    const char *ok = "{\"event\":\"app_ended\",\"app\":\"" ID "\",\"outcome\":\"succeeded\"}XXXX";
    ck_assert_int_eq(ev_parse_line(ok, strlen(ok) - 4, &ev, err, sizeof err), 0);
    ev_event_release(&ev);
}
END_TEST

/* A job of a 16-map stage (index 1, writes shuffle 7) and a 4-task result stage reading it, ended. */
static job *ended_job(app *a, int ok)
{
    job *j = xcalloc(1, sizeof *j);
    j->app = a;
    j->job_id = 3;
    j->action = KILN__ACTION_KIND__ACTION_COUNT;
    j->state = ok ? JOB_SUCCEEDED : JOB_FAILED;
    if (!ok) snprintf(j->error, sizeof j->error, "stage 1 (<b>f</b>) failed: \"quoted\"\nsecond line");
    j->submitted_wall_ms = 1000;
    j->ended_wall_ms = 5000;
    j->nstages = 2;
    j->stages = xcalloc(2, sizeof *j->stages);
    for (size_t i = 0; i < 2; i++) {
        j->stages[i].job = j;
        j->stages[i].index = i;
    }
    dstage *res = &j->stages[0], *map = &j->stages[1];
    res->id = 2;
    res->rec.ntasks = 4;
    snprintf(res->rec.kind, sizeof res->rec.kind, "count");
    res->rec.nreads = 1;
    res->rec.reads = xcalloc(1, sizeof *res->rec.reads);
    res->rec.reads[0] = 7;
    res->state = ok ? STAGE_DONE : STAGE_WAITING;
    map->id = 1;
    map->rec.ntasks = 16;
    map->rec.is_map = 1;
    map->rec.writes = 7;
    map->rec.fn_names = xstrdup("kiln_words");
    map->rec.records_in = 20000;
    map->rec.shuffle_write = 4242;
    map->rec.failed = 2;
    snprintf(map->rec.kind, sizeof map->rec.kind, "shuffle_write");
    /* attempts: one that succeeded, one killed (neither is kept), one that
     * failed with an error over EV_ERROR_MAX bytes, one lost with its worker */
    static const enum row_state states[] = {ROW_SUCCEEDED, ROW_FAILED, ROW_KILLED, ROW_LOST};
    map->rec.nrows = map->rec.cap = 4;
    map->rec.rows = xcalloc(4, sizeof *map->rec.rows);
    for (uint32_t i = 0; i < 4; i++) {
        task_row *t = &map->rec.rows[i];
        t->task_id = 100 + i;
        t->partition = 3;
        t->attempt = i;
        snprintf(t->worker, sizeof t->worker, "w%u", i);
        t->state = states[i];
        t->started_ms = 2000 + i;
        t->ended_ms = 2500 + i;
    }
    char *big = xcalloc(EV_ERROR_MAX + 100, 1);
    memset(big, 'e', EV_ERROR_MAX + 98);
    memcpy(big + EV_ERROR_MAX - 1, "\xc3\xa9", 2); /* an é across the cut */
    map->rec.rows[1].error = big;
    map->rec.rows[2].error = xstrdup("killed: the job ended");
    map->state = ok ? STAGE_DONE : STAGE_RUNNING;
    map->ndone = ok ? 16 : 5;
    return j;
}

START_TEST(test_job_line_round_trip)
{
    app a;
    memset(&a, 0, sizeof a);
    snprintf(a.id, sizeof a.id, ID);
    for (int ok = 0; ok < 2; ok++) {
        job *j = ended_job(&a, ok);
        char *line = eventlog_job_line(j);
        size_t n = strlen(line);
        ck_assert(n > 0 && line[n - 1] == '\n' && !memchr(line, '\n', n - 1)); /* one line */
        ev_event ev;
        char err[256];
        ck_assert_msg(ev_parse_line(line, n - 1, &ev, err, sizeof err) == 0, "%s: %s", err, line);
        ck_assert_str_eq(ev.outcome, ok ? "succeeded" : "failed");
        ck_assert_str_eq(ev.action, "count");
        ck_assert_uint_eq(ev.tasks, 20);
        ck_assert_uint_eq(ev.tasks_done, ok ? 20 : 5);
        if (ok)
            ck_assert_ptr_null(ev.error);
        else
            ck_assert_str_eq(ev.error, j->error);
        ck_assert_uint_eq(ev.nstages, 2);
        ck_assert_str_eq(ev.stages[0].state, ok ? "succeeded" : "not run");
        ck_assert_str_eq(ev.stages[1].state, ok ? "succeeded" : "failed");
        ck_assert_uint_eq(ev.stages[1].writes, 7);
        ck_assert_uint_eq(ev.stages[1].shuffle_write, 4242);
        ck_assert_uint_eq(ev.stages[1].failed, 2);
        ck_assert_str_eq(ev.stages[1].functions, "kiln_words");
        ck_assert_uint_eq(ev.stages[0].reads[0], 7);
        /* the failed and the lost attempt, not the others */
        ck_assert_uint_eq(ev.stages[0].nfailures, 0);
        ck_assert_uint_eq(ev.stages[1].nfailures, 2);
        const ev_failure *f = ev.stages[1].failures;
        ck_assert_uint_eq(f[0].task_id, 101);
        ck_assert_str_eq(f[0].state, "failed");
        ck_assert_str_eq(f[0].worker, "w1");
        ck_assert_uint_eq(f[0].attempt, 1);
        ck_assert_uint_eq(f[0].partition, 3);
        ck_assert_uint_eq(f[0].started_ms, 2001);
        ck_assert_uint_eq(f[0].ended_ms, 2501);
        ck_assert_uint_eq(strlen(f[0].error), EV_ERROR_MAX - 1); /* cut before the é, not inside it */
        ck_assert_str_eq(f[1].state, "lost");
        ck_assert_ptr_null(f[1].error);
        ev_event_release(&ev);
        free(line);
        job_free(j);
    }
}
END_TEST

static char tmp[64];

static void mktmp(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/kiln-test-eventlog-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *path)
{
    uint8_t *p;
    size_t n;
    char err[256];
    ck_assert_int_eq(read_file(path, &p, &n, err, sizeof err), 0);
    char *s = xstrndup((const char *)p, n);
    free(p);
    return s;
}

/* A driver with a state dir in tmp and its log in tmp/driver.log. */
static void driver_in_tmp(driver *d)
{
    memset(d, 0, sizeof *d);
    conf_init(&d->conf);
    char err[256], *log = xasprintf("%s/driver.log", tmp);
    ck_assert_int_eq(logger_open(&d->log, "driver", log, LOG_INFO, err, sizeof err), 0);
    free(log);
    d->state_dir = xstrdup(tmp);
}

static void driver_done(driver *d)
{
    while (d->apps) {
        app *a = d->apps;
        d->apps = a->next;
        app_free(a);
    }
    logger_close(&d->log);
    conf_release(&d->conf);
    free(d->state_dir);
}

START_TEST(test_load_written_log)
{
    mktmp();
    driver d;
    driver_in_tmp(&d);
    eventlog_startup(&d); /* makes tmp/history */
    ck_assert_ptr_null(d.apps);
    /* what the hooks write for an application whose second job fails, then it ends */
    app *a = xcalloc(1, sizeof *a);
    snprintf(a->id, sizeof a->id, ID);
    snprintf(a->name, sizeof a->name, "<script>x</script>.so");
    snprintf(a->user, sizeof a->user, "ann");
    a->started_ms = 900;
    eventlog_app_registered(&d, a);
    job *j1 = ended_job(a, 1), *j2 = ended_job(a, 0);
    j1->job_id = 1;
    j2->job_id = 2;
    j1->next = NULL;
    a->jobs = j1;
    eventlog_job_ended(&d, j1);
    j2->next = a->jobs;
    a->jobs = j2;
    a->njobs = 2;
    eventlog_job_ended(&d, j2);
    a->ended = 1;
    a->failed = 1;
    a->ended_ms = 6000;
    snprintf(a->end_reason, sizeof a->end_reason, "its last job failed");
    eventlog_app_ended(&d, a);
    char *path = xasprintf("%s/history/" ID ".jsonl", tmp);
    app *b = eventlog_load(&d, path, ID);
    ck_assert_ptr_nonnull(b);
    ck_assert(b->ended && b->from_history);
    ck_assert_str_eq(app_outcome(b), "failed");
    ck_assert_str_eq(b->name, a->name);
    ck_assert_str_eq(b->user, "ann");
    ck_assert_str_eq(b->end_reason, "its last job failed");
    ck_assert_uint_eq(b->started_ms, 900);
    ck_assert_uint_eq(b->ended_ms, 6000);
    ck_assert_uint_eq(b->njobs, 2);
    ck_assert_ptr_nonnull(b->jobs);
    ck_assert_uint_eq(b->jobs->job_id, 2); /* newest first */
    ck_assert_str_eq(job_state_name(b->jobs), "failed");
    ck_assert_str_eq(b->jobs->error, j2->error);
    ck_assert_str_eq(stage_state_name(&b->jobs->stages[1]), "failed");
    ck_assert_str_eq(stage_state_name(&b->jobs->stages[0]), "not run");
    size_t total, done;
    job_task_counts(b->jobs, &total, &done);
    ck_assert_uint_eq(total, 20);
    ck_assert_uint_eq(done, 5);
    ck_assert_uint_eq(b->jobs->next->job_id, 1);
    ck_assert_str_eq(job_state_name(b->jobs->next), "succeeded");
    char prog[64];
    ck_assert_str_eq(job_stage_progress(b->jobs->next, prog, sizeof prog), "16/16 4/4");
    ck_assert_str_eq(job_action_name(b->jobs->next->action), "count");
    ck_assert_str_eq(b->jobs->next->stages[1].rec.fn_names, "kiln_words");
    /* the failed attempts come back as the stage's rows */
    const stage_record *r = &b->jobs->stages[1].rec;
    ck_assert_uint_eq(r->nrows, 2);
    ck_assert_int_eq(r->rows[0].state, ROW_FAILED);
    ck_assert_uint_eq(r->rows[0].task_id, 101);
    ck_assert_str_eq(r->rows[0].worker, "w1");
    ck_assert_uint_eq(strlen(r->rows[0].error), EV_ERROR_MAX - 1);
    ck_assert_int_eq(r->rows[1].state, ROW_LOST);
    ck_assert_ptr_null(r->rows[1].error);
    ck_assert_uint_eq(b->jobs->stages[0].rec.nrows, 0);
    app_free(b);
    app_free(a);
    free(path);
    driver_done(&d);
    rm_rf(tmp);
}
END_TEST

START_TEST(test_load_cut_log)
{
    mktmp();
    driver d;
    driver_in_tmp(&d);
    char *dir = xasprintf("%s/history", tmp), *path = xasprintf("%s/" ID ".jsonl", dir);
    mkdir(dir, 0755);
    /* registered, one job, garbage, then a job line cut by a crash; no end */
    put(path, "{\"event\":\"app_registered\",\"app\":\"" ID "\",\"name\":\"wc.so\",\"time_ms\":100}\n"
              "{\"event\":\"job_ended\",\"app\":\"" ID "\",\"job\":1,\"action\":\"count\",\"outcome\":\"succeeded\","
              "\"ended_ms\":700,\"stages\":[]}\n"
              "not json at all\n"
              "{\"event\":\"app_registered\",\"app\":\"app-20261121235722-0009\",\"name\":\"other\"}\n"
              "{\"event\":\"job_ended\",\"app\":\"" ID "\",\"job\":2,\"act");
    app *a = eventlog_load(&d, path, ID);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(app_outcome(a), "failed");
    ck_assert_str_eq(a->end_reason, "the driver stopped");
    ck_assert_uint_eq(a->ended_ms, 700); /* its last event */
    ck_assert_ptr_nonnull(a->jobs);
    ck_assert_ptr_null(a->jobs->next);
    ck_assert_uint_eq(a->njobs, 1);
    app_free(a);
    char *log = xasprintf("%s/driver.log", tmp), *text = slurp(log);
    ck_assert_msg(strstr(text, "line skipped") && strstr(text, "line=3 "), "%s", text);
    ck_assert_msg(strstr(text, "line=4 ") && strstr(text, "another application"), "%s", text);
    ck_assert_msg(strstr(text, "line=5 truncated=yes"), "%s", text);
    free(text);
    free(log);
    /* a file with no registration is no application */
    put(path, "{\"event\":\"app_ended\",\"app\":\"" ID "\",\"outcome\":\"succeeded\"}\n");
    ck_assert_ptr_null(eventlog_load(&d, path, ID));
    free(dir);
    free(path);
    driver_done(&d);
    rm_rf(tmp);
}
END_TEST

START_TEST(test_startup_keeps_newest)
{
    mktmp();
    driver d;
    driver_in_tmp(&d);
    d.conf.history_max_apps = 2;
    char *dir = xasprintf("%s/history", tmp);
    mkdir(dir, 0755);
    /* oldest to newest: the 0012 of a later second is newer than 0099 */
    const char *ids[] = {"app-20261121235722-0003", "app-20261121235722-0010", "app-20261121235722-0099",
                         "app-20261121235723-0012"};
    for (size_t i = 0; i < 4; i++) {
        char *p = xasprintf("%s/%s.jsonl", dir, ids[i]);
        char *line = xasprintf("{\"event\":\"app_registered\",\"app\":\"%s\",\"name\":\"n%zu\"}\n", ids[i], i);
        put(p, line);
        free(p);
        free(line);
    }
    char *other = xasprintf("%s/notes.txt", dir);
    put(other, "not a log\n");
    eventlog_startup(&d);
    ck_assert_ptr_nonnull(d.apps);
    ck_assert_str_eq(d.apps->id, ids[3]); /* newest first */
    ck_assert_ptr_nonnull(d.apps->next);
    ck_assert_str_eq(d.apps->next->id, ids[2]);
    ck_assert_ptr_null(d.apps->next->next);
    ck_assert_uint_eq(d.app_seq, 99); /* new ids come after every one seen */
    for (size_t i = 0; i < 4; i++) {
        char *p = xasprintf("%s/%s.jsonl", dir, ids[i]);
        ck_assert_int_eq(access(p, F_OK) == 0, i >= 2);
        free(p);
    }
    ck_assert_int_eq(access(other, F_OK), 0); /* not ours: left alone */
    free(other);
    free(dir);
    driver_done(&d);
    rm_rf(tmp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eventlog");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parse_each_kind);
    tcase_add_test(tc, test_parse_refuses);
    tcase_add_test(tc, test_job_line_round_trip);
    tcase_add_test(tc, test_load_written_log);
    tcase_add_test(tc, test_load_cut_log);
    tcase_add_test(tc, test_startup_keeps_newest);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
