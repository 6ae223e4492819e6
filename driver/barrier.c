/*
 * barrier.c - barrier stages on the driver (PySpark's rdd.barrier()): a
 * stage's tasks run all at once or not at all, and their barrier() and
 * allGather() calls meet here.
 *
 * The one idea: a barrier stage's tasks never enter place.c's queues. The
 * stage waits (dstage.barrier_waiting) until the live workers have as many
 * free slots (slots less tasks in flight) as it has tasks, and then every
 * task is launched in one pass, one per free slot, so that each starts in
 * an executor at once. A stage that needs more slots than the cluster has
 * fails at once, with Spark's message. Tasks' BarrierSync messages are
 * counted per round; when the last task of the attempt has sent its round,
 * each gets every message in partition order. A failed or lost task fails
 * the attempt: the others are cancelled and the whole stage waits for its
 * slots again, up to task.max_failures attempts.
 *
 * Waiting stages are found by looking at the running jobs, and only while
 * driver.barrier_waiting says there is one: an application without
 * barrier stages pays one test per scheduling pass.
 */
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "msg.h"
#include "util.h"

/* What one rendezvous may gather: the reply to each task holds them all
 * and must fit a frame with room to spare. */
#define BARRIER_GATHER_MAX (16u << 20)

static const plan_stage *plan_of(const dstage *s)
{
    return &s->job->jp.stages[s->index];
}

static void round_clear(dstage *s)
{
    for (size_t i = 0; s->barrier_msgs && i < s->plan.ntasks; i++) {
        free(s->barrier_msgs[i].data);
        s->barrier_msgs[i].data = NULL;
        s->barrier_msgs[i].len = 0;
    }
    if (s->barrier_in) memset(s->barrier_in, 0, s->plan.ntasks);
    s->barrier_arrived = 0;
}

void barrier_release(dstage *s)
{
    round_clear(s);
    free(s->barrier_msgs);
    free(s->barrier_in);
    s->barrier_msgs = NULL;
    s->barrier_in = NULL;
}

/* A fresh attempt: every task pending, no rendezvous under way. */
static void attempt_reset(driver *d, dstage *s)
{
    barrier_release(s);
    size_t n = s->plan.ntasks;
    s->barrier_msgs = xcalloc(n ? n : 1, sizeof *s->barrier_msgs);
    s->barrier_in = xcalloc(n ? n : 1, 1);
    s->barrier_round = 0;
    for (size_t i = 0; i < n; i++)
        s->tasks[i].state = TASK_PENDING;
    s->ndone = 0;
    if (!s->barrier_waiting) {
        s->barrier_waiting = 1;
        d->barrier_waiting++;
    }
}

int barrier_stage_begin(driver *d, dstage *s)
{
    job *j = s->job;
    const Kiln__JobSubmit *js = j->submit->job_submit;
    if (s->index == 0 && js->n_partitions && js->n_partitions < s->plan.ntasks) {
        job_fail(d, j,
                 "Barrier execution mode does not support running a barrier stage on some of its partitions "
                 "(take, first, isEmpty and toLocalIterator run a few): run an action over all of them, such as "
                 "collect()");
        return -1;
    }
    attempt_reset(d, s);
    log_msg(&d->log, LOG_INFO, "barrier stage waiting app=%s job=%u stage=%u tasks=%zu", j->app->id, j->job_id,
            s->plan.stage_id, s->plan.ntasks);
    return 0;
}

/* Launches every task of s now, one per free slot (the caller counted
 * them). */
static void launch_all(driver *d, dstage *s)
{
    job *j = s->job;
    size_t k = 0, n = s->plan.ntasks;
    for (dworker *w = d->workers; w && k < n && j->state == JOB_RUNNING; w = w->next) {
        if (w->gone || !w->dc) continue;
        while (w->running < w->slots && k < n && j->state == JOB_RUNNING) {
            dtask *t = &s->tasks[k++];
            if (t->state == TASK_PENDING) sched_launch(d, t, w);
        }
    }
    log_msg(&d->log, LOG_INFO, "barrier stage launched app=%s job=%u stage=%u tasks=%zu attempt=%u", j->app->id,
            j->job_id, s->plan.stage_id, n, s->barrier_attempts + 1);
}

void barrier_schedule(driver *d)
{
    uint64_t total = 0, free_slots = 0;
    for (dworker *w = d->workers; w; w = w->next)
        if (!w->gone && w->dc) {
            total += w->slots;
            if (w->running < w->slots) free_slots += w->slots - w->running;
        }
    uint32_t still = 0;
    for (app *a = d->apps; a; a = a->next)
        for (job *j = a->jobs; j; j = j->next)
            for (size_t i = 0; j->state == JOB_RUNNING && i < j->nstages; i++) {
                dstage *s = &j->stages[i];
                if (!s->barrier_waiting) continue;
                size_t n = s->plan.ntasks;
                if (total && n > total) {
                    s->barrier_waiting = 0;
                    job_fail(d, j,
                             "[SPARK-24819]: Barrier execution mode does not allow run a barrier stage that requires "
                             "more slots than the total number of slots in the cluster currently. Please init a new "
                             "cluster with more resources(e.g. CPU, GPU) or repartition the input RDD(s) to reduce "
                             "the number of slots required to run this barrier stage. (stage %u needs %zu slots, "
                             "the cluster has %llu)",
                             s->plan.stage_id, n, (unsigned long long)total);
                    continue;
                }
                if (n > free_slots) {
                    still++;
                    continue;
                }
                s->barrier_waiting = 0;
                free_slots -= n;
                launch_all(d, s);
            }
    d->barrier_waiting = still;
}

