/*
 * httpd.c - the status ports' HTTP server (see httpd.h for what it
 * guarantees). One connection is one request and one reply: the head is
 * copied into the connection's fixed buffer as it arrives (each byte once,
 * never more than HTTPREQ_MAX_HEAD + 1 of them), parsed by httpreq.c,
 * checked (method, body, credentials), served, and the connection ends
 * once the reply left: it shuts down its side, discards what the peer
 * still sends for a moment (so the peer reads the reply instead of a
 * reset) and closes.
 *
 * A connection is never freed inside its own callback: it is put on the
 * closing list and freed when the loop comes back (reap_cb).
 */
#include "httpd.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpreq.h"
#include "listen.h"
#include "metrics.h"
#include "net.h"
#include "text.h"
#include "util.h"

#define LINGER_MS    1000      /* after the reply: how long the peer's leftovers are read and dropped */
#define LINGER_BYTES (1 << 20) /* and how many at most */

enum { HC_HEAD, HC_REPLY, HC_LINGER, HC_CLOSING };

typedef struct hconn {
    httpd *s;
    struct bufferevent *bev;
    struct event *timer;
    int state;
    size_t hlen, scanned, dropped;
    char peer[64];
    struct hconn *prev, *next;
    char head[HTTPREQ_MAX_HEAD + 1];
} hconn;

struct httpd_req {
    hconn *c;
    httpreq r;
    int is_head;
    char *path; /* the target before '?', raw */
    const char *query;
    struct evbuffer *hdrs; /* extra reply headers, "Name: value\r\n" each */
    int replied;
};

struct httpd {
    struct event_base *base;
    logger *log;
    listen_guard *lg;
    httpd_opts o;
    char token[HTTPD_TOKEN_HEX + 1];
    httpd_serve_fn serve;
    void *arg;
    hconn *conns, *closing;
    struct event *reap;
    uint64_t nconns;
    uint64_t accepted, refused, unauthorized, bad_requests;
    ratelog refused_log;
};

void httpd_token(const uint8_t *secret, size_t len, char out[HTTPD_TOKEN_HEX + 1])
{
    static const char label[] = "kiln-http-token";
    uint8_t mac[32];
    unsigned int n = sizeof mac;
    uint8_t none = 0;
    HMAC(EVP_sha256(), secret && len ? secret : &none, (int)len, (const uint8_t *)label, sizeof label - 1, mac, &n);
    for (size_t i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    OPENSSL_cleanse(mac, sizeof mac);
}

/* ---- connections ---------------------------------------------------------------- */

static void unlink_conn(hconn **list, hconn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *list = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void push_conn(hconn **list, hconn *c)
{
    c->next = *list;
    if (*list) (*list)->prev = c;
    *list = c;
}

/* Marks c closing; reap_cb frees it when the loop comes back. */
static void hconn_close(hconn *c)
{
    if (c->state == HC_CLOSING) return;
    c->state = HC_CLOSING;
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    event_del(c->timer);
    unlink_conn(&c->s->conns, c);
    push_conn(&c->s->closing, c);
    event_active(c->s->reap, 0, 0);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    httpd *s = arg;
    while (s->closing) {
        hconn *c = s->closing;
        unlink_conn(&s->closing, c);
        bufferevent_free(c->bev);
        event_free(c->timer);
        s->nconns--;
        free(c);
    }
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    hconn *c = arg;
    if (c->state == HC_HEAD) log_msg(c->s->log, LOG_DEBUG, "http request timed out peer=%s", c->peer);
    hconn_close(c);
}

static const char *reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    }
    return "Error";
}

/* The reply left: end our side, drop what the peer still sends (bounded),
 * and close on its EOF, at LINGER_BYTES or after LINGER_MS. */
static void write_cb(struct bufferevent *bev, void *arg)
{
    hconn *c = arg;
    if (c->state != HC_REPLY || evbuffer_get_length(bufferevent_get_output(bev))) return;
    c->state = HC_LINGER;
    shutdown(bufferevent_getfd(bev), SHUT_WR);
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    bufferevent_enable(bev, EV_READ);
    struct timeval tv = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};
    event_add(c->timer, &tv);
}

