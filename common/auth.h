/*
 * auth.h - the shared secret and the HMAC-SHA256 proofs of the handshake.
 *
 * Pure: no sockets, no messages. The secret is loaded once at start-up
 * (refused when the file is empty or others may read it), nonces
 * come from the kernel's random source, and a MAC binds the secret to one
 * direction of one handshake: a label ("kiln-server" or "kiln-client"), the
 * two nonces in that direction's order, and both roles. Verification
 * compares in constant time.
 *
 * Ownership: an auth_secret owns its key bytes; auth_secret_release wipes
 * and frees them. Everything else borrows.
 */
#ifndef KILN_AUTH_H
#define KILN_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_NONCE_LEN  32
#define AUTH_MAC_LEN    32
#define AUTH_SECRET_MAX 4096

/* Which side proves: the server answers the hello, the client sends Auth. */
typedef enum auth_dir { AUTH_SERVER, AUTH_CLIENT } auth_dir;

typedef struct auth_secret {
    uint8_t *key; /* owned; NULL when no secret is configured */
    size_t len;
} auth_secret;

/* True when a secret is configured (s may be NULL). */
int auth_enabled(const auth_secret *s);

/* The group whose members share the service's secret (the units in systemd/
 * run the daemons as user and group kiln). */
#define AUTH_SERVICE_GROUP "kiln"

/* Loads path into s (which must be zeroed or released). An empty path
 * leaves s empty (no secret) and succeeds. Refuses, with a message naming
 * the file: a file that cannot be read, one that is not a regular file,
 * one over AUTH_SECRET_MAX bytes, an empty one, and one others may touch:
 * any group or other permission bit is refused, except the service's
 * layout, mode 0640 exactly (group read only) with the group
 * AUTH_SERVICE_GROUP. One trailing newline ("\n" or "\r\n") is not part of
 * the secret, so `echo secret > file` works. 0, or -1. */
int auth_secret_load(auth_secret *s, const char *path, char *err, size_t errlen);
/* auth_secret_load with the rule's inputs given: service_gid is the gid
 * whose read bit is accepted (-1: none is), owner the uid that must own
 * the file (-1: any). */
int auth_secret_load_as(auth_secret *s, const char *path, long service_gid, long owner, char *err, size_t errlen);
/* The gid of AUTH_SERVICE_GROUP, or -1 when there is no such group. */
long auth_service_gid(void);
/* Copies src into dst (dst zeroed or released). */
void auth_secret_copy(auth_secret *dst, const auth_secret *src);
void auth_secret_release(auth_secret *s);

/* Fills out with AUTH_NONCE_LEN random bytes. 0, or -1 with a message. */
int auth_nonce(uint8_t out[AUTH_NONCE_LEN], char *err, size_t errlen);

/* mac = HMAC-SHA256(secret, label(dir) || first || second || client_role ||
 * server_role), roles as 4 bytes little-endian. For AUTH_SERVER first is
 * the client's nonce and second the server's; for AUTH_CLIENT the reverse.
 * Callers pass the nonces as (nonce_c, nonce_s); the order is applied here. */
void auth_mac(const auth_secret *s, auth_dir dir, const uint8_t nonce_c[AUTH_NONCE_LEN],
              const uint8_t nonce_s[AUTH_NONCE_LEN], uint32_t client_role, uint32_t server_role,
              uint8_t mac[AUTH_MAC_LEN]);
/* 1 when mac (of mac_len bytes) is the right proof, else 0. Constant time
 * in the MAC's content. */
int auth_verify(const auth_secret *s, auth_dir dir, const uint8_t nonce_c[AUTH_NONCE_LEN],
                const uint8_t nonce_s[AUTH_NONCE_LEN], uint32_t client_role, uint32_t server_role, const uint8_t *mac,
                size_t mac_len);

#endif
