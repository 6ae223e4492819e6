/*
 * driver.h - the driver daemon's state, owned by main.c and passed to every
 * module:
 *   rpc.c      connections: hello, roles, and the client protocol
 *   workers.c  the worker registry: registration, heartbeats, time-outs
 *   sched.c    jobs and tasks: launching, results, retries, completion
 *   place.c    where tasks wait and go: workers by load, queues, ids
 *   loss.c     lost workers and map outputs: forget everywhere, then rerun
 *   stages.c   lineage graph -> stage function (pure)
 *   store.c    libraries and broadcast blobs on disk, uploads and serving
 *   history.c  what the UI shows: stage records, task attempts, outcomes, metrics
 *   eventlog.c each application's event log: written as it runs, read at start-up
 *   http.c     the HTTP port: routing, the JSON API, /metrics; ui.c: the HTML pages
 *   logs.c     kiln logs: executor logs relayed from the workers
 * All scheduler state changes on the one event-loop thread.
 */
#ifndef KILN_DRIVER_H
#define KILN_DRIVER_H

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <stdint.h>

#include "blobrecv.h"
#include "conf.h"
#include "conn.h"
#include "handshake.h"
#include "hash.h"
#include "httpd.h"
#include "listen.h"
#include "idmap.h"
#include "log.h"
#include "metrics.h"
#include "stages.h"

typedef struct driver driver;
typedef struct dconn dconn;
typedef struct dworker dworker;
typedef struct app app;
typedef struct job job;
typedef struct dtask dtask;
typedef struct dstage dstage;
typedef struct shuffle_out shuffle_out;
typedef struct cache_entry cache_entry;
typedef struct logs_round logs_round;
struct old_plan {
    dstage *stages;
    size_t nstages;
    struct old_plan *next;
};

/* The BlobGet answers of one worker connection, streamed in order with
 * backpressure (store.c): the queue of hashes asked for, and the blob
 * being sent. */
typedef struct blob_ask {
    char hash[65];
    struct blob_ask *next;
} blob_ask;
typedef struct blob_send {
    blob_ask *head, *tail;
    size_t queued;
    struct evbuffer_file_segment *seg; /* the blob being sent; NULL: none */
    int fd;                            /* seg's file (seg closes it), read to seal the pieces */
    char hash[65];
    uint64_t off, size;
} blob_send;

/* A queue of pending tasks (place.c), doubly linked through the tasks. */
typedef struct tqueue {
    dtask *head, *tail;
} tqueue;

/* One accepted connection before and after it says who it is. */
struct dconn {
    driver *d;
    conn *c;
    Kiln__Role role; /* ROLE_UNKNOWN until the handshake finished */
    handshake hs;    /* hello and, with a secret, authentication */
    dworker *worker; /* role == WORKER, after registration */
    app *app;        /* role == CLIENT, after app_register */
    blob_recv up;    /* an upload in progress (BlobPut) */
    blob_send down;  /* blobs being served (BlobGet) */
    dconn *next;
};

struct dworker {
    uint32_t id;
    dconn *dc;
    char name[256];
    char host[256];
    uint32_t data_port, http_port;
    uint32_t slots;
    uint32_t running; /* tasks launched and not answered */
    uint64_t tasks_done;
    uint64_t last_heartbeat_ms;
    /* what its last heartbeat said (history_heartbeat) */
    uint32_t hb_running, hb_executors;
    uint64_t memory_bytes, disk_bytes;
    dtask *tasks; /* running here (linked by wnext, wprev) */
    dworker *next;
    /* place.c's */
    size_t heap_slot; /* 1 + its index in the heap of workers with room; 0: none */
    int gone;         /* lost: never placed again */
    tqueue own;       /* pending tasks that must run here (a cached partition) */
    int dirty;        /* on place.dirty: own tasks wait and it has room */
    dworker *dirty_next;
};

enum task_state { TASK_PENDING, TASK_RUNNING, TASK_DONE };

