/*
 * eventlog.c - each application's event log, Spark's history server
 * without a second daemon: the driver appends to STATE/history/APP-ID.jsonl
 * as an application registers, as each of its jobs ends and as it ends,
 * and at start-up reads the logs back into ended applications (from_history)
 * that the UI, the API, `kiln apps` and `kiln jobs` show like any other.
 *
 * The one idea: a line is written whole with one write(2) on a file opened
 * O_APPEND and closed again, so a crash of the driver (kill -9) loses at
 * most the job that was running, and a file cut mid-line by a crash of the
 * machine loses that line only: eventlog_load skips any line
 * ev_parse_line (eventlog_parse.c) refuses, with a warning, and an
 * application with no app_ended line reads as failed because the driver
 * stopped. What a log keeps is what the pages show of a finished job: its
 * outcome, error, times and each stage's counts and totals, and its first
 * EV_MAX_FAILURES failed attempts with their errors; the attempts that
 * succeeded are not written (a million-task job would write a million),
 * so after a restart a stage page lists its failures only.
 *
 * Bounded by history.max_apps: at start-up and whenever an application
 * ends, the logs beyond the newest max_apps (by application id: start time,
 * then sequence number) are deleted, never a running application's; only
 * the kept ones are loaded. Owns the files under STATE/history only; the
 * in-memory bound is history_prune's (history.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "eventlog.h"
#include "util.h"

/* ---- lines ----------------------------------------------------------------------- */

static json_t *jint(uint64_t v)
{
    return json_integer((json_int_t)v);
}

/* A new line: o's compact JSON and '\n'; takes o. */
static char *line_of(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!s) abort(); /* control plane: out of memory */
    char *line = xasprintf("%s\n", s);
    free(s);
    return line;
}

char *eventlog_app_registered_line(const app *a)
{
    return line_of(json_pack("{s:s, s:s, s:s, s:s, s:o}", "event", "app_registered", "app", a->id, "name", a->name,
                             "user", a->user, "time_ms", jint(a->started_ms)));
}

char *eventlog_app_ended_line(const app *a)
{
    return line_of(json_pack("{s:s, s:s, s:s, s:s, s:i, s:o}", "event", "app_ended", "app", a->id, "outcome",
                             app_outcome(a), "reason", a->end_reason, "jobs", (int)a->njobs, "time_ms",
                             jint(a->ended_ms)));
}

/* At most EV_ERROR_MAX bytes of text, cut at a character boundary (a
 * string jansson refuses, not UTF-8, reads null). */
static json_t *jtext(const char *t)
{
    size_t n = strlen(t);
    if (n > EV_ERROR_MAX) {
        n = EV_ERROR_MAX;
        while (n > 0 && ((unsigned char)t[n] & 0xc0) == 0x80)
            n--;
    }
    json_t *v = json_stringn(t, n);
    return v ? v : json_null();
}

/* A stage's first EV_MAX_FAILURES failed attempts (see eventlog.h). */
static json_t *failures_json(const stage_record *r)
{
    json_t *fs = json_array();
    for (size_t i = 0; i < r->nrows && json_array_size(fs) < EV_MAX_FAILURES; i++) {
        const task_row *t = &r->rows[i];
        if (t->state != ROW_FAILED && t->state != ROW_FETCH_FAILED && t->state != ROW_LOST) continue;
        json_t *o = json_object();
        json_object_set_new(o, "task", jint(t->task_id));
        json_object_set_new(o, "partition", json_integer(t->partition));
        json_object_set_new(o, "attempt", json_integer(t->attempt));
        json_object_set_new(o, "worker", jtext(t->worker));
        json_object_set_new(o, "state", json_string(row_state_name(t->state)));
        json_object_set_new(o, "started_ms", jint(t->started_ms));
        json_object_set_new(o, "ended_ms", jint(t->ended_ms));
        json_object_set_new(o, "error", t->error ? jtext(t->error) : json_null());
        json_array_append_new(fs, o);
    }
    return fs;
}

