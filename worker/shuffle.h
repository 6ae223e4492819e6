/*
 * shuffle.h - shuffle files on a worker, serving them on the data port,
 * and fetching the blocks of one reduce partition.
 *
 * A map task of shuffle S, map partition M, of application APP writes
 *   WORK/APP/shuffle/S/map-M.data    sealed record blocks, grouped by reduce partition
 *   WORK/APP/shuffle/S/map-M.index   (R+1) little-endian u64 offsets into .data
 * (each written under a temporary name and renamed, so a retried task's
 * output replaces the old one whole). Reduce partition P of that output is
 * data[index[P], index[P+1]): whole blocks, possibly none.
 *
 * The worker serves byte ranges of those files on its data port
 * (FetchRequest -> FetchData pieces, streamed with backpressure, never
 * reading a whole file into memory). An executor fetches what its reduce
 * task needs: local outputs straight from disk, remote ones from every
 * worker that has some, at once, with all requests to a worker pipelined.
 */
#ifndef KILN_SHUFFLE_H
#define KILN_SHUFFLE_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "kiln.pb-c.h"
#include "log.h"

/* New strings (caller frees). app must already be validated (name_is_safe). */
char *shuffle_dir_path(const char *work_dir, const char *app, uint32_t shuffle_id);
char *shuffle_data_path(const char *work_dir, const char *app, uint32_t shuffle_id, uint32_t map);
char *shuffle_index_path(const char *work_dir, const char *app, uint32_t shuffle_id, uint32_t map);

/* Where reduce partition p lies in a map output's data file. 0, or -1 with
 * a message (no such output, p out of range, a corrupt index). */
int shuffle_index_lookup(const char *index_path, uint32_t p, uint64_t *off, uint64_t *len, char *err, size_t errlen);

/* Writes data and index for one map output atomically (temp + rename).
 * blocks for partition p are the bytes data_parts[p] (already concatenated
 * sealed blocks), or, when spill_fds[p] >= 0, that file's contents first
 * and then data_parts[p]. Returns 0, or -1 with a message. sizes[p] gets
 * each partition's byte count. Copies spilled files with copy_file_range. */
typedef struct shuffle_part {
    int spill_fd;       /* -1 when nothing was spilled for this partition */
    uint64_t spill_len; /* bytes in spill_fd */
    const uint8_t *mem; /* blocks still in memory */
    size_t mem_len;
} shuffle_part;
int shuffle_write_output(const char *work_dir, const char *app, uint32_t shuffle_id, uint32_t map,
                         const shuffle_part *parts, uint32_t nparts, uint64_t *sizes, char *err, size_t errlen);

/* ---- serving (in the worker daemon) ---- */
typedef struct shuffle_server shuffle_server;
/* Borrows base, work_dir and log. */
shuffle_server *shuffle_server_new(struct event_base *base, const char *work_dir, logger *log, size_t max_frame);
void shuffle_server_free(shuffle_server *s);
/* Guards the data port: connections must authenticate with secret (borrowed,
 * must outlive s; NULL or empty: no authentication) and finish their
 * handshake within handshake_ms (0: no limit); at most max_conns are open
 * at once (0: no limit), a new one beyond is logged and closed. */
void shuffle_server_guard(shuffle_server *s, const auth_secret *secret, uint64_t handshake_ms, size_t max_conns);
/* Takes an accepted data-port connection (expects the handshake, then
 * requests). */
void shuffle_server_accept(shuffle_server *s, evutil_socket_t fd);
/* Counters for status pages. */
uint64_t shuffle_server_bytes(const shuffle_server *s);
uint64_t shuffle_server_requests(const shuffle_server *s);

/* ---- fetching (in an executor, blocking) ---- */
/* Called with each whole sealed block, in no particular order across map
 * outputs. 0, or -1 to stop (the callback recorded why). */
typedef int (*fetch_block_fn)(void *arg, const uint8_t *block, size_t n);

typedef struct fetch_stats {
    uint64_t local_bytes, remote_bytes;
    uint32_t remote_workers;
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
