/*
 * idmap.h - a map from 64-bit ids to pointers, in O(1): the driver finds a
 * worker, a running task, a shuffle's map outputs or a cached dataset by
 * its id without walking a list (driver/place.c, sched.c, mapout.c).
 *
 * Open addressing with linear probing; a removal shifts the entries after
 * it back, so there are no tombstones and a map that shrinks stays fast.
 * Every id is a valid key (0 included); NULL is not a valid value.
 *
 * Ownership: the map owns its table, never the values. Embed it:
 * idmap_init (or zero it), idmap_release.
 */
#ifndef KILN_IDMAP_H
#define KILN_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct idmap_slot {
    uint64_t key;
    void *val; /* NULL: empty */
} idmap_slot;

typedef struct idmap {
    idmap_slot *slots;
    size_t cap; /* a power of two, or 0 */
    size_t n;
    int sequential; /* see idmap_init_sequential */
} idmap;

void idmap_init(idmap *m);
/* For ids this process hands out counting up (task ids): each is its own
 * hash, so the ids alive at once (a window of the count) sit in adjacent
 * slots, read through the cache in order, and never collide while fewer
 * than the table's size. Never for ids that come from the network: keys
 * a peer chooses, all equal modulo the table's size, would make every
 * lookup walk them all. */
void idmap_init_sequential(idmap *m);
void idmap_release(idmap *m);
/* The value stored for key, or NULL. */
void *idmap_get(const idmap *m, uint64_t key);
/* Stores val (not NULL) for key, replacing what was there. */
void idmap_put(idmap *m, uint64_t key, void *val);
/* Removes key; returns what was stored, or NULL. The table shrinks when it
 * is mostly empty, so a map that once held a million ids gives the memory
 * back. */
void *idmap_del(idmap *m, uint64_t key);
static inline size_t idmap_count(const idmap *m)
{
    return m->n;
}

#endif