static json_t *stage_json(const dstage *s)
{
    const stage_record *r = &s->rec;
    size_t done = r->skipped                  ? 0
                  : s->state == STAGE_DONE    ? r->ntasks
                  : s->state == STAGE_RUNNING ? (s->ndone < r->ntasks ? s->ndone : r->ntasks)
                                              : 0;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(s->id));
    json_object_set_new(o, "kind", json_string(r->kind));
    json_object_set_new(o, "state", json_string(stage_state_name(s)));
    json_object_set_new(o, "tasks", jint(r->ntasks));
    json_object_set_new(o, "done", jint(done));
    json_object_set_new(o, "writes", r->is_map ? json_integer(r->writes) : json_null());
    json_t *reads = json_array();
    for (size_t i = 0; i < r->nreads; i++)
        json_array_append_new(reads, json_integer(r->reads[i]));
    json_object_set_new(o, "reads", reads);
    json_object_set_new(o, "functions", json_string(r->fn_names ? r->fn_names : ""));
    json_object_set_new(o, "failed_attempts", jint(r->failed));
    json_object_set_new(o, "records_in", jint(r->records_in));
    json_object_set_new(o, "records_out", jint(r->records_out));
    json_object_set_new(o, "bytes_in", jint(r->bytes_in));
    json_object_set_new(o, "bytes_out", jint(r->bytes_out));
    json_object_set_new(o, "shuffle_read", jint(r->shuffle_read));
    json_object_set_new(o, "shuffle_write", jint(r->shuffle_write));
    json_object_set_new(o, "spills", jint(r->spills));
    json_object_set_new(o, "spill_bytes", jint(r->spill_bytes));
    json_object_set_new(o, "started_ms", jint(r->started_ms));
    json_object_set_new(o, "ended_ms", jint(r->ended_ms));
    json_object_set_new(o, "failures", failures_json(r));
    return o;
}

char *eventlog_job_line(const job *j)
{
    size_t total, done;
    job_task_counts(j, &total, &done);
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string("job_ended"));
    json_object_set_new(o, "app", json_string(j->app->id));
    json_object_set_new(o, "job", json_integer(j->job_id));
    json_object_set_new(o, "action", json_string(job_action_name(j->action)));
    json_object_set_new(o, "outcome", json_string(j->state == JOB_SUCCEEDED ? "succeeded" : "failed"));
    json_object_set_new(o, "error", j->state == JOB_FAILED ? json_string(j->error) : json_null());
    json_object_set_new(o, "submitted_ms", jint(j->submitted_wall_ms));
    json_object_set_new(o, "ended_ms", jint(j->ended_wall_ms));
    json_object_set_new(o, "tasks", jint(total));
    json_object_set_new(o, "tasks_done", jint(done));
    json_t *st = json_array();
    for (size_t i = 0; i < j->nstages; i++)
        json_array_append_new(st, stage_json(&j->stages[i]));
    json_object_set_new(o, "stages", st);
    return line_of(o);
}

/* ---- writing ------------------------------------------------------------------------ */

static char *log_path(const driver *d, const char *id)
{
    return xasprintf("%s/history/%s.jsonl", d->state_dir, id);
}

/* Appends line (taken) to id's log; first: the application's first line
 * (a stale file of the same name is replaced). */
static void append(driver *d, const char *id, char *line, int first)
{
    if (!d->state_dir) { /* no state dir (unit tests): no history */
        free(line);
        return;
    }
    char *path = log_path(d, id);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (first ? O_TRUNC : 0), 0640);
    if (fd < 0 || write_all(fd, line, strlen(line)) < 0)
        log_msg(&d->log, LOG_WARN, "history: cannot write the event log file=%s error=\"%s\"", path, strerror(errno));
    if (fd >= 0) close(fd);
    free(path);
    free(line);
}

void eventlog_app_registered(driver *d, const app *a)
{
    append(d, a->id, eventlog_app_registered_line(a), 1);
}

void eventlog_job_ended(driver *d, const job *j)
{
    append(d, j->app->id, eventlog_job_line(j), 0);
}

static void prune(driver *d);

