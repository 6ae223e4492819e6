/*
 * frame.c - the framing rule of every kiln connection, and how much a
 * connection may read and hold before and after its handshake. Pure: no I/O.
 */
#include "frame.h"

#include "util.h"

int frame_parse(const uint8_t *buf, size_t avail, size_t max, size_t *len, char *err, size_t errlen)
{
    *len = 0;
    if (avail < FRAME_HEADER) return FRAME_NEED_MORE;
    uint32_t n = frame_get_header(buf);
    if ((size_t)n > max) {
        errf(err, errlen, "frame of %u bytes is over the limit of %zu", n, max);
        return FRAME_ERROR;
    }
    *len = n;
    return avail - FRAME_HEADER >= n ? FRAME_OK : FRAME_NEED_MORE;
}

size_t frame_limit(int authenticated, size_t max)
{
    if (!authenticated && max > FRAME_HANDSHAKE_MAX) return FRAME_HANDSHAKE_MAX;
    return max;
}

int frame_parse_conn(const uint8_t *buf, size_t avail, int authenticated, size_t max, size_t *len, char *err,
                     size_t errlen)
{
    size_t limit = frame_limit(authenticated, max);
    int st = frame_parse(buf, avail, limit, len, err, errlen);
    if (st == FRAME_ERROR && !authenticated)
        errf(err, errlen, "frame of %u bytes before authentication is over the limit of %zu", frame_get_header(buf),
             limit);
    return st;
}

size_t frame_input_high(int authenticated, size_t pending)
{
    if (!authenticated) return FRAME_INPUT_HANDSHAKE;
    if (pending > SIZE_MAX - FRAME_HEADER) return SIZE_MAX;
    return FRAME_HEADER + pending > FRAME_INPUT_CHUNK ? FRAME_HEADER + pending : FRAME_INPUT_CHUNK;
}
