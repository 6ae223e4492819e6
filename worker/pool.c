/*
 * pool.c - the worker's executor processes.
 *
 * Executors are forked (not exec'd) from the worker, one per busy slot, and
 * reused for further tasks of the same application; an idle executor of
 * another application is retired when its slot is needed. Each has a
 * socketpair carrying frames and a MAP_SHARED exec_status naming the user
 * function it is running. A death is learned twice, from SIGCHLD and from
 * the socket closing; the record is freed when both have happened, and a
 * task that was running is reported failed with the signal or exit status
 * and the function to blame.
 *
 * What an application leaves in the work dir (shuffle/, cache/, tmp/ under
 * work-dir/APP) goes when it ends (AppEnd), and, for applications that
 * ended while the worker was away or dead (a crash, a driver restart),
 * when the worker registers and the driver names the ones still running.
 *
 * Limits: a task with task.timeout arms a timer when it is dispatched; if
 * the task is still running when it fires, the executor is SIGKILLed and
 * its death reported as the time limit. task.memory_limit is set by the
 * executor itself (executor.c); its exec_status says when a fatal signal
 * followed an allocation failure, and the death is reported as the limit.
 * When the executor's fatal-signal handler wrote a backtrace into the
 * task's section of its log, the error says how to read it (kiln logs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commit.h"
#include "executor.h"
#include "msg.h"
#include "text.h"
#include "util.h"
#include "worker.h"

void task_free(wtask *t)
{
    if (!t) return;
    msg_free(t->env);
    free(t);
}

static void exec_free_if_done(worker *w, wexec *x)
{
    if (!x->reaped || !x->conn_gone) return;
    for (wexec **pp = &w->execs; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    if (x->deadline) event_free(x->deadline);
    munmap(x->status, sizeof *x->status);
    free(x);
}

/* The running task passed its task.timeout: the executor dies for it. */
static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    wexec *x = arg;
    if (!x->task || x->reaped) return;
    x->timed_out_ms = x->task->t->timeout_ms;
    log_msg(&x->w->log, LOG_WARN, "task time limit exceeded app=%s pid=%d task=%llu timeout_ms=%llu", x->app_id,
            (int)x->pid, (unsigned long long)x->task->t->task_id, (unsigned long long)x->timed_out_ms);
    kill(x->pid, SIGKILL); /* its SIGCHLD reports the task */
}

static void deadline_stop(wexec *x)
{
    if (x->deadline) evtimer_del(x->deadline);
}

static void fail_task(worker *w, wtask *t, const char *error, int fatal)
{
    Kiln__TaskDone d = KILN__TASK_DONE__INIT;
    d.task_id = t->t->task_id;
    d.ok = 0;
    d.fatal = fatal;
    d.error = (char *)error;
    link_task_finished(w, t, &d);
}

static void exec_msg(conn *c, Kiln__Envelope *m, void *arg)
{
    wexec *x = arg;
    worker *w = x->w;
    switch (m->body_case) {
    case KILN__ENVELOPE__BODY_TASK_OUTPUT:
        if (x->task && m->task_output->task_id == x->task->t->task_id) link_forward_output(w, m);
        return;
    case KILN__ENVELOPE__BODY_BARRIER_SYNC: /* a barrier task waits for the others: the driver gathers them */
        if (x->task && m->barrier_sync->task_id == x->task->t->task_id) link_send(w, m);
        return;
    case KILN__ENVELOPE__BODY_TASK_DONE: {
        wtask *t = x->task;
        if (!t || m->task_done->task_id != t->t->task_id) {
            log_msg(&w->log, LOG_WARN, "executor sent a result for an unknown task pid=%d", (int)x->pid);
            return;
        }
        x->task = NULL;
        t->exec = NULL;
        deadline_stop(x);
        link_task_finished(w, t, m->task_done);
        pool_schedule(w);
        return;
    }
    default:
        log_msg(&w->log, LOG_WARN, "executor sent an unexpected %s pid=%d", msg_name(m), (int)x->pid);
        conn_close(c, 0, "protocol error");
    }
}

/* Whether process pid is on its way out: the kernel sets PF_EXITING (0x4
 * in /proc/PID/stat's flags) at the start of an exit, before it closes the
 * process's files, so a socket closed by a dying process (killed, or
 * exiting) is told from one its own code closed while it runs. A process
 * already gone counts as exiting. */
static int is_exiting(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f) return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    unsigned long flags = 0;
    /* after the name: state ppid pgrp session tty_nr tpgid flags */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1) return 1;
    return (flags & 0x4) != 0;
}

