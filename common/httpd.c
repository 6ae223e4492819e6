/*
 * httpd.c - the request and reply shapes both status servers share (see
 * httpd.h). libevent's evhttp does the HTTP; this only fills its replies.
 */
#include "httpd.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

int httpd_begin(struct evhttp_request *req, struct evbuffer *b, httpd_path *p)
{
    memset(p, 0, sizeof *p);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        evbuffer_add_printf(b, "only GET and HEAD\n");
        httpd_reply(req, 405, "text/plain", b);
        return -1;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    p->path = evhttp_uridecode(raw && *raw ? raw : "/", 0, NULL);
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

void httpd_reply(struct evhttp_request *req, int code, const char *type, struct evbuffer *b)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_send_reply(req, code, code == 200 ? "OK" : code == 404 ? "Not Found" : "Method Not Allowed", b);
}

void httpd_reply_json(struct evhttp_request *req, json_t *o, struct evbuffer *b)
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

void httpd_reply_metrics(struct evhttp_request *req, struct evbuffer *b, void (*write)(void *arg, FILE *f), void *arg)
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
