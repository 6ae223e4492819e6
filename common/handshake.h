/*
 * handshake.h - the first messages of every kiln connection: Hello,
 * HelloAck and, with a shared secret, Auth (proto/kiln.proto describes the
 * exchange). Both sides prove they know the secret by HMAC-SHA256 over
 * fresh nonces (common/auth.c); the secret never crosses the wire.
 *
 * The two state machines are pure: they take a decoded message and say
 * what to send back, so the driver's and the data port's bufferevent
 * connections, the worker's link and the blocking clients share one
 * implementation, and tests need no socket. msg_handshake_fd drives the
 * client side over a blocking fd.
 *
 * Rules: no secret on both sides -> Hello/HelloAck as before; a secret on
 * one side only -> refused, saying so; a wrong secret -> refused; any
 * message other than the next handshake message -> refused; a HelloAck
 * from a server of another role than the client's role talks to (clients
 * and workers the driver, shuffle fetchers a worker) -> refused. A refusal
 * comes with an Error message for the peer (the server logs the reason
 * with the peer's address; the client reports it).
 *
 * Ownership: a handshake borrows its secret (which must outlive it). The
 * message it asks the caller to send is stored inside it and valid until
 * the next call.
 */
#ifndef KILN_HANDSHAKE_H
#define KILN_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "msg.h"
#include "seal.h"

typedef enum hs_state { HS_WAIT_HELLO, HS_WAIT_ACK, HS_WAIT_AUTH, HS_DONE, HS_FAILED } hs_state;

/* Bit for a role in a server's set of accepted roles. */
#define HS_ROLE(r) (1u << (unsigned)(r))

typedef struct handshake {
    const auth_secret *secret; /* borrowed; NULL or empty: no authentication */
    Kiln__Role role;           /* ours */
    Kiln__Role peer_role;      /* the other side's: from the hello (server) or the ack (client) */
    unsigned accepted;         /* server: HS_ROLE bits of the roles it serves */
    int server;                /* set up by hs_server_init */
    hs_state state;
    uint8_t nonce_c[AUTH_NONCE_LEN], nonce_s[AUTH_NONCE_LEN];
    uint8_t mac[AUTH_MAC_LEN];
    /* the message to send (see hs_*_msg), pointing into this struct */
    Kiln__Envelope out;
    Kiln__Hello hello;
    Kiln__HelloAck ack;
    Kiln__Auth auth;
    Kiln__Error error;
    char text[512];
} handshake;

/* Server side: role is ours (ROLE_DRIVER, ROLE_WORKER), accepted the
 * HS_ROLE bits of the clients we serve. */
void hs_server_init(handshake *h, const auth_secret *secret, Kiln__Role role, unsigned accepted);
/* Client side: prepares the hello (with a fresh nonce when there is a
 * secret) and sets *out to it. 0, or -1 with a message (no random bytes). */
int hs_client_start(handshake *h, const auth_secret *secret, Kiln__Role role, const char *name,
                    const Kiln__Envelope **out, char *err, size_t errlen);

/* Feeds one message that arrived before the handshake finished. Returns 1
 * when it finished (the peer is who it says and knows the secret), 0 when
 * more is to come, -1 when the connection must be closed (err says why).
 * *out is NULL or a message to send now, before anything else; on -1 it is
 * an Error for the peer when one should go. */
int hs_server_msg(handshake *h, const Kiln__Envelope *in, const Kiln__Envelope **out, char *err, size_t errlen);
int hs_client_msg(handshake *h, const Kiln__Envelope *in, const Kiln__Envelope **out, char *err, size_t errlen);

/* After the handshake finished (HS_DONE): sets up s (zeroed or released)
 * with the connection's keys (common/seal.h) for our side, or leaves it
 * off without a secret. 0, or -1 with a message. */
int hs_seal(const handshake *h, seal *s, char *err, size_t errlen);

/* Client side over a blocking fd: sends the hello, reads the answer, sends
 * the Auth, then sets up s for the frames that follow (with a secret r
 * opens them with s->rx, so s must outlive r's use; send with
 * msg_write_sealed(fd, &s->tx, ...)). Without a secret s stays off and r
 * does not point to it. The caller releases s. 0, or -1 with a message (refused,
 * wrong secret, no answer). */
int msg_handshake_fd(int fd, msg_reader *r, Kiln__Role role, const char *name, const auth_secret *secret, seal *s,
                     char *err, size_t errlen);

#endif
