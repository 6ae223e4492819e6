/*
 * session.c - the client's conversation with the driver: the handshake
 * (common/handshake.c; with a shared secret, mutual authentication), register
 * the application, upload its library and broadcast values, run jobs and
 * collect their streamed results, one request at a time.
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "frame.h"
#include "handshake.h"
#include "net.h"
#include "secret.h"
#include "util.h"

#define PIECE (1u << 20)

int client_fail(kiln_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reads the next message; an Error from the driver becomes ctx->err. */
static Kiln__Envelope *next_msg(kiln_ctx *ctx)
{
    Kiln__Envelope *m = NULL;
    char err[1024];
    int st = msg_reader_next(&ctx->rd, &m, err, sizeof err);
    if (st <= 0) {
        ctx->dead = 1;
        client_fail(ctx, "lost the connection to the driver: %s", st == 0 ? "closed by the driver" : err);
        return NULL;
    }
    if (m->body_case == KILN__ENVELOPE__BODY_ERROR) {
        ctx->dead = 1;
        client_fail(ctx, "the driver refused: %s", m->error->message);
        msg_free(m);
        return NULL;
    }
    return m;
}

static int send_msg(kiln_ctx *ctx, const Kiln__Envelope *env)
{
    if (ctx->dead) return -1;
    if (msg_write_sealed(ctx->fd, &ctx->seal.tx, env) < 0) {
        ctx->dead = 1;
        return client_fail(ctx, "lost the connection to the driver: %s", strerror(errno));
    }
    return 0;
}

int client_upload(kiln_ctx *ctx, Kiln__BlobKind kind, const char *hash, const uint8_t *p, size_t n)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__BlobPut put = KILN__BLOB_PUT__INIT;
    put.hash = (char *)hash;
    put.kind = kind;
    put.size = n;
    MSG_BODY(env, blob_put, BLOB_PUT, &put);
    size_t off = 0;
    do {
        size_t len = n - off < PIECE ? n - off : PIECE;
        put.offset = off;
        put.data.data = (uint8_t *)p + off;
        put.data.len = len;
        off += len;
        put.last = off == n;
        if (send_msg(ctx, &env) < 0) return -1;
    } while (off < n);
    Kiln__Envelope *m = next_msg(ctx);
    if (!m) return -1;
    int rc = 0;
    if (m->body_case != KILN__ENVELOPE__BODY_BLOB_PUT_DONE)
        rc = client_fail(ctx, "expected blob_put_done from the driver, got %s", msg_name(m));
    else if (m->blob_put_done->error && *m->blob_put_done->error)
        rc = client_fail(ctx, "upload refused: %s", m->blob_put_done->error);
    msg_free(m);
    return rc;
}

void client_hint(const char *hostport, char *err, size_t errlen)
{
    size_t n = strlen(err);
    if (strstr(err, strerror(ECONNREFUSED)) && strstr(err, "cannot connect"))
        snprintf(err + n, errlen - n,
                 " (is kiln-driver running at %s? start it (systemctl start kiln-driver) or use --master local[2])",
                 hostport);
    else if (strstr(err, "authentication failed") && access(SECRET_SERVICE_PATH, R_OK) < 0 &&
             errno == EACCES) /* the file, or /var/lib/kiln, is there but closed to this user */
        snprintf(err + n, errlen - n,
                 "; the kiln service's secret %s is readable only by group " AUTH_SERVICE_GROUP
                 ": join it (sudo adduser %s " AUTH_SERVICE_GROUP ", then log in again) or name a secret with "
                 "--secret-file",
                 SECRET_SERVICE_PATH, getenv("USER") && *getenv("USER") ? getenv("USER") : "$USER");
}

