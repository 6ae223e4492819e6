/*
 * sched.c - jobs, stages and tasks on the driver (Spark's DAG scheduler and
 * task-set managers in one place).
 *
 * A submitted job is planned into stages (stages.c): the result stage, and
 * one map stage per shuffle it reads. A map stage whose shuffle outputs
 * are all present from an earlier job of the application is skipped. A
 * stage starts when every shuffle it reads is complete; it is serialized
 * then, exactly once (a sort's map stage first runs a sampling pass over
 * the same pipelines to pick its range bounds). Each stage has one task
 * per partition, queued in one FIFO shared by all jobs. Tasks go to the
 * worker with the lowest load (2 tasks in flight per slot); a task that
 * reads a cached partition goes where that partition is kept (place.c
 * decides, in time independent of the number of workers). Every launch
 * gets a fresh task id, so late answers of an earlier attempt are ignored.
 * A failed task is queued again, preferring another worker, until
 * task.max_failures attempts; then the job fails with the last error.
 * Result blocks stream through to the client as they come.
 *
 * Logging: jobs, stages (with a summary when each finishes: tasks, time,
 * records, bytes, failures, the slowest task), failures, retries and
 * cancellations at info and above; a line per task launched and finished
 * only at debug, so the log grows with stages, not with tasks.
 */
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "bounds.h"
#include "driver.h"
#include "msg.h"
#include "runtime.h"
#include "text.h"
#include "util.h"

static const char *action_name(Kiln__ActionKind k)
{
    static const char *names[] = {"count", "collect", "take", "reduce", "save_text", "shuffle_write", "sample"};
    return (unsigned)k < 7 ? names[k] : "?";
}

void pending_push(driver *d, dtask *t)
{
    if (barrier_requeue(d, t)) return; /* a barrier stage's task: the whole stage runs again */
    place_queue(&d->place, t);
}

void pending_drop_job(driver *d, job *j)
{
    /* only its current stages' tasks are ever queued (job_replan drops
     * them before it sets the stages aside) */
    for (size_t i = 0; j->queued && i < j->nstages; i++) {
        dstage *s = &j->stages[i];
        for (size_t k = 0; s->tasks && k < s->plan.ntasks; k++)
            if (s->tasks[k].queue) {
                place_unqueue(&d->place, &s->tasks[k]);
                s->tasks[k].state = TASK_DONE;
            }
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
        a->counters[k]->real += cs[i]->real;
        Kiln__Counter *c = a->counters[k];
        if (cs[i]->n_terms) { /* kept apart: the client merges them */
            c->terms = xrealloc(c->terms, (c->n_terms + cs[i]->n_terms) * sizeof *c->terms);
            for (size_t t = 0; t < cs[i]->n_terms; t++) {
                ProtobufCBinaryData *b = &c->terms[c->n_terms++];
                b->len = cs[i]->terms[t].len;
                b->data = xmalloc(b->len ? b->len : 1);
                memcpy(b->data, cs[i]->terms[t].data, b->len);
            }
        }
    }
}

/* Drops the custom accumulators' terms once a JobDone carried them. */
static void counters_drop_terms(app *a)
{
    for (size_t i = 0; i < a->ncounters; i++) {
        Kiln__Counter *c = a->counters[i];
        for (size_t t = 0; t < c->n_terms; t++)
            free(c->terms[t].data);
        free(c->terms);
        c->terms = NULL;
        c->n_terms = 0;
    }
}

static void stage_clear_samples(dstage *s)
{
    for (size_t i = 0; i < s->nsamples; i++)
        free(s->samples[i]);
    free(s->samples);
    free(s->sample_lens);
    s->samples = NULL;
    s->sample_lens = NULL;
    s->nsamples = 0;
}

static void stage_release(dstage *s)
{
    barrier_release(s);
    stage_plan_release(&s->plan);
    free(s->tasks);
    s->tasks = NULL;
    s->bounds = NULL; /* the shuffle_out's */
    s->nbounds = 0;
    stage_clear_samples(s);
    stage_record_release(&s->rec);
}

/* Drops what a finished job no longer needs; keeps its record for status.
 * No task of it is queued or on a worker any more (job_finish dropped and
 * cancelled them; a late answer finds no task by its id and is ignored),
 * so its tasks go too. */
static void job_shrink(job *j)
{
    for (size_t i = 0; i < j->nstages; i++) {
        stage_plan_release(&j->stages[i].plan);
        stage_clear_samples(&j->stages[i]);
        free(j->stages[i].tasks);
        j->stages[i].tasks = NULL;
    }
    for (struct old_plan *o = j->old; o; o = o->next)
        for (size_t i = 0; i < o->nstages; i++) {
            stage_plan_release(&o->stages[i].plan);
            stage_clear_samples(&o->stages[i]);
            free(o->stages[i].tasks);
            o->stages[i].tasks = NULL;
        }
    job_plan_release(&j->jp);
    msg_free(j->submit);
    j->submit = NULL;
}

static int cmp_task_worker(const void *x, const void *y)
{
    const dtask *a = *(dtask *const *)x, *b = *(dtask *const *)y;
    return (a->worker->id > b->worker->id) - (a->worker->id < b->worker->id);
}

