/*
 * fuzz_frame.c - libFuzzer target: a byte stream of frames, read two ways
 * that must agree:
 *   - in memory: frame_parse (common/frame.c) at each offset, then
 *     msg_decode on each whole frame, as conn.c does over a bufferevent;
 *   - from a file descriptor: msg_reader_next (common/msg.c), the blocking
 *     reader of executors and the client, with a read buffer shrunk to a
 *     few bytes so that its compaction and growth run on every input.
 * Both stop at the first bad frame (over the limit, or not decoding).
 * Each header is also put through the rule before authentication
 * (frame_parse_conn with the handshake's limit), which must decide from the
 * header alone, and through the input bound (frame_input_high), which must
 * leave room for the whole frame it allows.
 *
 * Input: byte 0 picks the frame limit (64 + 256 * byte, so "over the
 * limit" is reachable), byte 1 the reader's first buffer size (1..64), the
 * rest is the stream.
 *
 * Properties: both readers see the same messages in the same order, and end
 * the same way (a clean end between frames, or an error with a message).
 *
 * Seeds: fuzz/corpus/frame/, streams of frames of several kinds
 * (fuzz/mkcorpus.c).
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "frame.h"
#include "fuzz.h"
#include "msg.h"
#include "util.h"

#define MAX_SEEN 4096

/* The stream is written to this memory file for msg_reader (created once). */
static int stream_fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int seen[MAX_SEEN];
    char err[512];
    if (size < 2) return 0;
    size_t max = 64 + 256 * (size_t)data[0];
    size_t cap = 1 + data[1] % 64;
    const uint8_t *s = data + 2;
    size_t n = size - 2;

    /* in memory */
    size_t off = 0, count = 0;
    int end;
    for (;;) {
        size_t len;
        if (n - off >= FRAME_HEADER) {
            size_t plen;
            uint32_t announced = frame_get_header(s + off);
            int pst = frame_parse_conn(s + off, FRAME_HEADER, 0, max, &plen, err, sizeof err);
            FUZZ_ASSERT((pst == FRAME_ERROR) == (announced > frame_limit(0, max)));
            FUZZ_ASSERT(frame_limit(0, max) <= FRAME_HANDSHAKE_MAX);
            if (pst != FRAME_ERROR) FUZZ_ASSERT(frame_input_high(0, plen) >= FRAME_HEADER + plen);
            if (announced <= max) FUZZ_ASSERT(frame_input_high(1, announced) >= FRAME_HEADER + (size_t)announced);
        }
        err[0] = '\0';
        int st = frame_parse(s + off, n - off, max, &len, err, sizeof err);
        if (st == FRAME_ERROR) {
            FUZZ_ASSERT(err[0] != '\0');
            end = -1;
            break;
        }
        if (st == FRAME_NEED_MORE) {
            FUZZ_ASSERT(len <= max);
            end = off == n ? 0 : -1;
            break;
        }
        FUZZ_ASSERT(len <= max && FRAME_HEADER + len <= n - off);
        Kiln__Envelope *e = msg_decode(s + off + FRAME_HEADER, len, err, sizeof err);
        if (!e) {
            end = -1;
            break;
        }
        if (count < MAX_SEEN) seen[count] = (int)e->body_case;
        count++;
        msg_free(e);
        off += FRAME_HEADER + len;
    }

    /* through a file descriptor */
    if (stream_fd < 0) {
        stream_fd = memfd_create("fuzz_frame", MFD_CLOEXEC);
        FUZZ_ASSERT(stream_fd >= 0);
    }
    FUZZ_ASSERT(ftruncate(stream_fd, 0) == 0);
    FUZZ_ASSERT(n == 0 || pwrite(stream_fd, s, n, 0) == (ssize_t)n);
    FUZZ_ASSERT(lseek(stream_fd, 0, SEEK_SET) == 0);
    msg_reader r;
    msg_reader_init(&r, stream_fd, max);
    free(r.buf);
    r.buf = xmalloc(cap);
    r.cap = cap;
    size_t count2 = 0;
    int end2;
    for (;;) {
        Kiln__Envelope *e = NULL;
        err[0] = '\0';
        end2 = msg_reader_next(&r, &e, err, sizeof err);
        if (end2 <= 0) break;
        FUZZ_ASSERT(count2 < count);
        if (count2 < MAX_SEEN) FUZZ_ASSERT(seen[count2] == (int)e->body_case);
        count2++;
        msg_free(e);
    }
    msg_reader_release(&r);
    if (end2 < 0) FUZZ_ASSERT(err[0] != '\0');
    FUZZ_ASSERT(count2 == count);
    FUZZ_ASSERT(end2 == end);
    return 0;
}
