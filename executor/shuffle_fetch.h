/*
 * shuffle_fetch.h - fetching the blocks of one reduce partition, in an
 * executor (blocking): local outputs straight from disk, remote ones from
 * every worker that has some, at once, with all requests to a worker
 * pipelined.
 */
#ifndef KILN_SHUFFLE_FETCH_H
#define KILN_SHUFFLE_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "kiln.pb-c.h"

/* Called with each whole sealed block, in no particular order across map
 * outputs. 0, or -1 to stop (the callback recorded why). */
typedef int (*fetch_block_fn)(void *arg, const uint8_t *block, size_t n);

typedef struct fetch_stats {
    uint64_t local_bytes, remote_bytes;
    uint32_t remote_workers;
    /* when the fetch fails because a map output could not be read (worker
     * unreachable, file gone, bytes corrupt): which one */
    int failed;
    uint32_t failed_map, failed_worker;
} fetch_stats;

/* Reads every block of reduce partition `part` listed in `in`: outputs whose
 * worker_id equals local_worker_id from the files under work_dir, the rest
 * from their workers' data ports, authenticating with secret (borrowed;
 * NULL: none). 0, or -1 with a message naming the worker
 * and the map output that could not be read. */
int shuffle_fetch(const char *work_dir, const char *app_id, uint32_t local_worker_id, const Kiln__ShuffleInput *in,
                  uint32_t part, size_t max_frame, const auth_secret *secret, fetch_block_fn cb, void *arg,
                  fetch_stats *stats, char *err, size_t errlen);

#endif
