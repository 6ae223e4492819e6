/*
 * daemon.c - shared start-up of the daemons: flags over the config file,
 * and the rule that without an explicit secret a daemon listens on
 * loopback only. The default secret (common/secret.c) is a file of this
 * host's, which no other machine has: a cluster that spans machines names
 * its secret, and a daemon that was given none stays on loopback.
 */
#include "daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "net.h"
#include "util.h"
#include "version.h"

int daemon_parse_args(int argc, char **argv, const daemon_flag *flags, size_t nflags, kiln_conf *c, const char *usage,
                      char *err, size_t errlen)
{
    /* the config file first, wherever --config appears */
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            v = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            v = argv[i] + 9;
        if (v && conf_load_file(c, v, err, errlen) < 0) return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
        if (!strcmp(a, "--version")) {
            const char *prog = strrchr(argv[0], '/');
            printf("%s %s\n", prog ? prog + 1 : argv[0], KILN_VERSION);
            exit(0);
        }
        if (strncmp(a, "--", 2)) return errf(err, errlen, "unexpected argument '%s'\n%s", a, usage);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int is_config = nlen == 6 && !strncmp(name, "config", 6);
        const daemon_flag *f = NULL;
        for (size_t k = 0; k < nflags; k++)
            if (strlen(flags[k].flag) == nlen && !strncmp(flags[k].flag, name, nlen)) f = &flags[k];
        if (!f && !is_config) return errf(err, errlen, "unknown option --%.*s\n%s", (int)nlen, name, usage);
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        if (!val) return errf(err, errlen, "--%.*s needs a value", (int)nlen, name);
        if (!eq) i++;
        if (is_config) continue;
        char e2[512];
        if (conf_set(c, f->key, val, e2, sizeof e2) < 0) return errf(err, errlen, "--%s: %s", f->flag, e2);
    }
    return 0;
}

int daemon_check_bind(const char *hostport, const kiln_conf *c, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (net_parse_addr(hostport, &ss, &sl, err, errlen) < 0) return -1;
    if (c->secret_file && *c->secret_file) return 0;
    if (!net_is_loopback(&ss))
        return errf(err, errlen,
                    "refusing to listen on %s without an explicit shared secret (the default secret is for this "
                    "host's own programs): use a loopback address or --secret-file",
                    hostport);
    return 0;
}

void daemon_conn_caps(const kiln_conf *c, uint64_t *port_cap, uint64_t *http_cap)
{
    listen_caps(listen_nofile(), (uint64_t)c->net_max_connections, (uint64_t)c->http_max_connections, port_cap,
                http_cap);
}

httpd *daemon_httpd(struct event_base *base, int fd, logger *log, const kiln_conf *c, const auth_secret *secret,
                    uint64_t http_cap, httpd_serve_fn serve, void *arg)
{
    char token[HTTPD_TOKEN_HEX + 1] = "";
    if (!c->http_public && !auth_enabled(secret)) return NULL; /* no secret to derive the token from */
    if (!c->http_public) httpd_token(secret->key, secret->len, token);
    httpd_opts o = {.max_conns = http_cap, .timeout_ms = c->http_timeout_ms, .token = token,
                    .metrics_public = c->http_metrics_public};
    httpd *h = httpd_new(base, fd, log, &o, serve, arg);
    memset(token, 0, sizeof token);
    return h;
}
