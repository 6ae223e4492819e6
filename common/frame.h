/*
 * frame.h - length-prefixed frames: a 4-byte little-endian length, then
 * that many bytes of one serialized kiln.Envelope (proto/kiln.proto).
 *
 * frame_parse is a pure function over bytes so that the decoder can be
 * tested and fuzzed without sockets.
 */
#ifndef KILN_FRAME_H
#define KILN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER      4
#define FRAME_MAX_DEFAULT (64u << 20)

/*
 * The largest frame a peer may send before the handshake finished. The
 * handshake's messages are small: a Hello carries a name of at most 256
 * bytes (msg_validate) and a 32-byte nonce, a HelloAck a nonce and a
 * 32-byte MAC, an Auth a MAC, a refusal an Error of at most 512 bytes of
 * text (handshake.c); with the envelope's tags and lengths each is under
 * 1 KiB. 4 KiB leaves room for fields added later, and a header announcing
 * more closes the connection before any of its body is read.
 */
#define FRAME_HANDSHAKE_MAX 4096u
/* Input a connection buffers before the handshake finished: no read asks
 * for more, so the net.max_connections a port admits hold a few MiB. */
#define FRAME_INPUT_HANDSHAKE (4 * FRAME_HANDSHAKE_MAX)
/* Input buffered after it, while frames are small: one bulk read. */
#define FRAME_INPUT_CHUNK (1u << 20)

enum { FRAME_NEED_MORE = 0, FRAME_OK = 1, FRAME_ERROR = -1 };

/* Looks at the first bytes of buf. FRAME_OK: a whole frame is there, its
 * payload is buf[FRAME_HEADER .. FRAME_HEADER + *len) and it occupies
 * FRAME_HEADER + *len bytes. FRAME_NEED_MORE: wait for more bytes
 * (*len is the payload length when the header is complete, else 0).
 * FRAME_ERROR: the announced length is over max (message in err). */
int frame_parse(const uint8_t *buf, size_t avail, size_t max, size_t *len, char *err, size_t errlen);

/* The frame limit of a connection: before it authenticated (authenticated
 * 0) FRAME_HANDSHAKE_MAX, or max when that is smaller; after, max. */
size_t frame_limit(int authenticated, size_t max);
/* frame_parse under frame_limit(authenticated, max); a frame over the
 * limit before authentication says so in err. */
int frame_parse_conn(const uint8_t *buf, size_t avail, int authenticated, size_t max, size_t *len, char *err,
                     size_t errlen);
/* How much input a connection may hold, given the payload length of the
 * frame it is receiving (pending, 0 when none; at most its frame_limit):
 * FRAME_INPUT_HANDSHAKE before authentication; after, the whole pending
 * frame and never less than FRAME_INPUT_CHUNK. Reading stops there until
 * the frame was consumed, so a peer never makes a connection hold more
 * than one frame and one read. */
size_t frame_input_high(int authenticated, size_t pending);

static inline void frame_put_header(uint8_t *hdr, uint32_t len)
{
    hdr[0] = (uint8_t)len;
    hdr[1] = (uint8_t)(len >> 8);
    hdr[2] = (uint8_t)(len >> 16);
    hdr[3] = (uint8_t)(len >> 24);
}

static inline uint32_t frame_get_header(const uint8_t *hdr)
{
    return (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
}

#endif
