/*
 * sched.c - jobs and tasks on the driver.
 *
 * A submitted job becomes a stage plan (stages.c) and one task per output
 * partition, queued in one FIFO shared by all jobs. Tasks go to the worker
 * with the most free capacity (2 tasks in flight per slot, so a worker's
 * next task is already queued when one finishes). Every launch of a task
 * gets a fresh task id, so late answers of an earlier attempt are ignored.
 * A failed task is queued again, preferring another worker, until
 * task.max_failures attempts; then the job fails with the last error. A
 * task on a worker that is lost is queued again without counting a
 * failure. Result blocks stream through to the client as they come.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "msg.h"
#include "util.h"

#define INFLIGHT_PER_SLOT 2

static const char *action_name(Kiln__ActionKind k)
{
    static const char *names[] = {"count", "collect", "take", "reduce", "save_text"};
    return (unsigned)k < 5 ? names[k] : "?";
}

static void pending_push(driver *d, dtask *t)
{
    t->state = TASK_PENDING;
    t->qnext = NULL;
    if (d->pending_tail)
        d->pending_tail->qnext = t;
    else
        d->pending_head = t;
    d->pending_tail = t;
}

static void pending_drop_job(driver *d, job *j)
{
    dtask **pp = &d->pending_head;
    d->pending_tail = NULL;
    while (*pp) {
        if ((*pp)->job == j) {
            *pp = (*pp)->qnext;
            continue;
        }
        d->pending_tail = *pp;
        pp = &(*pp)->qnext;
    }
}

static void add_counters(app *a, Kiln__Counter **cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t k;
        for (k = 0; k < a->ncounters; k++)
            if (!strcmp(a->counters[k]->name, cs[i]->name)) break;
        if (k == a->ncounters) {
            a->counters = xrealloc(a->counters, (a->ncounters + 1) * sizeof *a->counters);
            Kiln__Counter *c = xmalloc(sizeof *c);
            kiln__counter__init(c);
            c->name = xstrdup(cs[i]->name);
            a->counters[a->ncounters++] = c;
        }
        a->counters[k]->value += cs[i]->value;
    }
}

/* Drops what a finished job no longer needs; keeps its record for status. */
static void job_shrink(job *j)
{
    stage_plan_release(&j->plan);
    msg_free(j->submit);
    j->submit = NULL;
}

static void job_finish(driver *d, job *j, int ok, const char *error)
{
    if (j->state != JOB_RUNNING) return;
    j->state = ok ? JOB_SUCCEEDED : JOB_FAILED;
    if (error) snprintf(j->error, sizeof j->error, "%s", error);
    pending_drop_job(d, j);
    app *a = j->app;
    uint64_t ms = now_ms() - j->started_ms;
    log_msg(&d->log, ok ? LOG_INFO : LOG_WARN, "stage %s app=%s job=%u stage=%u tasks_done=%zu/%zu",
            ok ? "finished" : "aborted", a->id, j->job_id, j->plan.stage_id, j->ndone, j->ntasks);
    if (ok)
        log_msg(&d->log, LOG_INFO, "job succeeded app=%s job=%u tasks=%zu ms=%llu", a->id, j->job_id, j->ntasks,
                (unsigned long long)ms);
    else
        log_msg(&d->log, LOG_WARN, "job failed app=%s job=%u ms=%llu error=\"%s\"", a->id, j->job_id,
                (unsigned long long)ms, j->error);
    if (a->client) {
        Kiln__Envelope env = KILN__ENVELOPE__INIT;
        Kiln__JobDone m = KILN__JOB_DONE__INIT;
        m.job_id = j->job_id;
        m.ok = ok;
        m.error = ok ? "" : j->error;
        m.count = j->count;
        m.counters = a->counters;
        m.n_counters = a->ncounters;
        m.tasks = (uint32_t)j->ntasks;
        m.partitions = (uint32_t)j->ntasks;
        MSG_BODY(env, job_done, JOB_DONE, &m);
        conn_send(a->client->c, &env);
    }
    job_shrink(j);
}

