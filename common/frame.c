/*
 * frame.c - the framing rule of every kiln connection. Pure: no I/O.
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
