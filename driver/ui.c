/*
 * ui.c - the driver's HTML pages (routed by http.c): applications, an
 * application's jobs, a job's stages with an SVG of the stage graph, a
 * stage's task attempts, workers. Plain HTML with one inline style sheet;
 * no script. A page showing something that still runs refreshes itself
 * every 2 s (meta refresh).
 *
 * Every string a client or a worker chose (application, worker and
 * function names, errors, hosts) passes html_escape before it is written,
 * in text and in attributes alike; numbers and our own words are written
 * as they are.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "httpd.h"
#include "text.h"
#include "util.h"


static void page_start(struct evbuffer *b, const char *title, int refresh)
{
    evbuffer_add_printf(b, "<!doctype html><html><head><meta charset=\"utf-8\">%s<title>",
                        refresh ? "<meta http-equiv=\"refresh\" content=\"2\">" : "");
    httpd_put_esc(b, title);
    evbuffer_add_printf(b,
                        " - kiln</title><style>%s</style></head><body>\n"
                        "<nav><a href=\"/\">Applications</a><a href=\"/workers\">Workers</a>"
                        "<a href=\"/metrics\">Metrics</a><a href=\"/api/v1/applications\">API</a></nav>\n<h1>",
                        httpd_style);
    httpd_put_esc(b, title);
    evbuffer_add_printf(b, "</h1>\n");
}

static void page_end(struct evbuffer *b)
{
    evbuffer_add_printf(b, "</body></html>\n");
}

static void put_time(struct evbuffer *b, uint64_t wall)
{
    if (!wall) {
        evbuffer_add_printf(b, "-");
        return;
    }
    time_t t = (time_t)(wall / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char s[32];
    strftime(s, sizeof s, "%Y-%m-%d %H:%M:%S", &tm);
    evbuffer_add_printf(b, "%s", s);
}

/* A duration from start to end (or to now while it runs). */
static void put_duration(struct evbuffer *b, uint64_t start, uint64_t end)
{
    if (!start) {
        evbuffer_add_printf(b, "-");
        return;
    }
    uint64_t ms = (end ? end : wall_ms()) - start;
    if (end < start && end) ms = 0;
    if (ms < 1000)
        evbuffer_add_printf(b, "%llu ms", (unsigned long long)ms);
    else if (ms < 120000)
        evbuffer_add_printf(b, "%.1f s", (double)ms / 1000.0);
    else
        evbuffer_add_printf(b, "%.1f min", (double)ms / 60000.0);
}

static void put_bytes(struct evbuffer *b, uint64_t v)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double x = (double)v;
    int u = 0;
    while (x >= 1024 && u < 4) {
        x /= 1024;
        u++;
    }
    if (u == 0)
        evbuffer_add_printf(b, "%llu B", (unsigned long long)v);
    else
        evbuffer_add_printf(b, "%.1f %s", x, unit[u]);
}

static void td_bytes(struct evbuffer *b, uint64_t v)
{
    evbuffer_add_printf(b, "<td class=n>");
    put_bytes(b, v);
    evbuffer_add_printf(b, "</td>");
}

static void td_num(struct evbuffer *b, uint64_t v)
{
    char g[32];
    evbuffer_add_printf(b, "<td class=n>%s</td>", fmt_grouped(v, g, sizeof g));
}

static void td_state(struct evbuffer *b, const char *state)
{
    evbuffer_add_printf(b, "<td class=\"%s\">%s</td>", state, state);
}

static void workers_table(driver *d, struct evbuffer *b);

/* ---- applications ---------------------------------------------------------------- */

