/*
 * test_place.c - unit tests of driver/place.c: the heap of workers picks
 * exactly what the old scan over every worker picked (lowest load, the
 * older worker on a tie, another than the avoided one when possible),
 * through random launches, answers, registrations and losses; a task that
 * must run on one worker waits for that worker and runs anywhere once it
 * is gone; blocked tasks come back in front, in order.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

static dconn fake_conn; /* has_room needs a connection; place.c never touches it */

static dworker *new_worker(uint32_t id, uint32_t slots)
{
    dworker *w = calloc(1, sizeof *w);
    w->id = id;
    w->slots = slots;
    w->dc = &fake_conn;
    return w;
}

/* The placement sched.c had before place.c, as a scan. */
static dworker *scan_pick(dworker **ws, size_t n, uint32_t avoid)
{
    dworker *best = NULL, *fallback = NULL;
    for (size_t i = 0; i < n; i++) {
        dworker *w = ws[i];
        if (!w || w->running >= w->slots * PLACE_DEPTH_MIN) continue;
        if (w->id == avoid) {
            fallback = w;
            continue;
        }
        if (!best || (uint64_t)w->running * best->slots < (uint64_t)best->running * w->slots ||
            ((uint64_t)w->running * best->slots == (uint64_t)best->running * w->slots && w->id < best->id))
            best = w;
    }
    return best ? best : fallback;
}

START_TEST(test_place_matches_scan)
{
    enum { NW = 64, NT = 4000, STEPS = 60000 };
    place p;
    place_init(&p);
    job j;
    memset(&j, 0, sizeof j);
    dworker *ws[NW] = {0};
    dtask *ts = calloc(NT, sizeof *ts);
    uint32_t next_id = 1;
    uint64_t next_task = 1;
    uint64_t x = 99;
    for (int step = 0; step < STEPS; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        unsigned r = (unsigned)(x >> 33);
        unsigned op = r % 100;
        size_t wi = (r / 100) % NW;
        if (op < 3) { /* a worker registers, or is lost */
            if (!ws[wi]) {
                ws[wi] = new_worker(next_id++, 1 + (r / 7000) % 5);
                place_worker_add(&p, ws[wi]);
            } else {
                while (ws[wi]->tasks)
                    place_running_del(&p, ws[wi]->tasks);
                place_worker_remove(&p, ws[wi]);
                ck_assert_ptr_null(place_worker(&p, ws[wi]->id));
                free(ws[wi]);
                ws[wi] = NULL;
            }
        } else if (op < 60) { /* a launch where the scan would put it */
            uint32_t avoid = (r / 13) % 4 == 0 && ws[wi] ? ws[wi]->id : 0;
            dworker *want = scan_pick(ws, NW, avoid);
            dworker *got = place_pick(&p, avoid);
            ck_assert_ptr_eq(got, want);
            if (!got) continue;
            dtask *t = NULL;
            for (size_t k = 0; k < NT && !t; k++)
                if (!ts[(r + k) % NT].worker) t = &ts[(r + k) % NT];
            if (!t) continue;
            t->job = &j;
            t->id = next_task++;
            place_running_add(&p, t, got);
            ck_assert_ptr_eq(place_running(&p, got, t->id), t);
        } else { /* an answer from a random running task */
            dtask *t = &ts[r % NT];
            if (!t->worker) continue;
            dworker *w = t->worker;
            ck_assert_ptr_eq(place_running(&p, w, t->id), t);
            place_running_del(&p, t);
            ck_assert_ptr_null(place_running(&p, w, t->id));
        }
    }
    size_t running = 0;
    for (size_t i = 0; i < NW; i++)
        if (ws[i]) {
            for (dtask *t = ws[i]->tasks; t; t = t->wnext)
                running++;
            free(ws[i]);
        }
    ck_assert_uint_eq(running, j.running);
    ck_assert_uint_eq(idmap_count(&p.running), j.running);
    free(ts);
    place_release(&p);
}
END_TEST

