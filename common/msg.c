/*
 * msg.c - Envelope decoding and validation, and blocking frame I/O.
 *
 * Validation here is the first wall against hostile input: everything a
 * daemon reads passes msg_decode, which refuses a message that does not
 * decode (or holds what would not decode once re-encoded), has no body,
 * or carries a name that could escape a directory.
 * State checks (is this message allowed now?) belong to each connection's
 * owner.
 */
#include "msg.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "frame.h"
#include "logsect.h"
#include "runtime.h"
#include "util.h"

#define MAX_NAME 128

static int valid_hash(const char *h)
{
    /* hex SHA-256, or empty where the field is optional (strspn: libc's
     * table, every launch checks two) */
    size_t n = strspn(h, "0123456789abcdef");
    return !h[n] && (n == 0 || n == 64);
}

static int valid_app_id(const char *s)
{
    return *s == 0 || name_is_safe(s);
}

/* Names an executor log (logsect.h) of a worker with a sane name. */
static int valid_log_cursor(const Kiln__LogCursor *c)
{
    unsigned index;
    return c && strlen(c->worker) <= 255 && logsect_file_name_ok(c->file, &index);
}

/* An absolute path without "." or ".." components, of a sane length. */
static int abs_path_is_plain(const char *p)
{
    if (!p || p[0] != '/' || strlen(p) > 4000) return 0;
    for (const char *c = p; *c; c++) {
        if (*c != '/') continue;
        const char *n = c + 1;
        if (n[0] == '.' && (n[1] == '/' || n[1] == 0)) return 0;
        if (n[0] == '.' && n[1] == '.' && (n[2] == '/' || n[2] == 0)) return 0;
    }
    return 1;
}

