/*
 * seal.c - per-frame integrity after the handshake (see seal.h): key
 * derivation from the handshake, tags, and their checks.
 *
 * Owns the cryptography of the protected framing; where a frame's bytes
 * are (an evbuffer, a mapped file, a blocking reader's buffer) is the
 * caller's business. The one idea: the sequence number is part of each
 * tag's nonce and is counted, never sent, on both sides, so a frame is
 * accepted only in its own place of its own connection's own direction.
 *
 * Why ChaCha20-Poly1305 over an empty plaintext: it is a standard AEAD
 * used as a MAC (the frame is associated data), libcrypto runs Poly1305
 * at several GB/s (HMAC-SHA256 is ~5x slower), and a one-time Poly1305
 * key per frame comes from ChaCha20 under the unique (key, seq) nonce,
 * which is what makes Poly1305 safe to use for many messages.
 */
#include "seal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "frame.h"
#include "util.h"

static const char label_session[] = "kiln-session";
static const char label_c2s[] = "kiln-client-to-server";
static const char label_s2c[] = "kiln-server-to-client";

/* out = HMAC-SHA256(key, msg). 0, or -1. */
static int hmac256(const uint8_t *key, size_t klen, const uint8_t *msg, size_t n, uint8_t out[SEAL_KEY_LEN])
{
    unsigned int len = SEAL_KEY_LEN;
    return HMAC(EVP_sha256(), key, (int)klen, msg, n, out, &len) && len == SEAL_KEY_LEN ? 0 : -1;
}

static int dir_init(seal_dir *d, const uint8_t key[SEAL_KEY_LEN])
{
    d->seq = 0;
    d->ctx = EVP_CIPHER_CTX_new();
    if (!d->ctx) return -1;
    if (EVP_EncryptInit_ex(d->ctx, EVP_chacha20_poly1305(), NULL, key, NULL) != 1) {
        EVP_CIPHER_CTX_free(d->ctx);
        d->ctx = NULL;
        return -1;
    }
    return 0;
}

int seal_init(seal *s, const auth_secret *secret, auth_dir we, const uint8_t nonce_c[AUTH_NONCE_LEN],
              const uint8_t nonce_s[AUTH_NONCE_LEN], uint32_t client_role, uint32_t server_role, char *err,
              size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (!auth_enabled(secret)) return 0;
    uint8_t msg[sizeof label_session + 2 * AUTH_NONCE_LEN + 8];
    size_t ll = sizeof label_session - 1;
    memcpy(msg, label_session, ll);
    memcpy(msg + ll, nonce_c, AUTH_NONCE_LEN);
    memcpy(msg + ll + AUTH_NONCE_LEN, nonce_s, AUTH_NONCE_LEN);
    put_u32le(msg + ll + 2 * AUTH_NONCE_LEN, client_role);
    put_u32le(msg + ll + 2 * AUTH_NONCE_LEN + 4, server_role);
    uint8_t session[SEAL_KEY_LEN], c2s[SEAL_KEY_LEN], s2c[SEAL_KEY_LEN];
    int rc = -1;
    if (hmac256(secret->key, secret->len, msg, ll + 2 * AUTH_NONCE_LEN + 8, session) == 0 &&
        hmac256(session, sizeof session, (const uint8_t *)label_c2s, sizeof label_c2s - 1, c2s) == 0 &&
        hmac256(session, sizeof session, (const uint8_t *)label_s2c, sizeof label_s2c - 1, s2c) == 0 &&
        dir_init(&s->tx, we == AUTH_SERVER ? s2c : c2s) == 0 && dir_init(&s->rx, we == AUTH_SERVER ? c2s : s2c) == 0)
        rc = 0;
    OPENSSL_cleanse(session, sizeof session);
    OPENSSL_cleanse(c2s, sizeof c2s);
    OPENSSL_cleanse(s2c, sizeof s2c);
    if (rc < 0) {
        seal_release(s);
        return errf(err, errlen, "cannot set up the connection's keys (libcrypto)");
    }
    return 0;
}

void seal_release(seal *s)
{
    /* EVP_CIPHER_CTX_free cleanses the key schedule */
    EVP_CIPHER_CTX_free(s->tx.ctx);
    EVP_CIPHER_CTX_free(s->rx.ctx);
    memset(s, 0, sizeof *s);
}

/* The tag of iov under d's key and sequence number seq. 0, or -1. */
static int compute(seal_dir *d, uint64_t seq, const struct iovec *iov, int n, uint8_t tag[SEAL_TAG_LEN])
{
    uint8_t nonce[12] = {0};
    put_u64le(nonce + 4, seq);
    int outl;
    if (EVP_EncryptInit_ex(d->ctx, NULL, NULL, NULL, nonce) != 1) return -1;
    for (int i = 0; i < n; i++)
        if (iov[i].iov_len && EVP_EncryptUpdate(d->ctx, NULL, &outl, iov[i].iov_base, (int)iov[i].iov_len) != 1)
            return -1;
    if (EVP_EncryptFinal_ex(d->ctx, tag, &outl) != 1) return -1;
    return EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_AEAD_GET_TAG, SEAL_TAG_LEN, tag) == 1 ? 0 : -1;
}

int seal_tag(seal_dir *d, const struct iovec *iov, int n, uint8_t tag[SEAL_TAG_LEN])
{
    if (compute(d, d->seq, iov, n, tag) < 0) return -1;
    d->seq++;
    return 0;
}

int seal_check(seal_dir *d, const uint8_t *frame, size_t n, char *err, size_t errlen)
{
    if (n < FRAME_HEADER + SEAL_TAG_LEN)
        return errf(err, errlen, "frame of %zu bytes is too short to carry its integrity tag", n);
    uint8_t want[SEAL_TAG_LEN];
    struct iovec iov = {(void *)frame, n - SEAL_TAG_LEN};
    if (compute(d, d->seq, &iov, 1, want) < 0) return errf(err, errlen, "cannot check a frame (libcrypto)");
    if (CRYPTO_memcmp(want, frame + n - SEAL_TAG_LEN, SEAL_TAG_LEN) != 0)
        return errf(err, errlen,
                    "frame %llu fails its integrity check (altered, replayed, reordered or not from this peer)",
                    (unsigned long long)d->seq);
    d->seq++;
    return 0;
}
