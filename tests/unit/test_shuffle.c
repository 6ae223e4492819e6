/*
 * test_shuffle.c - unit tests of worker/shuffle.c: map outputs written and
 * looked up, a real shuffle server in a forked child on a loopback port,
 * and fetches mixing local files and that server: every record arrives
 * exactly once, failures name the worker and the map output, a large
 * partition streams through the server's backpressure, and a peer that
 * sends garbage loses only its own connection. Also conn_set_drain_cb.
 *
 * Layout: two work directories stand for two workers. w1 is "this worker"
 * (id 1, read from disk); w2 is served by the child (id 2, over TCP).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <xxhash.h>

#include "block.h"
#include "conn.h"
#include "frame.h"
#include "log.h"
#include "handshake.h"
#include "msg.h"
#include "net.h"
#include "shuffle.h"
#include "shuffle_fetch.h"
#include "shuffle_serve.h"
#include "shuffle_write.h"
#include "util.h"

#define APP      "app-1"
#define NPARTS   5
#define NMAPS    4           /* maps 0,1 live on worker 1 (local), 2,3 on worker 2 */
#define BIG_SHUF 2           /* the large shuffle: map 0 on worker 2, map 1 on worker 1 */
#define BIG_MIN  (20u << 20) /* bytes of its partition 0, at least */

/* Set up once by the unchecked fixture, inherited by every forked test. */
static char g_root[256], g_local[300], g_remote[300], g_log[300];
static int g_port;
static pid_t g_server = -1;
static uint64_t g_big_len; /* bytes of the big partition 0 */
static uint64_t g_big_hash;
static uint64_t g_big_recs;

/* ---- deterministic data ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Records of shuffle 1, map m, partition p: none for p 3, nor for (1, 0). */
static size_t nrecs(uint32_t m, uint32_t p)
{
    if (p == 3 || (m == 1 && p == 0)) return 0;
    return 50 + 37 * m + 11 * p;
}

static void rec_text(uint32_t m, uint32_t p, size_t i, char *key, char *val)
{
    sprintf(key, "k%u-%u-%zu", m, p, i);
    sprintf(val, "value-%zu-%0*zu", i, (int)(i % 40), i * 7919);
}

/* Appends sealed blocks of ~per records each to a growing buffer. */
static void seal_into(block_builder *b, uint8_t **buf, size_t *len)
{
    uint8_t *blk;
    size_t n;
    ck_assert_int_eq(block_builder_seal(b, &blk, &n), 0);
    *buf = realloc(*buf, *len + n);
    memcpy(*buf + *len, blk, n);
    *len += n;
    free(blk);
}

/* Builds the sealed blocks of (m, p) into a new buffer (caller frees). */
static uint8_t *make_part(uint32_t m, uint32_t p, size_t *len)
{
    block_builder b;
    uint8_t *all = NULL;
    size_t n = nrecs(m, p);
    char key[64], val[128];
    *len = 0;
    block_builder_init(&b);
    for (size_t i = 0; i < n; i++) {
        rec_text(m, p, i, key, val);
        ck_assert_int_eq(block_builder_add(&b, KILN_STR(key), KILN_STR(val)), 0);
        if (b.nrec == 20) seal_into(&b, &all, len);
    }
    if (b.nrec > 0) seal_into(&b, &all, len);
    block_builder_release(&b);
    return all;
}

/* Writes a map output of nparts partitions whose bytes are bufs[p], the
 * way a map task does: whole blocks, appended as they come, partitions
 * taking turns (so a partition lies in several extents); partition 1 of an
 * even map appends two blocks at a turn (adjacent blocks merge). */
static void write_parts(const char *work_dir, uint32_t shuffle, uint32_t m, uint32_t nparts, uint8_t **bufs,
                        const size_t *lens, uint64_t *sizes)
{
    char err[512];
    shuffle_out *o = shuffle_out_open(work_dir, APP, shuffle, m, nparts, err, sizeof err);
    ck_assert_msg(o != NULL, "%s", err);
    size_t at[64] = {0};
    ck_assert_uint_le(nparts, 64);
    for (int more = 1; more;) {
        more = 0;
        for (uint32_t p = 0; p < nparts; p++) {
            int turns = (p == 1 && m % 2 == 0) ? 2 : 1;
            for (int t = 0; t < turns && at[p] < lens[p]; t++) {
                size_t total;
                ck_assert_int_eq(block_peek_size(bufs[p] + at[p], lens[p] - at[p], &total), 1);
                struct iovec iov[2] = {{bufs[p] + at[p], 7}, {bufs[p] + at[p] + 7, total - 7}};
                ck_assert_msg(shuffle_out_append(o, p, iov, 2, err, sizeof err) == 0, "%s", err);
                at[p] += total;
            }
            if (at[p] < lens[p]) more = 1;
        }
    }
    ck_assert_msg(shuffle_out_commit(o, sizes, err, sizeof err) == 0, "%s", err);
}

/* Writes map m of shuffle 1 under work_dir; sizes get each partition's bytes. */
static void write_map(const char *work_dir, uint32_t m, uint64_t *sizes)
{
    uint8_t *bufs[NPARTS];
    size_t lens[NPARTS];
    for (uint32_t p = 0; p < NPARTS; p++)
        bufs[p] = make_part(m, p, &lens[p]);
    write_parts(work_dir, 1, m, NPARTS, bufs, lens, sizes);
    for (uint32_t p = 0; p < NPARTS; p++)
        free(bufs[p]);
}

/* Writes raw bytes (not necessarily blocks) as the only partition of a map
 * output, in pieces of at most `piece` bytes. */
