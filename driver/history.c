/*
 * history.c - what the driver's UI, JSON API and /metrics show, fed by
 * hooks the scheduler calls (sched.c, loss.c, rpc.c) and never deciding
 * anything itself.
 *
 * The scheduler frees a stage's plan when its job ends; a stage_record
 * (in struct dstage) keeps what people look at afterwards: its partitions,
 * the shuffles it reads and writes, its functions, and one task_row per
 * attempt (worker, times, records, bytes, shuffle, spill, the error).
 * Rows are appended at launch, so their task ids ascend and an answer
 * finds its row by binary search. The metrics counters live in struct
 * driver_metrics and are counted here, once per finished attempt.
 *
 * Memory is bounded: at most HISTORY_STAGE_ROWS rows per stage (later
 * attempts only count), HISTORY_MAX_JOBS finished jobs per application
 * and history.max_apps ended applications; history_prune frees the oldest
 * beyond those, at points where nothing on the stack holds them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "util.h"

static const char *const action_names[] = {"count",     "collect",       "take",  "reduce",
                                           "save_text", "shuffle_write", "sample"};
#define NACTIONS (sizeof action_names / sizeof action_names[0])

const char *job_action_name(Kiln__ActionKind k)
{
    return (unsigned)k < NACTIONS ? action_names[k] : "?";
}

Kiln__ActionKind job_action_parse(const char *name)
{
    for (size_t i = 0; i < NACTIONS; i++)
        if (!strcmp(name, action_names[i])) return (Kiln__ActionKind)i;
    return (Kiln__ActionKind)NACTIONS; /* reads "?" */
}

const char *row_state_name(enum row_state st)
{
    static const char *names[] = {"running", "succeeded", "failed", "fetch_failed", "killed", "lost"};
    return (unsigned)st <= ROW_LOST ? names[st] : "?";
}

const char *job_state_name(const job *j)
{
    static const char *names[] = {"running", "succeeded", "failed"};
    return (unsigned)j->state <= JOB_FAILED ? names[j->state] : "?";
}

const char *stage_state_name(const dstage *s)
{
    if (s->rec.skipped) return "skipped";
    switch (s->state) {
    case STAGE_WAITING:
        return s->job->state == JOB_RUNNING ? "waiting" : "not run";
    case STAGE_SAMPLING:
        return s->job->state == JOB_RUNNING ? "sampling" : "failed";
    case STAGE_RUNNING:
        return s->job->state == JOB_RUNNING ? "running" : "failed";
    case STAGE_DONE:
        return "succeeded";
    }
    return "?";
}

const char *app_outcome(const app *a)
{
    if (!a->ended) return "running";
    if (a->killed) return "killed";
    return a->failed ? "failed" : "succeeded";
}

uint32_t worker_running(const dworker *w)
{
    return w->running < w->slots ? w->running : w->slots;
}

uint32_t worker_queued(const dworker *w)
{
    return w->running - worker_running(w);
}

void stage_record_release(stage_record *r)
{
    for (size_t i = 0; i < r->nrows; i++)
        free(r->rows[i].error);
    free(r->rows);
    free(r->reads);
    free(r->fn_names);
    memset(r, 0, sizeof *r);
}

/* ---- counts ------------------------------------------------------------------ */

/* Done tasks of a stage: all of a finished one, none while it samples. */
static size_t stage_done(const dstage *s)
{
    if (s->rec.skipped) return 0;
    if (s->state == STAGE_DONE) return s->rec.ntasks;
    if (s->state == STAGE_RUNNING) return s->ndone < s->rec.ntasks ? s->ndone : s->rec.ntasks;
    return 0;
}

void job_task_counts(const job *j, size_t *total, size_t *done)
{
    *total = *done = 0;
    for (size_t i = 0; i < j->nstages; i++) {
        const dstage *s = &j->stages[i];
        if (s->rec.skipped) continue;
        *total += s->rec.ntasks;
        *done += stage_done(s);
    }
}

char *job_stage_progress(const job *j, char *buf, size_t len)
{
    size_t k = 0;
    if (len) buf[0] = '\0';
    /* stages[0] is the result stage: print it last, map stages in plan order from the deepest */
    for (size_t n = 0; n < j->nstages && k < len; n++) {
        const dstage *s = &j->stages[j->nstages - 1 - n];
        int w = s->rec.skipped ? snprintf(buf + k, len - k, "%sskipped", k ? " " : "")
                               : snprintf(buf + k, len - k, "%s%zu/%zu", k ? " " : "", stage_done(s), s->rec.ntasks);
        if (w < 0) break;
        k += (size_t)w;
    }
    return buf;
}