static void apps_table(struct evbuffer *b, driver *d, int ended)
{
    evbuffer_add_printf(b,
                        "<table class=\"apps\"><tr><th>application</th><th>name</th><th>user</th><th>state</th>"
                        "<th>started</th>"
                        "<th>duration</th><th>jobs</th>%s</tr>\n",
                        ended ? "<th>ended because</th>" : "<th>running jobs</th>");
    size_t n = 0;
    for (app *a = d->apps; a; a = a->next) {
        if (!!a->ended != ended) continue;
        n++;
        evbuffer_add_printf(b, "<tr><td><a href=\"/app/");
        httpd_put_esc(b, a->id);
        evbuffer_add_printf(b, "\">");
        httpd_put_esc(b, a->id);
        evbuffer_add_printf(b, "</a></td><td>");
        httpd_put_esc(b, a->name);
        if (a->from_history) evbuffer_add_printf(b, " <small class=\"history\">(from its event log)</small>");
        evbuffer_add_printf(b, "</td><td>");
        httpd_put_esc(b, a->user);
        evbuffer_add_printf(b, "</td>");
        td_state(b, app_outcome(a));
        evbuffer_add_printf(b, "<td>");
        put_time(b, a->started_ms);
        evbuffer_add_printf(b, "</td><td>");
        put_duration(b, a->started_ms, a->ended ? a->ended_ms : 0);
        evbuffer_add_printf(b, "</td><td class=n>%u</td>", a->njobs);
        if (ended) {
            evbuffer_add_printf(b, "<td>");
            httpd_put_esc(b, a->end_reason);
            evbuffer_add_printf(b, "</td>");
        } else {
            size_t running = 0;
            for (job *j = a->jobs; j; j = j->next)
                running += j->state == JOB_RUNNING;
            evbuffer_add_printf(b, "<td class=n>%zu</td>", running);
        }
        evbuffer_add_printf(b, "</tr>\n");
    }
    evbuffer_add_printf(b, "</table>\n");
    if (!n) evbuffer_add_printf(b, "<p>None.</p>\n");
}

void ui_apps(driver *d, struct evbuffer *b)
{
    int running = 0;
    size_t workers = 0, slots = 0;
    for (app *a = d->apps; a; a = a->next)
        running |= !a->ended;
    for (dworker *w = d->workers; w; w = w->next) {
        workers++;
        slots += w->slots;
    }
    page_start(b, "kiln driver", running);
    evbuffer_add_printf(b, "<p>Up ");
    put_duration(b, 1, 1 + now_ms() - d->started_ms);
    evbuffer_add_printf(b, ", <a href=\"/workers\">%zu worker%s</a> with %zu slots.</p>\n", workers,
                        workers == 1 ? "" : "s", slots);
    evbuffer_add_printf(b, "<h2>Running applications</h2>\n");
    apps_table(b, d, 0);
    evbuffer_add_printf(b, "<h2>Finished applications</h2>\n<p>The last %lld are kept (history.max_apps).</p>\n",
                        (long long)d->conf.history_max_apps);
    apps_table(b, d, 1);
    evbuffer_add_printf(b, "<h2>Workers</h2>\n");
    workers_table(d, b);
    page_end(b);
}

static void progress_cell(struct evbuffer *b, size_t done, size_t total)
{
    evbuffer_add_printf(b, "<td><progress max=\"%zu\" value=\"%zu\"></progress> %zu/%zu</td>", total ? total : 1, done,
                        done, total);
}

