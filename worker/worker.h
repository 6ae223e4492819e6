/*
 * worker.h - the worker daemon's state, owned by main.c and passed to
 * every module: link.c (the driver connection: registration, heartbeats,
 * blob fetches, tasks in and results out), pool.c (executor processes:
 * fork, reuse, watch, blame), logs.c (executor logs for kiln logs), blobs
 * in cache/ under the work dir.
 */
#ifndef KILN_WORKER_H
#define KILN_WORKER_H

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <sys/types.h>

#include "blobrecv.h"
#include "conf.h"
#include "conn.h"
#include "handshake.h"
#include "hash.h"
#include "httpd.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "task.h"

typedef struct wtask wtask;
typedef struct wexec wexec;
typedef struct wblob wblob;
typedef struct wlogs_req wlogs_req;

/* A task received from the driver, until its TaskDone went back. */
struct wtask {
    Kiln__Envelope *env; /* owned: the TaskLaunch */
    Kiln__TaskLaunch *t; /* env->task_launch */
    int waiting;         /* blobs still missing */
    int failed;          /* a blob fetch failed; error holds why */
    char error[512];
    wexec *exec;         /* running on */
    uint64_t started_us; /* now_us() when dispatched to an executor (0: never was) */
    wtask *next;         /* queue link */
};

/* A forked executor process. */
struct wexec {
    struct worker *w; /* back pointer for callbacks */
    pid_t pid;
    int index; /* N in executor-N.log */
    char app_id[129];
    conn *c;
    exec_status *status;    /* MAP_SHARED with the process */
    wtask *task;            /* running, or NULL when idle */
    struct event *deadline; /* task.timeout of the running task (created on first use) */
    uint64_t timed_out_ms;  /* the executor was killed for passing this task.timeout */
    int reaped, conn_gone, retiring;
    int closed_alive; /* its connection closed while it was alive: the worker killed it for that */
    int exit_status;
    wexec *next;
};

/* A blob in the cache or on its way. */
struct wblob {
    char hash[HASH_HEX_LEN + 1];
    int present;
    int fetching;
    blob_recv rx; /* the pieces on their way */
    wblob *next;
};

/* Counters for /metrics and the heartbeat (http.c). */
typedef struct worker_metrics {
    histogram task_seconds;
    uint64_t records_in, records_out, shuffle_write, spills, spill_bytes;
    uint64_t data_conns, driver_conns, handshake_failures;
    uint64_t disk_bytes, disk_ms; /* the work dir's size, walked at disk_ms */
} worker_metrics;

typedef struct worker {
    struct event_base *base;
    kiln_conf conf;
    logger log;
    char *work_dir, *cache_dir;
    int slots;
    char name[256];
    char host[256];
    int data_port, http_port;
    int advertised_port; /* the data port as others reach it (worker.advertise) */
    auth_secret secret;  /* empty: no authentication */
    /* the driver link */
    conn *driver;
    handshake hs; /* with the driver, until it finished */
    int registered;
    uint32_t worker_id;
    uint64_t backoff_ms;
    struct event *reconnect_ev, *heartbeat_ev;
    /* listeners */
    struct listen_guard *data_listener;
    struct httpd *http;
    struct shuffle_server *shuffles; /* serves map outputs on the data port */
    /* tasks waiting for blobs or a slot, in arrival order */
    wtask *queue_head, *queue_tail;
    int ntasks; /* received and not yet answered */
    /* executors */
    wexec *execs;
    int nexecs, next_exec_index;
    wblob *blobs;
    wlogs_req *logs_head, *logs_tail; /* kiln logs requests being answered (logs.c) */
    struct event *sigchld_ev, *sighup_ev, *sigterm_ev, *sigint_ev;
    struct event *stop_ev; /* stopping: the executors' grace period */
    int stopping;
    /* counters for the status page and tests */
    uint64_t tasks_done, tasks_failed, blobs_fetched, blob_bytes_fetched, execs_forked;
    worker_metrics m;
    uint64_t started_wall_ms; /* the wall clock at start (process_start_time_seconds) */
    int driver_http_port;     /* the driver's status port (WorkerRegistered), 0 before */
} worker;

/* link.c */
void link_start(worker *w);
void link_send(worker *w, const Kiln__Envelope *env);
void link_task_finished(worker *w, wtask *t, const Kiln__TaskDone *done);
void link_forward_output(worker *w, const Kiln__Envelope *env);

/* http.c: the HTTP port (status, JSON, /metrics, executor logs) */
void worker_http_serve(httpd_req *req, void *arg);
/* Resident memory of the worker and its executors, and the bytes under the
 * work dir (walked at most every 5 s). */
void worker_usage(worker *w, uint64_t *memory, uint64_t *disk);
/* Counts a task answered to the driver (link_task_finished). */
void worker_metrics_task(worker *w, const wtask *t, const Kiln__TaskDone *done);

/* pool.c */
void pool_schedule(worker *w);
void pool_on_sigchld(worker *w);
/* The driver no longer wants these tasks of app_id: queued ones are
 * dropped, running ones' executors killed, none answered. */
void pool_cancel_tasks(worker *w, const char *app_id, const uint64_t *ids, size_t n);
/* The driver's answer to a barrier task's BarrierSync: to the executor
 * running that task (none: the task is gone, and it is dropped). */
void pool_barrier_reply(worker *w, const Kiln__Envelope *env);
void pool_end_app(worker *w, const char *app_id, char **abandoned_dirs, size_t ndirs);
/* Removes the shuffle, cache and spill directories of every application in
 * the work dir that is not in live[] (borrowed: the driver's list of the
 * applications still running); executor logs stay. */
void pool_sweep_apps(worker *w, char **live, size_t nlive);
/* Drops every queued and running task unanswered and sends sig to every
 * executor (SIGKILL when the driver is lost, SIGTERM when stopping). */
void pool_end_all(worker *w, int sig);
/* Executor processes not reaped yet. */
int pool_alive(const worker *w);
void task_free(wtask *t);

/* logs.c: executor logs for `kiln logs`. Log pieces are queued while the
 * driver link has under LOGS_OUT_HIGH unsent, and more when it drains to
 * LOGS_OUT_LOW. */
#define LOGS_OUT_HIGH (2u << 20)
#define LOGS_OUT_LOW  (512u << 10)
/* Queues the answer to a LogsRequest (borrowed; what it needs is copied). */
void logs_request(worker *w, const Kiln__LogsRequest *r);
/* Sends what the driver link has room for; runs again when it drains. */
void logs_pump(worker *w);
/* The driver link went: drops every request unanswered. */
void logs_drop_all(worker *w);

#endif
