/*
 * auth.c - the shared secret and the handshake's HMAC-SHA256 proofs (see
 * auth.h). Owns: loading the secret file with its permission rule, nonces,
 * MACs. Does not touch messages or sockets; handshake.c speaks the
 * protocol; which file to load when none is named is secret.c. The one idea: each MAC is domain-separated by a label
 * and by the order of the nonces, so a proof from one direction (or from another handshake, whose nonce differs) never
 * verifies as another.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static const char label_server[] = "kiln-server";
static const char label_client[] = "kiln-client";

int auth_enabled(const auth_secret *s)
{
    return s && s->key && s->len > 0;
}

long auth_service_gid(void)
{
    struct group *g = getgrnam(AUTH_SERVICE_GROUP);
    return g ? (long)g->gr_gid : -1;
}

int auth_secret_load(auth_secret *s, const char *path, char *err, size_t errlen)
{
    return auth_secret_load_as(s, path, path && *path ? auth_service_gid() : -1, -1, err, errlen);
}

/* The permission rule: nothing for others; for the group, nothing, or
 * read only when the group is the service's. */
static int mode_ok(const struct stat *st, long service_gid)
{
    unsigned m = (unsigned)st->st_mode & 077;
    return m == 0 || (m == 040 && service_gid >= 0 && (long)st->st_gid == service_gid);
}

int auth_secret_load_as(auth_secret *s, const char *path, long service_gid, long owner, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (!path || !*path) return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ELOOP) fd = open(path, O_RDONLY | O_CLOEXEC); /* a symlink: its target is checked */
    if (fd < 0) return errf(err, errlen, "secret file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return errf(err, errlen, "secret file %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return errf(err, errlen, "secret file %s is not a regular file", path);
    }
    if (!mode_ok(&st, service_gid)) {
        close(fd);
        return errf(err, errlen,
                    "secret file %s is accessible by group or others (mode %03o): refusing it; "
                    "run chmod 600 %s (mode 640 is accepted only with group " AUTH_SERVICE_GROUP ")",
                    path, (unsigned)(st.st_mode & 0777), path);
    }
    if (owner >= 0 && (long)st.st_uid != owner) {
        close(fd);
        return errf(err, errlen, "secret file %s belongs to uid %ld, not to this user (uid %ld): refusing it", path,
                    (long)st.st_uid, owner);
    }
    if (st.st_size > AUTH_SECRET_MAX) {
        close(fd);
        return errf(err, errlen, "secret file %s is larger than %d bytes", path, AUTH_SECRET_MAX);
    }
    uint8_t buf[AUTH_SECRET_MAX + 1];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            OPENSSL_cleanse(buf, sizeof buf);
            return errf(err, errlen, "secret file %s: %s", path, strerror(e));
        }
        if (r == 0 || (n += (size_t)r) == sizeof buf) break;
    }
    close(fd);
    if (n > AUTH_SECRET_MAX) {
        OPENSSL_cleanse(buf, sizeof buf);
        return errf(err, errlen, "secret file %s is larger than %d bytes", path, AUTH_SECRET_MAX);
    }
    if (n > 0 && buf[n - 1] == '\n') n--;
    if (n > 0 && buf[n - 1] == '\r') n--;
    if (n == 0) return errf(err, errlen, "secret file %s is empty", path);
    s->key = xmalloc(n);
    memcpy(s->key, buf, n);
    s->len = n;
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

void auth_secret_copy(auth_secret *dst, const auth_secret *src)
{
    memset(dst, 0, sizeof *dst);
    if (!auth_enabled(src)) return;
    dst->key = xmalloc(src->len);
    memcpy(dst->key, src->key, src->len);
    dst->len = src->len;
}

void auth_secret_release(auth_secret *s)
{
    if (s->key) {
        OPENSSL_cleanse(s->key, s->len);
        free(s->key);
    }
    s->key = NULL;
    s->len = 0;
}

int auth_nonce(uint8_t out[AUTH_NONCE_LEN], char *err, size_t errlen)
{
    size_t got = 0;
    while (got < AUTH_NONCE_LEN) {
        ssize_t n = getrandom(out + got, AUTH_NONCE_LEN - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        got += (size_t)n;
    }
    if (got == AUTH_NONCE_LEN) return 0;
    if (RAND_bytes(out, AUTH_NONCE_LEN) == 1) return 0;
    return errf(err, errlen, "no random bytes for a nonce: %s", strerror(errno));
}

void auth_mac(const auth_secret *s, auth_dir dir, const uint8_t nonce_c[AUTH_NONCE_LEN],
              const uint8_t nonce_s[AUTH_NONCE_LEN], uint32_t client_role, uint32_t server_role,
              uint8_t mac[AUTH_MAC_LEN])
{
    const char *label = dir == AUTH_SERVER ? label_server : label_client;
    size_t llen = strlen(label);
    uint8_t msg[sizeof label_server + 2 * AUTH_NONCE_LEN + 8];
    memcpy(msg, label, llen);
    memcpy(msg + llen, dir == AUTH_SERVER ? nonce_c : nonce_s, AUTH_NONCE_LEN);
    memcpy(msg + llen + AUTH_NONCE_LEN, dir == AUTH_SERVER ? nonce_s : nonce_c, AUTH_NONCE_LEN);
    put_u32le(msg + llen + 2 * AUTH_NONCE_LEN, client_role);
    put_u32le(msg + llen + 2 * AUTH_NONCE_LEN + 4, server_role);
    unsigned int out_len = AUTH_MAC_LEN;
    static const uint8_t none = 0;
    /* HMAC() with a NULL result buffer would use a static one: never */
    if (!HMAC(EVP_sha256(), s && s->key ? s->key : &none, s && s->key ? (int)s->len : 0, msg,
              llen + 2 * AUTH_NONCE_LEN + 8, mac, &out_len))
        memset(mac, 0, AUTH_MAC_LEN);
}

int auth_verify(const auth_secret *s, auth_dir dir, const uint8_t nonce_c[AUTH_NONCE_LEN],
                const uint8_t nonce_s[AUTH_NONCE_LEN], uint32_t client_role, uint32_t server_role, const uint8_t *mac,
                size_t mac_len)
{
    if (!auth_enabled(s) || !mac || mac_len != AUTH_MAC_LEN) return 0;
    uint8_t want[AUTH_MAC_LEN];
    auth_mac(s, dir, nonce_c, nonce_s, client_role, server_role, want);
    int ok = CRYPTO_memcmp(want, mac, AUTH_MAC_LEN) == 0;
    OPENSSL_cleanse(want, sizeof want);
    return ok;
}