static void write_bytes(const char *work_dir, uint32_t shuffle, uint32_t m, const uint8_t *p, size_t n, size_t piece)
{
    char err[512];
    shuffle_out *o = shuffle_out_open(work_dir, APP, shuffle, m, 2, err, sizeof err);
    ck_assert_msg(o != NULL, "%s", err);
    for (size_t at = 0; at < n; at += piece) {
        struct iovec iov = {(void *)(p + at), n - at < piece ? n - at : piece};
        ck_assert_msg(shuffle_out_append(o, 0, &iov, 1, err, sizeof err) == 0, "%s", err);
    }
    uint64_t sizes[2];
    ck_assert_msg(shuffle_out_commit(o, sizes, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(sizes[0], n);
    ck_assert_uint_eq(sizes[1], 0);
}

/* The large partition: ~22 MiB of incompressible records in blocks of
 * 512 KiB, with three 5 MiB blocks that straddle every chunk and piece
 * boundary. */
static void write_big(const char *work_dir, uint32_t map)
{
    block_builder b;
    uint8_t *all = NULL, val[4096];
    size_t len = 0, nb = 0;
    uint64_t recs = 0;
    block_builder_init(&b);
    rng_state = 0x1234567887654321ull;
    while (len < BIG_MIN + (2u << 20)) {
        size_t target = (nb % 13 == 5) ? (5u << 20) : (512u << 10);
        while (block_builder_size(&b) < target) {
            char key[32];
            for (size_t i = 0; i < sizeof val; i += 8) {
                uint64_t x = rnd();
                memcpy(val + i, &x, 8);
            }
            snprintf(key, sizeof key, "big-%llu", (unsigned long long)recs++);
            ck_assert_int_eq(block_builder_add(&b, KILN_STR(key), KILN_SLICE(val, sizeof val)), 0);
        }
        seal_into(&b, &all, &len);
        nb++;
    }
    block_builder_release(&b);

    /* appended in pieces that do not end on block boundaries: one extent */
    write_bytes(work_dir, BIG_SHUF, map, all, len, len / 3);
    g_big_len = len;
    g_big_hash = XXH64(all, len, 0);
    g_big_recs = recs;
    free(all);
}

/* ---- what a fetch delivers ---- */

typedef struct sink {
    char **recs;
    size_t n, cap;
    uint64_t blocks, bytes, nrec;
    int keep;        /* keep every record as "key\tval" */
    int raw;         /* count bytes only, do not decode */
    int stop_after;  /* return -1 after this many blocks (0: never) */
    int sleep_first; /* ms to sleep on the first block (lets the server's output fill) */
    XXH64_state_t *hash;
} sink;

static int sink_block(void *arg, const uint8_t *blk, size_t n)
{
    sink *s = arg;
    block_reader r;
    kiln_rec rec;
    char err[256];
    int st;
    if (s->blocks == 0 && s->sleep_first) usleep((useconds_t)s->sleep_first * 1000);
    s->blocks++;
    s->bytes += n;
    if (s->hash) XXH64_update(s->hash, blk, n);
    if (s->raw) return 0;
    ck_assert_msg(block_reader_open(&r, blk, n, err, sizeof err) == 0, "%s", err);
    while ((st = block_reader_next(&r, &rec, err, sizeof err)) == 1) {
        s->nrec++;
        if (!s->keep) continue;
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 256;
            s->recs = realloc(s->recs, s->cap * sizeof *s->recs);
        }
        s->recs[s->n++] = xasprintf("%.*s\t%.*s", (int)rec.key.len, (const char *)rec.key.ptr, (int)rec.val.len,
                                    (const char *)rec.val.ptr);
    }
    ck_assert_msg(st == 0, "%s", err);
    block_reader_close(&r);
    if (s->stop_after && s->blocks >= (uint64_t)s->stop_after) return -1;
    return 0;
}

static void sink_release(sink *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->recs[i]);
    free(s->recs);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Checks that the sink holds exactly the records of maps[] for partition p. */
static void check_multiset(sink *s, const uint32_t *maps, size_t nmaps, uint32_t p)
{
    size_t n = 0;
    for (size_t i = 0; i < nmaps; i++)
        n += nrecs(maps[i], p);
    ck_assert_uint_eq(s->n, n);
    char **want = malloc((n + 1) * sizeof *want);
    size_t k = 0;
    for (size_t i = 0; i < nmaps; i++)
        for (size_t j = 0; j < nrecs(maps[i], p); j++) {
            char key[64], val[128];
            rec_text(maps[i], p, j, key, val);
            want[k++] = xasprintf("%s\t%s", key, val);
        }
    if (n > 0) {
        qsort(want, n, sizeof *want, cmp_str);
        qsort(s->recs, s->n, sizeof *s->recs, cmp_str);
    }
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(s->recs[i], want[i]);
    for (size_t i = 0; i < n; i++)
        free(want[i]);
    free(want);
}

/* Fills a BlockLoc (the caller keeps it alive). */
static void loc_set(Kiln__BlockLoc *loc, uint32_t worker, uint32_t map, uint64_t length)
{
    kiln__block_loc__init(loc);
    loc->host = "127.0.0.1";
    loc->port = worker == 1 ? 7078 : (uint32_t)g_port; /* the local port is never dialled */
    loc->worker_id = worker;
    loc->map = map;
    loc->length = length;
}

/* The length of (map, p) in a work dir, as the driver would list it. */
static uint64_t part_len(const char *work_dir, uint32_t shuffle, uint32_t map, uint32_t p)
{
    char *ip = shuffle_index_path(work_dir, APP, shuffle, map), err[512];
    shuffle_extent *e;
    size_t n;
    uint64_t len;
    ck_assert_msg(shuffle_index_lookup(ip, p, &e, &n, &len, err, sizeof err) == 0, "%s", err);
    free(e);
    free(ip);
    return len;
}

/* ---- the server child ---- */

static void child_accept(evutil_socket_t lfd, short what, void *arg)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) shuffle_server_accept(arg, fd);
}

