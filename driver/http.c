/*
 * http.c - the driver's HTTP port: routing, the JSON API under /api/v1/,
 * Prometheus /metrics, and the older /status JSON. The HTML pages are
 * ui.c's. Everything here only reads the driver's state; it runs on the
 * event loop like the rest, so what it shows is one consistent moment.
 *
 *   /                                 applications, running and finished
 *   /app/APP                          an application's jobs, executor logs
 *   /app/APP/job/N                    a job's stages and their graph
 *   /app/APP/stage/S                  a stage's task attempts
 *   /workers                          workers
 *   /metrics                          Prometheus text format
 *   /api/v1/applications[/APP[/jobs[/N]|/stages[/S]]], /api/v1/workers
 *   /status, /json                    the status JSON of earlier versions
 *
 * Applications read from their event logs after a restart (eventlog.c)
 * are served like the others, marked "from_history" (their stages list no
 * task attempts). Anything else is 404; methods other than GET and HEAD are 405. Strings
 * clients and workers chose reach JSON only through jansson.
 */
#include <event2/buffer.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "httpd.h"
#include "metrics.h"
#include "util.h"

app *http_find_app(driver *d, const char *id)
{
    for (app *a = d->apps; a; a = a->next)
        if (!strcmp(a->id, id)) return a;
    return NULL;
}

job *http_find_job(app *a, uint32_t job_id)
{
    for (job *j = a->jobs; j; j = j->next)
        if (j->job_id == job_id) return j;
    return NULL;
}

dstage *http_find_stage(app *a, uint32_t sid)
{
    if (!sid) return NULL;
    for (job *j = a->jobs; j; j = j->next)
        for (size_t i = 0; i < j->nstages; i++)
            if (j->stages[i].id == sid) return &j->stages[i];
    return NULL;
}

int http_app_running(const app *a)
{
    return !a->ended;
}

/* ---- JSON -------------------------------------------------------------------- */

static json_t *jint(uint64_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *app_json(const app *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "name", json_string(a->name));
    json_object_set_new(o, "user", json_string(a->user));
    json_object_set_new(o, "state", json_string(app_outcome(a)));
    json_object_set_new(o, "from_history", json_boolean(a->from_history)); /* read from its event log */
    json_object_set_new(o, "started_ms", jint(a->started_ms));
    json_object_set_new(o, "ended_ms", a->ended ? jint(a->ended_ms) : json_null());
    json_object_set_new(o, "end_reason", a->ended ? json_string(a->end_reason) : json_null());
    json_object_set_new(o, "jobs", json_integer(a->njobs));
    return o;
}

static json_t *stage_json(const dstage *s)
{
    const stage_record *r = &s->rec;
    json_t *o = json_object();
    json_object_set_new(o, "stage_id", s->id ? json_integer(s->id) : json_null());
    json_object_set_new(o, "index", jint(s->index));
    json_object_set_new(o, "job_id", json_integer(s->job->job_id));
    json_object_set_new(o, "kind", json_string(r->kind));
    json_object_set_new(o, "state", json_string(stage_state_name(s)));
    json_object_set_new(o, "tasks", jint(r->ntasks));
    size_t done = s->state == STAGE_DONE && !r->skipped ? r->ntasks : (s->state == STAGE_RUNNING ? s->ndone : 0);
    json_object_set_new(o, "tasks_done", jint(done));
    json_object_set_new(o, "failed_attempts", jint(r->failed));
    json_object_set_new(o, "functions", json_string(r->fn_names ? r->fn_names : ""));
    json_object_set_new(o, "shuffle_write_id", r->is_map ? json_integer(r->writes) : json_null());
    json_t *reads = json_array();
    for (size_t i = 0; i < r->nreads; i++)
        json_array_append_new(reads, json_integer(r->reads[i]));
    json_object_set_new(o, "shuffle_read_ids", reads);
    json_object_set_new(o, "records_in", jint(r->records_in));
    json_object_set_new(o, "records_out", jint(r->records_out));
    json_object_set_new(o, "bytes_in", jint(r->bytes_in));
    json_object_set_new(o, "bytes_out", jint(r->bytes_out));
    json_object_set_new(o, "shuffle_read_bytes", jint(r->shuffle_read));
    json_object_set_new(o, "shuffle_write_bytes", jint(r->shuffle_write));
    json_object_set_new(o, "spills", jint(r->spills));
    json_object_set_new(o, "spill_bytes", jint(r->spill_bytes));
    json_object_set_new(o, "started_ms", r->started_ms ? jint(r->started_ms) : json_null());
    json_object_set_new(o, "ended_ms", r->ended_ms ? jint(r->ended_ms) : json_null());
    json_object_set_new(o, "attempts_not_kept", jint(r->rows_dropped));
    return o;
}