START_TEST(test_place_queues)
{
    place p;
    place_init(&p);
    job j;
    memset(&j, 0, sizeof j);
    dworker *a = new_worker(1, 1), *b = new_worker(2, 1);
    place_worker_add(&p, a);
    place_worker_add(&p, b);
    dtask t[6];
    memset(t, 0, sizeof t);
    for (int i = 0; i < 6; i++) {
        t[i].job = &j;
        t[i].index = (uint32_t)i;
    }
    t[0].need_worker = 2; /* a cached partition on b */
    t[1].need_worker = 7; /* on a worker that is gone: runs anywhere */
    for (int i = 0; i < 4; i++)
        place_queue(&p, &t[i]);
    ck_assert_uint_eq(t[1].need_worker, 0);
    ck_assert_uint_eq(j.queued, 4);
    dworker *w;
    /* b's own task first, on b */
    ck_assert_ptr_eq(place_next(&p, &w), &t[0]);
    ck_assert_ptr_eq(w, b);
    t[0].id = 100;
    place_running_add(&p, &t[0], b);
    /* then the fifo in order, on the least loaded worker (a) */
    ck_assert_ptr_eq(place_next(&p, &w), &t[1]);
    ck_assert_ptr_eq(w, a);
    /* a task waiting for its input steps aside, and comes back in front */
    place_block(&p, &t[1]);
    ck_assert_ptr_eq(place_next(&p, &w), &t[2]);
    place_block(&p, &t[2]);
    ck_assert_ptr_eq(place_next(&p, &w), &t[3]);
    place_queue(&p, &t[3]);
    place_unblock(&p);
    ck_assert_ptr_eq(p.fifo.head, &t[1]);
    ck_assert_ptr_eq(t[1].qnext, &t[2]);
    ck_assert_ptr_eq(t[2].qnext, &t[3]);
    ck_assert_uint_eq(j.queued, 3);
    /* a task for b waits while b is full, and runs anywhere once b is gone */
    t[5].id = 101;
    place_running_add(&p, &t[5], b); /* b is full: 2 in flight per slot */
    t[4].need_worker = 2;
    place_queue(&p, &t[4]);
    ck_assert_ptr_eq(place_next(&p, &w), &t[1]);
    ck_assert_ptr_eq(w, a);
    ck_assert_ptr_eq(b->own.head, &t[4]);
    while (b->tasks)
        place_running_del(&p, b->tasks);
    place_worker_remove(&p, b);
    ck_assert_ptr_null(b->own.head);
    ck_assert_uint_eq(t[4].need_worker, 0);
    ck_assert_ptr_eq(p.fifo.tail, &t[4]);
    place_unqueue(&p, &t[4]);
    ck_assert_ptr_null(t[4].queue);
    free(a);
    free(b);
    place_release(&p);
}
END_TEST

/* A stage's depth follows its tasks' run time: PLACE_DEPTH_MIN until one
 * ran, and for tasks of a millisecond or more; PLACE_DEPTH_MAX for tasks
 * that take no time; in between, as many more as fit in PLACE_QUEUE_US. */
START_TEST(test_place_depth_follows_run_time)
{
    dstage s;
    memset(&s, 0, sizeof s);
    ck_assert_uint_eq(place_depth(&s), PLACE_DEPTH_MIN);
    ck_assert_uint_eq(place_depth(NULL), PLACE_DEPTH_MIN);
    place_task_ran(&s, 5 * PLACE_QUEUE_US);
    ck_assert_uint_eq(place_depth(&s), PLACE_DEPTH_MIN);
    memset(&s, 0, sizeof s);
    place_task_ran(&s, 0);
    ck_assert_uint_eq(place_depth(&s), PLACE_DEPTH_MAX);
    memset(&s, 0, sizeof s);
    place_task_ran(&s, PLACE_QUEUE_US / 3); /* three more fit */
    ck_assert_uint_eq(place_depth(&s), PLACE_DEPTH_MIN + 3);
    /* tasks that turn long bring the depth back down within a few dozen */
    memset(&s, 0, sizeof s);
    place_task_ran(&s, 0);
    for (int i = 0; i < 64; i++)
        place_task_ran(&s, 10 * PLACE_QUEUE_US);
    ck_assert_uint_eq(place_depth(&s), PLACE_DEPTH_MIN);
}
END_TEST

