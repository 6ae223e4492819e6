/*
 * shuffle_write.h - writing one map output, in an executor (the layout is
 * worker/shuffle.h's).
 */
#ifndef KILN_SHUFFLE_WRITE_H
#define KILN_SHUFFLE_WRITE_H

#include <stddef.h>
#include <stdint.h>

/* Blocks are appended to the data file as the map
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

#endif
