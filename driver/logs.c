/*
 * logs.c - the driver's side of `kiln logs`: a client's LogsRequest is
 * answered by relaying each worker's executor logs of the application.
 *
 * The driver holds no log. An answer (a logs_round) asks the registered
 * workers one at a time, passing each the cursors the client holds for its
 * files, forwards the pieces it sends (LogsData, at most LOGS_PIECE_MAX
 * each, at most a few MiB per worker answer: worker/logs.c), and asks the
 * next worker only once the client's connection has at most
 * LOGS_CLIENT_LOW unread; the client connection's drain callback resumes
 * it. So a client that reads slowly holds the driver to about one worker's
 * answer. A worker that stops at its budget ends the round (so the next
 * round goes on in the same file, and a file's bytes come in one run);
 * the round ends with a LogsData{last} saying whether any worker (or the
 * driver) knew the application, whether one stopped at its budget (the
 * client asks again at once), and whether the application had ended when
 * the round began (a --follow stops after that round).
 *
 * An application the driver no longer knows (ended before a restart) is
 * still asked for: its logs stay on the workers.
 */
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "msg.h"
#include "util.h"

#define LOGS_CLIENT_LOW (4u << 20)

struct logs_round {
    uint32_t id;
    dconn *client;
    Kiln__Envelope *env; /* owned: the client's LogsRequest */
    uint32_t *workers;   /* ids of the workers to ask, in order */
    size_t nworkers, next;
    uint32_t asked; /* the worker answering now; 0: none */
    int found, more, ended, final;
    logs_round *next_round;
};

static void round_free(driver *d, logs_round *r)
{
    for (logs_round **pp = &d->logs; *pp; pp = &(*pp)->next_round)
        if (*pp == r) {
            *pp = r->next_round;
            break;
        }
    msg_free(r->env);
    free(r->workers);
    free(r);
}

static dworker *worker_by_id(driver *d, uint32_t id)
{
    for (dworker *w = d->workers; w; w = w->next)
        if (w->id == id) return w;
    return NULL;
}

static void ask(driver *d, logs_round *r, dworker *w)
{
    const Kiln__LogsRequest *q = r->env->logs_request;
    Kiln__LogCursor **mine = xcalloc(q->n_cursors + 1, sizeof *mine);
    size_t n = 0;
    for (size_t i = 0; i < q->n_cursors; i++)
        if (!strcmp(q->cursors[i]->worker, w->name)) mine[n++] = q->cursors[i];
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__LogsRequest m = KILN__LOGS_REQUEST__INIT;
    m.app_id = q->app_id;
    m.job_id = q->job_id;
    m.task_id = q->task_id;
    m.follow = q->follow;
    m.cursors = mine;
    m.n_cursors = n;
    m.request_id = r->id;
    m.final = r->final;
    MSG_BODY(env, logs_request, LOGS_REQUEST, &m);
    conn_send(w->dc->c, &env);
    free(mine);
    r->asked = w->id;
}

/* Asks the next worker, or ends the round (freeing r) when none is left. */
static void round_advance(driver *d, logs_round *r)
{
    while (r->next < r->nworkers) {
        if (conn_output_pending(r->client->c) > LOGS_CLIENT_LOW) return; /* logs_client_drained goes on */
        dworker *w = worker_by_id(d, r->workers[r->next]);
        if (!w || !w->dc || conn_is_closing(w->dc->c)) {
            r->next++;
            continue;
        }
        ask(d, r, w);
        return;
    }
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__LogsData m = KILN__LOGS_DATA__INIT;
    m.last = 1;
    m.more = r->more;
    m.found = r->found;
    m.ended = r->ended;
    MSG_BODY(env, logs_data, LOGS_DATA, &m);
    conn_send(r->client->c, &env);
    round_free(d, r);
}

static logs_round *round_of_client(driver *d, const dconn *dc)
{
    for (logs_round *r = d->logs; r; r = r->next_round)
        if (r->client == dc) return r;
    return NULL;
}

/* The client read most of what was queued: ask the next worker. */
static void logs_client_drained(conn *c, void *arg)
{
    dconn *dc = arg;
    logs_round *r = round_of_client(dc->d, dc);
    if (r && !r->asked) round_advance(dc->d, r);
}

int logs_busy(driver *d, const dconn *dc)
{
    return round_of_client(d, dc) != NULL;
}

void logs_request(driver *d, dconn *dc, Kiln__Envelope *env)
{
    const Kiln__LogsRequest *q = env->logs_request;
    logs_round *r = xcalloc(1, sizeof *r);
    if (++d->logs_seq == 0) d->logs_seq = 1; /* 0 is no round */
    r->id = d->logs_seq;
    r->client = dc;
    r->env = env;
    app *a = NULL;
    for (app *x = d->apps; x; x = x->next)
        if (!strcmp(x->id, q->app_id)) a = x;
    r->found = a != NULL;
    r->ended = !a || a->ended;
    r->final = !q->follow || r->ended;
    size_t n = 0;
    for (dworker *w = d->workers; w; w = w->next)
        n++;
    r->workers = xcalloc(n + 1, sizeof *r->workers);
    for (dworker *w = d->workers; w; w = w->next)
        r->workers[r->nworkers++] = w->id;
    r->next_round = d->logs;
    d->logs = r;
    conn_set_drain_cb(dc->c, logs_client_drained, LOGS_CLIENT_LOW);
    log_msg(&d->log, LOG_DEBUG, "logs requested app=%s known=%s follow=%s cursors=%zu client=%s", q->app_id,
            a ? "yes" : "no", q->follow ? "yes" : "no", q->n_cursors, conn_peer(dc->c));
    round_advance(d, r);
}

void logs_worker_data(driver *d, dworker *w, const Kiln__LogsData *m)
{
    logs_round *r = d->logs;
    while (r && r->id != m->request_id)
        r = r->next_round;
    if (!r || r->asked != w->id) return; /* its client went away */
    if (!m->last) {
        /* the worker's name as the driver knows it, whatever it said */
        Kiln__LogsData out = *m;
        Kiln__LogCursor c = *m->cursor;
        c.worker = w->name;
        out.cursor = &c;
        out.request_id = 0;
        Kiln__Envelope env = KILN__ENVELOPE__INIT;
        MSG_BODY(env, logs_data, LOGS_DATA, &out);
        conn_send(r->client->c, &env);
        return;
    }
    r->found |= m->found;
    r->asked = 0;
    r->next++;
    if (m->more) { /* the client asks again from here: each file's bytes come in one run */
        r->more = 1;
        r->next = r->nworkers;
    }
    round_advance(d, r);
}

void logs_client_gone(driver *d, dconn *dc)
{
    logs_round *r;
    while ((r = round_of_client(d, dc)))
        round_free(d, r);
}

void logs_worker_gone(driver *d, dworker *w)
{
    for (logs_round *r = d->logs, *next; r; r = next) {
        next = r->next_round; /* round_advance may free r */
        if (r->asked != w->id) continue;
        r->asked = 0;
        r->next++;
        r->more = 1; /* what it had not sent yet: the client may ask again */
        round_advance(d, r);
    }
}
