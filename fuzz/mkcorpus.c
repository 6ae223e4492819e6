/*
 * mkcorpus.c - writes the generated seeds of the fuzz targets into
 * fuzz/corpus/ (`make fuzz-corpus`): envelopes of every kind (msg), streams
 * of frames (frame), job submits of narrow and wide graphs (jobplan),
 * record blocks (block), packed lists and pairs (runtime), text files
 * cut into ranges (split) and narrow stages of built-ins with a task input
 * (task). The conf seeds are written by hand.
 *
 * Seeds are valid inputs, small (the fuzzer mutates from them), built with
 * kiln's own encoders; the prefix bytes each target reads first (mode,
 * limits, cuts) are described in that target's header comment.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "block.h"
#include "frame.h"
#include "msg.h"
#include "runtime.h"
#include "seal.h"
#include "stages.h"
#include "util.h"

static const char *root;

static const char HASH[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/* Writes n bytes (after an optional prefix) to root/dir/name; exits on error. */
static void put(const char *dir, const char *name, const uint8_t *pre, size_t npre, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, dir);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", root, dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (npre && fwrite(pre, 1, npre, f) != npre) || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* A growing byte buffer. */
typedef struct bytes {
    uint8_t *p;
    size_t n;
} bytes;

static void bytes_add(bytes *b, const void *p, size_t n)
{
    b->p = xrealloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* Packs e into msg/NAME (and into the jobplan seeds when it is a job),
 * and appends its frame to stream. */
static void envelope(const char *name, const Kiln__Envelope *e, bytes *stream)
{
    size_t n;
    uint8_t *f = msg_pack_frame(e, &n);
    put("msg", name, NULL, 0, f + FRAME_HEADER, n - FRAME_HEADER);
    if (e->body_case == KILN__ENVELOPE__BODY_JOB_SUBMIT)
        put("jobplan", name, NULL, 0, f + FRAME_HEADER, n - FRAME_HEADER);
    if (stream) bytes_add(stream, f, n);
    free(f);
}

/* A sealed block of nrec records "key-i" -> value of vlen bytes. */
static uint8_t *make_block(int nrec, size_t vlen, int compressible, size_t *len)
{
    block_builder b;
    block_builder_init(&b);
    char key[32];
    uint8_t *first;
    size_t first_len;
    if (!compressible) { /* a first block LZ4 cannot shrink makes the builder store the next ones raw */
        if (block_builder_add(&b, KILN_STR("0123456789"), KILN_NONE) < 0 ||
            block_builder_seal(&b, &first, &first_len) < 0)
            abort();
        free(first);
    }
    uint8_t *val = xmalloc(vlen + 1);
    uint64_t x = 0x9e3779b97f4a7c15ull; /* an LCG: bytes LZ4 cannot shrink */
    for (int i = 0; i < nrec; i++) {
        for (size_t j = 0; j < vlen; j++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            val[j] = compressible ? (uint8_t)('a' + j % 3) : (uint8_t)(x >> 56);
        }
        snprintf(key, sizeof key, "key-%d", i);
        if (block_builder_add(&b, KILN_STR(key), KILN_SLICE(val, vlen)) < 0) abort();
    }
    uint8_t *out;
    if (block_builder_seal(&b, &out, len) < 0) abort();
    block_builder_release(&b);
    free(val);
    return out;
}

/* ---- job submits --------------------------------------------------------- */

typedef struct job {
    Kiln__JobSubmit js;
    Kiln__Action action;
    Kiln__Node nodes[16], *nodep[16];
    Kiln__FnRef fns[16];
    uint32_t parents[16][2];
    Kiln__FileSplit split;
    Kiln__FileSplit *splitp[1];
    ProtobufCBinaryData block;
} job;

static void job_init(job *j, Kiln__ActionKind action)
{
    memset(j, 0, sizeof *j);
    kiln__job_submit__init(&j->js);
    kiln__action__init(&j->action);
    j->action.kind = action;
    j->js.action = &j->action;
    j->js.job_id = 1;
    j->js.nodes = j->nodep;
}

static Kiln__Node *job_node(job *j, Kiln__NodeKind kind, uint32_t p0, uint32_t p1, const char *fn)
{
    size_t i = j->js.n_nodes++;
    Kiln__Node *n = &j->nodes[i];
    kiln__node__init(n);
    n->id = (uint32_t)i + 1;
    n->kind = kind;
    n->parents = j->parents[i];
    if (p0) n->parents[n->n_parents++] = p0;
    if (p1) n->parents[n->n_parents++] = p1;
    if (fn) {
        kiln__fn_ref__init(&j->fns[i]);
        j->fns[i].symbol = (char *)fn;
        j->fns[i].builtin = !strncmp(fn, "kiln_", 5);
        n->fn = &j->fns[i];
    }
    j->nodep[i] = n;
    j->js.target = n->id;
    return n;
}

static Kiln__Node *job_text(job *j)
{
    Kiln__Node *n = job_node(j, KILN__NODE_KIND__NODE_TEXT_FILE, 0, 0, NULL);
    kiln__file_split__init(&j->split);
    j->split.path = "/data/words.txt";
    j->split.end = 1000;
    j->splitp[0] = &j->split;
    n->splits = j->splitp;
    n->n_splits = 1;
    n->partitions = 1;
    return n;
}

static Kiln__Node *job_range(job *j, uint32_t partitions)
{
    Kiln__Node *n = job_node(j, KILN__NODE_KIND__NODE_RANGE, 0, 0, NULL);
    n->range_end = 100;
    n->partitions = partitions;
    return n;
}

static void job_seed(const char *name, job *j)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    MSG_BODY(env, job_submit, JOB_SUBMIT, &j->js);
    envelope(name, &env, NULL);
}