static void exec_closed(conn *c, const char *reason, void *arg)
{
    wexec *x = arg;
    x->c = NULL;
    x->conn_gone = 1;
    /* running (not exiting) with its end of the socket closed: the
     * executor closed it itself (user code closing descriptors), which is
     * what its task's error must say, not the SIGKILL that follows. A
     * process killed by someone else closes its socket as it exits, before
     * it is a zombie: that is told apart by PF_EXITING, not by a race with
     * its SIGCHLD. */
    if (!x->reaped && x->task && !is_exiting(x->pid)) x->closed_alive = 1;
    if (!x->reaped) kill(x->pid, SIGKILL); /* its SIGCHLD reports the task */
    exec_free_if_done(x->w, x);
}

static void child_exec(worker *w, int fd, exec_status *st, const char *logpath)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int signals[] = {SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGPIPE};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        signal(signals[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    if (logfd >= 0) {
        dup2(logfd, 1);
        dup2(logfd, 2);
    }
    if (dup2(fd, 3) < 0) _exit(120);
    close_range(4, ~0U, 0);
    signal(SIGPIPE, SIG_IGN);
    executor_args a = {.fd = 3,
                       .cache_dir = w->cache_dir,
                       .work_dir = w->work_dir,
                       .status = st,
                       .max_frame = w->conf.net_max_frame,
                       .secret = &w->secret};
    executor_main(&a);
}

static wexec *exec_fork(worker *w, const char *app_id)
{
    char err[512], dir[4096], logpath[4200];
    snprintf(dir, sizeof dir, "%s/%s", w->work_dir, app_id);
    if (mkdir_p(dir, 0755, err, sizeof err) < 0) {
        log_msg(&w->log, LOG_ERROR, "cannot create app dir: %s", err);
        return NULL;
    }
    int idx = w->next_exec_index++;
    snprintf(logpath, sizeof logpath, "%s/executor-%d.log", dir, idx);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        log_msg(&w->log, LOG_ERROR, "socketpair: %s", strerror(errno));
        return NULL;
    }
    exec_status *st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (st == MAP_FAILED) {
        close(sv[0]);
        close(sv[1]);
        log_msg(&w->log, LOG_ERROR, "mmap: %s", strerror(errno));
        return NULL;
    }
    memset(st, 0, sizeof *st);
    st->current = -1;
    pid_t pid = fork();
    if (pid < 0) {
        log_msg(&w->log, LOG_ERROR, "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        munmap(st, sizeof *st);
        return NULL;
    }
    if (pid == 0) {
        close(sv[0]);
        child_exec(w, sv[1], st, logpath);
    }
    close(sv[1]);
    wexec *x = xcalloc(1, sizeof *x);
    x->w = w;
    x->pid = pid;
    x->index = idx;
    x->status = st;
    snprintf(x->app_id, sizeof x->app_id, "%s", app_id);
    x->c = conn_new(w->base, sv[0], w->conf.net_max_frame, exec_msg, exec_closed, x);
    conn_set_authenticated(x->c); /* a socketpair no one else reaches: no handshake */
    x->next = w->execs;
    w->execs = x;
    w->execs_forked++;
    log_msg(&w->log, LOG_INFO, "executor started app=%s pid=%d log=%s", app_id, (int)pid, logpath);
    return x;
}

static void exec_retire(wexec *x)
{
    x->retiring = 1;
    if (!x->reaped) kill(x->pid, SIGKILL);
}

static int live_execs(worker *w)
{
    int n = 0;
    for (wexec *x = w->execs; x; x = x->next)
        if (!x->retiring && !x->reaped && !x->conn_gone) n++;
    return n;
}

static void dispatch(worker *w, wexec *x, wtask *t)
{
    x->task = t;
    t->exec = x;
    t->started_us = now_us();
    x->status->task_id = t->t->task_id;
    if (t->t->timeout_ms) {
        if (!x->deadline) x->deadline = evtimer_new(w->base, deadline_cb, x);
        struct timeval tv = {(time_t)(t->t->timeout_ms / 1000), (suseconds_t)(t->t->timeout_ms % 1000) * 1000};
        evtimer_add(x->deadline, &tv);
    }
    /* a shallow copy with the worker's own fields: nothing of t changes */
    Kiln__TaskLaunch tl = *t->t;
    tl.cache_dir = w->cache_dir;
    tl.work_dir = w->work_dir;
    tl.worker_id = w->worker_id;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    MSG_BODY(env, task_launch, TASK_LAUNCH, &tl);
    conn_send(x->c, &env);
}

void pool_schedule(worker *w)
{
    wtask **pp = &w->queue_head, *prev = NULL;
    while (*pp) {
        wtask *t = *pp;
        if (t->waiting && !t->failed) {
            prev = t;
            pp = &t->next;
            continue;
        }
        wexec *x = NULL;
        if (!t->failed) {
            for (wexec *e = w->execs; e; e = e->next)
                if (!e->task && !e->retiring && !e->reaped && !e->conn_gone && !strcmp(e->app_id, t->t->app_id)) {
                    x = e;
                    break;
                }
            if (!x && live_execs(w) >= w->slots) {
                /* retire an idle executor of another application */
                for (wexec *e = w->execs; e; e = e->next)
                    if (!e->task && !e->retiring && !e->reaped && !e->conn_gone) {
                        exec_retire(e);
                        break;
                    }
            }
            if (!x && live_execs(w) < w->slots) x = exec_fork(w, t->t->app_id);
            if (!x) {
                if (live_execs(w) >= w->slots) return; /* every slot is busy */
                snprintf(t->error, sizeof t->error, "cannot start an executor");
                t->failed = 1;
            }
        }
        /* unlink t from the queue */
        *pp = t->next;
        if (w->queue_tail == t) w->queue_tail = prev;
        t->next = NULL;
        if (t->failed)
            fail_task(w, t, t->error, 0);
        else
            dispatch(w, x, t);
    }
}

static void describe_death(worker *w, wexec *x, int status, char *buf, size_t len)
{
    exec_status *st = x->status;
    const char *fn = "kiln's task code";
    char fnbuf[128], how[160];
    if (st->current >= 0 && st->current < st->nnames && st->current <= TASK_MAX_OPS) {
        snprintf(fnbuf, sizeof fnbuf, "function '%s'", st->names[st->current]);
        fn = fnbuf;
    }
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(how, sizeof how, "status %d (exit called)", WEXITSTATUS(status));
    uint64_t limit = x->task ? x->task->t->memory_limit : 0;
    if (x->timed_out_ms) {
        snprintf(buf, len, "time limit of %g s exceeded (task.timeout) in %s: executor killed",
                 (double)x->timed_out_ms / 1000.0, fn);
    } else if ((x->closed_alive && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) || st->lost_fd) {
        /* killed for it, or it found its socket gone first and exited (executor.c) */
        snprintf(buf, len,
                 "the executor lost its connection to the worker in %s: its socket was closed under it (user code "
                 "closing descriptors it did not open?)",
                 fn);
    } else if (st->enomem && WIFSIGNALED(status)) {
        char lim[64];
        fmt_size(limit, lim, sizeof lim);
        if (limit)
            snprintf(buf, len, "memory limit %s exceeded (task.memory_limit) in %s: an allocation failed, then %s", lim,
                     fn, how);
        else
            snprintf(buf, len, "out of memory in %s: an allocation failed, then %s", fn, how);
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, len, "executor killed by %s in %s", how, fn);
    } else {
        snprintf(buf, len, "executor exited with %s in %s", how, fn);
    }
    size_t n = strlen(buf);
    if (st->backtrace && x->task && n < len) /* the fatal-signal handler wrote one into the task's section */
        snprintf(buf + n, len - n, " (backtrace: kiln logs %s --task %llu)", x->app_id,
                 (unsigned long long)x->task->t->task_id);
}