static void child_stop(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopbreak(arg);
}

/* Serves g_remote on lfd until SIGTERM; never returns. */
static void run_server(int lfd)
{
    logger log;
    char err[256];
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (logger_open(&log, "worker", g_log, LOG_DEBUG, err, sizeof err) < 0) _exit(3);
    struct event_base *base = event_base_new();
    shuffle_server *s = shuffle_server_new(base, g_remote, &log, 0);
    struct event *acc = event_new(base, lfd, EV_READ | EV_PERSIST, child_accept, s);
    struct event *term = evsignal_new(base, SIGTERM, child_stop, base);
    event_add(acc, NULL);
    event_add(term, NULL);
    event_base_dispatch(base);
    log_msg(&log, LOG_INFO, "server stopped bytes=%llu requests=%llu", (unsigned long long)shuffle_server_bytes(s),
            (unsigned long long)shuffle_server_requests(s));
    shuffle_server_free(s);
    event_base_loop(base, EVLOOP_NONBLOCK); /* frees the closed conns */
    event_free(acc);
    event_free(term);
    event_base_free(base);
    logger_close(&log);
    _exit(0);
}

static void setup_all(void)
{
    char err[256];
    snprintf(g_root, sizeof g_root, "/tmp/kiln-shuffle-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_root));
    snprintf(g_local, sizeof g_local, "%s/w1", g_root);
    snprintf(g_remote, sizeof g_remote, "%s/w2", g_root);
    snprintf(g_log, sizeof g_log, "%s/server.log", g_root);
    for (uint32_t m = 0; m < NMAPS; m++)
        write_map(m < 2 ? g_local : g_remote, m, NULL);
    write_big(g_remote, 0);
    write_big(g_local, 1);

    int lfd = net_listen("127.0.0.1:0", &g_port, err, sizeof err);
    ck_assert_msg(lfd >= 0, "%s", err);
    signal(SIGPIPE, SIG_IGN); /* as the daemons and executors do */
    fflush(NULL);
    g_server = fork();
    if (g_server == 0) { /* no ck_assert here: the child shares Check's message file */
        signal(SIGTERM, SIG_DFL);
        run_server(lfd);
    }
    ck_assert_int_ge(g_server, 0);
    close(lfd);
}

static void teardown_all(void)
{
    if (g_server > 0) {
        int st;
        kill(g_server, SIGTERM);
        waitpid(g_server, &st, 0);
        g_server = -1;
    }
    rm_rf(g_root);
}

static uint8_t *file_range(const char *work_dir, uint32_t shuffle, uint32_t map, uint32_t p, size_t *len);

/* ---- writing and looking up ---- */

START_TEST(test_paths)
{
    char *d = shuffle_dir_path("/w", "app-7", 3);
    char *dp = shuffle_data_path("/w", "app-7", 3, 12);
    char *ip = shuffle_index_path("/w", "app-7", 3, 12);
    ck_assert_str_eq(d, "/w/app-7/shuffle/3");
    ck_assert_str_eq(dp, "/w/app-7/shuffle/3/map-12.data");
    ck_assert_str_eq(ip, "/w/app-7/shuffle/3/map-12.index");
    free(d);
    free(dp);
    free(ip);
}
END_TEST

START_TEST(test_write_and_lookup)
{
    char dir[400], err[512];
    uint64_t sizes[NPARTS];
    snprintf(dir, sizeof dir, "%s/wl", g_root);
    write_map(dir, 0, sizes);
    write_map(dir, 3, NULL);

    /* every partition's extents: inside the file, never overlapping, summing
     * to sizes[], holding exactly its records; together the whole file */
    char *ip = shuffle_index_path(dir, APP, 1, 0), *dp = shuffle_data_path(dir, APP, 1, 0);
    uint8_t *data;
    size_t dlen;
    ck_assert_int_eq(read_file(dp, &data, &dlen, err, sizeof err), 0);
    uint8_t *seen = calloc(dlen + 1, 1);
    uint64_t covered = 0;
    size_t max_extents = 0;
    for (uint32_t p = 0; p < NPARTS; p++) {
        shuffle_extent *e;
        size_t ne;
        uint64_t len;
        ck_assert_msg(shuffle_index_lookup(ip, p, &e, &ne, &len, err, sizeof err) == 0, "%s", err);
        ck_assert_uint_eq(len, sizes[p]);
        ck_assert_int_eq(len == 0, nrecs(0, p) == 0);
        if (ne > max_extents) max_extents = ne;
        sink s = {.keep = 1};
        for (size_t i = 0; i < ne; i++) {
            ck_assert_uint_le(e[i].off + e[i].len, dlen);
            for (uint64_t x = e[i].off; x < e[i].off + e[i].len; x++) {
                ck_assert_int_eq(seen[x], 0);
                seen[x] = 1;
            }
            size_t at = (size_t)e[i].off, total;
            while (at < e[i].off + e[i].len) {
                ck_assert_int_eq(block_peek_size(data + at, (size_t)(e[i].off + e[i].len - at), &total), 1);
                sink_block(&s, data + at, total);
                at += total;
            }
            ck_assert_uint_eq(at, e[i].off + e[i].len);
            covered += e[i].len;
        }
        uint32_t maps[] = {0};
        check_multiset(&s, maps, 1, p);
        sink_release(&s);
        free(e);
    }
    ck_assert_uint_eq(covered, dlen);
    ck_assert_uint_gt(max_extents, 1); /* partitions took turns: several extents */
    free(seen);
    free(data);

    /* out of range, missing, corrupt */
    shuffle_extent *e;
    size_t ne;
    uint64_t len;
    ck_assert_int_eq(shuffle_index_lookup(ip, NPARTS, &e, &ne, &len, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "out of range"));
    char *missing = shuffle_index_path(dir, APP, 1, 9);
    ck_assert_int_eq(shuffle_index_lookup(missing, 0, &e, &ne, &len, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "no such map output"));
    char bad[500];
    snprintf(bad, sizeof bad, "%s/bad.index", dir);
    ck_assert_int_eq(write_file_atomic(bad, "1234567", 7, err, sizeof err), 0);
    ck_assert_int_eq(shuffle_index_lookup(bad, 0, &e, &ne, &len, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "corrupt index"));
    /* "KIDX", 2 partitions, first = {0, 1, 0}: decreasing at partition 1 */
    uint8_t dec[8 + 24 + 16] = {'K', 'I', 'D', 'X', 2};
    dec[16] = 1;
    dec[40] = 5; /* the one extent: 5 bytes at 0 */
    ck_assert_int_eq(write_file_atomic(bad, dec, sizeof dec, err, sizeof err), 0);
    ck_assert_int_eq(shuffle_index_lookup(bad, 0, &e, &ne, &len, err, sizeof err), 0);
    ck_assert_uint_eq(ne, 1);
    ck_assert_uint_eq(len, 5);
    free(e);
    ck_assert_int_eq(shuffle_index_lookup(bad, 1, &e, &ne, &len, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "corrupt index"));
    dec[8 + 16] = 9; /* first[2] = 9: past the one extent there is */
    dec[16] = 0;
    ck_assert_int_eq(write_file_atomic(bad, dec, sizeof dec, err, sizeof err), 0);
    ck_assert_int_eq(shuffle_index_lookup(bad, 1, &e, &ne, &len, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "corrupt index"));

    /* a rewrite replaces the output whole: now 2 empty partitions, no temp files left */
    shuffle_out *o = shuffle_out_open(dir, APP, 1, 0, 2, err, sizeof err);
    ck_assert_ptr_nonnull(o);
    struct iovec iov = {"x", 1};
    ck_assert_int_eq(shuffle_out_append(o, 2, &iov, 1, err, sizeof err), -1); /* no partition 2 */
    uint64_t sz2[2];
    ck_assert_int_eq(shuffle_out_commit(o, sz2, err, sizeof err), 0);
    ck_assert_int_eq(shuffle_index_lookup(ip, 1, &e, &ne, &len, err, sizeof err), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(ne, 0);
    ck_assert_int_eq(shuffle_index_lookup(ip, 2, &e, &ne, &len, err, sizeof err), -1);
    struct stat st;
    ck_assert_int_eq(stat(dp, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/%s/shuffle/1 | grep -q tmp", dir, APP);
    ck_assert_int_ne(system(cmd), 0);

    /* an aborted output leaves nothing behind, not even its temp files */
    o = shuffle_out_open(dir, APP, 1, 5, 1, err, sizeof err);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(shuffle_out_append(o, 0, &iov, 1, err, sizeof err), 0);
    shuffle_out_abort(o);
    char *ip5 = shuffle_index_path(dir, APP, 1, 5);
    ck_assert_int_ne(access(ip5, F_OK), 0);
    ck_assert_int_ne(system(cmd), 0);
    free(ip5);
    free(missing);
    free(ip);
    free(dp);
}
END_TEST

/* ---- fetching ---- */

START_TEST(test_fetch_local)
{
    for (uint32_t p = 0; p < NPARTS; p++) {
        Kiln__BlockLoc l0, l1, *locs[] = {&l0, &l1};
        Kiln__ShuffleInput in = KILN__SHUFFLE_INPUT__INIT;
        loc_set(&l0, 1, 0, part_len(g_local, 1, 0, p));
        loc_set(&l1, 1, 1, part_len(g_local, 1, 1, p));
        in.shuffle_id = 1;
        in.n_blocks = 2;
        in.blocks = locs;
        sink s = {.keep = 1};
        fetch_stats st;
        char err[512];
        int rc = shuffle_fetch(g_local, APP, 1, &in, p, 0, NULL, sink_block, &s, &st, err, sizeof err);
        ck_assert_msg(rc == 0, "%s", err);
        uint32_t maps[] = {0, 1};
        check_multiset(&s, maps, 2, p);
        ck_assert_uint_eq(st.local_bytes, l0.length + l1.length);
        ck_assert_uint_eq(st.remote_bytes, 0);
        ck_assert_uint_eq(st.remote_workers, 0);
        sink_release(&s);
    }
}
END_TEST

START_TEST(test_fetch_mixed)
{
    for (uint32_t p = 0; p < NPARTS; p++) {
        Kiln__BlockLoc l[NMAPS + 1], *locs[NMAPS + 1];
        Kiln__ShuffleInput in = KILN__SHUFFLE_INPUT__INIT;
        uint64_t local = 0, remote = 0;
        for (uint32_t m = 0; m < NMAPS; m++) {
            int here = m < 2;
            loc_set(&l[m], here ? 1 : 2, m, part_len(here ? g_local : g_remote, 1, m, p));
            *(here ? &local : &remote) += l[m].length;
            locs[m] = &l[m];
        }
        loc_set(&l[NMAPS], 2, 77, 0); /* length 0: skipped, never requested */
        locs[NMAPS] = &l[NMAPS];
        in.shuffle_id = 1;
        in.n_blocks = NMAPS + 1;
        in.blocks = locs;
        sink s = {.keep = 1};
        fetch_stats st;
        char err[512];
        int rc = shuffle_fetch(g_local, APP, 1, &in, p, 0, NULL, sink_block, &s, &st, err, sizeof err);
        ck_assert_msg(rc == 0, "partition %u: %s", p, err);
        uint32_t maps[] = {0, 1, 2, 3};
        check_multiset(&s, maps, NMAPS, p);
        ck_assert_uint_eq(st.local_bytes, local);
        ck_assert_uint_eq(st.remote_bytes, remote);
        ck_assert_uint_eq(st.remote_workers, remote ? 1 : 0);
        sink_release(&s);
    }
}
END_TEST

/* A fetch of one remote block list; returns shuffle_fetch's result. */
static int fetch_one(uint32_t worker, uint32_t port, uint32_t shuffle, uint32_t map, uint32_t p, sink *s, char *err,
                     size_t errlen)
{
    Kiln__BlockLoc l, *locs[] = {&l};
    Kiln__ShuffleInput in = KILN__SHUFFLE_INPUT__INIT;
    loc_set(&l, worker, map, 100);
    l.port = port;
    in.shuffle_id = shuffle;
    in.n_blocks = 1;
    in.blocks = locs;
    return shuffle_fetch(g_local, APP, 1, &in, p, 0, NULL, sink_block, s, NULL, err, errlen);
}

START_TEST(test_fetch_missing_map)
{
    char err[512], hp[64];
    sink s = {0};
    snprintf(hp, sizeof hp, "127.0.0.1:%d", g_port);
    /* a remote list where one map output is missing: the others arrive first */
    Kiln__BlockLoc l[3], *locs[] = {&l[0], &l[1], &l[2]};
    Kiln__ShuffleInput in = KILN__SHUFFLE_INPUT__INIT;
    loc_set(&l[0], 2, 2, part_len(g_remote, 1, 2, 0));
    loc_set(&l[1], 2, 9, 100);
    loc_set(&l[2], 2, 3, part_len(g_remote, 1, 3, 0));
    in.shuffle_id = 1;
    in.n_blocks = 3;
    in.blocks = locs;
    ck_assert_int_eq(shuffle_fetch(g_local, APP, 1, &in, 0, 0, NULL, sink_block, &s, NULL, err, sizeof err), -1);
    ck_assert_msg(strstr(err, hp) && strstr(err, "map 9 "), "%s", err);
    ck_assert_msg(strstr(err, "no such map output"), "%s", err);

    /* a missing local output names this worker and the map */
    ck_assert_int_eq(fetch_one(1, 7078, 1, 8, 0, &s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "127.0.0.1:7078") && strstr(err, "map 8 "), "%s", err);
    /* a partition out of range on the server */
    ck_assert_int_eq(fetch_one(2, (uint32_t)g_port, 1, 2, 7, &s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, hp) && strstr(err, "out of range"), "%s", err);
    /* a worker that is not there */
    char e2[256];
    int port, lfd = net_listen("127.0.0.1:0", &port, e2, sizeof e2);
    ck_assert_int_ge(lfd, 0);
    close(lfd);
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    ck_assert_int_eq(fetch_one(2, (uint32_t)port, 1, 2, 0, &s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, hp) && strstr(err, "map 2 "), "%s", err);
    /* a bad application id never becomes a path */
    Kiln__ShuffleInput empty = KILN__SHUFFLE_INPUT__INIT;
    ck_assert_int_eq(shuffle_fetch(g_local, "../x", 1, &empty, 0, 0, NULL, sink_block, &s, NULL, err, sizeof err), -1);
    sink_release(&s);
}
END_TEST

START_TEST(test_fetch_stop_and_corrupt)
{
    char err[512], dir[400];
    sink s = {.stop_after = 2};
    /* the callback stops a remote fetch */
    ck_assert_int_eq(fetch_one(2, (uint32_t)g_port, 1, 2, 0, &s, err, sizeof err), -1);
    ck_assert_uint_eq(s.blocks, 2);
    ck_assert_ptr_nonnull(strstr(err, "stopped"));

    /* bytes that are not blocks fail the fetch with the map named */
    snprintf(dir, sizeof dir, "%s/corrupt", g_root);
    write_bytes(dir, 1, 4, (const uint8_t *)"this is not a sealed block at all, no", 37, 37);
    Kiln__BlockLoc l, *locs[] = {&l};
    Kiln__ShuffleInput in = KILN__SHUFFLE_INPUT__INIT;
    loc_set(&l, 1, 4, 37);
    in.shuffle_id = 1;
    in.n_blocks = 1;
    in.blocks = locs;
    sink s2 = {0};
    ck_assert_int_eq(shuffle_fetch(dir, APP, 1, &in, 0, 0, NULL, sink_block, &s2, NULL, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "map 4 ") && strstr(err, "bad block stream"), "%s", err);

    /* a partition cut inside a block */
    uint8_t *blk;
    size_t n;
    block_builder b;
    block_builder_init(&b);
    block_builder_add(&b, KILN_STR("k"), KILN_STR("v"));
    block_builder_seal(&b, &blk, &n);
    block_builder_release(&b);
    write_bytes(dir, 1, 4, blk, n - 1, n);
    ck_assert_int_eq(shuffle_fetch(dir, APP, 1, &in, 0, 0, NULL, sink_block, &s2, NULL, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "inside a block"), "%s", err);
    free(blk);
}
END_TEST

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_fetch_large)
{
    char err[512];
    Kiln__BlockLoc l[2], *locs[] = {&l[0], &l[1]};
    Kiln__ShuffleInput in = KILN__SHUFFLE_INPUT__INIT;
    loc_set(&l[0], 2, 0, g_big_len);
    loc_set(&l[1], 1, 1, g_big_len);
    in.shuffle_id = BIG_SHUF;
    in.blocks = locs;
    ck_assert_uint_ge(g_big_len, BIG_MIN);

    /* remote only, with a slow start so the server's output fills and drains */
    in.n_blocks = 1;
    sink s = {.sleep_first = 300, .hash = XXH64_createState()};
    XXH64_reset(s.hash, 0);
    fetch_stats st;
    ck_assert_msg(shuffle_fetch(g_local, APP, 1, &in, 0, 0, NULL, sink_block, &s, &st, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_uint_eq(s.bytes, g_big_len);
    ck_assert_uint_eq(st.remote_bytes, g_big_len);
    ck_assert_uint_eq(s.nrec, g_big_recs);
    ck_assert_uint_eq(XXH64_digest(s.hash), g_big_hash); /* one map's blocks arrive in order */

    /* remote only, timed (best of 3), with and without decoding the blocks */
    for (int raw = 0; raw < 2; raw++) {
        double best = 0;
        for (int i = 0; i < 3; i++) {
            sink t = {.raw = raw};
            double t0 = now_s();
            ck_assert_msg(shuffle_fetch(g_local, APP, 1, &in, 0, 0, NULL, sink_block, &t, &st, err, sizeof err) == 0,
                          "%s", err);
            double mbs = (double)g_big_len / 1e6 / (now_s() - t0);
            if (mbs > best) best = mbs;
            ck_assert_uint_eq(t.bytes, g_big_len);
        }
        printf("shuffle: remote fetch of %.1f MB over loopback (%s): %.0f MB/s\n", (double)g_big_len / 1e6,
               raw ? "blocks not decoded" : "blocks decoded", best);
    }

    /* local and remote together */
    in.n_blocks = 2;
    sink m = {0};
    double t0 = now_s();
    ck_assert_msg(shuffle_fetch(g_local, APP, 1, &in, 0, 0, NULL, sink_block, &m, &st, err, sizeof err) == 0, "%s",
                  err);
    printf("shuffle: local + remote fetch of %.1f MB: %.0f MB/s\n", 2.0 * (double)g_big_len / 1e6,
           2.0 * (double)g_big_len / 1e6 / (now_s() - t0));
    fflush(stdout);
    ck_assert_uint_eq(m.bytes, 2 * g_big_len);
    ck_assert_uint_eq(m.nrec, 2 * g_big_recs);
    ck_assert_uint_eq(st.local_bytes, g_big_len);
    ck_assert_uint_eq(st.remote_bytes, g_big_len);
    XXH64_freeState(s.hash);
}
END_TEST

/* ---- the server, spoken to by hand ---- */

/* Connects to the child; with hello, shakes hands. */
static int raw_connect(msg_reader *r, int hello)
{
    char err[256], hp[64];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", g_port);
    int fd = net_connect_blocking(hp, err, sizeof err);
    ck_assert_msg(fd >= 0, "%s", err);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    msg_reader_init(r, fd, FRAME_MAX_DEFAULT);
    seal sl; /* no secret: stays off, holds nothing */
    if (hello)
        ck_assert_msg(msg_handshake_fd(fd, r, KILN__ROLE__ROLE_PEER, "test", NULL, &sl, err, sizeof err) == 0, "%s",
                      err);
    return fd;
}

static void raw_request(int fd, uint32_t id, uint32_t shuffle, uint32_t map, uint32_t p)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__FetchRequest fr = KILN__FETCH_REQUEST__INIT;
    fr.request_id = id;
    fr.app_id = APP;
    fr.shuffle_id = shuffle;
    fr.map = map;
    fr.partition = p;
    MSG_BODY(env, fetch_request, FETCH_REQUEST, &fr);
    ck_assert_int_eq(msg_write_fd(fd, &env), 0);
}

/* Reads the answer to request id: its bytes (caller frees), or NULL with
 * the server's error copied into err. */
static uint8_t *raw_answer(msg_reader *r, uint32_t id, size_t *len, char *err, size_t errlen)
{
    uint8_t *buf = NULL;
    *len = 0;
    for (;;) {
        Kiln__Envelope *m;
        char e[256];
        ck_assert_msg(msg_reader_next(r, &m, e, sizeof e) == 1, "%s", e);
        ck_assert_int_eq(m->body_case, KILN__ENVELOPE__BODY_FETCH_DATA);
        ck_assert_uint_eq(m->fetch_data->request_id, id);
        ck_assert_uint_le(m->fetch_data->data.len, 1u << 20);
        buf = realloc(buf, *len + m->fetch_data->data.len + 1);
        if (m->fetch_data->data.len) memcpy(buf + *len, m->fetch_data->data.data, m->fetch_data->data.len);
        *len += m->fetch_data->data.len;
        int last = m->fetch_data->last;
        if (*m->fetch_data->error) {
            snprintf(err, errlen, "%s", m->fetch_data->error);
            ck_assert(last);
            free(buf);
            buf = NULL;
        }
        msg_free(m);
        if (last) return buf;
    }
}

/* The bytes of (map, p) in a work dir, read straight from the files. */
static uint8_t *file_range(const char *work_dir, uint32_t shuffle, uint32_t map, uint32_t p, size_t *len)
{
    char *ip = shuffle_index_path(work_dir, APP, shuffle, map), *dp = shuffle_data_path(work_dir, APP, shuffle, map);
    char err[512];
    shuffle_extent *e;
    size_t ne;
    uint64_t n;
    uint8_t *all;
    size_t alen;
    ck_assert_int_eq(shuffle_index_lookup(ip, p, &e, &ne, &n, err, sizeof err), 0);
    ck_assert_int_eq(read_file(dp, &all, &alen, err, sizeof err), 0);
    uint8_t *out = malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++) {
        ck_assert_uint_le(e[i].off + e[i].len, alen);
        memcpy(out + k, all + e[i].off, e[i].len);
        k += e[i].len;
    }
    ck_assert_uint_eq(k, n);
    free(e);
    *len = n;
    free(all);
    free(ip);
    free(dp);
    return out;
}

START_TEST(test_server_errors_keep_connection)
{
    msg_reader r;
    char err[512] = "";
    size_t n, want_len;
    int fd = raw_connect(&r, 1);
    uint8_t *want = file_range(g_remote, 1, 2, 4, &want_len);

    raw_request(fd, 1, 1, 42, 0); /* no such map */
    raw_request(fd, 2, 1, 2, 4);
    raw_request(fd, 3, 1, 2, 99); /* partition out of range */
    raw_request(fd, 4, 5, 2, 0);  /* no such shuffle */
    raw_request(fd, 5, 1, 3, 3);  /* an empty partition */
    raw_request(fd, 6, 1, 2, 4);

    ck_assert_ptr_null(raw_answer(&r, 1, &n, err, sizeof err));
    ck_assert_msg(strstr(err, "no such map output"), "%s", err);
    uint8_t *got = raw_answer(&r, 2, &n, err, sizeof err);
    ck_assert_uint_eq(n, want_len);
    ck_assert_int_eq(memcmp(got, want, n), 0);
    free(got);
    ck_assert_ptr_null(raw_answer(&r, 3, &n, err, sizeof err));
    ck_assert_msg(strstr(err, "out of range"), "%s", err);
    ck_assert_ptr_null(raw_answer(&r, 4, &n, err, sizeof err));
    got = raw_answer(&r, 5, &n, err, sizeof err);
    ck_assert_uint_eq(n, 0);
    free(got);
    got = raw_answer(&r, 6, &n, err, sizeof err);
    ck_assert_uint_eq(n, want_len);
    ck_assert_int_eq(memcmp(got, want, n), 0);
    free(got);
    free(want);
    msg_reader_release(&r);
    close(fd);
}
END_TEST

/* True when the server closed fd (EOF or reset) within the receive timeout. */
static int closed_by_server(int fd)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0) return 1;
        if (n < 0) return errno == ECONNRESET;
    }
}

