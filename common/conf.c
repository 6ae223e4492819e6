/*
 * conf.c - kiln's configuration keys: their names, types and defaults, and
 * the parsing of values from the config file, command-line flags and job
 * --conf settings.
 *
 * The one idea: everything is driven by keys[], a table of {name, type,
 * offset into kiln_conf, default as text}. conf_init sets each default by
 * parsing its text with the same code that parses user input, and
 * conf_set, conf_copy, conf_release and conf_get_text all walk the table,
 * so adding a key means adding a field to kiln_conf and one row here.
 *
 * Owns: the memory of a kiln_conf's strings. Does not touch: anything
 * outside the struct it is given; it never prints or exits, and reports
 * problems as messages that name the key (and the file and line).
 *
 * File syntax (libinih): `key = value` lines; `[section]` makes later keys
 * `section.key`; lines starting with '#' or ';' are comments, and so is the
 * rest of a line from a '#' or ';' preceded by a space or tab. Leading
 * whitespace is ignored (there are no continuation lines).
 */
#include "conf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

/* Key flags. */
#define CONF_JOB 1u /* may be set per job with --conf */

/* One known key. A CONF_STRING field is a char * the struct owns, CONF_INT
 * an int64_t, CONF_SIZE and CONF_DURATION a uint64_t (bytes, ms), and
 * CONF_BOOL an int (0 or 1). */
typedef struct conf_key {
    const char *name;
    conf_type type;
    size_t offset;              /* of the field in kiln_conf */
    const char *def;            /* default, as text */
    uint64_t min;               /* numbers: smallest value allowed */
    const char *const *choices; /* strings: allowed values, or NULL */
    unsigned flags;             /* CONF_JOB */
} conf_key;

/* offsetof(kiln_conf, f), refusing to compile unless f has type T. */
#define FIELD(f, T) (offsetof(kiln_conf, f) + 0 * _Generic(((kiln_conf *)0)->f, T : 0))

#define STRING(n, f, d)   .name = n, .type = CONF_STRING, .offset = FIELD(f, char *), .def = d
#define INT(n, f, d)      .name = n, .type = CONF_INT, .offset = FIELD(f, int64_t), .def = d
#define SIZE(n, f, d)     .name = n, .type = CONF_SIZE, .offset = FIELD(f, uint64_t), .def = d
#define DURATION(n, f, d) .name = n, .type = CONF_DURATION, .offset = FIELD(f, uint64_t), .def = d

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

/* Every key kiln knows. Keep in step with kiln_conf and
 * docs/kiln.conf.example. */
static const conf_key keys[] = {
    {STRING("driver.listen", driver_listen, "127.0.0.1:7077")},
    {STRING("driver.http", driver_http, "127.0.0.1:8077")},
    {STRING("driver.state_dir", driver_state_dir, "/var/lib/kiln/driver")},
    {STRING("driver.log_file", driver_log_file, "")},
    {SIZE("driver.max_result_size", driver_max_result_size, "1g"), .flags = CONF_JOB},
    {DURATION("store.retention", store_retention_ms, "60m"), .min = 1},
    {INT("history.max_apps", history_max_apps, "100"), .min = 1},
    {STRING("worker.driver", worker_driver, "")}, /* none: kiln-worker refuses to start */
    {STRING("worker.listen", worker_listen, "127.0.0.1:7078")},
    {STRING("worker.http", worker_http, "127.0.0.1:8078")},
    {STRING("worker.advertise", worker_advertise, "")},
    {STRING("worker.work_dir", worker_work_dir, "/var/lib/kiln/worker")},
    {STRING("worker.log_file", worker_log_file, "")},
    {INT("worker.slots", worker_slots, "0")},
    {DURATION("worker.heartbeat", worker_heartbeat_ms, "1s"), .min = 1},
    {DURATION("worker.timeout", worker_timeout_ms, "10s"), .min = 1},
    {SIZE("broadcast.threshold", broadcast_threshold, "1048576"), .flags = CONF_JOB},
    {INT("task.max_failures", task_max_failures, "4"), .min = 1, .flags = CONF_JOB},
    {SIZE("task.memory", task_memory, "256m"), .flags = CONF_JOB},
    {SIZE("task.memory_limit", task_memory_limit, "0"), .flags = CONF_JOB},
    {DURATION("task.timeout", task_timeout_ms, "0"), .flags = CONF_JOB},
    {SIZE("net.max_frame", net_max_frame, "64m")},
    {DURATION("net.handshake_timeout", net_handshake_timeout_ms, "10s"), .min = 1},
    {INT("net.max_connections", net_max_connections, "1024"), .min = 1},
    {INT("http.max_connections", http_max_connections, "64"), .min = 1},
    {DURATION("http.timeout", http_timeout_ms, "10s"), .min = 1},
    {.name = "http.public", .type = CONF_BOOL, .offset = FIELD(http_public, int), .def = "false"},
    {.name = "http.metrics_public", .type = CONF_BOOL, .offset = FIELD(http_metrics_public, int), .def = "false"},
    {STRING("secret_file", secret_file, "")},
    {STRING("log.level", log_level, "info"), .choices = log_levels},
};