int msg_validate(const Kiln__Envelope *e, char *err, size_t errlen)
{
    switch (e->body_case) {
    case KILN__ENVELOPE__BODY__NOT_SET:
        return errf(err, errlen, "message without a body");
    case KILN__ENVELOPE__BODY_HELLO:
        if (strlen(e->hello->name) > 256) return errf(err, errlen, "hello name too long");
        if (e->hello->nonce.len != 0 && e->hello->nonce.len != AUTH_NONCE_LEN)
            return errf(err, errlen, "hello: nonce of %zu bytes", e->hello->nonce.len);
        return 0;
    case KILN__ENVELOPE__BODY_HELLO_ACK:
        if ((e->hello_ack->nonce.len != 0 && e->hello_ack->nonce.len != AUTH_NONCE_LEN) ||
            (e->hello_ack->mac.len != 0 && e->hello_ack->mac.len != AUTH_MAC_LEN))
            return errf(err, errlen, "hello_ack: bad nonce or mac length");
        return 0;
    case KILN__ENVELOPE__BODY_AUTH:
        if (e->auth->mac.len != AUTH_MAC_LEN) return errf(err, errlen, "auth: mac of %zu bytes", e->auth->mac.len);
        return 0;
    case KILN__ENVELOPE__BODY_REGISTER_WORKER: {
        const Kiln__RegisterWorker *r = e->register_worker;
        if (r->slots == 0 || r->slots > 4096) return errf(err, errlen, "register: slots %u out of range", r->slots);
        if (r->data_port > 65535 || r->http_port > 65535) return errf(err, errlen, "register: port out of range");
        if (strlen(r->host) > 255 || strlen(r->name) > 255) return errf(err, errlen, "register: name too long");
        return 0;
    }
    case KILN__ENVELOPE__BODY_BLOB_PUT:
        if (!valid_hash(e->blob_put->hash) || !*e->blob_put->hash) return errf(err, errlen, "blob_put: bad hash");
        if (e->blob_put->offset > e->blob_put->size || e->blob_put->data.len > e->blob_put->size - e->blob_put->offset)
            return errf(err, errlen, "blob_put: piece outside the blob");
        return 0;
    case KILN__ENVELOPE__BODY_BLOB_GET:
        if (!valid_hash(e->blob_get->hash) || !*e->blob_get->hash) return errf(err, errlen, "blob_get: bad hash");
        return 0;
    case KILN__ENVELOPE__BODY_BLOB_CHUNK:
        if (!valid_hash(e->blob_chunk->hash) || !*e->blob_chunk->hash) return errf(err, errlen, "blob_chunk: bad hash");
        if (e->blob_chunk->offset > e->blob_chunk->size ||
            e->blob_chunk->data.len > e->blob_chunk->size - e->blob_chunk->offset)
            return errf(err, errlen, "blob_chunk: piece outside the blob");
        return 0;
    case KILN__ENVELOPE__BODY_APP_REGISTER:
        /* an empty hash: an application without a library (a Python job) */
        if (!valid_hash(e->app_register->lib_hash)) return errf(err, errlen, "app_register: bad library hash");
        if (strlen(e->app_register->name) > 256) return errf(err, errlen, "app_register: name too long");
        return 0;
    case KILN__ENVELOPE__BODY_WORKER_REGISTERED:
        for (size_t i = 0; i < e->worker_registered->n_live_apps; i++)
            if (!name_is_safe(e->worker_registered->live_apps[i]))
                return errf(err, errlen, "worker_registered: bad app id");
        return 0;
    case KILN__ENVELOPE__BODY_APP_REGISTERED:
        if (!name_is_safe(e->app_registered->app_id)) return errf(err, errlen, "app_registered: bad app id");
        return 0;
    case KILN__ENVELOPE__BODY_JOB_SUBMIT: {
        /* the node count is the driver's to refuse (sched.c): the client
         * hears why and its application goes on */
        const Kiln__JobSubmit *j = e->job_submit;
        for (size_t i = 0; i < j->n_broadcasts; i++)
            if (!valid_hash(j->broadcasts[i]) || !*j->broadcasts[i])
                return errf(err, errlen, "job_submit: bad broadcast hash");
        if (!j->action) return errf(err, errlen, "job_submit: no action");
        return 0;
    }
    case KILN__ENVELOPE__BODY_TASK_LAUNCH: {
        const Kiln__TaskLaunch *t = e->task_launch;
        if (!name_is_safe(t->app_id)) return errf(err, errlen, "task_launch: bad app id");
        if (!valid_hash(t->lib_hash)) return errf(err, errlen, "task_launch: bad library hash");
        if (!valid_hash(t->stage_hash) || !*t->stage_hash) return errf(err, errlen, "task_launch: bad stage hash");
        for (size_t i = 0; i < t->n_broadcasts; i++)
            if (!valid_hash(t->broadcasts[i]) || !*t->broadcasts[i])
                return errf(err, errlen, "task_launch: bad broadcast hash");
        if (!t->input) return errf(err, errlen, "task_launch: no input");
        return 0;
    }
    case KILN__ENVELOPE__BODY_APP_END:
        if (!name_is_safe(e->app_end->app_id)) return errf(err, errlen, "app_end: bad app id");
        for (size_t i = 0; i < e->app_end->n_abandoned_dirs; i++)
            if (!abs_path_is_plain(e->app_end->abandoned_dirs[i]))
                return errf(err, errlen, "app_end: bad directory '%.200s'", e->app_end->abandoned_dirs[i]);
        return 0;
    case KILN__ENVELOPE__BODY_CANCEL_TASKS:
        if (!name_is_safe(e->cancel_tasks->app_id)) return errf(err, errlen, "cancel_tasks: bad app id");
        return 0;
    case KILN__ENVELOPE__BODY_FETCH_REQUEST:
        if (!name_is_safe(e->fetch_request->app_id)) return errf(err, errlen, "fetch_request: bad app id");
        return 0;
    case KILN__ENVELOPE__BODY_KILL_APP:
        if (!valid_app_id(e->kill_app->app_id)) return errf(err, errlen, "kill: bad app id");
        return 0;
    case KILN__ENVELOPE__BODY_LOGS_REQUEST: {
        const Kiln__LogsRequest *r = e->logs_request;
        if (!name_is_safe(r->app_id)) return errf(err, errlen, "logs_request: bad app id");
        if (r->n_cursors > LOGS_MAX_CURSORS) return errf(err, errlen, "logs_request: %zu cursors", r->n_cursors);
        for (size_t i = 0; i < r->n_cursors; i++)
            if (!valid_log_cursor(r->cursors[i])) return errf(err, errlen, "logs_request: bad cursor");
        return 0;
    }
    case KILN__ENVELOPE__BODY_LOGS_DATA: {
        const Kiln__LogsData *d = e->logs_data;
        if (d->data.len > LOGS_PIECE_MAX) return errf(err, errlen, "logs_data: piece of %zu bytes", d->data.len);
        if (!d->last && !valid_log_cursor(d->cursor)) return errf(err, errlen, "logs_data: bad cursor");
        return 0;
    }
    default:
        return 0;
    }
}

