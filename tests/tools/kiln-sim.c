/*
 * kiln-sim.c - many simulated workers in one process, so that the driver
 * alone can be measured and tested at sizes this machine cannot run for
 * real (tests/integration/scale.sh, bench/scale.sh).
 *
 *   kiln-sim --driver HOST:PORT --workers N --slots S [--secret-file F]
 *            [--delay-ms D] [--fail FRACTION] [--fail-attempts K]
 *            [--vanish V --vanish-after T [--vanish-in-shuffle]] [--seed X]
 *
 * Each simulated worker is one real connection to the driver with the
 * real handshake (common/handshake.c over common/conn.c, as worker/link.c
 * does it), a RegisterWorker, heartbeats, and a TaskDone for every
 * TaskLaunch: at once, or D ms later. Nothing runs: the answer is made
 * from the task's input and its stage's output.
 *
 *   records in   a parallelized block's record count, a range's length, or
 *                (reduce side) the bytes of the map outputs it is told
 *                about divided by SIM_RECORD_BYTES; every operation is
 *                taken to pass records through unchanged
 *   count        the records (any action but a shuffle write; no
 *                TaskOutput is sent, so collect returns nothing)
 *   shuffle      partition_sizes: the records spread evenly over the
 *                reduce partitions, SIM_RECORD_BYTES each, so a count
 *                after a repartition comes out right
 *
 * --fail FRACTION fails that fraction of the attempts numbered up to K
 * (--fail-attempts, default 1), chosen by a hash of (seed, stage,
 * partition, attempt), so a retry succeeds and every job still finishes.
 * --vanish V closes the connections of V workers (spread over the range)
 * once T tasks were answered in all, answers held for them included (with
 * --vanish-in-shuffle: T map tasks, so that it happens mid-shuffle). A
 * reduce task told about a map output on a vanished worker answers
 * fetch_failed, as a real one would. Stage functions sent as broadcast
 * blobs are not fetched: such a task fails as fatal.
 *
 * Output (stdout): "registered N" once every worker registered (or could
 * not), and at the end (SIGTERM, SIGINT, or when the driver closed every
 * connection) "answered A failed F fetch_failed X vanished V". Exit 0; 2
 * on a usage error.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "secret.h"
#include "block.h"
#include "conn.h"
#include "frame.h"
#include "handshake.h"
#include "msg.h"
#include "runtime.h"
#include "util.h"

#define SIM_RECORD_BYTES 100 /* a simulated shuffle record */
#define SIM_CONNECTING   256 /* handshakes in progress at once (the driver's backlog is 512) */
#define SIM_STAGES       64  /* stage functions remembered */

typedef struct sim sim;

typedef struct simw {
    sim *s;
    int index;
    conn *c;
    handshake hs;
    uint32_t worker_id;
    int registered, gone;
} simw;

/* What the simulator needs of a stage function. */
typedef struct sim_stage {
    char hash[65];
    Kiln__ActionKind kind;
    uint32_t partitions; /* shuffle write */
    uint64_t used;
} sim_stage;

/* An answer held for --delay-ms. */
typedef struct answer {
    uint64_t due_ms;
    int worker;
    uint64_t task_id;
    uint64_t records;
    uint64_t *sizes;
    size_t nsizes;
    struct answer *next;
} answer;

struct sim {
    struct event_base *base;
    auth_secret secret;
    const char *driver;
    int nworkers, slots;
    simw *w;
    int next, connecting, registered, failed_connect, announced;
    uint64_t delay_ms;
    double fail;
    uint32_t fail_attempts;
    int vanish, vanished, vanish_in_shuffle;
    uint64_t vanish_after, answered_maps;
    uint64_t seed;
    uint64_t answered, failed, fetch_failed;
    uint8_t *gone_ids; /* by worker id: 1 when that worker vanished */
    size_t ngone_ids;
    sim_stage stages[SIM_STAGES];
    uint64_t stage_uses;
    answer *held_head, *held_tail;
    struct event *hb_ev, *delay_ev, *sigterm_ev, *sigint_ev;
    uint64_t heartbeat_ms;
};

static void connect_more(sim *s);

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void finish(sim *s)
{
    printf("answered %llu failed %llu fetch_failed %llu vanished %d\n", (unsigned long long)s->answered,
           (unsigned long long)s->failed, (unsigned long long)s->fetch_failed, s->vanished);
    fflush(stdout);
    event_base_loopexit(s->base, NULL);
}

static void announce(sim *s)
{
    if (s->announced || s->registered + s->failed_connect < s->nworkers) return;
    s->announced = 1;
    printf("registered %d\n", s->registered);
    fflush(stdout);
}