static json_t *job_json(const job *j, int with_stages)
{
    json_t *o = json_object();
    size_t total, done;
    job_task_counts(j, &total, &done);
    char progress[256];
    json_object_set_new(o, "job_id", json_integer(j->job_id));
    json_object_set_new(o, "app_id", json_string(j->app->id));
    json_object_set_new(o, "action", json_string(j->stages && j->nstages ? j->stages[0].rec.kind : "?"));
    json_object_set_new(o, "state", json_string(job_state_name(j)));
    json_object_set_new(o, "submitted_ms", jint(j->submitted_wall_ms));
    json_object_set_new(o, "ended_ms", j->ended_wall_ms ? jint(j->ended_wall_ms) : json_null());
    json_object_set_new(o, "error", j->state == JOB_FAILED ? json_string(j->error) : json_null());
    json_object_set_new(o, "tasks", jint(total));
    json_object_set_new(o, "tasks_done", jint(done));
    json_object_set_new(o, "stage_progress", json_string(job_stage_progress(j, progress, sizeof progress)));
    json_object_set_new(o, "stages_count", jint(j->nstages));
    if (with_stages) {
        json_t *st = json_array();
        for (size_t i = j->nstages; i-- > 0;)
            json_array_append_new(st, stage_json(&j->stages[i]));
        json_object_set_new(o, "stages", st);
    }
    return o;
}

static json_t *row_json(const task_row *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "task_id", jint(t->task_id));
    json_object_set_new(o, "partition", json_integer(t->partition));
    json_object_set_new(o, "attempt", json_integer(t->attempt));
    json_object_set_new(o, "worker_id", json_integer(t->worker_id));
    json_object_set_new(o, "worker", json_string(t->worker));
    json_object_set_new(o, "state", json_string(row_state_name(t->state)));
    json_object_set_new(o, "sampling", json_boolean(t->sample));
    json_object_set_new(o, "started_ms", jint(t->started_ms));
    json_object_set_new(o, "duration_ms", t->ended_ms ? jint(t->ended_ms - t->started_ms) : json_null());
    json_object_set_new(o, "records_in", jint(t->records_in));
    json_object_set_new(o, "records_out", jint(t->records_out));
    json_object_set_new(o, "bytes_in", jint(t->bytes_in));
    json_object_set_new(o, "bytes_out", jint(t->bytes_out));
    json_object_set_new(o, "shuffle_read_bytes", jint(t->shuffle_read));
    json_object_set_new(o, "shuffle_write_bytes", jint(t->shuffle_write));
    json_object_set_new(o, "spills", jint(t->spills));
    json_object_set_new(o, "spill_bytes", jint(t->spill_bytes));
    json_object_set_new(o, "error", t->error ? json_string(t->error) : json_null());
    return o;
}

static json_t *workers_json(driver *d)
{
    json_t *ws = json_array();
    uint64_t now = now_ms();
    for (dworker *w = d->workers; w; w = w->next) {
        json_t *x = json_object();
        json_object_set_new(x, "id", json_integer(w->id));
        json_object_set_new(x, "name", json_string(w->name));
        json_object_set_new(x, "host", json_string(w->host));
        json_object_set_new(x, "data_port", json_integer(w->data_port));
        json_object_set_new(x, "http_port", json_integer(w->http_port));
        json_object_set_new(x, "slots", json_integer(w->slots));
        json_object_set_new(x, "running", json_integer(worker_running(w)));
        json_object_set_new(x, "queued", json_integer(worker_queued(w)));
        json_object_set_new(x, "executors", json_integer(w->hb_executors));
        json_object_set_new(x, "memory_bytes", jint(w->memory_bytes));
        json_object_set_new(x, "disk_bytes", jint(w->disk_bytes));
        json_object_set_new(x, "tasks_done", jint(w->tasks_done));
        json_object_set_new(x, "heartbeat_age_ms", jint(now - w->last_heartbeat_ms));
        json_array_append_new(ws, x);
    }
    return ws;
}

