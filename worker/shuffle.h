/*
 * shuffle.h - the shuffle files on a worker's disk: where they are, the
 * index, and reading one reduce partition of one map output.
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
 * Who uses them: a map task writes them (executor/shuffle_write.h), the
 * worker serves byte ranges of them on its data port
 * (worker/shuffle_serve.h), and a reduce task fetches its partition from
 * every map output, local or remote (executor/shuffle_fetch.h).
 */
#ifndef KILN_SHUFFLE_H
#define KILN_SHUFFLE_H

#include <stddef.h>
#include <stdint.h>

#define SHUFFLE_INDEX_MAGIC 0x5844494bu /* "KIDX" */
#define SHUFFLE_INDEX_HEAD  8           /* magic, R */

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

#endif
