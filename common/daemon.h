/*
 * daemon.h - what kiln-driver and kiln-worker share at start-up: parsing
 * flags over the config file, the loopback rule, the ports file.
 */
#ifndef KILN_DAEMON_H
#define KILN_DAEMON_H

#include <stddef.h>

#include "auth.h"
#include "conf.h"
#include "httpd.h"

/* One command-line flag that sets a config key. */
typedef struct daemon_flag {
    const char *flag; /* "listen" for --listen */
    const char *key;  /* "driver.listen" */
} daemon_flag;

/* Parses argv: --config FILE first (loaded before any flag), then each
 * --flag VALUE (or --flag=VALUE) mapped through flags to conf_set.
 * --help prints usage and exits 0. 0, or -1 with a message. */
int daemon_parse_args(int argc, char **argv, const daemon_flag *flags, size_t nflags, kiln_conf *c, const char *usage,
                      char *err, size_t errlen);

/* Refuses to listen on a non-loopback address unless a secret file is
 * named (--secret-file or secret_file; the default secret does not count).
 * 0, or -1 with a message. */
int daemon_check_bind(const char *hostport, const kiln_conf *c, char *err, size_t errlen);

/* The connection limits of this process's ports, from the configuration
 * and the descriptor limit (listen_caps): *port_cap for the RPC or data
 * port, *http_cap for the HTTP port. */
void daemon_conn_caps(const kiln_conf *c, uint64_t *port_cap, uint64_t *http_cap);

/* Serves the HTTP port fd (taken) with the configuration's limits and, unless
 * http.public, the credentials derived from secret. NULL on failure
 * (and when there is no secret to derive them from). */
httpd *daemon_httpd(struct event_base *base, int fd, logger *log, const kiln_conf *c, const auth_secret *secret,
                    uint64_t http_cap, httpd_serve_fn serve, void *arg);

#endif