kiln_ctx *client_ctx_new(const char *hostport, const auth_secret *secret, const char *app_name, const char *lib_path,
                         const void *app_base, char *const *conf, size_t nconf, char *err, size_t errlen)
{
    uint8_t *lib = NULL;
    size_t lib_len = 0;
    if (lib_path && read_file(lib_path, &lib, &lib_len, err, errlen) < 0) return NULL;
    int fd = net_connect_blocking(hostport, err, errlen);
    if (fd < 0) {
        client_hint(hostport, err, errlen);
        free(lib);
        return NULL;
    }
    kiln_ctx *ctx = xcalloc(1, sizeof *ctx);
    ctx->fd = fd;
    ctx->app_base = app_base;
    ctx->progress = isatty(2);
    snprintf(ctx->app_path, sizeof ctx->app_path, "%s", lib_path ? lib_path : "");
    msg_reader_init(&ctx->rd, fd, FRAME_MAX_DEFAULT);
    for (size_t i = 0; i < nconf; i++) {
        const char *eq = strchr(conf[i], '=');
        if (!eq) {
            errf(err, errlen, "--conf %s: expected KEY=VALUE", conf[i]);
            goto fail;
        }
        Kiln__Conf *c = xmalloc(sizeof *c);
        kiln__conf__init(c);
        c->key = xstrndup(conf[i], (size_t)(eq - conf[i]));
        c->value = xstrdup(eq + 1);
        ctx->conf = xrealloc(ctx->conf, (ctx->nconf + 1) * sizeof *ctx->conf);
        ctx->conf[ctx->nconf++] = c;
    }
    if (msg_handshake_fd(fd, &ctx->rd, KILN__ROLE__ROLE_CLIENT, "kiln", secret, &ctx->seal, err, errlen) < 0) goto fail;

    char hash[HASH_HEX_LEN + 1] = "";
    if (lib) hash_sha256_hex(lib, lib_len, hash);
    if (!app_name) {
        const char *base = lib_path ? strrchr(lib_path, '/') : NULL;
        app_name = base ? base + 1 : lib_path ? lib_path : "app";
    }
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__AppRegister reg = KILN__APP_REGISTER__INIT;
    reg.name = (char *)app_name;
    reg.lib_hash = hash;
    reg.lib_size = lib_len;
    /* the account the process runs as (root's sudo and service shells often
     * leave USER unset), else USER */
    struct passwd *pw = getpwuid(getuid());
    reg.user = pw && pw->pw_name ? pw->pw_name : getenv("USER") ? getenv("USER") : "";
    MSG_BODY(env, app_register, APP_REGISTER, &reg);
    if (send_msg(ctx, &env) < 0) {
        errf(err, errlen, "%s", ctx->err);
        goto fail;
    }
    Kiln__Envelope *m = next_msg(ctx);
    if (!m) {
        errf(err, errlen, "%s", ctx->err);
        goto fail;
    }
    if (m->body_case != KILN__ENVELOPE__BODY_APP_REGISTERED) {
        errf(err, errlen, "expected app_registered from the driver, got %s", msg_name(m));
        msg_free(m);
        goto fail;
    }
    snprintf(ctx->app_id, sizeof ctx->app_id, "%s", m->app_registered->app_id);
    if (m->app_registered->ui_port) { /* the host this client reached the driver at, the driver's HTTP port */
        const char *colon = strrchr(hostport, ':');
        int hlen = colon ? (int)(colon - hostport) : (int)strlen(hostport);
        snprintf(ctx->ui, sizeof ctx->ui, "http://%.*s:%u/app/%s", hlen, hostport, m->app_registered->ui_port,
                 ctx->app_id);
    }
    int need = m->app_registered->need_lib;
    ctx->http_port = m->app_registered->ui_port; /* the Python package's uiWebUrl, statusTracker */
    msg_free(m);
    if (need && client_upload(ctx, KILN__BLOB_KIND__BLOB_LIBRARY, hash, lib, lib_len) < 0) {
        errf(err, errlen, "%s", ctx->err);
        goto fail;
    }
    free(lib);
    return ctx;
fail:
    client_hint(hostport, err, errlen);
    free(lib);
    client_ctx_free(ctx);
    return NULL;
}