/* The status JSON of earlier versions (tests and scripts read it). */
static json_t *status_json(driver *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "uptime_ms", jint(now_ms() - d->started_ms));
    json_object_set_new(o, "rpc_port", json_integer(d->rpc_port));
    json_object_set_new(o, "stages_serialized", jint(d->stats.serialized));
    json_object_set_new(o, "stages_broadcast", jint(d->stats.broadcast));
    json_object_set_new(o, "blobs_served", jint(d->blobs_served));
    json_object_set_new(o, "blob_bytes_served", jint(d->blob_bytes_served));
    json_object_set_new(o, "tasks_launched", jint(d->tasks_launched));
    json_object_set_new(o, "workers", workers_json(d));
    json_t *as = json_array();
    for (app *a = d->apps; a; a = a->next)
        json_array_append_new(as, app_json(a));
    json_object_set_new(o, "applications", as);
    return o;
}

/* The answer to /api/v1/...: a new JSON value, or NULL for 404. */
static json_t *api(driver *d, char **parts, size_t n)
{
    if (n == 1 && !strcmp(parts[0], "workers")) return workers_json(d);
    if (!strcmp(parts[0], "applications")) {
        if (n == 1) {
            json_t *as = json_array();
            for (app *a = d->apps; a; a = a->next)
                json_array_append_new(as, app_json(a));
            return as;
        }
        app *a = http_find_app(d, parts[1]);
        if (!a) return NULL;
        if (n == 2) {
            json_t *o = app_json(a);
            json_t *js = json_array();
            for (job *j = a->jobs; j; j = j->next)
                json_array_append_new(js, job_json(j, 0));
            json_object_set_new(o, "job_list", js);
            return o;
        }
        char *end;
        if (!strcmp(parts[2], "jobs")) {
            if (n == 3) {
                json_t *js = json_array();
                for (job *j = a->jobs; j; j = j->next)
                    json_array_append_new(js, job_json(j, 0));
                return js;
            }
            unsigned long id = strtoul(parts[3], &end, 10);
            job *j = n == 4 && !*end && *parts[3] ? http_find_job(a, (uint32_t)id) : NULL;
            return j ? job_json(j, 1) : NULL;
        }
        if (!strcmp(parts[2], "stages")) {
            if (n == 3) {
                json_t *ss = json_array();
                for (job *j = a->jobs; j; j = j->next)
                    for (size_t i = j->nstages; i-- > 0;)
                        json_array_append_new(ss, stage_json(&j->stages[i]));
                return ss;
            }
            unsigned long id = strtoul(parts[3], &end, 10);
            dstage *s = n == 4 && !*end && *parts[3] ? http_find_stage(a, (uint32_t)id) : NULL;
            if (!s) return NULL;
            json_t *o = stage_json(s);
            json_t *ts = json_array();
            for (size_t i = 0; i < s->rec.nrows; i++)
                json_array_append_new(ts, row_json(&s->rec.rows[i]));
            json_object_set_new(o, "task_list", ts);
            return o;
        }
    }
    return NULL;
}

/* ---- /metrics ------------------------------------------------------------------ */

static void by_outcome(FILE *f, const char *name, const char *help, const char **names, const uint64_t *v, size_t n)
{
    metrics_family(f, name, "counter", help);
    char lab[128];
    for (size_t i = 0; i < n; i++)
        metrics_sample(f, name, metrics_label(lab, sizeof lab, "outcome", names[i]), (double)v[i]);
}