void ui_app(driver *d, struct evbuffer *b, app *a)
{
    char title[200];
    snprintf(title, sizeof title, "Application %s", a->id);
    page_start(b, title, http_app_running(a));
    evbuffer_add_printf(b, "<p>Name: <b>");
    httpd_put_esc(b, a->name);
    evbuffer_add_printf(b, "</b>. User: ");
    httpd_put_esc(b, a->user[0] ? a->user : "-");
    evbuffer_add_printf(b, ". State: <b class=\"%s\" id=\"app-state\">%s</b>", app_outcome(a), app_outcome(a));
    if (a->ended) {
        evbuffer_add_printf(b, " (");
        httpd_put_esc(b, a->end_reason);
        evbuffer_add_printf(b, ")");
    }
    evbuffer_add_printf(b, ". Started ");
    put_time(b, a->started_ms);
    evbuffer_add_printf(b, ", ran ");
    put_duration(b, a->started_ms, a->ended ? a->ended_ms : 0);
    evbuffer_add_printf(b, ".</p>\n");
    if (a->from_history)
        evbuffer_add_printf(b, "<p class=\"history\" id=\"from-history\">Read from its event log after the driver "
                               "restarted: jobs and stages as they ended; task attempts are not kept.</p>\n");
    evbuffer_add_printf(b, "<h2>Jobs</h2>\n<table class=\"jobs\"><tr><th>job</th><th>action</th><th>state</th>"
                           "<th>tasks (every stage)</th><th>stages (done/tasks)</th><th>submitted</th>"
                           "<th>duration</th><th>error</th></tr>\n");
    for (job *j = a->jobs; j; j = j->next) {
        size_t total, done;
        job_task_counts(j, &total, &done);
        char progress[256];
        evbuffer_add_printf(b, "<tr><td><a href=\"/app/");
        httpd_put_esc(b, a->id);
        evbuffer_add_printf(b, "/job/%u\">%u</a></td><td>%s</td>", j->job_id, j->job_id,
                            j->nstages ? j->stages[0].rec.kind : "-");
        td_state(b, job_state_name(j));
        progress_cell(b, done, total);
        evbuffer_add_printf(b, "<td>%s</td><td>", job_stage_progress(j, progress, sizeof progress));
        put_time(b, j->submitted_wall_ms);
        evbuffer_add_printf(b, "</td><td>");
        put_duration(b, j->submitted_wall_ms, j->ended_wall_ms);
        evbuffer_add_printf(b, "</td><td class=err>");
        if (j->state == JOB_FAILED) httpd_put_esc(b, j->error);
        evbuffer_add_printf(b, "</td></tr>\n");
    }
    evbuffer_add_printf(b, "</table>\n<h2>Executor logs</h2>\n<p>Each worker serves the logs of the application's "
                           "executors on its HTTP port.</p>\n<ul>\n");
    for (dworker *w = d->workers; w; w = w->next) {
        if (!w->http_port) continue;
        char *host = html_escape(w->host), *id = html_escape(a->id);
        evbuffer_add_printf(b, "<li><a class=\"logs\" href=\"http://%s%s%s:%u/logs/%s/\">",
                            strchr(w->host, ':') ? "[" : "", host, strchr(w->host, ':') ? "]" : "", w->http_port, id);
        httpd_put_esc(b, w->name);
        evbuffer_add_printf(b, "</a></li>\n");
        free(host);
        free(id);
    }
    evbuffer_add_printf(b, "</ul>\n");
    page_end(b);
}

/* ---- a job: its stages and their graph -------------------------------------------- */

/* The stage of j writing shuffle sid, or -1. */
static long stage_writing_rec(const job *j, uint32_t sid)
{
    for (size_t i = 0; i < j->nstages; i++)
        if (j->stages[i].rec.is_map && j->stages[i].rec.writes == sid) return (long)i;
    return -1;
}

#define BOX_W 170
#define BOX_H 54
#define GAP_X 60
#define GAP_Y 20
#define LANE_GAP 8 /* between the lanes of edges that skip columns */

void ui_stage_graph(struct evbuffer *b, const job *j)
{
    size_t n = j->nstages;
    if (!n) return;
    /* column = longest path from a source; stages[] lists readers before writers */
    size_t *col = xcalloc(n, sizeof *col), *row = xcalloc(n, sizeof *row), ncols = 1;
    for (size_t pass = 0; pass < n; pass++)
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < j->stages[i].rec.nreads; k++) {
                long w = stage_writing_rec(j, j->stages[i].rec.reads[k]);
                if (w >= 0 && col[i] < col[w] + 1) col[i] = col[w] + 1;
            }
    size_t *used = xcalloc(n + 1, sizeof *used), nrows = 1;
    for (size_t i = n; i-- > 0;) {
        if (col[i] + 1 > ncols) ncols = col[i] + 1;
        row[i] = used[col[i]]++;
        if (row[i] + 1 > nrows) nrows = row[i] + 1;
    }
    /* an edge between adjacent columns is a straight line through the gap
     * between them; a longer one would cross the boxes of the columns in
     * between, so it runs in a lane of its own below every box: out of its
     * writer to the gap after it, down, along, and up the gap before its
     * reader */
    size_t nlong = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < j->stages[i].rec.nreads; k++) {
            long w = stage_writing_rec(j, j->stages[i].rec.reads[k]);
            nlong += w >= 0 && col[i] > col[w] + 1;
        }
    unsigned boxes_h = (unsigned)(nrows * (BOX_H + GAP_Y));
    unsigned width = (unsigned)(ncols * (BOX_W + GAP_X)),
             height = boxes_h + GAP_Y + (unsigned)nlong * LANE_GAP;
    evbuffer_add_printf(b,
                        "<svg class=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" height=\"%u\" "
                        "role=\"img\" aria-label=\"stage graph\"><defs><marker id=\"arr\" viewBox=\"0 0 10 10\" "
                        "refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path "
                        "d=\"M0,0L10,5L0,10z\" fill=\"#666\"/></marker></defs>\n",
                        width, height);
