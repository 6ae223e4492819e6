/*
 * workers.c - the driver's worker registry: registration, heartbeats, and
 * removal when a connection drops or heartbeats stop for worker.timeout.
 * A removed worker's running tasks go back to the pending queue; a worker
 * that comes back registers as a new worker with a new id. The answer to
 * a registration names the applications still running, so that the worker
 * can remove what the others left behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "msg.h"
#include "util.h"

void workers_register(driver *d, dconn *dc, const Kiln__RegisterWorker *r)
{
    dworker *w = xcalloc(1, sizeof *w);
    w->id = ++d->next_worker_id;
    w->dc = dc;
    snprintf(w->name, sizeof w->name, "%s", r->name);
    snprintf(w->host, sizeof w->host, "%s", r->host);
    w->data_port = r->data_port;
    w->http_port = r->http_port;
    w->slots = r->slots;
    w->last_heartbeat_ms = now_ms();
    w->next = d->workers;
    d->workers = w;
    dc->worker = w;
    place_worker_add(&d->place, w);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__WorkerRegistered m = KILN__WORKER_REGISTERED__INIT;
    m.worker_id = w->id;
    m.heartbeat_ms = d->conf.worker_heartbeat_ms;
    m.http_port = (uint32_t)d->http_port;
    size_t napps = 0;
    for (app *a = d->apps; a; a = a->next)
        napps += !a->ended;
    m.live_apps = xcalloc(napps + 1, sizeof *m.live_apps);
    for (app *a = d->apps; a; a = a->next)
        if (!a->ended) m.live_apps[m.n_live_apps++] = a->id;
    MSG_BODY(env, worker_registered, WORKER_REGISTERED, &m);
    conn_send(dc->c, &env);
    free(m.live_apps);
    log_msg(&d->log, LOG_INFO, "worker registered id=%u name=%s addr=%s slots=%u", w->id, w->name, conn_peer(dc->c),
            w->slots);
    sched_schedule(d);
}

void workers_heartbeat(driver *d, dworker *w)
{
    w->last_heartbeat_ms = now_ms();
}

void workers_lost(driver *d, dworker *w, const char *reason)
{
    for (dworker **pp = &d->workers; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    log_msg(&d->log, LOG_WARN, "worker lost id=%u name=%s reason=\"%s\" running=%u", w->id, w->name, reason,
            w->running);
    place_worker_remove(&d->place, w); /* placed no more; its own queue goes to the fifo */
    if (w->dc) w->dc->worker = NULL;
    loss_worker_lost(d, w);
    free(w);
    sched_schedule(d);
}

void workers_tick(driver *d)
{
    uint64_t now = now_ms();
    for (dworker *w = d->workers; w; w = w->next)
        if (now - w->last_heartbeat_ms > d->conf.worker_timeout_ms && w->dc && !conn_is_closing(w->dc->c)) {
            char why[128];
            snprintf(why, sizeof why, "no heartbeat for %llu ms", (unsigned long long)(now - w->last_heartbeat_ms));
            conn_close(w->dc->c, 0, why); /* rpc's close callback calls workers_lost */
            return;                       /* the list changed */
        }
}

void workers_broadcast(driver *d, const Kiln__Envelope *env)
{
    for (dworker *w = d->workers; w; w = w->next)
        if (w->dc) conn_send(w->dc->c, env);
}