static void metrics_write(driver *d, FILE *f)
{
    const driver_metrics *m = &d->m;
    metrics_process(f, d->started_wall_ms);
    const char *jn[] = {"succeeded", "failed"};
    uint64_t jv[] = {m->jobs_succeeded, m->jobs_failed};
    by_outcome(f, "kiln_jobs_total", "Jobs finished, by outcome.", jn, jv, 2);
    const char *sn[] = {"succeeded", "failed", "skipped"};
    uint64_t sv[] = {m->stages_succeeded, m->stages_failed, m->stages_skipped};
    by_outcome(f, "kiln_stages_total", "Stages finished, by outcome (skipped: an earlier job wrote its shuffle).", sn,
               sv, 3);
    const char *tn[] = {"succeeded", "failed", "fetch_failed", "killed", "lost"};
    by_outcome(f, "kiln_tasks_total", "Task attempts finished, by outcome.", tn, m->tasks + 1, 5);
    const char *an[] = {"succeeded", "failed", "killed"};
    uint64_t av[] = {m->apps_succeeded, m->apps_failed, m->apps_killed};
    by_outcome(f, "kiln_applications_total", "Applications ended, by outcome.", an, av, 3);
    size_t jobs_running = 0, apps_running = 0, tasks_running = 0, executors = 0, workers = 0, slots = 0;
    for (app *a = d->apps; a; a = a->next) {
        apps_running += !a->ended;
        for (job *j = a->jobs; j; j = j->next)
            jobs_running += j->state == JOB_RUNNING;
    }
    for (dworker *w = d->workers; w; w = w->next) {
        workers++;
        slots += w->slots;
        tasks_running += w->running;
        executors += w->hb_executors;
    }
    metrics_gauge(f, "kiln_applications_running", "Applications running.", (double)apps_running);
    metrics_gauge(f, "kiln_jobs_running", "Jobs running.", (double)jobs_running);
    metrics_gauge(f, "kiln_tasks_running", "Task attempts launched and not answered.", (double)tasks_running);
    metrics_family(f, "kiln_task_duration_seconds", "histogram", "Duration of finished task attempts.");
    metrics_histogram(f, "kiln_task_duration_seconds", NULL, &m->task_seconds);
    metrics_counter(f, "kiln_records_read_total", "Records read by successful tasks.", m->records_in);
    metrics_counter(f, "kiln_records_written_total", "Records written by successful tasks.", m->records_out);
    metrics_counter(f, "kiln_input_bytes_total", "Bytes read by successful tasks (splits, blocks, shuffle).",
                    m->bytes_in);
    metrics_counter(f, "kiln_output_bytes_total", "Bytes written by successful tasks (results, shuffle).",
                    m->bytes_out);
    metrics_counter(f, "kiln_shuffle_read_bytes_total", "Shuffle bytes read by successful reduce tasks.",
                    m->shuffle_read);
    metrics_counter(f, "kiln_shuffle_write_bytes_total", "Shuffle bytes written by successful map tasks.",
                    m->shuffle_write);
    metrics_counter(f, "kiln_spills_total", "Spill files written by successful tasks.", m->spills);
    metrics_counter(f, "kiln_spill_bytes_total", "Bytes spilled by successful tasks.", m->spill_bytes);
    metrics_counter(f, "kiln_blobs_stored_total", "Stage functions stored as broadcast blobs.", d->stats.broadcast);
    metrics_counter(f, "kiln_stages_serialized_total", "Stage functions serialized.", d->stats.serialized);
    metrics_counter(f, "kiln_blobs_served_total", "Blobs served to workers.", d->blobs_served);
    metrics_counter(f, "kiln_blob_bytes_served_total", "Blob bytes served to workers.", d->blob_bytes_served);
    metrics_counter(f, "kiln_blobs_dropped_total", "Blobs dropped by store.retention.", d->blobs_dropped);
    metrics_counter(f, "kiln_connections_total", "RPC connections accepted.", m->conns_accepted);
    metrics_counter(f, "kiln_connections_refused_total", "RPC connections closed at once (net.max_connections).",
                    m->conns_refused);
    metrics_counter(f, "kiln_authentication_failures_total", "RPC handshakes refused (authentication, version, role).",
                    m->handshake_failures);
    metrics_gauge(f, "kiln_connections_open", "RPC connections open.", (double)d->nconns);
    metrics_gauge(f, "kiln_connections_max", "RPC connections allowed at once (net.max_connections within the "
                  "descriptor limit).", (double)d->rpc_max_conns);
    metrics_counter(f, "kiln_accept_backoffs_total", "Times the RPC port paused accepting (out of descriptors).",
                    listen_guard_backoffs(d->rpc_listener));
    httpd_metrics(d->http, f, "kiln");
    metrics_gauge(f, "kiln_workers", "Workers registered.", (double)workers);
    metrics_gauge(f, "kiln_slots", "Slots of the registered workers.", (double)slots);
    metrics_gauge(f, "kiln_executors_alive", "Executors alive on the workers (their last heartbeats).",
                  (double)executors);
    metrics_gauge(f, "process_resident_memory_bytes", "Resident memory of the driver.", (double)metrics_rss_bytes(0));
    metrics_gauge(f, "kiln_uptime_seconds", "Seconds since the driver started.",
                  (double)(now_ms() - d->started_ms) / 1000.0);
}

