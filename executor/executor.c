/*
 * executor.c - the executor process's loop (see executor.h).
 *
 * It owns: the application's library handle (dlopen'd once), a small cache
 * of resolved stage functions keyed by their hash (so symbols are resolved
 * once per stage), and read-only mappings of broadcast values. It talks
 * only to its worker, with blocking frame I/O; no event loop runs here.
 *
 * Limits: task.memory_limit is a soft RLIMIT_DATA of (the data segment the
 * executor inherited from the worker at fork) + the limit, set before each
 * task, so allocations past it fail with ENOMEM in both the normal and the
 * sanitizer build (where the inherited part is ASan's shadow). A fatal
 * signal that follows an allocation failure (errno ENOMEM: the NULL that
 * was used, xmalloc's abort) is noted in the shared exec_status, so the
 * worker reports the memory limit rather than a bare signal. A task that
 * failed by itself after an allocation was refused under the limit (user
 * code that checks for NULL) has "(the task reached task.memory_limit of
 * 64 MiB)" added to its error. task.timeout is the worker's (pool.c).
 *
 * The log (stdout and stderr, work-dir/APP/executor-N.log): before each
 * task a header line (common/logsect.h) starts the task's section, which
 * `kiln logs --task` cuts out; a fatal signal writes the stack of the
 * crashing code there (backtrace_symbols_fd, async-signal-safe once
 * backtrace() has been called once) and says so in exec_status, so the
 * worker's error points at it.
 */
#include "executor.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "logsect.h"
#include "msg.h"
#include "python.h"
#include "text.h"
#include "util.h"

#define STAGE_CACHE 16
#define BCAST_CACHE 64

typedef struct bcast_map {
    uint8_t id[32];
    void *p;
    size_t len;
} bcast_map;

typedef struct executor {
    const executor_args *a;
    void *lib;
    char lib_hash[HASH_HEX_LEN + 1];
    struct {
        char hash[HASH_HEX_LEN + 1];
        stage_prog *prog;
    } stages[STAGE_CACHE];
    int nstages, next_evict;
    bcast_map bcasts[BCAST_CACHE];
    int nbcasts;
    uint64_t task_id;
    uint64_t data_base; /* bytes of data segment at start: what the limit adds to */
    msg_reader *rd;     /* the worker's link (executor_main's) */
    /* the running task's barrier rounds: the last reply and its messages */
    uint32_t barrier_round;
    Kiln__Envelope *barrier_reply;
    kiln_slice *barrier_msgs;
} executor;

/* The one piece of process state a signal handler needs (handlers take no
 * argument): the status page shared with the worker. Set once at start. */
static exec_status *fatal_status;

#define BACKTRACE_MAX 64

/* Appends s to buf (at *n, cap bytes) without stdio: async-signal-safe. */
static void put_str(char *buf, size_t *n, size_t cap, const char *s)
{
    while (*s && *n + 1 < cap)
        buf[(*n)++] = *s++;
}