/*
 * True when m, or a message inside it, holds an unknown field numbered 0.
 * Field 0 is not valid protobuf, but protobuf-c checks for it only in the
 * first byte of a tag, so an overlong tag varint (0x81 0x00) gets one
 * through; kept, it re-encodes as a plain 0x01 tag that protobuf-c then
 * refuses, so a message the worker passes on (a task launch to its
 * executor, a task output to the driver) would be refused at the next hop.
 * The schema has no recursive messages: the depth is bounded.
 */
static int has_field_zero(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0) return 1;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t j = 0; j < count; j++)
                if (has_field_zero(v[j])) return 1;
            continue;
        }
        /* a oneof member's slot holds another member unless the case is this one */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
        if (sub && has_field_zero(sub)) return 1;
    }
    return 0;
}

static Kiln__Envelope *decode(ProtobufCAllocator *al, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    Kiln__Envelope *e = kiln__envelope__unpack(al, n, p);
    if (!e) {
        errf(err, errlen, "message of %zu bytes does not decode", n);
        return NULL;
    }
    if (has_field_zero(&e->base)) {
        errf(err, errlen, "message of %zu bytes has a field numbered 0", n);
        kiln__envelope__free_unpacked(e, al);
        return NULL;
    }
    if (msg_validate(e, err, errlen) < 0) {
        kiln__envelope__free_unpacked(e, al);
        return NULL;
    }
    return e;
}

Kiln__Envelope *msg_decode(const uint8_t *p, size_t n, char *err, size_t errlen)
{
    return decode(NULL, p, n, err, errlen);
}

/* ---- the arena ---- */

typedef struct arena_big {
    struct arena_big *next;
    max_align_t align[]; /* the allocation */
} arena_big;

static void *arena_alloc(void *data, size_t size)
{
    msg_arena *a = data;
    size_t need = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    if (need >= size && a->buf && MSG_ARENA_LEN - a->used >= need) {
        void *p = a->buf + a->used;
        a->used += need;
        return p;
    }
    if (size > SIZE_MAX - sizeof(arena_big)) return NULL;
    arena_big *b = malloc(sizeof *b + size);
    if (!b) return NULL;
    b->next = a->big;
    a->big = b;
    return b->align;
}

static void arena_free(void *data, void *p)
{
    (void)data; /* all of it at the reset */
    (void)p;
}

/*
 * TaskDone, the message a driver reads once per task, read without
 * protobuf-c's generic unpack (~3,000 instructions for ~40 bytes here):
 * an envelope whose one field is a TaskDone made of varint fields and the
 * packed partition_sizes, which is every answer of a task that succeeded
 * without counters. Anything else (an error string, counters, cached
 * partitions, an unknown or repeated field, a varint that is not the
 * plain encoding of its field's value) returns NULL, and protobuf-c
 * decodes it instead: what this accepts, protobuf-c decodes to the same
 * message (fuzz/fuzz_msg.c checks that on every input).
 */
enum { TD_PARTITION_SIZES = 9 };
/* The varint fields it reads, by field number (proto/kiln.proto), with
 * what each holds: a bool may only be 0 or 1, a uint32 no larger. */