/* ---- routing ------------------------------------------------------------------- */

/* An HTML page for parts[], or 404. */
static void route_page(driver *d, httpd_req *req, char **parts, size_t n, struct evbuffer *b)
{
    if (n == 0) {
        ui_apps(d, b);
        httpd_reply(req, 200, HTTPD_HTML, b);
        return;
    }
    if (n == 1 && !strcmp(parts[0], "workers")) {
        ui_workers(d, b);
        httpd_reply(req, 200, HTTPD_HTML, b);
        return;
    }
    app *a = n >= 2 && !strcmp(parts[0], "app") ? http_find_app(d, parts[1]) : NULL;
    char *end = NULL;
    unsigned long id = n == 4 ? strtoul(parts[3], &end, 10) : 0;
    int num = n == 4 && *parts[3] && !*end;
    if (a && n == 2) {
        ui_app(d, b, a);
        httpd_reply(req, 200, HTTPD_HTML, b);
        return;
    }
    if (a && num && !strcmp(parts[2], "job")) {
        job *j = http_find_job(a, (uint32_t)id);
        if (j) {
            ui_job(d, b, j);
            httpd_reply(req, 200, HTTPD_HTML, b);
            return;
        }
    }
    if (a && num && !strcmp(parts[2], "stage")) {
        dstage *s = http_find_stage(a, (uint32_t)id);
        if (s) {
            ui_stage(d, b, s);
            httpd_reply(req, 200, HTTPD_HTML, b);
            return;
        }
    }
    ui_not_found(b, "no such page");
    httpd_reply(req, 404, HTTPD_HTML, b);
}

static void metrics_cb(void *arg, FILE *f)
{
    metrics_write(arg, f);
}

void http_serve(httpd_req *req, void *arg)
{
    driver *d = arg;
    struct evbuffer *b = evbuffer_new();
    httpd_path p;
    if (httpd_begin(req, b, &p) < 0) {
        evbuffer_free(b);
        return;
    }
    char **parts = p.parts;
    size_t n = p.n;
    if (n == HTTPD_TOO_DEEP) {
        ui_not_found(b, "no such page");
        httpd_reply(req, 404, HTTPD_HTML, b);
    } else if (n == 1 && !strcmp(parts[0], "metrics")) {
        httpd_reply_metrics(req, b, metrics_cb, d);
    } else if (n == 1 && (!strcmp(parts[0], "status") || !strcmp(parts[0], "json"))) {
        httpd_reply_json(req, status_json(d), b);
    } else if (n >= 2 && !strcmp(parts[0], "api") && !strcmp(parts[1], "v1")) {
        httpd_reply_json(req, n >= 3 ? api(d, parts + 2, n - 2) : NULL, b);
    } else {
        route_page(d, req, parts, n, b);
    }
    httpd_path_release(&p);
    evbuffer_free(b);
}
