/*
 * handshake.c - the Hello / HelloAck / Auth exchange as two pure state
 * machines (see handshake.h), and the blocking client over an fd.
 *
 * Owns: the order of the handshake's messages and what a refusal says.
 * The cryptography is auth.c's; sockets are the callers'. A client checks
 * that the server is of the role it came for (the driver, or a worker's
 * data port), so a wrong address fails with a message saying so. The one idea:
 * the server answers a hello only with its own proof and reads nothing
 * but the client's proof next, so no other message is ever handled on a
 * connection that has not shown it knows the secret.
 */
#include "handshake.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "util.h"

#define CHECK_SECRET "check --secret-file"

static const char *role_name(Kiln__Role r)
{
    switch (r) {
    case KILN__ROLE__ROLE_CLIENT:
        return "client";
    case KILN__ROLE__ROLE_WORKER:
        return "worker";
    case KILN__ROLE__ROLE_DRIVER:
        return "driver";
    case KILN__ROLE__ROLE_EXECUTOR:
        return "executor";
    case KILN__ROLE__ROLE_PEER:
        return "shuffle fetcher";
    default:
        return "peer of unknown role";
    }
}

/* Fails the handshake: err gets the reason and *out an Error carrying it
 * (when tell_peer). Returns -1. */
static int hs_fail(handshake *h, const Kiln__Envelope **out, int tell_peer, char *err, size_t errlen, const char *fmt,
                   ...) __attribute__((format(printf, 6, 7)));
static int hs_fail(handshake *h, const Kiln__Envelope **out, int tell_peer, char *err, size_t errlen, const char *fmt,
                   ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->text, sizeof h->text, fmt, ap);
    va_end(ap);
    h->state = HS_FAILED;
    if (tell_peer) {
        kiln__envelope__init(&h->out);
        kiln__error__init(&h->error);
        h->error.message = h->text;
        MSG_BODY(h->out, error, ERROR, &h->error);
        *out = &h->out;
    }
    return errf(err, errlen, "%s", h->text);
}

void hs_server_init(handshake *h, const auth_secret *secret, Kiln__Role role, unsigned accepted)
{
    memset(h, 0, sizeof *h);
    h->secret = secret;
    h->role = role;
    h->accepted = accepted;
    h->server = 1;
    h->state = HS_WAIT_HELLO;
}

static int server_hello(handshake *h, const Kiln__Hello *m, const Kiln__Envelope **out, char *err, size_t errlen)
{
    if (m->version != PROTOCOL_VERSION)
        return hs_fail(h, out, 1, err, errlen, "protocol version %u is not supported (this side speaks %u)", m->version,
                       PROTOCOL_VERSION);
    if ((unsigned)m->role >= 32 || !(h->accepted & HS_ROLE(m->role)))
        return hs_fail(h, out, 1, err, errlen, "a %s may not connect here (this is a %s)", role_name(m->role),
                       role_name(h->role));
    int have = auth_enabled(h->secret), sent = m->nonce.len > 0;
    if (have && !sent)
        return hs_fail(h, out, 1, err, errlen,
                       "authentication failed: this cluster requires the shared secret and the %s sent none "
                       "(" CHECK_SECRET ")",
                       role_name(m->role));
    if (!have && sent)
        return hs_fail(h, out, 1, err, errlen,
                       "authentication failed: the %s has a shared secret but this %s has none "
                       "(" CHECK_SECRET " on both sides)",
                       role_name(m->role), role_name(h->role));
    if (sent && m->nonce.len != AUTH_NONCE_LEN)
        return hs_fail(h, out, 1, err, errlen, "hello nonce of %zu bytes", m->nonce.len);
    h->peer_role = m->role;
    kiln__envelope__init(&h->out);
    kiln__hello_ack__init(&h->ack);
    h->ack.version = PROTOCOL_VERSION;
    h->ack.role = h->role;
    MSG_BODY(h->out, hello_ack, HELLO_ACK, &h->ack);
    *out = &h->out;
    if (!have) {
        h->state = HS_DONE;
        return 1;
    }
    memcpy(h->nonce_c, m->nonce.data, AUTH_NONCE_LEN);
    char why[256];
    if (auth_nonce(h->nonce_s, why, sizeof why) < 0) {
        *out = NULL;
        return hs_fail(h, out, 1, err, errlen, "%s", why);
    }
    auth_mac(h->secret, AUTH_SERVER, h->nonce_c, h->nonce_s, (uint32_t)h->peer_role, (uint32_t)h->role, h->mac);
    h->ack.nonce.data = h->nonce_s;
    h->ack.nonce.len = AUTH_NONCE_LEN;
    h->ack.mac.data = h->mac;
    h->ack.mac.len = AUTH_MAC_LEN;
    h->state = HS_WAIT_AUTH;
    return 0;
}

