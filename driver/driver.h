/*
 * driver.h - the driver daemon's state, owned by main.c and passed to every
 * module:
 *   rpc.c      connections: hello, roles, and the client protocol
 *   workers.c  the worker registry: registration, heartbeats, time-outs
 *   sched.c    jobs and tasks: launching, results, retries, completion
 *   loss.c     lost workers and map outputs: forget everywhere, then rerun
 *   stages.c   lineage graph -> stage function (pure)
 *   store.c    libraries and broadcast blobs on disk, uploads and serving
 *   logs.c     kiln logs: executor logs relayed from the workers
 * All scheduler state changes on the one event-loop thread.
 */
#ifndef KILN_DRIVER_H
#define KILN_DRIVER_H

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <stdint.h>

#include "blobrecv.h"
#include "conf.h"
#include "conn.h"
#include "handshake.h"
#include "hash.h"
#include "log.h"
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
    dtask *tasks; /* running here (linked by wnext) */
    dworker *next;
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
    dtask *wnext; /* in worker->tasks */
    dtask *qnext; /* in the pending queue */
};

enum stage_state { STAGE_WAITING, STAGE_SAMPLING, STAGE_RUNNING, STAGE_DONE };

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
    uint64_t progress_ms; /* when the client was last told how far the job is */
    /* job settings: the driver's, overridden by the job's --conf */
    kiln_conf conf;
    char error[1024];
    job *next;
};

struct app {
    char id[64];
    char name[128];
    char lib_hash[HASH_HEX_LEN + 1];
    dconn *client; /* NULL once ended */
    int ended;
    uint64_t started_ms;
    uint32_t njobs;
    job *jobs;
    Kiln__Counter **counters; /* totals of successful tasks */
    size_t ncounters;
    shuffle_out *shuffles;
    cache_entry *cache;
    /* every blob it used (library, broadcasts, broadcast stages): never
     * dropped from the store while it runs */
    char (*blobs)[HASH_HEX_LEN + 1];
    size_t nblobs;
    app *next;
};

struct driver {
    struct event_base *base;
    kiln_conf conf;
    logger log;
    char *state_dir, *blob_dir;
    int rpc_port, http_port;
    struct evconnlistener *rpc_listener;
    struct evhttp *http;
    auth_secret secret; /* empty: no authentication */
    dconn *conns;
    size_t nconns;
    dworker *workers;
    uint32_t next_worker_id;
    app *apps;
    uint32_t app_seq;
    uint64_t next_task_id;
    dtask *pending_head, *pending_tail;
    struct event *tick_ev;
    struct event *sighup_ev, *sigterm_ev, *sigint_ev;
    uint64_t started_ms;
    stage_stats stats;
    uint64_t blobs_served, blob_bytes_served, tasks_launched;
    uint64_t store_swept_ms; /* when the blob store was last swept (store.retention) */
    uint64_t blobs_dropped;
    uint32_t next_stage_id;
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
void job_free(job *j);
void app_free(app *a);
/* The scheduler's own pieces that loss.c uses. None of them launches a
 * task: launching is sched_schedule's alone. */
void pending_push(driver *d, dtask *t);
void pending_drop_job(driver *d, job *j);
void job_cancel_running(driver *d, job *j);
dstage *stage_writing(job *j, uint32_t sid);
void stage_start(driver *d, dstage *s);
void job_plan_and_start(driver *d, job *j);

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
