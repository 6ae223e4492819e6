/*
 * logs.c - `kiln logs APP-ID [--job J] [--task T] [--follow]`: an
 * application's executor logs from every worker, through the driver (the
 * answer to `yarn logs -applicationId`), for running and ended
 * applications alike.
 *
 * The client pulls. It holds a cursor per (worker, file) - how far it has
 * read and, with --task/--job, whether that point is inside a selected
 * section - and sends them with every LogsRequest; the driver relays each
 * worker's bounded answer and ends the round with LogsData{last}. While a
 * round says more, the next is asked at once; with --follow, rounds go on
 * every POLL_MS until one began after the application ended (that one
 * holds the last bytes) or the user interrupts. Output is each file's
 * bytes under a "==> executor-N.log on worker W <==" line whenever the
 * file changes, as tail(1) does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "secret.h"
#include "frame.h"
#include "handshake.h"
#include "net.h"
#include "util.h"

#define POLL_MS 500

static const char logs_usage[] = "usage: kiln logs APP-ID [--job J] [--task T] [--follow] [--master HOST:PORT]\n"
                                 "                 [--secret-file FILE]\n"
                                 "Prints the application's executor logs from every worker: with --task, only\n"
                                 "that task's section (the id a job's error names); with --job, the sections\n"
                                 "of that job's tasks; with --follow, goes on printing until the application\n"
                                 "ends.\n";

typedef struct cursors {
    Kiln__LogCursor *v; /* strings owned */
    size_t n, cap;
} cursors;

/* The index of the cursor of (worker, file), made at offset 0 if new. */
static size_t cursor_get(cursors *cs, const char *worker, const char *file)
{
    for (size_t i = 0; i < cs->n; i++)
        if (!strcmp(cs->v[i].worker, worker) && !strcmp(cs->v[i].file, file)) return i;
    if (cs->n == cs->cap) {
        cs->cap = cs->cap ? 2 * cs->cap : 16;
        cs->v = xrealloc(cs->v, cs->cap * sizeof *cs->v);
    }
    Kiln__LogCursor *c = &cs->v[cs->n++];
    kiln__log_cursor__init(c);
    c->worker = xstrdup(worker);
    c->file = xstrdup(file);
    return cs->n - 1;
}

static void cursors_release(cursors *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        free(cs->v[i].worker);
        free(cs->v[i].file);
    }
    free(cs->v);
}

/* What was printed last: a new file gets its own header line. */
typedef struct printer {
    size_t source; /* index of its cursor, +1; 0: nothing yet */
    int midline;
} printer;

static void print_piece(printer *pr, const cursors *cs, size_t i, const Kiln__LogsData *m)
{
    if (!m->data.len) return;
    if (pr->source != i + 1) {
        if (pr->midline) putchar('\n');
        printf("%s==> %s on worker %s <==\n", pr->source ? "\n" : "", cs->v[i].file, cs->v[i].worker);
        pr->source = i + 1;
    }
    fwrite(m->data.data, 1, m->data.len, stdout);
    pr->midline = m->data.data[m->data.len - 1] != '\n';
}

/* Parses a positive decimal id for flag into *v. 0, or -1 after saying why. */
static int parse_id(const char *flag, const char *s, uint64_t max, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (!*s || *end || errno || x == 0 || x > max || *s == '-' || *s == '+') {
        fprintf(stderr, "kiln logs: %s needs a number from 1, not '%s'\n", flag, s);
        return -1;
    }
    *v = x;
    return 0;
}

/* One round: sends the request with every cursor, prints what comes until
 * the round's last LogsData, which it returns (caller frees); NULL after
 * saying why. */
static Kiln__Envelope *round_run(int fd, msg_reader *rd, seal *sl, Kiln__LogsRequest *q, cursors *cs, printer *pr)
{
    Kiln__LogCursor **cp = xcalloc(cs->n + 1, sizeof *cp);
    for (size_t i = 0; i < cs->n; i++)
        cp[i] = &cs->v[i];
    q->cursors = cp;
    q->n_cursors = cs->n;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    MSG_BODY(env, logs_request, LOGS_REQUEST, q);
    int rc = msg_write_sealed(fd, &sl->tx, &env);
    free(cp);
    q->cursors = NULL;
    q->n_cursors = 0;
    if (rc < 0) {
        fprintf(stderr, "kiln logs: lost the connection to the driver: %s\n", strerror(errno));
        return NULL;
    }
    for (;;) {
        Kiln__Envelope *m = NULL;
        char err[1024];
        int st = msg_reader_next(rd, &m, err, sizeof err);
        if (st <= 0) {
            fprintf(stderr, "kiln logs: lost the connection to the driver: %s\n",
                    st == 0 ? "closed by the driver" : err);
            return NULL;
        }
        if (m->body_case == KILN__ENVELOPE__BODY_ERROR) {
            fprintf(stderr, "kiln logs: the driver refused: %s\n", m->error->message);
            msg_free(m);
            return NULL;
        }
        if (m->body_case != KILN__ENVELOPE__BODY_LOGS_DATA) {
            fprintf(stderr, "kiln logs: unexpected %s from the driver\n", msg_name(m));
            msg_free(m);
            return NULL;
        }
        const Kiln__LogsData *d = m->logs_data;
        if (d->last) return m;
        size_t i = cursor_get(cs, d->cursor->worker, d->cursor->file);
        print_piece(pr, cs, i, d);
        Kiln__LogCursor *c = &cs->v[i];
        c->offset = d->cursor->offset;
        c->inside = d->cursor->inside;
        c->midline = d->cursor->midline;
        msg_free(m);
    }
}