typedef struct task_list {
    dtask **v;
    size_t n, cap;
} task_list;

/* Appends the tasks of stages[0..n) that are on a worker. */
static void stages_running(dstage *stages, size_t n, task_list *out)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; stages[i].tasks && k < stages[i].plan.ntasks; k++)
            if (stages[i].tasks[k].worker) {
                if (out->n == out->cap) out->v = xrealloc(out->v, (out->cap = out->cap * 2 + 16) * sizeof *out->v);
                out->v[out->n++] = &stages[i].tasks[k];
            }
}

/* Stops the job's tasks still running on workers (their answers are no
 * longer wanted: the job ended, or was planned again) and frees their
 * slots at once. Costs nothing for a job with no task running; else a
 * look at its tasks, and one CancelTasks per worker. */
void job_cancel_running(driver *d, job *j)
{
    if (!j->running) return;
    task_list l = {0};
    stages_running(j->stages, j->nstages, &l);
    for (struct old_plan *o = j->old; o; o = o->next)
        stages_running(o->stages, o->nstages, &l);
    tasks_cancel(d, j, l.v, l.n, "cancelled: its job ended or was planned again");
    free(l.v);
}

void tasks_cancel(driver *d, job *j, dtask **ts, size_t nts, const char *why)
{
    qsort(ts, nts, sizeof *ts, cmp_task_worker);
    for (size_t first = 0, end; first < nts; first = end) {
        dworker *w = ts[first]->worker;
        for (end = first; end < nts && ts[end]->worker == w; end++)
            ;
        size_t n = end - first;
        uint64_t *ids = xmalloc(n * sizeof *ids);
        for (size_t i = 0; i < n; i++) {
            dtask *t = ts[first + i];
            ids[i] = t->id;
            place_running_del(&d->place, t);
            history_task_ended(d, t, ROW_KILLED, why);
            t->state = TASK_DONE;
        }
        if (w->dc) {
            Kiln__Envelope env = KILN__ENVELOPE__INIT;
            Kiln__CancelTasks m = KILN__CANCEL_TASKS__INIT;
            m.app_id = j->app->id;
            m.task_ids = ids;
            m.n_task_ids = n;
            MSG_BODY(env, cancel_tasks, CANCEL_TASKS, &m);
            conn_send(w->dc->c, &env);
            log_msg(&d->log, LOG_INFO, "tasks cancelled app=%s job=%u worker=%s tasks=%zu", j->app->id, j->job_id,
                    w->name, n);
        }
        free(ids);
    }
}

static void job_finish(driver *d, job *j, int ok, const char *error)
{
    if (j->state != JOB_RUNNING) return;
    j->state = ok ? JOB_SUCCEEDED : JOB_FAILED;
    if (error) snprintf(j->error, sizeof j->error, "%s", error);
    pending_drop_job(d, j);
    barrier_job_ended(d, j);
    job_cancel_running(d, j);
    history_job_finished(d, j);
    app *a = j->app;
    uint64_t ms = now_ms() - j->started_ms;
    size_t tasks, tasks_done;
    job_task_counts(j, &tasks, &tasks_done);
    if (ok)
        log_msg(&d->log, LOG_INFO, "job succeeded app=%s job=%u stages=%zu tasks=%zu spills=%llu ms=%llu", a->id,
                j->job_id, j->nstages, tasks, (unsigned long long)j->spills, (unsigned long long)ms);
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
        m.tasks = (uint32_t)tasks; /* every stage's */
        m.partitions = (uint32_t)j->ntasks;
        if (ok && j->action == KILN__ACTION_KIND__ACTION_SAVE_TEXT) {
            /* the client commits exactly these attempts' files */
            const dstage *s = &j->stages[0];
            m.n_commit_tasks = m.n_commit_attempts = s->plan.ntasks;
            m.commit_tasks = xcalloc(s->plan.ntasks + 1, sizeof *m.commit_tasks);
            m.commit_attempts = xcalloc(s->plan.ntasks + 1, sizeof *m.commit_attempts);
            for (size_t i = 0; i < s->plan.ntasks; i++) {
                uint32_t part = s->plan.inputs[i].partition;
                if (part >= s->plan.ntasks) continue;
                m.commit_tasks[part] = s->tasks[i].id;
                m.commit_attempts[part] = s->tasks[i].attempt;
            }
        }
        MSG_BODY(env, job_done, JOB_DONE, &m);
        conn_send(a->client->c, &env);
        free(m.commit_tasks);
        free(m.commit_attempts);
        counters_drop_terms(a);
    }
    job_shrink(j);
}

void job_fail(driver *d, job *j, const char *fmt, ...)
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
    for (size_t i = 0; i < j->nstages; i++)
        stage_release(&j->stages[i]);
    free(j->stages);
    while (j->old) {
        struct old_plan *o = j->old;
        j->old = o->next;
        for (size_t i = 0; i < o->nstages; i++)
            stage_release(&o->stages[i]);
        free(o->stages);
        free(o);
    }
    free(j->result_attempts);
    free(j->save_dir);
    conf_release(&j->conf);
    free(j);
}

