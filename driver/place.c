/*
 * place.c - where tasks wait and where they go, in time independent of the
 * number of workers: the workers with room in a binary heap keyed by load
 * (running / slots), every worker and every running task by id, and the
 * queues of pending tasks.
 *
 * The one idea: a worker is in the heap exactly while it has room (fewer
 * than PLACE_DEPTH_MIN tasks per slot in flight), so the heap's root is
 * the answer to "which worker now", and each launch or answer moves one
 * worker in O(log W). The placement is the one sched.c always
 * had: the lowest load first (ties: the older worker); a retry avoids the
 * worker it failed on when another has room (the best of the root's two
 * children, since the second-best of a heap is one of them); a task that
 * reads a cached partition waits in the queue of the worker keeping it.
 *
 * More than PLACE_DEPTH_MIN per slot: while a stage's tasks are short
 * (place_depth), a worker that answered takes more of what waits, up to
 * that stage's depth (place_next_for), so that a stage of sub-millisecond
 * tasks does not pay a round trip per two tasks per slot, yet no more than
 * PLACE_QUEUE_US of expected work waits per slot beyond those two. Only
 * the worker that answered: its answers and its next tasks then travel in
 * one round trip each way (filling every worker's deeper queue at once
 * would send it as a second batch, and batches never merge again). The
 * heap, and the order in which the first two per slot go, are untouched.
 *
 * Queues (all doubly linked, so a task leaves any of them in O(1)):
 *   fifo     tasks any worker may run, in order of arrival
 *   own      per worker: tasks that must run there (need_worker)
 *   blocked  reduce tasks whose shuffle input is incomplete (a lost map
 *            output is being rerun); back to the front of the fifo when a
 *            shuffle becomes complete (place_unblock)
 * A worker whose own queue is not empty and that has room is on the dirty
 * list, so place_next serves it without looking at the others.
 *
 * Owns no tasks and no workers (sched.c and workers.c do); changes only
 * their placement fields. Pure: no sockets, no logging, unit-tested alone.
 */
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "util.h"

void place_init(place *p)
{
    memset(p, 0, sizeof *p);
    idmap_init(&p->workers);
    idmap_init_sequential(&p->running); /* task ids count up (sched.c) */
}

void place_release(place *p)
{
    free(p->heap);
    idmap_release(&p->workers);
    idmap_release(&p->running);
    memset(p, 0, sizeof *p);
}

/* ---- the heap of workers with room --------------------------------------- */

static int has_room(const dworker *w)
{
    return !w->gone && w->dc && w->running < w->slots * PLACE_DEPTH_MIN;
}

uint32_t place_depth(const dstage *s)
{
    return s && s->depth ? s->depth : PLACE_DEPTH_MIN;
}

void place_task_ran(dstage *s, uint64_t run_us)
{
    /* the mean of the last ~16 */
    s->run_us = s->runs++ ? s->run_us + ((double)run_us - s->run_us) / 16 : (double)run_us;
    double more = s->run_us < 1 ? PLACE_DEPTH_MAX : PLACE_QUEUE_US / s->run_us;
    s->depth = PLACE_DEPTH_MIN +
               (uint32_t)(more < PLACE_DEPTH_MAX - PLACE_DEPTH_MIN ? more : PLACE_DEPTH_MAX - PLACE_DEPTH_MIN);
}

/* a before b: a lower load, then the older worker */
static int before(const dworker *a, const dworker *b)
{
    uint64_t la = (uint64_t)a->running * b->slots, lb = (uint64_t)b->running * a->slots;
    return la != lb ? la < lb : a->id < b->id;
}

static void heap_set(place *p, size_t i, dworker *w)
{
    p->heap[i] = w;
    w->heap_slot = i + 1;
}

static void sift_up(place *p, size_t i)
{
    dworker *w = p->heap[i];
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!before(w, p->heap[up])) break;
        heap_set(p, i, p->heap[up]);
        i = up;
    }
    heap_set(p, i, w);
}

static void sift_down(place *p, size_t i)
{
    dworker *w = p->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= p->nheap) break;
        if (c + 1 < p->nheap && before(p->heap[c + 1], p->heap[c])) c++;
        if (!before(p->heap[c], w)) break;
        heap_set(p, i, p->heap[c]);
        i = c;
    }
    heap_set(p, i, w);
}

static void heap_remove(place *p, dworker *w)
{
    size_t i = w->heap_slot - 1;
    w->heap_slot = 0;
    dworker *last = p->heap[--p->nheap];
    if (last == w) return;
    heap_set(p, i, last);
    sift_up(p, i);
    sift_down(p, last->heap_slot - 1);
}

static void dirty_add(place *p, dworker *w)
{
    if (w->dirty || !w->own.head || !has_room(w)) return;
    w->dirty = 1;
    w->dirty_next = p->dirty;
    p->dirty = w;
}

/* w's running count or connection changed: its place in the heap follows. */
static void place_update(place *p, dworker *w)
{
    int room = has_room(w);
    if (!room) {
        if (w->heap_slot) heap_remove(p, w);
        return;
    }
    if (!w->heap_slot) {
        if (p->nheap == p->capheap) {
            p->capheap = p->capheap ? p->capheap * 2 : 64;
            p->heap = xrealloc(p->heap, p->capheap * sizeof *p->heap);
        }
        heap_set(p, p->nheap++, w);
    }
    sift_up(p, w->heap_slot - 1);
    sift_down(p, w->heap_slot - 1);
    dirty_add(p, w);
}