int hs_server_msg(handshake *h, const Kiln__Envelope *in, const Kiln__Envelope **out, char *err, size_t errlen)
{
    *out = NULL;
    switch (h->state) {
    case HS_WAIT_HELLO:
        if (in->body_case != KILN__ENVELOPE__BODY_HELLO)
            return hs_fail(h, out, 1, err, errlen, "the first message must be a hello, not %s", msg_name(in));
        return server_hello(h, in->hello, out, err, errlen);
    case HS_WAIT_AUTH:
        if (in->body_case == KILN__ENVELOPE__BODY_ERROR)
            return hs_fail(h, out, 0, err, errlen, "the %s refused us: %s", role_name(h->peer_role),
                           in->error->message);
        if (in->body_case != KILN__ENVELOPE__BODY_AUTH)
            return hs_fail(h, out, 1, err, errlen, "authentication failed: expected auth, got %s", msg_name(in));
        if (!auth_verify(h->secret, AUTH_CLIENT, h->nonce_c, h->nonce_s, (uint32_t)h->peer_role, (uint32_t)h->role,
                         in->auth->mac.data, in->auth->mac.len))
            return hs_fail(h, out, 1, err, errlen,
                           "authentication failed: the %s's proof does not match the shared secret (" CHECK_SECRET ")",
                           role_name(h->peer_role));
        h->state = HS_DONE;
        return 1;
    default:
        return hs_fail(h, out, 1, err, errlen, "unexpected %s during the handshake", msg_name(in));
    }
}

int hs_client_start(handshake *h, const auth_secret *secret, Kiln__Role role, const char *name,
                    const Kiln__Envelope **out, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    h->secret = secret;
    h->role = role;
    kiln__envelope__init(&h->out);
    kiln__hello__init(&h->hello);
    h->hello.version = PROTOCOL_VERSION;
    h->hello.role = role;
    h->hello.name = (char *)(name ? name : "");
    if (auth_enabled(secret)) {
        if (auth_nonce(h->nonce_c, err, errlen) < 0) return -1;
        h->hello.nonce.data = h->nonce_c;
        h->hello.nonce.len = AUTH_NONCE_LEN;
    }
    MSG_BODY(h->out, hello, HELLO, &h->hello);
    *out = &h->out;
    h->state = HS_WAIT_ACK;
    return 0;
}

/* The role of the server a client of role r talks to: clients and workers
 * talk to the driver, shuffle fetchers to a worker's data port. */
static Kiln__Role server_role_for(Kiln__Role r)
{
    switch (r) {
    case KILN__ROLE__ROLE_CLIENT:
    case KILN__ROLE__ROLE_WORKER:
        return KILN__ROLE__ROLE_DRIVER;
    case KILN__ROLE__ROLE_PEER:
        return KILN__ROLE__ROLE_WORKER;
    default:
        return KILN__ROLE__ROLE_UNKNOWN;
    }
}

