/*
 * rpc.c - the driver's connections. Every connection starts with the
 * handshake (common/handshake.c): a Hello naming its role and, when the
 * cluster has a shared secret, mutual authentication, within
 * net.handshake_timeout; nothing else is read before it finished. After
 * it, a client may register an application, upload blobs, submit jobs, ask
 * for status, read executor logs (logs.c) and kill applications, and a
 * worker may register, heartbeat, fetch blobs, report tasks and send logs. A message that is not allowed in the
 * connection's state is logged with the peer's address and closes that
 * connection only. At most net.max_connections are open at once. What a
 * peer can make the driver hold is bounded: before the handshake by
 * conn.c's handshake frame limit, after it by one frame of input and, for
 * output, by dconn_accepted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver.h"
#include "msg.h"
#include "net.h"
#include "util.h"

/* Output a client may leave unread before its requests wait (see
 * dconn_accepted): far over any reply but a job's results, which a client
 * reads while it sends nothing. */
#define CLIENT_OUT_HIGH (16u << 20)
#define CLIENT_OUT_LOW  (4u << 20)

static void dconn_closed(conn *c, const char *reason, void *arg)
{
    dconn *dc = arg;
    driver *d = dc->d;
    for (dconn **pp = &d->conns; *pp; pp = &(*pp)->next)
        if (*pp == dc) {
            *pp = dc->next;
            d->nconns--;
            break;
        }
    store_upload_abort(dc);
    store_serve_abort(dc);
    logs_client_gone(d, dc);
    if (dc->worker) logs_worker_gone(d, dc->worker);
    if (dc->worker) workers_lost(d, dc->worker, reason);
    if (dc->app) {
        dc->app->client = NULL;
        if (!dc->app->ended) sched_app_ended(d, dc->app, reason);
    }
    if (conn_protocol_error(c))
        log_msg(&d->log, LOG_WARN, "connection closed on a protocol error peer=%s error=\"%s\"", conn_peer(c), reason);
    else if (dc->role == KILN__ROLE__ROLE_UNKNOWN || (dc->role == KILN__ROLE__ROLE_CLIENT && !dc->app))
        log_msg(&d->log, LOG_DEBUG, "connection closed peer=%s reason=\"%s\"", conn_peer(c), reason);
    free(dc);
}

static void refuse(driver *d, dconn *dc, const char *what)
{
    log_msg(&d->log, LOG_WARN, "protocol error peer=%s error=\"%s\"", conn_peer(dc->c), what);
    conn_send_error(dc->c, "%s", what);
    conn_close(dc->c, 1, what);
}

static void app_register(driver *d, dconn *dc, const Kiln__AppRegister *r)
{
    if (dc->app) {
        refuse(d, dc, "this connection already registered an application");
        return;
    }
    history_prune(d, NULL); /* ended applications beyond history.max_apps */
    app *a = xcalloc(1, sizeof *a);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%d%H%M%S", &tm);
    snprintf(a->id, sizeof a->id, "app-%s-%04u", ts, ++d->app_seq);
    snprintf(a->name, sizeof a->name, "%s", r->name);
    snprintf(a->lib_hash, sizeof a->lib_hash, "%s", r->lib_hash);
    snprintf(a->user, sizeof a->user, "%s", r->user);
    a->client = dc;
    a->started_ms = wall_ms();
    a->next = d->apps;
    d->apps = a;
    dc->app = a;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__AppRegistered m = KILN__APP_REGISTERED__INIT;
    m.app_id = a->id;
    m.need_lib = *r->lib_hash && !store_has(d, r->lib_hash);
    m.ui_port = (uint32_t)d->http_port;
    if (*a->lib_hash) store_use(d, a, a->lib_hash); /* none: a Python job */
    MSG_BODY(env, app_registered, APP_REGISTERED, &m);
    conn_send(dc->c, &env);
    eventlog_app_registered(d, a);
    log_msg(&d->log, LOG_INFO, "application registered app=%s name=%s lib=%.12s upload=%s client=%s", a->id, a->name,
            *a->lib_hash ? a->lib_hash : "none", m.need_lib ? "yes" : "no", conn_peer(dc->c));
}

