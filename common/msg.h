/*
 * msg.h - kiln.Envelope messages: decoding with validation, encoding into
 * frames, and blocking frame I/O for the processes that do not run an
 * event loop (executors, the client library).
 *
 * Ownership: a decoded Kiln__Envelope is owned by the caller and freed with
 * msg_free(). Encoders borrow the envelope.
 */
#ifndef KILN_MSG_H
#define KILN_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.pb-c.h"
#include "seal.h"

/* The Hello's version; peers must match. 2: jobs may name the result
 * partitions they run (JobSubmit.partitions), barrier stages
 * (Node.barrier, BarrierSync, BarrierReply) and NODE_PARTITION_BY, which a
 * version-1 peer would ignore or refuse, silently running every partition
 * or stranding a barrier task. */
#define PROTOCOL_VERSION 2

/* Sets an envelope's body: MSG_BODY(env, hello, HELLO, &hello). */
#define MSG_BODY(env, field, CASE, ptr)                                                                                \
    do {                                                                                                               \
        (env).body_case = KILN__ENVELOPE__BODY_##CASE;                                                                 \
        (env).field = (ptr);                                                                                           \
    } while (0)

/* kiln logs: the largest piece of a log in one LogsData, and the most
 * cursors (files already read) one LogsRequest may carry. */
#define LOGS_PIECE_MAX   (1u << 20)
#define LOGS_MAX_CURSORS 65536

/* Decodes one frame payload. NULL with a message when it does not decode,
 * has no body, or fails validation (msg_validate). */
Kiln__Envelope *msg_decode(const uint8_t *p, size_t n, char *err, size_t errlen);
void msg_free(Kiln__Envelope *e);

/* Messages decoded for the length of one callback (conn.c): protobuf-c's
 * allocations come from one block, bumped, and are all freed at once by
 * msg_arena_reset, not one free per field and array. What does not fit in
 * the block is malloc'd and freed at the reset too. A zeroed arena is
 * empty; its block is allocated at the first decode. */
#define MSG_ARENA_LEN 2048
typedef struct msg_arena {
    uint8_t *buf;
    size_t used;
    void *big; /* the malloc'd ones, linked through a header */
} msg_arena;
/* msg_decode into a: the message lives until msg_arena_reset(a). */
Kiln__Envelope *msg_decode_arena(msg_arena *a, const uint8_t *p, size_t n, char *err, size_t errlen);
void msg_arena_reset(msg_arena *a);
void msg_arena_release(msg_arena *a);

/* Checks ranges of fields that arrive from the network: names that may
 * become paths, sizes, counts. 0, or -1 with a message. */
int msg_validate(const Kiln__Envelope *e, char *err, size_t errlen);

/* The name of the body, for logs ("hello", "task_launch"). */
const char *msg_name(const Kiln__Envelope *e);

/* Packs header + envelope into a new buffer (caller frees). */
uint8_t *msg_pack_frame(const Kiln__Envelope *e, size_t *len);
/* The bytes of e's frame when sealed with tx (NULL or off: plain). */
size_t msg_frame_size(const seal_dir *tx, const Kiln__Envelope *e);
/* Packs e's frame into buf (msg_frame_size bytes), sealed with tx when it
 * is on (advancing its sequence number). Returns the frame's length, or 0
 * when sealing failed. */
size_t msg_pack_frame_into(uint8_t *buf, seal_dir *tx, const Kiln__Envelope *e);

/*
 * A body packed in pieces: bytes already packed (parts, in order: say the
 * fields of a TaskLaunch that a stage's tasks share, packed once, then a
 * task's id and attempt and the tag and length of its input), then rest's
 * fields packed by protobuf-c (say that input; may be NULL). Protobuf lets
 * a message's fields come in any order, so the receiver decodes exactly
 * the message that has all the pieces' fields; no field may be in two.
 * body_case: the envelope's oneof case; nrest:
 * protobuf_c_message_get_packed_size(rest), or 0.
 */