#define X(i) ((unsigned)(col[i] * (BOX_W + GAP_X) + 10))
#define Y(i) ((unsigned)(row[i] * (BOX_H + GAP_Y) + GAP_Y))
    unsigned lane = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < j->stages[i].rec.nreads; k++) {
            long w = stage_writing_rec(j, j->stages[i].rec.reads[k]);
            if (w < 0) continue;
            if (col[i] == col[w] + 1) {
                evbuffer_add_printf(b,
                                    "<line x1=\"%u\" y1=\"%u\" x2=\"%u\" y2=\"%u\" stroke=\"#666\" "
                                    "marker-end=\"url(#arr)\"/>\n",
                                    X(w) + BOX_W, Y(w) + BOX_H / 2, X(i), Y(i) + BOX_H / 2);
                continue;
            }
            unsigned out_x = X(w) + BOX_W + GAP_X / 2 - lane % (GAP_X / 4), in_x = X(i) - GAP_X / 2 + lane % (GAP_X / 4);
            unsigned ly = boxes_h + GAP_Y / 2 + lane * LANE_GAP;
            lane++;
            evbuffer_add_printf(b,
                                "<path class=\"edge\" d=\"M%u,%u H%u V%u H%u V%u H%u\" fill=\"none\" stroke=\"#666\" "
                                "marker-end=\"url(#arr)\"/>\n",
                                X(w) + BOX_W, Y(w) + BOX_H / 2, out_x, ly, in_x, Y(i) + BOX_H / 2, X(i));
        }
    for (size_t i = 0; i < n; i++) {
        const dstage *s = &j->stages[i];
        const char *st = stage_state_name(s);
        const char *fill = !strcmp(st, "succeeded")                            ? "#dafbe1"
                           : !strcmp(st, "failed")                             ? "#ffebe9"
                           : !strcmp(st, "running") || !strcmp(st, "sampling") ? "#ddf4ff"
                                                                               : "#f6f8fa";
        size_t done = s->state == STAGE_DONE && !s->rec.skipped ? s->rec.ntasks
                      : s->state == STAGE_RUNNING               ? s->ndone
                                                                : 0;
        evbuffer_add_printf(b,
                            "<g><rect x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" rx=\"6\" fill=\"%s\" "
                            "stroke=\"#888\"/>",
                            X(i), Y(i), BOX_W, BOX_H, fill);
        if (s->id)
            evbuffer_add_printf(b, "<text x=\"%u\" y=\"%u\" font-size=\"13\" font-weight=\"bold\">stage %u</text>",
                                X(i) + 8, Y(i) + 17, s->id);
        else /* ids are given when a stage starts */
            evbuffer_add_printf(b, "<text x=\"%u\" y=\"%u\" font-size=\"13\" font-weight=\"bold\">planned stage</text>",
                                X(i) + 8, Y(i) + 17);
        evbuffer_add_printf(b, "<text x=\"%u\" y=\"%u\" font-size=\"11\">%s, %s</text>", X(i) + 8, Y(i) + 32,
                            s->rec.kind, st);
        evbuffer_add_printf(b, "<text x=\"%u\" y=\"%u\" font-size=\"11\">%zu/%zu tasks</text></g>\n", X(i) + 8,
                            Y(i) + 47, done, s->rec.ntasks);
    }
#undef X
#undef Y
    evbuffer_add_printf(b, "</svg>\n");
    free(col);
    free(row);
    free(used);
}

static void stage_link(struct evbuffer *b, const dstage *s)
{
    if (!s->id) {
        evbuffer_add_printf(b, "planned"); /* not started: no id yet */
        return;
    }
    evbuffer_add_printf(b, "<a href=\"/app/");
    httpd_put_esc(b, s->job->app->id);
    evbuffer_add_printf(b, "/stage/%u\">%u</a>", s->id, s->id);
}

