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

enum { FRAME_NEED_MORE = 0, FRAME_OK = 1, FRAME_ERROR = -1 };

/* Looks at the first bytes of buf. FRAME_OK: a whole frame is there, its
 * payload is buf[FRAME_HEADER .. FRAME_HEADER + *len) and it occupies
 * FRAME_HEADER + *len bytes. FRAME_NEED_MORE: wait for more bytes
 * (*len is the payload length when the header is complete, else 0).
 * FRAME_ERROR: the announced length is over max (message in err). */
int frame_parse(const uint8_t *buf, size_t avail, size_t max, size_t *len, char *err, size_t errlen);

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