void eventlog_app_ended(driver *d, const app *a)
{
    append(d, a->id, eventlog_app_ended_line(a), 0);
    if (d->state_dir) prune(d);
}

/* ---- the directory -------------------------------------------------------------------- */

/* A log file's application id: app-YYYYmmddHHMMSS-SEQ. */
typedef struct hfile {
    char id[64];
    char stamp[15];
    unsigned long seq;
} hfile;

/* Whether name is ID.jsonl for an id rpc.c makes; fills f. */
static int hfile_parse(const char *name, hfile *f)
{
    size_t n = strlen(name);
    if (n < 6 || n - 6 >= sizeof f->id || strcmp(name + n - 6, ".jsonl")) return 0;
    snprintf(f->id, sizeof f->id, "%.*s", (int)(n - 6), name);
    if (strncmp(f->id, "app-", 4)) return 0;
    const char *p = f->id + 4;
    for (int i = 0; i < 14; i++)
        if (p[i] < '0' || p[i] > '9') return 0;
    if (p[14] != '-' || p[15] < '0' || p[15] > '9') return 0;
    char *end;
    f->seq = strtoul(p + 15, &end, 10);
    if (*end) return 0;
    memcpy(f->stamp, p, 14);
    f->stamp[14] = '\0';
    return 1;
}

/* Newest first. */
static int hfile_cmp(const void *x, const void *y)
{
    const hfile *a = x, *b = y;
    int c = strcmp(b->stamp, a->stamp);
    if (c) return c;
    return a->seq < b->seq ? 1 : a->seq > b->seq ? -1 : 0;
}

/* The logs in STATE/history, newest first (a new array in *out; caller frees). */
static size_t list_logs(driver *d, hfile **out)
{
    *out = NULL;
    char *dir = xasprintf("%s/history", d->state_dir);
    DIR *dh = opendir(dir);
    if (!dh) {
        log_msg(&d->log, LOG_WARN, "history: cannot list %s: %s", dir, strerror(errno));
        free(dir);
        return 0;
    }
    size_t n = 0, cap = 0;
    hfile *v = NULL;
    for (struct dirent *e; (e = readdir(dh));) {
        hfile f;
        if (!hfile_parse(e->d_name, &f)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            v = xrealloc(v, cap * sizeof *v);
        }
        v[n++] = f;
    }
    closedir(dh);
    free(dir);
    if (n) qsort(v, n, sizeof *v, hfile_cmp);
    *out = v;
    return n;
}

static int app_running(const driver *d, const char *id)
{
    for (const app *a = d->apps; a; a = a->next)
        if (!a->ended && !strcmp(a->id, id)) return 1;
    return 0;
}

/* Deletes the logs beyond the newest history.max_apps (a running
 * application's stays and is not counted); returns the kept ones, newest
 * first, in *kept (caller frees) and sets *max_seq. */
static size_t prune_logs(driver *d, hfile **kept, unsigned long *max_seq)
{
    hfile *v;
    size_t n = list_logs(d, &v), k = 0;
    int64_t ended = 0;
    *max_seq = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].seq > *max_seq) *max_seq = v[i].seq;
        if (app_running(d, v[i].id) || ++ended <= d->conf.history_max_apps) {
            v[k++] = v[i];
            continue;
        }
        char *path = log_path(d, v[i].id);
        if (unlink(path) == 0)
            log_msg(&d->log, LOG_INFO, "history: event log deleted app=%s (history.max_apps=%lld)", v[i].id,
                    (long long)d->conf.history_max_apps);
        else if (errno != ENOENT)
            log_msg(&d->log, LOG_WARN, "history: cannot delete %s: %s", path, strerror(errno));
        free(path);
    }
    *kept = v;
    return k;
}

static void prune(driver *d)
{
    hfile *kept;
    unsigned long seq;
    prune_logs(d, &kept, &seq);
    free(kept);
}

/* ---- loading ---------------------------------------------------------------------------- */