static void job_fail(driver *d, job *j, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void job_fail(driver *d, job *j, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    job_finish(d, j, 0, buf);
}

void job_free(job *j)
{
    job_shrink(j);
    conf_release(&j->conf);
    free(j->tasks);
    free(j);
}

void sched_submit(driver *d, app *a, conn *c, Kiln__JobSubmit *js)
{
    job *j = xcalloc(1, sizeof *j);
    j->app = a;
    j->job_id = js->job_id;
    j->submit = conn_steal_msg(c);
    j->started_ms = now_ms();
    j->action = js->action->kind;
    j->state = JOB_RUNNING;
    conf_copy(&j->conf, &d->conf); /* j is zeroed: conf_copy fills it */
    j->next = a->jobs;
    a->jobs = j;
    a->njobs++;
    log_msg(&d->log, LOG_INFO, "job submitted app=%s job=%u action=%s nodes=%zu", a->id, j->job_id,
            action_name(j->action), js->n_nodes);

    char err[1024];
    for (size_t i = 0; i < js->n_conf; i++) {
        if (!conf_is_job_key(js->conf[i]->key)) {
            job_fail(d, j, "--conf %s: not a per-job setting", js->conf[i]->key);
            return;
        }
        if (conf_set(&j->conf, js->conf[i]->key, js->conf[i]->value, err, sizeof err) < 0) {
            job_fail(d, j, "--conf %s", err);
            return;
        }
    }
    if (!store_has(d, a->lib_hash)) {
        job_fail(d, j, "the application's library %.12s was never uploaded", a->lib_hash);
        return;
    }
    for (size_t i = 0; i < js->n_broadcasts; i++)
        if (!store_has(d, js->broadcasts[i])) {
            job_fail(d, j, "broadcast %.12s was never uploaded", js->broadcasts[i]);
            return;
        }
    if (js->action->kind == KILN__ACTION_KIND__ACTION_SAVE_TEXT && js->action->dir[0] != '/') {
        job_fail(d, j, "save_text needs an absolute directory, got '%s'", js->action->dir);
        return;
    }
    if (stages_build(js, j->job_id, j->conf.broadcast_threshold, &d->stats, &j->plan, err, sizeof err) < 0) {
        job_fail(d, j, "bad lineage graph: %s", err);
        return;
    }
    stage_plan *p = &j->plan;
    log_msg(&d->log, LOG_INFO, "stage serialized app=%s job=%u stage=%u bytes=%zu hash=%.16s broadcast=%s tasks=%zu",
            a->id, j->job_id, p->stage_id, p->len, p->hash, p->broadcast ? "yes" : "no", p->ntasks);
    if (p->broadcast) {
        if (store_put_bytes(d, p->hash, p->bytes, p->len, err, sizeof err) < 0) {
            job_fail(d, j, "cannot store the stage function: %s", err);
            return;
        }
        log_msg(&d->log, LOG_INFO, "broadcast stored app=%s job=%u stage=%u hash=%s bytes=%zu", a->id, j->job_id,
                p->stage_id, p->hash, p->len);
    }
    j->ntasks = p->ntasks;
    log_msg(&d->log, LOG_INFO, "stage submitted app=%s job=%u stage=%u tasks=%zu functions=\"%s\"", a->id, j->job_id,
            p->stage_id, p->ntasks, p->fn_names);
    j->tasks = xcalloc(p->ntasks ? p->ntasks : 1, sizeof *j->tasks);
    for (size_t i = 0; i < p->ntasks; i++) {
        dtask *t = &j->tasks[i];
        t->job = j;
        t->index = (uint32_t)i;
        pending_push(d, t);
    }
    if (p->ntasks == 0) {
        job_finish(d, j, 1, NULL);
        return;
    }
    sched_schedule(d);
}

static void launch(driver *d, dtask *t, dworker *w)
{
    job *j = t->job;
    t->id = ++d->next_task_id;
    t->attempt++;
    t->state = TASK_RUNNING;
    t->worker = w;
    t->wnext = w->tasks;
    w->tasks = t;
    w->running++;
    d->tasks_launched++;

    Kiln__JobSubmit *js = j->submit->job_submit;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__TaskLaunch tl = KILN__TASK_LAUNCH__INIT;
    tl.task_id = t->id;
    tl.app_id = j->app->id;
    tl.job_id = j->job_id;
    tl.stage_id = j->plan.stage_id;
    tl.attempt = t->attempt;
    tl.lib_hash = j->app->lib_hash;
    tl.stage_hash = j->plan.hash;
    if (j->plan.broadcast) {
        tl.stage_broadcast = 1;
    } else {
        /* the same serialized bytes in every task: never re-serialized */
        tl.stage.data = j->plan.bytes;
        tl.stage.len = j->plan.len;
    }
    tl.broadcasts = js->broadcasts;
    tl.n_broadcasts = js->n_broadcasts;
    tl.input = j->plan.inputs[t->index];
    MSG_BODY(env, task_launch, TASK_LAUNCH, &tl);
    conn_send(w->dc->c, &env);
    log_msg(&d->log, LOG_INFO, "task started app=%s job=%u stage=%u partition=%u attempt=%u task=%llu worker=%s",
            j->app->id, j->job_id, j->plan.stage_id, t->index, t->attempt, (unsigned long long)t->id, w->name);
}

static dworker *pick_worker(driver *d, uint32_t avoid)
{
    dworker *best = NULL, *fallback = NULL;
    double best_load = 0, fb_load = 0;
    for (dworker *w = d->workers; w; w = w->next) {
        if (!w->dc || w->running >= w->slots * INFLIGHT_PER_SLOT) continue;
        double load = (double)w->running / w->slots;
        if (w->id == avoid) {
            fallback = w;
            fb_load = load;
            continue;
        }
        if (!best || load < best_load) {
            best = w;
            best_load = load;
        }
    }
    (void)fb_load;
    return best ? best : fallback;
}

void sched_schedule(driver *d)
{
    while (d->pending_head) {
        dtask *t = d->pending_head;
        dworker *w = pick_worker(d, t->avoid_worker);
        if (!w) return;
        d->pending_head = t->qnext;
        if (!d->pending_head) d->pending_tail = NULL;
        t->qnext = NULL;
        launch(d, t, w);
    }
}

/* Finds and (with unlink) detaches a running task of worker w. */
static dtask *worker_task(dworker *w, uint64_t id, int unlink)
{
    for (dtask **pp = &w->tasks; *pp; pp = &(*pp)->wnext)
        if ((*pp)->id == id) {
            dtask *t = *pp;
            if (unlink) {
                *pp = t->wnext;
                t->wnext = NULL;
                t->worker = NULL;
                w->running--;
            }
            return t;
        }
    return NULL;
}

void sched_task_output(driver *d, dworker *w, const Kiln__TaskOutput *o)
{
    dtask *t = worker_task(w, o->task_id, 0);
    if (!t || t->job->state != JOB_RUNNING) return;
    job *j = t->job;
    j->result_bytes += o->block.len;
    if (j->result_bytes > j->conf.driver_max_result_size) {
        job_fail(d, j,
                 "results are larger than driver.max_result_size (%llu bytes): use save_text, or raise it with "
                 "--conf driver.max_result_size=SIZE",
                 (unsigned long long)j->conf.driver_max_result_size);
        return;
    }
    if (!j->app->client) return;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__JobOutput m = KILN__JOB_OUTPUT__INIT;
    m.job_id = j->job_id;
    m.partition = t->index;
    m.attempt = t->attempt;
    m.block = o->block;
    MSG_BODY(env, job_output, JOB_OUTPUT, &m);
    conn_send(j->app->client->c, &env);
}

void sched_task_done(driver *d, dworker *w, const Kiln__TaskDone *done)
{
    dtask *t = worker_task(w, done->task_id, 1);
    if (!t) {
        log_msg(&d->log, LOG_WARN, "unknown task answered task=%llu worker=%s", (unsigned long long)done->task_id,
                w->name);
        return;
    }
    w->tasks_done++;
    job *j = t->job;
    app *a = j->app;
    if (j->state != JOB_RUNNING) {
        t->state = TASK_DONE;
        sched_schedule(d);
        return;
    }
    if (done->ok) {
        t->state = TASK_DONE;
        j->ndone++;
        j->count += done->count;
        add_counters(a, done->counters, done->n_counters);
        log_msg(&d->log, LOG_INFO,
                "task finished app=%s job=%u stage=%u partition=%u attempt=%u task=%llu records_in=%llu "
                "records_out=%llu",
                a->id, j->job_id, j->plan.stage_id, t->index, t->attempt, (unsigned long long)t->id,
                (unsigned long long)done->records_in, (unsigned long long)done->records_out);
        if (j->ndone == j->ntasks) job_finish(d, j, 1, NULL);
        sched_schedule(d);
        return;
    }
    t->failures++;
    log_msg(&d->log, LOG_WARN, "task failed app=%s job=%u stage=%u partition=%u attempt=%u worker=%s error=\"%s\"",
            a->id, j->job_id, j->plan.stage_id, t->index, t->attempt, w->name, done->error);
    if (done->fatal || t->failures >= (uint32_t)j->conf.task_max_failures) {
        job_fail(d, j, "stage %u (%s) failed: partition %u failed %u time%s; last error: %s", j->plan.stage_id,
                 j->plan.fn_names, t->index, t->failures, t->failures == 1 ? "" : "s", done->error);
    } else {
        t->avoid_worker = w->id;
        pending_push(d, t);
    }
    sched_schedule(d);
}

void sched_requeue_worker(driver *d, dworker *w)
{
    while (w->tasks) {
        dtask *t = w->tasks;
        w->tasks = t->wnext;
        t->wnext = NULL;
        t->worker = NULL;
        if (t->job->state != JOB_RUNNING) continue;
        log_msg(&d->log, LOG_INFO, "task requeued app=%s job=%u partition=%u reason=\"worker %s lost\"",
                t->job->app->id, t->job->job_id, t->index, w->name);
        pending_push(d, t);
    }
    w->running = 0;
}

void sched_app_ended(driver *d, app *a, const char *why)
{
    a->ended = 1;
    for (job *j = a->jobs; j; j = j->next)
        if (j->state == JOB_RUNNING) job_fail(d, j, "the application ended: %s", why);
    log_msg(&d->log, LOG_INFO, "application ended app=%s jobs=%u reason=\"%s\"", a->id, a->njobs, why);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__AppEnd m = KILN__APP_END__INIT;
    m.app_id = a->id;
    MSG_BODY(env, app_end, APP_END, &m);
    workers_broadcast(d, &env);
}