/* A narrow job's result stage and its first task input, as the executor
 * gets them: task/NAME is u16 length, StageFunc, TaskInput. */
static void task_seed(const char *name, job *j)
{
    stage_plan sp;
    char err[512];
    if (stages_build(&j->js, 1, 1u << 20, NULL, &sp, err, sizeof err) < 0 || sp.len > 0xffff || !sp.ntasks) {
        fprintf(stderr, "%s: %s\n", name, err);
        exit(1);
    }
    size_t n = kiln__task_input__get_packed_size(&sp.inputs[0]);
    uint8_t *b = xmalloc(2 + sp.len + n);
    b[0] = (uint8_t)sp.len;
    b[1] = (uint8_t)(sp.len >> 8);
    memcpy(b + 2, sp.bytes, sp.len);
    kiln__task_input__pack(&sp.inputs[0], b + 2 + sp.len);
    put("task", name, NULL, 0, b, 2 + sp.len + n);
    free(b);
    stage_plan_release(&sp);
}

static void job_seeds(void)
{
    job j;
    /* text -> flat_map words -> reduce_by_key sum, collect */
    job_init(&j, KILN__ACTION_KIND__ACTION_COLLECT);
    job_text(&j);
    job_node(&j, KILN__NODE_KIND__NODE_FLAT_MAP, 1, 0, "kiln_words");
    job_node(&j, KILN__NODE_KIND__NODE_REDUCE_BY_KEY, 2, 0, "kiln_sum_i64")->partitions = 2;
    job_seed("job_wordcount", &j);

    /* parallelize -> map -> filter, count */
    job_init(&j, KILN__ACTION_KIND__ACTION_COUNT);
    Kiln__Node *p = job_node(&j, KILN__NODE_KIND__NODE_PARALLELIZE, 0, 0, NULL);
    size_t blen;
    j.block.data = make_block(3, 4, 1, &blen);
    j.block.len = blen;
    p->blocks = &j.block;
    p->n_blocks = 1;
    p->partitions = 1;
    job_node(&j, KILN__NODE_KIND__NODE_MAP, 1, 0, "parse");
    job_node(&j, KILN__NODE_KIND__NODE_FILTER, 2, 0, "keep");
    job_seed("job_narrow", &j);

    /* the same records through built-ins: words, collected; summed */
    j.nodes[1].kind = KILN__NODE_KIND__NODE_FLAT_MAP;
    j.fns[1].symbol = "kiln_words";
    j.fns[1].builtin = 1;
    j.js.n_nodes = 2;
    j.js.target = 2;
    j.action.kind = KILN__ACTION_KIND__ACTION_COLLECT;
    task_seed("words_collect", &j);
    Kiln__FnRef add = KILN__FN_REF__INIT;
    add.symbol = "kiln_sum_i64";
    add.builtin = 1;
    j.action.kind = KILN__ACTION_KIND__ACTION_REDUCE;
    j.action.fn = &add;
    task_seed("words_reduce", &j);
    free(j.block.data);

    /* a range formatted, counted and taken */
    job_init(&j, KILN__ACTION_KIND__ACTION_COUNT);
    job_range(&j, 1);
    job_node(&j, KILN__NODE_KIND__NODE_MAP, 1, 0, "kiln_fmt_i64");
    task_seed("range_count", &j);
    j.action.kind = KILN__ACTION_KIND__ACTION_TAKE;
    j.action.take = 7;
    task_seed("range_take", &j);

    /* two ranges joined, then sorted, saved */
    job_init(&j, KILN__ACTION_KIND__ACTION_SAVE_TEXT);
    j.action.dir = "/tmp/out";
    job_range(&j, 2);
    job_range(&j, 3);
    job_node(&j, KILN__NODE_KIND__NODE_JOIN, 1, 2, NULL)->partitions = 2;
    Kiln__Node *s = job_node(&j, KILN__NODE_KIND__NODE_SORT_BY_KEY, 3, 0, NULL);
    s->partitions = 2;
    s->ascending = 1;
    job_seed("job_join_sort", &j);

    /* union of a cached map with itself, group_by_key, distinct, repartition, reduce */
    job_init(&j, KILN__ACTION_KIND__ACTION_REDUCE);
    Kiln__FnRef sum = KILN__FN_REF__INIT;
    sum.symbol = "kiln_sum_i64";
    sum.builtin = 1;
    j.action.fn = &sum;
    job_range(&j, 2);
    job_node(&j, KILN__NODE_KIND__NODE_MAP, 1, 0, "pair")->cached = 1;
    job_node(&j, KILN__NODE_KIND__NODE_UNION, 2, 2, NULL);
    job_node(&j, KILN__NODE_KIND__NODE_GROUP_BY_KEY, 3, 0, NULL)->partitions = 3;
    job_node(&j, KILN__NODE_KIND__NODE_DISTINCT, 4, 0, NULL)->partitions = 2;
    job_node(&j, KILN__NODE_KIND__NODE_REPARTITION, 5, 0, NULL)->partitions = 1;
    job_node(&j, KILN__NODE_KIND__NODE_MAP_PARTITIONS, 6, 0, "top");
    job_seed("job_wide", &j);
}

