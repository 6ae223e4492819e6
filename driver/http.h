/*
 * http.h - what the driver's HTTP modules share: http.c routes requests,
 * serves the JSON API under /api/v1/ and /metrics; ui.c writes the HTML
 * pages. Both only read the driver's state.
 */
#ifndef KILN_DRIVER_HTTP_H
#define KILN_DRIVER_HTTP_H

#include <event2/buffer.h>

#include "driver.h"

app *http_find_app(driver *d, const char *id);
job *http_find_job(app *a, uint32_t job_id);
/* The stage of a with the (per-application) number sid, NULL if none. */
dstage *http_find_stage(app *a, uint32_t sid);
/* Whether anything the page shows still runs (it then refreshes itself). */
int http_app_running(const app *a);

/* ui.c: each writes a whole HTML page into b. */
void ui_apps(driver *d, struct evbuffer *b);
void ui_app(driver *d, struct evbuffer *b, app *a);
void ui_job(driver *d, struct evbuffer *b, job *j);
void ui_stage(driver *d, struct evbuffer *b, dstage *s);
void ui_workers(driver *d, struct evbuffer *b);
void ui_not_found(struct evbuffer *b, const char *what);
/* The stage graph of j as an inline SVG (one box per stage, an arrow per
 * shuffle), appended to b. */
void ui_stage_graph(struct evbuffer *b, const job *j);

#endif