void barrier_job_ended(driver *d, job *j)
{
    for (size_t i = 0; i < j->nstages; i++)
        if (j->stages[i].barrier_waiting) {
            j->stages[i].barrier_waiting = 0;
            if (d->barrier_waiting) d->barrier_waiting--;
        }
}

void barrier_attempt_failed(driver *d, dstage *s, uint32_t index, const char *error, int fatal)
{
    job *j = s->job;
    s->barrier_attempts++;
    if (fatal || s->barrier_attempts >= (uint32_t)j->conf.task_max_failures) {
        job_fail(d, j, "stage %u (%s) failed: barrier stage failed %u time%s; last error (partition %u): %s",
                 s->plan.stage_id, s->plan.fn_names[0] ? s->plan.fn_names : "no user functions", s->barrier_attempts,
                 s->barrier_attempts == 1 ? "" : "s", index, error);
        return;
    }
    log_msg(&d->log, LOG_WARN,
            "barrier stage attempt failed app=%s job=%u stage=%u attempt=%u partition=%u error=\"%s\": every task "
            "runs again",
            j->app->id, j->job_id, s->plan.stage_id, s->barrier_attempts, index, error);
    size_t n = 0;
    dtask **ts = xcalloc(s->plan.ntasks + 1, sizeof *ts);
    for (size_t i = 0; i < s->plan.ntasks; i++)
        if (s->tasks[i].worker) ts[n++] = &s->tasks[i];
    if (n) tasks_cancel(d, j, ts, n, "cancelled: another task of its barrier stage failed");
    free(ts);
    attempt_reset(d, s);
}

int barrier_requeue(driver *d, dtask *t)
{
    dstage *s = t->stage;
    if (!plan_of(s)->barrier) return 0;
    if (t->job->state != JOB_RUNNING) return 1;
    if (s->barrier_waiting) { /* it goes with the others */
        t->state = TASK_PENDING;
        return 1;
    }
    barrier_attempt_failed(d, s, t->index, "a task's worker or its input was lost", 0);
    return 1;
}

int barrier_task_succeeded(driver *d, dtask *t)
{
    dstage *s = t->stage;
    if (!s->barrier_arrived || (s->barrier_in && s->barrier_in[t->index])) return 0;
    barrier_attempt_failed(d, s, t->index,
                           "the task finished while the others wait in barrier() or allGather(): every task of a "
                           "barrier stage must call them the same number of times",
                           0);
    return -1;
}

/* Answers t's round: messages (borrowed), or an error. */
static void reply(dtask *t, uint32_t round, ProtobufCBinaryData *msgs, size_t n, const char *error)
{
    if (!t->worker || !t->worker->dc) return;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__BarrierReply r = KILN__BARRIER_REPLY__INIT;
    r.task_id = t->id;
    r.round = round;
    r.messages = msgs;
    r.n_messages = n;
    r.error = (char *)(error ? error : "");
    MSG_BODY(env, barrier_reply, BARRIER_REPLY, &r);
    conn_send(t->worker->dc->c, &env);
}

void barrier_sync(driver *d, dworker *w, const Kiln__BarrierSync *m)
{
    dtask *t = place_running(&d->place, w, m->task_id);
    if (!t || t->job->state != JOB_RUNNING || t->state != TASK_RUNNING) return; /* late: its attempt is over */
    dstage *s = t->stage;
    if (!plan_of(s)->barrier || !s->barrier_in) {
        reply(t, m->round, NULL, 0, "barrier() and allGather() work only in a barrier stage (rdd.barrier())");
        return;
    }
    char why[256];
    if (s->ndone) {
        snprintf(why, sizeof why,
                 "partition %u called barrier() or allGather() after another task of the stage finished: every task "
                 "of a barrier stage must call them the same number of times",
                 t->index);
        barrier_attempt_failed(d, s, t->index, why, 0);
        return;
    }
    if (m->round != s->barrier_round || s->barrier_in[t->index]) {
        snprintf(why, sizeof why, "partition %u sent barrier round %u while the stage is at round %u", t->index,
                 m->round, s->barrier_round);
        barrier_attempt_failed(d, s, t->index, why, 0);
        return;
    }
    ProtobufCBinaryData *slot = &s->barrier_msgs[t->index];
    slot->len = m->message.len;
    slot->data = xmalloc(slot->len ? slot->len : 1);
    if (slot->len) memcpy(slot->data, m->message.data, slot->len);
    s->barrier_in[t->index] = 1;
    if (++s->barrier_arrived < s->plan.ntasks) return;

    uint64_t bytes = 0;
    for (size_t i = 0; i < s->plan.ntasks; i++)
        bytes += s->barrier_msgs[i].len;
    if (bytes > BARRIER_GATHER_MAX) {
        snprintf(why, sizeof why, "allGather's messages add up to %llu bytes, the limit is %u",
                 (unsigned long long)bytes, BARRIER_GATHER_MAX);
        job_fail(d, s->job, "stage %u failed: %s", s->plan.stage_id, why);
        return;
    }
    log_msg(&d->log, LOG_DEBUG, "barrier round done app=%s job=%u stage=%u round=%u bytes=%llu", s->job->app->id,
            s->job->job_id, s->plan.stage_id, s->barrier_round, (unsigned long long)bytes);
    for (size_t i = 0; i < s->plan.ntasks; i++)
        reply(&s->tasks[i], s->barrier_round, s->barrier_msgs, s->plan.ntasks, NULL);
    round_clear(s);
    s->barrier_round++;
}