#define NKEYS (sizeof keys / sizeof keys[0])

/* Formats a message into err (which may be NULL) and returns -1. */
static int __attribute__((format(printf, 3, 4))) conf_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Returns a new copy of s (NULL stays NULL); aborts when memory runs out,
 * as control-plane code may. */
static char *conf_strdup(const char *s)
{
    char *p;

    if (!s) return NULL;
    p = strdup(s);
    if (!p) abort();
    return p;
}

/* The table row for name, or NULL. */
static const conf_key *conf_find(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0) return &keys[i];
    return NULL;
}

/* The field k describes, inside c. */
static void *conf_field(const kiln_conf *c, const conf_key *k)
{
    return (char *)c + k->offset;
}

/* Parses the leading decimal digits of s into *out and points *end past
 * them. -1 when s does not start with a digit or the number overflows. */
static int parse_u64(const char *s, uint64_t *out, const char **end)
{
    uint64_t n = 0;

    if (*s < '0' || *s > '9') return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (n > (UINT64_MAX - d) / 10) return -1;
        n = n * 10 + d;
    }
    *out = n;
    *end = s;
    return 0;
}

/* Sizes: digits, then nothing (bytes) or one of k, m, g (either case),
 * powers of 1024. */
int conf_parse_size(const char *s, uint64_t *out)
{
    uint64_t n;
    const char *p;
    unsigned shift;

    if (parse_u64(s, &n, &p) < 0) return -1;
    switch (*p) {
    case '\0':
        shift = 0;
        break;
    case 'k':
    case 'K':
        shift = 10;
        p++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        p++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        p++;
        break;
    default:
        return -1;
    }
    if (*p != '\0' || n > (UINT64_MAX >> shift)) return -1;
    *out = n << shift;
    return 0;
}

/* Durations: digits, then nothing or "s" (seconds), "ms" or "m" (minutes);
 * the result is in milliseconds. */
int conf_parse_duration_ms(const char *s, uint64_t *out)
{
    uint64_t n, mult;
    const char *p;

    if (parse_u64(s, &n, &p) < 0) return -1;
    if (strcmp(p, "") == 0 || strcmp(p, "s") == 0)
        mult = 1000;
    else if (strcmp(p, "ms") == 0)
        mult = 1;
    else if (strcmp(p, "m") == 0)
        mult = 60 * 1000;
    else
        return -1;
    if (n > UINT64_MAX / mult) return -1;
    *out = n * mult;
    return 0;
}

/* Integers: an optional '-' and decimal digits that fit an int64_t. */
static int parse_int(const char *s, int64_t *out)
{
    uint64_t n;
    const char *p;
    int neg = (*s == '-');

    if (parse_u64(s + neg, &n, &p) < 0 || *p != '\0') return -1;
    if (n > (uint64_t)INT64_MAX + (unsigned)neg) return -1;
    *out = neg ? (int64_t)(0 - n) : (int64_t)n;
    return 0;
}

