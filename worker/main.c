/*
 * main.c - kiln-worker: owns struct worker, parses flags, binds the data
 * and HTTP ports, writes the ports file, and runs the event loop. The
 * driver link is link.c, executors are pool.c, the HTTP port http.c.
 */
#include <errno.h>
#include <limits.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "listen.h"
#include "msg.h"
#include "net.h"
#include "secret.h"
#include "util.h"
#include "shuffle_serve.h"
#include "worker.h"

static const char usage[] = "usage: kiln-worker [--config FILE] --driver HOST:PORT [--listen HOST:PORT]\n"
                            "                   [--http HOST:PORT] [--slots N] [--work-dir DIR] [--log-file FILE]\n"
                            "                   [--secret-file FILE] [--log-level LEVEL] [--advertise HOST:PORT]\n";

static const daemon_flag flags[] = {
    {"driver", "worker.driver"},    {"listen", "worker.listen"},     {"http", "worker.http"},
    {"slots", "worker.slots"},      {"work-dir", "worker.work_dir"}, {"log-file", "worker.log_file"},
    {"secret-file", "secret_file"}, {"log-level", "log.level"},      {"advertise", "worker.advertise"},
};

/* ---- data port: map outputs for reduce tasks on any worker ------------------ */

static void data_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    worker *w = arg;
    w->m.data_conns++;
    shuffle_server_accept(w->shuffles, fd);
}

/* ---- signals ---------------------------------------------------------------- */

/* Executors get STOP_GRACE_MS between SIGTERM and SIGKILL when the worker
 * stops (systemd's TimeoutStopSec is larger). */
#define STOP_GRACE_MS 3000

static void on_sigchld(evutil_socket_t s, short what, void *arg)
{
    worker *w = arg;
    pool_on_sigchld(w);
    if (w->stopping && !pool_alive(w)) event_base_loopexit(w->base, NULL);
}

static void on_sighup(evutil_socket_t s, short what, void *arg)
{
    worker *w = arg;
    logger_reopen(&w->log);
    log_msg(&w->log, LOG_INFO, "log reopened");
}

static void on_stop_grace(evutil_socket_t s, short what, void *arg)
{
    worker *w = arg;
    log_msg(&w->log, LOG_WARN, "executors still running after %d ms: killing them executors=%d", STOP_GRACE_MS,
            pool_alive(w));
    pool_end_all(w, SIGKILL);
    event_base_loopexit(w->base, NULL); /* main reaps them */
}

/* SIGTERM/SIGINT: take no more work (the driver link and the data port
 * close; the driver requeues our tasks), SIGTERM every executor, and leave
 * the loop when they are gone or after the grace period. A second signal
 * kills them at once. */
static void on_sigterm(evutil_socket_t s, short what, void *arg)
{
    worker *w = arg;
    if (w->stopping) {
        on_stop_grace(s, what, arg);
        return;
    }
    log_msg(&w->log, LOG_INFO, "stopping on signal %d executors=%d", (int)s, pool_alive(w));
    w->stopping = 1;
    listen_guard_stop(w->data_listener);
    httpd_stop(w->http);
    if (w->reconnect_ev) evtimer_del(w->reconnect_ev);
    pool_end_all(w, SIGTERM);
    if (w->driver) conn_close(w->driver, 1, "worker stopping");
    if (!pool_alive(w)) {
        struct timeval tv = {0, 100000}; /* time to flush the goodbye */
        event_base_loopexit(w->base, &tv);
        return;
    }
    w->stop_ev = evtimer_new(w->base, on_stop_grace, w);
    struct timeval tv = {STOP_GRACE_MS / 1000, (STOP_GRACE_MS % 1000) * 1000};
    evtimer_add(w->stop_ev, &tv);
}

static int bind_ports(worker *w, char *err, size_t errlen)
{
    if (daemon_check_bind(w->conf.worker_listen, &w->conf, err, errlen) < 0) return -1;
    if (daemon_check_bind(w->conf.worker_http, &w->conf, err, errlen) < 0) return -1;
    w->shuffles = shuffle_server_new(w->base, w->work_dir, &w->log, w->conf.net_max_frame);
    uint64_t data_cap, http_cap;
    daemon_conn_caps(&w->conf, &data_cap, &http_cap);
    shuffle_server_guard(w->shuffles, &w->secret, w->conf.net_handshake_timeout_ms, (size_t)data_cap);
    int dfd = net_listen(w->conf.worker_listen, &w->data_port, err, errlen);
    if (dfd < 0) return -1;
    w->data_listener = listen_guard_new(w->base, dfd, &w->log, "data", data_accept, w);
    int hfd = net_listen(w->conf.worker_http, &w->http_port, err, errlen);
    if (hfd < 0 || !w->data_listener) return -1;
    w->http = daemon_httpd(w->base, hfd, &w->log, &w->conf, &w->secret, http_cap, worker_http_serve, w); /* http.c */
    if (!w->http) return errf(err, errlen, "cannot serve HTTP on %s", w->conf.worker_http);
    const char *names[] = {"data", "http"};
    int ports[] = {w->data_port, w->http_port};
    return net_write_ports(w->work_dir, names, ports, 2, err, errlen);
}

