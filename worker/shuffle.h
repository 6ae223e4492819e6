/*
 * shuffle.h - shuffle files on a worker, serving them on the data port,
 * and fetching the blocks of one reduce partition.
 *
 * A map task of shuffle S, map partition M, of application APP writes
 *   WORK/APP/shuffle/S/map-M.data    sealed record blocks in the order the task sealed them
 *   WORK/APP/shuffle/S/map-M.index   where each reduce partition's blocks lie
 * (each written under a temporary name and renamed, so a retried task's
 * output replaces the old one whole). The index, integers little-endian:
 *   u32 "KIDX" | u32 R | u64 first[R+1] | (u64 off, u64 len) extents[first[R]]
 * Reduce partition P is extents[first[P] .. first[P+1]) of .data, in order:
 * whole blocks, possibly none. A map task writes blocks as they fill, so
 * it never holds its output; adjacent blocks of a partition merge into one
 * extent.
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

/* One contiguous run of a partition's blocks in a data file. */
typedef struct shuffle_extent {
    uint64_t off, len;
} shuffle_extent;

/* Where reduce partition p lies in a map output's data file: *ext gets a
 * new array of *next extents (caller frees; NULL when the partition is
 * empty) and *total their byte count. 0, or -1 with a message (no such
 * output, p out of range, a corrupt index). */
int shuffle_index_lookup(const char *index_path, uint32_t p, shuffle_extent **ext, size_t *next, uint64_t *total,
                         char *err, size_t errlen);

/* Reading one reduce partition of one map output, extent by extent. */
typedef struct shuffle_range {
    int fd;              /* the data file */
    shuffle_extent *ext; /* owned */
    size_t n, i;         /* extents, the current one */
    uint64_t left;       /* bytes of the current extent not yet taken */
    uint64_t total;      /* bytes of the whole partition */
} shuffle_range;

/* Looks the partition up and opens its data file, checking that the file
 * holds every extent. 0, or -1 with a message (r then holds nothing). */
int shuffle_range_open(shuffle_range *r, const char *work_dir, const char *app, uint32_t shuffle, uint32_t map,
                       uint32_t p, char *err, size_t errlen);
/* The next piece to read: 1 with (*off, *len <= max) in r->fd, 0 at the end.
 * Call shuffle_range_advance with the bytes actually read. */
int shuffle_range_next(shuffle_range *r, size_t max, uint64_t *off, size_t *len);
void shuffle_range_advance(shuffle_range *r, size_t n);
void shuffle_range_close(shuffle_range *r);

/* Writing one map output: blocks are appended to the data file as the map
 * task seals them (any partition in any order), the index records each
 * partition's extents, and commit makes both visible atomically (temp +
 * rename, the index last), so a retried task's output replaces the old
 * one whole. */
typedef struct shuffle_out shuffle_out;
struct iovec;
shuffle_out *shuffle_out_open(const char *work_dir, const char *app, uint32_t shuffle_id, uint32_t map, uint32_t nparts,
                              char *err, size_t errlen);
/* Appends whole sealed blocks of partition p (up to 8 iovecs). 0, or -1. */
int shuffle_out_append(shuffle_out *o, uint32_t p, const struct iovec *iov, int niov, char *err, size_t errlen);
/* Writes the index and renames both files into place; sizes[p] (may be
 * NULL) gets each partition's byte count. Frees o either way. 0, or -1. */
int shuffle_out_commit(shuffle_out *o, uint64_t *sizes, char *err, size_t errlen);
/* Removes the temporary files and frees o (NULL is harmless). */
void shuffle_out_abort(shuffle_out *o);

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
/* Data-port handshakes refused (a wrong or missing secret, version, role). */
uint64_t shuffle_server_handshake_failures(const shuffle_server *s);

/* ---- fetching (in an executor, blocking) ---- */
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
