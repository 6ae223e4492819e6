/*
 * listen.h - a listening socket that cannot spin: when accept() fails for
 * want of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the
 * guard stops watching the socket for LISTEN_BACKOFF_MS, so the loop
 * serves everything else meanwhile, and logs it at most once per
 * LISTEN_LOG_EVERY_MS with how often it happened. Also: how a daemon
 * splits its descriptor limit between its ports, and a log line's rate
 * limit for events a peer can repeat at will.
 *
 * Borrows the event base and the logger; owns the listener (and closes
 * the socket when freed).
 */
#ifndef KILN_LISTEN_H
#define KILN_LISTEN_H

#include <event2/listener.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define LISTEN_BACKOFF_MS   250
#define LISTEN_LOG_EVERY_MS 10000
/* Descriptors a daemon keeps for its files (logs, blobs, shuffle files)
 * and what its children need, outside every port's connection limit. */
#define LISTEN_FD_RESERVE 64

/* At most one log line per interval: ratelog_due says whether to write
 * one now, and how many were held back since the last (then reset). */
typedef struct ratelog {
    uint64_t last_ms;    /* when the last line was written, 0 never */
    uint64_t suppressed; /* events since then without a line */
} ratelog;
int ratelog_due(ratelog *r, uint64_t every_ms, uint64_t *suppressed);

typedef struct listen_guard listen_guard;

/* Listens on fd (taken) with cb for each accepted socket. name says which
 * port in log lines ("rpc", "http", "data"). */
listen_guard *listen_guard_new(struct event_base *base, int fd, logger *log, const char *name, evconnlistener_cb cb,
                               void *arg);
/* Stops accepting for good (shutdown): no back-off timer re-enables it. */
void listen_guard_stop(listen_guard *g);
/* Times accept() failed for want of resources since the start. */
uint64_t listen_guard_backoffs(const listen_guard *g);
void listen_guard_free(listen_guard *g);

/* The connection limits of a daemon whose descriptor limit is nofile:
 * HTTP gets at most a quarter of what is left after LISTEN_FD_RESERVE
 * (at least 4), the RPC or data port the rest (at least 8), each at most
 * what is configured. So idle HTTP connections never take the
 * descriptors a client or a worker needs. */
void listen_caps(uint64_t nofile, uint64_t want_rpc, uint64_t want_http, uint64_t *rpc, uint64_t *http);
/* The soft RLIMIT_NOFILE (a large number when unlimited). */
uint64_t listen_nofile(void);

#endif