/* ---- answers ----------------------------------------------------------- */

/* The answer of a task that succeeded, packed here rather than by
 * protobuf-c (the simulator answers as fast as the driver asks; it should
 * cost less than the driver): the same fields in the same order, so the
 * bytes are what protobuf-c would pack (check_pack_done, at every start). */
static size_t sim_pack_done(uint8_t *p, uint64_t task_id, uint64_t records, uint64_t run_us, const uint64_t *sizes,
                            size_t nsizes)
{
    size_t n = 0;
    if (task_id) n += msg_put_varint_field(p + n, 1, task_id);
    n += msg_put_varint_field(p + n, 2, 1); /* ok */
    if (records) {
        n += msg_put_varint_field(p + n, 4, records);
        n += msg_put_varint_field(p + n, 5, records);
        n += msg_put_varint_field(p + n, 6, records);
    }
    if (nsizes) {
        size_t len = 0;
        for (size_t i = 0; i < nsizes; i++)
            len += rt_varint_len(sizes[i]);
        n += msg_put_len_field(p + n, 9, len);
        for (size_t i = 0; i < nsizes; i++)
            n += rt_varint_put(p + n, sizes[i]);
    }
    if (run_us) n += msg_put_varint_field(p + n, 18, run_us);
    return n;
}

/* sim_pack_done packs what protobuf-c packs, or the simulator stops. */
static void check_pack_done(void)
{
    uint64_t sizes[3] = {0, 127, UINT64_MAX};
    static const uint64_t cases[][3] = {{1, 1, 1}, {0, 0, 0}, {1ull << 40, 300, 5000000}};
    for (size_t c = 0; c < 3; c++)
        for (size_t ns = 0; ns <= 3; ns += 3) {
            Kiln__TaskDone d = KILN__TASK_DONE__INIT;
            d.task_id = cases[c][0];
            d.ok = 1;
            d.count = d.records_in = d.records_out = cases[c][1];
            d.run_us = cases[c][2];
            d.partition_sizes = sizes;
            d.n_partition_sizes = ns;
            uint8_t want[128], got[128];
            size_t wn = kiln__task_done__pack(&d, want);
            size_t gn = sim_pack_done(got, d.task_id, d.count, d.run_us, sizes, ns);
            if (wn != gn || memcmp(want, got, wn)) {
                fprintf(stderr, "kiln-sim: its TaskDone packing differs from protobuf-c's (case %zu)\n", c);
                exit(2);
            }
        }
}

static void send_done(sim *s, simw *w, uint64_t task_id, uint64_t records, uint64_t *sizes, size_t nsizes)
{
    uint8_t stackbuf[256];
    size_t cap = 64 + nsizes * 10;
    uint8_t *buf = cap <= sizeof stackbuf ? stackbuf : xmalloc(cap);
    /* as a worker says: it "ran" --delay-ms */
    size_t n = sim_pack_done(buf, task_id, records, s->delay_ms ? s->delay_ms * 1000 : 1, sizes, nsizes);
    struct iovec part = {buf, n};
    conn_send_split(w->c, KILN__ENVELOPE__BODY_TASK_DONE, &part, 1, NULL, 0);
    if (buf != stackbuf) free(buf);
    s->answered++;
    s->answered_maps += nsizes > 0;
}

static void send_failure(sim *s, simw *w, uint64_t task_id, int fatal, const char *error, const Kiln__BlockLoc *lost,
                         uint32_t shuffle)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__TaskDone d = KILN__TASK_DONE__INIT;
    d.task_id = task_id;
    d.error = (char *)error;
    d.fatal = fatal;
    if (lost) {
        d.fetch_failed = 1;
        d.fetch_shuffle_id = shuffle;
        d.fetch_map = lost->map;
        d.fetch_worker_id = lost->worker_id;
        s->fetch_failed++;
    } else {
        s->failed++;
    }
    MSG_BODY(env, task_done, TASK_DONE, &d);
    conn_send(w->c, &env);
    s->answered++;
}

/* Closes --vanish workers once enough tasks were answered. */
static void maybe_vanish(sim *s)
{
    if (s->vanished || !s->vanish || (s->vanish_in_shuffle ? s->answered_maps : s->answered) < s->vanish_after) return;
    int n = s->vanish < s->nworkers ? s->vanish : s->nworkers;
    s->vanished = n;
    for (int i = 0; i < n; i++) {
        simw *w = &s->w[(size_t)i * s->nworkers / n];
        if (w->c && !w->gone) conn_close(w->c, 0, "vanished (kiln-sim)");
    }
}