static int log_has(const char *needle)
{
    uint8_t *text;
    size_t len;
    char err[256];
    if (read_file(g_log, &text, &len, err, sizeof err) < 0) return 0;
    int found = strstr((char *)text, needle) != NULL;
    free(text);
    return found;
}

START_TEST(test_server_garbage)
{
    msg_reader keep, r;
    size_t n, want_len;
    char err[512];
    /* a healthy connection opened before the trouble */
    int good = raw_connect(&keep, 1);

    /* a frame announcing 4 GiB */
    int fd = raw_connect(&r, 0);
    ck_assert_int_eq(write_all(fd, "\xff\xff\xff\xff garbage", 12), 0);
    ck_assert(closed_by_server(fd));
    msg_reader_release(&r);
    close(fd);

    /* bytes that do not decode */
    fd = raw_connect(&r, 0);
    static const char junk[] = "\x10\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x02\x03\x04";
    ck_assert_int_eq(write_all(fd, junk, sizeof junk - 1), 0);
    ck_assert(closed_by_server(fd));
    msg_reader_release(&r);
    close(fd);

    /* a request before the hello */
    fd = raw_connect(&r, 0);
    raw_request(fd, 1, 1, 2, 0);
    ck_assert(closed_by_server(fd));
    msg_reader_release(&r);
    close(fd);

    /* a message that has no business on the data port */
    fd = raw_connect(&r, 1);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__Heartbeat hb = KILN__HEARTBEAT__INIT;
    MSG_BODY(env, heartbeat, HEARTBEAT, &hb);
    ck_assert_int_eq(msg_write_fd(fd, &env), 0);
    ck_assert(closed_by_server(fd));
    msg_reader_release(&r);
    close(fd);

    /* the old connection and a new one still work */
    uint8_t *want = file_range(g_remote, 1, 3, 0, &want_len);
    raw_request(good, 7, 1, 3, 0);
    uint8_t *got = raw_answer(&keep, 7, &n, err, sizeof err);
    ck_assert_uint_eq(n, want_len);
    ck_assert_int_eq(memcmp(got, want, n), 0);
    free(got);
    free(want);
    msg_reader_release(&keep);
    close(good);
    sink s = {.keep = 1};
    ck_assert_msg(fetch_one(2, (uint32_t)g_port, 1, 3, 0, &s, err, sizeof err) == 0, "%s", err);
    uint32_t maps[] = {3};
    check_multiset(&s, maps, 1, 0);
    sink_release(&s);

    /* each was logged as a warning naming the peer */
    ck_assert(log_has("WARN worker: data connection closed peer=127.0.0.1:"));
    ck_assert(log_has("the first message must be a hello"));
    ck_assert(log_has("unexpected heartbeat"));
}
END_TEST

