/*
 * http.c - the worker's HTTP port: a status page, its JSON, Prometheus
 * /metrics, and the executors' logs; plus the worker's own counters and
 * resource use (memory of the worker and its executors, bytes under the
 * work dir) that the heartbeat carries to the driver.
 *
 *   /                               status page (HTML)
 *   /status, /json, /api/v1/worker  the same as JSON
 *   /metrics                        Prometheus text format
 *   /logs/APP/                      the executor logs of application APP
 *   /logs/APP/executor-N.log        one log, as text
 *
 * Log paths are validated before any file is touched: APP must pass
 * name_is_safe and the file must be named executor-N.log (digits only);
 * the file is opened with O_NOFOLLOW and served only when it is a regular
 * file. Anything else is 404. Names are HTML-escaped (they come from the
 * driver and clients); the JSON is jansson's.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <fts.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpd.h"
#include "metrics.h"
#include "shuffle_serve.h"
#include "text.h"
#include "util.h"
#include "worker.h"

/* ---- resource use ------------------------------------------------------------- */

#define USAGE_EVERY_MS 5000 /* the work dir is walked at most this often */

/* Bytes allocated to the files under dir (du), not following links or mounts. */
static uint64_t dir_bytes(const char *dir)
{
    char *roots[] = {(char *)dir, NULL};
    FTS *fts = fts_open(roots, FTS_PHYSICAL | FTS_XDEV | FTS_NOCHDIR, NULL);
    if (!fts) return 0;
    uint64_t sum = 0;
    for (FTSENT *e; (e = fts_read(fts));)
        if (e->fts_info == FTS_F) sum += (uint64_t)e->fts_statp->st_blocks * 512;
    fts_close(fts);
    return sum;
}

void worker_usage(worker *w, uint64_t *memory, uint64_t *disk)
{
    uint64_t mem = metrics_rss_bytes(0);
    for (wexec *x = w->execs; x; x = x->next)
        if (!x->reaped) mem += metrics_rss_bytes(x->pid);
    uint64_t now = now_ms();
    if (!w->m.disk_ms || now - w->m.disk_ms >= USAGE_EVERY_MS) {
        w->m.disk_bytes = dir_bytes(w->work_dir);
        w->m.disk_ms = now;
    }
    *memory = mem;
    *disk = w->m.disk_bytes;
}

void worker_metrics_task(worker *w, const wtask *t, const Kiln__TaskDone *done)
{
    worker_metrics *m = &w->m;
    if (t->started_us) histogram_observe(&m->task_seconds, (double)(now_us() - t->started_us) / 1e6);
    if (!done->ok) return;
    m->records_in += done->records_in;
    m->records_out += done->records_out;
    for (size_t i = 0; i < done->n_partition_sizes; i++)
        m->shuffle_write += done->partition_sizes[i];
    m->spills += done->spills;
    m->spill_bytes += done->spill_bytes;
}

/* ---- pages ------------------------------------------------------------------- */

static json_t *status_json(worker *w)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(w->name));
    json_object_set_new(o, "worker_id", json_integer(w->worker_id));
    json_object_set_new(o, "registered", json_boolean(w->registered));
    json_object_set_new(o, "slots", json_integer(w->slots));
    int execs = 0, running = 0;
    for (wexec *x = w->execs; x; x = x->next) {
        execs += !x->reaped;
        running += x->task != NULL;
    }
    uint64_t mem, disk;
    worker_usage(w, &mem, &disk);
    json_object_set_new(o, "executors", json_integer(execs));
    json_object_set_new(o, "running", json_integer(running));
    json_object_set_new(o, "queued", json_integer(w->ntasks - running));
    json_object_set_new(o, "tasks_done", json_integer((json_int_t)w->tasks_done));
    json_object_set_new(o, "tasks_failed", json_integer((json_int_t)w->tasks_failed));
    json_object_set_new(o, "executors_forked", json_integer((json_int_t)w->execs_forked));
    json_object_set_new(o, "blobs_fetched", json_integer((json_int_t)w->blobs_fetched));
    json_object_set_new(o, "blob_bytes_fetched", json_integer((json_int_t)w->blob_bytes_fetched));
    json_object_set_new(o, "shuffle_bytes_served", json_integer((json_int_t)shuffle_server_bytes(w->shuffles)));
    json_object_set_new(o, "shuffle_requests_served", json_integer((json_int_t)shuffle_server_requests(w->shuffles)));
    json_object_set_new(o, "memory_bytes", json_integer((json_int_t)mem));
    json_object_set_new(o, "disk_bytes", json_integer((json_int_t)disk));
    json_t *xs = json_array();
    for (wexec *x = w->execs; x; x = x->next) {
        json_t *e = json_object();
        json_object_set_new(e, "index", json_integer(x->index));
        json_object_set_new(e, "app_id", json_string(x->app_id));
        json_object_set_new(e, "pid", json_integer(x->pid));
        json_object_set_new(e, "alive", json_boolean(!x->reaped));
        json_object_set_new(e, "task_id", x->task ? json_integer((json_int_t)x->task->t->task_id) : json_null());
        char *log = xasprintf("/logs/%s/executor-%d.log", x->app_id, x->index);
        json_object_set_new(e, "log", json_string(log));
        free(log);
        json_array_append_new(xs, e);
    }
    json_object_set_new(o, "executor_list", xs);
    return o;
}