enum { TD_U64 = 1, TD_U32, TD_BOOL };
static const struct {
    uint8_t kind;
    uint16_t off;
} td_fields[] = {
    [1] = {TD_U64, offsetof(Kiln__TaskDone, task_id)},
    [2] = {TD_BOOL, offsetof(Kiln__TaskDone, ok)},
    [4] = {TD_U64, offsetof(Kiln__TaskDone, count)},
    [5] = {TD_U64, offsetof(Kiln__TaskDone, records_in)},
    [6] = {TD_U64, offsetof(Kiln__TaskDone, records_out)},
    [8] = {TD_BOOL, offsetof(Kiln__TaskDone, fatal)},
    [11] = {TD_U64, offsetof(Kiln__TaskDone, spills)},
    [12] = {TD_U64, offsetof(Kiln__TaskDone, spill_bytes)},
    [14] = {TD_BOOL, offsetof(Kiln__TaskDone, fetch_failed)},
    [15] = {TD_U32, offsetof(Kiln__TaskDone, fetch_shuffle_id)},
    [16] = {TD_U32, offsetof(Kiln__TaskDone, fetch_map)},
    [17] = {TD_U32, offsetof(Kiln__TaskDone, fetch_worker_id)},
    [18] = {TD_U64, offsetof(Kiln__TaskDone, run_us)},
};

/* A varint at p within end whose value has one encoding only (no
 * trailing zero bytes, nothing past 64 bits): bytes used, or 0. */
static inline size_t plain_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    if (p < end && *p < 0x80) { /* most are: tags, flags, counts */
        *v = *p;
        return 1;
    }
    size_t u = rt_varint_get(p, (size_t)(end - p), v);
    if (!u || (u > 1 && p[u - 1] == 0) || (u == 10 && p[9] > 1)) return 0;
    return u;
}

static Kiln__Envelope *task_done_fast(msg_arena *a, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    uint64_t tag, len, v;
    size_t u = plain_varint(p, end, &tag);
    if (!u || tag != ((uint64_t)KILN__ENVELOPE__BODY_TASK_DONE << 3 | 2)) return NULL;
    p += u;
    if (!(u = plain_varint(p, end, &len)) || len != (uint64_t)(end - p - u)) return NULL; /* the one field */
    p += u;
    Kiln__Envelope *e = arena_alloc(a, sizeof *e);
    Kiln__TaskDone *d = arena_alloc(a, sizeof *d);
    if (!e || !d) return NULL;
    *e = (Kiln__Envelope)KILN__ENVELOPE__INIT;
    *d = (Kiln__TaskDone)KILN__TASK_DONE__INIT;
    MSG_BODY(*e, task_done, TASK_DONE, d);
    while (p < end) {
        if (!(u = plain_varint(p, end, &tag))) return NULL;
        p += u;
        if (tag == (TD_PARTITION_SIZES << 3 | 2)) {
            if (d->partition_sizes || !(u = plain_varint(p, end, &len)) || len > (uint64_t)(end - p - u)) return NULL;
            p += u;
            const uint8_t *q = p, *qend = p + len;
            size_t count = 0;
            while (q < qend) { /* count them, then read them */
                if (!(u = plain_varint(q, qend, &v))) return NULL;
                q += u;
                count++;
            }
            if (count) {
                d->partition_sizes = arena_alloc(a, count * sizeof *d->partition_sizes);
                if (!d->partition_sizes) return NULL;
                for (size_t i = 0; i < count; i++)
                    p += plain_varint(p, qend, &d->partition_sizes[i]);
                d->n_partition_sizes = count;
            }
            p = qend;
            continue;
        }
        if ((tag & 7) != 0 || !(u = plain_varint(p, end, &v))) return NULL;
        p += u;
        uint64_t f = tag >> 3;
        /* field 0, or one this path leaves to protobuf-c */
        if (f >= sizeof td_fields / sizeof *td_fields || !td_fields[f].kind) return NULL;
        char *at = (char *)d + td_fields[f].off;
        switch (td_fields[f].kind) {
        case TD_U64:
            *(uint64_t *)at = v;
            break;
        case TD_U32:
            if (v > UINT32_MAX) return NULL;
            *(uint32_t *)at = (uint32_t)v;
            break;
        default: /* TD_BOOL */
            if (v > 1) return NULL;
            *(protobuf_c_boolean *)at = (protobuf_c_boolean)v;
        }
    }
    return e;
}

