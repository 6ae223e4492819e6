/*
 * httpd.h - the HTTP server both daemons' status ports run, and the
 * shapes of its requests and replies (a decoded path split into parts,
 * reply headers, JSON, Prometheus text, escaped HTML).
 *
 * A small HTTP/1.1 server on the daemon's event loop, made to be safe
 * when anyone can reach it:
 *   - at most max_conns connections; one beyond is answered 503 and
 *     closed at once; the listener backs off when descriptors run out
 *     (listen.h);
 *   - a request head must arrive whole within timeout_ms and be at most
 *     HTTPREQ_MAX_HEAD bytes (431 beyond, read no further); each byte is
 *     read and scanned once;
 *   - GET and HEAD only (405 with Allow), and no request body at all
 *     (413): no endpoint takes one, so none is ever buffered;
 *   - a reply that the peer does not read within timeout_ms closes the
 *     connection; every connection ends after its one reply;
 *   - with a token, every path but /health needs it (and /metrics too
 *     unless metrics_public): "Authorization: Bearer TOKEN", or the
 *     cookie kiln_token=TOKEN that the login URL /?token=TOKEN sets
 *     (HttpOnly, SameSite=Strict) before redirecting to the same path
 *     without the token. Anything else is 401.
 * Each daemon keeps its own routes (driver/http.c, worker/http.c) behind
 * one serve callback; this holds what they would otherwise each write.
 *
 * Borrows the event base and the logger; owns its listener and
 * connections.
 */
#ifndef KILN_HTTPD_H
#define KILN_HTTPD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

struct evbuffer;
struct event_base;

typedef struct httpd httpd;
typedef struct httpd_req httpd_req;

#define HTTPD_TOKEN_HEX 64 /* a token's length in hex digits */
#define HTTPD_COOKIE    "kiln_token"

typedef struct httpd_opts {
    uint64_t max_conns;   /* connections open at once */
    uint64_t timeout_ms;  /* for a request head to arrive, and for a reply to leave */
    const char *token;    /* HTTPD_TOKEN_HEX hex digits; NULL or "" = no credentials needed */
    int metrics_public;   /* /metrics without the token */
} httpd_opts;

typedef void (*httpd_serve_fn)(httpd_req *req, void *arg);

/* Serves HTTP on the listening socket fd (taken), calling serve for every
 * request that passed the checks above; serve must answer it (httpd_reply
 * and the like) before it returns. NULL when the listener cannot be made. */
httpd *httpd_new(struct event_base *base, int fd, logger *log, const httpd_opts *o, httpd_serve_fn serve, void *arg);
/* Stops accepting (shutdown); open connections finish. */
void httpd_stop(httpd *s);
void httpd_free(httpd *s);
/* The server's counters as Prometheus families named PREFIX_http_... */
void httpd_metrics(const httpd *s, FILE *f, const char *prefix);

/* The login token for a secret's bytes: HMAC-SHA256(secret,
 * "kiln-http-token") in hex, into out (HTTPD_TOKEN_HEX + 1 bytes). */
void httpd_token(const uint8_t *secret, size_t len, char out[HTTPD_TOKEN_HEX + 1]);

/* A request's path: its decoded components (pointers into path). */
typedef struct httpd_path {
    char *path;     /* decoded, owned */
    char *parts[8]; /* non-empty components */
    size_t n;       /* how many; HTTPD_TOO_DEEP when over 8 */
} httpd_path;
#define HTTPD_TOO_DEEP ((size_t)-1)

/* Starts serving req: p holds its decoded path (release it with
 * httpd_path_release); returns 0. (Methods and credentials were checked
 * before serve was called.) b is where the reply's body goes. */
int httpd_begin(httpd_req *req, struct evbuffer *b, httpd_path *p);
void httpd_path_release(httpd_path *p);

/* Adds a header to req's reply (name and value are copied). */
void httpd_add_header(httpd_req *req, const char *name, const char *value);
/* Sends b (emptied) with status code, Content-Type type, and headers that
 * keep browsers from caching or sniffing it. A HEAD request gets the
 * headers only. */
void httpd_reply(httpd_req *req, int code, const char *type, struct evbuffer *b);
/* Sends o (taken) as indented JSON; NULL sends 404 {"error": "not found"}. */
void httpd_reply_json(httpd_req *req, json_t *o, struct evbuffer *b);
/* Sends what write(arg, f) prints as Prometheus text. */
void httpd_reply_metrics(httpd_req *req, struct evbuffer *b, void (*write)(void *arg, FILE *f), void *arg);

/* Appends s escaped for HTML (a name from the network, an error). */
void httpd_put_esc(struct evbuffer *b, const char *s);

#define HTTPD_HTML "text/html; charset=utf-8"

/* The one style sheet of every page both daemons serve (inline). */
extern const char httpd_style[];

#endif