void client_ctx_free(kiln_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->fd >= 0 && ctx->app_id[0]) {
        /* a normal end, told as such (best effort: the close says the rest) */
        Kiln__Envelope env = KILN__ENVELOPE__INIT;
        Kiln__AppStop st = KILN__APP_STOP__INIT;
        MSG_BODY(env, app_stop, APP_STOP, &st);
        send_msg(ctx, &env);
    }
    if (ctx->fd >= 0) close(ctx->fd);
    msg_reader_release(&ctx->rd);
    seal_release(&ctx->seal);
    for (size_t i = 0; i < ctx->nrdds; i++) {
        kiln_rdd *r = ctx->rdds[i];
        free(r->symbol);
        free(r->label);
        free(r->env);
        split_list_free(&r->splits);
        for (size_t b = 0; b < r->nblocks; b++)
            free(r->blocks[b]);
        free(r->blocks);
        free(r->block_lens);
        free(r);
    }
    free(ctx->rdds);
    for (size_t i = 0; i < ctx->nbcasts; i++)
        free(ctx->bcasts[i].data);
    free(ctx->bcasts);
    for (size_t i = 0; i < ctx->nconf; i++) {
        free(ctx->conf[i]->key);
        free(ctx->conf[i]->value);
        free(ctx->conf[i]);
    }
    free(ctx->conf);
    for (size_t i = 0; i < ctx->ncounters; i++)
        free(ctx->counter_names[i]);
    free(ctx->counter_names);
    free(ctx->counter_values);
    free(ctx->counter_reals);
    for (size_t i = 0; i < ctx->nterms; i++) {
        free(ctx->terms[i].name);
        free(ctx->terms[i].data);
    }
    free(ctx->terms);
    free(ctx);
}

/* ---- jobs ----------------------------------------------------------------- */

static void mark(kiln_rdd *r, uint8_t *seen)
{
    if (seen[r->id]) return;
    seen[r->id] = 1;
    for (size_t i = 0; i < r->nparents; i++)
        mark(r->parents[i], seen);
}

static void node_of(kiln_rdd *r, Kiln__Node *n, Kiln__FnRef *fn, Kiln__FileSplit *splits, ProtobufCBinaryData *blocks,
                    uint32_t *parents)
{
    kiln__node__init(n);
    n->id = r->id;
    n->kind = r->kind;
    for (size_t i = 0; i < r->nparents; i++)
        parents[i] = r->parents[i]->id;
    n->parents = parents;
    n->n_parents = r->nparents;
    if (r->symbol) {
        kiln__fn_ref__init(fn);
        fn->symbol = r->symbol;
        fn->builtin = r->builtin;
        fn->label = r->label ? r->label : "";
        n->fn = fn;
    }
    n->env.data = r->env;
    n->env.len = r->env_len;
    n->partitions = r->partitions;
    n->range_start = r->range_start;
    n->range_end = r->range_end;
    n->ascending = r->ascending;
    n->cached = r->cached;
    n->barrier = r->barrier;
}

static void store_counters(kiln_ctx *ctx, const Kiln__JobDone *d)
{
    for (size_t i = 0; i < ctx->ncounters; i++)
        free(ctx->counter_names[i]);
    ctx->ncounters = d->n_counters;
    ctx->counter_names = xrealloc(ctx->counter_names, (d->n_counters + 1) * sizeof(char *));
    ctx->counter_values = xrealloc(ctx->counter_values, (d->n_counters + 1) * sizeof(int64_t));
    ctx->counter_reals = xrealloc(ctx->counter_reals, (d->n_counters + 1) * sizeof(double));
    for (size_t i = 0; i < d->n_counters; i++) {
        ctx->counter_names[i] = xstrdup(d->counters[i]->name);
        ctx->counter_values[i] = d->counters[i]->value;
        ctx->counter_reals[i] = d->counters[i]->real;
        for (size_t t = 0; t < d->counters[i]->n_terms; t++) { /* the driver sends each once: keep them */
            const ProtobufCBinaryData *b = &d->counters[i]->terms[t];
            ctx->terms = xrealloc(ctx->terms, (ctx->nterms + 1) * sizeof *ctx->terms);
            client_term *ct = &ctx->terms[ctx->nterms++];
            ct->name = xstrdup(d->counters[i]->name);
            ct->len = b->len;
            ct->data = xmalloc(b->len ? b->len : 1);
            memcpy(ct->data, b->data, b->len);
        }
    }
}