static void stage_from_event(job *j, size_t i, const ev_stage *e)
{
    dstage *s = &j->stages[i];
    stage_record *r = &s->rec;
    s->job = j;
    s->index = i;
    s->id = e->id;
    if (!strcmp(e->state, "succeeded") || e->skipped)
        s->state = STAGE_DONE;
    else if (!strcmp(e->state, "failed"))
        s->state = STAGE_RUNNING; /* a stage of an ended job that was running reads "failed" */
    else
        s->state = STAGE_WAITING;
    s->ndone = (size_t)e->done;
    r->ntasks = (size_t)e->tasks;
    r->skipped = e->skipped;
    r->is_map = e->is_map;
    r->writes = e->writes;
    r->nreads = e->nreads;
    r->reads = xcalloc(e->nreads + 1, sizeof *r->reads);
    if (e->nreads) memcpy(r->reads, e->reads, e->nreads * sizeof *r->reads);
    r->fn_names = xstrdup(e->functions ? e->functions : "");
    snprintf(r->kind, sizeof r->kind, "%s", e->kind);
    r->started_ms = e->started_ms;
    r->ended_ms = e->ended_ms;
    r->failed = e->failed;
    r->records_in = e->records_in;
    r->records_out = e->records_out;
    r->bytes_in = e->bytes_in;
    r->bytes_out = e->bytes_out;
    r->shuffle_read = e->shuffle_read;
    r->shuffle_write = e->shuffle_write;
    r->spills = e->spills;
    r->spill_bytes = e->spill_bytes;
    /* the failed attempts the log kept, as the stage page lists attempts */
    r->rows = xcalloc(e->nfailures + 1, sizeof *r->rows);
    r->cap = e->nfailures + 1;
    for (size_t k = 0; k < e->nfailures; k++) {
        const ev_failure *f = &e->failures[k];
        task_row *t = &r->rows[r->nrows++];
        t->task_id = f->task_id;
        t->partition = f->partition;
        t->attempt = f->attempt;
        snprintf(t->worker, sizeof t->worker, "%s", f->worker);
        t->state = !strcmp(f->state, "fetch_failed") ? ROW_FETCH_FAILED : !strcmp(f->state, "lost") ? ROW_LOST : ROW_FAILED;
        t->started_ms = f->started_ms;
        t->ended_ms = f->ended_ms;
        t->error = f->error ? xstrdup(f->error) : NULL;
    }
}

static job *job_from_event(app *a, const ev_event *ev)
{
    job *j = xcalloc(1, sizeof *j);
    j->app = a;
    j->job_id = ev->job_id;
    j->state = strcmp(ev->outcome, "succeeded") ? JOB_FAILED : JOB_SUCCEEDED;
    j->action = job_action_parse(ev->action);
    if (ev->error) snprintf(j->error, sizeof j->error, "%s", ev->error);
    j->submitted_wall_ms = ev->submitted_ms;
    j->ended_wall_ms = ev->ended_ms;
    j->nstages = ev->nstages;
    j->stages = xcalloc(ev->nstages + 1, sizeof *j->stages);
    for (size_t i = 0; i < ev->nstages; i++)
        stage_from_event(j, i, &ev->stages[i]);
    j->ntasks = ev->nstages ? j->stages[0].rec.ntasks : 0;
    return j;
}

/* Links j into a->jobs, newest (highest id) first; 0, or -1 when a has a
 * job of that id already (j is then not taken). */
static int job_insert(app *a, job *j)
{
    job **pp = &a->jobs;
    while (*pp && (*pp)->job_id > j->job_id)
        pp = &(*pp)->next;
    if (*pp && (*pp)->job_id == j->job_id) return -1;
    j->next = *pp;
    *pp = j;
    return 0;
}

/* Applies one parsed event to the application being read (*ap, NULL until
 * its app_registered line). NULL, or why the line is skipped. */
