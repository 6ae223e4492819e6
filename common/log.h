/*
 * log.h - one line per event:
 *   2026-11-21T23:57:22.123Z INFO driver: task finished app=... task=7
 * to a log file (opened O_APPEND, reopened on SIGHUP so logrotate works)
 * or to stderr. A logger is owned by its daemon's main struct.
 */
#ifndef KILN_LOG_H
#define KILN_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

typedef struct logger {
    char *path; /* NULL = stderr */
    int fd;
    log_level min;
    char component[32];
} logger;

/* Opens path for appending (NULL or "" = stderr). 0, or -1 with message. */
int logger_open(logger *l, const char *component, const char *path, log_level min, char *err, size_t errlen);
/* Reopens the file (after logrotate moved it). 0 or -1. */
int logger_reopen(logger *l);
void logger_close(logger *l);
/* "debug", "info", "warn", "error" -> level; -1 when unknown. */
int log_level_parse(const char *s);
/* Writes one line with a single write(2). The message is printf-style;
 * by convention "event key=value key=value". Newlines in it are escaped. */
void log_msg(logger *l, log_level lvl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
