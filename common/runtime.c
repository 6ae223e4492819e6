/*
 * runtime.c - the side of the public API that user functions call: emit,
 * iterate, buffers, counters, failures, broadcast values, the packed list
 * and pair readers, and the built-in functions. Linked into every process
 * that runs user code (executors inside kiln-worker, and the kiln CLI).
 */
#include "runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <endian.h>
#include <string.h>

/* The hooks of the task running in this process (see runtime.h). */
static const rt_hooks *rt_current;

void rt_set_hooks(const rt_hooks *h)
{
    rt_current = h;
}

const rt_hooks *rt_hooks_current(void)
{
    return rt_current;
}

int kiln_emit(kiln_out *out, kiln_slice key, kiln_slice val)
{
    return out->emit(out, key, val);
}

int kiln_emit_i64(kiln_out *out, kiln_slice key, int64_t v)
{
    uint8_t b[8];
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (8 * i));
    return out->emit(out, key, KILN_SLICE(b, 8));
}

void kiln_recs_free(kiln_recs *recs)
{
    if (!recs) return;
    free(recs->recs);
    free(recs->storage);
    memset(recs, 0, sizeof *recs);
}

bool kiln_next(kiln_iter *in, kiln_rec *rec)
{
    return in->next(in, rec);
}

int kiln_buf_set(kiln_buf *buf, const void *p, size_t n)
{
    if (n > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 64;
        while (cap < n)
            cap *= 2;
        uint8_t *np = realloc(buf->p, cap);
        if (!np) return -1;
        buf->p = np;
        buf->cap = cap;
    }
    if (n) memmove(buf->p, p, n);
    buf->len = n;
    return 0;
}

void kiln_buf_release(kiln_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int64_t kiln_i64(kiln_slice s)
{
    uint64_t u = 0;
    const uint8_t *p = s.ptr;
    if (s.len >= 8) { /* the usual case: one load */
        memcpy(&u, p, 8);
        return (int64_t)le64toh(u);
    }
    size_t n = s.len;
    for (size_t i = 0; i < n; i++)
        u |= (uint64_t)p[i] << (8 * i);
    return (int64_t)u;
}

kiln_slice kiln_bcast_value(kiln_bcast b)
{
    if (rt_current && rt_current->bcast_value) return rt_current->bcast_value(rt_current->arg, b);
    return KILN_NONE;
}

void kiln_counter_add(const char *name, int64_t delta)
{
    if (rt_current && rt_current->counter_add) rt_current->counter_add(rt_current->arg, name, delta);
}

int kiln_fail(const char *fmt, ...)
{
    char msg[KILN_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rt_current && rt_current->fail) rt_current->fail(rt_current->arg, msg);
    return -1;
}

size_t rt_varint_get(const uint8_t *p, size_t n, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

bool kiln_list_next(kiln_slice *list, kiln_slice *item)
{
    uint64_t len;
    size_t used = rt_varint_get(list->ptr, list->len, &len);
    if (!used || len > list->len - used) return false;
    const uint8_t *p = list->ptr;
    *item = KILN_SLICE(p + used, len);
    *list = KILN_SLICE(p + used + len, list->len - used - len);
    return true;
}

int kiln_pair_split(kiln_slice pair, kiln_slice *left, kiln_slice *right)
{
    uint64_t len;
    size_t used = rt_varint_get(pair.ptr, pair.len, &len);
    if (!used || len > pair.len - used) return -1;
    const uint8_t *p = pair.ptr;
    *left = KILN_SLICE(p + used, len);
    *right = KILN_SLICE(p + used + len, pair.len - used - len);
    return 0;
}

/* ---- built-ins ---------------------------------------------------------- */

static inline bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int kiln_words(kiln_rec in, kiln_out *out, kiln_slice env)
{
    const uint8_t *p = in.val.ptr, *end = p + in.val.len;
    while (p < end) {
        while (p < end && is_space(*p))
            p++;
        const uint8_t *w = p;
        while (p < end && !is_space(*p))
            p++;
        if (p > w && kiln_emit_i64(out, KILN_SLICE(w, p - w), 1) != 0) return -1;
    }
    return 0;
}

static int combine_i64(kiln_slice a, kiln_slice b, kiln_buf *out, int op)
{
    int64_t x = kiln_i64(a), y = kiln_i64(b), r;
    if (op == 0)
        r = (int64_t)((uint64_t)x + (uint64_t)y);
    else if (op < 0)
        r = x < y ? x : y;
    else
        r = x > y ? x : y;
    uint8_t buf[8];
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)r >> (8 * i));
    return kiln_buf_set(out, buf, 8);
}

int kiln_sum_i64(kiln_slice a, kiln_slice b, kiln_buf *out, kiln_slice env)
{
    return combine_i64(a, b, out, 0);
}

int kiln_min_i64(kiln_slice a, kiln_slice b, kiln_buf *out, kiln_slice env)
{
    return combine_i64(a, b, out, -1);
}

int kiln_max_i64(kiln_slice a, kiln_slice b, kiln_buf *out, kiln_slice env)
{
    return combine_i64(a, b, out, 1);
}

int kiln_fmt_i64(kiln_rec in, kiln_out *out, kiln_slice env)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", (long long)kiln_i64(in.val));
    size_t len = in.key.len + 1 + (size_t)n;
    char stackbuf[512];
    char *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (!buf) return kiln_fail("kiln_fmt_i64: out of memory");
    if (in.key.len) memcpy(buf, in.key.ptr, in.key.len);
    buf[in.key.len] = '\t';
    memcpy(buf + in.key.len + 1, num, (size_t)n);
    int rc = kiln_emit(out, KILN_NONE, KILN_SLICE(buf, len));
    if (buf != stackbuf) free(buf);
    return rc;
}

static const rt_builtin builtins[] = {
    {"kiln_words", RT_FN_MAP, (void *)kiln_words},         {"kiln_fmt_i64", RT_FN_MAP, (void *)kiln_fmt_i64},
    {"kiln_sum_i64", RT_FN_COMBINE, (void *)kiln_sum_i64}, {"kiln_min_i64", RT_FN_COMBINE, (void *)kiln_min_i64},
    {"kiln_max_i64", RT_FN_COMBINE, (void *)kiln_max_i64},
};

const rt_builtin *rt_builtin_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(builtins[i].name, name)) return &builtins[i];
    return NULL;
}

const rt_builtin *rt_builtin_by_addr(const void *fn)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (builtins[i].fn == fn) return &builtins[i];
    return NULL;
}
