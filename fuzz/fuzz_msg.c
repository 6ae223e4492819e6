/*
 * fuzz_msg.c - libFuzzer target: one frame payload (a serialized
 * kiln.Envelope) straight into msg_decode (common/msg.c), which every
 * daemon and the client run on every frame they read: protobuf-c's unpack,
 * then msg_validate, the checks of names, hashes, sizes and counts that
 * arrive from the network.
 *
 * Properties: a refused payload comes with a message; an accepted one has
 * a name (msg_name), re-encodes into a frame that frame_parse accepts, and
 * that frame decodes and validates again to the same bytes (validation is
 * a function of the fields alone, and encoding is deterministic).
 *
 * msg_peek_fetch_data, the fetcher's fast path for FetchData pieces, is
 * checked against it: whatever the peek accepts, msg_decode accepts as the
 * same FetchData (id, last, the very data bytes, no error).
 *
 * msg_decode_arena, what connections decode with (an arena, and its own
 * reader of TaskDone), is checked against it too: it accepts exactly what
 * msg_decode accepts, as a message that packs to the same bytes.
 *
 * Seeds: fuzz/corpus/msg/, one packed envelope of each kind
 * (fuzz/mkcorpus.c).
 */
#include <string.h>

#include "frame.h"
#include "fuzz.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    Kiln__Envelope *e = msg_decode(data, size, err, sizeof err);
    msg_arena arena;
    memset(&arena, 0, sizeof arena);
    char aerr[512] = "";
    Kiln__Envelope *ae = msg_decode_arena(&arena, data, size, aerr, sizeof aerr);
    if (!e != !ae)
        fprintf(stderr, "msg_decode %s, msg_decode_arena %s\n", e ? "accepts" : err, ae ? "accepts" : aerr);
    FUZZ_ASSERT(!e == !ae);
    if (e) {
        size_t n1, n2;
        uint8_t *f1 = msg_pack_frame(e, &n1), *f2 = msg_pack_frame(ae, &n2);
        FUZZ_ASSERT(n1 == n2 && memcmp(f1, f2, n1) == 0);
        free(f1);
        free(f2);
    } else {
        FUZZ_ASSERT(aerr[0] != '\0');
    }
    msg_arena_release(&arena);
    uint32_t id;
    int last;
    const uint8_t *d;
    size_t dn;
    if (msg_peek_fetch_data(data, size, &id, &last, &d, &dn) == 1) {
        if (!e) fprintf(stderr, "peek accepted a payload msg_decode refuses: %s\n", err);
        FUZZ_ASSERT(e != NULL);
        FUZZ_ASSERT(e->body_case == KILN__ENVELOPE__BODY_FETCH_DATA);
        const Kiln__FetchData *fd = e->fetch_data;
        FUZZ_ASSERT(fd->request_id == id && fd->last == (protobuf_c_boolean)last);
        FUZZ_ASSERT(fd->data.len == dn && (dn == 0 || memcmp(fd->data.data, d, dn) == 0));
        FUZZ_ASSERT(dn == 0 || (d >= data && d + dn <= data + size));
        FUZZ_ASSERT(!fd->error || !*fd->error);
    }
    if (!e) {
        FUZZ_ASSERT(err[0] != '\0');
        return 0;
    }
    FUZZ_ASSERT(e->body_case != KILN__ENVELOPE__BODY__NOT_SET);
    FUZZ_ASSERT(strcmp(msg_name(e), "none") != 0);

    size_t n, len;
    uint8_t *f = msg_pack_frame(e, &n);
    FUZZ_ASSERT(frame_parse(f, n, SIZE_MAX, &len, err, sizeof err) == FRAME_OK);
    FUZZ_ASSERT(len + FRAME_HEADER == n);
    Kiln__Envelope *again = msg_decode(f + FRAME_HEADER, len, err, sizeof err);
    if (!again) fprintf(stderr, "re-encoded %s refused: %s\n", msg_name(e), err);
    FUZZ_ASSERT(again != NULL);
    FUZZ_ASSERT(again->body_case == e->body_case);
    size_t n2;
    uint8_t *f2 = msg_pack_frame(again, &n2);
    FUZZ_ASSERT(n2 == n && memcmp(f, f2, n) == 0);
    free(f2);
    msg_free(again);
    free(f);
    msg_free(e);
    return 0;
}
