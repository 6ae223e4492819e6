/*
 * fuzz_runtime.c - libFuzzer target: the decoders user code runs on
 * values it is handed (common/runtime.c): kiln_list_next over the packed
 * lists of group_by_key, kiln_pair_split over join pairs, rt_varint_get,
 * kiln_i64, and the built-ins kiln_words, kiln_fmt_i64 and the i64
 * combiners, on arbitrary bytes.
 *
 * Properties: list items and pair halves lie inside their input and
 * account for every byte used; a varint that decodes encodes back to no
 * more bytes and the same value; kiln_words emits each word (a maximal run
 * of non-space bytes) once, in order, with the count 1; kiln_fmt_i64
 * writes key TAB decimal; the combiners give 8 bytes.
 *
 * Seeds: fuzz/corpus/runtime/, packed lists and pairs (fuzz/mkcorpus.c).
 */
#include <inttypes.h>
#include <string.h>

#include "fuzz.h"
#include "runtime.h"

/* A kiln_out that checks what kiln_words emits against its input. */
typedef struct words_out {
    kiln_out out;
    const uint8_t *p, *end; /* the input not yet matched */
} words_out;

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int words_emit(kiln_out *self, kiln_slice key, kiln_slice val)
{
    words_out *w = (words_out *)self;
    while (w->p < w->end && is_space(*w->p))
        w->p++;
    const uint8_t *s = w->p;
    while (w->p < w->end && !is_space(*w->p))
        w->p++;
    FUZZ_ASSERT(key.len > 0 && key.ptr == (const void *)s && key.len == (size_t)(w->p - s));
    FUZZ_ASSERT(val.len == 8 && kiln_i64(val) == 1);
    return 0;
}

/* A kiln_out that keeps a copy of the one record kiln_fmt_i64 emits. */
typedef struct fmt_out {
    kiln_out out;
    uint8_t *text; /* malloc'd */
    size_t len;
    int n;
} fmt_out;

static int fmt_emit(kiln_out *self, kiln_slice key, kiln_slice val)
{
    fmt_out *f = (fmt_out *)self;
    FUZZ_ASSERT(key.len == 0 && f->n++ == 0);
    f->text = malloc(val.len + 1);
    FUZZ_ASSERT(f->text != NULL);
    memcpy(f->text, val.ptr, val.len);
    f->len = val.len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size;

    /* the whole input as a packed list */
    kiln_slice list = KILN_SLICE(data, size), item;
    while (kiln_list_next(&list, &item)) {
        FUZZ_ASSERT((const uint8_t *)item.ptr >= data && (const uint8_t *)item.ptr + item.len <= end);
        FUZZ_ASSERT((const uint8_t *)list.ptr == (const uint8_t *)item.ptr + item.len);
        FUZZ_ASSERT((const uint8_t *)list.ptr + list.len == end);
    }

    /* as a join pair */
    kiln_slice left, right;
    if (kiln_pair_split(KILN_SLICE(data, size), &left, &right) == 0) {
        FUZZ_ASSERT((const uint8_t *)left.ptr > data && (const uint8_t *)left.ptr + left.len == right.ptr);
        FUZZ_ASSERT((const uint8_t *)right.ptr + right.len == end);
    }

    /* a varint round trip */
    uint64_t v, v2;
    size_t used = rt_varint_get(data, size, &v);
    if (used) {
        uint8_t buf[16];
        size_t put = rt_varint_put(buf, v);
        FUZZ_ASSERT(put <= used && rt_varint_get(buf, put, &v2) == put && v2 == v);
    }

    /* kiln_words over the input as a text line */
    words_out w = {.out.emit = words_emit, .p = data, .end = end};
    kiln_rec rec = {KILN_NONE, KILN_SLICE(data, size)};
    FUZZ_ASSERT(kiln_words(rec, &w.out, KILN_NONE) == 0);
    while (w.p < w.end && is_space(*w.p))
        w.p++;
    FUZZ_ASSERT(w.p == w.end); /* no word was left out */

    /* kiln_fmt_i64 and the combiners over the two halves */
    size_t half = size / 2;
    kiln_slice a = KILN_SLICE(data, half), b = KILN_SLICE(data + half, size - half);
    fmt_out f = {.out.emit = fmt_emit};
    rec = (kiln_rec){a, b};
    FUZZ_ASSERT(kiln_fmt_i64(rec, &f.out, KILN_NONE) == 0 && f.n == 1);
    char want[64];
    int wn = snprintf(want, sizeof want, "\t%" PRId64, kiln_i64(b));
    FUZZ_ASSERT(f.len == half + (size_t)wn);
    FUZZ_ASSERT(!half || memcmp(f.text, a.ptr, half) == 0);
    FUZZ_ASSERT(memcmp(f.text + half, want, (size_t)wn) == 0);
    free(f.text);
    kiln_buf out = {0};
    FUZZ_ASSERT(kiln_sum_i64(a, b, &out, KILN_NONE) == 0 && out.len == 8);
    FUZZ_ASSERT(kiln_i64(KILN_SLICE(out.p, out.len)) == (int64_t)((uint64_t)kiln_i64(a) + (uint64_t)kiln_i64(b)));
    FUZZ_ASSERT(kiln_min_i64(a, b, &out, KILN_NONE) == 0 && out.len == 8);
    FUZZ_ASSERT(kiln_max_i64(a, b, &out, KILN_NONE) == 0 && out.len == 8);
    kiln_buf_release(&out);
    return 0;
}