static void part_add(job_result *res, const Kiln__JobOutput *o)
{
    if (o->partition >= res->nparts) {
        size_t n = (size_t)o->partition + 1;
        res->parts = xrealloc(res->parts, n * sizeof *res->parts);
        memset(res->parts + res->nparts, 0, (n - res->nparts) * sizeof *res->parts);
        res->nparts = n;
    }
    part_result *p = &res->parts[o->partition];
    if (o->attempt != p->attempt) { /* a retried task: drop the earlier attempt's blocks */
        for (size_t i = 0; i < p->n; i++)
            free(p->blocks[i]);
        p->n = 0;
        p->attempt = o->attempt;
    }
    p->blocks = xrealloc(p->blocks, (p->n + 1) * sizeof *p->blocks);
    p->lens = xrealloc(p->lens, (p->n + 1) * sizeof *p->lens);
    p->blocks[p->n] = xmalloc(o->block.len ? o->block.len : 1);
    memcpy(p->blocks[p->n], o->block.data, o->block.len);
    p->lens[p->n++] = o->block.len;
}

void job_result_release(job_result *res)
{
    for (size_t i = 0; i < res->nparts; i++) {
        for (size_t b = 0; b < res->parts[i].n; b++)
            free(res->parts[i].blocks[b]);
        free(res->parts[i].blocks);
        free(res->parts[i].lens);
    }
    free(res->parts);
    free(res->commit_tasks);
    free(res->commit_attempts);
    memset(res, 0, sizeof *res);
}

int client_run_job(kiln_ctx *ctx, kiln_rdd *target, Kiln__Action *action, job_result *res)
{
    return client_run_job_parts(ctx, target, action, NULL, 0, res);
}

