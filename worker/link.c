/*
 * link.c - the worker's connection to the driver.
 *
 * States: connecting -> handshake (hello, and with a shared secret mutual
 * authentication, common/handshake.c) -> register sent -> registered. While registered the
 * worker heartbeats, accepts TaskLaunch, fetches the blobs a task needs
 * (library, broadcast stage function, broadcast values) once each into
 * cache/<hash>, verifying the SHA-256 as the pieces arrive, and forwards
 * executors' results. When the link drops, every executor is ended, every
 * queued task is dropped (the driver reschedules), and the worker
 * reconnects with exponential back-off, registering again as a new worker.
 * Each registration's answer names the applications still running; the
 * files of every other one are removed (pool_sweep_apps). LogsRequests go
 * to logs.c, whose answers follow the link's drain callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "util.h"
#include "worker.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static void schedule_reconnect(worker *w);

void link_send(worker *w, const Kiln__Envelope *env)
{
    if (w->driver && w->registered) conn_send(w->driver, env);
}

void link_forward_output(worker *w, const Kiln__Envelope *env)
{
    link_send(w, env);
}

void link_task_finished(worker *w, wtask *t, const Kiln__TaskDone *done)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__TaskDone copy = *done;
    char *error = NULL;
    if (!done->ok) { /* every failure says where it happened */
        error = xasprintf("%s (on worker %s)", done->error, w->name);
        copy.error = error;
    }
    if (t->started_us) { /* how long it ran, for the driver's queue depth */
        uint64_t us = now_us() - t->started_us;
        copy.run_us = us ? us : 1;
    }
    MSG_BODY(env, task_done, TASK_DONE, &copy);
    link_send(w, &env);
    free(error);
    worker_metrics_task(w, t, done);
    if (done->ok)
        w->tasks_done++;
    else
        w->tasks_failed++;
    w->ntasks--;
    task_free(t);
}

/* ---- blobs ---------------------------------------------------------------- */

static wblob *blob_find(worker *w, const char *hash, int create)
{
    for (wblob *b = w->blobs; b; b = b->next)
        if (!strcmp(b->hash, hash)) return b;
    if (!create) return NULL;
    wblob *b = xcalloc(1, sizeof *b);
    snprintf(b->hash, sizeof b->hash, "%s", hash);
    blob_recv_init(&b->rx);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", w->cache_dir, hash);
    b->present = access(path, R_OK) == 0;
    b->next = w->blobs;
    w->blobs = b;
    return b;
}

static void blob_reset(wblob *b)
{
    blob_recv_abort(&b->rx);
    b->fetching = 0;
}

/* 1 when the blob is missing (a fetch is under way), 0 when present. */
static int blob_need(worker *w, const char *hash)
{
    wblob *b = blob_find(w, hash, 1);
    if (b->present) return 0;
    if (!b->fetching) {
        b->fetching = 1;
        Kiln__Envelope env = KILN__ENVELOPE__INIT;
        Kiln__BlobGet g = KILN__BLOB_GET__INIT;
        g.hash = b->hash;
        MSG_BODY(env, blob_get, BLOB_GET, &g);
        link_send(w, &env);
        log_msg(&w->log, LOG_DEBUG, "blob requested hash=%s", hash);
    }
    return 1;
}

static int task_missing(worker *w, wtask *t)
{
    Kiln__TaskLaunch *tl = t->t;
    int n = *tl->lib_hash ? blob_need(w, tl->lib_hash) : 0; /* none: a Python job */
    if (tl->stage_broadcast) n += blob_need(w, tl->stage_hash);
    for (size_t i = 0; i < tl->n_broadcasts; i++)
        n += blob_need(w, tl->broadcasts[i]);
    return n;
}

static void blobs_changed(worker *w, const char *failed_hash, const char *error)
{
    for (wtask *t = w->queue_head; t; t = t->next) {
        if (!t->waiting) continue;
        if (failed_hash) {
            Kiln__TaskLaunch *tl = t->t;
            int uses = !strcmp(tl->lib_hash, failed_hash) || !strcmp(tl->stage_hash, failed_hash);
            for (size_t i = 0; i < tl->n_broadcasts; i++)
                uses |= !strcmp(tl->broadcasts[i], failed_hash);
            if (uses) {
                t->failed = 1;
                snprintf(t->error, sizeof t->error, "cannot fetch blob %.12s: %s", failed_hash, error);
            }
            continue;
        }
        t->waiting = task_missing(w, t);
    }
    pool_schedule(w);
}