static void delay_cb(evutil_socket_t fd, short what, void *arg)
{
    sim *s = arg;
    uint64_t now = now_ms();
    while (s->held_head && s->held_head->due_ms <= now) {
        answer *a = s->held_head;
        s->held_head = a->next;
        if (!s->held_head) s->held_tail = NULL;
        simw *w = &s->w[a->worker];
        if (!w->gone) send_done(s, w, a->task_id, a->records, a->sizes, a->nsizes);
        free(a->sizes);
        free(a);
    }
    maybe_vanish(s);
    if (s->held_head) {
        uint64_t ms = s->held_head->due_ms - now;
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        evtimer_add(s->delay_ev, &tv);
    }
}

static void hold(sim *s, simw *w, uint64_t task_id, uint64_t records, uint64_t *sizes, size_t nsizes)
{
    answer *a = xcalloc(1, sizeof *a);
    a->due_ms = now_ms() + s->delay_ms;
    a->worker = w->index;
    a->task_id = task_id;
    a->records = records;
    a->sizes = sizes;
    a->nsizes = nsizes;
    if (s->held_tail)
        s->held_tail->next = a;
    else
        s->held_head = a;
    s->held_tail = a;
    if (!evtimer_pending(s->delay_ev, NULL)) {
        struct timeval tv = {(time_t)(s->delay_ms / 1000), (suseconds_t)(s->delay_ms % 1000) * 1000};
        evtimer_add(s->delay_ev, &tv);
    }
}

/* The stage's output kind and partitions, decoded once per stage hash.
 * NULL when the stage function is not in the task (a broadcast). */
static const sim_stage *stage_of(sim *s, const Kiln__TaskLaunch *tl)
{
    sim_stage *lru = &s->stages[0];
    for (int i = 0; i < SIM_STAGES; i++) {
        sim_stage *st = &s->stages[i];
        if (!strcmp(st->hash, tl->stage_hash)) {
            st->used = ++s->stage_uses;
            return st;
        }
        if (st->used < lru->used) lru = st;
    }
    if (tl->stage_broadcast || !tl->stage.len) return NULL;
    Kiln__StageFunc *f = kiln__stage_func__unpack(NULL, tl->stage.len, tl->stage.data);
    if (!f) return NULL;
    snprintf(lru->hash, sizeof lru->hash, "%s", tl->stage_hash);
    lru->kind = f->output ? f->output->kind : KILN__ACTION_KIND__ACTION_COUNT;
    lru->partitions = f->output && f->output->shuffle ? f->output->shuffle->partitions : 0;
    lru->used = ++s->stage_uses;
    kiln__stage_func__free_unpacked(f, NULL);
    return lru;
}

static int vanished_id(const sim *s, uint32_t id)
{
    return id < s->ngone_ids && s->gone_ids[id];
}

static void on_task(sim *s, simw *w, const Kiln__TaskLaunch *tl)
{
    const sim_stage *st = stage_of(s, tl);
    if (!st) {
        send_failure(s, w, tl->task_id, 1, "kiln-sim: broadcast stage functions are not simulated", NULL, 0);
        return;
    }
    const Kiln__TaskInput *in = tl->input;
    uint64_t records = 0;
    if (in && in->block.len) {
        block_reader br;
        char err[256];
        if (block_reader_open(&br, in->block.data, in->block.len, err, sizeof err) == 0) {
            records = br.nrec;
            block_reader_close(&br);
        }
    } else if (in && in->range_end > in->range_start) {
        records = (uint64_t)(in->range_end - in->range_start);
    }
    for (size_t i = 0; in && i < in->n_shuffles; i++) {
        const Kiln__ShuffleInput *si = in->shuffles[i];
        for (size_t b = 0; b < si->n_blocks; b++) {
            if (vanished_id(s, si->blocks[b]->worker_id)) {
                send_failure(s, w, tl->task_id, 0, "kiln-sim: map output on a vanished worker", si->blocks[b],
                             si->shuffle_id);
                return;
            }
            records += si->blocks[b]->length / SIM_RECORD_BYTES;
        }
    }
    uint64_t h = mix(s->seed ^ mix((uint64_t)tl->stage_id << 32 ^ (in ? in->partition : 0)) ^ tl->attempt);
    if (tl->attempt <= s->fail_attempts && (double)(h >> 11) / (double)(1ull << 53) < s->fail) {
        send_failure(s, w, tl->task_id, 0, "kiln-sim: simulated failure", NULL, 0);
        return;
    }
    uint64_t *sizes = NULL;
    size_t nsizes = 0;
    if (st->kind == KILN__ACTION_KIND__ACTION_SHUFFLE_WRITE && st->partitions) {
        nsizes = st->partitions;
        sizes = xmalloc(nsizes * sizeof *sizes);
        uint64_t each = records / nsizes, extra = records % nsizes, first = in ? in->partition % nsizes : 0;
        for (size_t p = 0; p < nsizes; p++)
            sizes[p] = SIM_RECORD_BYTES * (each + ((p + nsizes - first) % nsizes < extra));
    }
    if (s->delay_ms) {
        hold(s, w, tl->task_id, records, sizes, nsizes);
        return;
    }
    send_done(s, w, tl->task_id, records, sizes, nsizes);
    free(sizes);
}