/* Frees whatever start-up and the loop left, on every exit path. */
static void worker_release(worker *w)
{
    while (w->blobs) {
        wblob *b = w->blobs;
        w->blobs = b->next;
        blob_recv_abort(&b->rx);
        free(b);
    }
    while (w->execs) {
        wexec *x = w->execs;
        w->execs = x->next;
        if (x->deadline) event_free(x->deadline);
        munmap(x->status, sizeof *x->status);
        free(x);
    }
    listen_guard_free(w->data_listener);
    if (w->shuffles) shuffle_server_free(w->shuffles);
    /* connections closed above (data peers still connected, a host that
     * vanished without a FIN) are freed from the loop: run it once more */
    if (w->base) event_base_loop(w->base, EVLOOP_NONBLOCK);
    httpd_free(w->http);
    struct event *evs[] = {w->sigchld_ev,   w->sighup_ev,    w->sigterm_ev, w->sigint_ev,
                           w->heartbeat_ev, w->reconnect_ev, w->stop_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i]) event_free(evs[i]);
    if (w->base) event_base_free(w->base);
    logger_close(&w->log);
    conf_release(&w->conf);
    auth_secret_release(&w->secret);
    free(w->work_dir);
    free(w->cache_dir);
}

int main(int argc, char **argv)
{
    worker w;
    memset(&w, 0, sizeof w);
    w.started_wall_ms = wall_ms();
    w.log.fd = -1;
    char err[1024];
    int rc = 1;
    conf_init(&w.conf);
    if (daemon_parse_args(argc, argv, flags, sizeof flags / sizeof flags[0], &w.conf, usage, err, sizeof err) < 0) {
        fprintf(stderr, "kiln-worker: %s\n", err);
        rc = 2;
        goto out;
    }
    if (!w.conf.worker_driver || !*w.conf.worker_driver) {
        fprintf(stderr,
                "kiln-worker: no driver to join: pass --driver HOST:PORT, or set worker.driver in the config\n%s",
                usage);
        rc = 2;
        goto out;
    }
    int level = log_level_parse(w.conf.log_level);
    if (logger_open(&w.log, "worker", w.conf.worker_log_file, level < 0 ? LOG_INFO : (log_level)level, err,
                    sizeof err) < 0) {
        fprintf(stderr, "kiln-worker: %s\n", err);
        goto out;
    }
    char secret_path[PATH_MAX + 32];
    if (secret_resolve(&w.secret, w.conf.secret_file, secret_path, sizeof secret_path, err, sizeof err) < 0) {
        log_msg(&w.log, LOG_ERROR, "%s", err);
        if (w.conf.worker_log_file[0]) fprintf(stderr, "kiln-worker: %s\n", err);
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    w.slots = w.conf.worker_slots > 0 ? (int)w.conf.worker_slots : (int)sysconf(_SC_NPROCESSORS_ONLN);
    w.work_dir = xstrdup(w.conf.worker_work_dir);
    w.cache_dir = xasprintf("%s/cache", w.work_dir);
    if (mkdir_p(w.cache_dir, 0755, err, sizeof err) < 0) {
        log_msg(&w.log, LOG_ERROR, "%s", err);
        if (w.conf.worker_log_file[0]) fprintf(stderr, "kiln-worker: %s\n", err);
        goto out;
    }
    w.base = event_base_new();
    if (bind_ports(&w, err, sizeof err) < 0) { /* a port in use, say: on stderr too */
        log_msg(&w.log, LOG_ERROR, "%s", err);
        if (w.conf.worker_log_file[0]) fprintf(stderr, "kiln-worker: %s\n", err);
        goto out;
    }
    /* the address other workers reach us at: the advertised one, else the
     * listen host (or our name) and port */
    const char *ad = w.conf.worker_advertise && *w.conf.worker_advertise ? w.conf.worker_advertise : NULL;
    const char *hp = ad ? ad : w.conf.worker_listen;
    const char *colon = strrchr(hp, ':');
    w.advertised_port = w.data_port;
    if (ad && (!colon || (w.advertised_port = atoi(colon + 1)) <= 0 || w.advertised_port > 65535)) {
        log_msg(&w.log, LOG_ERROR, "worker.advertise %s: expected HOST:PORT", ad);
        fprintf(stderr, "kiln-worker: worker.advertise %s: expected HOST:PORT\n", ad);
        goto out;
    }
    snprintf(w.host, sizeof w.host, "%.*s", (int)(colon - hp), hp);
    if (!w.host[0] || !strcmp(w.host, "0.0.0.0") || !strcmp(w.host, "[::]")) gethostname(w.host, sizeof w.host - 1);
    char hn[200] = "";
    gethostname(hn, sizeof hn - 1);
    snprintf(w.name, sizeof w.name, "%s:%d", hn, w.data_port);

    w.sigchld_ev = evsignal_new(w.base, SIGCHLD, on_sigchld, &w);
    w.sighup_ev = evsignal_new(w.base, SIGHUP, on_sighup, &w);
    w.sigterm_ev = evsignal_new(w.base, SIGTERM, on_sigterm, &w);
    w.sigint_ev = evsignal_new(w.base, SIGINT, on_sigterm, &w);
    evsignal_add(w.sigchld_ev, NULL);
    evsignal_add(w.sighup_ev, NULL);
    evsignal_add(w.sigterm_ev, NULL);
    evsignal_add(w.sigint_ev, NULL);

    log_msg(&w.log, LOG_INFO,
            "worker started name=%s data_port=%d http_port=%d slots=%d work_dir=%s driver=%s auth=%s secret_file=%s "
            "secret=%s",
            w.name, w.data_port, w.http_port, w.slots, w.work_dir, w.conf.worker_driver,
            auth_enabled(&w.secret) ? "shared-secret" : "none", secret_path,
            w.conf.secret_file[0] ? "explicit" : "default");
    link_start(&w);
    event_base_dispatch(w.base);

    /* reap what is left so no executor outlives us */
    for (wexec *x = w.execs; x; x = x->next)
        if (!x->reaped) kill(x->pid, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0) {
    }
    log_msg(&w.log, LOG_INFO, "worker stopped");
    rc = 0;
out:
    worker_release(&w);
    return rc;
}
