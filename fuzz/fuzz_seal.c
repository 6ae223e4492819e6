/*
 * fuzz_seal.c - libFuzzer target: the protected framing after the
 * handshake (common/seal.c, and its use in common/msg.c), with one fixed
 * pair of connection keys (FUZZ_SEAL_* below; fuzz/mkcorpus.c seals its
 * seeds with the same).
 *
 * Byte 0 picks the mode:
 *   - even: seal and open. The rest is a list of payloads (a length byte,
 *     then that many bytes); each is sealed in turn into one stream, then,
 *     when byte 0 has bit 1 set, the byte at offset (bytes 1-2) of the
 *     stream is inverted. Opened frame by frame as conn.c does (header,
 *     then seal_check on the whole frame): every frame before the change
 *     opens with its payload intact; the changed one and all after it do
 *     not. Unchanged, every frame opens, in order, and a second pass over
 *     the same stream (a replay) opens none.
 *   - odd: the rest is a hostile stream to a sealed reader: msg_reader_next
 *     with rx set (through a memory file), and the in-memory path (parse,
 *     check, msg_decode) must accept the same messages in the same order
 *     and end the same way.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "frame.h"
#include "fuzz.h"
#include "msg.h"
#include "seal.h"
#include "util.h"

#define FUZZ_SEAL_SECRET "fuzz-secret"
#define MAX_FRAMES       1024

static int stream_fd = -1;

static void keys(seal *cli, seal *srv)
{
    uint8_t nc[AUTH_NONCE_LEN] = {1}, ns[AUTH_NONCE_LEN] = {2};
    auth_secret s = {(uint8_t *)FUZZ_SEAL_SECRET, sizeof FUZZ_SEAL_SECRET - 1};
    char err[128];
    FUZZ_ASSERT(seal_init(cli, &s, AUTH_CLIENT, nc, ns, KILN__ROLE__ROLE_WORKER, KILN__ROLE__ROLE_DRIVER, err,
                          sizeof err) == 0);
    FUZZ_ASSERT(seal_init(srv, &s, AUTH_SERVER, nc, ns, KILN__ROLE__ROLE_WORKER, KILN__ROLE__ROLE_DRIVER, err,
                          sizeof err) == 0);
}

/* Opens frames of s[0..n) with rx until one fails; returns how many opened
 * and sets *end to where the first unopened frame starts. */
static size_t open_all(seal_dir *rx, const uint8_t *s, size_t n, size_t *end)
{
    size_t off = 0, k = 0;
    char err[256];
    for (;;) {
        size_t len;
        if (frame_parse(s + off, n - off, FRAME_MAX_DEFAULT + SEAL_TAG_LEN, &len, err, sizeof err) != FRAME_OK) break;
        if (seal_check(rx, s + off, FRAME_HEADER + len, err, sizeof err) < 0) break;
        off += FRAME_HEADER + len;
        k++;
    }
    *end = off;
    return k;
}