Kiln__Envelope *msg_decode_arena(msg_arena *a, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    if (!a->buf) a->buf = xmalloc(MSG_ARENA_LEN);
    size_t used = a->used;
    Kiln__Envelope *e = task_done_fast(a, p, n);
    if (e) return msg_validate(e, err, errlen) < 0 ? NULL : e;
    a->used = used; /* what the fast path took (a big one stays until the reset) */
    ProtobufCAllocator al = {arena_alloc, arena_free, a};
    return decode(&al, p, n, err, errlen);
}

void msg_arena_reset(msg_arena *a)
{
    a->used = 0;
    while (a->big) {
        arena_big *b = a->big;
        a->big = b->next;
        free(b);
    }
}

void msg_arena_release(msg_arena *a)
{
    msg_arena_reset(a);
    free(a->buf);
    a->buf = NULL;
}

void msg_free(Kiln__Envelope *e)
{
    if (e) kiln__envelope__free_unpacked(e, NULL);
}

const char *msg_name(const Kiln__Envelope *e)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&kiln__envelope__descriptor, (unsigned)e->body_case);
    return f ? f->name : "none";
}

uint8_t *msg_pack_frame(const Kiln__Envelope *e, size_t *len)
{
    size_t n = kiln__envelope__get_packed_size(e);
    uint8_t *buf = xmalloc(FRAME_HEADER + n);
    frame_put_header(buf, (uint32_t)n);
    kiln__envelope__pack(e, buf + FRAME_HEADER);
    *len = FRAME_HEADER + n;
    return buf;
}

void msg_reader_init(msg_reader *r, int fd, size_t max)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->max = max;
    r->cap = 256 * 1024;
    r->buf = xmalloc(r->cap);
}

void msg_reader_release(msg_reader *r)
{
    free(r->buf);
    r->buf = NULL;
}

int msg_reader_next(msg_reader *r, Kiln__Envelope **out, char *err, size_t errlen)
{
    int sealed = seal_on(r->rx);
    for (;;) {
        size_t len;
        int st = frame_parse(r->buf + r->start, r->end - r->start, seal_frame_max(r->rx, r->max), &len, err, errlen);
        if (st == FRAME_ERROR) return -1;
        if (st == FRAME_OK) {
            const uint8_t *f = r->buf + r->start;
            if (sealed && seal_check(r->rx, f, FRAME_HEADER + len, err, errlen) < 0) return -1;
            *out = msg_decode(f + FRAME_HEADER, sealed ? len - SEAL_TAG_LEN : len, err, errlen);
            if (!*out) return -1;
            r->start += FRAME_HEADER + len;
            if (r->start == r->end) r->start = r->end = 0;
            return 1;
        }
        /* need more: make room for the whole frame */
        size_t need = len ? FRAME_HEADER + len : FRAME_HEADER;
        if (r->start > 0 && r->start + need > r->cap) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        if (need > r->cap) {
            r->cap = need;
            r->buf = xrealloc(r->buf, r->cap);
        }
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errf(err, errlen, "read: %s", strerror(errno));
        if (n == 0) {
            if (r->end == r->start) return 0;
            return errf(err, errlen, "connection closed in the middle of a frame");
        }
        r->end += (size_t)n;
    }
}

size_t msg_frame_size(const seal_dir *tx, const Kiln__Envelope *e)
{
    return FRAME_HEADER + kiln__envelope__get_packed_size(e) + (seal_on(tx) ? SEAL_TAG_LEN : 0);
}