void app_free(app *a)
{
    while (a->jobs) {
        job *j = a->jobs;
        a->jobs = j->next;
        job_free(j);
    }
    counters_drop_terms(a);
    for (size_t i = 0; i < a->ncounters; i++) {
        free(a->counters[i]->name);
        free(a->counters[i]);
    }
    free(a->counters);
    free(a->blobs);
    mapout_app_release(a);
    free(a);
}

/* ---- stages ---------------------------------------------------------------- */

dstage *stage_writing(job *j, uint32_t sid)
{
    for (size_t i = 1; i < j->nstages; i++)
        if (j->jp.stages[i].shuffle_id == sid) return &j->stages[i];
    return NULL;
}

static int shuffle_ready(job *j, uint32_t sid)
{
    dstage *w = stage_writing(j, sid);
    return w && w->state == STAGE_DONE;
}

static int job_is_cached(void *arg, const job_plan *jp, const Kiln__Node *n)
{
    return cache_complete(arg, n->id, (uint32_t)plan_partitions(jp, n));
}

static void stage_finished(driver *d, dstage *s);

#define PROGRESS_EVERY_MS 100

/* Tells the client how far the job is: always with force (a stage started
 * or ended), else at most every PROGRESS_EVERY_MS. */
static void job_progress(driver *d, job *j, const dstage *s, int force)
{
    app *a = j->app;
    uint64_t now = now_ms();
    if (!a->client || (!force && now - j->progress_ms < PROGRESS_EVERY_MS)) return;
    j->progress_ms = now;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__JobProgress m = KILN__JOB_PROGRESS__INIT;
    m.job_id = j->job_id;
    m.stages = (uint32_t)j->nstages;
    for (size_t i = 0; i < j->nstages; i++)
        m.stages_done += j->stages[i].state == STAGE_DONE;
    m.stage_id = s->plan.stage_id;
    m.tasks_done = (uint32_t)s->ndone;
    m.tasks = (uint32_t)s->plan.ntasks;
    MSG_BODY(env, job_progress, JOB_PROGRESS, &m);
    conn_send(a->client->c, &env);
}

/* Serializes stage s with its output and queues its tasks. */
static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* Whether js asks for result partition part: it names none (all), or
 * names it (js->partitions is ascending, checked by sched_submit). */
static int job_runs_partition(const Kiln__JobSubmit *js, uint32_t part)
{
    return !js->n_partitions || bsearch(&part, js->partitions, js->n_partitions, sizeof part, cmp_u32);
}

static int stage_launch(driver *d, dstage *s, const Kiln__Action *output, enum stage_state state)
{
    job *j = s->job;
    app *a = j->app;
    char err[1024];
    stage_plan_release(&s->plan);
    free(s->tasks);
    s->tasks = NULL;
    s->ndone = 0;
    s->id = ++a->next_stage_id; /* stage numbers count within an application */
    s->started_ms = now_ms();
    s->records_in = s->records_out = s->bytes = 0;
    s->failures = 0;
    s->slowest_ms = 0;
    s->slowest_index = 0;
    s->slowest_worker[0] = 0;
    s->depth = 0; /* a sort's sampling tasks say nothing of its own */
    s->run_us = 0;
    s->runs = 0;
    if (stage_serialize(&j->jp, s->index, s->id, output, j->conf.broadcast_threshold, &d->stats, &s->plan, err,
                        sizeof err) < 0) {
        job_fail(d, j, "bad lineage graph: %s", err);
        return -1;
    }
    stage_plan *p = &s->plan;
    log_msg(&d->log, LOG_INFO,
            "stage serialized app=%s job=%u stage=%u kind=%s bytes=%zu hash=%.16s broadcast=%s tasks=%zu", a->id,
            j->job_id, p->stage_id, action_name(output->kind), p->len, p->hash, p->broadcast ? "yes" : "no", p->ntasks);
    if (p->broadcast) {
        if (store_put_bytes(d, p->hash, p->bytes, p->len, err, sizeof err) < 0) {
            job_fail(d, j, "cannot store the stage function: %s", err);
            return -1;
        }
        log_msg(&d->log, LOG_INFO, "broadcast stored app=%s job=%u stage=%u hash=%s bytes=%zu", a->id, j->job_id,
                p->stage_id, p->hash, p->len);
        store_use(d, a, p->hash);
    }
    s->state = state;
    history_stage_launched(d, s);
    log_msg(&d->log, LOG_INFO, "stage submitted app=%s job=%u stage=%u kind=%s tasks=%zu functions=\"%s\"", a->id,
            j->job_id, p->stage_id, action_name(output->kind), p->ntasks, p->fn_names);
    const plan_stage *ps = &j->jp.stages[s->index];
    shuffle_out *so = NULL;
    if (ps->is_map && state == STAGE_RUNNING)
        so = mapout_get(a, ps->shuffle_id, (uint32_t)p->ntasks, ps->wide->partitions);
    shuffle_out *kept_so = ps->barrier ? NULL : so; /* a barrier stage runs whole, every time */
    s->tasks = xcalloc(p->ntasks ? p->ntasks : 1, sizeof *s->tasks);
    size_t kept = 0;
    for (size_t i = 0; i < p->ntasks; i++) {
        dtask *t = &s->tasks[i];
        t->job = j;
        t->stage = s;
        t->index = (uint32_t)i;
        if (s->index == 0 && i < j->nresult_attempts) t->attempt = j->result_attempts[i];
        if (kept_so && kept_so->worker[i]) {
            /* an earlier run wrote this map output and its worker still has it */
            t->state = TASK_DONE;
            s->ndone++;
            kept++;
            continue;
        }
        const Kiln__TaskInput *in = &p->inputs[i];
        if (s->index == 0 && !job_runs_partition(j->submit->job_submit, in->partition)) {
            t->state = TASK_DONE; /* a partition the job did not ask for (take runs a few) */
            s->ndone++;
            continue;
        }
        const plan_pipe *pp = &ps->pipes[in->pipeline];
        if (pp->source_kind == KILN__NODE_KIND__NODE_CACHED)
            t->need_worker = cache_worker(a, pp->source->id, in->source_partition);
        if (!ps->barrier) pending_push(d, t);
    }
    if (ps->barrier && barrier_stage_begin(d, s) < 0) return -1; /* its tasks wait for free slots together */
    if (kept)
        log_msg(&d->log, LOG_INFO, "stage reuses map outputs app=%s job=%u stage=%u kept=%zu rerun=%zu", a->id,
                j->job_id, p->stage_id, kept, p->ntasks - kept);
    job_progress(d, j, s, 1);
    if (s->ndone == p->ntasks) stage_finished(d, s); /* nothing to run: done at once */
    return 0;
}

