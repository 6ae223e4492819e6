/*
 * httpd.h - what the driver's and the worker's status servers share: the
 * shape of a request (GET or HEAD, a decoded path split into parts) and of
 * a reply (its headers, JSON, Prometheus text, escaped HTML).
 *
 * Each daemon keeps its own routes (driver/http.c, worker/http.c); this
 * holds what they would otherwise each write again.
 */
#ifndef KILN_HTTPD_H
#define KILN_HTTPD_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

struct evbuffer;
struct evhttp_request;

/* A request's path: its decoded components (pointers into path). */
typedef struct httpd_path {
    char *path;     /* decoded, owned */
    char *parts[8]; /* non-empty components */
    size_t n;       /* how many; HTTPD_TOO_DEEP when over 8 */
} httpd_path;
#define HTTPD_TOO_DEEP ((size_t)-1)

/* Starts serving req: a method other than GET and HEAD is answered 405
 * (with Allow) and this returns -1; else p holds the path (release it
 * with httpd_path_release) and this returns 0. */
int httpd_begin(struct evhttp_request *req, struct evbuffer *b, httpd_path *p);
void httpd_path_release(httpd_path *p);

/* Sends b with status code (200, 404 or 405), Content-Type type, and
 * headers that keep browsers from caching or sniffing it. */
void httpd_reply(struct evhttp_request *req, int code, const char *type, struct evbuffer *b);
/* Sends o (taken) as indented JSON; NULL sends 404 {"error": "not found"}. */
void httpd_reply_json(struct evhttp_request *req, json_t *o, struct evbuffer *b);
/* Sends what write(arg, f) prints as Prometheus text. */
void httpd_reply_metrics(struct evhttp_request *req, struct evbuffer *b, void (*write)(void *arg, FILE *f), void *arg);

/* Appends s escaped for HTML (a name from the network, an error). */
void httpd_put_esc(struct evbuffer *b, const char *s);

#define HTTPD_HTML "text/html; charset=utf-8"

#endif
