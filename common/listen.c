/*
 * listen.c - listening sockets with back-off on resource exhaustion, and
 * the split of a daemon's descriptors between its ports (see listen.h).
 * Without the back-off a full descriptor table makes libevent call
 * accept() again at once, forever, and log each failure: one core spins
 * and the log grows by a line per try.
 */
#include "listen.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "util.h"

struct listen_guard {
    struct evconnlistener *l;
    struct event *resume;
    logger *log;
    char name[16];
    evconnlistener_cb cb;
    void *arg;
    ratelog rl;
    uint64_t backoffs;
    int stopped;
};

int ratelog_due(ratelog *r, uint64_t every_ms, uint64_t *suppressed)
{
    uint64_t now = now_ms();
    if (r->last_ms && now - r->last_ms < every_ms) {
        r->suppressed++;
        return 0;
    }
    *suppressed = r->suppressed;
    r->suppressed = 0;
    r->last_ms = now ? now : 1;
    return 1;
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    listen_guard *g = arg;
    if (!g->stopped) evconnlistener_enable(g->l);
}

/* The listener's argument is the guard (so error_cb finds it); each
 * accepted socket goes on to the owner's callback. */
static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    listen_guard *g = arg;
    g->cb(l, fd, sa, len, g->arg);
}

static void error_cb(struct evconnlistener *l, void *arg)
{
    listen_guard *g = arg;
    int e = EVUTIL_SOCKET_ERROR();
    g->backoffs++;
    /* any error that libevent does not retry by itself would repeat at
     * once: pause in every case, the exhaustion cases being the usual */
    evconnlistener_disable(l);
    struct timeval tv = {0, LISTEN_BACKOFF_MS * 1000};
    event_add(g->resume, &tv);
    uint64_t held;
    if (ratelog_due(&g->rl, LISTEN_LOG_EVERY_MS, &held))
        log_msg(g->log, LOG_WARN,
                "cannot accept connections port=%s error=\"%s\" paused_ms=%d repeated=%llu%s", g->name,
                strerror(e), LISTEN_BACKOFF_MS, (unsigned long long)held,
                e == EMFILE || e == ENFILE ? " (out of file descriptors: raise LimitNOFILE or lower http.max_connections)"
                                           : "");
}

listen_guard *listen_guard_new(struct event_base *base, int fd, logger *log, const char *name, evconnlistener_cb cb,
                               void *arg)
{
    listen_guard *g = xcalloc(1, sizeof *g);
    g->log = log;
    snprintf(g->name, sizeof g->name, "%s", name);
    g->cb = cb;
    g->arg = arg;
    g->l = evconnlistener_new(base, accept_cb, g, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (!g->l) {
        evutil_closesocket(fd);
        free(g);
        return NULL;
    }
    evconnlistener_set_error_cb(g->l, error_cb);
    g->resume = evtimer_new(base, resume_cb, g);
    return g;
}

void listen_guard_stop(listen_guard *g)
{
    if (!g) return;
    g->stopped = 1;
    evconnlistener_disable(g->l);
    event_del(g->resume);
}

uint64_t listen_guard_backoffs(const listen_guard *g)
{
    return g ? g->backoffs : 0;
}

void listen_guard_free(listen_guard *g)
{
    if (!g) return;
    evconnlistener_free(g->l);
    event_free(g->resume);
    free(g);
}

void listen_caps(uint64_t nofile, uint64_t want_rpc, uint64_t want_http, uint64_t *rpc, uint64_t *http)
{
    uint64_t left = nofile > LISTEN_FD_RESERVE ? nofile - LISTEN_FD_RESERVE : 0;
    uint64_t h = left / 4 < 4 ? 4 : left / 4;
    *http = want_http < h ? want_http : h;
    uint64_t r = left > *http + 8 ? left - *http : 8;
    *rpc = want_rpc < r ? want_rpc : r;
}

uint64_t listen_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) return UINT64_MAX / 2;
    return (uint64_t)rl.rlim_cur;
}