static void on_blob_chunk(worker *w, const Kiln__BlobChunk *c)
{
    wblob *b = blob_find(w, c->hash, 0);
    if (!b || !b->fetching) {
        log_msg(&w->log, LOG_WARN, "unrequested blob piece hash=%.12s", c->hash);
        return;
    }
    char err[512] = "";
    if (c->error && *c->error) {
        snprintf(err, sizeof err, "%s", c->error);
        goto fail;
    }
    if (c->offset == 0 && !blob_recv_active(&b->rx) &&
        blob_recv_start(&b->rx, w->cache_dir, b->hash, ".part", c->size, err, sizeof err) < 0)
        goto fail;
    int st = blob_recv_piece(&b->rx, c->hash, c->size, c->offset, c->data.data, c->data.len, c->last, err, sizeof err);
    if (st < 0) goto fail;
    if (st == 0) return;
    b->fetching = 0;
    b->present = 1;
    w->blobs_fetched++;
    w->blob_bytes_fetched += c->size;
    log_msg(&w->log, LOG_INFO, "blob fetched hash=%s bytes=%llu", b->hash, (unsigned long long)c->size);
    blobs_changed(w, NULL, NULL);
    return;
fail:
    log_msg(&w->log, LOG_ERROR, "blob fetch failed hash=%s error=\"%s\"", b->hash, err);
    blob_reset(b);
    blobs_changed(w, b->hash, err);
}

/* ---- tasks ----------------------------------------------------------------- */

static void on_task_launch(worker *w, conn *c)
{
    wtask *t = xcalloc(1, sizeof *t);
    t->env = conn_steal_msg(c); /* kept until the task is answered */
    t->t = t->env->task_launch;
    w->ntasks++;
    log_msg(&w->log, LOG_DEBUG, "task received app=%s task=%llu", t->t->app_id, (unsigned long long)t->t->task_id);
    if (w->queue_tail)
        w->queue_tail->next = t;
    else
        w->queue_head = t;
    w->queue_tail = t;
    t->waiting = task_missing(w, t);
    pool_schedule(w);
}

/* ---- the connection ---------------------------------------------------------- */

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__Heartbeat hb = KILN__HEARTBEAT__INIT;
    int running = 0, execs = 0;
    for (wexec *x = w->execs; x; x = x->next) {
        execs++;
        running += x->task != NULL;
    }
    hb.running = (uint32_t)running;
    hb.executors = (uint32_t)execs;
    worker_usage(w, &hb.memory_bytes, &hb.disk_bytes);
    MSG_BODY(env, heartbeat, HEARTBEAT, &hb);
    link_send(w, &env);
}

/* The handshake finished: say who we are. */
static void send_register(worker *w, conn *c)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__RegisterWorker r = KILN__REGISTER_WORKER__INIT;
    r.host = w->host;
    r.data_port = (uint32_t)w->advertised_port;
    r.http_port = (uint32_t)w->http_port;
    r.slots = (uint32_t)w->slots;
    r.name = w->name;
    MSG_BODY(env, register_worker, REGISTER_WORKER, &r);
    conn_send(c, &env);
}