/* Booleans: true/false, yes/no, 1/0, in any case. */
static int parse_bool(const char *s, int *out)
{
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1"))
        *out = 1;
    else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

/* Formats a size with the largest suffix that keeps it exact. */
static int format_size(uint64_t v, char *buf, size_t len)
{
    static const char suffix[] = "gmk";
    int n;

    for (int i = 0; i < 3; i++) {
        unsigned shift = 30 - 10 * (unsigned)i;
        if (v != 0 && v % ((uint64_t)1 << shift) == 0) {
            n = snprintf(buf, len, "%" PRIu64 "%c", v >> shift, suffix[i]);
            return n >= 0 && (size_t)n < len ? 0 : -1;
        }
    }
    n = snprintf(buf, len, "%" PRIu64, v);
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

/* Formats a duration in ms with the largest unit that keeps it exact. */
static int format_duration(uint64_t ms, char *buf, size_t len)
{
    int n;

    if (ms == 0)
        n = snprintf(buf, len, "0");
    else if (ms % 60000 == 0)
        n = snprintf(buf, len, "%" PRIu64 "m", ms / 60000);
    else if (ms % 1000 == 0)
        n = snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
    else
        n = snprintf(buf, len, "%" PRIu64 "ms", ms);
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

/* Writes "a, b or c" for a NULL-terminated list into buf. */
static void format_choices(const char *const *choices, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; choices[i] && used < len; i++) {
        const char *sep = i == 0 ? "" : choices[i + 1] ? ", " : " or ";
        int n = snprintf(buf + used, len - used, "%s%s", sep, choices[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
}

/* Parses value for key k and stores it in c. On error c is unchanged and
 * err names the key. Borrows value. */
static int conf_set_key(kiln_conf *c, const conf_key *k, const char *value, char *err, size_t errlen)
{
    void *field = conf_field(c, k);
    uint64_t u = 0;
    int64_t i = 0;
    int b = 0;
    char text[64];

    if (!value) return conf_error(err, errlen, "%s: missing value", k->name);

    switch (k->type) {
    case CONF_STRING:
        if (k->choices) {
            size_t j;
            for (j = 0; k->choices[j]; j++)
                if (strcasecmp(value, k->choices[j]) == 0) break;
            if (!k->choices[j]) {
                format_choices(k->choices, text, sizeof text);
                return conf_error(err, errlen, "%s: bad value '%s' (%s)", k->name, value, text);
            }
            value = k->choices[j];
        }
        free(*(char **)field);
        *(char **)field = conf_strdup(value);
        return 0;
    case CONF_INT:
        if (parse_int(value, &i) < 0)
            return conf_error(err, errlen, "%s: bad integer '%s' (a whole number)", k->name, value);
        if (i < 0 || (uint64_t)i < k->min)
            return conf_error(err, errlen, "%s: must be at least %" PRIu64 ", not '%s'", k->name, k->min, value);
        *(int64_t *)field = i;
        return 0;
    case CONF_SIZE:
        if (conf_parse_size(value, &u) < 0)
            return conf_error(err, errlen, "%s: bad size '%s' (bytes, or a number with k, m or g)", k->name, value);
        if (u < k->min) {
            format_size(k->min, text, sizeof text);
            return conf_error(err, errlen, "%s: must be at least %s, not '%s'", k->name, text, value);
        }
        *(uint64_t *)field = u;
        return 0;
    case CONF_DURATION:
        if (conf_parse_duration_ms(value, &u) < 0)
            return conf_error(err, errlen, "%s: bad duration '%s' (seconds, or a number with ms, s or m)", k->name,
                              value);
        if (u < k->min) {
            format_duration(k->min, text, sizeof text);
            return conf_error(err, errlen, "%s: must be at least %s, not '%s'", k->name, text, value);
        }
        *(uint64_t *)field = u;
        return 0;
    case CONF_BOOL:
        if (parse_bool(value, &b) < 0)
            return conf_error(err, errlen, "%s: bad boolean '%s' (true, false, yes, no, 1 or 0)", k->name, value);
        *(int *)field = b;
        return 0;
    }
    return conf_error(err, errlen, "%s: unsupported type", k->name);
}

/* Fills every key with its default. c need not be initialized; whatever
 * it held is overwritten, not freed. */
void conf_init(kiln_conf *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NKEYS; i++)
        if (conf_set_key(c, &keys[i], keys[i].def, NULL, 0) < 0)
            abort(); /* a default that does not parse is a bug in keys[] */
}

/* Frees c's strings and leaves every string NULL; releasing twice is
 * harmless. */
void conf_release(kiln_conf *c)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].type == CONF_STRING) {
            char **s = conf_field(c, &keys[i]);
            free(*s);
            *s = NULL;
        }
    }
}