typedef struct sample_rec {
    const uint8_t *k, *v;
    size_t kl, vl;
} sample_rec;

static int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int cmp_sample_rec(const void *x, const void *y)
{
    const sample_rec *a = x, *b = y;
    int c = cmp_bytes(a->k, a->kl, b->k, b->kl);
    return c ? c : cmp_bytes(a->v, a->vl, b->v, b->vl);
}

/* Picks partitions-1 range bounds from the sampled records. */
static void stage_pick_bounds(dstage *s, shuffle_out *so, uint32_t partitions)
{
    size_t n = 0, cap = 1024;
    sample_rec *recs = xmalloc(cap * sizeof *recs);
    for (size_t i = 0; i < s->nsamples; i++) {
        block_reader br;
        char err[256];
        if (block_reader_open(&br, s->samples[i], s->sample_lens[i], err, sizeof err) < 0) continue;
        kiln_rec r;
        while (block_reader_next(&br, &r, err, sizeof err) > 0) {
            if (n == cap) recs = xrealloc(recs, (cap *= 2) * sizeof *recs);
            uint8_t *copy = xmalloc(r.key.len + r.val.len + 1);
            memcpy(copy, r.key.ptr, r.key.len);
            memcpy(copy + r.key.len, r.val.ptr, r.val.len);
            recs[n++] = (sample_rec){copy, copy + r.key.len, r.key.len, r.val.len};
        }
        block_reader_close(&br);
    }
    qsort(recs, n, sizeof *recs, cmp_sample_rec);
    size_t nb = n ? partitions - 1 : 0;
    ProtobufCBinaryData *bounds = xcalloc(nb + 1, sizeof *bounds);
    for (size_t i = 0; i < nb; i++) {
        sample_rec *r = &recs[(i + 1) * n / partitions];
        uint8_t *b = xmalloc(10 + r->kl + r->vl);
        size_t off = rt_varint_put(b, r->kl);
        memcpy(b + off, r->k, r->kl);
        memcpy(b + off + r->kl, r->v, r->vl);
        bounds[i].data = b;
        bounds[i].len = off + r->kl + r->vl;
    }
    mapout_set_bounds(so, bounds, nb);
    for (size_t i = 0; i < n; i++)
        free((void *)recs[i].k);
    free(recs);
    stage_clear_samples(s);
}

void stage_start(driver *d, dstage *s)
{
    job *j = s->job;
    const plan_stage *ps = &j->jp.stages[s->index];
    kiln__action__init(&s->output);
    if (!ps->is_map) {
        stage_launch(d, s, j->submit->job_submit->action, STAGE_RUNNING);
        return;
    }
    plan_shuffle_write(ps, &s->sw);
    shuffle_out *so = mapout_get(j->app, ps->shuffle_id, (uint32_t)ps->ntasks, s->sw.partitions);
    if (s->sw.kind == KILN__SHUFFLE_KIND__SHUFFLE_SORT && s->sw.partitions > 1 && !so->has_bounds) {
        /* a first pass over the same input picks the range bounds (kept
         * with the outputs: map tasks rerun later cut by the same ones) */
        uint32_t nmaps = (uint32_t)ps->ntasks ? (uint32_t)ps->ntasks : 1;
        uint32_t per = 60 * s->sw.partitions / nmaps + 20;
        s->output.kind = KILN__ACTION_KIND__ACTION_SAMPLE;
        s->output.sample = per > 100000 ? 100000 : per;
        stage_launch(d, s, &s->output, STAGE_SAMPLING);
        return;
    }
    s->bounds = so->bounds;
    s->nbounds = so->nbounds;
    s->sw.bounds = s->bounds;
    s->sw.n_bounds = s->nbounds;
    s->output.kind = KILN__ACTION_KIND__ACTION_SHUFFLE_WRITE;
    s->output.shuffle = &s->sw;
    stage_launch(d, s, &s->output, STAGE_RUNNING);
}