dworker *place_pick(const place *p, uint32_t avoid)
{
    if (!p->nheap) return NULL;
    dworker *best = p->heap[0];
    if (best->id != avoid || p->nheap == 1) return best;
    dworker *alt = p->heap[1];
    if (p->nheap > 2 && before(p->heap[2], alt)) alt = p->heap[2];
    return alt;
}

/* ---- workers -------------------------------------------------------------- */

void place_worker_add(place *p, dworker *w)
{
    w->heap_slot = 0;
    w->gone = 0;
    idmap_put(&p->workers, w->id, w);
    place_update(p, w);
}

dworker *place_worker(const place *p, uint32_t id)
{
    return id ? idmap_get(&p->workers, id) : NULL;
}

static void queue_append(tqueue *q, dtask *t);
static void queue_unlink(dtask *t);

void place_worker_remove(place *p, dworker *w)
{
    w->gone = 1;
    if (w->heap_slot) heap_remove(p, w);
    idmap_del(&p->workers, w->id);
    for (dworker **pp = &p->dirty; *pp; pp = &(*pp)->dirty_next)
        if (*pp == w) {
            *pp = w->dirty_next;
            break;
        }
    w->dirty = 0;
    /* what had to run there runs anywhere (the partition went with it) */
    while (w->own.head) {
        dtask *t = w->own.head;
        queue_unlink(t);
        t->need_worker = 0;
        queue_append(&p->fifo, t);
    }
}

/* ---- queues --------------------------------------------------------------- */

static void queue_append(tqueue *q, dtask *t)
{
    t->queue = q;
    t->qnext = NULL;
    t->qprev = q->tail;
    if (q->tail)
        q->tail->qnext = t;
    else
        q->head = t;
    q->tail = t;
    t->job->queued++;
}

static void queue_prepend(tqueue *q, dtask *t)
{
    t->queue = q;
    t->qprev = NULL;
    t->qnext = q->head;
    if (q->head)
        q->head->qprev = t;
    else
        q->tail = t;
    q->head = t;
    t->job->queued++;
}

static void queue_unlink(dtask *t)
{
    tqueue *q = t->queue;
    if (!q) return;
    if (t->qprev)
        t->qprev->qnext = t->qnext;
    else
        q->head = t->qnext;
    if (t->qnext)
        t->qnext->qprev = t->qprev;
    else
        q->tail = t->qprev;
    t->qprev = t->qnext = NULL;
    t->queue = NULL;
    t->job->queued--;
}

void place_queue(place *p, dtask *t)
{
    queue_unlink(t);
    t->state = TASK_PENDING;
    dworker *w = place_worker(p, t->need_worker);
    if (t->need_worker && !w) t->need_worker = 0; /* its worker is gone: run anywhere */
    if (!w) {
        queue_append(&p->fifo, t);
        return;
    }
    queue_append(&w->own, t);
    dirty_add(p, w);
}

void place_unqueue(place *p, dtask *t)
{
    queue_unlink(t);
}

void place_block(place *p, dtask *t)
{
    queue_unlink(t);
    queue_append(&p->blocked, t);
}

void place_unblock(place *p)
{
    /* the blocked tasks are older than what waits in the fifo: in front of
     * it, in their order (place_next looks at their input again) */
    while (p->blocked.tail) {
        dtask *t = p->blocked.tail;
        queue_unlink(t);
        if (t->need_worker && place_worker(p, t->need_worker)) {
            place_queue(p, t);
            continue;
        }
        t->need_worker = 0;
        queue_prepend(&p->fifo, t);
    }
}

dtask *place_next(place *p, dworker **where)
{
    while (p->dirty) {
        dworker *w = p->dirty;
        if (w->own.head && has_room(w)) {
            dtask *t = w->own.head;
            queue_unlink(t);
            *where = w;
            return t;
        }
        p->dirty = w->dirty_next;
        w->dirty = 0;
    }
    dtask *t = p->fifo.head;
    if (!t) return NULL;
    dworker *w = place_pick(p, t->avoid_worker);
    if (!w) return NULL;
    queue_unlink(t);
    *where = w;
    return t;
}

dtask *place_next_for(place *p, dworker *w)
{
    if (w->gone || !w->dc || w->running < w->slots * PLACE_DEPTH_MIN) return NULL; /* the heap's to fill */
    dtask *t = w->own.head ? w->own.head : p->fifo.head;
    if (!t || t->avoid_worker == w->id || w->running >= w->slots * place_depth(t->stage)) return NULL;
    queue_unlink(t);
    return t;
}

/* ---- running tasks -------------------------------------------------------- */

void place_running_add(place *p, dtask *t, dworker *w)
{
    queue_unlink(t);
    t->state = TASK_RUNNING;
    t->worker = w;
    t->wprev = NULL;
    t->wnext = w->tasks;
    if (w->tasks) w->tasks->wprev = t;
    w->tasks = t;
    w->running++;
    t->job->running++;
    idmap_put(&p->running, t->id, t);
    place_update(p, w);
}

dtask *place_running(const place *p, const dworker *w, uint64_t id)
{
    dtask *t = idmap_get(&p->running, id);
    return t && t->worker == w ? t : NULL;
}

void place_running_del(place *p, dtask *t)
{
    dworker *w = t->worker;
    if (!w) return;
    if (t->wprev)
        t->wprev->wnext = t->wnext;
    else
        w->tasks = t->wnext;
    if (t->wnext) t->wnext->wprev = t->wprev;
    t->wprev = t->wnext = NULL;
    t->worker = NULL;
    w->running--;
    t->job->running--;
    idmap_del(&p->running, t->id);
    place_update(p, w);
}
