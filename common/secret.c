/*
 * secret.c - the default secret file (see secret.h): which one a program
 * uses when no secret is named, and creating one atomically. Owns paths
 * and files only; the permission rule and the key bytes are auth.c's, the
 * handshake is handshake.c's. The one idea: the default is chosen from
 * who runs the program, never from who connects, so two programs of one
 * user (or of the service and its group) pick the same file and anyone
 * else picks another one, or none they can read.
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define SECRET_BYTES 32

void secret_env_from_process(secret_env *e)
{
    memset(e, 0, sizeof *e);
    e->service_path = SECRET_SERVICE_PATH;
    struct passwd *pw = getpwnam(SECRET_SERVICE_USER);
    e->service_uid = pw ? (long)pw->pw_uid : -1;
    e->service_gid = auth_service_gid();
    e->euid = (long)geteuid();
    e->config_home = getenv("XDG_CONFIG_HOME");
    e->runtime_dir = getenv("XDG_RUNTIME_DIR");
    e->home = getenv("HOME");
    if (!e->home || !*e->home) {
        struct passwd *me = getpwuid(geteuid());
        e->home = NULL;
        if (me && me->pw_dir && strlen(me->pw_dir) < sizeof e->home_buf) {
            snprintf(e->home_buf, sizeof e->home_buf, "%s", me->pw_dir);
            e->home = e->home_buf;
        }
    }
}

static int absolute(const char *p)
{
    return p && p[0] == '/';
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_service_user(const secret_env *e)
{
    return e->service_uid >= 0 && e->euid == e->service_uid;
}

int secret_default_path(const secret_env *e, char *path, size_t len, secret_kind *kind, char *err, size_t errlen)
{
    int n;
    if (e->service_path && *e->service_path &&
        (is_service_user(e) || faccessat(AT_FDCWD, e->service_path, R_OK, AT_EACCESS) == 0)) {
        *kind = SECRET_SERVICE;
        n = snprintf(path, len, "%s", e->service_path);
    } else {
        *kind = SECRET_USER;
        if (absolute(e->config_home))
            n = snprintf(path, len, "%s/kiln/secret", e->config_home);
        else if (absolute(e->home) && is_dir(e->home))
            n = snprintf(path, len, "%s/.config/kiln/secret", e->home);
        else if (absolute(e->runtime_dir))
            n = snprintf(path, len, "%s/kiln/secret", e->runtime_dir);
        else
            return errf(err, errlen,
                        "no secret: no --secret-file (or $KILN_SECRET_FILE) was given, and there is no home "
                        "directory (HOME=%s) or $XDG_RUNTIME_DIR to keep this user's default secret in",
                        e->home ? e->home : "");
    }
    if (n < 0 || (size_t)n >= len) return errf(err, errlen, "the default secret's path is too long");
    return 0;
}

/* Writes the whole of p to a new file at path made with O_EXCL: the
 * fallback for file systems without hard links. 1, 0 (path existed), -1. */
static int create_direct(const char *path, int mode, long gid, const char *p, size_t n, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) return 0;
    if (fd < 0) return errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    int ok = (gid < 0 || fchown(fd, (uid_t)-1, (gid_t)gid) == 0) && fchmod(fd, (mode_t)mode) == 0 &&
             write_all(fd, p, n) == 0 && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (ok) return 1;
    unlink(path);
    return errf(err, errlen, "cannot write %s: %s", path, strerror(e));
}

int secret_create(const char *path, int mode, long gid, char *err, size_t errlen)
{
    uint8_t raw[SECRET_BYTES];
    char text[2 * SECRET_BYTES + 2];
    char why[256];
    if (auth_nonce(raw, why, sizeof why) < 0) return errf(err, errlen, "cannot make a secret for %s: %s", path, why);
    for (size_t i = 0; i < SECRET_BYTES; i++)
        snprintf(text + 2 * i, 3, "%02x", raw[i]);
    text[2 * SECRET_BYTES] = '\n';
    text[2 * SECRET_BYTES + 1] = 0;
    OPENSSL_cleanse(raw, sizeof raw);
    size_t tlen = strlen(path) + 8;
    char *tmp = xmalloc(tlen);
    snprintf(tmp, tlen, "%s.XXXXXX", path);
    int rc;
    int fd = mkostemp(tmp, O_CLOEXEC); /* O_EXCL, mode 0600 */
    if (fd < 0) {
        rc = errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    int ok = (gid < 0 || fchown(fd, (uid_t)-1, (gid_t)gid) == 0) && fchmod(fd, (mode_t)mode) == 0 &&
             write_all(fd, text, 2 * SECRET_BYTES + 1) == 0 && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok) {
        unlink(tmp);
        rc = errf(err, errlen, "cannot write %s: %s", tmp, strerror(e));
        goto out;
    }
    if (link(tmp, path) == 0)
        rc = 1;
    else if (errno == EEXIST)
        rc = 0; /* another program made it first: theirs is the one */
    else if (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS)
        rc = create_direct(path, mode, gid, text, 2 * SECRET_BYTES + 1, err, errlen);
    else
        rc = errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    unlink(tmp);
out:
    OPENSSL_cleanse(text, sizeof text);
    free(tmp);
    return rc;
}

int secret_load_default(auth_secret *s, const secret_env *e, char *path, size_t len, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    secret_kind kind;
    if (secret_default_path(e, path, len, &kind, err, errlen) < 0) return -1;
    struct stat st;
    int creator = kind == SECRET_USER || is_service_user(e);
    if (creator && lstat(path, &st) < 0 && errno == ENOENT) {
        int mode = 0600;
        long gid = -1;
        if (kind == SECRET_USER) {
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%s", path);
            *strrchr(dir, '/') = 0;
            if (mkdir_p(dir, 0700, err, errlen) < 0) return -1;
        } else if (e->service_gid >= 0) {
            mode = 0640;
            gid = e->service_gid;
        }
        if (secret_create(path, mode, gid, err, errlen) < 0) return -1;
    }
    char why[1024];
    if (auth_secret_load_as(s, path, e->service_gid, kind == SECRET_USER ? e->euid : -1, why, sizeof why) < 0)
        return errf(err, errlen, "%s (the default secret, used when no --secret-file is given)", why);
    return 0;
}

int secret_resolve(auth_secret *s, const char *explicit_path, char *used, size_t usedlen, char *err, size_t errlen)
{
    if (explicit_path && *explicit_path) {
        if (used) snprintf(used, usedlen, "%s", explicit_path);
        return auth_secret_load(s, explicit_path, err, errlen);
    }
    secret_env e;
    secret_env_from_process(&e);
    char path[PATH_MAX + 32];
    if (secret_load_default(s, &e, path, sizeof path, err, errlen) < 0) return -1;
    if (used) snprintf(used, usedlen, "%s", path);
    return 0;
}