int hs_client_msg(handshake *h, const Kiln__Envelope *in, const Kiln__Envelope **out, char *err, size_t errlen)
{
    *out = NULL;
    if (h->state != HS_WAIT_ACK)
        return hs_fail(h, out, 1, err, errlen, "unexpected %s during the handshake", msg_name(in));
    if (in->body_case == KILN__ENVELOPE__BODY_ERROR)
        return hs_fail(h, out, 0, err, errlen, "refused: %s", in->error->message);
    if (in->body_case != KILN__ENVELOPE__BODY_HELLO_ACK)
        return hs_fail(h, out, 1, err, errlen, "expected hello_ack, got %s", msg_name(in));
    const Kiln__HelloAck *a = in->hello_ack;
    if (a->version != PROTOCOL_VERSION)
        return hs_fail(h, out, 1, err, errlen, "protocol version %u, expected %u", a->version, PROTOCOL_VERSION);
    Kiln__Role want = server_role_for(h->role);
    if (a->role != want)
        return hs_fail(h, out, 1, err, errlen, "the server is a %s, not %s%s (check the address)", role_name(a->role),
                       want == KILN__ROLE__ROLE_DRIVER ? "the " : "a ", role_name(want));
    int have = auth_enabled(h->secret), proved = a->nonce.len > 0 || a->mac.len > 0;
    if (!have && proved)
        return hs_fail(h, out, 1, err, errlen,
                       "authentication failed: the server requires the shared secret and we have none (" CHECK_SECRET
                       ")");
    if (have && !proved)
        return hs_fail(h, out, 1, err, errlen,
                       "authentication failed: the server has no shared secret but we have one (" CHECK_SECRET
                       " on both sides)");
    if (!have) {
        h->peer_role = a->role;
        h->state = HS_DONE;
        return 1;
    }
    if (a->nonce.len != AUTH_NONCE_LEN || !auth_verify(h->secret, AUTH_SERVER, h->nonce_c, a->nonce.data,
                                                       (uint32_t)h->role, (uint32_t)a->role, a->mac.data, a->mac.len))
        return hs_fail(h, out, 1, err, errlen,
                       "authentication failed: the server's proof does not match our shared secret (" CHECK_SECRET ")");
    memcpy(h->nonce_s, a->nonce.data, AUTH_NONCE_LEN);
    h->peer_role = a->role;
    auth_mac(h->secret, AUTH_CLIENT, h->nonce_c, h->nonce_s, (uint32_t)h->role, (uint32_t)a->role, h->mac);
    kiln__envelope__init(&h->out);
    kiln__auth__init(&h->auth);
    h->auth.mac.data = h->mac;
    h->auth.mac.len = AUTH_MAC_LEN;
    MSG_BODY(h->out, auth, AUTH, &h->auth);
    *out = &h->out;
    h->state = HS_DONE;
    return 1;
}

int hs_seal(const handshake *h, seal *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (h->state != HS_DONE) return errf(err, errlen, "the handshake has not finished");
    Kiln__Role client = h->server ? h->peer_role : h->role, server = h->server ? h->role : h->peer_role;
    return seal_init(s, h->secret, h->server ? AUTH_SERVER : AUTH_CLIENT, h->nonce_c, h->nonce_s, (uint32_t)client,
                     (uint32_t)server, err, errlen);
}

int msg_handshake_fd(int fd, msg_reader *r, Kiln__Role role, const char *name, const auth_secret *secret, seal *s,
                     char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    handshake h;
    const Kiln__Envelope *out;
    if (hs_client_start(&h, secret, role, name, &out, err, errlen) < 0) return -1;
    if (msg_write_fd(fd, out) < 0) return errf(err, errlen, "send hello: %s", strerror(errno));
    Kiln__Envelope *in = NULL;
    /* the answer is a HelloAck or an Error: a bigger frame is not read */
    size_t max = r->max;
    r->max = frame_limit(0, max);
    int st = msg_reader_next(r, &in, err, errlen);
    r->max = max;
    if (st == 0) return errf(err, errlen, "the peer closed the connection during the handshake");
    if (st < 0) return -1;
    st = hs_client_msg(&h, in, &out, err, errlen);
    msg_free(in);
    /* the Auth, or an Error so the server logs why we gave up */
    if (out && msg_write_fd(fd, out) < 0 && st > 0) return errf(err, errlen, "send auth: %s", strerror(errno));
    if (st <= 0) return -1;
    /* every frame after the Auth is sealed, both ways */
    if (hs_seal(&h, s, err, errlen) < 0) return -1;
    r->rx = seal_on(&s->rx) ? &s->rx : NULL; /* without a secret r holds no pointer to s */
    return 0;
}
