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
 * Why Poly1305 keyed from ChaCha20: libcrypto runs Poly1305 at several
 * GB/s (HMAC-SHA256 is ~5x slower), and a one-time Poly1305 key per frame
 * from the ChaCha20 key stream under the unique (key, seq) position is
 * what makes Poly1305 safe for many messages. The keys come 16 frames to
 * a ChaCha20 call because a frame is often small: libcrypto's AEAD
 * interface costs ~1 us of set-up per frame here, this ~0.2 us (most
 * frames of a scheduler are a task launch or a task answer).
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

int seal_dir_init(seal_dir *d, const uint8_t key[SEAL_KEY_LEN])
{
    memset(d, 0, sizeof *d);
    d->ks_batch = UINT64_MAX;
    EVP_MAC *poly = EVP_MAC_fetch(NULL, "POLY1305", NULL);
    d->ctx = EVP_CIPHER_CTX_new();
    d->mac = poly ? EVP_MAC_CTX_new(poly) : NULL;
    EVP_MAC_free(poly); /* the context holds its own reference */
    if (!d->ctx || !d->mac || EVP_EncryptInit_ex(d->ctx, EVP_chacha20(), NULL, key, NULL) != 1) {
        EVP_CIPHER_CTX_free(d->ctx);
        EVP_MAC_CTX_free(d->mac);
        memset(d, 0, sizeof *d);
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
        seal_dir_init(&s->tx, we == AUTH_SERVER ? s2c : c2s) == 0 && seal_dir_init(&s->rx, we == AUTH_SERVER ? c2s : s2c) == 0)
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
    /* the EVP frees cleanse the key schedules; the key stream is ours */
    EVP_CIPHER_CTX_free(s->tx.ctx);
    EVP_CIPHER_CTX_free(s->rx.ctx);
    EVP_MAC_CTX_free(s->tx.mac);
    EVP_MAC_CTX_free(s->rx.mac);
    OPENSSL_cleanse(s, sizeof *s);
}

/* The tag of iov under d's one-time key for frame seq. 0, or -1. */
static int compute(seal_dir *d, uint64_t seq, const struct iovec *iov, int n, uint8_t tag[SEAL_TAG_LEN])
{
    uint64_t batch = seq / SEAL_BATCH;
    if (batch != d->ks_batch) {
        /* EVP_chacha20's IV: the 32-bit block counter, then the nonce */
        uint8_t iv[16] = {0};
        int outl;
        put_u64le(iv + 8, batch);
        memset(d->ks, 0, sizeof d->ks);
        d->ks_batch = UINT64_MAX;
        if (EVP_EncryptInit_ex(d->ctx, NULL, NULL, NULL, iv) != 1 ||
            EVP_EncryptUpdate(d->ctx, d->ks, &outl, d->ks, (int)sizeof d->ks) != 1 || outl != (int)sizeof d->ks)
            return -1;
        d->ks_batch = batch;
    }
    size_t len;
    if (EVP_MAC_init(d->mac, d->ks + SEAL_KEY_LEN * (seq % SEAL_BATCH), SEAL_KEY_LEN, NULL) != 1) return -1;
    for (int i = 0; i < n; i++)
        if (iov[i].iov_len && EVP_MAC_update(d->mac, iov[i].iov_base, iov[i].iov_len) != 1) return -1;
    return EVP_MAC_final(d->mac, tag, &len, SEAL_TAG_LEN) == 1 && len == SEAL_TAG_LEN ? 0 : -1;
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