static void send_reply(hconn *c, int code, const char *type, struct evbuffer *extra, struct evbuffer *body,
                       int is_head)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t len = body ? evbuffer_get_length(body) : 0;
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
                        "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
                        code, reason(code), type, len);
    if (extra) evbuffer_add_buffer(out, extra);
    evbuffer_add(out, "\r\n", 2);
    if (body && !is_head) evbuffer_add_buffer(out, body);
    if (body) evbuffer_drain(body, evbuffer_get_length(body));
    c->state = HC_REPLY;
    bufferevent_disable(c->bev, EV_READ);
    event_del(c->timer);
    struct timeval tv = {c->s->o.timeout_ms / 1000, (c->s->o.timeout_ms % 1000) * 1000};
    bufferevent_set_timeouts(c->bev, NULL, &tv); /* a peer that stops reading */
    bufferevent_enable(c->bev, EV_WRITE);
}

/* A refusal before any route: status code and a line of text. */
static void refuse(hconn *c, int code, const char *extra_header, const char *text, int is_head)
{
    struct evbuffer *b = evbuffer_new(), *h = NULL;
    evbuffer_add_printf(b, "%s\n", text);
    if (extra_header) {
        h = evbuffer_new();
        evbuffer_add_printf(h, "%s\r\n", extra_header);
    }
    send_reply(c, code, "text/plain; charset=utf-8", h, b, is_head);
    evbuffer_free(b);
    if (h) evbuffer_free(h);
}

/* 1 when req may be served: the server is public, the path is, or the
 * request carries the token (header or cookie). */
static int has_credentials(httpd *s, httpd_req *q)
{
    if (!s->token[0] || !strcmp(q->path, "/health")) return 1;
    if (s->o.metrics_public && !strcmp(q->path, "/metrics")) return 1;
    char got[HTTPD_TOKEN_HEX + 2] = "";
    const char *a = httpreq_header_get(&q->r, "Authorization");
    if (a && !strncasecmp(a, "Bearer ", 7) && strlen(a + 7) == HTTPD_TOKEN_HEX) snprintf(got, sizeof got, "%s", a + 7);
    const char *ck = httpreq_header_get(&q->r, "Cookie");
    if (!got[0] && ck) httpreq_cookie(ck, HTTPD_COOKIE, got, sizeof got);
    return strlen(got) == HTTPD_TOKEN_HEX && CRYPTO_memcmp(got, s->token, HTTPD_TOKEN_HEX) == 0;
}

/* The login URL: ?token=TOKEN sets the cookie and redirects to the same
 * path without the query (so the token leaves the address bar and the
 * history). 1 when req was one (answered), else 0. */
static int login(httpd *s, httpd_req *q)
{
    char got[HTTPD_TOKEN_HEX + 2] = "";
    if (!s->token[0] || !q->query || !httpreq_query_param(q->query, "token", got, sizeof got)) return 0;
    if (strlen(got) != HTTPD_TOKEN_HEX || CRYPTO_memcmp(got, s->token, HTTPD_TOKEN_HEX) != 0) {
        s->unauthorized++;
        refuse(q->c, 401, "WWW-Authenticate: Bearer realm=\"kiln\"",
               "wrong login token: run `kiln ui` for this cluster's login URL", q->is_head);
        return 1;
    }
    struct evbuffer *h = evbuffer_new();
    evbuffer_add_printf(h, "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Strict\r\nLocation: %s\r\n", HTTPD_COOKIE,
                        s->token, q->path);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "logged in\n");
    send_reply(q->c, 303, "text/plain; charset=utf-8", h, b, q->is_head);
    evbuffer_free(h);
    evbuffer_free(b);
    return 1;
}