struct dtask {
    uint64_t id; /* unique per attempt */
    job *job;
    dstage *stage;
    uint32_t index; /* the task's partition in its stage */
    uint32_t attempt;
    enum task_state state;
    uint32_t failures;
    uint32_t fetch_failures; /* its input could not be read (not counted in failures) */
    uint32_t avoid_worker;   /* last worker it failed on */
    uint32_t need_worker;    /* reads a cached partition kept there (0: any) */
    dworker *worker;
    uint64_t launched_ms; /* now_ms() at the launch of this attempt */
    dtask *wprev, *wnext; /* in worker->tasks */
    tqueue *queue;        /* the queue it waits in (place.c), NULL: none */
    dtask *qprev, *qnext;
};

enum stage_state { STAGE_WAITING, STAGE_SAMPLING, STAGE_RUNNING, STAGE_DONE };

/* One attempt of a task as the UI and the API show it (history.c). */
enum row_state { ROW_RUNNING, ROW_SUCCEEDED, ROW_FAILED, ROW_FETCH_FAILED, ROW_KILLED, ROW_LOST };
typedef struct task_row {
    uint64_t task_id;
    uint32_t partition, attempt;
    uint32_t worker_id;
    char worker[64]; /* its name at launch (the worker may be gone since) */
    enum row_state state;
    int sample;                    /* a sort's sampling pass */
    uint64_t started_ms, ended_ms; /* wall clock; ended 0 while running */
    uint64_t records_in, records_out, bytes_in, bytes_out, shuffle_read, shuffle_write, spills, spill_bytes;
    char *error; /* owned; NULL when it did not fail */
} task_row;

/* What a stage was and did, kept after its plan is released (history.c).
 * rows: every attempt in launch order (task ids ascending), at most
 * HISTORY_STAGE_ROWS; the totals count successful attempts. */
typedef struct stage_record {
    size_t ntasks;   /* partitions, from the plan */
    int skipped;     /* an earlier job of the application wrote its shuffle */
    int is_map;      /* writes shuffle `writes`; else the result stage */
    uint32_t writes; /* shuffle id */
    uint32_t *reads; /* shuffle ids it reads (owned) */
    size_t nreads;
    char *fn_names;                /* owned; NULL until launched */
    char kind[16];                 /* the output: count, shuffle_write, ... */
    uint64_t started_ms, ended_ms; /* wall clock */
    task_row *rows;
    size_t nrows, cap, rows_dropped;
    uint64_t failed; /* attempts that failed */
    uint64_t records_in, records_out, bytes_in, bytes_out, shuffle_read, shuffle_write, spills, spill_bytes;
} stage_record;

/* One stage of a job (stages.c planned it; sched.c runs it). */
struct dstage {
    job *job;
    size_t index; /* in job->jp.stages */
    uint32_t id;  /* unique in the driver */
    enum stage_state state;
    stage_plan plan; /* serialized when the stage (or its sampling) starts */
    dtask *tasks;    /* plan.ntasks of them */
    size_t ndone;
    Kiln__ShuffleWrite sw; /* map stages: the output */
    Kiln__Action output;
    ProtobufCBinaryData *bounds; /* sort: range bounds (borrowed from the shuffle_out) */
    size_t nbounds;
    uint8_t **samples; /* sort: sampled records, while sampling (owned) */
    size_t *sample_lens, nsamples;
    stage_record rec; /* for the UI (history.c) */
    /* for the summary logged when it finishes */
    uint64_t started_ms;
    uint64_t records_in, records_out, bytes; /* bytes: shuffle output, or results */
    uint32_t failures;
    uint64_t slowest_ms;
    uint32_t slowest_index;
    char slowest_worker[64];
    /* place.c's: tasks per slot a worker may hold for this stage (0: not
     * yet known, PLACE_DEPTH_MIN), from the mean run time its workers
     * reported (an exponential moving average; runs: how many) */
    uint32_t depth;
    double run_us;
    uint64_t runs;
    /* barrier.c's, for a barrier stage: its tasks launch together */
    int barrier_waiting;               /* they wait for as many free slots */
    uint32_t barrier_attempts;         /* attempts of the whole stage that failed */
    uint32_t barrier_round;            /* the rendezvous under way (BarrierSync.round) */
    uint32_t barrier_arrived;          /* tasks in it */
    ProtobufCBinaryData *barrier_msgs; /* per task: its message in this round (owned) */
    uint8_t *barrier_in;               /* per task: in this round */
    uint8_t *barrier_left;             /* per task: finished without joining later rounds */
};