static void put_u64(char *buf, size_t *n, size_t cap, uint64_t v)
{
    char digits[21];
    int k = (int)sizeof digits - 1;
    digits[k] = 0;
    do {
        digits[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v && k > 0);
    put_str(buf, n, cap, digits + k);
}

/* Writes what died where, then the stack, to the log (fd 2). Only
 * async-signal-safe calls: write, and backtrace (its library was loaded
 * at start-up) with backtrace_symbols_fd. */
static void write_backtrace(int sig)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {
        {SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"}, {SIGABRT, "SIGABRT"}, {SIGILL, "SIGILL"}, {SIGFPE, "SIGFPE"}};
    char line[512];
    size_t n = 0;
    put_str(line, &n, sizeof line, "kiln executor: fatal signal ");
    put_u64(line, &n, sizeof line, (uint64_t)sig);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig) {
            put_str(line, &n, sizeof line, " (");
            put_str(line, &n, sizeof line, names[i].name);
            put_str(line, &n, sizeof line, ")");
        }
    exec_status *st = fatal_status;
    if (st) {
        put_str(line, &n, sizeof line, " in task ");
        put_u64(line, &n, sizeof line, st->task_id);
        int cur = st->current;
        if (cur >= 0 && cur < st->nnames && cur <= TASK_MAX_OPS) {
            char name[sizeof st->names[0]];
            memcpy(name, st->names[cur], sizeof name);
            name[sizeof name - 1] = 0;
            put_str(line, &n, sizeof line, ", function '");
            put_str(line, &n, sizeof line, name);
            put_str(line, &n, sizeof line, "'");
        }
    }
    put_str(line, &n, sizeof line, "; backtrace, innermost first:\n");
    (void)!write(2, line, n);
    void *frames[BACKTRACE_MAX];
    int nframes = backtrace(frames, BACKTRACE_MAX);
    backtrace_symbols_fd(frames, nframes, 2);
    static const char end[] = "kiln executor: end of backtrace\n";
    (void)!write(2, end, sizeof end - 1);
    if (st) st->backtrace = 1;
}

static void on_fatal_signal(int sig)
{
    int saved = errno;
    if (saved == ENOMEM && fatal_status) fatal_status->enomem = 1;
    write_backtrace(sig);
    errno = saved;
    /* SA_RESETHAND restored the default: the pending signal kills us on return */
    raise(sig);
}

static void catch_fatal_signals(exec_status *st)
{
    void *warm[1];
    backtrace(warm, 1);              /* loads libgcc_s now: the handler must not */
    static char altstack[64 * 1024]; /* a stack overflow still reaches the handler */
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    fatal_status = st;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

/* VmData of this process in bytes (0 when /proc cannot say). */
static uint64_t data_segment_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmData: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

/* Sets the soft RLIMIT_DATA for the next task: data_base + limit, or none. */
static int apply_memory_limit(executor *x, uint64_t limit, char *err, size_t errlen)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_DATA, &rl) < 0) return errf(err, errlen, "getrlimit: %s", strerror(errno));
    rlim_t want = limit ? (rlim_t)(x->data_base + limit) : RLIM_INFINITY;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) want = rl.rlim_max;
    if (want == rl.rlim_cur) return 0;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_DATA, &rl) < 0)
        return errf(err, errlen, "cannot set task.memory_limit: setrlimit: %s", strerror(errno));
    return 0;
}

static kiln_slice bcast_lookup(void *arg, kiln_bcast b)
{
    executor *x = arg;
    for (int i = 0; i < x->nbcasts; i++)
        if (!memcmp(x->bcasts[i].id, b.id, 32)) return KILN_SLICE(x->bcasts[i].p, x->bcasts[i].len);
    if (x->nbcasts == BCAST_CACHE) return KILN_NONE;
    char hex[HASH_HEX_LEN + 1], path[4096];
    hash_to_hex(b.id, hex);
    snprintf(path, sizeof path, "%s/%s", x->a->cache_dir, hex);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "kiln executor: broadcast %s is not in the cache: %s\n", hex, strerror(errno));
        return KILN_NONE;
    }
    struct stat st;
    fstat(fd, &st);
    void *p = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : (void *)"";
    close(fd);
    if (p == MAP_FAILED) return KILN_NONE;
    bcast_map *m = &x->bcasts[x->nbcasts++];
    memcpy(m->id, b.id, 32);
    m->p = p;
    m->len = (size_t)st.st_size;
    return KILN_SLICE(p, m->len);
}

static int send_block(void *arg, const uint8_t *p, size_t n)
{
    executor *x = arg;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__TaskOutput o = KILN__TASK_OUTPUT__INIT;
    o.task_id = x->task_id;
    o.block.data = (uint8_t *)p;
    o.block.len = n;
    MSG_BODY(env, task_output, TASK_OUTPUT, &o);
    return msg_write_fd(x->a->fd, &env);
}

static void barrier_clear(executor *x)
{
    if (x->barrier_reply) msg_free(x->barrier_reply);
    free(x->barrier_msgs);
    x->barrier_reply = NULL;
    x->barrier_msgs = NULL;
}

/* task_sink.barrier: BarrierSync to the worker, then the worker's frames
 * until the driver's reply for this round (nothing else comes while a task
 * runs: the worker sends an executor its next task only when it is idle). */
