/*
 * util.c - small helpers shared by every kiln program: allocation that
 * aborts on exhaustion (control plane only), clocks, files and directories.
 * Nothing here keeps state.
 */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

static void oom(size_t n)
{
    fprintf(stderr, "kiln: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) oom(n);
    return p;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p) oom(strlen(s));
    return p;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p) oom(n);
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) oom(strlen(fmt));
    va_end(ap);
    return s;
}

const char *exe_sibling(const char *rel, int mode, char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return NULL;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash) return NULL;
    *slash = 0;
    int w = snprintf(out, len, "%s/%s", self, rel);
    return w > 0 && (size_t)w < len && access(out, mode) == 0 ? out : NULL;
}

const char *path_access_hint(const char *path, int e, char *buf, size_t len)
{
    buf[0] = 0;
    int tmp = !strncmp(path, "/tmp/", 5) || !strncmp(path, "/var/tmp/", 9);
    if (e == EACCES || e == EPERM) {
        struct passwd *pw = getpwuid(geteuid());
        snprintf(buf, len,
                 " (this worker runs as user '%s', uid %u: the path must be readable, and an output directory "
                 "writable, by that user)",
                 pw ? pw->pw_name : "?", (unsigned)geteuid());
    } else if (e == ENOENT && tmp) {
        snprintf(buf, len,
                 " (a worker started from kiln's systemd units has a private /tmp (PrivateTmp=yes) and does not see "
                 "the client's /tmp: use a directory outside /tmp that every worker can reach)");
    }
    return buf;
}

int errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int mkdir_p(const char *path, int mode, char *err, size_t errlen)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return errf(err, errlen, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return errf(err, errlen, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST) return errf(err, errlen, "cannot create %s: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode)) return errf(err, errlen, "%s is not a directory", buf);
    return 0;
}

int rm_rf(const char *path)
{
    if (!path || !*path || strcmp(path, "/") == 0) {
        errno = EINVAL;
        return -1;
    }
    struct stat st;
    if (lstat(path, &st) < 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *sub = xasprintf("%s/%s", path, de->d_name);
        if (rm_rf(sub) < 0) rc = -1;
        free(sub);
    }
    closedir(d);
    if (rmdir(path) < 0) rc = -1;
    return rc;
}

int write_file_atomic(const char *path, const void *p, size_t n, char *err, size_t errlen)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
    if (write_all(fd, p, n) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return errf(err, errlen, "cannot write %s: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return errf(err, errlen, "cannot rename %s: %s", tmp, strerror(e));
    }
    return 0;
}

int read_file(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return errf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return errf(err, errlen, "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return errf(err, errlen, "short read on %s", path);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int name_is_safe(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 128) return 0;
    if (!strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int writev_all(int fd, const struct iovec *iov, int niov)
{
    struct iovec v[8];
    if (niov > 8) {
        errno = EINVAL;
        return -1;
    }
    memcpy(v, iov, (size_t)niov * sizeof *v);
    struct iovec *cur = v;
    while (niov > 0) {
        ssize_t w = writev(fd, cur, niov);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        while (niov > 0 && (size_t)w >= cur->iov_len) {
            w -= (ssize_t)cur->iov_len;
            cur++;
            niov--;
        }
        if (niov > 0) {
            cur->iov_base = (char *)cur->iov_base + w;
            cur->iov_len -= (size_t)w;
        }
    }
    return 0;
}

int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) {
            errno = 0;
            return -1;
        }
        c += r;
        n -= (size_t)r;
    }
    return 0;
}