/* Where the map outputs of one shuffle of an application are. */
struct shuffle_out {
    uint32_t shuffle_id;
    uint32_t nmaps, nparts;
    uint32_t *worker; /* per map output: the worker id holding it, 0 = none */
    uint64_t *sizes;  /* nmaps * nparts bytes */
    uint32_t available;
    /* sort: the range bounds every map output was cut by (owned); a rerun
     * of lost map tasks must cut the same way */
    int has_bounds;
    ProtobufCBinaryData *bounds;
    size_t nbounds;
    shuffle_out *next;
};

/* Which worker keeps each partition of a cached node. */
struct cache_entry {
    uint32_t node;
    uint32_t nparts;
    uint32_t *worker; /* 0 = not kept */
    cache_entry *next;
};

enum job_state { JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED };

struct job {
    app *app;
    uint32_t job_id;        /* the client's number */
    Kiln__Envelope *submit; /* owned: the JobSubmit the plan borrows from */
    job_plan jp;
    dstage *stages; /* jp.nstages of them; [0] is the result stage */
    size_t nstages;
    /* stages of earlier plans of this job (job_replan): tasks still running
     * for them point here until they answer */
    struct old_plan *old;
    uint32_t *result_attempts; /* per result partition: attempts made under earlier plans */
    size_t nresult_attempts;
    uint32_t replans;
    size_t ndone; /* result tasks done */
    enum job_state state;
    uint64_t count;
    uint64_t result_bytes;
    uint64_t started_ms;
    size_t ntasks; /* result tasks */
    Kiln__ActionKind action;
    uint64_t spills, spill_bytes;
    char *save_dir;       /* save_text: the output directory (owned) */
    size_t running;       /* its tasks on workers (any plan) */
    size_t queued;        /* its tasks in a queue of place.c */
    uint64_t progress_ms; /* when the client was last told how far the job is */
    uint64_t submitted_wall_ms, ended_wall_ms;
    /* job settings: the driver's, overridden by the job's --conf */
    kiln_conf conf;
    char error[1024];
    job *next;
};

struct app {
    char id[64];
    char name[128];
    char user[64]; /* as the client said ($USER) */
    char lib_hash[HASH_HEX_LEN + 1];
    dconn *client; /* NULL once ended */
    int ended;
    uint64_t started_ms;
    uint64_t ended_ms; /* wall clock */
    int killed;        /* by an operator (kiln kill) */
    int failed;        /* it ended with a job running, or its last job failed */
    char end_reason[256];
    int from_history;       /* read from its event log at start-up (eventlog.c) */
    uint32_t next_stage_id; /* stage numbers count within the application */
    uint32_t njobs;
    job *jobs;
    Kiln__Counter **counters; /* totals of successful tasks */
    size_t ncounters;
    shuffle_out *shuffles;
    idmap shuffle_ids; /* shuffle id -> shuffle_out */
    cache_entry *cache;
    idmap cache_nodes; /* node id -> cache_entry */
    /* every blob it used (library, broadcasts, broadcast stages): never
     * dropped from the store while it runs */
    char (*blobs)[HASH_HEX_LEN + 1];
    size_t nblobs;
    app *next;
};

/* Counters for /metrics (history.c counts, http.c prints). */
typedef struct driver_metrics {
    uint64_t jobs_succeeded, jobs_failed;
    uint64_t stages_succeeded, stages_failed, stages_skipped;
    uint64_t tasks[ROW_LOST + 1]; /* finished attempts by enum row_state */
    histogram task_seconds;       /* every finished attempt */
    uint64_t records_in, records_out, bytes_in, bytes_out, shuffle_read, shuffle_write, spills, spill_bytes;
    uint64_t apps_succeeded, apps_failed, apps_killed;
    uint64_t conns_accepted, conns_refused, handshake_failures;
} driver_metrics;
/* Where tasks wait and go (place.c). A worker holds at most depth tasks per
 * slot (running, or queued there behind them): PLACE_DEPTH_MIN, one running
 * and the next on its way; more while a stage's tasks are short, as many
 * more as fit in PLACE_QUEUE_US of their mean run time, up to
 * PLACE_DEPTH_MAX, taken by a worker when it answers (place_next_for). */
