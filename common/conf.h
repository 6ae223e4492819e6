/*
 * conf.h - configuration: the known keys, their types, and how values are
 * parsed from the config file, command-line flags and job --conf.
 *
 * The file is `key = value` lines with '#' comments (libinih). Sizes are
 * bytes or take a suffix k, m, g (powers of 1024); durations are seconds or
 * take a suffix ms, s, m. An unknown key or a bad value is an error that
 * names the key. Later settings win: load the file first, then apply flags.
 */
#ifndef KILN_CONF_H
#define KILN_CONF_H

#include <stddef.h>
#include <stdint.h>

typedef enum conf_type { CONF_STRING, CONF_INT, CONF_SIZE, CONF_DURATION, CONF_BOOL } conf_type;

/* Every key kiln knows. Strings own their memory. Durations are in ms. */
typedef struct kiln_conf {
    /* driver */
    char *driver_listen;             /* driver.listen, "127.0.0.1:7077" */
    char *driver_http;               /* driver.http, "127.0.0.1:8077" */
    char *driver_state_dir;          /* driver.state_dir, "/var/lib/kiln/driver" */
    char *driver_log_file;           /* driver.log_file, "" = stderr */
    uint64_t driver_max_result_size; /* driver.max_result_size, 1g */
    uint64_t store_retention_ms;     /* store.retention, 60m: unused blobs are dropped after it */
    int64_t history_max_apps;        /* history.max_apps, 100: ended applications kept (event logs, UI) */
    /* worker */
    char *worker_driver;          /* worker.driver, "127.0.0.1:7077" */
    char *worker_listen;          /* worker.listen, "127.0.0.1:7078" */
    char *worker_http;            /* worker.http, "127.0.0.1:8078" */
    char *worker_advertise;       /* worker.advertise, "": the data port's address as others reach it */
    char *worker_work_dir;        /* worker.work_dir, "/var/lib/kiln/worker" */
    char *worker_log_file;        /* worker.log_file, "" = stderr */
    int64_t worker_slots;         /* worker.slots, 0 = online cores */
    uint64_t worker_heartbeat_ms; /* worker.heartbeat, 1s */
    uint64_t worker_timeout_ms;   /* worker.timeout, 10s */
    /* jobs and tasks (also settable per job with --conf) */
    uint64_t broadcast_threshold; /* broadcast.threshold, 1048576 */
    int64_t task_max_failures;    /* task.max_failures, 4 */
    uint64_t task_memory;         /* task.memory, 256m */
    uint64_t task_memory_limit;   /* task.memory_limit, 0 = none */
    uint64_t task_timeout_ms;     /* task.timeout, 0 = none */
    /* network */
    uint64_t net_max_frame;            /* net.max_frame, 64m */
    uint64_t net_handshake_timeout_ms; /* net.handshake_timeout, 10s */
    int64_t net_max_connections;       /* net.max_connections, 1024 (per listening port) */
    /* the HTTP status ports (driver and worker) */
    int64_t http_max_connections; /* http.max_connections, 64 (also at most a quarter of the descriptors) */
    uint64_t http_timeout_ms;     /* http.timeout, 10s: for a request to arrive, and its reply to leave */
    int http_public;              /* http.public, false: no credentials needed on the HTTP ports */
    int http_metrics_public;      /* http.metrics_public, false: /metrics without credentials */
    char *secret_file;                 /* secret_file, "" = none */
    char *log_level;                   /* log.level, "info" */
} kiln_conf;

/* Fills every key with its default. */
void conf_init(kiln_conf *c);
void conf_release(kiln_conf *c);
/* Copies every value of src into dst (dst must be released or fresh). */
void conf_copy(kiln_conf *dst, const kiln_conf *src);

/* Sets one key from text. 0, or -1 with a message naming the key
 * ("unknown key 'x'", "task.memory: bad size 'lots'"). */
int conf_set(kiln_conf *c, const char *key, const char *value, char *err, size_t errlen);
/* Loads a file (at most CONF_MAX_FILE bytes) with conf_load_text. 0, or -1
 * with a message naming the file, line and key. */
#define CONF_MAX_FILE (1u << 20)
int conf_load_file(kiln_conf *c, const char *path, char *err, size_t errlen);
/* Loads config text from memory: len bytes at text (no NUL needed; a NUL
 * byte ends what is seen of its line). name stands for the file in
 * messages ("NAME:LINE: ..."). All or nothing: on error c is unchanged.
 * 0, or -1 with a message. Borrows everything. */
int conf_load_text(kiln_conf *c, const char *name, const char *text, size_t len, char *err, size_t errlen);
/* True when key may be given per job (--conf): broadcast.*, task.*,
 * driver.max_result_size. */
int conf_is_job_key(const char *key);
/* Formats key's current value into buf (for status pages), in a form
 * conf_set accepts back: sizes and durations with the largest exact suffix
 * ("256m", "10s"). 0, or -1 when the key is unknown or buf is too small
 * (buf then holds as much as fits, NUL-terminated, when len > 0). */
int conf_get_text(const kiln_conf *c, const char *key, char *buf, size_t len);

/* The name of the i-th key kiln knows, or NULL when i is past the last:
 * walks every key (tests, fuzzing). */
const char *conf_key_name(size_t i);

/* Parsers, exposed for tests and flags. 0, or -1 on bad text. */
int conf_parse_size(const char *s, uint64_t *out);
int conf_parse_duration_ms(const char *s, uint64_t *out);

#endif
