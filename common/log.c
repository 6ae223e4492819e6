/*
 * log.c - a daemon's log: one line per event,
 *   2026-11-21T23:57:22.123Z INFO driver: task finished app=... task=7
 * appended to a file or written to stderr.
 *
 * The one idea: every line is formatted whole into a stack buffer and
 * handed to a single write(2) on an O_APPEND descriptor, so lines from
 * several processes sharing a file never interleave, and no stdio buffer
 * can hold a line back or lose it in a crash. Nothing in a message can
 * break a line: newlines, carriage returns and other control characters
 * are escaped, and a line longer than LOG_LINE_MAX is cut, ending "...".
 *
 * Owns: the logger's descriptor and path copy (never stderr itself). Does
 * not touch: signals; the daemon calls logger_reopen from its own SIGHUP
 * callback, in ordinary code, when logrotate has moved the file.
 */
#include <stddef.h> /* log.h uses size_t */

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Longest line written, newline included. */
#define LOG_LINE_MAX 4096

#define LOG_OPEN_FLAGS (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC)
#define LOG_MODE       0640

static const char *const level_words[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Opens path for appending (NULL or "" = stderr); borrows component and
 * path (the logger keeps its own copy of path). On failure err names the
 * path and l is left logging to stderr, so it can still be used. */
int logger_open(logger *l, const char *component, const char *path, log_level min, char *err, size_t errlen)
{
    int fd;

    memset(l, 0, sizeof *l);
    snprintf(l->component, sizeof l->component, "%s", component ? component : "");
    l->min = min;
    l->path = NULL;
    l->fd = STDERR_FILENO;
    if (!path || !*path) return 0;

    fd = open(path, LOG_OPEN_FLAGS, LOG_MODE);
    if (fd < 0) {
        if (err && errlen > 0) snprintf(err, errlen, "cannot open log file '%s': %s", path, strerror(errno));
        return -1;
    }
    l->path = strdup(path);
    if (!l->path) abort(); /* control-plane allocation failure */
    l->fd = fd;
    return 0;
}

/* Opens the path anew and puts the new file under the old descriptor
 * number (dup3, keeping close-on-exec), so the fd stays stable. Nothing to
 * do for stderr. On failure (errno set) the old file stays in use. */
int logger_reopen(logger *l)
{
    int fd, saved;

    if (!l->path) return 0;
    fd = open(l->path, LOG_OPEN_FLAGS, LOG_MODE);
    if (fd < 0) return -1;
    if (l->fd < 0) {
        l->fd = fd; /* no number to keep */
        return 0;
    }
    if (fd != l->fd && dup3(fd, l->fd, O_CLOEXEC) < 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (fd != l->fd) close(fd);
    return 0;
}

/* Closes the file (never stderr) and frees the path; later messages are
 * dropped. Closing twice is harmless. */
void logger_close(logger *l)
{
    if (l->path && l->fd >= 0) /* with a path, fd is ours; else stderr */
        close(l->fd);
    free(l->path);
    l->path = NULL;
    l->fd = -1;
}

/* "debug", "info", "warn", "error" (any case) -> level; -1 when unknown. */
int log_level_parse(const char *s)
{
    if (!s) return -1;
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (strcasecmp(s, level_names[i]) == 0) return (int)i;
    return -1;
}

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) for now into buf; returns its
 * length. */
static size_t format_time(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    size_t n;
    int m;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    m = snprintf(buf + n, len - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
    return m > 0 ? n + (size_t)m : n;
}

/* Writes all of buf, retrying on EINTR and after a partial write (which
 * only a pipe or terminal can do; a file takes a line in one write). */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; /* nowhere to report it */
        buf += n;
        len -= (size_t)n;
    }
}

/* Writes one line; see log.h. Keeps errno as it was, so callers can log a
 * failure and then still look at errno. */
void log_msg(logger *l, log_level lvl, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX], line[LOG_LINE_MAX];
    const size_t limit = sizeof line - 1; /* room for the newline */
    size_t pos, safe;
    int saved = errno, n, truncated;
    va_list ap;

    if (lvl < l->min || l->fd < 0) return;
    if ((unsigned)lvl > LOG_ERROR) lvl = LOG_ERROR;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = snprintf(msg, sizeof msg, "(bad log format '%s')", fmt);
    truncated = (size_t)n >= sizeof msg;

    pos = format_time(line, sizeof line);
    n = snprintf(line + pos, sizeof line - pos, " %s %s: ", level_words[lvl], l->component);
    pos += (size_t)n; /* at most ~70 bytes: always fits */

    /* Copy the message, escaping; safe is the last end that leaves room
     * for "..." should the rest not fit. */
    safe = pos;
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        char esc[5];
        size_t elen;

        if (*p == '\n') {
            memcpy(esc, "\\n", elen = 2);
        } else if (*p == '\r') {
            memcpy(esc, "\\r", elen = 2);
        } else if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", *p);
            elen = 4;
        } else {
            esc[0] = (char)*p;
            elen = 1;
        }
        if (pos + elen > limit) {
            truncated = 1;
            break;
        }
        memcpy(line + pos, esc, elen);
        pos += elen;
        if (pos + 3 <= limit) safe = pos;
    }
    if (truncated) {
        pos = safe;
        memcpy(line + pos, "...", 3);
        pos += 3;
    }
    line[pos++] = '\n';

    write_all(l->fd, line, pos);
    errno = saved;
}