#define PLACE_DEPTH_MIN 2
#define PLACE_DEPTH_MAX 16
#define PLACE_QUEUE_US 1000
typedef struct place {
    dworker **heap; /* the workers with room, the lowest load at the root */
    size_t nheap, capheap;
    idmap workers;  /* every registered worker by id */
    idmap running;  /* every task on a worker by task id */
    tqueue fifo;    /* pending tasks any worker may run */
    tqueue blocked; /* pending tasks whose shuffle input is incomplete */
    dworker *dirty; /* workers with own tasks waiting and room */
} place;

struct driver {
    struct event_base *base;
    kiln_conf conf;
    logger log;
    char *state_dir, *blob_dir;
    int rpc_port, http_port;
    struct listen_guard *rpc_listener;
    struct httpd *http;
    uint64_t rpc_max_conns; /* net.max_connections within the descriptor limit (listen_caps) */
    ratelog refused_log;    /* "too many connections" lines, at most one per interval */
    auth_secret secret; /* empty: no authentication */
    dconn *conns;
    size_t nconns;
    dworker *workers;
    uint32_t next_worker_id;
    app *apps;
    uint32_t app_seq;
    uint64_t next_task_id;
    place place;
    int unblock; /* a shuffle became complete: look at the blocked tasks */
    uint32_t barrier_waiting; /* barrier stages waiting for free slots (barrier.c) */
    struct event *tick_ev;
    struct event *sighup_ev, *sigterm_ev, *sigint_ev;
    uint64_t started_wall_ms; /* the wall clock at start (process_start_time_seconds) */
    uint64_t started_ms;
    stage_stats stats;
    uint64_t blobs_served, blob_bytes_served, tasks_launched;
    uint64_t store_swept_ms; /* when the blob store was last swept (store.retention) */
    uint64_t blobs_dropped;
    driver_metrics m;
    logs_round *logs; /* kiln logs answers under way (logs.c) */
    uint32_t logs_seq;
};

/* rpc.c */
void rpc_accept(driver *d, evutil_socket_t fd);
/* Fails every client's running jobs with why, then closes every
 * connection (after flushing what was queued). */
void rpc_close_all(driver *d, const char *why);

/* workers.c */
void workers_register(driver *d, dconn *dc, const Kiln__RegisterWorker *r);
void workers_heartbeat(driver *d, dworker *w);
void workers_lost(driver *d, dworker *w, const char *reason);
void workers_tick(driver *d);
void workers_broadcast(driver *d, const Kiln__Envelope *env);

/* sched.c */
void sched_submit(driver *d, app *a, conn *c, Kiln__JobSubmit *js);
void sched_schedule(driver *d);
void sched_task_output(driver *d, dworker *w, const Kiln__TaskOutput *o);
void sched_task_done(driver *d, dworker *w, const Kiln__TaskDone *done);
void sched_app_ended(driver *d, app *a, const char *why);
/* Fails job_id of a, if it is running, with the error "Job N cancelled
 * <reason>" (its running tasks are cancelled). 1 if it was running. */
int sched_cancel_job(driver *d, app *a, uint32_t job_id, const char *reason);
void job_free(job *j);
void app_free(app *a);
/* The scheduler's own pieces that loss.c uses. None of them launches a
 * task: launching is sched_schedule's alone. */
void pending_push(driver *d, dtask *t);
void pending_drop_job(driver *d, job *j);
void job_cancel_running(driver *d, job *j);
/* Cancels ts[0..n) (tasks of j on workers; the array is reordered): each
 * leaves its worker, is recorded as killed with why, and each worker gets
 * one CancelTasks. */