size_t msg_pack_frame_into(uint8_t *buf, seal_dir *tx, const Kiln__Envelope *e)
{
    size_t n = kiln__envelope__get_packed_size(e);
    int sealed = seal_on(tx);
    frame_put_header(buf, (uint32_t)(n + (sealed ? SEAL_TAG_LEN : 0)));
    kiln__envelope__pack(e, buf + FRAME_HEADER);
    if (!sealed) return FRAME_HEADER + n;
    struct iovec iov = {buf, FRAME_HEADER + n};
    if (seal_tag(tx, &iov, 1, buf + FRAME_HEADER + n) < 0) return 0;
    return FRAME_HEADER + n + SEAL_TAG_LEN;
}

static uint64_t parts_len(const struct iovec *parts, int nparts)
{
    uint64_t n = 0;
    for (int i = 0; i < nparts; i++)
        n += parts[i].iov_len;
    return n;
}

size_t msg_split_frame_size(const seal_dir *tx, unsigned body_case, const struct iovec *parts, int nparts, size_t nrest)
{
    uint64_t etag = (uint64_t)body_case << 3 | 2, sub = parts_len(parts, nparts) + nrest;
    return FRAME_HEADER + rt_varint_len(etag) + rt_varint_len(sub) + (size_t)sub + (seal_on(tx) ? SEAL_TAG_LEN : 0);
}

size_t msg_pack_split_frame_into(uint8_t *buf, seal_dir *tx, unsigned body_case, const struct iovec *parts, int nparts,
                                 const ProtobufCMessage *rest, size_t nrest)
{
    uint64_t etag = (uint64_t)body_case << 3 | 2, sub = parts_len(parts, nparts) + nrest;
    size_t n = rt_varint_len(etag) + rt_varint_len(sub) + (size_t)sub;
    if (n + SEAL_TAG_LEN > UINT32_MAX) return 0;
    int sealed = seal_on(tx);
    frame_put_header(buf, (uint32_t)(n + (sealed ? SEAL_TAG_LEN : 0)));
    size_t h = FRAME_HEADER;
    h += rt_varint_put(buf + h, etag);
    h += rt_varint_put(buf + h, sub);
    for (int i = 0; i < nparts; i++) {
        memcpy(buf + h, parts[i].iov_base, parts[i].iov_len);
        h += parts[i].iov_len;
    }
    if (rest) h += protobuf_c_message_pack(rest, buf + h);
    if (!sealed) return h;
    struct iovec iov = {buf, h};
    if (seal_tag(tx, &iov, 1, buf + h) < 0) return 0;
    return h + SEAL_TAG_LEN;
}

/* TaskLaunch's field numbers in proto/kiln.proto (test_frame checks them
 * against protobuf-c's descriptor) */
enum { TL_TASK_ID = 1, TL_ATTEMPT = 5, TL_INPUT = 11 };

size_t msg_task_launch_head(uint8_t *p, uint64_t task_id, uint32_t attempt, size_t input_len)
{
    size_t n = msg_put_varint_field(p, TL_TASK_ID, task_id);
    n += msg_put_varint_field(p + n, TL_ATTEMPT, attempt);
    return n + msg_put_len_field(p + n, TL_INPUT, input_len);
}

size_t msg_put_varint_field(uint8_t *p, unsigned field, uint64_t v)
{
    size_t n = rt_varint_put(p, (uint64_t)field << 3);
    return n + rt_varint_put(p + n, v);
}

size_t msg_put_len_field(uint8_t *p, unsigned field, uint64_t len)
{
    size_t n = rt_varint_put(p, (uint64_t)field << 3 | 2);
    return n + rt_varint_put(p + n, len);
}

int msg_write_sealed(int fd, seal_dir *tx, const Kiln__Envelope *e)
{
    size_t n = msg_frame_size(tx, e);
    uint8_t stackbuf[4096];
    uint8_t *buf = n <= sizeof stackbuf ? stackbuf : xmalloc(n);
    size_t len = msg_pack_frame_into(buf, tx, e);
    int rc = len ? write_all(fd, buf, len) : -1;
    if (!len) errno = EPROTO;
    if (buf != stackbuf) free(buf);
    return rc;
}