/* The page's head, the driver's style sheet and a navigation bar whose
 * first link goes back to the driver's UI (at the host the worker reaches
 * the driver by, on the port the driver named at registration). */
static void page_start(worker *w, struct evbuffer *b, const char *title)
{
    evbuffer_add_printf(b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>");
    httpd_put_esc(b, title);
    evbuffer_add_printf(b, " - kiln</title><style>%s</style></head><body><nav>", httpd_style);
    if (w->driver_http_port) {
        char host[256];
        snprintf(host, sizeof host, "%s", w->conf.worker_driver);
        char *colon = strrchr(host, ':');
        if (colon) *colon = 0;
        char *h = html_escape(host);
        evbuffer_add_printf(b, "<a href=\"http://%s:%d/\">&larr; Driver</a>", h, w->driver_http_port);
        free(h);
    }
    evbuffer_add_printf(b, "<a href=\"/\">Worker</a><a href=\"/metrics\">Metrics</a><a href=\"/status\">JSON</a>"
                           "</nav>\n<h1>");
    httpd_put_esc(b, title);
    evbuffer_add_printf(b, "</h1>\n");
}

static void status_page(worker *w, struct evbuffer *b)
{
    int running = 0, alive = 0;
    for (wexec *x = w->execs; x; x = x->next) {
        running += x->task != NULL;
        alive += !x->reaped;
    }
    uint64_t mem, disk;
    worker_usage(w, &mem, &disk);
    char title[300];
    snprintf(title, sizeof title, "kiln worker %s", w->name);
    page_start(w, b, title);
    evbuffer_add_printf(b,
                        "<p>Worker id %u (%s). Slots %d, running %d, queued %d, executors %d. Memory %.1f MiB, "
                        "work dir %.1f MiB. Tasks done %llu, failed %llu.</p>\n",
                        w->worker_id, w->registered ? "registered" : "not registered", w->slots, running,
                        w->ntasks - running, alive, (double)mem / 1048576.0, (double)disk / 1048576.0,
                        (unsigned long long)w->tasks_done, (unsigned long long)w->tasks_failed);
    evbuffer_add_printf(b, "<h2>Executors</h2>\n<table><tr><th>executor</th><th>application</th><th>pid</th>"
                           "<th>state</th><th>task</th><th>log</th></tr>\n");
    for (wexec *x = w->execs; x; x = x->next) {
        char *app = html_escape(x->app_id);
        evbuffer_add_printf(b, "<tr><td>%d</td><td><a href=\"/logs/%s/\">%s</a></td><td>%d</td><td>%s</td><td>",
                            x->index, app, app, (int)x->pid,
                            x->reaped ? "ended"
                            : x->task ? "running"
                                      : "idle");
        if (x->task) evbuffer_add_printf(b, "%llu", (unsigned long long)x->task->t->task_id);
        evbuffer_add_printf(b, "</td><td><a href=\"/logs/%s/executor-%d.log\">executor-%d.log</a></td></tr>\n", app,
                            x->index, x->index);
        free(app);
    }
    evbuffer_add_printf(b, "</table>\n</body></html>\n");
}

/* Whether name is executor-N.log with N digits only. */
static int is_log_name(const char *name)
{
    if (strncmp(name, "executor-", 9)) return 0;
    const char *p = name + 9;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    return !strcmp(p, ".log") && p - name - 9 <= 10;
}

static int cmp_str(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t lx = strlen(x), ly = strlen(y);
    return lx != ly ? (lx > ly) - (lx < ly) : strcmp(x, y);
}

/* The index of an application's executor logs; -1 when it has none. */
static int logs_index(worker *w, const char *app, struct evbuffer *b)
{
    char *dir = xasprintf("%s/%s", w->work_dir, app);
    DIR *dh = opendir(dir);
    free(dir);
    if (!dh) return -1;
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(dh));) {
        if (!is_log_name(e->d_name)) continue;
        names = xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = xstrdup(e->d_name);
    }
    closedir(dh);
    qsort(names, n, sizeof *names, cmp_str);
    char title[300];
    snprintf(title, sizeof title, "Executor logs of %s on %s", app, w->name);
    page_start(w, b, title);
    evbuffer_add_printf(b, "<ul>\n");
    for (size_t i = 0; i < n; i++) {
        evbuffer_add_printf(b, "<li><a href=\"%s\">%s</a></li>\n", names[i], names[i]); /* checked: [a-z0-9.-] */
        free(names[i]);
    }
    free(names);
    evbuffer_add_printf(b, "</ul>\n%s</body></html>\n", n ? "" : "<p>No executor logs.</p>");
    return 0;
}