/* Starts every waiting stage whose shuffles are complete. */
static void job_advance(driver *d, job *j)
{
    for (size_t i = j->nstages; i-- > 0;) {
        if (j->state != JOB_RUNNING) return;
        dstage *s = &j->stages[i];
        if (s->state != STAGE_WAITING) continue;
        const plan_stage *ps = &j->jp.stages[i];
        int ready = 1;
        for (size_t k = 0; k < ps->ndeps; k++)
            ready &= shuffle_ready(j, ps->deps[k]);
        if (ready) stage_start(d, s);
    }
}

/* Plans the job (j->jp from its submission and what the application has
 * cached), makes its stages, marks map stages whose outputs an earlier job
 * wrote as done, and starts what can start. Queues tasks and launches
 * none: the caller calls sched_schedule when the driver's state is whole
 * again (loss.c plans jobs again in the middle of applying a loss). */
void job_plan_and_start(driver *d, job *j)
{
    app *a = j->app;
    char err[1024];
    int rc = job_plan_make(j->submit->job_submit, job_is_cached, a, &j->jp, err, sizeof err);
    if (rc < 0) {
        job_fail(d, j, "%s: %s", rc == PLAN_REFUSED ? "job refused" : "bad lineage graph", err);
        return;
    }
    const Kiln__JobSubmit *js = j->submit->job_submit;
    if (js->n_partitions && js->partitions[js->n_partitions - 1] >= j->jp.stages[0].ntasks) {
        job_fail(d, j, "job refused: partition %u asked for, the dataset has %zu", js->partitions[js->n_partitions - 1],
                 j->jp.stages[0].ntasks);
        return;
    }
    j->nstages = j->jp.nstages;
    j->stages = xcalloc(j->nstages, sizeof *j->stages);
    j->ntasks = j->jp.stages[0].ntasks;
    size_t skipped = 0;
    for (size_t i = 0; i < j->nstages; i++) {
        dstage *s = &j->stages[i];
        s->job = j;
        s->index = i;
        const plan_stage *ps = &j->jp.stages[i];
        if (ps->is_map && mapout_complete(mapout_find(a, ps->shuffle_id), (uint32_t)ps->ntasks)) {
            s->state = STAGE_DONE; /* an earlier job wrote this shuffle */
            skipped++;
        }
    }
    history_job_planned(d, j);
    size_t tasks, tasks_done;
    job_task_counts(j, &tasks, &tasks_done);
    log_msg(&d->log, LOG_INFO, "job planned app=%s job=%u stages=%zu skipped=%zu tasks=%zu", a->id, j->job_id,
            j->nstages, skipped, tasks);
    job_advance(d, j);
}

void sched_submit(driver *d, app *a, conn *c, Kiln__JobSubmit *js)
{
    history_prune(d, a); /* finished jobs beyond HISTORY_MAX_JOBS */
    job *j = xcalloc(1, sizeof *j);
    j->app = a;
    j->job_id = js->job_id;
    j->submitted_wall_ms = wall_ms();
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

    if (js->n_nodes > KILN_MAX_NODES) { /* before anything proportional to them */
        char n[32], limit[32];
        job_fail(d, j, "job refused: %s nodes, the limit is %s", fmt_grouped(js->n_nodes, n, sizeof n),
                 fmt_grouped(KILN_MAX_NODES, limit, sizeof limit));
        return;
    }
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
    if (js->action->kind > KILN__ACTION_KIND__ACTION_SAVE_TEXT) {
        job_fail(d, j, "action %d is not one a client may ask for", js->action->kind);
        return;
    }
    if (*a->lib_hash && !store_has(d, a->lib_hash)) {
        job_fail(d, j, "the application's library %.12s was never uploaded", a->lib_hash);
        return;
    }
    for (size_t i = 0; i < js->n_broadcasts; i++)
        if (!store_has(d, js->broadcasts[i])) {
            job_fail(d, j, "broadcast %.12s was never uploaded", js->broadcasts[i]);
            return;
        }
    for (size_t i = 0; i < js->n_broadcasts; i++)
        store_use(d, a, js->broadcasts[i]);
    for (size_t i = 1; i < js->n_partitions; i++)
        if (js->partitions[i] <= js->partitions[i - 1]) {
            job_fail(d, j, "job refused: the partitions to run must be ascending, each once");
            return;
        }
    if (js->n_partitions && js->action->kind == KILN__ACTION_KIND__ACTION_SAVE_TEXT) {
        job_fail(d, j, "job refused: save_text writes every partition");
        return;
    }
    if (js->action->kind == KILN__ACTION_KIND__ACTION_SAVE_TEXT && js->action->dir[0] != '/') {
        job_fail(d, j, "save_text needs an absolute directory, got '%s'", js->action->dir);
        return;
    }
    if (js->action->kind == KILN__ACTION_KIND__ACTION_SAVE_TEXT) j->save_dir = xstrdup(js->action->dir);
    job_plan_and_start(d, j);
    sched_schedule(d);
}