void pool_on_sigchld(worker *w)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        wexec *x = NULL;
        for (wexec *e = w->execs; e; e = e->next)
            if (e->pid == pid) x = e;
        if (!x) continue;
        x->reaped = 1;
        x->exit_status = status;
        if (x->task) {
            char why[512];
            describe_death(w, x, status, why, sizeof why);
            log_msg(&w->log, LOG_WARN, "executor died app=%s pid=%d task=%llu cause=\"%s\"", x->app_id, (int)pid,
                    (unsigned long long)x->task->t->task_id, why);
            wtask *t = x->task;
            x->task = NULL;
            t->exec = NULL;
            deadline_stop(x);
            fail_task(w, t, why, 0);
        } else {
            log_msg(&w->log, LOG_INFO, "executor exited app=%s pid=%d", x->app_id, (int)pid);
        }
        if (x->c)
            conn_close(x->c, 0, "executor exited"); /* runs exec_closed, may free x */
        else
            exec_free_if_done(w, x);
    }
    pool_schedule(w);
}

static int id_listed(uint64_t id, const uint64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

/* Drops the queued tasks of app_id (those listed in ids, or all of them
 * when ids is NULL) without an answer; returns how many. */
static int drop_queued(worker *w, const char *app_id, const uint64_t *ids, size_t n)
{
    int dropped = 0;
    wtask **pp = &w->queue_head;
    w->queue_tail = NULL;
    while (*pp) {
        wtask *t = *pp;
        if (!strcmp(t->t->app_id, app_id) && (!ids || id_listed(t->t->task_id, ids, n))) {
            *pp = t->next;
            task_free(t);
            w->ntasks--;
            dropped++;
            continue;
        }
        w->queue_tail = t;
        pp = &t->next;
    }
    return dropped;
}

void pool_barrier_reply(worker *w, const Kiln__Envelope *env)
{
    for (wexec *x = w->execs; x; x = x->next)
        if (x->task && x->c && x->task->t->task_id == env->barrier_reply->task_id) {
            conn_send(x->c, env);
            return;
        }
}

void pool_cancel_tasks(worker *w, const char *app_id, const uint64_t *ids, size_t n)
{
    if (n == 0) return; /* ids may be NULL then, which drop_queued reads as "all" */
    int cancelled = 0;
    for (wexec *x = w->execs; x; x = x->next) {
        if (!x->task || strcmp(x->app_id, app_id) || !id_listed(x->task->t->task_id, ids, n)) continue;
        x->task->exec = NULL;
        task_free(x->task);
        x->task = NULL;
        w->ntasks--;
        deadline_stop(x);
        exec_retire(x); /* a task stuck in user code cannot be stopped any other way */
        cancelled++;
    }
    cancelled += drop_queued(w, app_id, ids, n);
    log_msg(&w->log, LOG_INFO, "tasks cancelled app=%s tasks=%d", app_id, cancelled);
    pool_schedule(w);
}

/* Removes what application app_id keeps in the work dir: its shuffle
 * outputs, cached partitions and spills; its executor logs stay (operators
 * read them). Returns how many of those directories there were. */
static int app_files_remove(worker *w, const char *app_id)
{
    static const char *const subdirs[] = {"shuffle", "cache", "tmp"};
    int n = 0;
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
        char *dir = xasprintf("%s/%s/%s", w->work_dir, app_id, subdirs[i]);
        if (access(dir, F_OK) == 0) n++;
        rm_rf(dir);
        free(dir);
    }
    return n;
}

