/*
 * logsect.c - the sections of an executor log (see logsect.h): the header
 * line the executor writes before each task, and the filter that keeps the
 * sections `kiln logs --task/--job` select. Pure functions over bytes; no
 * I/O. The one idea: a header only ever starts a line, so the filter reads
 * whole lines and holds back only the unfinished last one (which might
 * become a header, and which a reader in pieces would otherwise see cut).
 */
#include "logsect.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

size_t logsect_header(char *buf, size_t cap, uint64_t task, uint32_t job, uint32_t stage, uint32_t partition,
                      uint32_t attempt, uint64_t wall_ms)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    int n = snprintf(buf, cap, LOGSECT_PREFIX "%llu job %u stage %u partition %u attempt %u at %s.%03uZ ===\n",
                     (unsigned long long)task, job, stage, partition, attempt, ts, (unsigned)(wall_ms % 1000));
    if (n < 0) return 0;
    return (size_t)n < cap ? (size_t)n : cap ? cap - 1 : 0;
}

/* Reads a decimal number at *p (before end); 0 when there is none. */
static int read_number(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    const uint8_t *s = *p;
    uint64_t r = 0;
    while (s < end && *s >= '0' && *s <= '9' && s - *p < 20) {
        r = r * 10 + (uint64_t)(*s - '0');
        s++;
    }
    if (s == *p) return 0;
    *p = s;
    *v = r;
    return 1;
}

int logsect_parse_header(const uint8_t *line, size_t n, uint64_t *task, uint32_t *job)
{
    static const char prefix[] = LOGSECT_PREFIX, job_word[] = " job ";
    const size_t plen = sizeof prefix - 1, jlen = sizeof job_word - 1;
    const uint8_t *p = line, *end = line + n;
    if (n < plen || memcmp(p, prefix, plen)) return 0;
    p += plen;
    uint64_t t, j;
    if (!read_number(&p, end, &t)) return 0;
    if ((size_t)(end - p) < jlen || memcmp(p, job_word, jlen)) return 0;
    p += jlen;
    if (!read_number(&p, end, &j) || j > UINT32_MAX) return 0;
    if (p < end && *p != ' ' && *p != '\n') return 0;
    *task = t;
    *job = (uint32_t)j;
    return 1;
}

static int selects(const logsect_sel *sel, uint64_t task, uint32_t job)
{
    return (!sel->task || sel->task == task) && (!sel->job || sel->job == job);
}

/* An unfinished line of n bytes that may still turn into a header. */
static int may_be_header(const uint8_t *p, size_t n)
{
    size_t plen = sizeof LOGSECT_PREFIX - 1;
    if (n >= LOGSECT_HEADER_MAX) return 0;
    return !memcmp(p, LOGSECT_PREFIX, n < plen ? n : plen);
}

size_t logsect_filter(const logsect_sel *sel, logsect_state *st, const uint8_t *p, size_t n, int final, uint8_t *out,
                      size_t *outlen)
{
    int all = !sel->task && !sel->job; /* nothing selected: everything is kept */
    if (all) st->inside = 1;
    *outlen = 0;
    size_t i = 0;
    while (i < n) {
        const uint8_t *nl = memchr(p + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - p) + 1 : n;
        /* an unfinished line waits for its end, unless it is all there is
         * (a line longer than the piece) and cannot be a header */
        if (!nl && !final && (i > 0 || (!st->midline && may_be_header(p + i, n - i)))) break;
        if (!st->midline && !all) {
            uint64_t task;
            uint32_t job;
            if (logsect_parse_header(p + i, end - i, &task, &job)) st->inside = selects(sel, task, job);
        }
        if (st->inside) {
            memcpy(out + *outlen, p + i, end - i);
            *outlen += end - i;
        }
        st->midline = !nl;
        i = end;
    }
    return i;
}

int logsect_file_name_ok(const char *name, unsigned *index)
{
    static const char pre[] = "executor-", suf[] = ".log";
    size_t n = strlen(name), plen = sizeof pre - 1, slen = sizeof suf - 1;
    if (n <= plen + slen || n > plen + slen + 9) return 0;
    if (memcmp(name, pre, plen) || memcmp(name + n - slen, suf, slen)) return 0;
    const char *d = name + plen, *e = name + n - slen;
    if (*d == '0' && e - d > 1) return 0;
    unsigned v = 0;
    for (; d < e; d++) {
        if (*d < '0' || *d > '9') return 0;
        v = v * 10 + (unsigned)(*d - '0');
    }
    *index = v;
    return 1;
}