static int exec_barrier(void *arg, kiln_slice msg, const kiln_slice **msgs, size_t *n, char *err, size_t errlen)
{
    executor *x = arg;
    barrier_clear(x);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__BarrierSync m = KILN__BARRIER_SYNC__INIT;
    m.task_id = x->task_id;
    m.round = x->barrier_round;
    m.message.data = (uint8_t *)msg.ptr;
    m.message.len = msg.len;
    MSG_BODY(env, barrier_sync, BARRIER_SYNC, &m);
    if (msg_write_fd(x->a->fd, &env) < 0) return errf(err, errlen, "cannot reach the worker: %s", strerror(errno));
    for (;;) {
        Kiln__Envelope *e = NULL;
        int st = msg_reader_next(x->rd, &e, err, errlen);
        if (st == 0) _exit(0); /* the worker let this executor go */
        if (st < 0) return -1;
        if (e->body_case != KILN__ENVELOPE__BODY_BARRIER_REPLY || e->barrier_reply->task_id != x->task_id ||
            e->barrier_reply->round != x->barrier_round) {
            fprintf(stderr, "kiln executor: unexpected %s while in barrier()\n", msg_name(e));
            msg_free(e);
            continue;
        }
        Kiln__BarrierReply *r = e->barrier_reply;
        if (*r->error) {
            errf(err, errlen, "%s", r->error);
            msg_free(e);
            return -1;
        }
        x->barrier_round++;
        x->barrier_reply = e;
        x->barrier_msgs = xcalloc(r->n_messages + 1, sizeof *x->barrier_msgs);
        for (size_t i = 0; i < r->n_messages; i++)
            x->barrier_msgs[i] = KILN_SLICE(r->messages[i].data, r->messages[i].len);
        *msgs = x->barrier_msgs;
        *n = r->n_messages;
        return 0;
    }
}

static void send_done(executor *x, const Kiln__TaskLaunch *t, task_result *res, int ok, int fatal)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__TaskDone d = KILN__TASK_DONE__INIT;
    d.task_id = t->task_id;
    d.ok = ok;
    d.fatal = fatal;
    d.error = ok ? "" : res->error;
    if (!ok && res->error[0] && !res->fetch_failed) {
        /* the task's section of the log holds why it failed (a Python
         * traceback, kiln_fail's message): `kiln logs APP --task N` */
        fflush(stdout);
        fprintf(stderr, "kiln executor: task %llu failed:\n%s\n", (unsigned long long)t->task_id, res->error);
        fflush(stderr);
    }
    d.count = res->count;
    d.records_in = res->records_in;
    d.records_out = res->records_out;
    d.counters = res->counters;
    d.n_counters = res->ncounters;
    d.fetch_failed = res->fetch_failed;
    d.fetch_shuffle_id = res->fetch_shuffle_id;
    d.fetch_map = res->fetch_map;
    d.fetch_worker_id = res->fetch_worker_id;
    d.partition_sizes = res->partition_sizes;
    d.n_partition_sizes = res->npartition_sizes;
    d.cached_nodes = res->cached_nodes;
    d.n_cached_nodes = res->ncached;
    d.cached_parts = res->cached_parts;
    d.n_cached_parts = res->ncached;
    d.spills = res->spills;
    d.spill_bytes = res->spill_bytes;
    MSG_BODY(env, task_done, TASK_DONE, &d);
    if (msg_write_fd(x->a->fd, &env) < 0) {
        x->a->status->lost_fd = errno ? errno : EIO; /* what the worker reports for this task */
        fprintf(stderr, "kiln executor: cannot reach the worker: %s\n", strerror(errno));
        _exit(3);
    }
}

static int load_library(executor *x, const char *hash, char *err, size_t errlen)
{
    if (!*hash) return 0; /* no library: the stage calls built-ins only (a Python job) */
    if (x->lib && !strcmp(x->lib_hash, hash)) return 0;
    if (x->lib) return errf(err, errlen, "executor already runs another library");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", x->a->cache_dir, hash);
    x->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!x->lib) return errf(err, errlen, "cannot load the application's library: %s", dlerror());
    snprintf(x->lib_hash, sizeof x->lib_hash, "%s", hash);
    return 0;
}

static stage_prog *get_stage(executor *x, const Kiln__TaskLaunch *t, char *err, size_t errlen)
{
    for (int i = 0; i < x->nstages; i++)
        if (!strcmp(x->stages[i].hash, t->stage_hash)) return x->stages[i].prog;
    uint8_t *bytes = t->stage.data, *owned = NULL;
    size_t n = t->stage.len;
    if (t->stage_broadcast) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", x->a->cache_dir, t->stage_hash);
        if (read_file(path, &owned, &n, err, errlen) < 0) return NULL;
        bytes = owned;
    }
    stage_prog *p = stage_prog_new(bytes, n, x->lib, err, errlen);
    free(owned);
    if (!p) return NULL;
    int slot = x->nstages < STAGE_CACHE ? x->nstages++ : (x->next_evict++ % STAGE_CACHE);
    if (x->stages[slot].prog) stage_prog_free(x->stages[slot].prog);
    snprintf(x->stages[slot].hash, sizeof x->stages[slot].hash, "%s", t->stage_hash);
    x->stages[slot].prog = p;
    return p;
}