static void info_reply(driver *d, dconn *dc)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__InfoReply r = KILN__INFO_REPLY__INIT;
    size_t nw = 0, na = 0, nj = 0;
    for (dworker *w = d->workers; w; w = w->next)
        nw++;
    for (app *a = d->apps; a; a = a->next) {
        na++;
        for (job *j = a->jobs; j; j = j->next)
            nj++;
    }
    Kiln__WorkerInfo *wi = xcalloc(nw + 1, sizeof *wi), **wp = xcalloc(nw + 1, sizeof *wp);
    Kiln__AppInfo *ai = xcalloc(na + 1, sizeof *ai), **ap = xcalloc(na + 1, sizeof *ap);
    Kiln__JobInfo *ji = xcalloc(nj + 1, sizeof *ji), **jp = xcalloc(nj + 1, sizeof *jp);
    char(*progress)[128] = xcalloc(nj + 1, sizeof *progress);
    static const char *jstate[] = {"running", "succeeded", "failed"};
    size_t i = 0;
    uint64_t now = now_ms(), wall = wall_ms();
    for (dworker *w = d->workers; w; w = w->next, i++) {
        kiln__worker_info__init(&wi[i]);
        wi[i].id = w->id;
        wi[i].name = w->name;
        wi[i].slots = w->slots;
        wi[i].running = worker_running(w); /* executing: at most its slots */
        wi[i].tasks_done = w->tasks_done;
        wi[i].last_heartbeat_ms = now - w->last_heartbeat_ms;
        wi[i].host = w->host;
        wi[i].data_port = w->data_port;
        wi[i].http_port = (uint32_t)w->http_port;
        wp[i] = &wi[i];
    }
    size_t k = 0;
    i = 0;
    for (app *a = d->apps; a; a = a->next, i++) {
        kiln__app_info__init(&ai[i]);
        ai[i].app_id = a->id;
        ai[i].name = a->name;
        ai[i].state = (char *)app_outcome(a);
        ai[i].jobs = a->njobs;
        ai[i].user = a->user;
        ai[i].started_ms = a->started_ms;
        uint64_t end = a->ended ? a->ended_ms : wall;
        ai[i].duration_ms = end > a->started_ms ? end - a->started_ms : 0;
        ai[i].from_history = a->from_history;
        ai[i].end_reason = a->end_reason;
        for (job *j = a->jobs; j; j = j->next, k++) {
            kiln__job_info__init(&ji[k]);
            ji[k].app_id = a->id;
            ji[k].job_id = j->job_id;
            ji[k].state = (char *)jstate[j->state];
            size_t total, done;
            job_task_counts(j, &total, &done); /* every stage's tasks */
            ji[k].tasks = (uint32_t)total;
            ji[k].tasks_done = (uint32_t)done;
            ji[k].stages = job_stage_progress(j, progress[k], sizeof progress[k]);
            ji[k].action = (char *)job_action_name(j->action);
            ai[i].running_tasks += (uint32_t)j->running; /* on workers: counted by place.c */
            jp[k] = &ji[k];
        }
        ap[i] = &ai[i];
    }
    r.n_workers = nw;
    r.workers = wp;
    r.n_apps = na;
    r.apps = ap;
    r.n_jobs = nj;
    r.jobs = jp;
    r.uptime_ms = now - d->started_ms;
    r.stages_serialized = d->stats.serialized;
    r.broadcasts_stored = d->stats.broadcast;
    r.blobs_served = d->blobs_served;
    r.blob_bytes_served = d->blob_bytes_served;
    r.http_port = (uint32_t)d->http_port;
    MSG_BODY(env, info_reply, INFO_REPLY, &r);
    conn_send(dc->c, &env);
    free(wi);
    free(wp);
    free(ai);
    free(ap);
    free(ji);
    free(jp);
    free(progress);
}

/* The running application id, or NULL after answering env (a KillReply,
 * r) with the error. */
static app *running_app(driver *d, dconn *dc, const char *id, Kiln__Envelope *env, Kiln__KillReply *r)
{
    app *a = NULL;
    for (app *x = d->apps; x; x = x->next)
        if (!strcmp(x->id, id)) a = x;
    if (a && !a->ended) return a;
    r->error = xasprintf("no running application %s", id);
    conn_send(dc->c, env);
    free(r->error);
    r->error = NULL;
    return NULL;
}