/* ---- an in-process server: counters and shutting down ---- */

START_TEST(test_server_counters)
{
    char err[256];
    int port, lfd = net_listen("127.0.0.1:0", &port, err, sizeof err);
    ck_assert_int_ge(lfd, 0);
    struct event_base *base = event_base_new();
    logger log;
    ck_assert_int_eq(logger_open(&log, "worker", "/dev/null", LOG_DEBUG, err, sizeof err), 0);
    shuffle_server *s = shuffle_server_new(base, g_remote, &log, 0);
    struct event *acc = event_new(base, lfd, EV_READ | EV_PERSIST, child_accept, s);
    event_add(acc, NULL);

    uint64_t want_bytes = 0;
    for (uint32_t m = 2; m < 4; m++)
        want_bytes += part_len(g_remote, 1, m, 2);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        Kiln__BlockLoc l[2], *locs[] = {&l[0], &l[1]};
        Kiln__ShuffleInput in = KILN__SHUFFLE_INPUT__INIT;
        char e[512];
        loc_set(&l[0], 2, 2, 1);
        loc_set(&l[1], 2, 3, 1);
        l[0].port = l[1].port = (uint32_t)port;
        in.shuffle_id = 1;
        in.n_blocks = 2;
        in.blocks = locs;
        /* raw: no ck_assert in this forked child, whose checkpoints would
         * interleave with the test process's on Check's message channel */
        sink sk = {.raw = 1};
        _exit(shuffle_fetch(g_local, APP, 1, &in, 2, 0, NULL, sink_block, &sk, NULL, e, sizeof e) == 0 ? 0 : 1);
    }
    ck_assert_int_ge(pid, 0);
    int st = 0;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    event_base_loop(base, EVLOOP_NONBLOCK); /* the close */
    ck_assert_uint_eq(shuffle_server_requests(s), 2);
    ck_assert_uint_eq(shuffle_server_bytes(s), want_bytes);

    /* a connection still open when the server goes away */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage ss;
    socklen_t sl;
    char hp[64];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    ck_assert_int_eq(net_parse_addr(hp, &ss, &sl, err, sizeof err), 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&ss, sl), 0);
    for (int i = 0; i < 20; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    shuffle_server_free(s);
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert(closed_by_server(fd));
    close(fd);
    event_free(acc);
    event_base_free(base);
    logger_close(&log);
    close(lfd);
}
END_TEST