/* Starts the task's section of the log (what `kiln logs --task` cuts
 * out): whatever earlier tasks left in stdio buffers goes first. */
static void write_section_header(const Kiln__TaskLaunch *t)
{
    fflush(NULL);
    char line[LOGSECT_HEADER_MAX];
    size_t n = logsect_header(line, sizeof line, t->task_id, t->job_id, t->stage_id, t->input ? t->input->partition : 0,
                              t->attempt, wall_ms());
    (void)!write(2, line, n);
}

/* A task with task.memory_limit failed: did an allocation reach the limit?
 * Either the last failure left ENOMEM in errno (an allocation the user's
 * code refused to go on without), or the data segment is still within a
 * few MiB of the limit. */
static int memory_limit_reached(executor *x, uint64_t limit, int err_after)
{
    if (err_after == ENOMEM) return 1;
    uint64_t now = data_segment_bytes(), slack = limit / 32 > (2u << 20) ? limit / 32 : (2u << 20);
    return now && now + slack >= x->data_base + limit;
}

static void run_one(executor *x, const Kiln__TaskLaunch *t)
{
    task_result res;
    memset(&res, 0, sizeof res);
    write_section_header(t);
    x->task_id = t->task_id;
    x->barrier_round = 0;
    x->a->status->task_id = t->task_id;
    x->a->status->current = -1;
    x->a->status->enomem = 0;
    x->a->status->backtrace = 0;
    x->a->status->lost_fd = 0;
    if (apply_memory_limit(x, t->memory_limit, res.error, sizeof res.error) < 0) {
        send_done(x, t, &res, 0, 1);
        return;
    }
    if (load_library(x, t->lib_hash, res.error, sizeof res.error) < 0) {
        send_done(x, t, &res, 0, 1);
        return;
    }
    stage_prog *p = get_stage(x, t, res.error, sizeof res.error);
    if (!p) {
        send_done(x, t, &res, 0, 1);
        return;
    }
    exec_status *st = x->a->status;
    st->nnames = p->nnames;
    memcpy(st->names, p->names, sizeof st->names);
    char app_dir[4096];
    snprintf(app_dir, sizeof app_dir, "%s/%s", x->a->work_dir, t->app_id);
    task_sink sink = {.arg = x,
                      .block = send_block,
                      .bcast = bcast_lookup,
                      .secret = x->a->secret,
                      .app_dir = app_dir,
                      .cache_dir = x->a->cache_dir,
                      .barrier = exec_barrier};
    errno = 0; /* an ENOMEM seen by the fatal-signal handler (or after the task) is this task's */
    int rc = task_run(p, t, &sink, st, &res);
    int err_after = errno;
    if (rc != 0 && t->memory_limit && !res.fetch_failed && memory_limit_reached(x, t->memory_limit, err_after)) {
        char lim[64];
        size_t n = strlen(res.error);
        snprintf(res.error + n, sizeof res.error - n, " (the task reached task.memory_limit of %s)",
                 fmt_size(t->memory_limit, lim, sizeof lim));
    }
    barrier_clear(x);
    py_flush_stdio();
    fflush(NULL); /* what the task printed stays in its section */
    send_done(x, t, &res, rc == 0, rc != 0 && res.fatal);
    task_result_release(&res);
}

void executor_main(const executor_args *a)
{
    executor x;
    memset(&x, 0, sizeof x);
    x.a = a;
    x.data_base = data_segment_bytes();
    catch_fatal_signals(a->status);
    msg_reader rd;
    msg_reader_init(&rd, a->fd, a->max_frame);
    x.rd = &rd;
    for (;;) {
        Kiln__Envelope *m = NULL;
        char err[512];
        int st = msg_reader_next(&rd, &m, err, sizeof err);
        if (st == 0) _exit(0);
        if (st < 0) {
            fprintf(stderr, "kiln executor: %s\n", err);
            _exit(2);
        }
        if (m->body_case == KILN__ENVELOPE__BODY_TASK_LAUNCH)
            run_one(&x, m->task_launch);
        else
            fprintf(stderr, "kiln executor: unexpected %s message\n", msg_name(m));
        msg_free(m);
    }
}