static void kill_app(driver *d, dconn *dc, const char *id)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__KillReply r = KILN__KILL_REPLY__INIT;
    MSG_BODY(env, kill_reply, KILL_REPLY, &r);
    app *a = running_app(d, dc, id, &env, &r);
    if (!a) return;
    log_msg(&d->log, LOG_INFO, "application killed app=%s by=%s", a->id, conn_peer(dc->c));
    r.ok = 1;
    conn_send(dc->c, &env);
    a->killed = 1;
    if (a->client) {
        dconn *cdc = a->client;
        conn_send_error(cdc->c, "application %s was killed", a->id);
        conn_close(cdc->c, 1, "killed by operator"); /* ends the app via dconn_closed */
    }
}

/* cancelJobGroup / cancelAllJobs of the Python package: fails the named
 * running jobs of one application. */
static void cancel_jobs(driver *d, dconn *dc, const Kiln__CancelJobs *cj)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__KillReply r = KILN__KILL_REPLY__INIT;
    MSG_BODY(env, kill_reply, KILL_REPLY, &r);
    app *a = running_app(d, dc, cj->app_id, &env, &r);
    if (!a) return;
    size_t n = 0;
    for (size_t i = 0; i < cj->n_job_ids; i++)
        n += (size_t)sched_cancel_job(d, a, cj->job_ids[i], cj->reason);
    log_msg(&d->log, LOG_INFO, "jobs cancelled app=%s jobs=%zu by=%s", a->id, n, conn_peer(dc->c));
    r.ok = 1;
    conn_send(dc->c, &env);
}

static void client_msg(driver *d, dconn *dc, Kiln__Envelope *m)
{
    switch (m->body_case) {
    case KILN__ENVELOPE__BODY_APP_REGISTER:
        app_register(d, dc, m->app_register);
        return;
    case KILN__ENVELOPE__BODY_BLOB_PUT:
        if (!dc->app) break;
        store_upload_piece(d, dc, m->blob_put);
        return;
    case KILN__ENVELOPE__BODY_JOB_SUBMIT:
        if (!dc->app) break;
        sched_submit(d, dc->app, dc->c, m->job_submit);
        return;
    case KILN__ENVELOPE__BODY_INFO_REQUEST:
        info_reply(d, dc);
        return;
    case KILN__ENVELOPE__BODY_KILL_APP:
        kill_app(d, dc, m->kill_app->app_id);
        return;
    case KILN__ENVELOPE__BODY_CANCEL_JOBS:
        cancel_jobs(d, dc, m->cancel_jobs);
        return;
    case KILN__ENVELOPE__BODY_APP_STOP:
        if (!dc->app) break;
        if (!dc->app->ended) sched_app_ended(d, dc->app, "the application stopped: its program ended");
        return;
    case KILN__ENVELOPE__BODY_LOGS_REQUEST:
        if (logs_busy(d, dc)) {
            refuse(d, dc, "a logs request before the last one was answered");
            return;
        }
        logs_request(d, dc, conn_steal_msg(dc->c));
        return;
    default:
        break;
    }
    char what[128];
    snprintf(what, sizeof what, "unexpected %s from a client", msg_name(m));
    refuse(d, dc, what);
}

static void worker_msg(driver *d, dconn *dc, Kiln__Envelope *m)
{
    if (m->body_case == KILN__ENVELOPE__BODY_REGISTER_WORKER && !dc->worker) {
        workers_register(d, dc, m->register_worker);
        return;
    }
    dworker *w = dc->worker;
    if (w) {
        switch (m->body_case) {
        case KILN__ENVELOPE__BODY_HEARTBEAT:
            workers_heartbeat(d, w);
            history_heartbeat(w, m->heartbeat);
            return;
        case KILN__ENVELOPE__BODY_BLOB_GET:
            store_serve(d, dc, m->blob_get->hash);
            return;
        case KILN__ENVELOPE__BODY_TASK_OUTPUT:
            sched_task_output(d, w, m->task_output);
            return;
        case KILN__ENVELOPE__BODY_TASK_DONE:
            sched_task_done(d, w, m->task_done);
            return;
        case KILN__ENVELOPE__BODY_BARRIER_SYNC:
            barrier_sync(d, w, m->barrier_sync);
            sched_schedule(d); /* a failed attempt frees slots */
            return;
        case KILN__ENVELOPE__BODY_LOGS_DATA:
            logs_worker_data(d, w, m->logs_data);
            return;
        default:
            break;
        }
    }
    char what[128];
    snprintf(what, sizeof what, "unexpected %s from a worker", msg_name(m));
    refuse(d, dc, what);
}

