/*
 * eventlog_parse.c - one line of an application's event log (eventlog.h)
 * into an ev_event. Pure: bytes in, a struct or an error out, no I/O and
 * no driver state, so it is unit-tested and fuzzed alone (fuzz_eventlog).
 *
 * The line came from a file a crash may have cut anywhere, so nothing in
 * it is trusted: every field is checked for its type, integers must be
 * non-negative, the counts of stages and shuffles are bounded, an
 * application id must be a safe file name, and an unknown event or
 * outcome is an error. Free text (names, reasons, errors) longer than the
 * driver keeps is cut, not refused.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventlog.h"
#include "util.h"

/* Copies string field key of o into buf (cut to size). Missing: -1 when
 * required, else "" . */
static int get_str(json_t *o, const char *key, char *buf, size_t size, int required, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    buf[0] = '\0';
    if (!v) return required ? errf(err, errlen, "no \"%s\"", key) : 0;
    if (!json_is_string(v)) return errf(err, errlen, "\"%s\" is not a string", key);
    snprintf(buf, size, "%s", json_string_value(v));
    return 0;
}

/* A non-negative integer field; missing reads 0. */
static int get_u64(json_t *o, const char *key, uint64_t *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return errf(err, errlen, "\"%s\" is not a non-negative integer", key);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_u32(json_t *o, const char *key, uint32_t *out, char *err, size_t errlen)
{
    uint64_t v;
    if (get_u64(o, key, &v, err, errlen) < 0) return -1;
    if (v > UINT32_MAX) return errf(err, errlen, "\"%s\" is too large", key);
    *out = (uint32_t)v;
    return 0;
}

static int one_of(const char *s, const char *const *names)
{
    for (; *names; names++)
        if (!strcmp(s, *names)) return 1;
    return 0;
}

/* One entry of a stage's "failures". */
static int parse_failure(json_t *o, ev_failure *f, char *err, size_t errlen)
{
    static const char *const states[] = {"failed", "fetch_failed", "lost", NULL};
    if (!json_is_object(o)) return errf(err, errlen, "a failure is not an object");
    if (get_u64(o, "task", &f->task_id, err, errlen) < 0 || get_u32(o, "partition", &f->partition, err, errlen) < 0 ||
        get_u32(o, "attempt", &f->attempt, err, errlen) < 0 ||
        get_str(o, "worker", f->worker, sizeof f->worker, 0, err, errlen) < 0 ||
        get_str(o, "state", f->state, sizeof f->state, 1, err, errlen) < 0 ||
        get_u64(o, "started_ms", &f->started_ms, err, errlen) < 0 ||
        get_u64(o, "ended_ms", &f->ended_ms, err, errlen) < 0)
        return -1;
    if (!one_of(f->state, states)) return errf(err, errlen, "unknown failure state \"%s\"", f->state);
    if (f->ended_ms && f->ended_ms < f->started_ms) return errf(err, errlen, "a failure ended before it started");
    json_t *e = json_object_get(o, "error");
    if (e && !json_is_null(e)) {
        if (!json_is_string(e)) return errf(err, errlen, "a failure's \"error\" is not a string");
        if (json_string_length(e) > EV_ERROR_MAX) return errf(err, errlen, "a failure's error is too long");
        f->error = xstrdup(json_string_value(e));
    }
    return 0;
}

static int parse_stage(json_t *o, ev_stage *s, char *err, size_t errlen)
{
    static const char *const states[] = {"succeeded", "failed", "skipped", "not run", NULL};
    if (!json_is_object(o)) return errf(err, errlen, "a stage is not an object");
    if (get_u32(o, "id", &s->id, err, errlen) < 0 || get_str(o, "kind", s->kind, sizeof s->kind, 1, err, errlen) < 0 ||
        get_str(o, "state", s->state, sizeof s->state, 1, err, errlen) < 0)
        return -1;
    if (!one_of(s->state, states)) return errf(err, errlen, "unknown stage state \"%s\"", s->state);
    struct {
        const char *key;
        uint64_t *v;
    } nums[] = {
        {"tasks", &s->tasks},
        {"done", &s->done},
        {"failed_attempts", &s->failed},
        {"records_in", &s->records_in},
        {"records_out", &s->records_out},
        {"bytes_in", &s->bytes_in},
        {"bytes_out", &s->bytes_out},
        {"shuffle_read", &s->shuffle_read},
        {"shuffle_write", &s->shuffle_write},
        {"spills", &s->spills},
        {"spill_bytes", &s->spill_bytes},
        {"started_ms", &s->started_ms},
        {"ended_ms", &s->ended_ms},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (get_u64(o, nums[i].key, nums[i].v, err, errlen) < 0) return -1;
    if (s->done > s->tasks) return errf(err, errlen, "a stage has more tasks done than tasks");
    s->skipped = !strcmp(s->state, "skipped");
    json_t *w = json_object_get(o, "writes");
    if (w && !json_is_null(w)) {
        if (get_u32(o, "writes", &s->writes, err, errlen) < 0) return -1;
        s->is_map = 1;
    }
    json_t *reads = json_object_get(o, "reads");
    if (reads && !json_is_array(reads)) return errf(err, errlen, "\"reads\" is not an array");
    s->nreads = reads ? json_array_size(reads) : 0;
    if (s->nreads > EV_MAX_READS) return errf(err, errlen, "a stage reads too many shuffles");
    s->reads = xcalloc(s->nreads + 1, sizeof *s->reads);
    for (size_t i = 0; i < s->nreads; i++) {
        json_t *r = json_array_get(reads, i);
        if (!json_is_integer(r) || json_integer_value(r) < 0 || json_integer_value(r) > UINT32_MAX)
            return errf(err, errlen, "a shuffle id in \"reads\" is not one");
        s->reads[i] = (uint32_t)json_integer_value(r);
    }
    json_t *f = json_object_get(o, "functions");
    if (f && !json_is_string(f)) return errf(err, errlen, "\"functions\" is not a string");
    s->functions = xstrdup(f ? json_string_value(f) : "");
    json_t *fs = json_object_get(o, "failures");
    if (fs && !json_is_array(fs)) return errf(err, errlen, "\"failures\" is not an array");
    size_t nf = fs ? json_array_size(fs) : 0;
    if (nf > EV_MAX_FAILURES) return errf(err, errlen, "a stage lists too many failures");
    s->failures = xcalloc(nf + 1, sizeof *s->failures);
    for (size_t i = 0; i < nf; i++) {
        s->nfailures = i + 1; /* so that a refusal frees what came before */
        if (parse_failure(json_array_get(fs, i), &s->failures[i], err, errlen) < 0) return -1;
    }
    s->nfailures = nf;
    return 0;
}

static int parse_job(json_t *o, ev_event *ev, char *err, size_t errlen)
{
    static const char *const outcomes[] = {"succeeded", "failed", NULL};
    if (get_u32(o, "job", &ev->job_id, err, errlen) < 0 ||
        get_str(o, "action", ev->action, sizeof ev->action, 1, err, errlen) < 0 ||
        get_str(o, "outcome", ev->outcome, sizeof ev->outcome, 1, err, errlen) < 0 ||
        get_u64(o, "submitted_ms", &ev->submitted_ms, err, errlen) < 0 ||
        get_u64(o, "ended_ms", &ev->ended_ms, err, errlen) < 0 || get_u64(o, "tasks", &ev->tasks, err, errlen) < 0 ||
        get_u64(o, "tasks_done", &ev->tasks_done, err, errlen) < 0)
        return -1;
    if (!json_object_get(o, "job")) return errf(err, errlen, "no \"%s\"", "job");
    if (!one_of(ev->outcome, outcomes)) return errf(err, errlen, "unknown job outcome \"%s\"", ev->outcome);
    json_t *e = json_object_get(o, "error");
    if (e && !json_is_null(e)) {
        if (!json_is_string(e)) return errf(err, errlen, "\"error\" is not a string");
        ev->error = xstrndup(json_string_value(e), 1023);
    }
    json_t *st = json_object_get(o, "stages");
    if (st && !json_is_array(st)) return errf(err, errlen, "\"stages\" is not an array");
    size_t n = st ? json_array_size(st) : 0;
    if (n > EV_MAX_STAGES) return errf(err, errlen, "a job has too many stages");
    ev->stages = xcalloc(n + 1, sizeof *ev->stages);
    for (size_t i = 0; i < n; i++) {
        ev->nstages = i + 1; /* what to release if it fails */
        if (parse_stage(json_array_get(st, i), &ev->stages[i], err, errlen) < 0) return -1;
    }
    ev->nstages = n;
    return 0;
}

int ev_parse_line(const char *line, size_t len, ev_event *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof *ev);
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        errf(err, errlen, "not JSON: %s (column %d)", je.text, je.column);
        return -1;
    }
    int rc = -1;
    char what[32];
    if (!json_is_object(o)) {
        errf(err, errlen, "not a JSON object");
        goto out;
    }
    if (get_str(o, "event", what, sizeof what, 1, err, errlen) < 0) goto out;
    json_t *id = json_object_get(o, "app");
    if (!json_is_string(id) || strlen(json_string_value(id)) >= sizeof ev->app ||
        !name_is_safe(json_string_value(id))) {
        errf(err, errlen, "\"app\" is not an application id");
        goto out;
    }
    snprintf(ev->app, sizeof ev->app, "%s", json_string_value(id));
    if (!strcmp(what, "app_registered")) {
        ev->kind = EV_APP_REGISTERED;
        if (get_str(o, "name", ev->name, sizeof ev->name, 1, err, errlen) < 0 ||
            get_str(o, "user", ev->user, sizeof ev->user, 0, err, errlen) < 0 ||
            get_u64(o, "time_ms", &ev->time_ms, err, errlen) < 0)
            goto out;
    } else if (!strcmp(what, "job_ended")) {
        ev->kind = EV_JOB_ENDED;
        if (parse_job(o, ev, err, errlen) < 0) goto out;
    } else if (!strcmp(what, "app_ended")) {
        static const char *const outcomes[] = {"succeeded", "failed", "killed", NULL};
        ev->kind = EV_APP_ENDED;
        if (get_str(o, "outcome", ev->outcome, sizeof ev->outcome, 1, err, errlen) < 0 ||
            get_str(o, "reason", ev->reason, sizeof ev->reason, 0, err, errlen) < 0 ||
            get_u32(o, "jobs", &ev->jobs, err, errlen) < 0 || get_u64(o, "time_ms", &ev->time_ms, err, errlen) < 0)
            goto out;
        if (!one_of(ev->outcome, outcomes)) {
            errf(err, errlen, "unknown application outcome \"%s\"", ev->outcome);
            goto out;
        }
    } else {
        errf(err, errlen, "unknown event \"%s\"", what);
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    if (rc < 0) ev_event_release(ev);
    return rc;
}

void ev_event_release(ev_event *ev)
{
    for (size_t i = 0; i < ev->nstages; i++) {
        ev_stage *s = &ev->stages[i];
        free(s->reads);
        free(s->functions);
        for (size_t k = 0; k < s->nfailures; k++)
            free(s->failures[k].error);
        free(s->failures);
    }
    free(ev->stages);
    free(ev->error);
    memset(ev, 0, sizeof *ev);
}
