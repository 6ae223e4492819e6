/*
 * text.c - text for people (see text.h): HTML-escaping whatever a client
 * or a worker named itself before a status page prints it, and grouped
 * digits for the planner's refusals, sizes for the limits' messages. No
 * state, no I/O.
 */
#include "text.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static const char *html_entity(char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

char *html_escape(const char *s)
{
    if (!s) s = "";
    size_t n = 0;
    for (const char *p = s; *p; p++) {
        const char *e = html_entity(*p);
        n += e ? strlen(e) : 1;
    }
    char *out = xmalloc(n + 1), *q = out;
    for (const char *p = s; *p; p++) {
        const char *e = html_entity(*p);
        if (e) {
            size_t el = strlen(e);
            memcpy(q, e, el);
            q += el;
        } else {
            *q++ = *p;
        }
    }
    *q = '\0';
    return out;
}

char *fmt_grouped(uint64_t v, char *buf, size_t len)
{
    char digits[21], tmp[27];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t k = 0;
    for (int i = 0; i < nd; i++) {
        if (i && (nd - i) % 3 == 0) tmp[k++] = ',';
        tmp[k++] = digits[i];
    }
    tmp[k] = '\0';
    if (len) snprintf(buf, len, "%s", tmp);
    return buf;
}

char *fmt_size(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    int u = -1;
    double v = (double)n;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%llu bytes", (unsigned long long)n);
    else
        snprintf(buf, len, "%g %s", v, units[u]);
    return buf;
}
