/*
 * shuffle_serve.h - the worker's data port: byte ranges of shuffle files
 * for the executors of other workers (FetchRequest -> FetchData pieces,
 * streamed with backpressure, never reading a whole file into memory).
 */
#ifndef KILN_SHUFFLE_SERVE_H
#define KILN_SHUFFLE_SERVE_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "log.h"

typedef struct shuffle_server shuffle_server;
/* Borrows base, work_dir and log. */
shuffle_server *shuffle_server_new(struct event_base *base, const char *work_dir, logger *log, size_t max_frame);
void shuffle_server_free(shuffle_server *s);
/* Guards the data port: connections must authenticate with secret (borrowed,
 * must outlive s; NULL or empty: no authentication) and finish their
 * handshake within handshake_ms (0: no limit); at most max_conns are open
 * at once (0: no limit), a new one beyond is logged and closed. */
void shuffle_server_guard(shuffle_server *s, const auth_secret *secret, uint64_t handshake_ms, size_t max_conns);
/* Takes an accepted data-port connection (expects the handshake, then
 * requests). */
void shuffle_server_accept(shuffle_server *s, evutil_socket_t fd);
/* Counters for status pages. */
uint64_t shuffle_server_bytes(const shuffle_server *s);
uint64_t shuffle_server_requests(const shuffle_server *s);
/* Data-port handshakes refused (a wrong or missing secret, version, role). */
uint64_t shuffle_server_handshake_failures(const shuffle_server *s);

#endif