/* ---- messages ------------------------------------------------------------ */

/* The frames of a plain stream sealed as a client sends them under
 * fuzz/fuzz_seal.c's fixed keys (its FUZZ_SEAL_SECRET and nonces). */
static void seal_stream(const bytes *plain, bytes *out)
{
    uint8_t nc[AUTH_NONCE_LEN] = {1}, ns[AUTH_NONCE_LEN] = {2};
    auth_secret sec = {(uint8_t *)"fuzz-secret", 11};
    seal cli;
    char err[128];
    if (seal_init(&cli, &sec, AUTH_CLIENT, nc, ns, KILN__ROLE__ROLE_WORKER, KILN__ROLE__ROLE_DRIVER, err, sizeof err))
        abort();
    for (size_t off = 0; off + FRAME_HEADER <= plain->n;) {
        size_t len = frame_get_header(plain->p + off);
        uint8_t *f = xmalloc(FRAME_HEADER + len + SEAL_TAG_LEN);
        frame_put_header(f, (uint32_t)(len + SEAL_TAG_LEN));
        memcpy(f + FRAME_HEADER, plain->p + off + FRAME_HEADER, len);
        struct iovec iov = {f, FRAME_HEADER + len};
        if (seal_tag(&cli.tx, &iov, 1, f + FRAME_HEADER + len) < 0) abort();
        bytes_add(out, f, FRAME_HEADER + len + SEAL_TAG_LEN);
        free(f);
        off += FRAME_HEADER + len;
    }
    seal_release(&cli);
}

/* fuzz_seal: byte 0 the mode (odd: a stream to a sealed reader; even: a
 * list of payloads to seal and open, bit 1 with a byte changed at bytes 1-2) */
static void seal_seeds(const bytes *data_port)
{
    bytes sealed = {0};
    seal_stream(data_port, &sealed);
    static const uint8_t hostile[1] = {1};
    put("seal", "sealed_data_port", hostile, 1, sealed.p, sealed.n);
    put("seal", "sealed_truncated", hostile, 1, sealed.p, sealed.n - 5);
    put("seal", "plain_data_port", hostile, 1, data_port->p, data_port->n);
    static const uint8_t list[] = {0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 3, 'a', 'b', 'c'};
    static const uint8_t flipped[] = {2, 9, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 3, 'a', 'b', 'c'};
    put("seal", "payloads", NULL, 0, list, sizeof list);
    put("seal", "payloads_flipped", NULL, 0, flipped, sizeof flipped);
    free(sealed.p);
}

