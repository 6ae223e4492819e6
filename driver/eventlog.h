/*
 * eventlog.h - the driver's event log of each application (its history
 * after a restart): STATE/history/APP-ID.jsonl, one JSON object a line.
 *
 *   {"event":"app_registered","app":ID,"name":N,"user":U,"time_ms":T}
 *   {"event":"job_ended","app":ID,"job":N,"action":A,"outcome":"succeeded"|"failed",
 *    "error":E|null,"submitted_ms":T,"ended_ms":T,"tasks":N,"tasks_done":N,
 *    "stages":[{"id":S,"kind":K,"state":ST,"tasks":N,"done":N,"skipped":B,
 *               "writes":SH|null,"reads":[SH...],"functions":F,"failed_attempts":N,
 *               "records_in":N,... ,"started_ms":T,"ended_ms":T,
 *               "failures":[{"task":ID,"partition":P,"attempt":A,"worker":W,
 *                            "state":"failed"|"fetch_failed"|"lost","started_ms":T,"ended_ms":T,
 *                            "error":E|null}, ...]}, ...]}   (plan order: [0] the result stage)
 *   {"event":"app_ended","app":ID,"outcome":"succeeded"|"failed"|"killed","reason":R,
 *    "jobs":N,"time_ms":T}
 *
 * "failures" holds a stage's first EV_MAX_FAILURES attempts that failed
 * (an error of at most EV_ERROR_MAX bytes each), so that why a job failed
 * is still there, task by task, after a restart; a line without it (an
 * older log) reads as none.
 *
 * eventlog_parse.c turns one line into an ev_event (pure, fuzzed);
 * eventlog.c writes the lines as the scheduler's hooks fire, prunes the
 * directory to history.max_apps and loads it at start-up.
 */
#ifndef KILN_DRIVER_EVENTLOG_H
#define KILN_DRIVER_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#define EV_MAX_STAGES 65536 /* per job line; more is malformed */
#define EV_MAX_READS  65536 /* shuffles a stage reads */
#define EV_MAX_FAILURES 32 /* failed attempts kept per stage */
#define EV_ERROR_MAX  4096 /* bytes of each one's error kept */

enum ev_kind { EV_APP_REGISTERED = 1, EV_JOB_ENDED, EV_APP_ENDED };

/* One failed attempt of a stage. */
typedef struct ev_failure {
    uint64_t task_id;
    uint32_t partition, attempt;
    char worker[64];
    char state[16]; /* failed, fetch_failed, lost */
    uint64_t started_ms, ended_ms;
    char *error; /* owned; NULL: none */
} ev_failure;

/* One stage of a job_ended event. */
typedef struct ev_stage {
    uint32_t id; /* 0: never started */
    char kind[16];
    char state[16]; /* succeeded, failed, skipped, not run */
    uint64_t tasks, done;
    int skipped, is_map;
    uint32_t writes; /* is_map: the shuffle it writes */
    uint32_t *reads; /* owned */
    size_t nreads;
    char *functions; /* owned, never NULL after a successful parse */
    uint64_t failed, records_in, records_out, bytes_in, bytes_out, shuffle_read, shuffle_write, spills, spill_bytes;
    uint64_t started_ms, ended_ms;
    ev_failure *failures; /* owned */
    size_t nfailures;
} ev_stage;

/* One parsed line. Fields a kind does not have stay zero. */
typedef struct ev_event {
    enum ev_kind kind;
    char app[64];
    char name[128], user[64]; /* app_registered (longer ones are cut) */
    uint64_t time_ms;         /* app_registered, app_ended */
    char outcome[16];         /* app_ended, job_ended */
    char reason[256];         /* app_ended */
    uint32_t jobs;            /* app_ended */
    uint32_t job_id;          /* job_ended */
    char action[16];
    char *error; /* job_ended: owned; NULL when the job did not fail */
    uint64_t submitted_ms, ended_ms, tasks, tasks_done;
    ev_stage *stages; /* owned */
    size_t nstages;
} ev_event;

/* Parses one line (len bytes, no newline needed, need not be
 * NUL-terminated) into *ev, which it fills from zero. 0, or -1 with why in
 * err (ev then holds nothing to release). Pure: no I/O, no globals. */
int ev_parse_line(const char *line, size_t len, ev_event *ev, char *err, size_t errlen);
/* Frees what *ev owns and zeroes it. */
void ev_event_release(ev_event *ev);

#endif