static const char *apply(app **ap, const char *id, const ev_event *ev, uint64_t *last_ms)
{
    app *a = *ap;
    if (strcmp(ev->app, id)) return "the line is about another application";
    if (ev->kind == EV_APP_REGISTERED) {
        if (a) return "a second app_registered";
        a = *ap = xcalloc(1, sizeof *a);
        snprintf(a->id, sizeof a->id, "%s", ev->app);
        snprintf(a->name, sizeof a->name, "%s", ev->name);
        snprintf(a->user, sizeof a->user, "%s", ev->user);
        a->started_ms = ev->time_ms;
        a->ended = 1;
        a->from_history = 1;
        *last_ms = ev->time_ms;
        return NULL;
    }
    if (!a) return "before the app_registered line";
    if (ev->kind == EV_JOB_ENDED) {
        job *j = job_from_event(a, ev);
        if (job_insert(a, j) < 0) {
            job_free(j);
            return "a second end of the same job";
        }
        if (ev->job_id > a->njobs) a->njobs = ev->job_id;
        if (ev->ended_ms > *last_ms) *last_ms = ev->ended_ms;
        return NULL;
    }
    /* EV_APP_ENDED */
    if (a->end_reason[0]) return "a second app_ended";
    a->killed = !strcmp(ev->outcome, "killed");
    a->failed = !strcmp(ev->outcome, "failed");
    snprintf(a->end_reason, sizeof a->end_reason, "%s", ev->reason[0] ? ev->reason : "ended");
    a->ended_ms = ev->time_ms;
    if (ev->jobs > a->njobs) a->njobs = ev->jobs;
    return NULL;
}

app *eventlog_load(driver *d, const char *path, const char *id)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        log_msg(&d->log, LOG_WARN, "history: cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    app *a = NULL;
    uint64_t last_ms = 0;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        int whole = n > 0 && line[n - 1] == '\n';
        size_t len = (size_t)n - (whole ? 1 : 0);
        ev_event ev;
        char err[256];
        const char *why = NULL;
        if (ev_parse_line(line, len, &ev, err, sizeof err) < 0) {
            why = err;
        } else {
            why = apply(&a, id, &ev, &last_ms);
            ev_event_release(&ev);
        }
        if (why)
            log_msg(&d->log, LOG_WARN, "history: line skipped file=%s line=%zu%s error=\"%s\"", path, lineno,
                    whole ? "" : " truncated=yes", why);
    }
    free(line);
    fclose(f);
    if (!a) {
        log_msg(&d->log, LOG_WARN, "history: no application in %s (no app_registered line)", path);
        return NULL;
    }
    if (!a->end_reason[0]) { /* no app_ended: the driver died under it */
        a->failed = 1;
        snprintf(a->end_reason, sizeof a->end_reason, "the driver stopped");
        a->ended_ms = last_ms;
    }
    /* the in-memory bound on finished jobs (history.c) */
    size_t k = 0;
    for (job **pp = &a->jobs; *pp;) {
        if (++k > HISTORY_MAX_JOBS) {
            job *j = *pp;
            *pp = j->next;
            job_free(j);
            continue;
        }
        pp = &(*pp)->next;
    }
    return a;
}

void eventlog_startup(driver *d)
{
    char err[1024];
    char *dir = xasprintf("%s/history", d->state_dir);
    int ok = mkdir_p(dir, 0750, err, sizeof err) == 0;
    free(dir);
    if (!ok) {
        log_msg(&d->log, LOG_WARN, "history: %s; applications are not kept across restarts", err);
        return;
    }
    hfile *kept;
    unsigned long max_seq;
    size_t n = prune_logs(d, &kept, &max_seq), loaded = 0;
    /* oldest first, each pushed in front: d->apps ends newest first */
    for (size_t i = n; i-- > 0;) {
        char *path = log_path(d, kept[i].id);
        app *a = eventlog_load(d, path, kept[i].id);
        free(path);
        if (!a) continue;
        a->next = d->apps;
        d->apps = a;
        loaded++;
    }
    free(kept);
    /* new ids come after every id a log has, even one started this second */
    if (max_seq > d->app_seq) d->app_seq = max_seq > UINT32_MAX ? UINT32_MAX : (uint32_t)max_seq;
    log_msg(&d->log, LOG_INFO, "history: applications loaded count=%zu max_apps=%lld", loaded,
            (long long)d->conf.history_max_apps);
}