static int logs_run(const char *master, const auth_secret *secret, Kiln__LogsRequest *q)
{
    char err[1024];
    int fd = net_connect_blocking(master, err, sizeof err);
    if (fd < 0) {
        client_hint(master, err, sizeof err);
        fprintf(stderr, "kiln logs: %s\n", err);
        return 1;
    }
    msg_reader rd;
    msg_reader_init(&rd, fd, FRAME_MAX_DEFAULT);
    seal sl;
    memset(&sl, 0, sizeof sl);
    int rc = 1;
    if (msg_handshake_fd(fd, &rd, KILN__ROLE__ROLE_CLIENT, "kiln logs", secret, &sl, err, sizeof err) < 0) {
        client_hint(master, err, sizeof err);
        fprintf(stderr, "kiln logs: %s\n", err);
        goto out;
    }
    cursors cs = {0};
    printer pr = {0};
    for (;;) {
        Kiln__Envelope *m = round_run(fd, &rd, &sl, q, &cs, &pr);
        if (!m) break;
        const Kiln__LogsData *d = m->logs_data;
        int found = d->found, more = d->more, ended = d->ended;
        msg_free(m);
        fflush(stdout);
        if (!found) {
            fprintf(stderr, "kiln logs: no application %s: the driver does not know it and no worker has its logs\n",
                    q->app_id);
            break;
        }
        if (more) continue;
        if (!q->follow || ended) {
            rc = 0;
            break;
        }
        usleep(POLL_MS * 1000);
    }
    if (pr.midline) putchar('\n');
    cursors_release(&cs);
out:
    msg_reader_release(&rd);
    seal_release(&sl);
    close(fd);
    return rc;
}

int client_logs_main(int argc, char **argv, const char *master, const char *secret_file)
{
    Kiln__LogsRequest q = KILN__LOGS_REQUEST__INIT;
    const char *app = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        uint64_t v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(logs_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--follow") || !strcmp(a, "-f")) {
            q.follow = 1;
        } else if (!strcmp(a, "--job") || !strcmp(a, "--task") || !strcmp(a, "--master") ||
                   !strcmp(a, "--secret-file")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "kiln logs: %s needs a value\n%s", a, logs_usage);
                return 2;
            }
            val = argv[++i];
        } else if (!strncmp(a, "--", 2) && strchr(a, '=')) {
            val = strchr(a, '=') + 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "kiln logs: unknown option %s\n%s", a, logs_usage);
            return 2;
        } else if (!app) {
            app = a;
            continue;
        } else {
            fprintf(stderr, "kiln logs: one application at a time ('%s' and '%s')\n%s", app, a, logs_usage);
            return 2;
        }
        if (!val) continue;
        size_t flen = strcspn(a, "=");
        if (flen == 5 && !strncmp(a, "--job", 5)) {
            if (parse_id("--job", val, UINT32_MAX, &v) < 0) return 2;
            q.job_id = (uint32_t)v;
        } else if (flen == 6 && !strncmp(a, "--task", 6)) {
            if (parse_id("--task", val, UINT64_MAX, &v) < 0) return 2;
            q.task_id = v;
        } else if (flen == 8 && !strncmp(a, "--master", 8)) {
            master = val;
        } else if (flen == 13 && !strncmp(a, "--secret-file", 13)) {
            secret_file = val;
        } else {
            fprintf(stderr, "kiln logs: unknown option %.*s\n%s", (int)flen, a, logs_usage);
            return 2;
        }
    }
    if (!app) {
        fputs(logs_usage, stderr);
        return 2;
    }
    if (!name_is_safe(app)) {
        fprintf(stderr, "kiln logs: '%s' is not an application id (kiln jobs lists them)\n", app);
        return 2;
    }
    int slots;
    if (local_parse(master, &slots)) {
        fprintf(stderr, "kiln logs: a local[N] cluster and its logs end with its application; name a driver with "
                        "--master HOST:PORT\n");
        return 2;
    }
    auth_secret secret;
    char err[1024];
    /* the secret every kiln program uses: the one named, else the default */
    if (secret_resolve(&secret, secret_file, NULL, 0, err, sizeof err) < 0) {
        fprintf(stderr, "kiln logs: %s\n", err);
        return 2;
    }
    q.app_id = (char *)app;
    int rc = logs_run(master, &secret, &q);
    auth_secret_release(&secret);
    return rc;
}