/* ---- with a shared secret: sealed requests, sealed pieces sent with sendfile ---- */

/* Serves one fetch of the large map output from an in-process server with
 * secret srv, fetched by a child with secret cli: the child's exit status. */
static int sealed_fetch(const char *srv, const char *cli)
{
    char err[256];
    int port, lfd = net_listen("127.0.0.1:0", &port, err, sizeof err);
    ck_assert_int_ge(lfd, 0);
    struct event_base *base = event_base_new();
    auth_secret ss = {(uint8_t *)srv, strlen(srv)}, cs = {(uint8_t *)cli, strlen(cli)};
    shuffle_server *s = shuffle_server_new(base, g_remote, NULL, 0);
    shuffle_server_guard(s, &ss, 0, 0);
    struct event *acc = event_new(base, lfd, EV_READ | EV_PERSIST, child_accept, s);
    event_add(acc, NULL);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        Kiln__BlockLoc l, *locs[] = {&l};
        Kiln__ShuffleInput in = KILN__SHUFFLE_INPUT__INIT;
        char e[512];
        loc_set(&l, 2, 0, g_big_len);
        l.port = (uint32_t)port;
        in.shuffle_id = BIG_SHUF;
        in.n_blocks = 1;
        in.blocks = locs;
        sink sk = {.raw = 1, .hash = XXH64_createState()}; /* no ck_assert in the child */
        XXH64_reset(sk.hash, 0);
        int rc = shuffle_fetch(g_local, APP, 1, &in, 0, 0, &cs, sink_block, &sk, NULL, e, sizeof e);
        _exit(rc == 0 && sk.bytes == g_big_len && XXH64_digest(sk.hash) == g_big_hash ? 0 : 1);
    }
    ck_assert_int_ge(pid, 0);
    int st = 0;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
    event_base_loop(base, EVLOOP_NONBLOCK);
    shuffle_server_free(s);
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_free(acc);
    event_base_free(base);
    close(lfd);
    ck_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