/* Copies every value of src into dst, duplicating strings. dst must hold
 * no memory (fresh or released); src is borrowed. */
void conf_copy(kiln_conf *dst, const kiln_conf *src)
{
    if (dst == src) return;
    *dst = *src;
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].type == CONF_STRING) {
            char **s = conf_field(dst, &keys[i]);
            *s = conf_strdup(*s);
        }
    }
}

/* Sets one key from text; see conf.h. Borrows key and value. */
int conf_set(kiln_conf *c, const char *key, const char *value, char *err, size_t errlen)
{
    const conf_key *k = conf_find(key);

    if (!k) return conf_error(err, errlen, "unknown key '%s'", key);
    return conf_set_key(c, k, value, err, errlen);
}

/* True for the keys marked CONF_JOB (broadcast.*, task.*,
 * driver.max_result_size); false for every other or unknown key. */
int conf_is_job_key(const char *key)
{
    const conf_key *k = conf_find(key);

    return k && (k->flags & CONF_JOB);
}

/* The i-th row's name; see conf.h. */
const char *conf_key_name(size_t i)
{
    return i < NKEYS ? keys[i].name : NULL;
}

/* Formats key's current value; see conf.h. */
int conf_get_text(const kiln_conf *c, const char *key, char *buf, size_t len)
{
    const conf_key *k = conf_find(key);
    const void *field;
    int n;

    if (len > 0) buf[0] = '\0';
    if (!k || len == 0) return -1;
    field = conf_field(c, k);
    switch (k->type) {
    case CONF_STRING: {
        const char *s = *(char *const *)field;
        n = snprintf(buf, len, "%s", s ? s : "");
        return n >= 0 && (size_t)n < len ? 0 : -1;
    }
    case CONF_INT:
        n = snprintf(buf, len, "%" PRId64, *(const int64_t *)field);
        return n >= 0 && (size_t)n < len ? 0 : -1;
    case CONF_SIZE:
        return format_size(*(const uint64_t *)field, buf, len);
    case CONF_DURATION:
        return format_duration(*(const uint64_t *)field, buf, len);
    case CONF_BOOL:
        n = snprintf(buf, len, "%s", *(const int *)field ? "true" : "false");
        return n >= 0 && (size_t)n < len ? 0 : -1;
    }
    return -1;
}

/* State of one conf_load_text: the text libinih reads a line at a time
 * through load_reader (so that we know the line number and can tidy each
 * line) and the first error found. */
typedef struct load_state {
    kiln_conf *conf;  /* a copy, committed only when the whole text is good */
    const char *text; /* borrowed */
    size_t len, pos;  /* bytes in text; where the next line starts */
    int line;         /* number of the line last read, from 1 */
    int err_line;     /* line of the first error, or 0 */
    char err[512];    /* its message */
} load_state;

/* Records the first error seen while loading. */
static void load_fail(load_state *st, const char *msg)
{
    if (st->err_line == 0) {
        st->err_line = st->line;
        snprintf(st->err, sizeof st->err, "%s", msg);
    }
}

/* libinih's reader, fgets over the text: copies one whole line into str
 * (num bytes of room), drops leading whitespace (so an indented line is
 * never taken as a continuation) and cuts a trailing comment that starts
 * with " #". A line longer than libinih's buffer is an error rather than
 * being split. A NUL byte ends what libinih sees of its line. */