/* ---- tasks ------------------------------------------------------------------- */

/* The fields of s's TaskLaunch that are the same in each of its tasks,
 * packed once for its plan (a sort stage's plan changes once sampled). */
static void pack_launch_shared(const job *j, dstage *s)
{
    Kiln__JobSubmit *js = j->submit->job_submit;
    Kiln__TaskLaunch tl = KILN__TASK_LAUNCH__INIT;
    tl.app_id = j->app->id;
    tl.job_id = j->job_id;
    tl.stage_id = s->plan.stage_id;
    tl.lib_hash = j->app->lib_hash;
    tl.stage_hash = s->plan.hash;
    tl.memory = j->conf.task_memory;
    tl.memory_limit = j->conf.task_memory_limit;
    tl.timeout_ms = j->conf.task_timeout_ms;
    if (s->plan.broadcast) {
        tl.stage_broadcast = 1;
    } else {
        /* the same serialized bytes in every task: never re-serialized */
        tl.stage.data = s->plan.bytes;
        tl.stage.len = s->plan.len;
    }
    tl.broadcasts = js->broadcasts;
    tl.n_broadcasts = js->n_broadcasts;
    s->plan.launch_len = kiln__task_launch__get_packed_size(&tl);
    s->plan.launch = xmalloc(s->plan.launch_len ? s->plan.launch_len : 1);
    kiln__task_launch__pack(&tl, s->plan.launch);
}

/* Sends t (out of its queue) to w: the stage's shared fields as packed once, then the task's
 * own (id, attempt, input). */
void sched_launch(driver *d, dtask *t, dworker *w)
{
    job *j = t->job;
    dstage *s = t->stage;
    if (!s->plan.launch) pack_launch_shared(j, s);
    Kiln__TaskInput in = s->plan.inputs[t->index];
    const plan_pipe *pp = &j->jp.stages[s->index].pipes[in.pipeline];
    if (pp->source_kind == KILN__NODE_KIND__NODE_SHUFFLE_READ) {
        const Kiln__Node *w2 = pp->source;
        uint32_t ids[2] = {shuffle_id_of(w2, 0), shuffle_id_of(w2, 1)};
        int missing = mapout_inputs(d, j->app, ids, shuffle_sides(w2), in.source_partition, &in);
        if (missing) {
            /* never run a reduce task over part of its input (task_inputs_ready
             * keeps such tasks queued, so this is a scheduler bug) */
            mapout_inputs_free(&in);
            t->state = TASK_DONE;
            job_fail(d, j, "stage %u: launched with %d map output%s of its input missing", s->plan.stage_id, missing,
                     missing == 1 ? "" : "s");
            return;
        }
    }
    t->id = ++d->next_task_id;
    t->attempt++;
    t->launched_ms = now_ms();
    place_running_add(&d->place, t, w);
    d->tasks_launched++;
    history_task_launched(d, t, w, &in);
    uint8_t own[MSG_LAUNCH_HEAD_MAX];
    size_t nin = kiln__task_input__get_packed_size(&in);
    size_t n = msg_task_launch_head(own, t->id, t->attempt, nin);
    struct iovec parts[2] = {{s->plan.launch, s->plan.launch_len}, {own, n}};
    conn_send_split(w->dc->c, KILN__ENVELOPE__BODY_TASK_LAUNCH, parts, 2, &in.base, nin);
    mapout_inputs_free(&in);
    log_msg(&d->log, LOG_DEBUG, "task started app=%s job=%u stage=%u partition=%u attempt=%u task=%llu worker=%s",
            j->app->id, j->job_id, s->plan.stage_id, t->index, t->attempt, (unsigned long long)t->id, w->name);
}

/* Whether every map output a task reads is present (a reduce task waits
 * while lost map outputs are being rerun). */
static int task_inputs_ready(const dtask *t)
{
    job *j = t->job;
    if (!j->submit) return 1;
    const Kiln__TaskInput *in = &t->stage->plan.inputs[t->index];
    const plan_pipe *pp = &j->jp.stages[t->stage->index].pipes[in->pipeline];
    if (pp->source_kind != KILN__NODE_KIND__NODE_SHUFFLE_READ) return 1;
    const Kiln__Node *w2 = pp->source;
    for (uint32_t i = 0; i < shuffle_sides(w2); i++) {
        const shuffle_out *so = mapout_find(j->app, shuffle_id_of(w2, i));
        if (!so || so->available < so->nmaps) return 0;
    }
    return 1;
}

/* t, out of its queue, goes to w, unless it is a reduce task whose input
 * is incomplete: that one waits aside until a shuffle is complete again. */
static void launch_or_block(driver *d, dtask *t, dworker *w)
{
    if (!task_inputs_ready(t))
        place_block(&d->place, t);
    else
        sched_launch(d, t, w); /* may fail the job: its tasks left the queues */
}

/* Launches what can go: each task costs O(log W) (place.c), whatever the
 * number of workers and of tasks waiting. */