/* ---- connections --------------------------------------------------------- */

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
    sim *s = arg;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__Heartbeat hb = KILN__HEARTBEAT__INIT;
    MSG_BODY(env, heartbeat, HEARTBEAT, &hb);
    for (int i = 0; i < s->nworkers; i++)
        if (s->w[i].registered && !s->w[i].gone) conn_send(s->w[i].c, &env);
}

static void on_msg(conn *c, Kiln__Envelope *m, void *arg)
{
    simw *w = arg;
    sim *s = w->s;
    if (w->hs.state != HS_DONE) {
        char why[512];
        int st = conn_handshake(c, &w->hs, m, why, sizeof why);
        if (st < 0) {
            fprintf(stderr, "kiln-sim: worker %d: handshake: %s\n", w->index, why);
            conn_close(c, 1, "handshake failed");
        } else if (st > 0) {
            Kiln__Envelope env = KILN__ENVELOPE__INIT;
            Kiln__RegisterWorker r = KILN__REGISTER_WORKER__INIT;
            char name[64];
            snprintf(name, sizeof name, "sim-%d", w->index);
            r.host = "127.0.0.1";
            r.data_port = 1 + (uint32_t)w->index % 65535; /* never dialled: nothing runs */
            r.slots = (uint32_t)s->slots;
            r.name = name;
            MSG_BODY(env, register_worker, REGISTER_WORKER, &r);
            conn_send(c, &env);
        }
        return;
    }
    switch (m->body_case) {
    case KILN__ENVELOPE__BODY_WORKER_REGISTERED:
        w->registered = 1;
        w->worker_id = m->worker_registered->worker_id;
        s->registered++;
        s->connecting--;
        if (!s->heartbeat_ms) {
            s->heartbeat_ms = m->worker_registered->heartbeat_ms ? m->worker_registered->heartbeat_ms : 1000;
            struct timeval tv = {(time_t)(s->heartbeat_ms / 1000), (suseconds_t)(s->heartbeat_ms % 1000) * 1000};
            s->hb_ev = event_new(s->base, -1, EV_PERSIST, heartbeat_cb, s);
            evtimer_add(s->hb_ev, &tv);
        }
        announce(s);
        connect_more(s);
        return;
    case KILN__ENVELOPE__BODY_TASK_LAUNCH:
        if (w->registered) on_task(s, w, m->task_launch);
        maybe_vanish(s);
        return;
    case KILN__ENVELOPE__BODY_CANCEL_TASKS:
    case KILN__ENVELOPE__BODY_APP_END:
    case KILN__ENVELOPE__BODY_BLOB_CHUNK:
        return; /* answers already went (held ones are answered: the driver ignores them) */
    case KILN__ENVELOPE__BODY_ERROR:
        fprintf(stderr, "kiln-sim: worker %d: the driver says: %s\n", w->index, m->error->message);
        return;
    default:
        fprintf(stderr, "kiln-sim: worker %d: unexpected %s\n", w->index, msg_name(m));
        return;
    }
}

static void on_close(conn *c, const char *reason, void *arg)
{
    simw *w = arg;
    sim *s = w->s;
    if (!w->registered) {
        fprintf(stderr, "kiln-sim: worker %d could not join: %s\n", w->index, reason);
        s->failed_connect++;
        s->connecting--;
        announce(s);
        connect_more(s);
    }
    w->gone = 1;
    w->c = NULL;
    if (w->registered && w->worker_id) {
        if (w->worker_id >= s->ngone_ids) {
            size_t n = (size_t)w->worker_id * 2 + 64;
            s->gone_ids = xrealloc(s->gone_ids, n);
            memset(s->gone_ids + s->ngone_ids, 0, n - s->ngone_ids);
            s->ngone_ids = n;
        }
        s->gone_ids[w->worker_id] = 1;
    }
    for (int i = 0; i < s->nworkers; i++)
        if (!s->w[i].gone) return;
    if (s->next >= s->nworkers) finish(s); /* the driver went, or closed everyone */
}

