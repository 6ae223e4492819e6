/*
 * conn.h - a framed connection over a non-blocking socket (libevent).
 *
 * The owner gets one callback per decoded message and one when the
 * connection ends. A connection is never freed inside its own callback:
 * conn_close() marks it closing, calls the close callback once, and frees
 * it when the event loop comes back (after flushing what was queued, when
 * asked). A frame over the limit or one that does not decode closes the
 * connection with a reason; it never reaches the owner.
 *
 * A new connection is unauthenticated: its frames may have at most
 * FRAME_HANDSHAKE_MAX bytes and it buffers at most FRAME_INPUT_HANDSHAKE
 * (frame.h) until conn_handshake finished, or the owner calls
 * conn_set_authenticated for a link that needs no handshake. After that
 * its limit is max_frame and it buffers at most one frame (or one read).
 * After a handshake with a secret every frame is sealed both ways
 * (common/seal.h); a frame that fails its check closes the connection as
 * a protocol error, before it is decoded.
 */
#ifndef KILN_CONN_H
#define KILN_CONN_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "handshake.h"
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
/* Queues one message whose body (envelope case body_case) is the bytes of
 * parts (copied) and then rest's packed fields (rest may be NULL; nrest,
 * its packed size): see msg_pack_split_frame_into. 0, or -1. */
struct iovec;
int conn_send_split(conn *c, unsigned body_case, const struct iovec *parts, int nparts, const ProtobufCMessage *rest,
                    size_t nrest);
/* Queues head (n bytes, copied: a frame header and the envelope's bytes
 * before the file's, as msg_head_before_bytes writes them) and then len
 * bytes at off of a file segment (see evbuffer_file_segment_new): the
 * file's bytes go from the page cache to the socket with sendfile where
 * the kernel has it. On a sealed connection the header's length is raised
 * by the tag, the tag is computed over a mapping of the same range of fd
 * (the segment's file, borrowed) and queued after the segment. The segment
 * is reference-counted: the caller may free its own reference at once.
 * 0, or -1. */
struct evbuffer_file_segment;
int conn_send_file(conn *c, const void *head, size_t n, struct evbuffer_file_segment *seg, int fd, int64_t off,
                   int64_t len);
/* Queues an Error message. */
int conn_send_error(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Feeds a message that arrived before the handshake h finished to its
 * server or client side (hs_server_msg / hs_client_msg) and queues what
 * it answers. When it finished, cancels the deadline. Returns 1 (done), 0
 * (more to come) or -1 with a message: the caller logs it with the peer's
 * address and closes the connection with flush (the Error goes out). */
int conn_handshake(conn *c, handshake *h, const Kiln__Envelope *m, char *err, size_t errlen);

/* Lifts the handshake's frame limit: for a link that needs no handshake (a
 * socketpair to a child), and called by conn_handshake when it finished. */
void conn_set_authenticated(conn *c);
/* Changes the frame limit after authentication (0: FRAME_MAX_DEFAULT), e.g.
 * down to what the protocol's requests need. */
void conn_set_max_frame(conn *c, size_t max);
/* Backpressure on a peer that does not read: while more than high bytes of
 * output wait for it (counted after each send), its input is not read,
 * until a write leaves at most low. For request/reply protocols, where
 * every reply answers a request, this bounds what a peer that pipelines
 * requests and reads no reply can make queue to high and one reply.
 * high 0 removes it. */
void conn_set_output_limit(conn *c, size_t high, size_t low);

/* The owner keeps most of the messages it gets (a worker, every task
 * launch): each is decoded into memory of its own, not the arena, so
 * that conn_steal_msg hands it over instead of decoding it again. */
void conn_keep_messages(conn *c);
/* Called only inside the message callback: takes the message being
 * delivered (free it with msg_free), which then outlives the callback: the
 * very message when it is in memory of its own (over 4 KiB, or after
 * conn_keep_messages), else a copy decoded again from its frame (the
 * delivered one is in the connection's arena, gone after the callback).
 * NULL when called twice. */
Kiln__Envelope *conn_steal_msg(conn *c);

/* Ends the connection: runs the close callback (once) and frees the conn
 * from the loop. With flush, queued output is written first (bounded). */
void conn_close(conn *c, int flush, const char *reason);
int conn_is_closing(const conn *c);
/* Closes the connection as a protocol error, with reason (copied), unless
 * conn_set_deadline(c, 0, NULL) cancels it within ms milliseconds (the time
 * a peer has to finish its handshake). ms 0 cancels. */
void conn_set_deadline(conn *c, uint64_t ms, const char *reason);
/* True when the connection was closed because the peer broke the protocol
 * (a frame over the limit, one that fails its integrity check, a message
 * that does not decode, a deadline). */
int conn_protocol_error(const conn *c);

/* The peer's address as "ip:port" (for logs). */
const char *conn_peer(const conn *c);
/* Bytes queued for output and not yet written (for backpressure). */
size_t conn_output_pending(const conn *c);
void conn_set_arg(conn *c, void *arg);
/* Reading can be paused for backpressure; frames already buffered wait
 * too, and are delivered from the loop when it resumes. */
void conn_pause_read(conn *c, int paused);
/* Backpressure on output: cb(c, arg) (arg as given to conn_new or
 * conn_set_arg) runs from the write callback whenever a write leaves at most
 * low bytes queued, so a producer that stopped at a high mark can queue
 * more. Never called once the connection is closing. NULL removes it. */
void conn_set_drain_cb(conn *c, void (*cb)(conn *c, void *arg), size_t low);

#endif
