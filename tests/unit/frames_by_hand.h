/*
 * frames_by_hand.h - building wire frames by hand (header + packed
 * Envelope) for the unit tests of the wire (test_frame.c, test_conn.c),
 * so that they do not trust the encoders they check.
 */
#ifndef KILN_TEST_FRAMES_BY_HAND_H
#define KILN_TEST_FRAMES_BY_HAND_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "frame.h"
#include "msg.h"

static const char HASH_A[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* A new buffer holding header + packed e; *n is its size. */
static inline uint8_t *frame_of(const Kiln__Envelope *e, size_t *n)
{
    size_t len = kiln__envelope__get_packed_size(e);
    uint8_t *b = malloc(FRAME_HEADER + len);
    ck_assert_ptr_nonnull(b);
    frame_put_header(b, (uint32_t)len);
    ck_assert_uint_eq(kiln__envelope__pack(e, b + FRAME_HEADER), len);
    *n = FRAME_HEADER + len;
    return b;
}

/* Fills *env with a worker's hello named name, held in *h (both the
 * caller's, so the envelope lives as long as they do). */
static inline void hello_env(Kiln__Envelope *env, Kiln__Hello *h, const char *name)
{
    kiln__envelope__init(env);
    kiln__hello__init(h);
    h->version = PROTOCOL_VERSION;
    h->role = KILN__ROLE__ROLE_WORKER;
    h->name = (char *)name;
    MSG_BODY(*env, hello, HELLO, h);
}

/* A frame carrying a hello named name. */
static inline uint8_t *hello_frame(const char *name, size_t *n)
{
    Kiln__Envelope env;
    Kiln__Hello h;
    hello_env(&env, &h, name);
    return frame_of(&env, n);
}

/* Packs a bare envelope (no header) into a new buffer. */
static inline uint8_t *pack_env(const Kiln__Envelope *e, size_t *n)
{
    *n = kiln__envelope__get_packed_size(e);
    uint8_t *b = malloc(*n ? *n : 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(kiln__envelope__pack(e, b), *n);
    return b;
}

static inline void write_bytes(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        ck_assert_int_gt(w, 0);
        c += w;
        n -= (size_t)w;
    }
}

static inline void assert_hello(const Kiln__Envelope *e, const char *name)
{
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->body_case, KILN__ENVELOPE__BODY_HELLO);
    ck_assert_uint_eq(e->hello->version, PROTOCOL_VERSION);
    ck_assert_int_eq(e->hello->role, KILN__ROLE__ROLE_WORKER);
    ck_assert_str_eq(e->hello->name, name);
}

/* A packed TaskLaunch (no header) of application app_id. */
static inline uint8_t *task_launch_with_app(const char *app_id, size_t *n)
{
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    Kiln__TaskLaunch t = KILN__TASK_LAUNCH__INIT;
    Kiln__TaskInput in = KILN__TASK_INPUT__INIT;
    t.app_id = (char *)app_id;
    t.lib_hash = (char *)HASH_A;
    t.stage_hash = (char *)HASH_A;
    t.input = &in;
    MSG_BODY(env, task_launch, TASK_LAUNCH, &t);
    return pack_env(&env, n);
}

#endif