/* One executor log; -1 when the path is not one. */
static int log_file(worker *w, const char *app, const char *name, struct evbuffer *b)
{
    if (!is_log_name(name)) return -1;
    char *path = xasprintf("%s/%s/%s", w->work_dir, app, name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    free(path);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    if (st.st_size == 0) {
        close(fd);
        return 0;
    }
    return evbuffer_add_file(b, fd, 0, st.st_size) < 0 ? -1 : 0; /* takes fd */
}

/* ---- /metrics ---------------------------------------------------------------- */

static void metrics_write(worker *w, FILE *f)
{
    const worker_metrics *m = &w->m;
    char lab[64];
    metrics_process(f, w->started_wall_ms);
    metrics_family(f, "kiln_worker_tasks_total", "counter", "Tasks answered to the driver, by outcome.");
    metrics_sample(f, "kiln_worker_tasks_total", metrics_label(lab, sizeof lab, "outcome", "succeeded"),
                   (double)w->tasks_done);
    metrics_sample(f, "kiln_worker_tasks_total", metrics_label(lab, sizeof lab, "outcome", "failed"),
                   (double)w->tasks_failed);
    metrics_family(f, "kiln_worker_task_duration_seconds", "histogram",
                   "Duration of tasks from dispatch to an executor to the answer.");
    metrics_histogram(f, "kiln_worker_task_duration_seconds", NULL, &m->task_seconds);
    int running = 0, alive = 0;
    for (wexec *x = w->execs; x; x = x->next) {
        running += x->task != NULL;
        alive += !x->reaped;
    }
    metrics_gauge(f, "kiln_worker_slots", "Slots (tasks run at once).", w->slots);
    metrics_gauge(f, "kiln_worker_tasks_running", "Tasks executing.", running);
    metrics_gauge(f, "kiln_worker_tasks_queued", "Tasks received and waiting for blobs or a slot.",
                  w->ntasks - running);
    metrics_gauge(f, "kiln_worker_executors_alive", "Executor processes alive.", alive);
    metrics_counter(f, "kiln_worker_executors_started_total", "Executor processes forked.", w->execs_forked);
    metrics_counter(f, "kiln_worker_records_read_total", "Records read by successful tasks.", m->records_in);
    metrics_counter(f, "kiln_worker_records_written_total", "Records written by successful tasks.", m->records_out);
    metrics_counter(f, "kiln_worker_shuffle_write_bytes_total", "Shuffle bytes written by successful map tasks.",
                    m->shuffle_write);
    metrics_counter(f, "kiln_worker_shuffle_served_bytes_total", "Shuffle bytes served on the data port.",
                    shuffle_server_bytes(w->shuffles));
    metrics_counter(f, "kiln_worker_shuffle_requests_total", "Shuffle fetch requests served on the data port.",
                    shuffle_server_requests(w->shuffles));
    metrics_counter(f, "kiln_worker_data_port_authentication_failures_total",
                    "Data-port handshakes refused (authentication, version, role).",
                    shuffle_server_handshake_failures(w->shuffles));
    metrics_counter(f, "kiln_worker_spills_total", "Spill files written by successful tasks.", m->spills);
    metrics_counter(f, "kiln_worker_spill_bytes_total", "Bytes spilled by successful tasks.", m->spill_bytes);
    metrics_counter(f, "kiln_worker_blobs_fetched_total", "Blobs fetched from the driver into the cache.",
                    w->blobs_fetched);
    metrics_counter(f, "kiln_worker_blob_bytes_fetched_total", "Blob bytes fetched from the driver.",
                    w->blob_bytes_fetched);
    metrics_counter(f, "kiln_worker_data_connections_total", "Connections accepted on the data port.", m->data_conns);
    metrics_counter(f, "kiln_worker_driver_connections_total", "Connections made to the driver (registrations).",
                    m->driver_conns);
    metrics_counter(f, "kiln_worker_authentication_failures_total", "Handshakes with the driver that failed.",
                    m->handshake_failures);
    metrics_gauge(f, "kiln_worker_registered", "1 while registered with the driver.", w->registered);
    metrics_counter(f, "kiln_worker_accept_backoffs_total", "Times the data port paused accepting (out of descriptors).",
                    listen_guard_backoffs(w->data_listener));
    httpd_metrics(w->http, f, "kiln_worker");
    uint64_t mem, disk;
    worker_usage(w, &mem, &disk);
    metrics_gauge(f, "process_resident_memory_bytes", "Resident memory of the worker daemon.",
                  (double)metrics_rss_bytes(0));
    metrics_gauge(f, "kiln_worker_memory_bytes", "Resident memory of the worker and its executors.", (double)mem);
    metrics_gauge(f, "kiln_worker_disk_bytes", "Bytes under the work dir (walked at most every 5 s).", (double)disk);
}

/* ---- routing ------------------------------------------------------------------- */

static void metrics_cb(void *arg, FILE *f)
{
    metrics_write(arg, f);
}

void worker_http_serve(httpd_req *req, void *arg)
{
    worker *w = arg;
    struct evbuffer *b = evbuffer_new();
    httpd_path p;
    if (httpd_begin(req, b, &p) < 0) {
        evbuffer_free(b);
        return;
    }
    char **parts = p.parts;
    size_t n = p.n;
    int found = n != HTTPD_TOO_DEEP;
    int is_json = (n == 1 && (!strcmp(parts[0], "status") || !strcmp(parts[0], "json"))) ||
                  (n == 3 && !strcmp(parts[0], "api") && !strcmp(parts[1], "v1") && !strcmp(parts[2], "worker"));
    if (!found) {
    } else if (n == 0) {
        status_page(w, b);
        httpd_reply(req, 200, HTTPD_HTML, b);
    } else if (is_json) {
        httpd_reply_json(req, status_json(w), b);
    } else if (n == 1 && !strcmp(parts[0], "metrics")) {
        httpd_reply_metrics(req, b, metrics_cb, w);
    } else if (n == 2 && !strcmp(parts[0], "logs") && name_is_safe(parts[1]) && logs_index(w, parts[1], b) == 0) {
        httpd_reply(req, 200, HTTPD_HTML, b);
    } else if (n == 3 && !strcmp(parts[0], "logs") && name_is_safe(parts[1]) &&
               log_file(w, parts[1], parts[2], b) == 0) {
        httpd_reply(req, 200, "text/plain; charset=utf-8", b);
    } else {
        found = 0;
    }
    if (!found) {
        evbuffer_drain(b, evbuffer_get_length(b));
        page_start(w, b, "Not found");
        evbuffer_add_printf(b, "<p>No such page. <a href=\"/\">Worker</a></p></body></html>\n");
        httpd_reply(req, 404, HTTPD_HTML, b);
    }
    httpd_path_release(&p);
    evbuffer_free(b);
}