int msg_write_fd(int fd, const Kiln__Envelope *e)
{
    return msg_write_sealed(fd, NULL, e);
}

/* ---- FetchData without copies ---- */

/* FetchData's field numbers in proto/kiln.proto (test_frame checks them
 * against protobuf-c) and the envelope's, which protobuf-c's oneof case is. */
enum { FD_REQUEST_ID = 1, FD_DATA = 2, FD_LAST = 3 };

size_t msg_head_before_bytes(uint8_t *buf, size_t cap, const Kiln__Envelope *env, unsigned field, size_t len)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(&kiln__envelope__descriptor, (unsigned)env->body_case);
    if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE) return 0;
    const ProtobufCMessage *body = *(const ProtobufCMessage *const *)((const char *)env + fd->offset);
    size_t blen = protobuf_c_message_get_packed_size(body);
    uint64_t tag = (uint64_t)field << 3 | 2;
    uint64_t sublen = blen + (len ? rt_varint_len(tag) + rt_varint_len(len) + len : 0);
    uint64_t etag = (uint64_t)env->body_case << 3 | 2;
    uint64_t envlen = rt_varint_len(etag) + rt_varint_len(sublen) + sublen;
    size_t head = FRAME_HEADER + rt_varint_len(etag) + rt_varint_len(sublen) + blen +
                  (len ? rt_varint_len(tag) + rt_varint_len(len) : 0);
    if (head > cap || envlen > UINT32_MAX) return 0;
    frame_put_header(buf, (uint32_t)envlen);
    size_t h = FRAME_HEADER;
    h += rt_varint_put(buf + h, etag);
    h += rt_varint_put(buf + h, sublen);
    h += protobuf_c_message_pack(body, buf + h);
    if (len) { /* the bytes field last: what follows the head is its content */
        h += rt_varint_put(buf + h, tag);
        h += rt_varint_put(buf + h, len);
    }
    return h;
}

size_t msg_fetch_data_head(uint8_t *buf, uint32_t request_id, int last, size_t len)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__FetchData fd = KILN__FETCH_DATA__INIT;
    fd.request_id = request_id;
    fd.last = last != 0;
    MSG_BODY(env, fetch_data, FETCH_DATA, &fd);
    return msg_head_before_bytes(buf, MSG_FETCH_HEAD_MAX, &env, FD_DATA, len);
}

/* A varint at p, within end: bytes used, 0 when bad. */
static size_t get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    return rt_varint_get(p, (size_t)(end - p), v);
}

int msg_peek_fetch_data(const uint8_t *p, size_t n, uint32_t *request_id, int *last, const uint8_t **data, size_t *len)
{
    const uint8_t *end = p + n;
    uint64_t tag, sublen, v;
    size_t u = get_varint(p, end, &tag);
    if (!u || tag != ((uint64_t)KILN__ENVELOPE__BODY_FETCH_DATA << 3 | 2)) return 0;
    p += u;
    if (!(u = get_varint(p, end, &sublen)) || sublen != (uint64_t)(end - p - u)) return 0; /* one field only */
    p += u;
    *request_id = 0;
    *last = 0;
    *data = NULL;
    *len = 0;
    while (p < end) {
        if (!(u = get_varint(p, end, &tag))) return 0;
        p += u;
        if (!(u = get_varint(p, end, &v))) return 0;
        p += u;
        switch (tag) {
        case FD_REQUEST_ID << 3 | 0:
            if (v > UINT32_MAX) return 0;
            *request_id = (uint32_t)v;
            break;
        case FD_LAST << 3 | 0:
            *last = v != 0;
            break;
        case FD_DATA << 3 | 2:
            if (v > (uint64_t)(end - p)) return 0;
            *data = p;
            *len = (size_t)v;
            p += v;
            break;
        default:
            return 0; /* an error, or a field this reader does not know */
        }
    }
    return 1;
}