int client_run_job_parts(kiln_ctx *ctx, kiln_rdd *target, Kiln__Action *action, const uint32_t *parts, size_t nparts,
                         job_result *res)
{
    memset(res, 0, sizeof *res);
    if (ctx->dead) return -1;
    uint8_t *seen = xcalloc(ctx->nrdds + 1, 1);
    mark(target, seen);
    size_t n = 0;
    for (size_t i = 0; i < ctx->nrdds; i++)
        n += seen[ctx->rdds[i]->id];
    Kiln__Node *nodes = xcalloc(n, sizeof *nodes), **np = xcalloc(n, sizeof *np);
    Kiln__FnRef *fns = xcalloc(n, sizeof *fns);
    uint32_t *parents = xcalloc(2 * n, sizeof *parents);
    size_t total_splits = 0, total_blocks = 0;
    for (size_t i = 0; i < ctx->nrdds; i++)
        if (seen[ctx->rdds[i]->id]) {
            total_splits += ctx->rdds[i]->splits.n;
            total_blocks += ctx->rdds[i]->nblocks;
        }
    Kiln__FileSplit *splits = xcalloc(total_splits + 1, sizeof *splits);
    Kiln__FileSplit **splitp = xcalloc(total_splits + 1, sizeof *splitp);
    ProtobufCBinaryData *blocks = xcalloc(total_blocks + 1, sizeof *blocks);
    size_t k = 0, si = 0, bi = 0;
    for (size_t i = 0; i < ctx->nrdds; i++) {
        kiln_rdd *r = ctx->rdds[i];
        if (!seen[r->id]) continue;
        node_of(r, &nodes[k], &fns[k], NULL, NULL, &parents[2 * k]);
        nodes[k].splits = &splitp[si];
        nodes[k].n_splits = r->splits.n;
        for (size_t s = 0; s < r->splits.n; s++, si++) {
            kiln__file_split__init(&splits[si]);
            splits[si].path = r->splits.v[s].path;
            splits[si].start = r->splits.v[s].start;
            splits[si].end = r->splits.v[s].end;
            splitp[si] = &splits[si];
        }
        nodes[k].blocks = &blocks[bi];
        nodes[k].n_blocks = r->nblocks;
        for (size_t b = 0; b < r->nblocks; b++, bi++) {
            blocks[bi].data = r->blocks[b];
            blocks[bi].len = r->block_lens[b];
        }
        np[k] = &nodes[k];
        k++;
    }
    char **bc = xcalloc(ctx->nbcasts + 1, sizeof *bc);
    for (size_t i = 0; i < ctx->nbcasts; i++)
        bc[i] = ctx->bcasts[i].hex;

    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__JobSubmit js = KILN__JOB_SUBMIT__INIT;
    js.job_id = ++ctx->job_seq;
    js.nodes = np;
    js.n_nodes = n;
    js.target = target->id;
    js.action = action;
    js.broadcasts = bc;
    js.n_broadcasts = ctx->nbcasts;
    js.conf = ctx->conf;
    js.n_conf = ctx->nconf;
    js.partitions = (uint32_t *)parts; /* only read while packing */
    js.n_partitions = nparts;
    MSG_BODY(env, job_submit, JOB_SUBMIT, &js);
    int rc = send_msg(ctx, &env);
    free(seen);
    free(nodes);
    free(np);
    free(fns);
    free(parents);
    free(splits);
    free(splitp);
    free(blocks);
    free(bc);
    if (rc < 0) return -1;
    uint64_t t0 = now_ms();
    for (;;) {
        Kiln__Envelope *m = next_msg(ctx);
        if (!m) return -1;
        if (m->body_case == KILN__ENVELOPE__BODY_JOB_OUTPUT && m->job_output->job_id == js.job_id) {
            part_add(res, m->job_output);
        } else if (m->body_case == KILN__ENVELOPE__BODY_JOB_PROGRESS && m->job_progress->job_id == js.job_id) {
            const Kiln__JobProgress *p = m->job_progress;
            if (ctx->progress)
                fprintf(stderr, "\rkiln: job %u: stage %u of %u: %u/%u tasks, %.1f s\033[K", js.job_id,
                        p->stages_done + (p->stages_done < p->stages), p->stages, p->tasks_done, p->tasks,
                        (double)(now_ms() - t0) / 1000.0);
        } else if (m->body_case == KILN__ENVELOPE__BODY_JOB_DONE && m->job_done->job_id == js.job_id) {
            Kiln__JobDone *d = m->job_done;
            store_counters(ctx, d);
            res->count = d->count;
            if (d->partitions > res->nparts) {
                res->parts = xrealloc(res->parts, d->partitions * sizeof *res->parts);
                memset(res->parts + res->nparts, 0, (d->partitions - res->nparts) * sizeof *res->parts);
                res->nparts = d->partitions;
            }
            if (ctx->progress) /* over the progress line */
                fprintf(stderr, "\rkiln: job %u %s: %u tasks in %.3f s\033[K\n", js.job_id, d->ok ? "done" : "failed",
                        d->tasks, (double)(now_ms() - t0) / 1000.0);
            if (d->ok && d->n_commit_tasks == d->n_commit_attempts && d->n_commit_tasks) {
                res->ncommit = d->n_commit_tasks;
                res->commit_tasks = xmalloc(res->ncommit * sizeof *res->commit_tasks);
                res->commit_attempts = xmalloc(res->ncommit * sizeof *res->commit_attempts);
                memcpy(res->commit_tasks, d->commit_tasks, res->ncommit * sizeof *res->commit_tasks);
                memcpy(res->commit_attempts, d->commit_attempts, res->ncommit * sizeof *res->commit_attempts);
            }
            rc = d->ok ? 0 : client_fail(ctx, "job %u failed: %s", js.job_id, d->error);
            msg_free(m);
            if (rc < 0) job_result_release(res);
            return rc;
        }
        msg_free(m);
    }
}

Kiln__Envelope *client_query(const char *hostport, const auth_secret *secret, Kiln__Envelope *req, char *err,
                             size_t errlen)
{
    int fd = net_connect_blocking(hostport, err, errlen);
    if (fd < 0) {
        client_hint(hostport, err, errlen);
        return NULL;
    }
    msg_reader rd;
    msg_reader_init(&rd, fd, FRAME_MAX_DEFAULT);
    Kiln__Envelope *m = NULL;
    seal sl;
    if (msg_handshake_fd(fd, &rd, KILN__ROLE__ROLE_CLIENT, "kiln", secret, &sl, err, errlen) == 0) {
        if (msg_write_sealed(fd, &sl.tx, req) < 0) {
            errf(err, errlen, "send: %s", strerror(errno));
        } else {
            int st = msg_reader_next(&rd, &m, err, errlen);
            if (st == 0) errf(err, errlen, "the driver closed the connection");
            if (m && m->body_case == KILN__ENVELOPE__BODY_ERROR) {
                errf(err, errlen, "%s", m->error->message);
                msg_free(m);
                m = NULL;
            }
        }
    }
    if (!m) client_hint(hostport, err, errlen);
    msg_reader_release(&rd);
    seal_release(&sl);
    close(fd);
    return m;
}
