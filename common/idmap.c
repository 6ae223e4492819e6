/*
 * idmap.c - ids to pointers in O(1) (see idmap.h): open addressing, linear
 * probing, at most half full, backward-shift deletion.
 *
 * The one idea: a removal moves every entry of the run after the hole
 * that may move (one whose home slot is not between the hole and itself)
 * into the hole, so a lookup can stop at the first empty slot and no
 * tombstones pile up in a map whose keys keep changing (task ids).
 */
#include "idmap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define IDMAP_MIN 16

static size_t home(const idmap *m, uint64_t key)
{
    if (m->sequential) return (size_t)key & (m->cap - 1);
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & (m->cap - 1);
}

void idmap_init(idmap *m)
{
    memset(m, 0, sizeof *m);
}

void idmap_init_sequential(idmap *m)
{
    idmap_init(m);
    m->sequential = 1;
}

void idmap_release(idmap *m)
{
    int sequential = m->sequential;
    free(m->slots);
    idmap_init(m);
    m->sequential = sequential;
}

static void resize(idmap *m, size_t cap)
{
    idmap_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = xcalloc(cap, sizeof *m->slots);
    m->cap = cap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].val) continue;
        size_t j = home(m, old[i].key);
        while (m->slots[j].val)
            j = (j + 1) & (cap - 1);
        m->slots[j] = old[i];
    }
    free(old);
}

void *idmap_get(const idmap *m, uint64_t key)
{
    if (!m->n) return NULL;
    for (size_t i = home(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (!m->slots[i].val) return NULL;
        if (m->slots[i].key == key) return m->slots[i].val;
    }
}

void idmap_put(idmap *m, uint64_t key, void *val)
{
    if ((m->n + 1) * 2 > m->cap) resize(m, m->cap ? m->cap * 2 : IDMAP_MIN);
    size_t i = home(m, key);
    while (m->slots[i].val && m->slots[i].key != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].val) m->n++;
    m->slots[i].key = key;
    m->slots[i].val = val;
}

void *idmap_del(idmap *m, uint64_t key)
{
    if (!m->n) return NULL;
    size_t mask = m->cap - 1, i = home(m, key);
    while (m->slots[i].val && m->slots[i].key != key)
        i = (i + 1) & mask;
    void *val = m->slots[i].val;
    if (!val) return NULL;
    /* shift back what follows, up to the next empty slot */
    for (size_t j = (i + 1) & mask; m->slots[j].val; j = (j + 1) & mask) {
        size_t h = home(m, m->slots[j].key);
        /* the entry at j may fill the hole at i unless its home lies in (i, j] */
        if (((j - h) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].val = NULL;
    m->n--;
    if (m->cap > IDMAP_MIN && m->n * 8 < m->cap) resize(m, m->cap / 2);
    return val;
}