/* The application ended: its queued and running tasks are dropped without
 * an answer (the driver no longer wants one) and its executors end. */
void pool_end_app(worker *w, const char *app_id, char **abandoned_dirs, size_t ndirs)
{
    int dropped = 0;
    for (wexec *x = w->execs; x; x = x->next) {
        if (strcmp(x->app_id, app_id)) continue;
        if (x->task) {
            x->task->exec = NULL;
            task_free(x->task);
            x->task = NULL;
            w->ntasks--;
            dropped++;
        }
        exec_retire(x);
    }
    dropped += drop_queued(w, app_id, NULL, 0);
    app_files_remove(w, app_id);
    /* what attempts of its unfinished save_text jobs wrote, and nothing
     * else: its client (or another worker) may have cleaned up first, and
     * another application may have written the same path since */
    for (size_t i = 0; i < ndirs; i++)
        if (commit_abort(abandoned_dirs[i], app_id))
            log_msg(&w->log, LOG_INFO, "abandoned output removed app=%s dir=%s", app_id, abandoned_dirs[i]);
    log_msg(&w->log, LOG_INFO, "application ended app=%s tasks_dropped=%d", app_id, dropped);
}

void pool_sweep_apps(worker *w, char **live, size_t nlive)
{
    DIR *dir = opendir(w->work_dir);
    if (!dir) {
        log_msg(&w->log, LOG_WARN, "cannot list the work dir %s: %s", w->work_dir, strerror(errno));
        return;
    }
    int swept = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        /* cache/ is the blob cache; anything not named like an app id is not ours */
        if (!strcmp(e->d_name, "cache") || !name_is_safe(e->d_name)) continue;
        struct stat st;
        if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) continue;
        size_t i = 0;
        while (i < nlive && strcmp(live[i], e->d_name))
            i++;
        if (i < nlive) continue;
        if (app_files_remove(w, e->d_name)) {
            log_msg(&w->log, LOG_INFO, "files of an ended application removed app=%s", e->d_name);
            swept++;
        }
    }
    closedir(dir);
    if (swept) log_msg(&w->log, LOG_INFO, "work dir swept applications=%d live=%zu", swept, nlive);
}

void pool_end_all(worker *w, int sig)
{
    for (wexec *x = w->execs; x; x = x->next) {
        if (x->task) {
            x->task->exec = NULL;
            task_free(x->task);
            x->task = NULL;
            w->ntasks--;
            deadline_stop(x);
        }
        x->retiring = 1;
        if (!x->reaped) kill(x->pid, sig);
    }
    while (w->queue_head) {
        wtask *t = w->queue_head;
        w->queue_head = t->next;
        task_free(t);
        w->ntasks--;
    }
    w->queue_tail = NULL;
}

int pool_alive(const worker *w)
{
    int n = 0;
    for (const wexec *x = w->execs; x; x = x->next)
        n += !x->reaped;
    return n;
}