static void driver_msg(conn *c, Kiln__Envelope *m, void *arg)
{
    worker *w = arg;
    if (w->hs.state != HS_DONE) {
        char why[512];
        int st = conn_handshake(c, &w->hs, m, why, sizeof why);
        if (st < 0) {
            w->m.handshake_failures++;
            log_msg(&w->log, LOG_ERROR, "cannot join the driver %s: %s", conn_peer(c), why);
            conn_close(c, 1, "handshake failed");
        } else if (st > 0) {
            w->m.driver_conns++;
            send_register(w, c);
        }
        return;
    }
    switch (m->body_case) {
    case KILN__ENVELOPE__BODY_WORKER_REGISTERED: {
        w->registered = 1;
        w->worker_id = m->worker_registered->worker_id;
        w->driver_http_port = (int)m->worker_registered->http_port;
        w->backoff_ms = BACKOFF_MIN_MS;
        uint64_t hb = w->conf.worker_heartbeat_ms;
        struct timeval tv = {(time_t)(hb / 1000), (suseconds_t)(hb % 1000) * 1000};
        if (!w->heartbeat_ev) w->heartbeat_ev = event_new(w->base, -1, EV_PERSIST, heartbeat_cb, w);
        evtimer_add(w->heartbeat_ev, &tv);
        log_msg(&w->log, LOG_INFO, "registered with driver worker_id=%u driver=%s slots=%d", w->worker_id, conn_peer(c),
                w->slots);
        /* applications that ended while we were away (or dead) leave nothing */
        pool_sweep_apps(w, m->worker_registered->live_apps, m->worker_registered->n_live_apps);
        return;
    }
    case KILN__ENVELOPE__BODY_TASK_LAUNCH:
        if (!w->registered) break;
        on_task_launch(w, c);
        return;
    case KILN__ENVELOPE__BODY_BLOB_CHUNK:
        on_blob_chunk(w, m->blob_chunk);
        return;
    case KILN__ENVELOPE__BODY_APP_END:
        pool_end_app(w, m->app_end->app_id, m->app_end->abandoned_dirs, m->app_end->n_abandoned_dirs);
        return;
    case KILN__ENVELOPE__BODY_LOGS_REQUEST:
        if (!w->registered) break;
        logs_request(w, m->logs_request);
        return;
    case KILN__ENVELOPE__BODY_BARRIER_REPLY:
        if (!w->registered) break;
        pool_barrier_reply(w, m);
        return;
    case KILN__ENVELOPE__BODY_CANCEL_TASKS:
        if (!w->registered) break;
        pool_cancel_tasks(w, m->cancel_tasks->app_id, m->cancel_tasks->task_ids, m->cancel_tasks->n_task_ids);
        return;
    case KILN__ENVELOPE__BODY_ERROR:
        log_msg(&w->log, LOG_ERROR, "driver refused us: %s", m->error->message);
        conn_close(c, 0, "refused by driver");
        return;
    default:
        break;
    }
    log_msg(&w->log, LOG_WARN, "unexpected %s from driver", msg_name(m));
    conn_close(c, 0, "protocol error");
}

static void driver_closed(conn *c, const char *reason, void *arg)
{
    worker *w = arg;
    if (w->registered)
        log_msg(&w->log, LOG_WARN, "lost the driver peer=%s: %s", conn_peer(c), reason);
    else
        log_msg(&w->log, LOG_WARN, "cannot reach the driver %s: %s; trying again in %u ms", w->conf.worker_driver,
                reason, (unsigned)w->backoff_ms);
    w->driver = NULL;
    w->registered = 0;
    if (w->heartbeat_ev) evtimer_del(w->heartbeat_ev);
    logs_drop_all(w);
    if (!w->stopping) pool_end_all(w, SIGKILL); /* stopping: main.c ends them in order */
    for (wblob *b = w->blobs; b; b = b->next)
        if (b->fetching) blob_reset(b);
    if (!w->stopping) schedule_reconnect(w);
}

/* The link's output drained: send more of the logs asked for. */
static void logs_drained(conn *c, void *arg)
{
    logs_pump(arg);
}

static void connect_now(worker *w)
{
    char err[256];
    w->driver = conn_connect(w->base, w->conf.worker_driver, w->conf.net_max_frame, driver_msg, driver_closed, w, err,
                             sizeof err);
    if (!w->driver) {
        log_msg(&w->log, LOG_ERROR, "bad driver address: %s; trying again in %u ms", err, (unsigned)w->backoff_ms);
        schedule_reconnect(w);
        return;
    }
    conn_set_drain_cb(w->driver, logs_drained, LOGS_OUT_LOW);
    conn_keep_messages(w->driver); /* each TaskLaunch is kept until answered */
    const Kiln__Envelope *hello;
    if (hs_client_start(&w->hs, &w->secret, KILN__ROLE__ROLE_WORKER, w->name, &hello, err, sizeof err) < 0) {
        log_msg(&w->log, LOG_ERROR, "%s", err);
        conn_close(w->driver, 0, "no hello");
        return;
    }
    conn_send(w->driver, hello);
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    connect_now(arg);
}

static void schedule_reconnect(worker *w)
{
    if (!w->reconnect_ev) w->reconnect_ev = evtimer_new(w->base, reconnect_cb, w);
    struct timeval tv = {(time_t)(w->backoff_ms / 1000), (suseconds_t)(w->backoff_ms % 1000) * 1000};
    evtimer_add(w->reconnect_ev, &tv);
    w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

void link_start(worker *w)
{
    w->backoff_ms = BACKOFF_MIN_MS;
    connect_now(w);
}