static char *load_reader(char *str, int num, void *stream)
{
    load_state *st = stream;
    size_t n, skip, room = num > 1 ? (size_t)num - 1 : 0;
    const char *line = st->text + st->pos, *nl;
    char *p;

    if (st->pos >= st->len) return NULL;
    st->line++;
    n = st->len - st->pos;
    nl = memchr(line, '\n', n);
    if (nl) n = (size_t)(nl - line); /* the line's bytes without its newline */
    if (n > room) {
        char msg[64];
        snprintf(msg, sizeof msg, "line too long (at most %d characters)", num - 1);
        load_fail(st, msg);
        return NULL;
    }
    memcpy(str, line, n);
    str[n] = '\0';
    st->pos += n + (nl != NULL);
    n = strlen(str);
    skip = strspn(str, " \t");
    if (skip > 0) memmove(str, str + skip, n - skip + 1);
    if (str[0] != '#' && str[0] != ';') {
        for (p = str; *p; p++) {
            if (*p == '#' && p > str && (p[-1] == ' ' || p[-1] == '\t')) {
                *p = '\0';
                break;
            }
        }
    }
    return str;
}

/* libinih's handler: sets section.name (or name outside any section). */
static int load_handler(void *user, const char *section, const char *name, const char *value)
{
    load_state *st = user;
    char key[128], msg[sizeof st->err];
    int n;

    if (!name) return 1; /* a bare section header, when libinih reports those */
    if (section && section[0])
        n = snprintf(key, sizeof key, "%s.%s", section, name);
    else
        n = snprintf(key, sizeof key, "%s", name);
    if (n < 0 || (size_t)n >= sizeof key) {
        load_fail(st, "key too long");
        return 0;
    }
    if (conf_set(st->conf, key, value, msg, sizeof msg) < 0) {
        load_fail(st, msg);
        return 0;
    }
    return 1;
}

/* Loads config text into c; see conf.h. All or nothing: on error c is
 * unchanged and err reads "NAME:LINE: message". Borrows name and text. */
int conf_load_text(kiln_conf *c, const char *name, const char *text, size_t len, char *err, size_t errlen)
{
    load_state st;
    kiln_conf tmp;
    int ret;

    memset(&st, 0, sizeof st);
    st.text = text;
    st.len = len;
    conf_copy(&tmp, c);
    st.conf = &tmp;
    ret = ini_parse_stream(load_reader, &st, load_handler, &st);

    if (ret > 0 && (st.err_line == 0 || ret < st.err_line)) {
        conf_release(&tmp);
        return conf_error(err, errlen, "%s:%d: syntax error (expected 'key = value' or '[section]')", name, ret);
    }
    if (st.err_line) {
        conf_release(&tmp);
        return conf_error(err, errlen, "%s:%d: %s", name, st.err_line, st.err);
    }
    if (ret != 0) {
        conf_release(&tmp);
        return conf_error(err, errlen, "%s: cannot parse (libinih error %d)", name, ret);
    }
    conf_release(c);
    *c = tmp;
    return 0;
}

/* Reads the whole file at path into a new buffer (*text, *len; caller
 * frees). 0, or -1 with "PATH: reason". */
static int conf_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (!f) return conf_error(err, errlen, "%s: %s", path, strerror(errno));
    for (;;) {
        if (cap - n < 4096) {
            if (cap >= CONF_MAX_FILE) {
                free(buf);
                fclose(f);
                return conf_error(err, errlen, "%s: larger than %u bytes", path, CONF_MAX_FILE);
            }
            cap = cap ? 2 * cap : 8192;
            buf = realloc(buf, cap + 1);
            if (!buf) abort(); /* control plane */
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        int e = errno ? errno : EIO;
        free(buf);
        fclose(f);
        return conf_error(err, errlen, "%s: %s", path, strerror(e));
    }
    fclose(f);
    *text = buf;
    *len = n;
    return 0;
}

/* Loads path into c: conf_load_text over the file's bytes. All or nothing:
 * on error c is unchanged and err reads "PATH:LINE: message" (or "PATH:
 * reason" when it cannot be read). */
int conf_load_file(kiln_conf *c, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;

    if (conf_read_file(path, &text, &len, err, errlen) < 0) return -1;
    int rc = conf_load_text(c, path, text, len, err, errlen);
    free(text);
    return rc;
}