static void connect_more(sim *s)
{
    while (s->next < s->nworkers && s->connecting < SIM_CONNECTING) {
        simw *w = &s->w[s->next++];
        char err[256];
        s->connecting++;
        w->c = conn_connect(s->base, s->driver, FRAME_MAX_DEFAULT, on_msg, on_close, w, err, sizeof err);
        if (!w->c) {
            fprintf(stderr, "kiln-sim: %s\n", err);
            exit(2);
        }
        const Kiln__Envelope *hello;
        if (hs_client_start(&w->hs, &s->secret, KILN__ROLE__ROLE_WORKER, "kiln-sim", &hello, err, sizeof err) < 0) {
            fprintf(stderr, "kiln-sim: %s\n", err);
            exit(2);
        }
        conn_send(w->c, hello);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    finish(arg);
}

static const char usage[] = "usage: kiln-sim --driver HOST:PORT --workers N --slots S [--secret-file F]\n"
                            "                [--delay-ms D] [--fail FRACTION] [--fail-attempts K]\n"
                            "                [--vanish V --vanish-after T [--vanish-in-shuffle]] [--seed X]\n";

int main(int argc, char **argv)
{
    check_pack_done();
    sim s;
    memset(&s, 0, sizeof s);
    s.nworkers = 1;
    s.slots = 1;
    s.fail_attempts = 1;
    const char *secret_file = NULL;
    static const struct option opts[] = {
        {"driver", required_argument, 0, 'd'},        {"workers", required_argument, 0, 'w'},
        {"slots", required_argument, 0, 's'},         {"secret-file", required_argument, 0, 'k'},
        {"delay-ms", required_argument, 0, 'D'},      {"fail", required_argument, 0, 'f'},
        {"fail-attempts", required_argument, 0, 'F'}, {"vanish", required_argument, 0, 'v'},
        {"vanish-after", required_argument, 0, 'V'},  {"seed", required_argument, 0, 'S'},
        {"vanish-in-shuffle", no_argument, 0, 'M'},   {0, 0, 0, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'd':
            s.driver = optarg;
            break;
        case 'w':
            s.nworkers = atoi(optarg);
            break;
        case 's':
            s.slots = atoi(optarg);
            break;
        case 'k':
            secret_file = optarg;
            break;
        case 'D':
            s.delay_ms = strtoull(optarg, NULL, 10);
            break;
        case 'f':
            s.fail = strtod(optarg, NULL);
            break;
        case 'F':
            s.fail_attempts = (uint32_t)atoi(optarg);
            break;
        case 'v':
            s.vanish = atoi(optarg);
            break;
        case 'V':
            s.vanish_after = strtoull(optarg, NULL, 10);
            break;
        case 'S':
            s.seed = strtoull(optarg, NULL, 10);
            break;
        case 'M':
            s.vanish_in_shuffle = 1;
            break;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!s.driver || s.nworkers < 1 || s.slots < 1 || s.fail < 0 || s.fail > 1) {
        fputs(usage, stderr);
        return 2;
    }
    char err[512];
    /* the secret every kiln program uses: the one named, else the default */
    if (secret_resolve(&s.secret, secret_file, NULL, 0, err, sizeof err) < 0) {
        fprintf(stderr, "kiln-sim: %s\n", err);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    s.base = event_base_new();
    s.w = xcalloc((size_t)s.nworkers, sizeof *s.w);
    for (int i = 0; i < s.nworkers; i++) {
        s.w[i].s = &s;
        s.w[i].index = i;
    }
    s.delay_ev = evtimer_new(s.base, delay_cb, &s);
    s.sigterm_ev = evsignal_new(s.base, SIGTERM, on_signal, &s);
    s.sigint_ev = evsignal_new(s.base, SIGINT, on_signal, &s);
    evsignal_add(s.sigterm_ev, NULL);
    evsignal_add(s.sigint_ev, NULL);
    connect_more(&s);
    event_base_dispatch(s.base);
    for (int i = 0; i < s.nworkers; i++)
        if (s.w[i].c && !s.w[i].gone) conn_close(s.w[i].c, 0, "kiln-sim stopping");
    event_base_loop(s.base, EVLOOP_NONBLOCK); /* the closed conns are freed from the loop */
    while (s.held_head) {
        answer *a = s.held_head;
        s.held_head = a->next;
        free(a->sizes);
        free(a);
    }
    if (s.hb_ev) event_free(s.hb_ev);
    event_free(s.delay_ev);
    event_free(s.sigterm_ev);
    event_free(s.sigint_ev);
    event_base_free(s.base);
    free(s.w);
    free(s.gone_ids);
    auth_secret_release(&s.secret);
    return 0;
}