void ui_job(driver *d, struct evbuffer *b, job *j)
{
    char title[200];
    snprintf(title, sizeof title, "Job %u of %s", j->job_id, j->app->id);
    page_start(b, title, j->state == JOB_RUNNING);
    size_t total, done;
    job_task_counts(j, &total, &done);
    evbuffer_add_printf(b, "<p><a href=\"/app/");
    httpd_put_esc(b, j->app->id);
    evbuffer_add_printf(b, "\">Application ");
    httpd_put_esc(b, j->app->id);
    evbuffer_add_printf(b, "</a> (");
    httpd_put_esc(b, j->app->name);
    evbuffer_add_printf(b, "). State: <b class=\"%s\" id=\"job-state\">%s</b>, %zu/%zu tasks in %zu stage%s, ",
                        job_state_name(j), job_state_name(j), done, total, j->nstages, j->nstages == 1 ? "" : "s");
    put_duration(b, j->submitted_wall_ms, j->ended_wall_ms);
    evbuffer_add_printf(b, ".</p>\n");
    if (j->state == JOB_FAILED) {
        evbuffer_add_printf(b, "<p class=err>");
        httpd_put_esc(b, j->error);
        evbuffer_add_printf(b, "</p>\n");
    }
    evbuffer_add_printf(b, "<h2>Stage graph</h2>\n");
    ui_stage_graph(b, j);
    evbuffer_add_printf(b, "<h2>Stages</h2>\n<table class=\"stages\"><tr><th>stage</th><th>output</th><th>state</th>"
                           "<th>tasks</th><th>failed attempts</th><th>functions</th><th>records in</th>"
                           "<th>records out</th><th>bytes in</th><th>bytes out</th><th>shuffle read</th>"
                           "<th>shuffle write</th><th>spilled</th><th>duration</th></tr>\n");
    for (size_t i = j->nstages; i-- > 0;) {
        const dstage *s = &j->stages[i];
        const stage_record *r = &s->rec;
        size_t sd = s->state == STAGE_DONE && !r->skipped ? r->ntasks : s->state == STAGE_RUNNING ? s->ndone : 0;
        evbuffer_add_printf(b, "<tr><td>");
        stage_link(b, s);
        evbuffer_add_printf(b, "</td><td>%s</td>", r->kind);
        td_state(b, stage_state_name(s));
        progress_cell(b, sd, r->ntasks);
        td_num(b, r->failed);
        evbuffer_add_printf(b, "<td>");
        httpd_put_esc(b, r->fn_names ? r->fn_names : "");
        evbuffer_add_printf(b, "</td>");
        td_num(b, r->records_in);
        td_num(b, r->records_out);
        td_bytes(b, r->bytes_in);
        td_bytes(b, r->bytes_out);
        td_bytes(b, r->shuffle_read);
        td_bytes(b, r->shuffle_write);
        td_bytes(b, r->spill_bytes);
        evbuffer_add_printf(b, "<td>");
        put_duration(b, r->started_ms, r->ended_ms);
        evbuffer_add_printf(b, "</td></tr>\n");
    }
    evbuffer_add_printf(b, "</table>\n");
    page_end(b);
}

/* ---- a stage: its task attempts ------------------------------------------------------ */