/* A worker connection's output drained: queue more of the blobs it asked for. */
static void dconn_drained(conn *c, void *arg)
{
    dconn *dc = arg;
    store_pump(dc->d, dc);
}

/* The handshake finished: bound what the peer can make us queue. A client
 * speaks request/reply, so its input waits while it leaves over
 * CLIENT_OUT_HIGH unread; a worker's one request with a reply (BlobGet) is
 * streamed with backpressure by store.c, and its reports and heartbeats
 * are always read. */
static void dconn_accepted(driver *d, dconn *dc)
{
    dc->role = dc->hs.peer_role;
    if (dc->role == KILN__ROLE__ROLE_CLIENT)
        conn_set_output_limit(dc->c, CLIENT_OUT_HIGH, CLIENT_OUT_LOW);
    else
        conn_set_drain_cb(dc->c, dconn_drained, STORE_OUT_LOW);
    log_msg(&d->log, LOG_DEBUG, "connection accepted peer=%s role=%s auth=%s", conn_peer(dc->c),
            dc->role == KILN__ROLE__ROLE_CLIENT ? "client" : "worker", auth_enabled(&d->secret) ? "yes" : "no");
}

static void dconn_msg(conn *c, Kiln__Envelope *m, void *arg)
{
    dconn *dc = arg;
    driver *d = dc->d;
    if (dc->hs.state != HS_DONE) {
        char why[512];
        int st = conn_handshake(c, &dc->hs, m, why, sizeof why);
        if (st < 0) {
            d->m.handshake_failures++;
            log_msg(&d->log, LOG_WARN, "connection refused peer=%s error=\"%s\"", conn_peer(c), why);
            conn_close(c, 1, why);
        } else if (st > 0) {
            dconn_accepted(d, dc);
        }
        return;
    }
    if (dc->role == KILN__ROLE__ROLE_CLIENT)
        client_msg(d, dc, m);
    else
        worker_msg(d, dc, m);
}

void rpc_accept(driver *d, evutil_socket_t fd)
{
    if (d->nconns >= d->rpc_max_conns) {
        char peer[64];
        net_peer_name(fd, peer, sizeof peer);
        uint64_t held;
        if (ratelog_due(&d->refused_log, LISTEN_LOG_EVERY_MS, &held))
            log_msg(&d->log, LOG_WARN, "too many connections, closing a new one peer=%s limit=%llu refused_since=%llu",
                    peer, (unsigned long long)d->rpc_max_conns, (unsigned long long)held + 1);
        evutil_closesocket(fd);
        d->m.conns_refused++;
        return;
    }
    d->m.conns_accepted++;
    dconn *dc = xcalloc(1, sizeof *dc);
    dc->d = d;
    blob_recv_init(&dc->up);
    hs_server_init(&dc->hs, &d->secret, KILN__ROLE__ROLE_DRIVER,
                   HS_ROLE(KILN__ROLE__ROLE_CLIENT) | HS_ROLE(KILN__ROLE__ROLE_WORKER));
    dc->c = conn_new(d->base, fd, d->conf.net_max_frame, dconn_msg, dconn_closed, dc);
    conn_set_deadline(dc->c, d->conf.net_handshake_timeout_ms, "no handshake within net.handshake_timeout");
    dc->next = d->conns;
    d->conns = dc;
    d->nconns++;
}

void rpc_close_all(driver *d, const char *why)
{
    /* clients first hear that their running jobs failed, and why */
    for (dconn *dc = d->conns; dc; dc = dc->next)
        if (dc->app && !dc->app->ended) sched_app_ended(d, dc->app, why);
    while (d->conns)
        conn_close(d->conns->c, 1, why);
}
