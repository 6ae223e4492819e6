/*
 * main.c - kiln-driver: owns struct driver, parses flags, binds the RPC and
 * HTTP ports, writes the ports file, and runs the event loop. Connections
 * are rpc.c; scheduling is sched.c; the HTTP port's pages, API and
 * metrics are http.c and ui.c.
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
#include <unistd.h>

#include "daemon.h"
#include "httpd.h"
#include "listen.h"
#include "driver.h"
#include "msg.h"
#include "net.h"
#include "secret.h"
#include "util.h"

static const char usage[] =
    "usage: kiln-driver [--config FILE] [--listen HOST:PORT] [--http HOST:PORT]\n"
    "                   [--state-dir DIR] [--log-file FILE] [--secret-file FILE] [--log-level LEVEL]\n";

static const daemon_flag flags[] = {
    {"listen", "driver.listen"},     {"http", "driver.http"},        {"state-dir", "driver.state_dir"},
    {"log-file", "driver.log_file"}, {"secret-file", "secret_file"}, {"log-level", "log.level"},
};

static void rpc_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    rpc_accept(arg, fd);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    workers_tick(arg);
    store_tick(arg);
}

static void on_sighup(evutil_socket_t s, short what, void *arg)
{
    driver *d = arg;
    logger_reopen(&d->log);
    log_msg(&d->log, LOG_INFO, "log reopened");
}

static void on_sigterm(evutil_socket_t s, short what, void *arg)
{
    driver *d = arg;
    log_msg(&d->log, LOG_INFO, "stopping on signal %d", (int)s);
    listen_guard_stop(d->rpc_listener);
    httpd_stop(d->http);
    /* applications end (their workers end their executors), clients are told */
    rpc_close_all(d, "the driver is shutting down");
    struct timeval tv = {0, 200000}; /* time to flush the goodbyes */
    event_base_loopexit(d->base, &tv);
}

static int bind_ports(driver *d, char *err, size_t errlen)
{
    if (daemon_check_bind(d->conf.driver_listen, &d->conf, err, errlen) < 0) return -1;
    if (daemon_check_bind(d->conf.driver_http, &d->conf, err, errlen) < 0) return -1;
    int fd = net_listen(d->conf.driver_listen, &d->rpc_port, err, errlen);
    if (fd < 0) return -1;
    uint64_t http_cap;
    daemon_conn_caps(&d->conf, &d->rpc_max_conns, &http_cap);
    d->rpc_listener = listen_guard_new(d->base, fd, &d->log, "rpc", rpc_accept_cb, d);
    int hfd = net_listen(d->conf.driver_http, &d->http_port, err, errlen);
    if (hfd < 0 || !d->rpc_listener) return -1;
    d->http = daemon_httpd(d->base, hfd, &d->log, &d->conf, &d->secret, http_cap, http_serve, d); /* http.c */
    if (!d->http) return errf(err, errlen, "cannot serve HTTP on %s", d->conf.driver_http);
    log_msg(&d->log, LOG_INFO, "connection limits rpc=%llu http=%llu descriptors=%llu http_auth=%s",
            (unsigned long long)d->rpc_max_conns, (unsigned long long)http_cap,
            (unsigned long long)listen_nofile(), d->conf.http_public ? "public" : "token");
    const char *names[] = {"rpc", "http"};
    int ports[] = {d->rpc_port, d->http_port};
    return net_write_ports(d->state_dir, names, ports, 2, err, errlen);
}

/* Frees whatever start-up and the loop left, on every exit path. */
static void driver_release(driver *d)
{
    while (d->apps) {
        app *a = d->apps;
        d->apps = a->next;
        app_free(a);
    }
    while (d->workers) {
        dworker *w = d->workers;
        d->workers = w->next;
        free(w);
    }
    place_release(&d->place);
    listen_guard_free(d->rpc_listener);
    httpd_free(d->http);
    if (d->tick_ev) event_free(d->tick_ev);
    if (d->sighup_ev) event_free(d->sighup_ev);
    if (d->sigterm_ev) event_free(d->sigterm_ev);
    if (d->sigint_ev) event_free(d->sigint_ev);
    if (d->base) event_base_free(d->base);
    logger_close(&d->log);
    conf_release(&d->conf);
    auth_secret_release(&d->secret);
    free(d->state_dir);
    free(d->blob_dir);
}