/* ---- hooks ------------------------------------------------------------------- */

void history_job_planned(driver *d, job *j)
{
    for (size_t i = 0; i < j->nstages; i++) {
        dstage *s = &j->stages[i];
        const plan_stage *ps = &j->jp.stages[i];
        stage_record *r = &s->rec;
        r->ntasks = ps->ntasks;
        r->is_map = ps->is_map;
        r->writes = ps->is_map ? ps->shuffle_id : 0;
        r->skipped = s->state == STAGE_DONE;
        r->nreads = ps->ndeps;
        r->reads = xcalloc(ps->ndeps + 1, sizeof *r->reads);
        if (ps->ndeps) memcpy(r->reads, ps->deps, ps->ndeps * sizeof *r->reads);
        snprintf(r->kind, sizeof r->kind, "%s", ps->is_map ? "shuffle_write" : job_action_name(j->action));
        if (r->skipped) d->m.stages_skipped++;
    }
}

void history_stage_launched(driver *d, dstage *s)
{
    stage_record *r = &s->rec;
    free(r->fn_names);
    r->fn_names = xstrdup(s->plan.fn_names);
    r->ntasks = s->plan.ntasks;
    if (!r->started_ms) r->started_ms = wall_ms();
}

void history_stage_finished(driver *d, dstage *s)
{
    if (s->state == STAGE_SAMPLING) return; /* the stage itself runs next */
    s->rec.ended_ms = wall_ms();
    d->m.stages_succeeded++;
}

static task_row *row_find(dtask *t)
{
    stage_record *r = &t->stage->rec;
    size_t lo = 0, hi = r->nrows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->rows[mid].task_id < t->id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->nrows && r->rows[lo].task_id == t->id ? &r->rows[lo] : NULL;
}

void history_task_launched(driver *d, dtask *t, const dworker *w, const Kiln__TaskInput *in)
{
    stage_record *r = &t->stage->rec;
    if (r->nrows >= HISTORY_STAGE_ROWS) {
        r->rows_dropped++;
        return;
    }
    if (r->nrows == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->rows = xrealloc(r->rows, r->cap * sizeof *r->rows);
    }
    task_row *row = &r->rows[r->nrows++];
    memset(row, 0, sizeof *row);
    row->task_id = t->id;
    row->partition = t->index;
    row->attempt = t->attempt;
    row->worker_id = w->id;
    size_t wn = strnlen(w->name, sizeof row->worker - 1); /* once per task: no snprintf */
    memcpy(row->worker, w->name, wn);
    row->worker[wn] = 0;
    row->state = ROW_RUNNING;
    row->sample = t->stage->state == STAGE_SAMPLING;
    row->started_ms = wall_ms();
    if (in->split)
        row->bytes_in = in->split->end > in->split->start ? in->split->end - in->split->start : 0;
    else
        row->bytes_in = in->block.len;
    for (size_t i = 0; i < in->n_shuffles; i++)
        for (size_t k = 0; k < in->shuffles[i]->n_blocks; k++)
            row->shuffle_read += in->shuffles[i]->blocks[k]->length;
    row->bytes_in += row->shuffle_read;
}

void history_task_output(driver *d, dtask *t, size_t len)
{
    task_row *row = row_find(t);
    if (row) row->bytes_out += len;
}

static void row_end(driver *d, dtask *t, task_row *row, enum row_state st, const char *error)
{
    d->m.tasks[st]++;
    uint64_t ms = now_ms() - t->launched_ms;
    histogram_observe(&d->m.task_seconds, (double)ms / 1000.0);
    if (st != ROW_SUCCEEDED) t->stage->rec.failed += st == ROW_FAILED || st == ROW_FETCH_FAILED;
    if (!row) return;
    row->state = st;
    /* the wall clock at launch plus the monotonic time since: one clock
     * read less per task, and a clock step mid-task does not change it */
    row->ended_ms = row->started_ms + ms;
    free(row->error);
    row->error = error && *error ? xstrdup(error) : NULL;
}