static void seal_and_open(const uint8_t *d, size_t n, int flip, size_t at)
{
    seal cli, srv;
    keys(&cli, &srv);
    uint8_t *stream = xmalloc(n * 2 + (n + 1) * (FRAME_HEADER + SEAL_TAG_LEN) + 1);
    size_t starts[MAX_FRAMES + 1], nf = 0, len = 0;
    const uint8_t *payload[MAX_FRAMES];
    size_t plen[MAX_FRAMES];
    size_t i = 0;
    while (i < n && nf < MAX_FRAMES) {
        size_t k = d[i++];
        if (k > n - i) k = n - i;
        starts[nf] = len;
        payload[nf] = d + i;
        plen[nf] = k;
        frame_put_header(stream + len, (uint32_t)(k + SEAL_TAG_LEN));
        memcpy(stream + len + FRAME_HEADER, d + i, k);
        struct iovec iov = {stream + len, FRAME_HEADER + k};
        FUZZ_ASSERT(seal_tag(&cli.tx, &iov, 1, stream + len + FRAME_HEADER + k) == 0);
        len += FRAME_HEADER + k + SEAL_TAG_LEN;
        i += k;
        nf++;
    }
    starts[nf] = len;
    size_t end, opened;
    if (flip && len > 0) {
        at %= len;
        stream[at] ^= 0xff;
        size_t hit = 0; /* the frame holding the changed byte */
        while (starts[hit + 1] <= at)
            hit++;
        opened = open_all(&srv.rx, stream, len, &end);
        FUZZ_ASSERT(opened == hit);
        FUZZ_ASSERT(end == starts[hit]);
    } else {
        opened = open_all(&srv.rx, stream, len, &end);
        FUZZ_ASSERT(opened == nf && end == len);
        for (size_t f = 0; f < nf; f++)
            FUZZ_ASSERT(!memcmp(stream + starts[f] + FRAME_HEADER, payload[f], plen[f]));
        /* replayed from the start: nothing opens */
        if (nf > 0) FUZZ_ASSERT(open_all(&srv.rx, stream, len, &end) == 0);
    }
    free(stream);
    seal_release(&cli);
    seal_release(&srv);
}

static void hostile_stream(const uint8_t *s, size_t n)
{
    seal cli, srv;
    keys(&cli, &srv);
    static int seen[MAX_FRAMES];
    char err[512];
    size_t off = 0, count = 0;
    int end;
    for (;;) {
        size_t len;
        int st = frame_parse(s + off, n - off, seal_frame_max(&srv.rx, FRAME_HANDSHAKE_MAX), &len, err, sizeof err);
        if (st == FRAME_ERROR) {
            end = -1;
            break;
        }
        if (st == FRAME_NEED_MORE) {
            end = off == n ? 0 : -1;
            break;
        }
        if (seal_check(&srv.rx, s + off, FRAME_HEADER + len, err, sizeof err) < 0) {
            end = -1;
            break;
        }
        Kiln__Envelope *e = msg_decode(s + off + FRAME_HEADER, len - SEAL_TAG_LEN, err, sizeof err);
        if (!e) {
            end = -1;
            break;
        }
        if (count < MAX_FRAMES) seen[count] = (int)e->body_case;
        count++;
        msg_free(e);
        off += FRAME_HEADER + len;
    }
    seal_release(&cli);
    seal_release(&srv);
    keys(&cli, &srv); /* fresh sequence numbers for the second reader */
    if (stream_fd < 0) {
        stream_fd = memfd_create("fuzz_seal", MFD_CLOEXEC);
        FUZZ_ASSERT(stream_fd >= 0);
    }
    FUZZ_ASSERT(ftruncate(stream_fd, 0) == 0);
    FUZZ_ASSERT(n == 0 || pwrite(stream_fd, s, n, 0) == (ssize_t)n);
    FUZZ_ASSERT(lseek(stream_fd, 0, SEEK_SET) == 0);
    msg_reader r;
    msg_reader_init(&r, stream_fd, FRAME_HANDSHAKE_MAX);
    r.rx = &srv.rx;
    size_t count2 = 0;
    int end2;
    for (;;) {
        Kiln__Envelope *e = NULL;
        err[0] = 0;
        end2 = msg_reader_next(&r, &e, err, sizeof err);
        if (end2 <= 0) break;
        FUZZ_ASSERT(count2 < count);
        if (count2 < MAX_FRAMES) FUZZ_ASSERT(seen[count2] == (int)e->body_case);
        count2++;
        msg_free(e);
    }
    if (end2 < 0) FUZZ_ASSERT(err[0] != 0);
    FUZZ_ASSERT(count2 == count && end2 == end);
    msg_reader_release(&r);
    seal_release(&cli);
    seal_release(&srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    if (data[0] & 1)
        hostile_stream(data + 1, size - 1);
    else
        seal_and_open(data + 3, size - 3, data[0] & 2, (size_t)data[1] | (size_t)data[2] << 8);
    return 0;
}
