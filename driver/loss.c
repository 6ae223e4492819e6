/*
 * loss.c - what the driver does when a worker is lost, or a map output
 * cannot be read: forget what went, rerun from lineage only the map tasks
 * whose outputs went, and plan again the jobs that read cached partitions
 * that went.
 *
 * The one idea: a loss is applied to the whole driver before anything is
 * rescheduled. Every application's running tasks, map outputs and cached
 * partitions forget the worker first; only then are maps queued again and
 * jobs planned again; and nothing here launches a task (sched_schedule,
 * called by the caller afterwards, does). Were one application replanned
 * and scheduled while another still counted the lost worker's outputs as
 * present, that one's reduce tasks would launch without their input
 * (issue 9, defect 3).
 *
 * Owns no state of its own; it changes the scheduler's (sched.c) and the
 * map-output tracker's (mapout.c).
 */
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "util.h"

/* Whether a stage of j still to finish reads a cached dataset that lost
 * partitions (their worker went). */
static int job_lost_cache(job *j)
{
    for (size_t i = 0; i < j->nstages; i++) {
        if (j->stages[i].state == STAGE_DONE) continue;
        const plan_stage *ps = &j->jp.stages[i];
        for (size_t k = 0; k < ps->npipes; k++) {
            const plan_pipe *pp = &ps->pipes[k];
            if (pp->source_kind == KILN__NODE_KIND__NODE_CACHED &&
                !cache_complete(j->app, pp->source->id, (uint32_t)plan_partitions(&j->jp, pp->source)))
                return 1;
        }
    }
    return 0;
}

/*
 * A cached partition the job reads went with its worker: plans the job
 * again, so what is lost is recomputed from lineage (and cached again).
 * Shuffles already written are kept (their stages are skipped); tasks
 * still running under the old plan finish unheard; result attempts go on
 * counting, so the client drops blocks of the old plan's attempts.
 */
static void job_replan(driver *d, job *j)
{
    pending_drop_job(d, j);
    job_cancel_running(d, j);
    dstage *res = &j->stages[0];
    if (res->tasks) {
        if (j->nresult_attempts < res->plan.ntasks) {
            j->result_attempts = xrealloc(j->result_attempts, res->plan.ntasks * sizeof *j->result_attempts);
            memset(j->result_attempts + j->nresult_attempts, 0,
                   (res->plan.ntasks - j->nresult_attempts) * sizeof *j->result_attempts);
            j->nresult_attempts = res->plan.ntasks;
        }
        for (size_t i = 0; i < res->plan.ntasks; i++)
            if (res->tasks[i].attempt > j->result_attempts[i]) j->result_attempts[i] = res->tasks[i].attempt;
    }
    for (size_t i = 0; i < j->nstages; i++)
        for (size_t k = 0; j->stages[i].tasks && k < j->stages[i].plan.ntasks; k++)
            j->stages[i].tasks[k].state = TASK_DONE; /* running ones: their answers are ignored */
    struct old_plan *o = xcalloc(1, sizeof *o);
    o->stages = j->stages;
    o->nstages = j->nstages;
    o->next = j->old;
    j->old = o;
    j->stages = NULL;
    j->nstages = 0;
    job_plan_release(&j->jp);
    j->ndone = 0;
    j->count = 0;
    j->result_bytes = 0;
    j->replans++;
    log_msg(&d->log, LOG_WARN, "job replanned app=%s job=%u reason=\"cached partitions lost\" replans=%u", j->app->id,
            j->job_id, j->replans);
    job_plan_and_start(d, j);
}

/*
 * Reruns, from lineage, the map tasks whose outputs were lost (with a
 * worker, or because a reduce task could not read them) and that a stage
 * still to finish needs. The reduce tasks wait in the queue meanwhile
 * (task_inputs_ready in sched.c). avoid: the worker the outputs were lost
 * on.
 */
void loss_rerun_maps(driver *d, app *a, uint32_t avoid)
{
    for (job *j = a->jobs; j; j = j->next) {
        for (size_t i = 0; i < j->nstages && j->state == JOB_RUNNING; i++) {
            if (j->stages[i].state == STAGE_DONE) continue;
            const plan_stage *ps = &j->jp.stages[i];
            for (size_t k = 0; k < ps->ndeps; k++) {
                dstage *ms = stage_writing(j, ps->deps[k]);
                shuffle_out *so = mapout_find(a, ps->deps[k]);
                if (!ms || !so || so->available == so->nmaps) continue;
                if (ms->state == STAGE_WAITING || ms->state == STAGE_SAMPLING) continue; /* not written yet */
                if (!ms->tasks) { /* an earlier job's stage, skipped in this one: run what is missing */
                    log_msg(&d->log, LOG_WARN, "map outputs lost app=%s job=%u shuffle=%u missing=%u: rerunning", a->id,
                            j->job_id, so->shuffle_id, so->nmaps - so->available);
                    ms->state = STAGE_WAITING;
                    stage_start(d, ms);
                    continue;
                }
                uint32_t rerun = 0;
                for (uint32_t m = 0; m < so->nmaps && m < ms->plan.ntasks; m++) {
                    dtask *t = &ms->tasks[m];
                    if (so->worker[m] || t->state != TASK_DONE) continue;
                    t->state = TASK_PENDING;
                    t->avoid_worker = avoid;
                    t->need_worker = 0;
                    ms->ndone--;
                    pending_push(d, t);
                    rerun++;
                }
                if (rerun) {
                    ms->state = STAGE_RUNNING;
                    log_msg(&d->log, LOG_WARN, "map outputs lost app=%s job=%u stage=%u shuffle=%u rerun=%u", a->id,
                            j->job_id, ms->plan.stage_id, so->shuffle_id, rerun);
                }
            }
        }
    }
}

void loss_worker_lost(driver *d, dworker *w)
{
    /* 1. the loss, everywhere: running tasks, map outputs, cached partitions */
    while (w->tasks) {
        dtask *t = w->tasks;
        place_running_del(&d->place, t);
        if (t->job->state != JOB_RUNNING || t->state != TASK_RUNNING) continue;
        log_msg(&d->log, LOG_INFO, "task requeued app=%s job=%u stage=%u partition=%u reason=\"worker %s lost\"",
                t->job->app->id, t->job->job_id, t->stage->plan.stage_id, t->index, w->name);
        t->need_worker = 0;
        history_task_ended(d, t, ROW_LOST, "its worker was lost");
        pending_push(d, t);
    }
    for (app *a = d->apps; a; a = a->next)
        mapout_worker_lost(a, w->id, 1);
    /* 2. only then what must run again, application by application */
    for (app *a = d->apps; a; a = a->next) {
        loss_rerun_maps(d, a, w->id);
        for (job *j = a->jobs; j; j = j->next)
            if (j->state == JOB_RUNNING && j->submit && job_lost_cache(j)) job_replan(d, j);
    }
}