void history_task_done(driver *d, dtask *t, const Kiln__TaskDone *done)
{
    if (t->state != TASK_RUNNING || t->job->state != JOB_RUNNING) return; /* already counted as killed */
    task_row *row = row_find(t);
    if (!done->ok) {
        row_end(d, t, row, done->fetch_failed ? ROW_FETCH_FAILED : ROW_FAILED, done->error);
        return;
    }
    row_end(d, t, row, ROW_SUCCEEDED, NULL);
    uint64_t shuffle_write = 0;
    for (size_t i = 0; i < done->n_partition_sizes; i++)
        shuffle_write += done->partition_sizes[i];
    task_row scratch = {0};
    if (!row) row = &scratch; /* over the row limit: the totals still count it */
    row->records_in = done->records_in;
    row->records_out = done->records_out;
    row->shuffle_write = shuffle_write;
    if (shuffle_write) row->bytes_out = shuffle_write;
    row->spills = done->spills;
    row->spill_bytes = done->spill_bytes;
    if (row->sample) return; /* the sampling pass reads the input once more: not counted twice */
    stage_record *r = &t->stage->rec;
    r->records_in += row->records_in;
    r->records_out += row->records_out;
    r->bytes_in += row->bytes_in;
    r->bytes_out += row->bytes_out;
    r->shuffle_read += row->shuffle_read;
    r->shuffle_write += row->shuffle_write;
    r->spills += row->spills;
    r->spill_bytes += row->spill_bytes;
    d->m.records_in += row->records_in;
    d->m.records_out += row->records_out;
    d->m.bytes_in += row->bytes_in;
    d->m.bytes_out += row->bytes_out;
    d->m.shuffle_read += row->shuffle_read;
    d->m.shuffle_write += row->shuffle_write;
    d->m.spills += row->spills;
    d->m.spill_bytes += row->spill_bytes;
}

void history_task_ended(driver *d, dtask *t, enum row_state st, const char *why)
{
    if (t->state != TASK_RUNNING) return;
    row_end(d, t, row_find(t), st, why);
}

void history_job_finished(driver *d, job *j)
{
    j->ended_wall_ms = wall_ms();
    if (j->state == JOB_SUCCEEDED)
        d->m.jobs_succeeded++;
    else
        d->m.jobs_failed++;
    for (size_t i = 0; j->state != JOB_SUCCEEDED && i < j->nstages; i++) {
        dstage *s = &j->stages[i];
        if (s->state == STAGE_RUNNING || s->state == STAGE_SAMPLING) {
            d->m.stages_failed++;
            s->rec.ended_ms = j->ended_wall_ms;
        }
    }
    eventlog_job_ended(d, j);
}

void history_app_ending(driver *d, app *a, const char *why)
{
    a->ended_ms = wall_ms();
    snprintf(a->end_reason, sizeof a->end_reason, "%s", why);
    int running = 0;
    for (job *j = a->jobs; j; j = j->next)
        running |= j->state == JOB_RUNNING;
    /* a->jobs is newest first: the last job the application ran */
    a->failed = running || (a->jobs && a->jobs->state == JOB_FAILED);
    if (a->killed)
        d->m.apps_killed++;
    else if (a->failed)
        d->m.apps_failed++;
    else
        d->m.apps_succeeded++;
}

void history_heartbeat(dworker *w, const Kiln__Heartbeat *hb)
{
    w->hb_running = hb->running;
    w->hb_executors = hb->executors;
    w->memory_bytes = hb->memory_bytes;
    w->disk_bytes = hb->disk_bytes;
}

/* Frees ended applications beyond history.max_apps but keep. d->apps is
 * newest first: the first max_apps ended ones stay. */
static void prune_apps(driver *d, const app *keep)
{
    int64_t ended = 0;
    for (app **pp = &d->apps; *pp;) {
        app *x = *pp;
        /* every ended application counts, one whose client is still
         * connected (it ended by AppStop) too; that one is never freed */
        if (x->ended && ++ended > d->conf.history_max_apps && !x->client && x != keep) {
            *pp = x->next;
            log_msg(&d->log, LOG_DEBUG, "application forgotten app=%s (history keeps %lld)", x->id,
                    (long long)d->conf.history_max_apps);
            app_free(x);
            continue;
        }
        pp = &x->next;
    }
}

void history_app_ended(driver *d, app *a)
{
    eventlog_app_ended(d, a);
    prune_apps(d, a); /* the caller holds a */
}

void history_prune(driver *d, app *a)
{
    if (a) {
        size_t finished = 0;
        for (job **pp = &a->jobs; *pp;) {
            job *j = *pp;
            if (j->state != JOB_RUNNING && ++finished > HISTORY_MAX_JOBS) {
                *pp = j->next;
                job_free(j);
                continue;
            }
            pp = &j->next;
        }
    }
    prune_apps(d, NULL);
}
