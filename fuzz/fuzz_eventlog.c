/*
 * fuzz_eventlog.c - libFuzzer target: one line of an application's event
 * log through ev_parse_line (driver/eventlog_parse.c), as the driver reads
 * STATE/history/APP-ID.jsonl at start-up: a file a crash may have cut anywhere,
 * or anyone with access to the state directory may have edited.
 *
 * Properties: a refused line has a message and leaves the event empty; an
 * accepted one has a known kind, an application id that is a safe file
 * name, NUL-terminated strings within their fields, at most EV_MAX_STAGES
 * stages, each with no more tasks done than tasks and its functions set,
 * at most EV_MAX_FAILURES failures of a known state, none ending before it
 * started, each error within EV_ERROR_MAX bytes, and parsing the same
 * bytes again gives the same event.
 *
 * Seeds: fuzz/corpus/eventlog/, written by hand: each event kind, a
 * multi-stage job, a failed job with an error and its failed attempts, a
 * line cut mid-way.
 */
#include <string.h>

#include "eventlog.h"
#include "fuzz.h"
#include "util.h"

static int same(const ev_event *a, const ev_event *b)
{
    if (a->kind != b->kind || strcmp(a->app, b->app) || strcmp(a->name, b->name) || strcmp(a->outcome, b->outcome) ||
        a->nstages != b->nstages || a->job_id != b->job_id || a->tasks != b->tasks || !a->error != !b->error)
        return 0;
    for (size_t i = 0; i < a->nstages; i++)
        if (a->stages[i].tasks != b->stages[i].tasks || a->stages[i].nreads != b->stages[i].nreads ||
            strcmp(a->stages[i].functions, b->stages[i].functions) || a->stages[i].nfailures != b->stages[i].nfailures)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ev_event ev, again;
    char err[256] = "";
    if (ev_parse_line((const char *)data, size, &ev, err, sizeof err) < 0) {
        FUZZ_ASSERT(err[0]);
        FUZZ_ASSERT(ev.kind == 0 && ev.stages == NULL && ev.error == NULL);
        return 0;
    }
    FUZZ_ASSERT(ev.kind == EV_APP_REGISTERED || ev.kind == EV_JOB_ENDED || ev.kind == EV_APP_ENDED);
    FUZZ_ASSERT(name_is_safe(ev.app));
    FUZZ_ASSERT(strlen(ev.name) < sizeof ev.name && strlen(ev.user) < sizeof ev.user);
    FUZZ_ASSERT(strlen(ev.reason) < sizeof ev.reason && strlen(ev.outcome) < sizeof ev.outcome);
    FUZZ_ASSERT(ev.nstages <= EV_MAX_STAGES);
    for (size_t i = 0; i < ev.nstages; i++) {
        const ev_stage *s = &ev.stages[i];
        FUZZ_ASSERT(s->done <= s->tasks);
        FUZZ_ASSERT(s->functions != NULL && s->nreads <= EV_MAX_READS);
        FUZZ_ASSERT(s->nreads == 0 || s->reads != NULL);
        FUZZ_ASSERT(s->nfailures <= EV_MAX_FAILURES && (s->nfailures == 0 || s->failures != NULL));
        for (size_t k = 0; k < s->nfailures; k++) {
            const ev_failure *f = &s->failures[k];
            FUZZ_ASSERT(!strcmp(f->state, "failed") || !strcmp(f->state, "fetch_failed") || !strcmp(f->state, "lost"));
            FUZZ_ASSERT(!f->ended_ms || f->ended_ms >= f->started_ms);
            FUZZ_ASSERT(strlen(f->worker) < sizeof f->worker && (!f->error || strlen(f->error) <= EV_ERROR_MAX));
        }
    }
    FUZZ_ASSERT(ev_parse_line((const char *)data, size, &again, err, sizeof err) == 0);
    FUZZ_ASSERT(same(&ev, &again));
    ev_event_release(&again);
    ev_event_release(&ev);
    return 0;
}