START_TEST(test_server_sealed)
{
    /* many sealed 1 MiB pieces, each tagged over a mapping of its range */
    ck_assert_uint_ge(g_big_len, BIG_MIN);
    ck_assert_int_eq(sealed_fetch("s3cret", "s3cret"), 0);
    ck_assert_int_ne(sealed_fetch("s3cret", "other"), 0);
}
END_TEST

/* ---- conn_set_drain_cb ---- */

typedef struct drain_state {
    int calls;
    size_t max_seen;
} drain_state;

static void drain_cb(conn *c, void *arg)
{
    drain_state *d = arg;
    d->calls++;
    if (conn_output_pending(c) > d->max_seen) d->max_seen = conn_output_pending(c);
}

static void ignore_msg(conn *c, Kiln__Envelope *m, void *arg) {}

static void ignore_close(conn *c, const char *reason, void *arg) {}

START_TEST(test_conn_drain_cb)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct event_base *base = event_base_new();
    drain_state d = {0};
    conn *c = conn_new(base, sv[0], 0, ignore_msg, ignore_close, &d);
    conn_set_drain_cb(c, drain_cb, 256 << 10);
    static uint8_t piece[1 << 20];
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__FetchData fd = KILN__FETCH_DATA__INIT;
    fd.data.data = piece;
    fd.data.len = sizeof piece;
    MSG_BODY(env, fetch_data, FETCH_DATA, &fd);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(conn_send(c, &env), 0);
    ck_assert_uint_gt(conn_output_pending(c), 8u << 20);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    size_t got = 0, total = 8 * (FRAME_HEADER + kiln__envelope__get_packed_size(&env));
    static uint8_t sinkbuf[64 << 10];
    while (got < total) {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        ssize_t n = read(sv[1], sinkbuf, sizeof sinkbuf);
        if (n > 0) got += (size_t)n;
    }
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_gt(d.calls, 0);
    ck_assert_uint_le(d.max_seen, 256u << 10);
    conn_close(c, 0, "done");
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_free(base);
    close(sv[1]);
}
END_TEST

static Suite *shuffle_suite(void)
{
    Suite *s = suite_create("shuffle");
    TCase *tc = tcase_create("shuffle");
    tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_paths);
    tcase_add_test(tc, test_write_and_lookup);
    tcase_add_test(tc, test_fetch_local);
    tcase_add_test(tc, test_fetch_mixed);
    tcase_add_test(tc, test_fetch_missing_map);
    tcase_add_test(tc, test_fetch_stop_and_corrupt);
    tcase_add_test(tc, test_fetch_large);
    tcase_add_test(tc, test_server_errors_keep_connection);
    tcase_add_test(tc, test_server_garbage);
    tcase_add_test(tc, test_server_counters);
    tcase_add_test(tc, test_server_sealed);
    tcase_add_test(tc, test_conn_drain_cb);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shuffle_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