/* The head is complete in c->head[0..end): check it, then serve it. */
static void handle(hconn *c, size_t end)
{
    httpd *s = c->s;
    httpd_req q;
    memset(&q, 0, sizeof q);
    q.c = c;
    const char *why = NULL;
    int st = httpreq_parse(&q.r, c->head, end, &why);
    if (st) {
        s->bad_requests++;
        log_msg(s->log, LOG_DEBUG, "http request refused peer=%s status=%d error=\"%s\"", c->peer, st, why);
        refuse(c, st, NULL, why, 0);
        httpreq_release(&q.r);
        return;
    }
    q.is_head = !strcmp(q.r.method, "HEAD");
    if (strcmp(q.r.method, "GET") && !q.is_head) {
        refuse(c, 405, "Allow: GET, HEAD", "only GET and HEAD", 0);
    } else if (q.r.content_length > 0 || q.r.has_body_coding) {
        refuse(c, 413, NULL, "no request here takes a body", q.is_head);
    } else {
        const char *qm = strchr(q.r.target, '?');
        q.path = qm ? xstrndup(q.r.target, (size_t)(qm - q.r.target)) : xstrdup(q.r.target);
        q.query = qm ? qm + 1 : NULL;
        if (login(s, &q)) {
        } else if (!has_credentials(s, &q)) {
            s->unauthorized++;
            log_msg(s->log, LOG_DEBUG, "http request without credentials peer=%s", c->peer);
            refuse(c, 401, "WWW-Authenticate: Bearer realm=\"kiln\"",
                   "this page needs the cluster's credentials: open the URL `kiln ui` prints, or send "
                   "\"Authorization: Bearer $(kiln token)\"",
                   q.is_head);
        } else if (!strcmp(q.path, "/health")) {
            struct evbuffer *b = evbuffer_new();
            evbuffer_add_printf(b, "ok\n");
            send_reply(c, 200, "text/plain; charset=utf-8", NULL, b, q.is_head);
            evbuffer_free(b);
        } else {
            q.hdrs = evbuffer_new();
            s->serve(&q, s->arg);
            if (!q.replied) refuse(c, 500, NULL, "no reply", q.is_head);
            evbuffer_free(q.hdrs);
        }
        free(q.path);
    }
    httpreq_release(&q.r);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    hconn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (c->state == HC_LINGER) {
        c->dropped += evbuffer_get_length(in);
        evbuffer_drain(in, evbuffer_get_length(in));
        if (c->dropped > LINGER_BYTES) hconn_close(c);
        return;
    }
    if (c->state != HC_HEAD) return;
    /* each byte is copied once into head[] and scanned once */
    c->hlen += evbuffer_remove(in, c->head + c->hlen, sizeof c->head - c->hlen);
    size_t end = httpreq_head_end(c->head, c->hlen, &c->scanned);
    if (end) {
        handle(c, end);
    } else if (c->hlen > HTTPREQ_MAX_HEAD) {
        c->s->bad_requests++;
        refuse(c, 431, NULL, "request head over 8 KiB", 0);
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    hconn *c = arg;
    /* EOF before a whole head, after the reply, an error, a write time-out */
    hconn_close(c);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    httpd *s = arg;
    if (s->nconns >= s->o.max_conns) {
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                                   "Content-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n";
        ssize_t w = send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)w;
        evutil_closesocket(fd);
        s->refused++;
        uint64_t held;
        if (ratelog_due(&s->refused_log, LISTEN_LOG_EVERY_MS, &held))
            log_msg(s->log, LOG_WARN, "http: too many connections, refusing new ones limit=%llu refused_since=%llu",
                    (unsigned long long)s->o.max_conns, (unsigned long long)held + 1);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    hconn *c = xcalloc(1, sizeof *c);
    c->s = s;
    net_peer_name(fd, c->peer, sizeof c->peer);
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(s->base, timer_cb, c);
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    /* never read past what a head may hold */
    bufferevent_setwatermark(c->bev, EV_READ, 0, HTTPREQ_MAX_HEAD + 1);
    bufferevent_enable(c->bev, EV_READ);
    struct timeval tv = {s->o.timeout_ms / 1000, (s->o.timeout_ms % 1000) * 1000};
    event_add(c->timer, &tv);
    c->state = HC_HEAD;
    push_conn(&s->conns, c);
    s->nconns++;
    s->accepted++;
}

httpd *httpd_new(struct event_base *base, int fd, logger *log, const httpd_opts *o, httpd_serve_fn serve, void *arg)
{
    httpd *s = xcalloc(1, sizeof *s);
    s->base = base;
    s->log = log;
    s->o = *o;
    s->o.token = NULL;
    if (s->o.max_conns < 1) s->o.max_conns = 1;
    if (o->token) snprintf(s->token, sizeof s->token, "%s", o->token);
    s->serve = serve;
    s->arg = arg;
    s->reap = event_new(base, -1, 0, reap_cb, s);
    s->lg = listen_guard_new(base, fd, log, "http", accept_cb, s);
    if (!s->lg) {
        event_free(s->reap);
        free(s);
        return NULL;
    }
    return s;
}

void httpd_stop(httpd *s)
{
    if (s) listen_guard_stop(s->lg);
}

void httpd_free(httpd *s)
{
    if (!s) return;
    while (s->conns)
        hconn_close(s->conns);
    reap_cb(-1, 0, s);
    listen_guard_free(s->lg);
    event_free(s->reap);
    OPENSSL_cleanse(s->token, sizeof s->token);
    free(s);
}

void httpd_metrics(const httpd *s, FILE *f, const char *prefix)
{
    char name[128];
#define HM(kind, suffix, help, v)                                                   \
    do {                                                                            \
        snprintf(name, sizeof name, "%s_http_%s", prefix, suffix);                  \
        metrics_##kind(f, name, help, v);                                           \
    } while (0)
    HM(counter, "connections_total", "HTTP connections accepted.", s->accepted);
    HM(counter, "connections_refused_total", "HTTP connections refused at once (http.max_connections).",
       s->refused);
    HM(gauge, "connections_open", "HTTP connections open.", (double)s->nconns);
    HM(gauge, "connections_max", "HTTP connections allowed at once.", (double)s->o.max_conns);
    HM(counter, "unauthorized_total", "HTTP requests refused for want of the cluster's credentials.",
       s->unauthorized);
    HM(counter, "bad_requests_total", "HTTP requests refused as malformed or over the head limit.", s->bad_requests);
    HM(counter, "accept_backoffs_total", "Times the HTTP port paused accepting (out of descriptors).",
       listen_guard_backoffs(s->lg));
#undef HM
}

/* ---- requests and replies ---------------------------------------------------------- */

const char httpd_style[] =
    "body{font-family:sans-serif;margin:1em 2em;color:#222}"
    "nav a{margin-right:1em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:90%}"
    "th{background:#eee}td.n{text-align:right}.succeeded{color:#1a7f37}.failed,.killed,.fetch_failed,.lost{color:#c00}"
    ".running,.sampling{color:#0550ae}.err{color:#c00;white-space:pre-wrap;font-family:monospace}"
    "progress{width:8em}";

int httpd_begin(httpd_req *req, struct evbuffer *b, httpd_path *p)
{
    memset(p, 0, sizeof *p);
    p->path = evhttp_uridecode(req->path && *req->path ? req->path : "/", 0, NULL);
    const size_t max = sizeof p->parts / sizeof p->parts[0];
    for (char *save = NULL, *c = p->path ? strtok_r(p->path, "/", &save) : NULL; c; c = strtok_r(NULL, "/", &save)) {
        if (p->n == max) {
            p->n = HTTPD_TOO_DEEP;
            break;
        }
        p->parts[p->n++] = c;
    }
    return 0;
}

void httpd_path_release(httpd_path *p)
{
    free(p->path);
    memset(p, 0, sizeof *p);
}

void httpd_add_header(httpd_req *req, const char *name, const char *value)
{
    /* names and values are kiln's own; a CR or LF would split the reply */
    if (strpbrk(name, "\r\n") || strpbrk(value, "\r\n")) return;
    evbuffer_add_printf(req->hdrs, "%s: %s\r\n", name, value);
}

void httpd_reply(httpd_req *req, int code, const char *type, struct evbuffer *b)
{
    if (req->replied) return;
    req->replied = 1;
    send_reply(req->c, code, type, req->hdrs, b, req->is_head);
}

void httpd_reply_json(httpd_req *req, json_t *o, struct evbuffer *b)
{
    int code = 200;
    if (!o) {
        code = 404;
        o = json_pack("{s:s}", "error", "not found");
    }
    char *s = json_dumps(o, JSON_INDENT(2));
    evbuffer_add_printf(b, "%s\n", s ? s : "null");
    free(s);
    json_decref(o);
    httpd_reply(req, code, "application/json", b);
}

void httpd_reply_metrics(httpd_req *req, struct evbuffer *b, void (*write)(void *arg, FILE *f), void *arg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f) {
        write(arg, f);
        fclose(f);
        evbuffer_add(b, text, len);
    }
    free(text);
    httpd_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b);
}

void httpd_put_esc(struct evbuffer *b, const char *s)
{
    char *e = html_escape(s);
    evbuffer_add(b, e, strlen(e));
    free(e);
}
