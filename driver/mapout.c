/*
 * mapout.c - the map-output tracker and the cache tracker of each
 * application: which worker holds each map output of each shuffle (and the
 * size of every reduce partition in it), and which worker keeps each
 * partition of a cached dataset. Jobs of the same application reuse both:
 * a shuffle whose outputs are all present is not written again, and a
 * cached dataset is read where it is kept instead of being recomputed.
 *
 * Both are found by id in O(1) (a->shuffle_ids, a->cache_nodes), and a map
 * output's worker by id (place_worker), so a task's cost here is its own
 * input: a reduce task's launch lists every map output of its partition,
 * which is inherent, and looks at nothing else. mapout_app_release drops
 * all of it when the application ends (its workers remove the files).
 */
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "util.h"

shuffle_out *mapout_find(app *a, uint32_t shuffle_id)
{
    return idmap_get(&a->shuffle_ids, shuffle_id);
}

shuffle_out *mapout_get(app *a, uint32_t shuffle_id, uint32_t nmaps, uint32_t nparts)
{
    shuffle_out *s = mapout_find(a, shuffle_id);
    if (s && s->nmaps == nmaps && s->nparts == nparts) return s;
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->shuffle_id = shuffle_id;
        s->next = a->shuffles;
        a->shuffles = s;
        idmap_put(&a->shuffle_ids, shuffle_id, s);
    }
    free(s->worker);
    free(s->sizes);
    mapout_set_bounds(s, NULL, 0);
    s->has_bounds = 0;
    s->nmaps = nmaps;
    s->nparts = nparts;
    s->worker = xcalloc(nmaps ? nmaps : 1, sizeof *s->worker);
    s->sizes = xcalloc((size_t)nmaps * nparts + 1, sizeof *s->sizes);
    s->available = 0;
    return s;
}

int mapout_complete(const shuffle_out *s, uint32_t nmaps)
{
    return s && s->nmaps == nmaps && s->available == nmaps;
}

void mapout_record(shuffle_out *s, uint32_t map, uint32_t worker, const uint64_t *sizes, size_t n)
{
    if (map >= s->nmaps) return;
    if (!s->worker[map]) s->available++;
    s->worker[map] = worker;
    for (size_t p = 0; p < s->nparts; p++)
        s->sizes[(size_t)map * s->nparts + p] = p < n ? sizes[p] : 0;
}

void mapout_set_bounds(shuffle_out *s, ProtobufCBinaryData *bounds, size_t n)
{
    for (size_t i = 0; i < s->nbounds; i++)
        free(s->bounds[i].data);
    free(s->bounds);
    s->bounds = bounds;
    s->nbounds = n;
    s->has_bounds = bounds != NULL;
}

void mapout_free(shuffle_out *s)
{
    mapout_set_bounds(s, NULL, 0);
    free(s->worker);
    free(s->sizes);
    free(s);
}

void mapout_worker_lost(app *a, uint32_t worker, int cache)
{
    for (shuffle_out *s = a->shuffles; s; s = s->next)
        for (uint32_t m = 0; m < s->nmaps; m++)
            if (s->worker[m] == worker) {
                s->worker[m] = 0;
                s->available--;
            }
    for (cache_entry *c = a->cache; cache && c; c = c->next)
        for (uint32_t p = 0; p < c->nparts; p++)
            if (c->worker[p] == worker) c->worker[p] = 0;
}

int mapout_inputs(driver *d, app *a, const uint32_t *ids, size_t n, uint32_t part, Kiln__TaskInput *in)
{
    int missing = 0;
    in->n_shuffles = n;
    in->shuffles = xcalloc(n ? n : 1, sizeof *in->shuffles);
    for (size_t i = 0; i < n; i++) {
        Kiln__ShuffleInput *si = xmalloc(sizeof *si);
        kiln__shuffle_input__init(si);
        si->shuffle_id = ids[i];
        in->shuffles[i] = si;
        shuffle_out *s = mapout_find(a, ids[i]);
        if (!s || part >= s->nparts) {
            missing++;
            continue;
        }
        si->blocks = xcalloc(s->nmaps ? s->nmaps : 1, sizeof *si->blocks);
        for (uint32_t m = 0; m < s->nmaps; m++) {
            uint64_t len = s->sizes[(size_t)m * s->nparts + part];
            dworker *w = place_worker(&d->place, s->worker[m]);
            if (!w) missing++;
            if (!len || !w) continue;
            Kiln__BlockLoc *b = xmalloc(sizeof *b);
            kiln__block_loc__init(b);
            b->host = w->host;
            b->port = w->data_port;
            b->worker_id = w->id;
            b->map = m;
            b->length = len;
            si->blocks[si->n_blocks++] = b;
        }
    }
    return missing;
}

void mapout_inputs_free(Kiln__TaskInput *in)
{
    for (size_t i = 0; i < in->n_shuffles; i++) {
        for (size_t b = 0; b < in->shuffles[i]->n_blocks; b++)
            free(in->shuffles[i]->blocks[b]);
        free(in->shuffles[i]->blocks);
        free(in->shuffles[i]);
    }
    free(in->shuffles);
    in->shuffles = NULL;
    in->n_shuffles = 0;
}

static cache_entry *cache_find(const app *a, uint32_t node)
{
    return idmap_get(&a->cache_nodes, node);
}

void cache_record(app *a, uint32_t node, uint32_t nparts, uint32_t part, uint32_t worker)
{
    cache_entry *c = cache_find(a, node);
    if (c && c->nparts != nparts) {
        free(c->worker);
        c->worker = xcalloc(nparts ? nparts : 1, sizeof *c->worker);
        c->nparts = nparts;
    }
    if (!c) {
        c = xcalloc(1, sizeof *c);
        c->node = node;
        c->nparts = nparts;
        c->worker = xcalloc(nparts ? nparts : 1, sizeof *c->worker);
        c->next = a->cache;
        a->cache = c;
        idmap_put(&a->cache_nodes, node, c);
    }
    if (part < nparts) c->worker[part] = worker;
}

uint32_t cache_worker(const app *a, uint32_t node, uint32_t part)
{
    cache_entry *c = cache_find(a, node);
    return c && part < c->nparts ? c->worker[part] : 0;
}

int cache_complete(const app *a, uint32_t node, uint32_t nparts)
{
    cache_entry *c = cache_find(a, node);
    if (!c || c->nparts != nparts) return 0;
    for (uint32_t p = 0; p < nparts; p++)
        if (!c->worker[p]) return 0;
    return 1;
}

void mapout_app_release(app *a)
{
    while (a->shuffles) {
        shuffle_out *s = a->shuffles;
        a->shuffles = s->next;
        mapout_free(s);
    }
    while (a->cache) {
        cache_entry *c = a->cache;
        a->cache = c->next;
        free(c->worker);
        free(c);
    }
    idmap_release(&a->shuffle_ids);
    idmap_release(&a->cache_nodes);
}