void tasks_cancel(driver *d, job *j, dtask **ts, size_t n, const char *why);
/* Ends j as failed with the message (its client hears it). */
void job_fail(driver *d, job *j, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sends t (out of any queue) to w now. May fail the job (a reduce task's
 * input is missing). */
void sched_launch(driver *d, dtask *t, dworker *w);

/* barrier.c: barrier stages (rdd.barrier()) launch all their tasks at once
 * and meet in barrier()/allGather(). */
/* s's tasks were made: they wait for as many free slots. -1: the job failed. */
int barrier_stage_begin(driver *d, dstage *s);
/* Launches every waiting barrier stage that now fits. */
void barrier_schedule(driver *d);
/* A task's BarrierSync from worker w. */
void barrier_sync(driver *d, dworker *w, const Kiln__BarrierSync *m);
/* t, of a barrier stage, succeeded: 0, or -1 when that failed the attempt
 * (others wait in a round it never joined). */
int barrier_task_succeeded(driver *d, dtask *t);
/* A task of barrier stage s failed (index, error): the other tasks are
 * cancelled and the whole stage waits for its slots again, or the job
 * fails after task.max_failures attempts (at once when fatal). */
void barrier_attempt_failed(driver *d, dstage *s, uint32_t index, const char *error, int fatal);
/* pending_push's: 1 when t belongs to a barrier stage, which then runs
 * again whole (a lost worker, lost map outputs); 0 otherwise. */
int barrier_requeue(driver *d, dtask *t);
/* j ended: its stages stop waiting. */
void barrier_job_ended(driver *d, job *j);
/* Frees s's rendezvous state. */
void barrier_release(dstage *s);
dstage *stage_writing(job *j, uint32_t sid);
void stage_start(driver *d, dstage *s);
void job_plan_and_start(driver *d, job *j);

/* history.c: what the UI and /metrics show, fed by the scheduler's hooks */
/* ended applications kept: history.max_apps (the oldest go first) */
#define HISTORY_MAX_JOBS   1000  /* finished jobs kept per application */
#define HISTORY_STAGE_ROWS 20000 /* task attempts kept per stage */
void history_job_planned(driver *d, job *j);
void history_stage_launched(driver *d, dstage *s);
void history_stage_finished(driver *d, dstage *s);
/* in: the TaskInput sent (with its shuffle inputs filled in). */
void history_task_launched(driver *d, dtask *t, const dworker *w, const Kiln__TaskInput *in);
void history_task_output(driver *d, dtask *t, size_t len);
void history_task_done(driver *d, dtask *t, const Kiln__TaskDone *done);
/* A running attempt ended without an answer: cancelled (ROW_KILLED) or its
 * worker was lost (ROW_LOST). */
void history_task_ended(driver *d, dtask *t, enum row_state st, const char *why);
void history_job_finished(driver *d, job *j);
/* Called first thing when a ends: notes its outcome. */
void history_app_ending(driver *d, app *a, const char *why);
/* Called when a has ended and its jobs with it: writes the end to its
 * event log and frees ended applications beyond history.max_apps (never a). */
void history_app_ended(driver *d, app *a);
void history_heartbeat(dworker *w, const Kiln__Heartbeat *hb);
/* Frees ended applications beyond history.max_apps and finished jobs of a
 * (when not NULL) beyond HISTORY_MAX_JOBS. Call only where no caller holds
 * them: when an application registers, when a job is submitted. */
void history_prune(driver *d, app *a);
/* Every stage's tasks of j (skipped stages not counted) and how many are done. */
void job_task_counts(const job *j, size_t *total, size_t *done);
/* Writes each stage's progress into buf, map stages first, the result
 * stage last: "16/16 1/4" (done/tasks, "skipped"); returns buf. */
char *job_stage_progress(const job *j, char *buf, size_t len);
/* "running", "succeeded", "failed" or "killed". */
const char *app_outcome(const app *a);
const char *job_state_name(const job *j);
/* "count", "collect", ... ("?" when unknown); parse maps a name back (an
 * unknown one to a value that reads "?"). */
const char *job_action_name(Kiln__ActionKind k);
Kiln__ActionKind job_action_parse(const char *name);
const char *stage_state_name(const dstage *s);
const char *row_state_name(enum row_state st);
/* Tasks of w executing (at most its slots) and waiting there for a slot. */
uint32_t worker_running(const dworker *w);
uint32_t worker_queued(const dworker *w);
void stage_record_release(stage_record *r);

/* eventlog.c: STATE/history/APP-ID.jsonl per application (eventlog.h has
 * the format). Each hook appends one line with one write(2), so a crash
 * of the driver loses at most what was still running. */
void eventlog_app_registered(driver *d, const app *a);
void eventlog_job_ended(driver *d, const job *j);
/* Also deletes logs beyond the newest history.max_apps (never a running
 * application's). */
void eventlog_app_ended(driver *d, const app *a);
/* At start-up, before any application registers: deletes logs beyond the
 * newest history.max_apps, loads the rest into d->apps (newest first,
 * from_history set) and numbers new applications after them. A line that
 * does not parse is skipped with a warning. */
void eventlog_startup(driver *d);
/* The lines the hooks write: new strings, ending in '\n'. */
char *eventlog_app_registered_line(const app *a);
char *eventlog_job_line(const job *j);
char *eventlog_app_ended_line(const app *a);
/* Builds the ended application the log at path (named id.jsonl) tells of;
 * NULL when it has no app_registered line for id. Lines that do not parse
 * or name another application are skipped with a warning in d's log. An
 * application without an app_ended line failed: "the driver stopped". */
app *eventlog_load(driver *d, const char *path, const char *id);

/* http.c: the HTTP port (routes, JSON API, /metrics); ui.c: HTML pages */
void http_serve(httpd_req *req, void *arg);
/* place.c: where tasks wait and go; time independent of the workers' number
 * (O(log W) for a change of a worker's load, O(1) for the rest) */
void place_init(place *p);
void place_release(place *p);
/* A worker registered (it joins the heap when it has room) or was lost (its
 * own queue moves to the fifo, need_worker cleared; its running tasks are
 * the caller's to move). */
void place_worker_add(place *p, dworker *w);
void place_worker_remove(place *p, dworker *w);
/* The registered worker with that id, or NULL (and for id 0). */
dworker *place_worker(const place *p, uint32_t id);
/* The worker with room and the lowest load, another than avoid when one has
 * room; NULL when none has room. */
dworker *place_pick(const place *p, uint32_t avoid);
/* Tasks per slot a worker may hold for stage s (PLACE_DEPTH_MIN..MAX). */
uint32_t place_depth(const dstage *s);
/* A task of s ran run_us on its executor (TaskDone.run_us): s's depth
 * follows the mean. */
void place_task_ran(dstage *s, uint64_t run_us);
/* Queues t (leaving any queue it was in): in its need_worker's own queue,
 * or the fifo (need_worker cleared when that worker is gone). */
void place_queue(place *p, dtask *t);
void place_unqueue(place *p, dtask *t);
/* t waits for its input; place_unblock puts every such task back in front. */
void place_block(place *p, dtask *t);
void place_unblock(place *p);
/* The next task to launch and its worker (*where), out of its queue: a
 * worker's own tasks first, then the fifo's head. NULL when nothing can go. */
dtask *place_next(place *p, dworker **where);
/* w just answered: a task it may take beyond PLACE_DEPTH_MIN per slot (its
 * own queue's head, else the fifo's), out of its queue, while w's load is
 * under that task's stage depth and the task does not avoid w; NULL when
 * none (or while w is under PLACE_DEPTH_MIN: place_next fills that). */
dtask *place_next_for(place *p, dworker *w);
/* t (out of any queue, t->id set) runs on w / answered or was cancelled. */
void place_running_add(place *p, dtask *t, dworker *w);
void place_running_del(place *p, dtask *t);
/* The task with that id running on w, or NULL. */
dtask *place_running(const place *p, const dworker *w, uint64_t id);

/* loss.c: lost workers and lost map outputs */
/* Applies the loss of worker w (already out of d->workers) to every
 * application: its running tasks are queued again, its map outputs and
 * cached partitions forgotten everywhere; only then are lost maps queued
 * to run again and jobs that read lost cached partitions planned again.
 * Launches nothing: the caller calls sched_schedule. */
void loss_worker_lost(driver *d, dworker *w);
/* Queues again, from lineage, the map tasks of a whose outputs are gone and
 * that a stage still to finish needs (avoid: the worker they were lost
 * on). Launches nothing. */
void loss_rerun_maps(driver *d, app *a, uint32_t avoid);

/* mapout.c: where shuffle outputs and cached partitions are */
shuffle_out *mapout_get(app *a, uint32_t shuffle_id, uint32_t nmaps, uint32_t nparts);
shuffle_out *mapout_find(app *a, uint32_t shuffle_id);
int mapout_complete(const shuffle_out *s, uint32_t nmaps);
void mapout_record(shuffle_out *s, uint32_t map, uint32_t worker, const uint64_t *sizes, size_t n);
/* Forgets the worker's map outputs (and, with cache, its cached partitions). */
void mapout_worker_lost(app *a, uint32_t worker, int cache);
/* Takes ownership of n bounds (sort). */
void mapout_set_bounds(shuffle_out *s, ProtobufCBinaryData *bounds, size_t n);
void mapout_free(shuffle_out *s);
/* Fills in->shuffles for reduce partition part of the shuffles ids[]. The
 * added structs are owned by the caller: free with mapout_inputs_free.
 * Returns how many map outputs are missing (their worker is gone). */
int mapout_inputs(driver *d, app *a, const uint32_t *ids, size_t n, uint32_t part, Kiln__TaskInput *in);
void mapout_inputs_free(Kiln__TaskInput *in);
void cache_record(app *a, uint32_t node, uint32_t nparts, uint32_t part, uint32_t worker);
/* The worker keeping partition part of node, 0 when none. */
uint32_t cache_worker(const app *a, uint32_t node, uint32_t part);
int cache_complete(const app *a, uint32_t node, uint32_t nparts);
/* Forgets every map output and cached partition of a (it ended). */
void mapout_app_release(app *a);

/* logs.c: kiln logs, relayed from the workers one at a time */
/* True while dc's last LogsRequest is being answered. */
int logs_busy(driver *d, const dconn *dc);
/* Takes env (a client's LogsRequest) and starts answering it. */
void logs_request(driver *d, dconn *dc, Kiln__Envelope *env);
void logs_worker_data(driver *d, dworker *w, const Kiln__LogsData *m);
/* A client or a worker connection ends: its answers go, or go on without it. */
void logs_client_gone(driver *d, dconn *dc);
void logs_worker_gone(driver *d, dworker *w);

/* store.c */
int store_has(driver *d, const char *hash);
int store_put_bytes(driver *d, const char *hash, const void *p, size_t n, char *err, size_t errlen);
void store_upload_piece(driver *d, dconn *dc, const Kiln__BlobPut *p);
void store_upload_abort(dconn *dc);
/* Queues the answer to a BlobGet; the pieces go out as the connection
 * drains (store_pump). A worker with STORE_ASK_MAX answers already queued
 * is refused and its connection closed (a worker asks each blob once). */
void store_serve(driver *d, dconn *dc, const char *hash);
/* Application a uses blob hash (it need not be stored yet): it stays while
 * a runs, and its retention counts from a's end. */
void store_use(driver *d, app *a, const char *hash);
/* a ended: the retention of every blob it used starts now. */
void store_app_ended(driver *d, app *a);
/* Drops every blob no running application uses whose last use is older
 * than store.retention; at start-up also what uploads cut short by a crash
 * left. The tick does it every min(store.retention / 2, 1 min). */
void store_sweep(driver *d, int startup);
void store_tick(driver *d);
/* Queues pieces of the blobs asked for while the connection's unsent
 * output is under STORE_OUT_HIGH; call again when it drained to
 * STORE_OUT_LOW (rpc.c's drain callback). */
void store_pump(driver *d, dconn *dc);
/* Forgets the blobs still to send (the connection ends). */
void store_serve_abort(dconn *dc);
#define STORE_OUT_HIGH (4u << 20)
#define STORE_OUT_LOW  (1u << 20)
#define STORE_ASK_MAX  1024

#endif