/* Beyond two per slot only the worker that answered takes more, and only
 * of a stage whose depth allows it: place_next stops at PLACE_DEPTH_MIN
 * per slot, place_next_for goes on to the task's stage depth, never for
 * a task that avoids the worker, and takes the worker's own tasks first. */
START_TEST(test_place_depth_per_stage)
{
    place p;
    place_init(&p);
    job j;
    memset(&j, 0, sizeof j);
    dstage longs, shorts;
    memset(&longs, 0, sizeof longs);
    memset(&shorts, 0, sizeof shorts);
    place_task_ran(&shorts, 0);
    dworker *a = new_worker(1, 2), *b = new_worker(2, 2);
    place_worker_add(&p, a);
    place_worker_add(&p, b);
    enum { N = 4 * PLACE_DEPTH_MAX };
    dtask t[N];
    memset(t, 0, sizeof t);
    for (int i = 0; i < N; i++) {
        t[i].job = &j;
        t[i].id = (uint64_t)i + 1;
        t[i].stage = &shorts;
        place_queue(&p, &t[i]);
    }
    dtask *got;
    dworker *w;
    int n = 0;
    while ((got = place_next(&p, &w))) { /* the heap: two per slot, spread */
        ck_assert_ptr_eq(w, n % 2 ? b : a);
        place_running_add(&p, got, w);
        n++;
    }
    ck_assert_int_eq(n, 2 * 2 * PLACE_DEPTH_MIN);
    ck_assert_uint_eq(a->running, 2 * PLACE_DEPTH_MIN);
    /* a answers one: it takes the rest of its stage's depth, b nothing */
    place_running_del(&p, a->tasks);
    ck_assert_ptr_null(place_next_for(&p, a)); /* under two per slot: the heap's */
    got = place_next(&p, &w);
    ck_assert_ptr_eq(w, a);
    place_running_add(&p, got, w);
    while ((got = place_next_for(&p, a)))
        place_running_add(&p, got, a);
    ck_assert_uint_eq(a->running, 2 * PLACE_DEPTH_MAX);
    ck_assert_uint_eq(b->running, 2 * PLACE_DEPTH_MIN);
    /* a task of a long stage is not taken beyond two per slot, nor one
     * that avoids the worker, and the fifo keeps its order behind them */
    while (a->tasks)
        place_running_del(&p, a->tasks);
    while (b->tasks)
        place_running_del(&p, b->tasks);
    while (p.fifo.head)
        place_unqueue(&p, p.fifo.head);
    dtask l[3];
    memset(l, 0, sizeof l);
    for (int i = 0; i < 3; i++) {
        l[i].job = &j;
        l[i].stage = i == 1 ? &longs : &shorts;
        l[i].avoid_worker = i == 2 ? 1 : 0;
    }
    for (int i = 0; i < 2 * PLACE_DEPTH_MIN; i++)
        place_running_add(&p, &t[i], a);
    place_queue(&p, &l[1]);
    ck_assert_ptr_null(place_next_for(&p, a)); /* a long one waits for the heap */
    place_unqueue(&p, &l[1]);
    place_queue(&p, &l[2]);
    ck_assert_ptr_null(place_next_for(&p, a)); /* it avoids a */
    place_unqueue(&p, &l[2]);
    place_queue(&p, &l[0]);
    dtask own;
    memset(&own, 0, sizeof own);
    own.job = &j;
    own.stage = &shorts;
    own.need_worker = 1;
    place_queue(&p, &own);
    ck_assert_ptr_eq(place_next_for(&p, a), &own); /* its own first */
    ck_assert_ptr_eq(place_next_for(&p, a), &l[0]);
    ck_assert_ptr_null(place_next_for(&p, a));
    while (a->tasks)
        place_running_del(&p, a->tasks);
    free(a);
    free(b);
    place_release(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("place");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_place_matches_scan);
    tcase_add_test(tc, test_place_queues);
    tcase_add_test(tc, test_place_depth_follows_run_time);
    tcase_add_test(tc, test_place_depth_per_stage);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