static void msg_seeds(void)
{
    bytes s1 = {0}, s2 = {0}, s3 = {0};
    Kiln__Envelope e;
#define SEED(field, CASE, ptr, name, stream)                                                                           \
    do {                                                                                                               \
        kiln__envelope__init(&e);                                                                                      \
        MSG_BODY(e, field, CASE, ptr);                                                                                 \
        envelope(name, &e, stream);                                                                                    \
    } while (0)

    Kiln__Hello hello = KILN__HELLO__INIT;
    hello.version = PROTOCOL_VERSION;
    hello.role = KILN__ROLE__ROLE_WORKER;
    hello.name = "worker-1";
    SEED(hello, HELLO, &hello, "hello", &s1);
    Kiln__HelloAck ack = KILN__HELLO_ACK__INIT;
    ack.version = PROTOCOL_VERSION;
    ack.role = KILN__ROLE__ROLE_DRIVER;
    SEED(hello_ack, HELLO_ACK, &ack, "hello_ack", &s2);
    Kiln__Error error = KILN__ERROR__INIT;
    error.message = "refused";
    SEED(error, ERROR, &error, "error", NULL);
    Kiln__RegisterWorker reg = KILN__REGISTER_WORKER__INIT;
    reg.host = "10.0.0.7";
    reg.data_port = 7078;
    reg.http_port = 8078;
    reg.slots = 4;
    reg.name = "10.0.0.7:7078";
    SEED(register_worker, REGISTER_WORKER, &reg, "register_worker", &s1);
    Kiln__WorkerRegistered wr = KILN__WORKER_REGISTERED__INIT;
    wr.worker_id = 3;
    wr.heartbeat_ms = 1000;
    SEED(worker_registered, WORKER_REGISTERED, &wr, "worker_registered", &s2);
    Kiln__Heartbeat hb = KILN__HEARTBEAT__INIT;
    hb.running = 2;
    hb.executors = 1;
    SEED(heartbeat, HEARTBEAT, &hb, "heartbeat", &s1);
    Kiln__BlobPut bp = KILN__BLOB_PUT__INIT;
    bp.hash = (char *)HASH;
    bp.kind = KILN__BLOB_KIND__BLOB_BROADCAST;
    bp.size = 10;
    bp.offset = 4;
    bp.data.data = (uint8_t *)"abcdef";
    bp.data.len = 6;
    bp.last = 1;
    SEED(blob_put, BLOB_PUT, &bp, "blob_put", NULL);
    Kiln__BlobGet bg = KILN__BLOB_GET__INIT;
    bg.hash = (char *)HASH;
    SEED(blob_get, BLOB_GET, &bg, "blob_get", &s1);
    Kiln__BlobChunk bc = KILN__BLOB_CHUNK__INIT;
    bc.hash = (char *)HASH;
    bc.size = 3;
    bc.data.data = (uint8_t *)"xyz";
    bc.data.len = 3;
    bc.last = 1;
    SEED(blob_chunk, BLOB_CHUNK, &bc, "blob_chunk", &s2);
    Kiln__AppRegister ar = KILN__APP_REGISTER__INIT;
    ar.name = "wordcount";
    ar.lib_hash = (char *)HASH;
    ar.lib_size = 12345;
    ar.user = "alice";
    SEED(app_register, APP_REGISTER, &ar, "app_register", NULL);
    Kiln__AppRegistered ard = KILN__APP_REGISTERED__INIT;
    ard.app_id = "app-0001";
    ard.need_lib = 1;
    SEED(app_registered, APP_REGISTERED, &ard, "app_registered", NULL);
    Kiln__BlobPutDone bpd = KILN__BLOB_PUT_DONE__INIT;
    bpd.hash = (char *)HASH;
    SEED(blob_put_done, BLOB_PUT_DONE, &bpd, "blob_put_done", NULL);
    Kiln__JobOutput jo = KILN__JOB_OUTPUT__INIT;
    size_t blen;
    jo.block.data = make_block(2, 3, 1, &blen);
    jo.block.len = blen;
    jo.partition = 1;
    SEED(job_output, JOB_OUTPUT, &jo, "job_output", NULL);
    Kiln__Counter ctr = KILN__COUNTER__INIT, *ctrp = &ctr;
    ctr.name = "lines";
    ctr.value = 42;
    Kiln__JobDone jd = KILN__JOB_DONE__INIT;
    jd.ok = 1;
    jd.count = 7;
    jd.counters = &ctrp;
    jd.n_counters = 1;
    SEED(job_done, JOB_DONE, &jd, "job_done", NULL);

    Kiln__BlockLoc loc = KILN__BLOCK_LOC__INIT, *locp = &loc;
    loc.host = "10.0.0.8";
    loc.port = 7078;
    loc.worker_id = 2;
    loc.length = 99;
    Kiln__ShuffleInput si = KILN__SHUFFLE_INPUT__INIT, *sip = &si;
    si.shuffle_id = 4;
    si.blocks = &locp;
    si.n_blocks = 1;
    Kiln__TaskInput ti = KILN__TASK_INPUT__INIT;
    ti.shuffles = &sip;
    ti.n_shuffles = 1;
    Kiln__TaskLaunch tl = KILN__TASK_LAUNCH__INIT;
    char *bcast = (char *)HASH;
    tl.task_id = 17;
    tl.app_id = "app-0001";
    tl.lib_hash = (char *)HASH;
    tl.stage_hash = (char *)HASH;
    tl.stage.data = (uint8_t *)"\x08\x01";
    tl.stage.len = 2;
    tl.broadcasts = &bcast;
    tl.n_broadcasts = 1;
    tl.input = &ti;
    tl.memory = 1 << 20;
    SEED(task_launch, TASK_LAUNCH, &tl, "task_launch", &s2);
    Kiln__TaskOutput to = KILN__TASK_OUTPUT__INIT;
    to.task_id = 17;
    to.block = jo.block;
    SEED(task_output, TASK_OUTPUT, &to, "task_output", &s1);
    Kiln__TaskDone td = KILN__TASK_DONE__INIT;
    uint64_t sizes[2] = {10, 20};
    td.task_id = 17;
    td.ok = 1;
    td.partition_sizes = sizes;
    td.n_partition_sizes = 2;
    td.counters = &ctrp;
    td.n_counters = 1;
    SEED(task_done, TASK_DONE, &td, "task_done", &s1);
    /* the shape msg_decode_arena reads itself: varints and the sizes */
    Kiln__TaskDone tf = KILN__TASK_DONE__INIT;
    tf.task_id = 1u << 20;
    tf.ok = 1;
    tf.count = 300;
    tf.records_in = 128;
    tf.records_out = 1;
    tf.partition_sizes = sizes;
    tf.n_partition_sizes = 2;
    tf.spills = 1;
    tf.spill_bytes = UINT64_MAX;
    tf.fetch_shuffle_id = 3;
    tf.run_us = 1234;
    SEED(task_done, TASK_DONE, &tf, "task_done_fast", &s1);
    free(jo.block.data);
    Kiln__AppEnd ae = KILN__APP_END__INIT;
    ae.app_id = "app-0001";
    SEED(app_end, APP_END, &ae, "app_end", &s2);
    Kiln__InfoRequest ir = KILN__INFO_REQUEST__INIT;
    ir.what = "workers";
    SEED(info_request, INFO_REQUEST, &ir, "info_request", NULL);
    Kiln__WorkerInfo wi = KILN__WORKER_INFO__INIT, *wip = &wi;
    wi.id = 1;
    wi.name = "w1";
    wi.slots = 2;
    Kiln__InfoReply irp = KILN__INFO_REPLY__INIT;
    irp.workers = &wip;
    irp.n_workers = 1;
    irp.uptime_ms = 5000;
    SEED(info_reply, INFO_REPLY, &irp, "info_reply", NULL);
    Kiln__KillApp ka = KILN__KILL_APP__INIT;
    ka.app_id = "app-0001";
    SEED(kill_app, KILL_APP, &ka, "kill_app", NULL);
    Kiln__KillReply kr = KILN__KILL_REPLY__INIT;
    kr.ok = 1;
    SEED(kill_reply, KILL_REPLY, &kr, "kill_reply", NULL);
    Kiln__FetchRequest fr = KILN__FETCH_REQUEST__INIT;
    fr.request_id = 1;
    fr.app_id = "app-0001";
    fr.shuffle_id = 4;
    fr.map = 2;
    fr.partition = 1;
    SEED(fetch_request, FETCH_REQUEST, &fr, "fetch_request", &s3);
    fr.request_id = 2;
    SEED(fetch_request, FETCH_REQUEST, &fr, "fetch_request2", &s3);
    Kiln__FetchData fd = KILN__FETCH_DATA__INIT;
    fd.request_id = 1;
    fd.data.data = (uint8_t *)"KBLK";
    fd.data.len = 4;
    fd.last = 1;
    SEED(fetch_data, FETCH_DATA, &fd, "fetch_data", &s3);
#undef SEED

    /* frame streams: byte 0 the limit (64 + 256 * b), byte 1 the buffer */
    static const uint8_t big[2] = {255, 7}, tight[2] = {0, 1};
    put("frame", "worker_to_driver", big, 2, s1.p, s1.n);
    put("frame", "driver_to_worker", big, 2, s2.p, s2.n);
    put("frame", "data_port", tight, 2, s3.p, s3.n);
    put("frame", "truncated", big, 2, s1.p, s1.n - 3);
    put("frame", "over_limit", tight, 2, s2.p, s2.n); /* a task_launch over 64 bytes */
    seal_seeds(&s3);
    free(s1.p);
    free(s2.p);
    free(s3.p);
}

