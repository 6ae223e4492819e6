/*
 * logs.c - the worker's side of `kiln logs`: reading an application's
 * executor logs (work-dir/APP/executor-N.log) for the driver.
 *
 * Each LogsRequest names the application, which tasks' sections to keep
 * (common/logsect.h) and, per file, where the client got to (a cursor).
 * The answer is bounded: pieces of at most LOGS_PIECE_MAX read from the
 * cursors on, at most ANSWER_RAW bytes read and ANSWER_SENT bytes kept in
 * all, then a LogsData with last set (and more when the budget ran out
 * before the files did). Pieces are queued only while the driver link has
 * under LOGS_OUT_HIGH unsent; the link's drain callback sends the rest, so
 * a huge log never sits in memory, and task reports keep flowing.
 *
 * Only files named like executor logs in a directory named like an app id
 * are read, opened with O_NOFOLLOW and only when they are regular files.
 * Nothing here writes to the work dir.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logsect.h"
#include "msg.h"
#include "util.h"
#include "worker.h"

#define ANSWER_RAW  (16u << 20)
#define ANSWER_SENT (4u << 20)

typedef struct wlog_file {
    unsigned index; /* N of executor-N.log */
    uint64_t off;   /* consumed so far */
    logsect_state st;
} wlog_file;

struct wlogs_req {
    uint32_t id;
    char app[129];
    logsect_sel sel;
    int final; /* no more output can come: unfinished lines go too */
    int found; /* the application has a directory here */
    int more;  /* the budget ran out before the files did */
    wlog_file *files;
    size_t nfiles, cur;
    uint64_t raw_left, sent_left;
    wlogs_req *next;
};

static int file_cmp(const void *a, const void *b)
{
    const wlog_file *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Lists the application's executor logs, each from its cursor (or 0). */
static void list_files(worker *w, wlogs_req *q, const Kiln__LogsRequest *r)
{
    char *dir = xasprintf("%s/%s", w->work_dir, q->app);
    DIR *d = opendir(dir);
    free(dir);
    if (!d) return;
    q->found = 1;
    size_t cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        unsigned index;
        if (!logsect_file_name_ok(e->d_name, &index)) continue;
        if (q->nfiles == cap) {
            cap = cap ? 2 * cap : 8;
            q->files = xrealloc(q->files, cap * sizeof *q->files);
        }
        wlog_file *f = &q->files[q->nfiles++];
        memset(f, 0, sizeof *f);
        f->index = index;
        f->st.inside = !q->sel.task && !q->sel.job;
        for (size_t i = 0; i < r->n_cursors; i++)
            if (!strcmp(r->cursors[i]->file, e->d_name)) {
                f->off = r->cursors[i]->offset;
                f->st.inside = r->cursors[i]->inside;
                f->st.midline = r->cursors[i]->midline;
            }
    }
    closedir(d);
    if (q->nfiles) qsort(q->files, q->nfiles, sizeof *q->files, file_cmp);
}

void logs_request(worker *w, const Kiln__LogsRequest *r)
{
    wlogs_req *q = xcalloc(1, sizeof *q);
    q->id = r->request_id;
    snprintf(q->app, sizeof q->app, "%s", r->app_id); /* msg_validate: name_is_safe */
    q->sel.task = r->task_id;
    q->sel.job = r->job_id;
    q->final = r->final;
    q->raw_left = ANSWER_RAW;
    q->sent_left = ANSWER_SENT;
    list_files(w, q, r);
    if (w->logs_tail)
        w->logs_tail->next = q;
    else
        w->logs_head = q;
    w->logs_tail = q;
    log_msg(&w->log, LOG_DEBUG, "logs requested app=%s files=%zu task=%llu job=%u", q->app, q->nfiles,
            (unsigned long long)q->sel.task, q->sel.job);
    logs_pump(w);
}

static void send_piece(worker *w, wlogs_req *q, wlog_file *f, uint64_t off, const uint8_t *p, size_t n)
{
    char name[64];
    snprintf(name, sizeof name, "executor-%u.log", f->index);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__LogsData m = KILN__LOGS_DATA__INIT;
    Kiln__LogCursor c = KILN__LOG_CURSOR__INIT;
    c.worker = w->name;
    c.file = name;
    c.offset = f->off;
    c.inside = f->st.inside;
    c.midline = f->st.midline;
    m.request_id = q->id;
    m.offset = off;
    m.data.data = (uint8_t *)p;
    m.data.len = n;
    m.cursor = &c;
    MSG_BODY(env, logs_data, LOGS_DATA, &m);
    link_send(w, &env);
}

/* Reads and sends the next piece of q's current file. 0 when q has
 * nothing more to send (its answer ends), 1 otherwise. */
static int logs_step(worker *w, wlogs_req *q)
{
    if (q->cur >= q->nfiles) return 0;
    if (q->raw_left < LOGSECT_HEADER_MAX || !q->sent_left) {
        q->more = 1;
        return 0;
    }
    wlog_file *f = &q->files[q->cur];
    char *path = xasprintf("%s/%s/executor-%u.log", w->work_dir, q->app, f->index);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    free(path);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size <= f->off) {
        if (fd >= 0) close(fd);
        q->cur++; /* gone, not a file, or nothing new */
        return 1;
    }
    size_t want = q->raw_left < LOGS_PIECE_MAX ? (size_t)q->raw_left : LOGS_PIECE_MAX;
    uint8_t *buf = xmalloc(want), *out = xmalloc(want);
    ssize_t got = pread(fd, buf, want, (off_t)f->off);
    close(fd);
    if (got <= 0) {
        free(buf);
        free(out);
        q->cur++;
        return 1;
    }
    int at_end = (size_t)got < want;
    size_t kept, used = logsect_filter(&q->sel, &f->st, buf, (size_t)got, at_end && q->final, out, &kept);
    uint64_t off = f->off;
    f->off += used;
    q->raw_left -= used;
    q->sent_left -= kept < q->sent_left ? kept : q->sent_left;
    if (used) send_piece(w, q, f, off, out, kept);
    if (at_end || !used) q->cur++; /* what is there now was read (an unfinished line waits) */
    free(buf);
    free(out);
    return 1;
}

static void send_last(worker *w, wlogs_req *q)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__LogsData m = KILN__LOGS_DATA__INIT;
    m.request_id = q->id;
    m.last = 1;
    m.more = q->more;
    m.found = q->found;
    MSG_BODY(env, logs_data, LOGS_DATA, &m);
    link_send(w, &env);
}

static void req_free(wlogs_req *q)
{
    free(q->files);
    free(q);
}

void logs_pump(worker *w)
{
    while (w->logs_head) {
        if (!w->driver || !w->registered || conn_is_closing(w->driver)) return;
        if (conn_output_pending(w->driver) >= LOGS_OUT_HIGH) return; /* the drain callback goes on */
        wlogs_req *q = w->logs_head;
        if (logs_step(w, q)) continue;
        send_last(w, q);
        w->logs_head = q->next;
        if (!w->logs_head) w->logs_tail = NULL;
        req_free(q);
    }
}

void logs_drop_all(worker *w)
{
    while (w->logs_head) {
        wlogs_req *q = w->logs_head;
        w->logs_head = q->next;
        req_free(q);
    }
    w->logs_tail = NULL;
}
