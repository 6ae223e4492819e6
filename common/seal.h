/*
 * seal.h - the integrity of every frame after an authenticated handshake.
 *
 * With a shared secret, the handshake's nonces and roles give each
 * connection two fresh keys, one per direction:
 *
 *   session = HMAC-SHA256(secret, "kiln-session" || nonce_c || nonce_s || client_role || server_role)
 *   key_c2s = HMAC-SHA256(session, "kiln-client-to-server")
 *   key_s2c = HMAC-SHA256(session, "kiln-server-to-client")
 *
 * and every frame after the handshake carries a 16-byte tag: the Poly1305
 * tag of the whole frame (its 4-byte header, whose length counts the tag,
 * and its payload) under a one-time key. The one-time key of frame seq
 * (the number of frames sent before it in that direction: 64 bits, never
 * on the wire) is the 32 bytes at 32 * (seq mod 16) of the ChaCha20
 * keystream under the direction's key, block counter 0 and the nonce
 * 0^32 || u64le(seq / 16): every frame gets its own key, never reused,
 * which is what Poly1305 needs (NaCl's secretbox keys it the same way).
 * One ChaCha20 call yields the keys of 16 frames. So an altered frame, a
 * frame replayed, dropped or moved, or one from another connection or
 * direction fails its check.
 * Frames are not encrypted (docs/decisions.md says why).
 *
 *   [u32 len = payload + SEAL_TAG_LEN][payload][tag]
 *
 * Pure: no sockets. conn.c (evbuffers), msg.c (blocking reader and
 * writer) and the shuffle fetcher seal and open frames with it.
 *
 * Ownership: a seal owns its cipher and MAC contexts and the key stream;
 * seal_release frees them and wipes the keys. A zeroed seal is off
 * (frames are plain).
 */
#ifndef KILN_SEAL_H
#define KILN_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "auth.h"

#define SEAL_TAG_LEN 16
#define SEAL_KEY_LEN 32

#define SEAL_BATCH 16 /* frames keyed by one ChaCha20 call */

struct evp_cipher_ctx_st;
struct evp_mac_ctx_st;

/* One direction: its keyed ChaCha20 (NULL: frames are plain), its
 * Poly1305, the one-time keys of the frames of batch ks_batch, and the
 * sequence number of the next frame. */
typedef struct seal_dir {
    struct evp_cipher_ctx_st *ctx;
    struct evp_mac_ctx_st *mac;
    uint64_t seq;
    uint64_t ks_batch; /* seq / SEAL_BATCH of the keys in ks; UINT64_MAX: none */
    uint8_t ks[SEAL_BATCH * SEAL_KEY_LEN];
} seal_dir;

/* tx seals what we send, rx opens what we receive. */
typedef struct seal {
    seal_dir tx, rx;
} seal;

/* Derives both directions' keys (see above) and sets up s (zeroed or
 * released) for the side we are: AUTH_SERVER sends with key_s2c and
 * receives with key_c2s, AUTH_CLIENT the reverse. Without a secret, s
 * stays off and this succeeds. 0, or -1 with a message (libcrypto). */
int seal_init(seal *s, const auth_secret *secret, auth_dir we, const uint8_t nonce_c[AUTH_NONCE_LEN],
              const uint8_t nonce_s[AUTH_NONCE_LEN], uint32_t client_role, uint32_t server_role, char *err,
              size_t errlen);
void seal_release(seal *s);
/* Keys one direction with key (for seal_init, and tests with a known key).
 * 0, or -1 (libcrypto). */
int seal_dir_init(seal_dir *d, const uint8_t key[SEAL_KEY_LEN]);

/* True when frames in direction d carry tags (d may be NULL). */
static inline int seal_on(const seal_dir *d)
{
    return d && d->ctx;
}

/* The tag of the next frame in direction d: the frame is the bytes of
 * iov[0..n) in order (its header first, the length already counting the
 * tag). Advances d->seq. 0, or -1 (libcrypto failed: close the
 * connection). */
int seal_tag(seal_dir *d, const struct iovec *iov, int n, uint8_t tag[SEAL_TAG_LEN]);
/* Checks a whole received frame (frame[0 .. n) = header, payload, tag; n
 * at least FRAME_HEADER + SEAL_TAG_LEN) against the next sequence number
 * of d. 0 (and d->seq advances), or -1 with a message: the frame was
 * altered, replayed, reordered or is not ours, and must not be used. */
int seal_check(seal_dir *d, const uint8_t *frame, size_t n, char *err, size_t errlen);

/* The largest frame length (header value) a sealed peer may announce when
 * its payloads are at most max: max + SEAL_TAG_LEN (on d), else max. */
static inline size_t seal_frame_max(const seal_dir *d, size_t max)
{
    return seal_on(d) ? max + SEAL_TAG_LEN : max;
}

#endif