void sched_schedule(driver *d)
{
    if (d->unblock) {
        d->unblock = 0;
        place_unblock(&d->place);
    }
    dtask *t;
    dworker *w;
    while ((t = place_next(&d->place, &w)))
        launch_or_block(d, t, w);
    if (d->barrier_waiting) barrier_schedule(d);
}

/* w answered: while the stage's tasks are short it takes more of what
 * waits, in the same round trip as its answers (place_next_for). */
static void refill(driver *d, dworker *w)
{
    dtask *t;
    while ((t = place_next_for(&d->place, w)))
        launch_or_block(d, t, w);
}

void sched_task_output(driver *d, dworker *w, const Kiln__TaskOutput *o)
{
    dtask *t = place_running(&d->place, w, o->task_id);
    if (!t || t->job->state != JOB_RUNNING || t->state != TASK_RUNNING) return;
    job *j = t->job;
    dstage *s = t->stage;
    if (s->state == STAGE_SAMPLING) {
        s->samples = xrealloc(s->samples, (s->nsamples + 1) * sizeof *s->samples);
        s->sample_lens = xrealloc(s->sample_lens, (s->nsamples + 1) * sizeof *s->sample_lens);
        s->samples[s->nsamples] = xmalloc(o->block.len ? o->block.len : 1);
        memcpy(s->samples[s->nsamples], o->block.data, o->block.len);
        s->sample_lens[s->nsamples++] = o->block.len;
        return;
    }
    if (s->index != 0) return;
    history_task_output(d, t, o->block.len);
    j->result_bytes += o->block.len;
    s->bytes += o->block.len;
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

/* The stage's summary: what an operator reads instead of a line per task. */
static void stage_finished(driver *d, dstage *s)
{
    job *j = s->job;
    const plan_stage *ps = &j->jp.stages[s->index];
    log_msg(&d->log, LOG_INFO,
            "stage finished app=%s job=%u stage=%u kind=%s tasks=%zu ms=%llu records_in=%llu records_out=%llu "
            "bytes=%llu failed=%u slowest_ms=%llu slowest_partition=%u slowest_worker=%s",
            j->app->id, j->job_id, s->plan.stage_id,
            s->state == STAGE_SAMPLING ? "sample"
            : ps->is_map               ? "shuffle_write"
                                       : "result",
            s->plan.ntasks, (unsigned long long)(now_ms() - s->started_ms), (unsigned long long)s->records_in,
            (unsigned long long)s->records_out, (unsigned long long)s->bytes, s->failures,
            (unsigned long long)s->slowest_ms, s->slowest_index, s->slowest_worker[0] ? s->slowest_worker : "-");
    history_stage_finished(d, s);
    if (s->state == STAGE_SAMPLING) {
        stage_pick_bounds(s, mapout_find(j->app, ps->shuffle_id), s->sw.partitions);
        s->state = STAGE_RUNNING; /* not WAITING: stage_start must not sample again */
        stage_start(d, s);
        return;
    }
    s->state = STAGE_DONE;
    if (s->index == 0) {
        job_finish(d, j, 1, NULL);
        return;
    }
    job_advance(d, j);
}

void sched_task_done(driver *d, dworker *w, const Kiln__TaskDone *done)
{
    dtask *t = place_running(&d->place, w, done->task_id);
    if (t) place_running_del(&d->place, t);
    if (!t) {
        log_msg(&d->log, LOG_WARN, "unknown task answered task=%llu worker=%s", (unsigned long long)done->task_id,
                w->name);
        return;
    }
    w->tasks_done++;
    history_task_done(d, t, done);
    job *j = t->job;
    dstage *s = t->stage;
    app *a = j->app;
    if (j->state != JOB_RUNNING || t->state != TASK_RUNNING) {
        t->state = TASK_DONE;
        sched_schedule(d);
        return;
    }
    if (done->ok && j->jp.stages[s->index].barrier && barrier_task_succeeded(d, t) < 0) {
        sched_schedule(d); /* it left a rendezvous the others wait in: the attempt failed */
        return;
    }
    if (done->ok) {
        t->state = TASK_DONE;
        s->ndone++;
        add_counters(a, done->counters, done->n_counters);
        j->spills += done->spills;
        j->spill_bytes += done->spill_bytes;
        uint64_t ms = now_ms() - t->launched_ms;
        if (done->run_us) place_task_ran(s, done->run_us);
        s->records_in += done->records_in;
        s->records_out += done->records_out;
        if (ms > s->slowest_ms || !s->slowest_worker[0]) {
            s->slowest_ms = ms;
            s->slowest_index = t->index;
            snprintf(s->slowest_worker, sizeof s->slowest_worker, "%s", w->name);
        }
        const plan_stage *ps = &j->jp.stages[s->index];
        if (ps->is_map && s->state == STAGE_RUNNING) {
            shuffle_out *so = mapout_find(a, ps->shuffle_id);
            if (so) {
                mapout_record(so, t->index, w->id, done->partition_sizes, done->n_partition_sizes);
                for (size_t i = 0; i < done->n_partition_sizes; i++)
                    s->bytes += done->partition_sizes[i];
                if (so->available == so->nmaps) d->unblock = 1; /* reduce tasks waiting for it may go */
            }
        }
        for (size_t i = 0; i < done->n_cached_nodes && i < done->n_cached_parts; i++) {
            uint32_t node = done->cached_nodes[i];
            const Kiln__Node *n = plan_node(&j->jp, node);
            if (n) cache_record(a, node, (uint32_t)plan_partitions(&j->jp, n), done->cached_parts[i], w->id);
        }
        if (s->index == 0) {
            j->ndone++;
            j->count += done->count;
        }
        log_msg(&d->log, LOG_DEBUG,
                "task finished app=%s job=%u stage=%u partition=%u attempt=%u task=%llu records_in=%llu "
                "records_out=%llu spills=%llu ms=%llu",
                a->id, j->job_id, s->plan.stage_id, t->index, t->attempt, (unsigned long long)t->id,
                (unsigned long long)done->records_in, (unsigned long long)done->records_out,
                (unsigned long long)done->spills, (unsigned long long)ms);
        job_progress(d, j, s, s->ndone == s->plan.ntasks);
        if (s->ndone == s->plan.ntasks) stage_finished(d, s);
        sched_schedule(d);
        refill(d, w);
        return;
    }
    if (done->fetch_failed) {
        /* not the task's fault: the maps that worker held run again, and the
         * task waits for them (bounded, in case the outputs keep vanishing) */
        t->fetch_failures++;
        log_msg(&d->log, LOG_WARN,
                "task fetch failed app=%s job=%u stage=%u partition=%u attempt=%u worker=%s shuffle=%u map=%u "
                "holder=%u error=\"%s\"",
                a->id, j->job_id, s->plan.stage_id, t->index, t->attempt, w->name, done->fetch_shuffle_id,
                done->fetch_map, done->fetch_worker_id, done->error);
        if (t->fetch_failures > (uint32_t)j->conf.task_max_failures * 2) {
            job_fail(d, j, "stage %u: partition %u could not read its input %u times; last error: %s", s->plan.stage_id,
                     t->index, t->fetch_failures, done->error);
        } else {
            mapout_worker_lost(a, done->fetch_worker_id, 0);
            pending_push(d, t);
            loss_rerun_maps(d, a, done->fetch_worker_id);
        }
        sched_schedule(d);
        return;
    }
    t->failures++;
    s->failures++;
    log_msg(&d->log, LOG_WARN, "task failed app=%s job=%u stage=%u partition=%u attempt=%u worker=%s error=\"%s\"",
            a->id, j->job_id, s->plan.stage_id, t->index, t->attempt, w->name, done->error);
    if (j->jp.stages[s->index].barrier) { /* every task of the stage again, or the job fails */
        barrier_attempt_failed(d, s, t->index, done->error, done->fatal);
        sched_schedule(d);
        return;
    }
    if (done->fatal || t->failures >= (uint32_t)j->conf.task_max_failures) {
        job_fail(d, j, "stage %u (%s) failed: partition %u failed %u time%s; last error: %s", s->plan.stage_id,
                 s->plan.fn_names[0] ? s->plan.fn_names : "no user functions", t->index, t->failures,
                 t->failures == 1 ? "" : "s", done->error);
    } else {
        t->avoid_worker = w->id;
        pending_push(d, t);
    }
    sched_schedule(d);
}

int sched_cancel_job(driver *d, app *a, uint32_t job_id, const char *reason)
{
    for (job *j = a->jobs; j; j = j->next) {
        if (j->job_id != job_id) continue;
        if (j->state != JOB_RUNNING) return 0;
        job_fail(d, j, "Job %u cancelled %s", job_id, reason);
        sched_schedule(d);
        return 1;
    }
    return 0;
}

void sched_app_ended(driver *d, app *a, const char *why)
{
    history_app_ending(d, a, why);
    a->ended = 1;
    for (job *j = a->jobs; j; j = j->next)
        if (j->state == JOB_RUNNING) job_fail(d, j, "the application ended: %s", why);
    /* every job is finished now, and job_finish cancelled its running
     * tasks and freed their slots: no task of a is left on a worker */
    log_msg(&d->log, LOG_INFO, "application ended app=%s jobs=%u reason=\"%s\"", a->id, a->njobs, why);
    history_app_ended(d, a); /* after its jobs' ends: the event log's last line */
    store_app_ended(d, a);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__AppEnd m = KILN__APP_END__INIT;
    m.app_id = a->id;
    m.abandoned_dirs = xcalloc(a->njobs + 1, sizeof *m.abandoned_dirs);
    for (job *j = a->jobs; j; j = j->next)
        if (j->save_dir && j->state != JOB_SUCCEEDED) m.abandoned_dirs[m.n_abandoned_dirs++] = j->save_dir;
    MSG_BODY(env, app_end, APP_END, &m);
    workers_broadcast(d, &env);
    free(m.abandoned_dirs);
    /* its workers remove its shuffle and cache files: forget where they
     * were, and give what its jobs held back to the system (a million
     * tasks' worth is freed in small pieces that glibc would keep) */
    mapout_app_release(a);
    malloc_trim(0);
}