void ui_stage(driver *d, struct evbuffer *b, dstage *s)
{
    job *j = s->job;
    const stage_record *r = &s->rec;
    char title[200];
    snprintf(title, sizeof title, "Stage %u of %s", s->id, j->app->id);
    page_start(b, title, j->state == JOB_RUNNING);
    size_t sd = s->state == STAGE_DONE && !r->skipped ? r->ntasks : s->state == STAGE_RUNNING ? s->ndone : 0;
    evbuffer_add_printf(b, "<p><a href=\"/app/");
    httpd_put_esc(b, j->app->id);
    evbuffer_add_printf(b,
                        "/job/%u\">Job %u</a>, output %s. State: <b class=\"%s\" id=\"stage-state\">%s</b>, "
                        "%zu/%zu tasks. Functions: ",
                        j->job_id, j->job_id, r->kind, stage_state_name(s), stage_state_name(s), sd, r->ntasks);
    httpd_put_esc(b, r->fn_names && *r->fn_names ? r->fn_names : "none");
    evbuffer_add_printf(b, ".</p>\n");
    if (j->app->from_history)
        evbuffer_add_printf(b, "<p class=\"history\">Read from the application's event log: its task attempts are "
                               "not kept.</p>\n");
    if (r->rows_dropped)
        evbuffer_add_printf(b, "<p>%zu later attempts are not listed (at most %d are kept per stage).</p>\n",
                            r->rows_dropped, HISTORY_STAGE_ROWS);
    evbuffer_add_printf(b, "<h2>Tasks</h2>\n<table class=\"tasks\"><tr><th>task</th><th>partition</th>"
                           "<th>attempt</th><th>worker</th><th>state</th><th>duration</th><th>records in</th>"
                           "<th>records out</th><th>bytes in</th><th>bytes out</th><th>shuffle read</th>"
                           "<th>shuffle write</th><th>spills</th><th>spilled</th><th>failure</th></tr>\n");
    for (size_t i = 0; i < r->nrows; i++) {
        const task_row *t = &r->rows[i];
        evbuffer_add_printf(b, "<tr><td class=n>%llu</td><td class=n>%u%s</td><td class=n>%u</td><td>",
                            (unsigned long long)t->task_id, t->partition, t->sample ? " (sample)" : "", t->attempt);
        httpd_put_esc(b, t->worker);
        evbuffer_add_printf(b, "</td>");
        td_state(b, row_state_name(t->state));
        evbuffer_add_printf(b, "<td class=n>");
        put_duration(b, t->started_ms, t->ended_ms);
        evbuffer_add_printf(b, "</td>");
        td_num(b, t->records_in);
        td_num(b, t->records_out);
        td_bytes(b, t->bytes_in);
        td_bytes(b, t->bytes_out);
        td_bytes(b, t->shuffle_read);
        td_bytes(b, t->shuffle_write);
        td_num(b, t->spills);
        td_bytes(b, t->spill_bytes);
        evbuffer_add_printf(b, "<td class=err>");
        if (t->error) httpd_put_esc(b, t->error);
        evbuffer_add_printf(b, "</td></tr>\n");
    }
    evbuffer_add_printf(b, "</table>\n");
    page_end(b);
}

/* ---- workers ---------------------------------------------------------------------- */

static void workers_table(driver *d, struct evbuffer *b)
{
    evbuffer_add_printf(b, "<table class=\"workers\"><tr><th>id</th><th>name</th><th>data address</th><th>slots</th>"
                           "<th>running</th><th>queued there</th><th>executors</th><th>memory</th>"
                           "<th>work dir</th><th>tasks done</th><th>last heartbeat</th></tr>\n");
    uint64_t now = now_ms();
    for (dworker *w = d->workers; w; w = w->next) {
        int v6 = strchr(w->host, ':') != NULL;
        evbuffer_add_printf(b, "<tr><td class=n>%u</td><td>", w->id);
        if (w->http_port) {
            evbuffer_add_printf(b, "<a href=\"http://%s", v6 ? "[" : "");
            httpd_put_esc(b, w->host);
            evbuffer_add_printf(b, "%s:%u/\">", v6 ? "]" : "", w->http_port);
        }
        httpd_put_esc(b, w->name);
        evbuffer_add_printf(b, "%s</td><td>%s", w->http_port ? "</a>" : "", v6 ? "[" : "");
        httpd_put_esc(b, w->host);
        evbuffer_add_printf(b,
                            "%s:%u</td><td class=n>%u</td><td class=n>%u</td><td class=n>%u</td>"
                            "<td class=n>%u</td>",
                            v6 ? "]" : "", w->data_port, w->slots, worker_running(w), worker_queued(w),
                            w->hb_executors);
        td_bytes(b, w->memory_bytes);
        td_bytes(b, w->disk_bytes);
        td_num(b, w->tasks_done);
        evbuffer_add_printf(b, "<td class=n>%llu ms ago</td></tr>\n", (unsigned long long)(now - w->last_heartbeat_ms));
    }
    evbuffer_add_printf(b, "</table>\n<p>Running: tasks executing, at most the slots; queued there: launched and "
                           "waiting on the worker for a slot (the driver keeps two tasks in flight per slot). "
                           "Memory: the worker and its executors; work dir: bytes under its work dir.</p>\n");
}

void ui_workers(driver *d, struct evbuffer *b)
{
    int busy = 0;
    for (dworker *w = d->workers; w; w = w->next)
        busy |= w->running > 0;
    page_start(b, "Workers", busy);
    workers_table(d, b);
    page_end(b);
}

void ui_not_found(struct evbuffer *b, const char *what)
{
    page_start(b, "Not found", 0);
    evbuffer_add_printf(b, "<p>");
    httpd_put_esc(b, what);
    evbuffer_add_printf(b, ". <a href=\"/\">Applications</a></p>\n");
    page_end(b);
}
