/*
 * util.h - small helpers with no daemon state: checked allocation for the
 * control plane, time, directories, string formatting into error buffers.
 */
#ifndef KILN_UTIL_H
#define KILN_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Control-plane allocation: aborts with a message when memory runs out. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes a message into err (may be NULL) and returns -1. */
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* dir/rel, where dir holds this process's executable, in out, when that
 * path passes access(mode); else NULL (the in-tree build's neighbours:
 * build/kiln-driver beside build/kiln, build/python beside kiln-worker). */
const char *exe_sibling(const char *rel, int mode, char *out, size_t len);

/* Why a worker may fail to reach a path the client gave, for error
 * messages: "" or a hint naming this process's user (not writable or
 * readable by it) or a service's private /tmp (PrivateTmp=yes in the
 * systemd units) for e = EACCES, EPERM, ENOENT. Writes into buf. */
const char *path_access_hint(const char *path, int e, char *buf, size_t len);

uint64_t now_ms(void);  /* CLOCK_MONOTONIC */
uint64_t now_us(void);  /* CLOCK_MONOTONIC */
uint64_t wall_ms(void); /* CLOCK_REALTIME */

/* mkdir -p with mode; 0 or -1 with a message. */
int mkdir_p(const char *path, int mode, char *err, size_t errlen);
/* rm -rf; 0 or -1 (errno kept). Refuses "" and "/". */
int rm_rf(const char *path);
/* Writes a whole file atomically: path.tmp then rename. 0 or -1 + message. */
int write_file_atomic(const char *path, const void *p, size_t n, char *err, size_t errlen);
/* Reads a whole file into a new buffer (NUL-terminated; caller frees). */
int read_file(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen);
/* True when s is a safe single path component: [A-Za-z0-9._-], not "." or
 * "..", 1..128 chars. Names from the network pass this before use. */
int name_is_safe(const char *s);

/* Full write/read on a blocking fd, retrying EINTR. 0 or -1 (errno). */
int write_all(int fd, const void *p, size_t n);
struct iovec;
/* Writes every byte of at most 8 iovecs (restarting after short writes). 0, or -1 (errno). */
int writev_all(int fd, const struct iovec *iov, int niov);
int read_all(int fd, void *p, size_t n); /* -1 with errno 0 on EOF */

/* Little-endian integers in file and wire formats (blocks, shuffle index, MAC inputs). */
static inline void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void put_u64le(uint8_t *p, uint64_t v)
{
    put_u32le(p, (uint32_t)v);
    put_u32le(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_u64le(const uint8_t *p)
{
    return (uint64_t)get_u32le(p) | (uint64_t)get_u32le(p + 4) << 32;
}

#endif