int main(int argc, char **argv)
{
    driver d;
    memset(&d, 0, sizeof d);
    d.log.fd = -1;
    char err[1024];
    int rc = 1;
    conf_init(&d.conf);
    if (daemon_parse_args(argc, argv, flags, sizeof flags / sizeof flags[0], &d.conf, usage, err, sizeof err) < 0) {
        fprintf(stderr, "kiln-driver: %s\n", err);
        rc = 2;
        goto out;
    }
    int level = log_level_parse(d.conf.log_level);
    if (logger_open(&d.log, "driver", d.conf.driver_log_file, level < 0 ? LOG_INFO : (log_level)level, err,
                    sizeof err) < 0) {
        fprintf(stderr, "kiln-driver: %s\n", err);
        goto out;
    }
    char secret_path[PATH_MAX + 32];
    if (secret_resolve(&d.secret, d.conf.secret_file, secret_path, sizeof secret_path, err, sizeof err) < 0) {
        log_msg(&d.log, LOG_ERROR, "%s", err);
        if (d.conf.driver_log_file[0]) fprintf(stderr, "kiln-driver: %s\n", err);
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    d.state_dir = xstrdup(d.conf.driver_state_dir);
    d.blob_dir = xasprintf("%s/blobs", d.state_dir);
    if (mkdir_p(d.blob_dir, 0755, err, sizeof err) < 0) {
        log_msg(&d.log, LOG_ERROR, "%s", err);
        if (d.conf.driver_log_file[0]) fprintf(stderr, "kiln-driver: %s\n", err);
        goto out;
    }
    /* epoll changes are applied once per loop pass: a connection whose
     * output is written and refilled in the same pass (a task answered,
     * the next one launched) costs no epoll_ctl */
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    d.base = event_base_new_with_config(ec);
    event_config_free(ec);
    d.started_ms = now_ms();
    d.started_wall_ms = wall_ms();
    if (bind_ports(&d, err, sizeof err) < 0) { /* a port in use, say: on stderr too */
        log_msg(&d.log, LOG_ERROR, "%s", err);
        if (d.conf.driver_log_file[0]) fprintf(stderr, "kiln-driver: %s\n", err);
        goto out;
    }
    store_sweep(&d, 1);   /* what the last run left: no application runs yet */
    eventlog_startup(&d); /* finished applications of earlier runs, from their event logs */
    d.tick_ev = event_new(d.base, -1, EV_PERSIST, tick_cb, &d);
    struct timeval tick = {0, 250000};
    evtimer_add(d.tick_ev, &tick);
    d.sighup_ev = evsignal_new(d.base, SIGHUP, on_sighup, &d);
    d.sigterm_ev = evsignal_new(d.base, SIGTERM, on_sigterm, &d);
    d.sigint_ev = evsignal_new(d.base, SIGINT, on_sigterm, &d);
    evsignal_add(d.sighup_ev, NULL);
    evsignal_add(d.sigterm_ev, NULL);
    evsignal_add(d.sigint_ev, NULL);
    log_msg(&d.log, LOG_INFO, "driver started rpc_port=%d http_port=%d state_dir=%s auth=%s secret_file=%s secret=%s",
            d.rpc_port, d.http_port, d.state_dir, auth_enabled(&d.secret) ? "shared-secret" : "none", secret_path,
            d.conf.secret_file[0] ? "explicit" : "default");
    event_base_dispatch(d.base);
    log_msg(&d.log, LOG_INFO, "driver stopped");
    rc = 0;
out:
    driver_release(&d);
    return rc;
}