/* ---- blocks, packed values, text ----------------------------------------- */

static void block_seeds(void)
{
    static const uint8_t stream = 0, fixed = 1;
    size_t n1, n2, n3, n4;
    uint8_t *b1 = make_block(5, 40, 1, &n1);  /* LZ4 */
    uint8_t *b2 = make_block(4, 16, 0, &n2);  /* stored raw */
    uint8_t *b3 = make_block(0, 0, 1, &n3);   /* empty */
    uint8_t *b4 = make_block(1, 300, 1, &n4); /* one long value */
    put("block", "lz4", &stream, 1, b1, n1);
    put("block", "raw", &stream, 1, b2, n2);
    put("block", "empty", &stream, 1, b3, n3);
    put("block", "long_value", &fixed, 1, b4, n4);
    put("block", "raw_fixed", &fixed, 1, b2, n2);
    bytes s = {0};
    bytes_add(&s, b1, n1);
    bytes_add(&s, b2, n2);
    bytes_add(&s, b3, n3);
    put("block", "stream", &stream, 1, s.p, s.n);
    put("block", "stream_truncated", &stream, 1, s.p, s.n - 5);
    free(s.p);
    free(b1);
    free(b2);
    free(b3);
    free(b4);
}

static void runtime_seeds(void)
{
    uint8_t buf[256];
    size_t n = 0;
    static const char *items[] = {"alpha", "", "gamma delta", "x"};
    for (size_t i = 0; i < 4; i++) {
        n += rt_varint_put(buf + n, strlen(items[i]));
        memcpy(buf + n, items[i], strlen(items[i]));
        n += strlen(items[i]);
    }
    put("runtime", "list", NULL, 0, buf, n);
    n = rt_varint_put(buf, 5);
    memcpy(buf + n, "left\x01right", 10);
    put("runtime", "pair", NULL, 0, buf, n + 10);
    n = rt_varint_put(buf, 300);
    put("runtime", "varint", NULL, 0, buf, n);
    static const char words[] = "the quick\tbrown  fox\r\njumps\vover\fthe lazy dog ";
    put("runtime", "words", NULL, 0, words, sizeof words - 1);
    static const uint8_t i64[] = {'k', 'e', 'y', '!', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    put("runtime", "i64", NULL, 0, i64, sizeof i64);
}

static void split_seeds(void)
{
    /* byte 0: ranges - 1; then one byte per cut (a fraction of 255) */
    static const char text[] = "one\ntwo\r\n\nthree is longer than the rest\nfour\nno newline at the end";
    static const uint8_t one[] = {0}, three[] = {2, 30, 200}, eight[] = {7, 1, 20, 40, 80, 120, 160, 250};
    put("split", "whole", one, sizeof one, text, sizeof text - 1);
    put("split", "three", three, sizeof three, text, sizeof text - 1);
    put("split", "eight", eight, sizeof eight, text, sizeof text - 1);
    static const char crlf[] = "a\r\nb\r\n\r\n";
    put("split", "crlf", three, sizeof three, crlf, sizeof crlf - 1);
    put("split", "empty", three, sizeof three, "", 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkcorpus DIR (fuzz/corpus)\n");
        return 2;
    }
    root = argv[1];
    msg_seeds();
    job_seeds();
    block_seeds();
    runtime_seeds();
    split_seeds();
    return 0;
}
