/*
 * conn.h - a framed connection over a libevent bufferevent.
 *
 * The owner gets one callback per decoded message and one when the
 * connection ends. A connection is never freed inside its own callback:
 * conn_close() marks it closing, calls the close callback once, and frees
 * it when the event loop comes back (after flushing what was queued, when
 * asked). A frame over the limit or one that does not decode closes the
 * connection with a reason; it never reaches the owner.
 */
#ifndef KILN_CONN_H
#define KILN_CONN_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.pb-c.h"

typedef struct conn conn;

/* The message is borrowed: it is freed when the callback returns. */
typedef void (*conn_msg_cb)(conn *c, Kiln__Envelope *msg, void *arg);
/* Called once when the connection ends, for whatever reason. */
typedef void (*conn_close_cb)(conn *c, const char *reason, void *arg);

/* Takes fd (closed when the connection is freed). Returns a new conn. */
conn *conn_new(struct event_base *base, evutil_socket_t fd, size_t max_frame, conn_msg_cb on_msg,
               conn_close_cb on_close, void *arg);
/* Connects to host:port without blocking; on failure the close callback runs
 * from the loop. NULL only when the address does not parse (message in err). */
conn *conn_connect(struct event_base *base, const char *hostport, size_t max_frame, conn_msg_cb on_msg,
                   conn_close_cb on_close, void *arg, char *err, size_t errlen);

/* Queues one message. 0, or -1 when the connection is closing. */
int conn_send(conn *c, const Kiln__Envelope *msg);
/* Queues a hello / hello_ack / error message. */
/* Queues head (n bytes, copied) and then len bytes at off of a file
 * segment (see evbuffer_file_segment_new): the file's bytes go from the
 * page cache to the socket with sendfile where the kernel has it. The
 * segment is reference-counted: the caller may free its own reference at
 * once. 0, or -1. */
struct evbuffer_file_segment;
int conn_send_file(conn *c, const void *head, size_t n, struct evbuffer_file_segment *seg, int64_t off, int64_t len);
int conn_send_hello(conn *c, Kiln__Role role, const char *name);
int conn_send_hello_ack(conn *c, Kiln__Role role);
int conn_send_error(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Called only inside the message callback: takes ownership of the message
 * being delivered (free it with msg_free), so it outlives the callback. */
Kiln__Envelope *conn_steal_msg(conn *c);

/* Ends the connection: runs the close callback (once) and frees the conn
 * from the loop. With flush, queued output is written first (bounded). */
void conn_close(conn *c, int flush, const char *reason);
int conn_is_closing(const conn *c);
/* True when the connection was closed because the peer broke the protocol
 * (a frame over the limit, a message that does not decode). */
int conn_protocol_error(const conn *c);

/* The peer's address as "ip:port" (for logs). */
const char *conn_peer(const conn *c);
/* Bytes queued for output and not yet written (for backpressure). */
size_t conn_output_pending(const conn *c);
void conn_set_arg(conn *c, void *arg);
/* Reading can be paused for backpressure. */
void conn_pause_read(conn *c, int paused);
/* Backpressure on output: cb(c, arg) (arg as given to conn_new or
 * conn_set_arg) runs from the write callback whenever a write leaves at most
 * low bytes queued, so a producer that stopped at a high mark can queue
 * more. Never called once the connection is closing. NULL removes it. */
void conn_set_drain_cb(conn *c, void (*cb)(conn *c, void *arg), size_t low);

#endif
