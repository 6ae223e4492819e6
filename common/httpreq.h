/*
 * httpreq.h - an HTTP/1.x request head, parsed from bytes (pure: no
 * sockets, no state; unit-tested and fuzzed as fuzz_http).
 *
 * The status servers take only bounded heads: httpreq_head_end finds the
 * blank line that ends one, scanning each byte once however the head
 * arrives (the caller keeps the scan position between reads), and the
 * caller refuses a head over HTTPREQ_MAX_HEAD before it is complete, so
 * what a peer sends costs linear CPU and bounded memory.
 */
#ifndef KILN_HTTPREQ_H
#define KILN_HTTPREQ_H

#include <stddef.h>
#include <stdint.h>

#define HTTPREQ_MAX_HEAD    8192 /* request line and headers, bytes */
#define HTTPREQ_MAX_HEADERS 64

typedef struct httpreq_header {
    const char *name, *value; /* into the request's copy; value trimmed */
} httpreq_header;

typedef struct httpreq {
    char *buf;          /* owned: the head, NUL-split in place */
    const char *method; /* "GET", ... */
    const char *target; /* the raw request target ("/app/x?token=...") */
    int minor;          /* HTTP/1.minor */
    httpreq_header headers[HTTPREQ_MAX_HEADERS];
    size_t nheaders;
    int64_t content_length; /* -1 when absent */
    int has_body_coding;    /* a Transfer-Encoding header is present */
} httpreq;

/* Where the head in p[0..len) ends (the offset just past its blank line,
 * CRLF CRLF or LF LF), or 0 when it has not arrived yet. *scanned is where
 * the previous call stopped (0 at first); it is updated, so each byte is
 * looked at once over all calls. */
size_t httpreq_head_end(const char *p, size_t len, size_t *scanned);

/* Parses a whole head of len bytes (copied: p is borrowed). 0, or the HTTP
 * status to refuse it with (400 malformed, 431 too many headers, 505
 * not HTTP/1.x), with a short reason in why. r must be released either
 * way. */
int httpreq_parse(httpreq *r, const char *p, size_t len, const char **why);
void httpreq_release(httpreq *r);

/* The value of the first header called name (any case), or NULL. */
const char *httpreq_header_get(const httpreq *r, const char *name);

/* The value of cookie name in a Cookie header's text, copied into out
 * (NUL-terminated, at most outlen - 1 bytes). 1 when found, else 0. */
int httpreq_cookie(const char *cookies, const char *name, char *out, size_t outlen);

/* The value of parameter name in a query string ("a=1&token=x"), copied
 * into out undecoded. 1 when found, else 0. */
int httpreq_query_param(const char *query, const char *name, char *out, size_t outlen);

#endif
