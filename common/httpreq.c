/*
 * httpreq.c - parsing an HTTP/1.x request head (see httpreq.h). Pure
 * functions over bytes: what arrives from the network is validated here
 * (token characters, no control bytes, no folded lines, one
 * Content-Length) before the server looks at any of it.
 */
#include "httpreq.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

size_t httpreq_head_end(const char *p, size_t len, size_t *scanned)
{
    size_t i = *scanned;
    for (; i < len; i++) {
        if (p[i] != '\n') continue;
        /* LF LF, or CR LF CR LF, ends the head */
        if (i >= 1 && p[i - 1] == '\n') return *scanned = i + 1;
        if (i >= 3 && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') return *scanned = i + 1;
    }
    *scanned = len;
    return 0;
}

/* RFC 9110 tchar */
static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || strchr("!#$%&'*+-.^_`|~", c);
}

/* Cuts the next line at *pos (LF or CRLF ending) and returns it, or NULL
 * at the end; *bad is set when it holds a CR elsewhere or a control byte
 * other than HTAB. */
static char *next_line(char *buf, size_t len, size_t *pos, int *bad)
{
    if (*pos >= len) return NULL;
    char *line = buf + *pos;
    char *nl = memchr(line, '\n', len - *pos);
    size_t n = nl ? (size_t)(nl - line) : len - *pos;
    *pos += n + (nl != NULL);
    if (n && line[n - 1] == '\r') n--;
    line[n] = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) *bad = 1;
    }
    return line;
}

int httpreq_parse(httpreq *r, const char *p, size_t len, const char **why)
{
    memset(r, 0, sizeof *r);
    r->content_length = -1;
    static const char *ignored;
    if (!why) why = &ignored;
    r->buf = xmalloc(len + 1);
    memcpy(r->buf, p, len);
    r->buf[len] = 0;
    size_t pos = 0;
    int bad = 0;
    char *line = next_line(r->buf, len, &pos, &bad);
    if (!line || bad || !*line) return *why = "bad request line", 400;
    /* METHOD SP TARGET SP HTTP/1.x */
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || strchr(sp2 + 1, ' ') || sp1 == line) return *why = "bad request line", 400;
    *sp1 = *sp2 = 0;
    for (char *c = line; *c; c++)
        if (!is_tchar((unsigned char)*c)) return *why = "bad method", 400;
    r->method = line;
    r->target = sp1 + 1;
    if (r->target[0] != '/') return *why = "the target must be a path", 400;
    for (const char *c = r->target; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) return *why = "bad target", 400;
    const char *v = sp2 + 1;
    if (strncmp(v, "HTTP/", 5)) return *why = "bad version", 400;
    if (strncmp(v, "HTTP/1.", 7) || v[7] < '0' || v[7] > '9' || v[8]) return *why = "only HTTP/1.x", 505;
    r->minor = v[7] - '0';
    while ((line = next_line(r->buf, len, &pos, &bad))) {
        if (!*line) break; /* the blank line */
        if (bad) return *why = "control byte in a header", 400;
        if (*line == ' ' || *line == '\t') return *why = "folded header line", 400;
        char *colon = strchr(line, ':');
        if (!colon || colon == line) return *why = "bad header line", 400;
        *colon = 0;
        for (char *c = line; *c; c++)
            if (!is_tchar((unsigned char)*c)) return *why = "bad header name", 400;
        char *val = colon + 1;
        while (*val == ' ' || *val == '\t')
            val++;
        size_t vn = strlen(val);
        while (vn && (val[vn - 1] == ' ' || val[vn - 1] == '\t'))
            val[--vn] = 0;
        if (r->nheaders == HTTPREQ_MAX_HEADERS) return *why = "too many headers", 431;
        r->headers[r->nheaders].name = line;
        r->headers[r->nheaders].value = val;
        r->nheaders++;
        if (!strcasecmp(line, "Content-Length")) {
            if (r->content_length >= 0) return *why = "two Content-Length headers", 400;
            if (!*val || vn > 18 || strspn(val, "0123456789") != vn) return *why = "bad Content-Length", 400;
            r->content_length = strtoll(val, NULL, 10);
        } else if (!strcasecmp(line, "Transfer-Encoding")) {
            r->has_body_coding = 1;
        }
    }
    return 0;
}

void httpreq_release(httpreq *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

const char *httpreq_header_get(const httpreq *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
    return NULL;
}

/* Finds name=value in s, items separated by sep (spaces around items
 * skipped); copies the value. */
static int find_item(const char *s, char sep, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    while (s && *s) {
        while (*s == ' ' || *s == '\t')
            s++;
        const char *end = strchr(s, sep);
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (n > nl && !strncmp(s, name, nl) && s[nl] == '=') {
            size_t vn = n - nl - 1;
            while (vn && (s[nl + 1 + vn - 1] == ' ' || s[nl + 1 + vn - 1] == '\t'))
                vn--;
            if (vn >= outlen) return 0;
            memcpy(out, s + nl + 1, vn);
            out[vn] = 0;
            return 1;
        }
        s = end ? end + 1 : NULL;
    }
    return 0;
}

int httpreq_cookie(const char *cookies, const char *name, char *out, size_t outlen)
{
    return find_item(cookies, ';', name, out, outlen);
}

int httpreq_query_param(const char *query, const char *name, char *out, size_t outlen)
{
    return find_item(query, '&', name, out, outlen);
}