size_t msg_split_frame_size(const seal_dir *tx, unsigned body_case, const struct iovec *parts, int nparts,
                            size_t nrest);
/* Packs it into buf (msg_split_frame_size bytes), sealed as
 * msg_pack_frame_into seals. The frame's length, or 0. */
size_t msg_pack_split_frame_into(uint8_t *buf, seal_dir *tx, unsigned body_case, const struct iovec *parts,
                                 int nparts, const ProtobufCMessage *rest, size_t nrest);
/* A TaskLaunch's own fields for msg_pack_split_frame_into, after its
 * stage's shared ones: task_id, attempt, and the tag and length of input
 * (input_len bytes: kiln__task_input__get_packed_size), whose packed
 * fields come next. Returns the bytes used (at most MSG_LAUNCH_HEAD_MAX). */
#define MSG_LAUNCH_HEAD_MAX 48
size_t msg_task_launch_head(uint8_t *p, uint64_t task_id, uint32_t attempt, size_t input_len);
/* Packs a varint field (number field) at p: the bytes used (at most 15). */
size_t msg_put_varint_field(uint8_t *p, unsigned field, uint64_t v);
/* Packs the tag and length of a length-delimited field: the bytes used. */
size_t msg_put_len_field(uint8_t *p, unsigned field, uint64_t len);

/*
 * FetchData frames carry the shuffle's bytes; these two let those bytes go
 * from a file to the socket and from the receive buffer to the reader
 * without a copy through protobuf-c. The encoding is ordinary protobuf
 * (fields request_id, last, then data), so msg_decode reads it too.
 */
#define MSG_FETCH_HEAD_MAX 32
/* Writes the frame header and every byte of the envelope before the data
 * (at most MSG_FETCH_HEAD_MAX): the frame is these bytes, then the len data
 * bytes. Returns the head's length. */
size_t msg_fetch_data_head(uint8_t *buf, uint32_t request_id, int last, size_t len);
/* The same for any message whose body has one bytes field (number field,
 * left empty in env) to be sent from a file: writes the frame header, the
 * envelope, the body's other fields and the bytes field's tag and length
 * into buf (cap bytes); the frame is these bytes, then the len bytes.
 * Returns the head's length, or 0 when it does not fit in cap. */
size_t msg_head_before_bytes(uint8_t *buf, size_t cap, const Kiln__Envelope *env, unsigned field, size_t len);
/* Reads a frame payload (after the header) that is a FetchData without an
 * error: 1 with the fields set (*data points into p), 0 when it is anything
 * else or does not parse (then msg_decode it: that names the problem). */
int msg_peek_fetch_data(const uint8_t *p, size_t n, uint32_t *request_id, int *last, const uint8_t **data, size_t *len);

/* A buffered blocking reader of frames from one fd. With rx set and on
 * (msg_handshake_fd sets it), every frame must carry its tag: one that
 * fails its check ends the reader with an error, and is never decoded. */
typedef struct msg_reader {
    int fd;
    size_t max;   /* of a payload */
    seal_dir *rx; /* borrowed; NULL: plain frames */
    uint8_t *buf;
    size_t cap, start, end;
} msg_reader;

void msg_reader_init(msg_reader *r, int fd, size_t max);
void msg_reader_release(msg_reader *r);
/* Reads the next message: 1 with *out set (caller frees), 0 on a clean EOF
 * between frames, -1 with a message (I/O error, over the limit, garbage). */
int msg_reader_next(msg_reader *r, Kiln__Envelope **out, char *err, size_t errlen);

/* Writes one frame to a blocking fd. 0, or -1 (errno). */
int msg_write_fd(int fd, const Kiln__Envelope *e);
/* The same, sealed with tx when it is on. 0, or -1 (errno; EPROTO when
 * sealing failed). */
int msg_write_sealed(int fd, seal_dir *tx, const Kiln__Envelope *e);

#endif
